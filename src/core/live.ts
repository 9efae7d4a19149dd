/**
 * What the dashboard reads (issue 16): a light row per rollout for the overview, the weight
 * timeline of a rollout, the session a browser holds, and the server-sent events of
 * `GET /v1/stream`. The API (src/api/) serves them; web/ renders them.
 */
import type { Phase, RolloutEvent } from './rollout.js';

/** One rollout as the overview table shows it (`GET /v1/overview`, SSE `rollout`). */
export interface RolloutSummary {
  name: string;
  /** metadata.environment, when the rollout names one. */
  environment?: string;
  /** metadata.service, when the rollout names one. */
  service?: string;
  strategy: string;
  phase: Phase;
  reason: string;
  message: string;
  /** 1-based step being run (or the step count once done); absent for strategies without steps. */
  step?: number;
  steps?: number;
  /** The main listener's split as last applied. */
  weights: { revision: number; weight: number }[];
  currentRevision: number;
  stableRevision: number;
  /** The current revision's template.version. */
  version: string;
  /** An approval gate, a pause or a manual promotion waits for a person. */
  awaiting?: 'promotion' | 'approval';
  updatedAt: number;
  /** The newest event. */
  lastEvent?: Pick<RolloutEvent, 'id' | 'at' | 'type' | 'reason' | 'message' | 'actor'>;
}

/** One point of a rollout's traffic timeline: the split from `at` on. */
export interface WeightPoint {
  at: number;
  weights: { revision: number; weight: number }[];
}

/** `GET /v1/session`, `POST /v1/session`: who the browser is signed in as. */
export interface SessionInfo {
  user: string;
  roles: string[];
  /** Send as the `X-CSRF-Token` header on every request that changes something. */
  csrf: string;
  /** ms since the epoch; the cookie stops working then. */
  expiresAt: number;
  /** What the roles allow, for enabling buttons (the API checks again on every call). */
  can: { deploy: boolean; admin: boolean; approverRoles: string[] };
}

/**
 * The server-sent events of `GET /v1/stream` (`event:` name → JSON `data:`):
 * - `hello`   `{server, at}`: first message of each connection; `server` changes when the control plane restarted.
 * - `rollout` RolloutSummary: a rollout was created or its status changed.
 * - `removed` `{name}`: a rollout was deleted.
 * - `event`   RolloutEvent: an event was recorded.
 * - `weights` `{name, point: WeightPoint}`: the applied split of a rollout changed.
 * - `jobs`    `{rollout}`: analysis runs, hooks or measurements of a rollout changed (refetch `/analysis`).
 * - `flags`, `releases`, `experiments`: `{}` — something of that kind changed (refetch its list).
 * A comment line (`: ping`) every 15 s keeps proxies from closing the stream.
 */
export type StreamMessage =
  | { event: 'hello'; data: { server: string; at: number } }
  | { event: 'rollout'; data: RolloutSummary }
  | { event: 'removed'; data: { name: string } }
  | { event: 'event'; data: RolloutEvent }
  | { event: 'weights'; data: { name: string; point: WeightPoint } }
  | { event: 'jobs'; data: { rollout: string } }
  | { event: 'flags' | 'releases' | 'experiments'; data: Record<string, never> };

/** The header carrying SessionInfo.csrf. */
export const CSRF_HEADER = 'x-csrf-token';
/** The session cookie's name. */
export const SESSION_COOKIE = 'sluice_session';

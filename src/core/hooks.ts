/**
 * When the engine runs a hook. The names are Flagger's, so Flagger users can move their
 * webhooks over unchanged.
 *
 * - `confirm-rollout`: a gate polled before a new revision gets any instances or traffic;
 *   the release waits (phase Progressing, nothing moves) until the hook answers 2xx.
 * - `pre-rollout`: runs once before any traffic moves to the new revision (instances are
 *   up and ready). A failure, after the retries, aborts the release.
 * - `rollout`: runs at every step as a check, alongside analysis; a failure counts like a
 *   failed measurement.
 * - `confirm-traffic-increase`: a gate polled before each traffic increase.
 * - `confirm-promotion`: a gate polled before the new revision becomes stable (full
 *   promotion, the blue-green switch).
 * - `post-rollout`: runs once after promotion (or after an abort finished rolling back);
 *   informational, its failure is logged and changes nothing.
 * - `rollback`: runs when the engine aborts a release, before traffic goes back to stable.
 * - `event`: called for every event the rollout records (payload has `event`); fire and
 *   forget, like a notification.
 *
 * Gates (`confirm-*`) are polled until they answer 2xx: any other answer, an error or a
 * timeout means "not yet", never "fail". See `pollGate`.
 */
export type WebhookKind =
  | 'confirm-rollout'
  | 'pre-rollout'
  | 'rollout'
  | 'confirm-traffic-increase'
  | 'confirm-promotion'
  | 'post-rollout'
  | 'rollback'
  | 'event';

export const WEBHOOK_KINDS: readonly WebhookKind[] = [
  'confirm-rollout',
  'pre-rollout',
  'rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
  'post-rollout',
  'rollback',
  'event',
];

/** The kinds the engine polls until they answer 2xx instead of calling once. */
export function isGateKind(kind: WebhookKind): boolean {
  return kind.startsWith('confirm-');
}

export const DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10;
export const DEFAULT_WEBHOOK_RETRIES = 3;
export const DEFAULT_EXEC_TIMEOUT_SECONDS = 60;
export const DEFAULT_SMOKE_TIMEOUT_SECONDS = 5;

/** An HTTP hook: sluice POSTs a `HookPayload` as JSON. Defaults already applied. */
export interface WebhookSpec {
  name: string;
  kind: WebhookKind;
  /** http:// or https:// */
  url: string;
  /** Per attempt, whole exchange (connect, send, answer). Default 10. */
  timeoutSeconds: number;
  /** HMAC-SHA256 key; requests are signed when a key is set (see webhook.ts). */
  secret?: string;
  /**
   * Name of an environment variable (of the sluice process) holding the key, so specs
   * need not carry it. If named but unset, calls fail instead of going out unsigned.
   */
  secretEnv?: string;
  /** Sent with every request; cannot replace the X-Sluice-* headers. */
  headers: Record<string, string>;
  /** Copied into the payload's `metadata`, as Flagger does. */
  metadata: Record<string, string>;
  /** Further attempts after the first, on connection errors, timeouts, 5xx and 429. Default 3. */
  retries: number;
}

/** A hook run as a local command (argv, no shell). Succeeds when it exits 0. */
export interface ExecHookSpec {
  name: string;
  kind: WebhookKind;
  /** argv; command[0] is looked up on PATH. */
  command: string[];
  cwd?: string;
  /** Added to sluice's own environment. */
  env: Record<string, string>;
  /** Then the process group gets SIGTERM, and SIGKILL shortly after. Default 60. */
  timeoutSeconds: number;
}

/** HTTP checks against one of the rollout's listeners. */
export interface SmokeTestSpec {
  name: string;
  /** Which address the engine passes as base URL: the preview (blue-green), the canary-only route, or the main listener. */
  target: 'preview' | 'canary' | 'main';
  checks: SmokeCheck[];
}

export interface SmokeCheck {
  /** Default `METHOD path`. */
  name?: string;
  /** Default GET. */
  method: string;
  /** Appended to the base URL; starts with `/`, may carry a query. */
  path: string;
  headers: Record<string, string>;
  /** Sent as JSON (content-type application/json). */
  jsonBody?: unknown;
  /** Accepted status codes. Default 200. */
  expectStatus: number | number[];
  /**
   * Subset match on the JSON answer: each key is a JSONPath (`$.build.version`,
   * `$.items[0].id`, `$['odd key']`) or a plain top-level key (`version`); each value
   * must equal what the path finds, where objects match if they contain the expected keys
   * and arrays must match element by element.
   */
  expectJson?: Record<string, unknown>;
  expectBodyContains?: string;
  /** Time to the whole answer (headers and body). */
  maxLatencyMs?: number;
  /** Default 5. */
  timeoutSeconds: number;
}

/**
 * Where rollout events go. Slack gets an incoming-webhook message; `webhook` gets the
 * `HookPayload` (kind `event`, with `event` and `metrics`), signed like webhooks.
 */
export interface NotificationSpec {
  name: string;
  type: 'slack' | 'webhook';
  url: string;
  /**
   * Event reasons to send (case-insensitive), `*` for all. Default
   * `DEFAULT_NOTIFY_EVENTS`: the start, steps, pauses, promotion and the ways a release fails.
   */
  events?: string[];
  secret?: string;
  secretEnv?: string;
  headers?: Record<string, string>;
}

/**
 * Reasons notified when a NotificationSpec lists no `events`. `NewRevision` is "rollout
 * started"; `Promoted`/`PromotedFull`/`Switched`/`RolloutCompleted` are the promotion.
 */
export const DEFAULT_NOTIFY_EVENTS: readonly string[] = [
  'NewRevision',
  'StepCompleted',
  'Paused',
  'CanaryPauseStep',
  'BlueGreenPause',
  'Promoted',
  'PromotedFull',
  'Switched',
  'RolloutCompleted',
  'RolloutAborted',
  'ProgressDeadlineExceeded',
  'AnalysisFailed',
  // A release's stage changes (engine/pipelines/), on the rollouts of the stage's environment.
  'ReleaseEntered',
  'ReleaseHealthy',
  'ReleaseFailed',
  'ReleaseRestored',
  'ReleaseRejected',
  'ReleaseRejectedBy',
  'ReleaseApproved',
  'ReleaseOutsideWindow',
  'ReleaseFrozen',
  'ReleaseWaitingForApproval',
];

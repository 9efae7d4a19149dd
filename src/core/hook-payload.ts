import type { Phase, RolloutEvent } from './rollout.js';
import type { WebhookKind } from './hooks.js';
import { redactText } from '../util/redact.js';

/**
 * The JSON body of every webhook call and generic notification, and what exec hooks get
 * on stdin and in SLUICE_HOOK_PAYLOAD. Flagger's names where they exist (`name`,
 * `phase`, `metadata`; there is no `namespace`):
 *
 * ```json
 * {
 *   "name": "web",                     // the rollout
 *   "kind": "pre-rollout",             // the WebhookKind being run
 *   "phase": "Progressing",            // Healthy | Progressing | Paused | Degraded
 *   "revision": 3,                     // the revision being released
 *   "stableRevision": 2,               // null on the first release
 *   "version": "v2",                   // the new revision's version label
 *   "metadata": {"env": "prod"},       // the hook's metadata, verbatim
 *   "event": {"id": 41, "rollout": "web", "type": "Normal", "reason": "StepCompleted",
 *             "message": "...", "revision": 3, "at": 1767225600000, "actor": "engine"},
 *                                      // kind "event" and notifications only
 *   "metrics": {"error-rate": 0.002},  // notifications only, when the engine has them
 *   "timestamp": "2026-01-01T00:00:00.000Z"  // when the payload was built, UTC
 * }
 * ```
 */
export interface HookPayload {
  name: string;
  kind: WebhookKind;
  phase: Phase;
  revision: number;
  stableRevision: number | null;
  version: string;
  metadata: Record<string, string>;
  event?: RolloutEvent;
  metrics?: Record<string, unknown>;
  timestamp: string;
}

/** What the engine knows when it runs a hook; `hookPayload` turns it into a HookPayload. */
export interface HookContext {
  rollout: string;
  phase: Phase;
  revision: number;
  stableRevision: number | null;
  version: string;
}

/** Build the payload for one hook call. `nowMs` comes from the engine's Clock. */
export function hookPayload(
  kind: WebhookKind,
  ctx: HookContext,
  nowMs: number,
  extra: { metadata?: Record<string, string>; event?: RolloutEvent; metrics?: Record<string, unknown> } = {},
): HookPayload {
  const p: HookPayload = {
    name: ctx.rollout,
    kind,
    phase: ctx.phase,
    revision: ctx.revision,
    stableRevision: ctx.stableRevision,
    version: ctx.version,
    metadata: extra.metadata ?? {},
    timestamp: new Date(nowMs).toISOString(),
  };
  // An event message may quote a secret-named value (older events, `set --env`): never send it out.
  if (extra.event !== undefined) p.event = { ...extra.event, message: redactText(extra.event.message) };
  if (extra.metrics !== undefined) p.metrics = extra.metrics;
  return p;
}

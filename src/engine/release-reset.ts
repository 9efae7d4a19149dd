import type { RolloutStatus } from '../core/rollout.js';

/** How many revisions that were stable a status remembers (for undo). */
const STABLE_HISTORY = 20;

/**
 * The moments a release attempt begins or ends, each with one reset of the status:
 * - `abort`: the attempt ends, traffic goes back to stable (user abort, failed check,
 *   progress deadline). Its revision, attempt number and step stay, for `status` and `retry`.
 * - `retry`: the same revision is released again as a new attempt (`sluice retry`).
 * - `newRevision`: the caller pointed `currentRevision` at another revision (apply, set,
 *   undo, back to stable, blue-green switch back) and a new attempt begins.
 * - `complete`: the current revision became stable.
 * - `rest`: no release is in progress (steady state, the control won an A/B test).
 * `sluice restart` (a rolling restart of the stable revision) is no release and resets nothing.
 */
export type ReleaseReset = 'abort' | 'retry' | 'newRevision' | 'complete' | 'rest';

type Value<K extends keyof RolloutStatus> = (before: Readonly<RolloutStatus>, now: number) => RolloutStatus[K];
type Rule<K extends keyof RolloutStatus> = Partial<Record<ReleaseReset, Value<K>>>;

const STARTS: ReleaseReset[] = ['retry', 'newRevision'];
const ENDS: ReleaseReset[] = ['abort', 'complete', 'rest'];
const EVERY: ReleaseReset[] = [...STARTS, ...ENDS];
/** Kept by every reset: the field outlives release attempts, or its owner sets it. */
const KEEP = {};

function on<K extends keyof RolloutStatus>(kinds: ReleaseReset[], value: Value<K>): Rule<K> {
  return Object.fromEntries(kinds.map((k) => [k, value]));
}

const onlyManual = (s: Readonly<RolloutStatus>) => s.pauses.filter((p) => p.reason === 'Manual');

/**
 * What each reset does to each field. Every field of RolloutStatus has a row (the `-?`
 * makes a missing one a compile error), so a new field cannot be forgotten: its row says
 * which resets clear it, or KEEP. A user's manual pause outlives every reset: it holds
 * the next attempt too, until `sluice resume`.
 */
const RULES: { [K in keyof RolloutStatus]-?: Rule<K> } = {
  // The headline: a new attempt says so; an abort sets its own reason and message, and
  // planners set the phase of a completed or resting release (recording the change).
  phase: on(STARTS, () => 'Progressing'),
  reason: on(STARTS, () => 'NewRevision'),
  message: on(STARTS, (s) => `releasing revision ${s.currentRevision}`),

  // Which revision is where.
  stableRevision: on(['complete'], (s) => s.currentRevision),
  stableSince: on(['complete'], (_s, now) => now),
  stableHistory: on(['complete'], (s) => [...(s.stableHistory ?? []).filter((n) => n !== s.currentRevision), s.currentRevision].slice(-STABLE_HISTORY)),
  currentRevision: KEEP,
  activeRevision: { ...on(['abort', 'rest'], (s) => s.stableRevision), complete: (s) => s.currentRevision },
  // Blue-green's warm revision outlives the release that left it (an undo switches back to it).
  scaleDownAt: KEEP,
  scaleDownRevision: KEEP,
  // A/B variants from the third on: a retry releases the same ones; a new revision gets its own.
  variantRevisions: on(['newRevision', 'complete', 'rest'], () => undefined),

  // Where the attempt is and who holds it.
  attempt: on(STARTS, (s) => (s.attempt ?? 0) + 1),
  stepIndex: on([...STARTS, 'rest'], () => 0),
  aborted: { ...on(['retry', 'newRevision', 'complete', 'rest'], () => false), abort: () => true },
  promoteFull: on(EVERY, () => false),
  pauses: on(EVERY, onlyManual),
  batchPauseUntil: on(EVERY, () => undefined),
  batchAvailable: on(EVERY, () => undefined),
  progressAt: on(STARTS, (_s, now) => now),
  progressKey: on(STARTS, () => undefined),

  // Routing the attempt set up: gone when it ends, never carried into the next one.
  headerRoutes: on(EVERY, () => []),
  mirrorRoutes: on(EVERY, () => []),
  shadowSince: on(EVERY, () => undefined),
  shadowOf: on(EVERY, () => undefined),
  winner: on(EVERY, () => undefined),

  // Job bookkeeping: job keys carry the attempt, so these only need a fresh start.
  analysisRound: on(STARTS, () => 0),
  waived: on(STARTS, () => []),

  // Not the release's: the last applied split, rolling restarts, operator holds, engine problems, bookkeeping.
  weights: KEEP,
  restartGeneration: KEEP,
  restartCompleted: KEEP,
  trafficHold: KEEP,
  listenerFailures: KEEP,
  releasePhase: KEEP,
  updatedAt: KEEP,
  // Names an attempt; the next attempt has a new number, so nothing needs clearing.
  flagsKilledAttempt: KEEP,
};

/** Which fields `how` changes (for tests and docs: the table above, one column). */
export function resetFields(how: ReleaseReset): (keyof RolloutStatus)[] {
  return (Object.keys(RULES) as (keyof RolloutStatus)[]).filter((k) => RULES[k][how] !== undefined);
}

/** The status after `how`; fields the reset clears are absent. Pure: `status` is not changed. */
export function resetRelease(status: Readonly<RolloutStatus>, how: ReleaseReset, now: number): RolloutStatus {
  const next: Record<string, unknown> = { ...status };
  for (const key of resetFields(how)) {
    const value = (RULES[key][how] as Value<typeof key>)(status, now);
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  return next as unknown as RolloutStatus;
}

/** `resetRelease` applied to a status being built (a planner's or an action's working copy). */
export function resetReleaseOf(status: RolloutStatus, how: ReleaseReset, now: number): void {
  const next = resetRelease(status, how, now);
  const own = status as unknown as Record<string, unknown>;
  for (const key of Object.keys(own)) if (!(key in next)) delete own[key];
  Object.assign(status, next);
}

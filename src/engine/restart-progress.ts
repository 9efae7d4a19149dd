import type { InstanceStatus } from '../core/platform.js';
import type { RolloutEventDraft, RolloutStatus } from '../core/rollout.js';

/**
 * `sluice restart` is recorded when asked for (the controller's Restart event); this is its
 * end: every instance of the stable revision is of the new generation and ready. Marks the
 * generation done in `status` and returns the event, once.
 */
export function restartFinished(status: RolloutStatus, live: InstanceStatus[], replicas: number): RolloutEventDraft | undefined {
  const generation = status.restartGeneration ?? 0;
  if (generation === 0 || (status.restartCompleted ?? 0) >= generation) return undefined;
  if (status.stableRevision === null || status.currentRevision !== status.stableRevision) return undefined;
  const mine = live.filter((i) => i.revision === status.stableRevision);
  if (mine.length < replicas || mine.some((i) => i.generation < generation || i.phase !== 'Ready')) return undefined;
  status.restartCompleted = generation;
  return {
    type: 'Normal',
    reason: 'RestartCompleted',
    message: `rolling restart of revision ${status.stableRevision} finished: all ${mine.length} instance(s) are of generation ${generation}`,
    revision: status.stableRevision,
  };
}

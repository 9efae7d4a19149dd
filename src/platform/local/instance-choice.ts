/**
 * Which local instances a change of count means. Pure: the local platform's own choice
 * behind `Platform.planScale`.
 */
import type { InstanceStatus, ScalePlan, ScaleRequest } from '../../core/platform.js';

/** Instances to stop first: not ready before ready, then the youngest. */
function byStopPreference(a: InstanceStatus, b: InstanceStatus): number {
  const ra = a.phase === 'Ready' ? 1 : 0;
  const rb = b.phase === 'Ready' ? 1 : 0;
  return ra - rb || b.startedAt - a.startedAt;
}

function scale(live: InstanceStatus[], want: number): ScalePlan {
  if (live.length < want) return { start: want - live.length, stop: [] };
  return { start: 0, stop: [...live].sort(byStopPreference).slice(0, live.length - want) };
}

/**
 * `sluice restart`: replace instances of an older generation one at a time, never going
 * below `want` ready instances (one extra instance at most while replacing).
 */
function restartOrScale(live: InstanceStatus[], want: number, generation: number): ScalePlan {
  const stale = live.filter((i) => i.generation < generation);
  if (stale.length === 0 || want === 0) return scale(live, want);
  const fresh = live.filter((i) => i.generation >= generation);
  const freshReady = fresh.filter((i) => i.phase === 'Ready').length;
  if (freshReady + stale.length > want) {
    return { start: 0, stop: [...stale].sort(byStopPreference).slice(0, freshReady + stale.length - want) };
  }
  if (fresh.length === freshReady && live.length <= want) return { start: 1, stop: [] };
  return { start: 0, stop: [] };
}

export function planLocalScale({ live, replicas, replaceOlderThan }: Omit<ScaleRequest, 'rollout'>): ScalePlan {
  return replaceOlderThan === undefined ? scale(live, replicas) : restartOrScale(live, replicas, replaceOlderThan);
}

import type { IntOrPercent } from '../core/spec.js';

/**
 * An int-or-percent against a total, rounded as Kubernetes does: maxSurge rounds up
 * (25% of 3 is 1), maxUnavailable rounds down (25% of 3 is 0).
 */
export function resolveIntOrPercent(v: IntOrPercent, total: number, roundUp: boolean): number {
  if ('count' in v) return v.count;
  // Multiply first: percent and total are whole numbers, so percent * total is exact.
  const exact = (v.percent * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/**
 * Both limits of a rolling replacement, with Kubernetes' fencepost rule: when both
 * resolve to 0 (e.g. 10% of 3 down), one instance may be unavailable so progress is possible.
 */
export function resolveSurgeAndUnavailable(maxSurge: IntOrPercent, maxUnavailable: IntOrPercent, replicas: number): { surge: number; unavailable: number } {
  const surge = resolveIntOrPercent(maxSurge, replicas, true);
  const unavailable = resolveIntOrPercent(maxUnavailable, replicas, false);
  return { surge, unavailable: surge === 0 && unavailable === 0 ? 1 : unavailable };
}

import type { RolloutSpec } from '../core/spec.js';
import type { Plan } from './strategies/planner.js';

/**
 * The most instances the engine runs for one rollout, whatever its stored spec says. Far
 * above what the spec validator allows; it exists for specs that reached the store some
 * other way (an older sluice, an edited sluice.db), so they cannot exhaust memory.
 */
export const MAX_INSTANCES_PER_ROLLOUT = 10_000;

/** Status reason of a rollout whose stored spec cannot be planned. */
export const UNPLANNABLE = 'SpecNotPlannable';

/**
 * Runs a rollout's planning; a stored spec that makes it throw, or a plan beyond the
 * absolute bounds, becomes a one-line problem instead of an exception (or an allocation)
 * that would take every other rollout down with it.
 */
export function planGuarded(spec: RolloutSpec, plan: () => Plan): { plan: Plan } | { problem: string } {
  const replicas = (spec as { replicas?: unknown } | undefined)?.replicas;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > MAX_INSTANCES_PER_ROLLOUT) {
    return { problem: `spec.replicas is ${String(replicas)}, not a whole number from 0 to ${MAX_INSTANCES_PER_ROLLOUT}` };
  }
  let result: Plan;
  try {
    result = plan();
  } catch (err) {
    return { problem: `planning failed: ${(err as Error)?.message ?? String(err)}` };
  }
  let total = 0;
  for (const [revision, n] of result.scale) {
    if (!Number.isInteger(n) || n < 0) return { problem: `the plan asks for ${n} instances of revision ${revision}` };
    total += n;
  }
  if (total > MAX_INSTANCES_PER_ROLLOUT) {
    return { problem: `the plan asks for ${total} instances, above the engine's limit of ${MAX_INSTANCES_PER_ROLLOUT} per rollout` };
  }
  return { plan: result };
}

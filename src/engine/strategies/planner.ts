import type { RolloutSpec } from '../../spec/types.js';
import type { WeightedTarget } from '../../router/route-table.js';
import type { RolloutEventDraft, RolloutStatus } from '../types.js';

/** What the platform shows of one revision's instances (Terminating ones excluded). */
export interface RevisionObservation {
  revision: number;
  /** Instances that exist and are not being stopped. */
  total: number;
  /** Passing readiness now. */
  ready: number;
  /** Ready for at least spec.minReadySeconds. */
  available: number;
}

export interface PlanInput {
  spec: RolloutSpec;
  status: RolloutStatus;
  /** Keyed by revision number; a revision with no instances may be absent. */
  observed: ReadonlyMap<number, RevisionObservation>;
  now: number;
}

/** Weighted splits per listener role; a missing role has no listener (or serves nothing). */
export interface PlannedRoutes {
  main: WeightedTarget[];
  preview?: WeightedTarget[];
  canary?: WeightedTarget[];
}

/**
 * A planner's answer: the desired state and why. Pure data; the reconciler makes it so.
 * Revisions missing from `scale` are scaled to zero.
 */
export interface Plan {
  status: RolloutStatus;
  scale: Map<number, number>;
  routes: PlannedRoutes;
  events: RolloutEventDraft[];
  /** When to plan again even if nothing is observed to change. */
  wakeAt?: number;
}

/** A release strategy: (spec, status, observations, now) → plan. No I/O, no clock, no randomness. */
export type Planner = (input: PlanInput) => Plan;

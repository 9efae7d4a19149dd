import type { RolloutSpec } from '../../core/spec.js';
import type { MatchRule, MirrorRoute, WeightedTarget } from '../../core/route-table.js';
import type { RolloutEventDraft, RolloutStatus } from '../../core/rollout.js';
import type { AnalysisTemplateSpec } from '../../core/analysis.js';
import type { DesiredJob, JobStatus } from '../../core/jobs.js';
import type { MigrationRef } from '../../core/database.js';

/** What the platform shows of one revision's instances. */
export interface RevisionObservation {
  revision: number;
  /** Instances that exist and are not being stopped. */
  total: number;
  /** Passing readiness now. */
  ready: number;
  /** Ready for at least spec.minReadySeconds. */
  available: number;
  /** Being stopped (draining, SIGTERM sent) but not exited yet; in none of the counts above. Absent: 0. */
  terminating?: number;
}

export interface PlanInput {
  spec: RolloutSpec;
  status: RolloutStatus;
  /** Keyed by revision number; a revision with no instances may be absent. */
  observed: ReadonlyMap<number, RevisionObservation>;
  now: number;
  /** Status of the jobs (analysis, hooks, smoke tests) planned earlier, by key. */
  jobs: ReadonlyMap<string, JobStatus>;
  /** AnalysisTemplates by name, for analysis references. */
  templates: ReadonlyMap<string, AnalysisTemplateSpec>;
  /** The version label of the revision being released. */
  version: string;
  /** With `spec.database`: the migrations the current and the stable revisions were built for. */
  schema?: { current?: MigrationRef[]; stable?: MigrationRef[] };
}

/** Weighted splits per listener role; a missing role has no listener (or serves nothing). */
export interface PlannedRoutes {
  main: WeightedTarget[];
  /** Match rules tried before the main listener's split (canary header routes). */
  rules?: MatchRule[];
  preview?: WeightedTarget[];
  canary?: WeightedTarget[];
  /** Copies of main-listener requests (setMirrorRoute, shadow). */
  mirrors?: MirrorRoute[];
  /** A/B: variant name per revision, named in `variantHeader` on every response. */
  variants?: { revision: number; name: string }[];
  variantHeader?: string;
  /** A/B test with metrics, while its split is live: the test (`r<revision>a<attempt>`) the router assigns and records for. */
  experiment?: string;
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
  /** Jobs that should be running (or have run) now; others of this rollout are stopped. */
  jobs: DesiredJob[];
  /** When to plan again even if nothing is observed to change. */
  wakeAt?: number;
  /**
   * Feature-flag changes the release asks for now (a canary's `setFlag` step it passed, the
   * `killOnAbort` flags of an attempt that aborted). Each is asked for in the one plan
   * whose status records it done, so the reconciler performs it once (FlagControl).
   */
  flagActions?: FlagAction[];
}

/** One change to a feature flag a plan asks for; `why` goes into the flag's event. */
export type FlagAction = { flag: string; percentage: number; why: string } | { flag: string; kill: true; why: string };

/** A release strategy: (spec, status, observations, now) → plan. No I/O, no clock, no randomness. */
export type Planner = (input: PlanInput) => Plan;

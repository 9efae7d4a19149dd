import type { HeaderMatch, MirrorRouteSpec, RolloutSpec, Template } from './spec.js';
import type { InstanceStatus } from './platform.js';
import type { ListenerRole, WeightedTarget } from './route-table.js';
import type { JobStatus } from './jobs.js';
import type { ExposureRecord } from './exposure.js';

export type Phase = 'Healthy' | 'Progressing' | 'Paused' | 'Degraded';

export interface Revision {
  rollout: string;
  number: number;
  template: Template;
  /** Hash of the template: an apply with an identical template makes no new revision. */
  hash: string;
  createdAt: number;
  /** Why it exists: "apply", "set", "undo to revision 2"... */
  cause: string;
}

export interface PauseCondition {
  /** Inconclusive / AnalysisFailed: an analysis or check stopped the release for a human. */
  reason: 'CanaryPauseStep' | 'BlueGreenPause' | 'Manual' | 'Inconclusive' | 'AnalysisFailed';
  /** The job whose result paused the release; `sluice promote` waives it. */
  job?: string;
  startedAt: number;
  /** For a timed pause: when it ends. Absolute, so a restart keeps the remaining time. */
  until?: number;
}

/** Everything the engine remembers about a rollout between reconciles. Persisted as JSON. */
export interface RolloutStatus {
  phase: Phase;
  /** Short CamelCase reason, e.g. "CanaryPauseStep", "ProgressDeadlineExceeded". */
  reason: string;
  message: string;
  /** Revision serving production traffic when no release is in progress. */
  stableRevision: number | null;
  /** Revisions that became stable, oldest first, each once (the last 20): `undo` goes back to the newest of them. */
  stableHistory?: number[];
  /** Revision the spec asks for (the newest, or the one undo chose). */
  currentRevision: number;
  /** Canary: index of the step being executed (== steps.length when all are done). */
  stepIndex: number;
  pauses: PauseCondition[];
  /** Set by abort; cleared by retry, a new revision, or undo. */
  aborted: boolean;
  /** promote --full: skip remaining steps / pauses. */
  promoteFull: boolean;
  /** Last time the release made progress (ms); the progress deadline counts from here. */
  progressAt: number;
  /** Blue-green: revision the main listener serves. */
  activeRevision: number | null;
  /** Blue-green / canary: when the old revision's instances may be scaled down. */
  scaleDownAt?: number;
  /** Revision being scaled down after a switch (blue-green). */
  scaleDownRevision?: number | null;
  /** Rolling: no new batch before this time. */
  batchPauseUntil?: number;
  /** Rolling: the new revision's available count when the last batch pause was set. */
  batchAvailable?: number;
  /** What progress looked like at progressAt; a change means progress. */
  progressKey?: string;
  /** The main listener's split as last applied (for status views). */
  weights: WeightedTarget[];
  restartGeneration: number;
  updatedAt: number;
  /** Bumped by every new release, retry or undo: job keys include it, so each attempt runs its own analysis. */
  attempt?: number;
  /** Bumped when a user promotes past an inconclusive background analysis: a fresh run starts. */
  analysisRound?: number;
  /** Jobs a user waived with `sluice promote` after they paused the release. */
  waived?: string[];
  /** Canary header routes set by setHeaderRoute steps; removed at promotion and abort. */
  headerRoutes?: { name: string; match: HeaderMatch }[];
  /** Canary mirror routes set by setMirrorRoute steps; removed at promotion and abort. */
  mirrorRoutes?: MirrorRouteSpec[];
  /** Shadow: when copies of live traffic started reaching the new revision. */
  shadowSince?: number;
  /** A/B: the variant `sluice promote --variant` chose. */
  winner?: string;
  /** A/B: the revision of each variant from the third on (the template with its overrides). */
  variantRevisions?: Record<string, number>;
  /** Operator hold on the rollout's listeners (`sluice stop-traffic` / `pause-traffic`), until `resume-traffic`. */
  trafficHold?: TrafficHold;
  /** Shadow: `r<revision>a<attempt>` that `shadowSince` belongs to; a new shadow starts its clock again. */
  shadowOf?: string;
  /** `restartGeneration` whose rolling restart finished (every instance replaced). */
  restartCompleted?: number;
  /** Listeners of this rollout the data plane could not open at the last table apply. */
  listenerFailures?: ListenerProblem[];
  /**
   * While the engine shows a problem of its own in phase/reason/message (a stored spec it
   * cannot plan, a listener that cannot be opened), what the release itself says; planners
   * see this, so the release goes on as if the problem were not shown.
   */
  releasePhase?: { phase: Phase; reason: string; message: string };
  /**
   * Feature flags (issue 12): the release attempt whose `spec.flags.killOnAbort` flags were
   * switched off, so each aborted attempt kills them once, also across restarts.
   */
  flagsKilledAttempt?: number;
  /** When the stable revision completed its release (ms): a time-based `database.contractAfter` counts from here. */
  stableSince?: number;
}

export interface ListenerProblem {
  listen: string;
  role: ListenerRole;
  /** One line from the data plane, e.g. "listen EADDRINUSE 0.0.0.0:8080". */
  error: string;
}

export interface TrafficHold {
  mode: 'stopped' | 'paused';
  since: number;
  by: string;
  /** paused: how long a request waits before it gets the maintenance answer. */
  pauseTimeoutMs?: number;
}

export interface RolloutEventDraft {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  revision?: number;
}

export interface RolloutEvent extends RolloutEventDraft {
  id: number;
  rollout: string;
  at: number;
  /** Who caused it: "engine", or the user/CLI that acted. */
  actor: string;
}

export interface RolloutRecord {
  name: string;
  spec: RolloutSpec;
  /** The raw YAML document as applied, kept for `get -o yaml` and history. */
  source: string;
  status: RolloutStatus;
  createdAt: number;
}

/** A rollout as status views show it. */
export interface RolloutView extends RolloutRecord {
  revisions: Revision[];
  instances: InstanceStatus[];
  events: RolloutEvent[];
  /** Recent analysis runs, hooks and smoke tests. */
  jobs?: JobStatus[];
  /** A/B tests: what each variant was shown. */
  exposures?: ExposureRecord[];
}

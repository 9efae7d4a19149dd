import type { ConcreteAnalysis, Measurement, PostDeployWatch, MetricRunStatus, RunPhase } from './analysis.js';
import type { ExecHookSpec, SmokeTestSpec, WebhookSpec } from './hooks.js';
import type { MigrationJobSpec, PhaseProgress } from './database.js';

/**
 * Work a planner asks for and then waits on: analysis runs, hooks, smoke tests, approvals.
 * Planners stay pure: they name jobs by key and read their status next time; the
 * JobRunner (jobs-runner.ts) runs them, persists their results and reports changes.
 */
export type JobSpec =
  | { kind: 'analysis'; analysis: ConcreteAnalysis }
  | { kind: 'webhook'; hook: WebhookSpec }
  | { kind: 'exec'; hook: ExecHookSpec }
  | { kind: 'smoke'; smoke: SmokeTestSpec; baseUrl: string }
  | { kind: 'approval'; gate: string }
  | { kind: 'watch'; watch: PostDeployWatch }
  | { kind: 'migration'; migration: MigrationJobSpec };

/** Facts a job needs about the release it serves. */
export interface JobContext {
  rollout: string;
  canaryRevision: number;
  stableRevision: number | null;
  version: string;
  addresses: { main: string; canary?: string; preview?: string };
}

export interface DesiredJob {
  /** Unique per rollout, release attempt and place: a new key is a new run. */
  key: string;
  /** Short human name of where it runs: "step 3 analysis", "pre-rollout hook notify". */
  title: string;
  spec: JobSpec;
  context: JobContext;
  /** Fire and forget (post-rollout, rollback hooks): runs to its end even once no longer asked for. */
  detached?: boolean;
}

export interface JobStatus {
  key: string;
  rollout: string;
  title: string;
  kind: JobSpec['kind'];
  phase: RunPhase;
  message: string;
  startedAt: number;
  finishedAt?: number;
  /** Analysis runs: each metric's state. */
  metrics?: MetricRunStatus[];
  /** Approvals: who approved. */
  actor?: string;
  /** Migration phases: where the phase is (backfill batches). */
  migration?: PhaseProgress;
}

export function isDone(phase: RunPhase | undefined): boolean {
  return phase !== undefined && phase !== 'Running' && phase !== 'Pending';
}

/** Where jobs and their measurements are kept (the Store implements it). */
export interface JobStore {
  saveJob(job: DesiredJob, status: JobStatus): void;
  listJobs(rollout?: string): { job: DesiredJob; status: JobStatus }[];
  appendMeasurement(key: string, m: Measurement): void;
  listMeasurements(key: string): Measurement[];
}

/**
 * The shapes the dashboard reads. The core contract (src/core/) is imported as types only,
 * so it stays identical; the few shapes defined in src/engine/ and src/pipelines/ (which
 * import Node modules) are copied here, field for field.
 */
export type { RolloutSummary, WeightPoint, SessionInfo, StreamMessage } from '../../src/core/live.js';
export type { Phase, RolloutEvent, RolloutView, Revision, RolloutStatus } from '../../src/core/rollout.js';
export type { InstanceStatus } from '../../src/core/platform.js';
export type { DesiredJob, JobStatus } from '../../src/core/jobs.js';
export type { Measurement, MetricSpec, MeasurementPhase, RunPhase } from '../../src/core/analysis.js';
export type { CanaryStep, Strategy } from '../../src/core/spec.js';
export type { ExperimentReport, Interval, MetricReport, Verdict } from '../../src/core/experiment.js';
export type {
  ApprovalRecord,
  DeploymentWindow,
  EnvironmentRecord,
  Freeze,
  PipelineRecord,
  PipelineSpec,
  ReleaseEvent,
  ReleaseRecord,
  ReleaseStageState,
} from '../../src/core/pipeline.js';

import type { DesiredJob, JobStatus } from '../../src/core/jobs.js';
import type { Measurement } from '../../src/core/analysis.js';
import type { ApprovalRecord, PipelineSpec, ReleaseEvent, ReleaseRecord, ReleaseStageState } from '../../src/core/pipeline.js';
import type { RolloutSummary } from '../../src/core/live.js';

/** The header carrying SessionInfo.csrf (src/core/live.ts CSRF_HEADER). */
export const CSRF_HEADER = 'x-csrf-token';

/** `GET /v1/overview`. */
export interface Overview {
  rollouts: RolloutSummary[];
  /** EnvironmentRecord[] (name, spec, source) as the control plane stores them. */
  environments: { name: string; spec?: { description?: string } }[];
}

/** src/engine/actions.ts AnalysisView: one job of `GET /v1/rollouts/:name/analysis`. */
export interface AnalysisView {
  job: DesiredJob;
  status: JobStatus;
  measurements: Measurement[];
}

/** src/core/platform.ts LogChunk (`GET /v1/rollouts/:name/logs`). */
export interface LogChunk {
  text: string;
  offset: number;
}

/** src/engine/flags/controller.ts FlagSummary. */
export interface FlagSummary {
  name: string;
  type: 'boolean' | 'string' | 'number' | 'object';
  owner?: string;
  killed: boolean;
  percentage?: number;
  ramp?: string;
  createdAt: number;
  updatedAt: number;
  evaluations: number;
  lastEvaluatedAt?: number;
}

/** src/engine/flags/controller.ts FlagPushStatus. */
export interface FlagPushStatus {
  generation: number;
  servedGeneration: number;
  pending: boolean;
  error?: string;
  failingSince?: number;
}

/** `GET /v1/flags`. */
export interface FlagList {
  flags: FlagSummary[];
  push: FlagPushStatus;
}

/** src/engine/flags/stale.ts StaleFlag (`GET /v1/flags-stale` answers a list of them). */
export interface StaleFlag {
  name: string;
  owner?: string;
  reasons: string[];
}

/** One entry of `GET /v1/experiments` (src/api/server.ts ExperimentReads.list). */
export interface ExperimentListItem {
  rollout: string;
  experiment: string;
  verdict: string;
  users: number;
  at: number;
}

/** src/engine/pipelines/releases.ts ReleaseView. */
export interface ReleaseView {
  release: ReleaseRecord;
  pipeline: PipelineSpec;
  stages: ReleaseStageState[];
  approvals: ApprovalRecord[];
  events: ReleaseEvent[];
}

/** src/engine/pipelines/documents.ts ApprovalRow. */
export interface ApprovalRow {
  release: string;
  stage: string;
  role: string;
  count: number;
  blocking: boolean;
  approvedBy: string[];
  rejectedBy: string[];
  pending: boolean;
}

/** src/pipelines/dora.ts DoraRow. */
export interface DoraRow {
  service: string;
  environment: string;
  deployments: number;
  perWeek: number;
  failed: number;
  changeFailureRate?: number;
  successRate?: number;
  leadTimeSeconds?: { median: number; p90: number };
  timeToRestoreSeconds?: { median: number; max: number };
  restored: number;
}

/** src/pipelines/dora.ts DoraTargets. */
export interface DoraTargets {
  successRate: number;
  timeToRestoreSeconds: number;
  changeFailureRate: number;
  perWeek: { min: number; max: number };
  leadTimeSeconds: number;
}

/** `GET /v1/kpis` (src/pipelines/dora.ts DoraReport). */
export interface DoraReport {
  since: number;
  until: number;
  rows: DoraRow[];
  targets: DoraTargets;
}

/** src/pipelines/dora.ts ALL_SERVICES: the row of an environment's total. */
export const ALL_SERVICES = 'all services';

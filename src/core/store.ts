import type { AuthStore } from './auth.js';
import type { ExposureRecord } from './exposure.js';
import type { InstanceRecordStore } from './platform.js';
import type { Revision, RolloutEvent, RolloutEventDraft, RolloutRecord, RolloutStatus } from './rollout.js';
import type { RouteTable } from './route-table.js';
import type { JobStore } from './jobs.js';
import type { AnalysisTemplateSpec } from './analysis.js';
import type { FlagRecord, FlagState, FlagUsage } from './flags.js';
import type { PipelineStore } from './pipeline.js';
import type { ApplyRecordsResult, ExperimentRecord, ExperimentReport, ExperimentTotals, MetricKind } from './experiment.js';

export interface TemplateRecord {
  name: string;
  spec: AnalysisTemplateSpec;
  source: string;
}

/**
 * Persistence port. SQLite today (store/sqlite.ts); every write is durable when it returns.
 * A job belongs to the revision its key names (`jobRevision`) and a measurement to its
 * job: saving a job of a revision not (or no longer) stored, or a measurement of a job not
 * stored, keeps nothing. A run can outlive its revision — a detached hook that finishes, a
 * measurement in flight when the revision is pruned — and must not bring its rows back.
 */
/** What the store needs to know of a metric to apply its conversions (from the rollout's spec). */
export type MetricLookup = (rollout: string, experiment: string, metric: string) => { kind: MetricKind; windowMs?: number } | undefined;

/**
 * Experiments' data (src/core/experiment.ts): exposed users, one row per user and metric
 * updated incrementally, running totals per variant and metric (so a report never scans
 * users or events), raw conversions (prunable), snapshots of reports. Kept after the
 * rollout ends or is deleted.
 */
export interface ExperimentStore {
  /** The highest seq applied from that router journal; 0 when none. */
  experimentCursor(journal: string): number;
  /**
   * Applies one journal batch in one transaction, idempotently: records with seq at or below
   * the cursor are skipped, the cursor becomes the batch's highest seq. An exposure adds the
   * user (the first exposure wins: its variant and time). A conversion adds to the user's
   * value of that metric (binomial: the user counts converted once; continuous: values sum)
   * and to the totals; `pre` sets the user's covariate instead; a conversion of a user never
   * exposed, of a metric `metrics` does not know, or after the metric's window from the
   * user's exposure counts in `ignored` and changes no total. Each conversion is also kept raw.
   */
  applyExperimentRecords(journal: string, records: (ExperimentRecord & { seq: number })[], metrics: MetricLookup): ApplyRecordsResult;
  /** Running totals of one test; every variant with an exposure, every (metric, variant) with its users (zeros included). */
  experimentTotals(rollout: string, experiment: string): ExperimentTotals;
  /** The tests of a rollout with any exposure, oldest first. */
  listExperiments(rollout: string): string[];
  putExperimentSnapshot(report: ExperimentReport): void;
  /** Oldest first; at most `limit` (the newest ones) when given. */
  listExperimentSnapshots(rollout: string, experiment: string, limit?: number): ExperimentReport[];
  /** Raw conversions recorded before `beforeMs` go (aggregates stay). Returns how many. */
  pruneExperimentEvents(beforeMs: number): number;
}

export interface Store extends InstanceRecordStore, JobStore, ExperimentStore, PipelineStore, AuthStore {
  listRollouts(): RolloutRecord[];
  getRollout(name: string): RolloutRecord | undefined;
  /** Insert or replace spec + source (status untouched if the rollout exists). */
  putRollout(record: RolloutRecord): void;
  saveStatus(name: string, status: RolloutStatus): void;
  deleteRollout(name: string): void;

  listRevisions(rollout: string): Revision[];
  addRevision(revision: Revision): void;
  /** Prune a revision from the history: its jobs and their measurements go with it, in one transaction. */
  deleteRevision(rollout: string, number: number): void;

  appendEvent(rollout: string, event: RolloutEventDraft, actor: string, at: number): RolloutEvent;
  /** Events after `afterId`, oldest first, at most `limit`. */
  listEvents(rollout: string, options?: { afterId?: number; limit?: number }): RolloutEvent[];
  /** The newest `limit` events, oldest first. */
  lastEvents(rollout: string, limit: number): RolloutEvent[];

  listTemplates(): TemplateRecord[];
  /** Exposures of a rollout's A/B tests, oldest experiment first. Kept when the rollout is deleted. */
  listExposures(rollout: string): ExposureRecord[];
  putExposure(e: ExposureRecord): void;
  putTemplate(t: TemplateRecord): void;

  /** Feature flags, by name (core/flags.ts). */
  listFlags(): FlagRecord[];
  getFlag(name: string): FlagRecord | undefined;
  /** Insert or replace spec, source and evaluators; an existing flag keeps its state and createdAt. */
  putFlag(record: FlagRecord): void;
  saveFlagState(name: string, state: FlagState): void;
  /** The flag goes; its events and usage stay (history outlives the flag). */
  deleteFlag(name: string): void;
  /** Evaluation totals per flag and variant, summed across data-plane restarts; one flag or all, by flag then variant. */
  listFlagUsage(flag?: string): FlagUsage[];
  /** Replace the stored totals of (u.flag, u.variant). */
  putFlagUsage(u: FlagUsage): void;

  /** The last route table sent to the data plane. */
  saveRouteTable(table: RouteTable): void;
  loadRouteTable(): RouteTable | undefined;

  /** Run fn in one transaction. */
  transaction<T>(fn: () => T): T;
  close(): void;
}

/** An event as every Store hands it back (a revision given as undefined is no revision, as in SQLite's NULL). */
export function storedEvent(id: number, rollout: string, e: RolloutEventDraft, actor: string, at: number): RolloutEvent {
  return { id, rollout, at, actor, type: e.type, reason: e.reason, message: e.message, ...(e.revision === undefined ? {} : { revision: e.revision }) };
}

/**
 * The revision a job key names: keys are `<rollout>/r<revision>/a<attempt>/<where>`
 * (strategies/common.ts). Parsed exactly, never matched as a pattern, so rollout `a` never
 * takes the jobs of `a-b` nor r1 those of r12.
 */
export function jobRevision(key: string, rollout: string): number {
  const m = key.startsWith(`${rollout}/`) ? /^r(\d+)\//.exec(key.slice(rollout.length + 1)) : null;
  if (!m) throw new Error(`job key "${key}" does not name rollout ${rollout} and a revision — it must read ${rollout}/r<revision>/…`);
  return Number(m[1]);
}

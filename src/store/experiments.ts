import type { ApplyRecordsResult, ExperimentRecord, ExperimentReport, ExperimentTotals, MetricTotals, VariantTotals } from '../core/experiment.js';
import type { ExperimentStore, MetricLookup } from '../core/store.js';
import { NO_USER_STATE, type StoredMetricTotals, type UserMetricState, applyUserChange, totalOf, zeroMetricTotals } from './experiment-sums.js';

/**
 * The experiment part of the Store (core/store.ts ExperimentStore), written once over a
 * small row port that each store implements (experiments-sqlite.ts, experiments-memory.ts),
 * so SqliteStore and MemoryStore apply a journal batch by the same steps.
 *
 * Decisions the port's contract leaves open:
 * - A user belongs to the variant of their first applied exposure; a conversion journaled
 *   with another variant (the split changed under them) still counts for that one.
 * - A conversion is checked in this order: its metric unknown to `metrics` →
 *   `ignored.unknownMetric`; its user never exposed in that test → `ignored.unexposed`
 *   (a `pre` record too: covariates of users not yet exposed are not held back); later than
 *   the metric's window after the user's exposure → `ignored.outsideWindow`. A conversion
 *   stamped before its user's exposure counts: router and app clocks differ a little and the
 *   journal's order already says the exposure came first. `pre` records have no window.
 * - Every conversion is kept raw with what became of it (experiment_events), ignored ones too.
 * - `lastRecordAt` is the largest `at` of the test's applied records, counted or ignored.
 * - Totals list variants by name and metrics by name then variant; a metric appears once
 *   any user has a counted value or covariate for it (the store does not know the spec's
 *   metric list), with a row for every exposed variant, zeros where none of its users has one.
 * - Snapshots are thinned as they are added: past SNAPSHOTS_THINNED_AT for a test, every
 *   second one is dropped among all but the first and the newest SNAPSHOTS_KEPT_WHOLE, so a
 *   long test keeps its start, its recent history in full, and older history ever sparser.
 * - A record with a seq that is not a positive integer, or a time or value that is not a
 *   finite number, throws (the batch changes nothing): a NaN would poison a total forever.
 */

/** How many snapshots of one test may be stored before older ones are thinned. */
export const SNAPSHOTS_THINNED_AT = 2000;
/** The newest snapshots of a test that thinning never touches. */
export const SNAPSHOTS_KEPT_WHOLE = 1000;

export type ConversionRecord = Extract<ExperimentRecord, { type: 'conversion' }>;
/** What became of a conversion, as kept beside its raw row. */
export type ConversionOutcome = 'counted' | 'unknownMetric' | 'unexposed' | 'outsideWindow';

export interface ExposedUser {
  variant: string;
  exposedAt: number;
}
export interface StoredVariantTotals {
  users: number;
  firstExposureAt: number;
}
export interface TestCounters {
  outsideWindow: number;
  unexposed: number;
  unknownMetric: number;
  lastRecordAt: number;
}

/** The rows an ExperimentData reads and writes; calls come inside the store's transaction. */
export interface ExperimentRows {
  cursor(journal: string): number | undefined;
  saveCursor(journal: string, seq: number): void;
  /** Adds the user unless the test knows them already; whether it did. */
  addUser(rollout: string, experiment: string, user: string, variant: string, at: number): boolean;
  variantTotals(rollout: string, experiment: string, variant: string): StoredVariantTotals | undefined;
  saveVariantTotals(rollout: string, experiment: string, variant: string, totals: StoredVariantTotals): void;
  listVariantTotals(rollout: string, experiment: string): (StoredVariantTotals & { variant: string })[];
  userState(rollout: string, experiment: string, metric: string, user: string): UserMetricState | undefined;
  /** The exposed user and their state on the metric, in one read (a user the batch has not met yet). */
  userWithState(rollout: string, experiment: string, metric: string, user: string): { user: ExposedUser; state: UserMetricState | undefined } | undefined;
  saveUserState(rollout: string, experiment: string, metric: string, user: string, variant: string, state: UserMetricState, at: number): void;
  metricTotals(rollout: string, experiment: string, metric: string, variant: string): StoredMetricTotals | undefined;
  saveMetricTotals(rollout: string, experiment: string, metric: string, variant: string, totals: StoredMetricTotals): void;
  listMetricTotals(rollout: string, experiment: string): (StoredMetricTotals & { metric: string; variant: string })[];
  counters(rollout: string, experiment: string): TestCounters | undefined;
  saveCounters(rollout: string, experiment: string, counters: TestCounters): void;
  addEvent(record: ConversionRecord, outcome: ConversionOutcome): void;
  /** Deletes raw conversions with `at` before the time; how many. */
  pruneEvents(beforeMs: number): number;
  /** Each test of the rollout with an exposure, with its earliest one (any order). */
  listExperiments(rollout: string): { experiment: string; firstExposureAt: number }[];
  addSnapshot(report: ExperimentReport): void;
  /** Ids of a test's snapshots, oldest first (by `at`, then as added). */
  snapshotIds(rollout: string, experiment: string): number[];
  deleteSnapshots(ids: number[]): void;
  /** Oldest first; the newest `limit` when given. */
  listSnapshots(rollout: string, experiment: string, limit?: number): ExperimentReport[];
}

export class ExperimentData implements ExperimentStore {
  constructor(
    private readonly rows: ExperimentRows,
    private readonly transaction: <T>(fn: () => T) => T,
  ) {}

  experimentCursor(journal: string): number {
    return this.rows.cursor(journal) ?? 0;
  }

  applyExperimentRecords(journal: string, records: (ExperimentRecord & { seq: number })[], metrics: MetricLookup): ApplyRecordsResult {
    for (const r of records) checkRecord(journal, r);
    return this.transaction(() => {
      const start = this.experimentCursor(journal);
      const batch = new BatchTotals(this.rows, metrics);
      let cursor = start;
      let applied = 0;
      for (const r of records) {
        if (r.seq <= cursor) continue;
        cursor = r.seq;
        applied++;
        if (r.type === 'exposure') batch.expose(r);
        else batch.convert(r);
      }
      batch.flush();
      if (cursor !== start) this.rows.saveCursor(journal, cursor);
      return { applied, skipped: records.length - applied, cursor };
    });
  }

  experimentTotals(rollout: string, experiment: string): ExperimentTotals {
    const variants: VariantTotals[] = this.rows
      .listVariantTotals(rollout, experiment)
      .map((v) => ({ variant: v.variant, users: v.users, firstExposureAt: v.firstExposureAt }))
      .sort((a, b) => byteOrder(a.variant, b.variant));
    const stored = new Map(this.rows.listMetricTotals(rollout, experiment).map((t) => [`${t.metric}\0${t.variant}`, t]));
    const metricNames = [...new Set([...stored.values()].map((t) => t.metric))].sort(byteOrder);
    const metrics: MetricTotals[] = metricNames.flatMap((metric) =>
      variants.map((v) => metricTotals(metric, v.variant, v.users, stored.get(`${metric}\0${v.variant}`) ?? zeroMetricTotals())),
    );
    const c = this.rows.counters(rollout, experiment);
    return {
      rollout,
      experiment,
      variants,
      metrics,
      ignored: { outsideWindow: c?.outsideWindow ?? 0, unexposed: c?.unexposed ?? 0, unknownMetric: c?.unknownMetric ?? 0 },
      lastRecordAt: c?.lastRecordAt ?? null,
    };
  }

  listExperiments(rollout: string): string[] {
    return this.rows
      .listExperiments(rollout)
      .sort((a, b) => a.firstExposureAt - b.firstExposureAt || byteOrder(a.experiment, b.experiment))
      .map((e) => e.experiment);
  }

  putExperimentSnapshot(report: ExperimentReport): void {
    this.transaction(() => {
      this.rows.addSnapshot(report);
      const ids = this.rows.snapshotIds(report.rollout, report.experiment);
      if (ids.length <= SNAPSHOTS_THINNED_AT) return;
      // ids[0] (the start) and the newest SNAPSHOTS_KEPT_WHOLE stay; every second one between goes
      this.rows.deleteSnapshots(ids.slice(1, ids.length - SNAPSHOTS_KEPT_WHOLE).filter((_, i) => i % 2 === 0));
    });
  }

  listExperimentSnapshots(rollout: string, experiment: string, limit?: number): ExperimentReport[] {
    return this.rows.listSnapshots(rollout, experiment, limit === undefined ? undefined : Math.max(0, Math.floor(limit)));
  }

  pruneExperimentEvents(beforeMs: number): number {
    return this.transaction(() => this.rows.pruneEvents(beforeMs));
  }
}

/**
 * One batch's writes: users and their values go to the rows as each record is applied (a
 * later record of the batch reads them back), the totals they move are held here and
 * written once at the end, so a batch of thousands of records writes each total once.
 */
class BatchTotals {
  private readonly variants = new Map<string, { rollout: string; experiment: string; variant: string; totals: StoredVariantTotals }>();
  private readonly metricTotals = new Map<string, { rollout: string; experiment: string; metric: string; variant: string; totals: StoredMetricTotals }>();
  private readonly counters = new Map<string, { rollout: string; experiment: string; counters: TestCounters }>();
  private readonly lookups = new Map<string, ReturnType<MetricLookup>>();
  /** Users read or added in this batch (null: not exposed), as a user converts on several metrics at once. */
  private readonly users = new Map<string, ExposedUser | null>();

  constructor(
    private readonly rows: ExperimentRows,
    private readonly metrics: MetricLookup,
  ) {}

  expose(r: Extract<ExperimentRecord, { type: 'exposure' }>): void {
    this.seen(r.rollout, r.experiment, r.at);
    if (!this.rows.addUser(r.rollout, r.experiment, r.user, r.variant, r.at)) return;
    this.users.set(`${r.rollout}\0${r.experiment}\0${r.user}`, { variant: r.variant, exposedAt: r.at });
    const key = `${r.rollout}\0${r.experiment}\0${r.variant}`;
    let entry = this.variants.get(key);
    if (!entry) {
      const totals = this.rows.variantTotals(r.rollout, r.experiment, r.variant) ?? { users: 0, firstExposureAt: r.at };
      entry = { rollout: r.rollout, experiment: r.experiment, variant: r.variant, totals: { ...totals } };
      this.variants.set(key, entry);
    }
    entry.totals.users++;
    entry.totals.firstExposureAt = Math.min(entry.totals.firstExposureAt, r.at);
  }

  convert(r: ConversionRecord): void {
    const counters = this.seen(r.rollout, r.experiment, r.at);
    const outcome = this.count(r);
    if (outcome !== 'counted') counters[outcome]++;
    this.rows.addEvent(r, outcome);
  }

  private count(r: ConversionRecord): ConversionOutcome {
    const metric = this.lookup(r.rollout, r.experiment, r.metric);
    if (!metric) return 'unknownMetric';
    const key = `${r.rollout}\0${r.experiment}\0${r.user}`;
    let user = this.users.get(key);
    let stored: UserMetricState | undefined;
    if (user === undefined) {
      const found = this.rows.userWithState(r.rollout, r.experiment, r.metric, r.user);
      this.users.set(key, (user = found?.user ?? null));
      stored = found?.state;
    } else if (user) stored = this.rows.userState(r.rollout, r.experiment, r.metric, r.user);
    if (!user) return 'unexposed';
    if (!r.pre && metric.windowMs !== undefined && r.at - user.exposedAt > metric.windowMs) return 'outsideWindow';
    const before = stored ?? NO_USER_STATE;
    const after: UserMetricState = r.pre
      ? { ...before, preValue: r.value, hasPre: true }
      : { ...before, value: metric.kind === 'binomial' ? 1 : before.value + r.value, count: before.count + 1 };
    this.rows.saveUserState(r.rollout, r.experiment, r.metric, r.user, user.variant, after, r.at);
    applyUserChange(this.totals(r.rollout, r.experiment, r.metric, user.variant), before, after);
    return 'counted';
  }

  private lookup(rollout: string, experiment: string, metric: string): ReturnType<MetricLookup> {
    const key = `${rollout}\0${experiment}\0${metric}`;
    if (!this.lookups.has(key)) this.lookups.set(key, this.metrics(rollout, experiment, metric));
    return this.lookups.get(key);
  }

  private totals(rollout: string, experiment: string, metric: string, variant: string): StoredMetricTotals {
    const key = `${rollout}\0${experiment}\0${metric}\0${variant}`;
    let entry = this.metricTotals.get(key);
    if (!entry) {
      entry = { rollout, experiment, metric, variant, totals: this.rows.metricTotals(rollout, experiment, metric, variant) ?? zeroMetricTotals() };
      this.metricTotals.set(key, entry);
    }
    return entry.totals;
  }

  /** The test's counters, with `at` taken into its latest record time. */
  private seen(rollout: string, experiment: string, at: number): TestCounters {
    const key = `${rollout}\0${experiment}`;
    let entry = this.counters.get(key);
    if (!entry) {
      const stored = this.rows.counters(rollout, experiment) ?? { outsideWindow: 0, unexposed: 0, unknownMetric: 0, lastRecordAt: at };
      entry = { rollout, experiment, counters: { ...stored } };
      this.counters.set(key, entry);
    }
    entry.counters.lastRecordAt = Math.max(entry.counters.lastRecordAt, at);
    return entry.counters;
  }

  flush(): void {
    for (const e of this.variants.values()) this.rows.saveVariantTotals(e.rollout, e.experiment, e.variant, e.totals);
    for (const e of this.metricTotals.values()) this.rows.saveMetricTotals(e.rollout, e.experiment, e.metric, e.variant, e.totals);
    for (const e of this.counters.values()) this.rows.saveCounters(e.rollout, e.experiment, e.counters);
  }
}

function metricTotals(metric: string, variant: string, users: number, t: StoredMetricTotals): MetricTotals {
  return {
    metric,
    variant,
    users,
    converted: t.converted,
    sum: totalOf(t.sum),
    sumSquares: totalOf(t.sumSquares),
    preReported: t.preReported,
    preSum: totalOf(t.preSum),
    preSumSquares: totalOf(t.preSumSquares),
    crossSum: totalOf(t.crossSum),
  };
}

function checkRecord(journal: string, r: ExperimentRecord & { seq: number }): void {
  const problem =
    !Number.isSafeInteger(r.seq) || r.seq < 1
      ? `seq ${r.seq} is not a positive integer`
      : !Number.isFinite(r.at)
        ? `at ${r.at} is not a finite number`
        : r.type === 'conversion' && !Number.isFinite(r.value)
          ? `value ${r.value} is not a finite number`
          : r.type !== 'exposure' && r.type !== 'conversion'
            ? `type ${String((r as { type: unknown }).type)} is neither exposure nor conversion`
            : undefined;
  if (problem) throw new Error(`experiment journal ${journal}: record seq ${r.seq}: ${problem} — the batch was not applied`);
}

/** SQLite's BINARY collation, for the ASCII names specs allow. */
const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

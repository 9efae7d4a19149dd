import type Database from 'better-sqlite3';
import type { ExperimentReport } from '../core/experiment.js';
import type { StoredMetricTotals, UserMetricState } from './experiment-sums.js';
import type { ConversionOutcome, ConversionRecord, ExperimentRows, ExposedUser, StoredVariantTotals, TestCounters } from './experiments.js';
import { SNAPSHOT_STEPS, currentFormat, decodeRow } from './row-formats.js';

/**
 * The experiment rows in SQLite (tables of migrations.ts step 8). Every statement is
 * prepared once, when the store opens: a journal batch runs thousands of them.
 */
export class SqliteExperimentRows implements ExperimentRows {
  private readonly s: ReturnType<typeof prepare>;

  constructor(db: Database.Database) {
    this.s = prepare(db);
  }

  cursor(journal: string): number | undefined {
    return this.s.cursor.get(journal) as number | undefined;
  }
  saveCursor(journal: string, seq: number): void {
    this.s.saveCursor.run(journal, seq);
  }
  addUser(rollout: string, experiment: string, user: string, variant: string, at: number): boolean {
    return this.s.addUser.run(rollout, experiment, user, variant, at).changes === 1;
  }
  variantTotals(rollout: string, experiment: string, variant: string): StoredVariantTotals | undefined {
    return this.s.variantTotals.get(rollout, experiment, variant) as StoredVariantTotals | undefined;
  }
  saveVariantTotals(rollout: string, experiment: string, variant: string, t: StoredVariantTotals): void {
    this.s.saveVariantTotals.run(rollout, experiment, variant, t.users, t.firstExposureAt);
  }
  listVariantTotals(rollout: string, experiment: string): (StoredVariantTotals & { variant: string })[] {
    return this.s.listVariantTotals.all(rollout, experiment) as (StoredVariantTotals & { variant: string })[];
  }
  userState(rollout: string, experiment: string, metric: string, user: string): UserMetricState | undefined {
    const row = this.s.userState.get(rollout, experiment, metric, user) as (Omit<UserMetricState, 'hasPre'> & { hasPre: number }) | undefined;
    return row && { ...row, hasPre: row.hasPre === 1 };
  }
  userWithState(rollout: string, experiment: string, metric: string, user: string): { user: ExposedUser; state: UserMetricState | undefined } | undefined {
    const row = this.s.userWithState.get(metric, rollout, experiment, user) as [string, number, number, number | null, number, number] | undefined;
    if (!row) return undefined;
    const [variant, exposedAt, value, count, preValue, hasPre] = row;
    return { user: { variant, exposedAt }, state: count === null ? undefined : { value, count, preValue, hasPre: hasPre === 1 } };
  }
  saveUserState(rollout: string, experiment: string, metric: string, user: string, variant: string, v: UserMetricState, at: number): void {
    this.s.saveUserState.run(rollout, experiment, metric, user, variant, v.value, v.count, v.preValue, v.hasPre ? 1 : 0, at);
  }
  metricTotals(rollout: string, experiment: string, metric: string, variant: string): StoredMetricTotals | undefined {
    const row = this.s.metricTotals.get(rollout, experiment, metric, variant) as number[] | undefined;
    return row && fromColumns(row);
  }
  saveMetricTotals(rollout: string, experiment: string, metric: string, variant: string, t: StoredMetricTotals): void {
    this.s.saveMetricTotals.run(rollout, experiment, metric, variant, ...toColumns(t));
  }
  listMetricTotals(rollout: string, experiment: string): (StoredMetricTotals & { metric: string; variant: string })[] {
    return (this.s.listMetricTotals.all(rollout, experiment) as [string, string, ...number[]][]).map(([metric, variant, ...columns]) => ({
      metric,
      variant,
      ...fromColumns(columns),
    }));
  }
  counters(rollout: string, experiment: string): TestCounters | undefined {
    return this.s.counters.get(rollout, experiment) as TestCounters | undefined;
  }
  saveCounters(rollout: string, experiment: string, c: TestCounters): void {
    this.s.saveCounters.run(rollout, experiment, c.outsideWindow, c.unexposed, c.unknownMetric, c.lastRecordAt);
  }
  addEvent(r: ConversionRecord, outcome: ConversionOutcome): void {
    this.s.addEvent.run(r.rollout, r.experiment, r.metric, r.user, r.variant, r.value, r.at, r.source, r.pre ? 1 : 0, outcome);
  }
  pruneEvents(beforeMs: number): number {
    return this.s.pruneEvents.run(beforeMs).changes;
  }
  listExperiments(rollout: string): { experiment: string; firstExposureAt: number }[] {
    return this.s.listExperiments.all(rollout) as { experiment: string; firstExposureAt: number }[];
  }
  addSnapshot(report: ExperimentReport): void {
    this.s.addSnapshot.run(report.rollout, report.experiment, report.at, currentFormat(SNAPSHOT_STEPS), JSON.stringify(report));
  }
  snapshotIds(rollout: string, experiment: string): number[] {
    return this.s.snapshotIds.all(rollout, experiment) as number[];
  }
  deleteSnapshots(ids: number[]): void {
    for (const id of ids) this.s.deleteSnapshot.run(id);
  }
  listSnapshots(rollout: string, experiment: string, limit?: number): ExperimentReport[] {
    const rows = (limit === undefined ? this.s.allSnapshots.all(rollout, experiment) : this.s.newestSnapshots.all(rollout, experiment, limit)) as {
      format: number;
      report: string;
    }[];
    return rows.map((r) => decodeRow<ExperimentReport>(`experiment ${rollout}/${experiment}: snapshot`, r.report, r.format, SNAPSHOT_STEPS));
  }
}

/** experiment_metric_totals' value columns, in the order toColumns and fromColumns use. */
const TOTALS_COLUMNS =
  'converted, pre_reported, sum, sum_error, sum_squares, sum_squares_error, pre_sum, pre_sum_error, pre_sum_squares, pre_sum_squares_error, cross_sum, cross_sum_error';

const toColumns = (t: StoredMetricTotals): number[] => [
  t.converted,
  t.preReported,
  t.sum.value,
  t.sum.error,
  t.sumSquares.value,
  t.sumSquares.error,
  t.preSum.value,
  t.preSum.error,
  t.preSumSquares.value,
  t.preSumSquares.error,
  t.crossSum.value,
  t.crossSum.error,
];

const fromColumns = (c: number[]): StoredMetricTotals => ({
  converted: c[0],
  preReported: c[1],
  sum: { value: c[2], error: c[3] },
  sumSquares: { value: c[4], error: c[5] },
  preSum: { value: c[6], error: c[7] },
  preSumSquares: { value: c[8], error: c[9] },
  crossSum: { value: c[10], error: c[11] },
});

/** Every statement the rows use, prepared once. */
function prepare(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  return {
    cursor: p('SELECT seq FROM experiment_cursors WHERE journal = ?').pluck(),
    saveCursor: p('INSERT INTO experiment_cursors (journal, seq) VALUES (?, ?) ON CONFLICT (journal) DO UPDATE SET seq = excluded.seq'),
    addUser: p('INSERT OR IGNORE INTO experiment_users (rollout, experiment, user, variant, exposed_at) VALUES (?, ?, ?, ?, ?)'),
    variantTotals: p('SELECT users, first_exposure_at AS firstExposureAt FROM experiment_variant_totals WHERE rollout = ? AND experiment = ? AND variant = ?'),
    saveVariantTotals: p(
      `INSERT INTO experiment_variant_totals (rollout, experiment, variant, users, first_exposure_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (rollout, experiment, variant) DO UPDATE SET users = excluded.users, first_exposure_at = excluded.first_exposure_at`,
    ),
    listVariantTotals: p('SELECT variant, users, first_exposure_at AS firstExposureAt FROM experiment_variant_totals WHERE rollout = ? AND experiment = ?'),
    userState: p(
      'SELECT value, count, pre_value AS preValue, has_pre AS hasPre FROM experiment_values WHERE rollout = ? AND experiment = ? AND metric = ? AND user = ?',
    ),
    userWithState: p(
      `SELECT u.variant, u.exposed_at, v.value, v.count, v.pre_value, v.has_pre FROM experiment_users u
       LEFT JOIN experiment_values v ON v.rollout = u.rollout AND v.experiment = u.experiment AND v.metric = ? AND v.user = u.user
       WHERE u.rollout = ? AND u.experiment = ? AND u.user = ?`,
    ).raw(),
    saveUserState: p(
      `INSERT INTO experiment_values (rollout, experiment, metric, user, variant, value, count, pre_value, has_pre, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (rollout, experiment, metric, user) DO UPDATE SET
           value = excluded.value, count = excluded.count, pre_value = excluded.pre_value, has_pre = excluded.has_pre, updated_at = excluded.updated_at`,
    ),
    metricTotals: p(`SELECT ${TOTALS_COLUMNS} FROM experiment_metric_totals WHERE rollout = ? AND experiment = ? AND metric = ? AND variant = ?`).raw(),
    saveMetricTotals: p(
      `INSERT OR REPLACE INTO experiment_metric_totals (rollout, experiment, metric, variant, ${TOTALS_COLUMNS}) VALUES (?, ?, ?, ?, ${TOTALS_COLUMNS.replace(/[a-z_]+/g, '?')})`,
    ),
    listMetricTotals: p(`SELECT metric, variant, ${TOTALS_COLUMNS} FROM experiment_metric_totals WHERE rollout = ? AND experiment = ?`).raw(),
    counters: p(
      `SELECT outside_window AS outsideWindow, unexposed, unknown_metric AS unknownMetric, last_record_at AS lastRecordAt
         FROM experiment_counters WHERE rollout = ? AND experiment = ?`,
    ),
    saveCounters: p(
      'INSERT OR REPLACE INTO experiment_counters (rollout, experiment, outside_window, unexposed, unknown_metric, last_record_at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    addEvent: p(
      'INSERT INTO experiment_events (rollout, experiment, metric, user, variant, value, at, source, pre, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    pruneEvents: p('DELETE FROM experiment_events WHERE at < ?'),
    listExperiments: p('SELECT experiment, min(first_exposure_at) AS firstExposureAt FROM experiment_variant_totals WHERE rollout = ? GROUP BY experiment'),
    addSnapshot: p('INSERT INTO experiment_snapshots (rollout, experiment, at, format, report) VALUES (?, ?, ?, ?, ?)'),
    snapshotIds: p('SELECT id FROM experiment_snapshots WHERE rollout = ? AND experiment = ? ORDER BY at, id').pluck(),
    deleteSnapshot: p('DELETE FROM experiment_snapshots WHERE id = ?'),
    allSnapshots: p('SELECT format, report FROM experiment_snapshots WHERE rollout = ? AND experiment = ? ORDER BY at, id'),
    newestSnapshots: p(
      `SELECT format, report FROM (SELECT id, at, format, report FROM experiment_snapshots WHERE rollout = ? AND experiment = ? ORDER BY at DESC, id DESC LIMIT ?)
         ORDER BY at, id`,
    ),
  };
}

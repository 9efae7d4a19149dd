import type { ExperimentReport } from '../core/experiment.js';
import type { StoredMetricTotals, UserMetricState } from './experiment-sums.js';
import type { ConversionOutcome, ConversionRecord, ExperimentRows, ExposedUser, StoredVariantTotals, TestCounters } from './experiments.js';

/** MemoryStore's undoable write (memory.ts): every change to a row goes through it. */
export type RowWrite = <K, V>(table: Map<K, V>, key: K, value: V | undefined) => void;

type Test = { rollout: string; experiment: string };

/**
 * The experiment rows in maps, for MemoryStore. Values are copied in and out (a total the
 * batch adds to in place must not be the one the undo journal holds), and scans filter
 * whole maps: the engine's tests hold a few users, not a million.
 */
export class MemoryExperimentRows implements ExperimentRows {
  private readonly cursors = new Map<string, number>();
  private readonly users = new Map<string, ExposedUser>();
  private readonly variants = new Map<string, Test & { variant: string } & StoredVariantTotals>();
  private readonly values = new Map<string, UserMetricState & { variant: string; updatedAt: number }>();
  private readonly metricRows = new Map<string, Test & { metric: string; variant: string } & StoredMetricTotals>();
  private readonly counterRows = new Map<string, TestCounters>();
  private readonly events = new Map<number, { record: ConversionRecord; outcome: ConversionOutcome }>();
  private readonly snapshots = new Map<number, ExperimentReport>();
  private lastId = 0;

  constructor(private readonly write: RowWrite) {}

  cursor(journal: string): number | undefined {
    return this.cursors.get(journal);
  }
  saveCursor(journal: string, seq: number): void {
    this.write(this.cursors, journal, seq);
  }
  private user(rollout: string, experiment: string, user: string): ExposedUser | undefined {
    const u = this.users.get(key(rollout, experiment, user));
    return u && { ...u };
  }
  addUser(rollout: string, experiment: string, user: string, variant: string, at: number): boolean {
    const k = key(rollout, experiment, user);
    if (this.users.has(k)) return false;
    this.write(this.users, k, { variant, exposedAt: at });
    return true;
  }
  variantTotals(rollout: string, experiment: string, variant: string): StoredVariantTotals | undefined {
    const v = this.variants.get(key(rollout, experiment, variant));
    return v && { users: v.users, firstExposureAt: v.firstExposureAt };
  }
  saveVariantTotals(rollout: string, experiment: string, variant: string, t: StoredVariantTotals): void {
    this.write(this.variants, key(rollout, experiment, variant), { rollout, experiment, variant, users: t.users, firstExposureAt: t.firstExposureAt });
  }
  listVariantTotals(rollout: string, experiment: string): (StoredVariantTotals & { variant: string })[] {
    return [...this.variants.values()]
      .filter((v) => v.rollout === rollout && v.experiment === experiment)
      .map((v) => ({ variant: v.variant, users: v.users, firstExposureAt: v.firstExposureAt }));
  }
  userState(rollout: string, experiment: string, metric: string, user: string): UserMetricState | undefined {
    const v = this.values.get(key(rollout, experiment, metric, user));
    return v && { value: v.value, count: v.count, preValue: v.preValue, hasPre: v.hasPre };
  }
  userWithState(rollout: string, experiment: string, metric: string, user: string): { user: ExposedUser; state: UserMetricState | undefined } | undefined {
    const found = this.user(rollout, experiment, user);
    return found && { user: found, state: this.userState(rollout, experiment, metric, user) };
  }
  saveUserState(rollout: string, experiment: string, metric: string, user: string, variant: string, s: UserMetricState, at: number): void {
    this.write(this.values, key(rollout, experiment, metric, user), {
      value: s.value,
      count: s.count,
      preValue: s.preValue,
      hasPre: s.hasPre,
      variant,
      updatedAt: at,
    });
  }
  metricTotals(rollout: string, experiment: string, metric: string, variant: string): StoredMetricTotals | undefined {
    const t = this.metricRows.get(key(rollout, experiment, metric, variant));
    return t && totalsOnly(t);
  }
  saveMetricTotals(rollout: string, experiment: string, metric: string, variant: string, t: StoredMetricTotals): void {
    this.write(this.metricRows, key(rollout, experiment, metric, variant), { rollout, experiment, metric, variant, ...totalsOnly(t) });
  }
  listMetricTotals(rollout: string, experiment: string): (StoredMetricTotals & { metric: string; variant: string })[] {
    return [...this.metricRows.values()]
      .filter((t) => t.rollout === rollout && t.experiment === experiment)
      .map((t) => ({ metric: t.metric, variant: t.variant, ...totalsOnly(t) }));
  }
  counters(rollout: string, experiment: string): TestCounters | undefined {
    const c = this.counterRows.get(key(rollout, experiment));
    return c && { ...c };
  }
  saveCounters(rollout: string, experiment: string, c: TestCounters): void {
    this.write(this.counterRows, key(rollout, experiment), { ...c });
  }
  addEvent(record: ConversionRecord, outcome: ConversionOutcome): void {
    this.write(this.events, ++this.lastId, { record: structuredClone(record), outcome });
  }
  pruneEvents(beforeMs: number): number {
    let pruned = 0;
    for (const [id, e] of this.events)
      if (e.record.at < beforeMs) {
        this.write(this.events, id, undefined);
        pruned++;
      }
    return pruned;
  }
  listExperiments(rollout: string): { experiment: string; firstExposureAt: number }[] {
    const first = new Map<string, number>();
    for (const v of this.variants.values())
      if (v.rollout === rollout) first.set(v.experiment, Math.min(first.get(v.experiment) ?? Number.POSITIVE_INFINITY, v.firstExposureAt));
    return [...first].map(([experiment, firstExposureAt]) => ({ experiment, firstExposureAt }));
  }
  addSnapshot(report: ExperimentReport): void {
    // through JSON, as SQLite keeps it: an undefined field is no field
    this.write(this.snapshots, ++this.lastId, JSON.parse(JSON.stringify(report)) as ExperimentReport);
  }
  snapshotIds(rollout: string, experiment: string): number[] {
    return [...this.snapshots]
      .filter(([, r]) => r.rollout === rollout && r.experiment === experiment)
      .sort(([a, ra], [b, rb]) => ra.at - rb.at || a - b)
      .map(([id]) => id);
  }
  deleteSnapshots(ids: number[]): void {
    for (const id of ids) this.write(this.snapshots, id, undefined);
  }
  listSnapshots(rollout: string, experiment: string, limit?: number): ExperimentReport[] {
    const ids = this.snapshotIds(rollout, experiment);
    return ids.slice(limit === undefined ? 0 : Math.max(0, ids.length - limit)).map((id) => structuredClone(this.snapshots.get(id)!));
  }
}

const key = (...parts: string[]): string => parts.join('\0');

const totalsOnly = (t: StoredMetricTotals): StoredMetricTotals => ({
  converted: t.converted,
  preReported: t.preReported,
  sum: { ...t.sum },
  sumSquares: { ...t.sumSquares },
  preSum: { ...t.preSum },
  preSumSquares: { ...t.preSumSquares },
  crossSum: { ...t.crossSum },
});

/**
 * Runs experiments in the control plane: pulls the data plane's journal of exposures and
 * conversions into the store (one transaction per batch, then acknowledges, so a restart of
 * either side loses nothing and applies nothing twice), reports every live test from the
 * store's running totals and the router's guardrail readings (src/experiments/analyze.ts),
 * keeps snapshots for the report's plots, and, when the test says `conclusion.auto`, acts on
 * a final recommendation: promote the winner, keep the control, or abort.
 */
import type { Clock } from '../../core/clock.js';
import type { ExperimentJournal, ExperimentReport, MetricKind, Recommendation } from '../../core/experiment.js';
import type { RolloutRecord } from '../../core/rollout.js';
import type { AbTestStrategy } from '../../core/spec.js';
import type { MetricLookup, Store } from '../../core/store.js';
import type { TrafficWindows } from '../../core/traffic-router.js';
import { analyzeExperiment, type GuardrailReading } from '../../experiments/analyze.js';
import { experimentId, variantArms } from '../strategies/ab-test.js';

/** How often the journal is pulled and live tests are reported. */
export const EXPERIMENT_INTERVAL_MS = 2000;
/** A snapshot (a point of the report's plots) at most this often per test. */
export const SNAPSHOT_INTERVAL_MS = 30_000;
/** Records per journal request, and requests per pull at most (the rest waits for the next tick). */
const BATCH = 5000;
const BATCHES_PER_PULL = 40;
/** Raw conversions are kept this long (aggregates forever). */
export const RAW_EVENT_RETENTION_MS = 30 * 86_400_000;

/** What the monitor asks of the engine to end a test (the control plane wires Controller actions). */
export interface ExperimentActions {
  /** Promote `variant` (the control: keep it), as `sluice promote NAME --variant V` by the experiment. */
  promote(rollout: string, variant: string): Promise<void>;
  abort(rollout: string): Promise<void>;
}

/** Reads Prometheus metrics' per-variant counts (absent: Prometheus metrics are not read). */
export type PrometheusCounts = (address: string, query: string) => Promise<Record<string, number>>;

export interface ExperimentMonitorOptions {
  store: Store;
  clock: Clock;
  journal: ExperimentJournal;
  windows: TrafficWindows;
  actions: ExperimentActions;
  prometheus?: PrometheusCounts;
  log: (line: string) => void;
}

export class ExperimentMonitor {
  private journalId: string | undefined;
  private readonly latest = new Map<string, ExperimentReport>();
  private readonly snapshotAt = new Map<string, number>();
  /** Tests whose final verdict was acted on (once per test). */
  private readonly acted = new Set<string>();
  private lastPrune = 0;

  constructor(private readonly o: ExperimentMonitorOptions) {}

  /** One tick: pull the journal, then report (and maybe conclude) every live test. */
  async tick(): Promise<void> {
    await this.pull();
    await this.reportLive();
    const now = this.o.clock.now();
    if (now - this.lastPrune > 86_400_000) {
      this.lastPrune = now;
      const gone = this.o.store.pruneExperimentEvents(now - RAW_EVENT_RETENTION_MS);
      if (gone > 0) this.o.log(`experiments: pruned ${gone} raw conversion(s) older than 30 days (aggregates kept)`);
    }
  }

  /** Pulls every record the data plane journaled since the stored cursor. Returns how many were applied. */
  async pull(): Promise<number> {
    let applied = 0;
    for (let i = 0; i < BATCHES_PER_PULL; i++) {
      const after = this.journalId === undefined ? 0 : this.o.store.experimentCursor(this.journalId);
      let batch = await this.o.journal.records(after, BATCH);
      if (batch.journal !== this.journalId) {
        // First pull, or a data plane with a new journal: continue from what is stored of it.
        this.journalId = batch.journal;
        const cursor = this.o.store.experimentCursor(batch.journal);
        if (cursor !== after) batch = await this.o.journal.records(cursor, BATCH);
      }
      if (batch.records.length === 0) break;
      const result = this.o.store.applyExperimentRecords(batch.journal, batch.records, this.metricLookup());
      applied += result.applied;
      await this.o.journal.ack(batch.journal, result.cursor);
      if (result.cursor >= batch.last) break;
    }
    return applied;
  }

  /** The current report of a rollout's test (the live one, else the last snapshot), with its snapshots. */
  reportOf(rollout: string, experiment?: string): { report: ExperimentReport | null; snapshots: ExperimentReport[] } {
    const tests = this.o.store.listExperiments(rollout);
    const id = experiment ?? tests.at(-1);
    if (id === undefined) return { report: null, snapshots: [] };
    const snapshots = this.o.store.listExperimentSnapshots(rollout, id, 2000);
    const live = this.latest.get(`${rollout}/${id}`);
    return { report: live ?? snapshots.at(-1) ?? null, snapshots };
  }

  /** Every test with data: rollout, test, latest verdict, users. */
  list(): { rollout: string; experiment: string; verdict: string; users: number; at: number }[] {
    const out = [];
    for (const r of this.o.store.listRollouts()) {
      for (const id of this.o.store.listExperiments(r.name)) {
        const rep = this.reportOf(r.name, id).report;
        out.push({
          rollout: r.name,
          experiment: id,
          verdict: rep?.concluded ? `concluded (${rep.concluded.verdict})` : (rep?.recommendation.verdict ?? 'CONTINUE'),
          users: rep ? rep.variants.reduce((n, v) => n + v.users, 0) : 0,
          at: rep?.at ?? 0,
        });
      }
    }
    return out;
  }

  private metricLookup(): MetricLookup {
    const kinds = new Map<string, { kind: MetricKind; windowMs?: number }>();
    for (const r of this.o.store.listRollouts()) {
      const st = r.spec.strategy;
      if (st.type !== 'abTest' || st.experiment === undefined) continue;
      for (const m of st.experiment.metrics) kinds.set(`${r.name}\0${m.name}`, { kind: m.kind, ...(m.windowMs !== undefined ? { windowMs: m.windowMs } : {}) });
    }
    return (rollout, _experiment, metric) => kinds.get(`${rollout}\0${metric}`);
  }

  private async reportLive(): Promise<void> {
    const live = new Set<string>();
    for (const r of this.o.store.listRollouts()) {
      const st = r.spec.strategy;
      if (st.type !== 'abTest' || st.experiment === undefined || !isLive(r)) continue;
      live.add(`${r.name}/${experimentId(r.status)}`);
      try {
        await this.reportOne(r, st);
      } catch (err) {
        this.o.log(`experiments: cannot report ${r.name}: ${(err as Error).message}`);
      }
    }
    // A test that ended by hand (promote, abort, a new apply): its last report says so.
    for (const [key, report] of this.latest) {
      if (live.has(key) || report.concluded !== undefined) continue;
      const r = this.o.store.getRollout(report.rollout);
      const winner = r?.status.winner;
      const final: ExperimentReport = {
        ...report,
        concluded: { at: this.o.clock.now(), verdict: 'manual', ...(winner !== undefined ? { variant: winner } : {}), by: 'operator' },
      };
      this.o.store.putExperimentSnapshot(final);
      this.latest.set(key, final);
    }
  }

  private async reportOne(r: RolloutRecord, st: AbTestStrategy): Promise<void> {
    const spec = st.experiment!;
    const s = r.status;
    const id = experimentId(s);
    const key = `${r.name}/${id}`;
    const now = this.o.clock.now();
    const arms = variantArms(st, s).map((a) => ({ variant: a.name, revision: a.revision, weight: a.weight }));
    const totals = this.o.store.experimentTotals(r.name, id);
    const since = totals.variants.reduce((t, v) => (v.firstExposureAt !== null && v.firstExposureAt < t ? v.firstExposureAt : t), now);
    const guardrails: GuardrailReading[] = [];
    for (const a of arms) {
      const w = await this.o.windows.window(r.name, a.revision, since);
      guardrails.push({ variant: a.variant, requests: w.requests, errorRate: w.errorRate, p95LatencyMs: w.latency.p95 === null ? null : w.latency.p95 * 1000 });
    }
    const prometheus: Record<string, Record<string, number>> = {};
    for (const m of spec.metrics) {
      if (m.prometheus && this.o.prometheus) prometheus[m.name] = await this.o.prometheus(m.prometheus.address, m.prometheus.query);
    }
    const report = analyzeExperiment({ rollout: r.name, experiment: id, now, spec, arms, totals, guardrails, prometheus });
    this.latest.set(key, report);
    const last = this.snapshotAt.get(key) ?? 0;
    const rec = report.recommendation;
    const acting = spec.conclusion.auto && rec.final && !this.acted.has(key);
    if (now - last >= SNAPSHOT_INTERVAL_MS || acting) {
      this.snapshotAt.set(key, now);
      if (!acting) this.o.store.putExperimentSnapshot(report);
    }
    if (acting) await this.conclude(r, st, report, rec);
  }

  /** Acts on a final recommendation once, and records the numbers behind it. */
  private async conclude(r: RolloutRecord, st: AbTestStrategy, report: ExperimentReport, rec: Recommendation): Promise<void> {
    const key = `${r.name}/${report.experiment}`;
    this.acted.add(key);
    const control = st.variants[0]!.name;
    const now = this.o.clock.now();
    const variant = rec.verdict === 'SHIP' ? rec.variant! : control;
    const concluded = { at: now, verdict: rec.verdict, variant: rec.verdict === 'STOP' ? rec.variant : variant, by: 'experiment' };
    const final: ExperimentReport = { ...report, concluded: concluded as ExperimentReport['concluded'] };
    this.o.store.putExperimentSnapshot(final);
    this.latest.set(key, final);
    this.o.store.appendEvent(
      r.name,
      {
        type: rec.verdict === 'STOP' ? 'Warning' : 'Normal',
        reason: 'ExperimentVerdict',
        message: `${rec.verdict}${rec.variant ? ` ${rec.variant}` : ''}: ${rec.reason}; ${numbers(report)}`,
        revision: r.status.currentRevision,
      },
      'experiment',
      now,
    );
    try {
      if (rec.verdict === 'STOP') await this.o.actions.abort(r.name);
      else await this.o.actions.promote(r.name, variant);
    } catch (err) {
      // Someone ended it first (promote/abort by hand): their action stands.
      this.o.log(`experiments: ${r.name} ${rec.verdict}: ${(err as Error).message}`);
    }
  }
}

/** A test whose split is live: the same condition the exposure collector uses, and not yet decided. */
function isLive(r: RolloutRecord): boolean {
  const s = r.status;
  return s.stableRevision !== null && s.currentRevision !== s.stableRevision && !s.aborted && s.weights.length >= 2 && s.winner === undefined;
}

/** Users per variant and the primary metric's rates, for the verdict's event. */
function numbers(r: ExperimentReport): string {
  const p = r.metrics.find((m) => m.primary);
  const users = r.variants.map((v) => `${v.variant} ${v.users}`).join(', ');
  const rates = p ? p.variants.map((v) => `${v.variant} ${p.kind === 'binomial' ? `${(v.mean * 100).toFixed(2)} %` : v.mean.toFixed(2)}`).join(', ') : '';
  return `users ${users}${p ? `; ${p.name} ${rates}` : ''}; SRM p = ${r.srm.pValue.toPrecision(3)}`;
}

import type { Clock } from '../core/clock.js';
import type { BuiltinProviderConfig, Measurement, MeasurementContext, MetricProvider, MetricSpec, PostDeployWatch, ProviderKind } from '../core/analysis.js';
import { judgeMeasurement, metricStatus, runPhase } from '../analysis/evaluate.js';
import { judgeWatch, type WatchSample } from '../analysis/watch.js';
import { callWebhook, pollGate } from '../hooks/webhook.js';
import { runExecHook } from '../hooks/exec.js';
import { runSmokeTests } from '../hooks/smoke.js';
import type { WebhookKind } from '../core/hooks.js';
import { jobRevision } from '../core/store.js';
import { isDone, type DesiredJob, type JobStatus, type JobStore } from '../core/jobs.js';
import { hookPayload } from '../core/hook-payload.js';
import type { MigrationExecutor, PhaseProgress } from '../core/database.js';

export type ProviderRegistry = Partial<Record<ProviderKind, MetricProvider<never>>>;

export interface JobRunnerDeps {
  store: JobStore;
  clock: Clock;
  providers: ProviderRegistry;
  /** A job of `rollout` changed phase: plan it again. */
  onChange: (rollout: string) => void;
  log?: (line: string) => void;
  /** How often gates are asked again (ms). */
  gateIntervalMs?: number;
  /** Runs database migration phases; without it a rollout with `spec.database` cannot release. */
  migrations?: MigrationExecutor;
}

interface Active {
  job: DesiredJob;
  status: JobStatus;
  abort: AbortController;
  measurements: Map<string, Measurement[]>;
}

/**
 * Runs the jobs planners ask for: analysis runs (one measuring loop per metric), hooks,
 * smoke tests and approvals. Every measurement and status change is persisted before it
 * is reported, so a restarted control plane resumes runs where they were.
 */
export class JobRunner {
  private readonly active = new Map<string, Active>();
  private readonly known = new Map<string, JobStatus>();
  private closed = false;

  constructor(private readonly deps: JobRunnerDeps) {
    for (const { job, status } of deps.store.listJobs()) {
      this.known.set(job.key, status);
      if (!isDone(status.phase)) this.launch(job, status);
    }
  }

  /** Status of every job of a rollout, by key. */
  statusFor(rollout: string): Map<string, JobStatus> {
    const out = new Map<string, JobStatus>();
    for (const [k, s] of this.known) if (s.rollout === rollout) out.set(k, s);
    return out;
  }

  /** Start what is newly asked for; stop running jobs of the rollout no longer asked for. */
  sync(rollout: string, desired: DesiredJob[]): void {
    if (this.closed) return;
    const keys = new Set(desired.map((d) => d.key));
    for (const d of desired) {
      if (this.known.has(d.key)) continue;
      const status: JobStatus = {
        key: d.key,
        rollout,
        title: d.title,
        kind: d.spec.kind,
        phase: 'Running',
        message: 'started',
        startedAt: this.deps.clock.now(),
      };
      this.known.set(d.key, status);
      this.deps.store.saveJob(d, status);
      this.launch(d, status);
    }
    for (const a of [...this.active.values()]) {
      if (a.status.rollout === rollout && !keys.has(a.job.key) && !a.job.detached) {
        // A migration phase cut short did not succeed: its record must not say it ran.
        const phase = a.job.spec.kind === 'migration' ? 'Error' : 'Successful';
        this.finish(a, { phase, message: `stopped: no longer needed (${a.status.message})` }, false);
      }
    }
  }

  /**
   * Stop the jobs of rollouts that no longer exist (except fire-and-forget ones), and
   * forget finished jobs of deleted rollouts and of revisions pruned from history (the
   * store deleted them too): otherwise they stay in memory for the process's life, and a
   * rollout re-created under the same name would find its new runs "already done".
   * `revisions`: each existing rollout's revision numbers.
   */
  forget(existing: Set<string>, revisions?: ReadonlyMap<string, ReadonlySet<number>>): void {
    for (const a of [...this.active.values()]) {
      if (!existing.has(a.status.rollout) && !a.job.detached) this.finish(a, { phase: 'Successful', message: 'stopped: rollout deleted' }, false);
    }
    for (const [key, status] of this.known) {
      if (this.active.has(key)) continue;
      const kept = revisions?.get(status.rollout);
      if (!existing.has(status.rollout) || (kept && !kept.has(revisionIn(key, status.rollout)))) this.known.delete(key);
    }
  }

  /** `sluice approve`: passes every approval gate of the rollout that is waiting. */
  approve(rollout: string, actor: string): number {
    let n = 0;
    for (const a of this.active.values()) {
      if (a.status.rollout === rollout && a.job.spec.kind === 'approval') {
        this.finish(a, { phase: 'Successful', message: `approved by ${actor}`, actor });
        n++;
      }
    }
    return n;
  }

  close(): void {
    this.closed = true;
    for (const a of this.active.values()) a.abort.abort();
    this.active.clear();
  }

  private launch(job: DesiredJob, status: JobStatus): void {
    const a: Active = { job, status, abort: new AbortController(), measurements: new Map() };
    this.active.set(job.key, a);
    const run = this.execute(a).catch((err: Error) => {
      if (!a.abort.signal.aborted) this.finish(a, { phase: 'Error', message: err.message });
    });
    void run;
  }

  private finish(a: Active, change: Partial<JobStatus>, notify = true): void {
    if (!this.active.has(a.job.key)) return;
    this.active.delete(a.job.key);
    a.abort.abort();
    this.update(a, { ...change, finishedAt: this.deps.clock.now() }, notify);
  }

  private update(a: Active, change: Partial<JobStatus>, notify: boolean): void {
    const before = a.status.phase;
    a.status = { ...a.status, ...change };
    this.known.set(a.job.key, a.status);
    this.deps.store.saveJob(a.job, a.status);
    if (notify && (before !== a.status.phase || isDone(a.status.phase))) this.deps.onChange(a.status.rollout);
  }

  private async execute(a: Active): Promise<void> {
    const { spec, context } = a.job;
    const signal = a.abort.signal;
    const payload = (kind: WebhookKind, metadata: Record<string, string> = {}) =>
      hookPayload(
        kind,
        { rollout: context.rollout, phase: 'Progressing', revision: context.canaryRevision, stableRevision: context.stableRevision, version: context.version },
        this.deps.clock.now(),
        { metadata },
      );
    switch (spec.kind) {
      case 'analysis':
        return this.runAnalysis(a);
      case 'watch':
        return this.runWatch(a, spec.watch);
      case 'approval':
        this.update(a, { message: `waiting for \`sluice approve ${context.rollout}\`` }, false);
        return;
      case 'webhook': {
        const hook = spec.hook;
        if (hook.kind.startsWith('confirm-')) {
          await pollGate(hook, payload(hook.kind, hook.metadata), {
            intervalMs: this.deps.gateIntervalMs ?? 2000,
            signal,
            onAttempt: (r, calls) => this.update(a, { message: `asked ${calls} time(s); last answer ${r.status ?? r.error}` }, false),
          });
          return this.finish(a, { phase: 'Successful', message: 'confirmed' });
        }
        const r = await callWebhook(hook, payload(hook.kind, hook.metadata), { signal });
        if (signal.aborted) return;
        return this.finish(
          a,
          r.ok
            ? { phase: 'Successful', message: `answered ${r.status}` }
            : { phase: 'Failed', message: `answered ${r.status ?? r.error}${r.body ? `: ${r.body}` : ''} after ${r.attempts} attempt(s)` },
        );
      }
      case 'exec': {
        const r = await runExecHook(spec.hook, payload(spec.hook.kind), { signal });
        if (signal.aborted) return;
        const tail = (r.stderrTail || r.stdoutTail).trim().split('\n').at(-1) ?? '';
        return this.finish(
          a,
          r.ok
            ? { phase: 'Successful', message: 'exited 0' }
            : { phase: 'Failed', message: r.error ?? `exited ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}${tail ? `: ${tail}` : ''}` },
        );
      }
      case 'migration':
        return this.runMigration(a);
      case 'smoke': {
        const r = await runSmokeTests(spec.smoke, spec.baseUrl, { signal });
        if (signal.aborted) return;
        const problems = r.checks.filter((c) => !c.ok).map((c) => c.problem);
        return this.finish(
          a,
          r.ok ? { phase: 'Successful', message: `${r.checks.length} check(s) passed` } : { phase: 'Failed', message: problems.join('; ') },
        );
      }
    }
  }

  /** A database phase: progress is saved at most once a second (a backfill reports every batch). */
  private async runMigration(a: Active): Promise<void> {
    if (a.job.spec.kind !== 'migration') return;
    const executor = this.deps.migrations;
    if (!executor) return this.finish(a, { phase: 'Error', message: 'this control plane runs no database migrations — start it with `sluice up`' });
    let savedAt = 0;
    const progress = (p: PhaseProgress) => {
      const now = this.deps.clock.now();
      if (now - savedAt < 1000 && !p.backfill?.every((b) => b.done)) {
        a.status = { ...a.status, message: p.message, migration: p };
        return;
      }
      savedAt = now;
      this.update(a, { message: p.message, migration: p }, true);
    };
    const r = await executor.run(a.job.spec.migration, { signal: a.abort.signal, progress });
    if (a.abort.signal.aborted) return;
    this.finish(a, { phase: r.ok ? 'Successful' : 'Failed', message: r.message });
  }

  private async runAnalysis(a: Active): Promise<void> {
    if (a.job.spec.kind !== 'analysis') return;
    const { analysis } = a.job.spec;
    for (const m of this.deps.store.listMeasurements(a.job.key)) {
      const list = a.measurements.get(m.metric) ?? [];
      list.push(m);
      a.measurements.set(m.metric, list);
    }
    this.recompute(a, analysis.metrics);
    await Promise.all(analysis.metrics.map((m) => this.measureLoop(a, m, analysis.metrics)));
  }

  private async measureLoop(a: Active, metric: MetricSpec, all: MetricSpec[]): Promise<void> {
    const signal = a.abort.signal;
    const { clock } = this.deps;
    const list = a.measurements.get(metric.name) ?? [];
    a.measurements.set(metric.name, list);
    const kind = Object.keys(metric.provider)[0] as ProviderKind;
    const config = (metric.provider as Record<string, unknown>)[kind];
    const provider = this.deps.providers[kind] as MetricProvider<unknown> | undefined;
    while (!signal.aborted && metricStatus(metric, list).phase === 'Running') {
      const last = list.at(-1);
      // The first measurement waits one interval too, so that a window has traffic in it.
      const due = (last ? last.startedAt : a.status.startedAt + metric.initialDelay * 1000) + metric.interval * 1000;
      await sleep(clock, due - clock.now(), signal);
      if (signal.aborted) return;
      const ctx: MeasurementContext = {
        rollout: a.job.context.rollout,
        canaryRevision: a.job.context.canaryRevision,
        stableRevision: a.job.context.stableRevision,
        args: a.job.spec.kind === 'analysis' ? a.job.spec.analysis.args : {},
        addresses: a.job.context.addresses,
        runStartedAt: a.status.startedAt,
        now: clock.now(),
      };
      const t0 = clock.now();
      let result;
      try {
        if (!provider) throw new Error(`no ${kind} provider is configured in this control plane`);
        result = await provider.measure(config, ctx, signal);
      } catch (err) {
        result = err instanceof Error ? err : new Error(String(err));
      }
      if (signal.aborted) return;
      // Too little data while the provider's window is still filling up is not yet a verdict.
      const windowSeconds = (config as { windowSeconds?: number }).windowSeconds;
      if (!(result instanceof Error) && result.details?.inconclusive && windowSeconds && t0 - a.status.startedAt < windowSeconds * 1000) {
        result = { ...result, details: { ...result.details, windowFilling: true } };
      }
      const m = judgeMeasurement(metric, result, t0, clock.now());
      list.push(m);
      this.deps.store.appendMeasurement(a.job.key, m);
      this.recompute(a, all);
    }
  }

  /** Post-deploy watch: builtin error rate and p95 of the new revision every interval. */
  private async runWatch(a: Active, w: PostDeployWatch): Promise<void> {
    const { clock } = this.deps;
    const signal = a.abort.signal;
    const provider = this.deps.providers.builtin as MetricProvider<BuiltinProviderConfig> | undefined;
    if (!provider) throw new Error('no builtin provider is configured in this control plane');
    const samples: WatchSample[] = [];
    const end = a.status.startedAt + w.duration * 1000;
    for (;;) {
      await sleep(clock, Math.min(end, (samples.at(-1)?.at ?? a.status.startedAt) + w.interval * 1000) - clock.now(), signal);
      if (signal.aborted) return;
      const ctx: MeasurementContext = {
        rollout: a.job.context.rollout,
        canaryRevision: a.job.context.canaryRevision,
        stableRevision: a.job.context.stableRevision,
        args: {},
        addresses: a.job.context.addresses,
        runStartedAt: a.status.startedAt,
        now: clock.now(),
      };
      const cfg = (metric: BuiltinProviderConfig['metric']): BuiltinProviderConfig => ({
        metric,
        revision: 'canary',
        windowSeconds: w.interval,
        minRequests: 0,
      });
      try {
        const [errors, p95] = await Promise.all([provider.measure(cfg('error-rate'), ctx, signal), provider.measure(cfg('latency-p95'), ctx, signal)]);
        samples.push({
          at: ctx.now,
          requests: Number(errors.details?.requests ?? 0),
          errorRate: typeof errors.value === 'number' ? errors.value : 0,
          p95: typeof p95.value === 'number' ? p95.value : null,
        });
      } catch (err) {
        if (signal.aborted) return;
        return this.finish(a, { phase: 'Error', message: `post-deploy watch could not measure: ${(err as Error).message}` });
      }
      const verdict = judgeWatch(w, samples, clock.now() >= end);
      if (verdict.phase !== 'Running') return this.finish(a, verdict);
      this.update(a, { message: verdict.message }, false);
    }
  }

  private recompute(a: Active, metrics: MetricSpec[]): void {
    const statuses = metrics.map((m) => metricStatus(m, a.measurements.get(m.name) ?? []));
    const { phase, message } = runPhase(statuses);
    if (isDone(phase)) this.finish(a, { phase, message, metrics: statuses });
    else this.update(a, { phase, message, metrics: statuses }, false);
  }
}

function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const t = clock.setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        t.cancel();
        resolve();
      },
      { once: true },
    );
  });
}

/** The revision a job key names (the store's own parser), or -1 for a key that names none. */
function revisionIn(key: string, rollout: string): number {
  try {
    return jobRevision(key, rollout);
  } catch {
    return -1;
  }
}

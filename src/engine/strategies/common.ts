import type { WeightedTarget } from '../../core/route-table.js';
import type { Phase, RolloutEventDraft, RolloutStatus } from '../../core/rollout.js';
import type { FlagAction, Plan, PlanInput, PlannedRoutes, RevisionObservation } from './planner.js';
import type { AnalysisRef } from '../../core/analysis.js';
import type { ExecHookSpec, WebhookKind, WebhookSpec } from '../../core/hooks.js';
import { isGateKind } from '../../core/hooks.js';
import type { DesiredJob, JobContext, JobSpec, JobStatus } from '../../core/jobs.js';
import type { MatchRule } from '../../core/route-table.js';
import { resolveAnalysis } from '../../analysis/resolve.js';
import { resetReleaseOf } from '../release-reset.js';
import { contractWhenDue, databaseBeforeRelease, databaseReady } from './database.js';

const NONE: RevisionObservation = { revision: 0, total: 0, ready: 0, available: 0, terminating: 0 };

/** All traffic to one revision. */
export function only(revision: number): WeightedTarget[] {
  return [{ revision, weight: 100 }];
}

/** Two-way split; `weight` (0..100) goes to `to`. */
export function split(from: number, to: number, weight: number): WeightedTarget[] {
  if (weight <= 0 || from === to) return only(from);
  if (weight >= 100) return only(to);
  return [
    { revision: from, weight: 100 - weight },
    { revision: to, weight },
  ];
}

/**
 * Weights proportional to ready instances (what a Kubernetes Service does across pods of
 * two ReplicaSets), rounded by largest remainder so they sum to exactly 100.
 */
export function byReadyInstances(observations: RevisionObservation[], fallback: number): WeightedTarget[] {
  const ready = observations.filter((o) => o.ready > 0);
  const total = ready.reduce((n, o) => n + o.ready, 0);
  if (total === 0) return only(fallback);
  const raw = ready.map((o) => ({ revision: o.revision, exact: (o.ready * 100) / total }));
  const out = raw.map((r) => ({ revision: r.revision, weight: Math.floor(r.exact) }));
  let left = 100 - out.reduce((n, o) => n + o.weight, 0);
  const order = raw.map((r, i) => ({ i, frac: r.exact - Math.floor(r.exact) })).sort((a, b) => b.frac - a.frac);
  for (const { i } of order) {
    if (left-- <= 0) break;
    out[i].weight += 1;
  }
  return out.filter((o) => o.weight > 0).sort((a, b) => a.revision - b.revision);
}

/**
 * Mutable working state of one planning pass: a copy of the status, the events it
 * explains itself with, the desired scale. Planners build a Plan through it.
 */
export class PlanContext {
  readonly status: RolloutStatus;
  readonly events: RolloutEventDraft[] = [];
  readonly scale = new Map<number, number>();
  readonly jobs: DesiredJob[] = [];
  readonly flagActions: FlagAction[] = [];
  routes: PlannedRoutes = { main: [] };
  wakeAt?: number;

  constructor(readonly input: PlanInput) {
    this.status = structuredClone(input.status);
    this.status.pauses = this.status.pauses ?? [];
  }

  get spec() {
    return this.input.spec;
  }
  get now() {
    return this.input.now;
  }
  get replicas() {
    return this.input.spec.replicas;
  }

  observed(revision: number | null | undefined): RevisionObservation {
    if (revision === null || revision === undefined) return NONE;
    return this.input.observed.get(revision) ?? { ...NONE, revision };
  }

  /** Observations of every revision other than the ones named. */
  others(...except: (number | null | undefined)[]): RevisionObservation[] {
    return [...this.input.observed.values()].filter((o) => !except.includes(o.revision) && o.total > 0);
  }

  event(type: 'Normal' | 'Warning', reason: string, message: string, revision?: number): void {
    this.events.push({ type, reason, message, ...(revision === undefined ? {} : { revision }) });
  }

  /** Sets the phase; an event is recorded only when phase or reason changes. */
  phase(phase: Phase, reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void {
    const s = this.status;
    if (s.phase !== phase || s.reason !== reason) this.event(type, reason, message, s.currentRevision);
    s.phase = phase;
    s.reason = reason;
    s.message = message;
  }

  wake(at: number | undefined): void {
    if (at === undefined) return;
    this.wakeAt = this.wakeAt === undefined ? at : Math.min(this.wakeAt, at);
  }

  isPaused(): boolean {
    return this.status.pauses.length > 0;
  }

  pausedBy(reason: 'CanaryPauseStep' | 'BlueGreenPause' | 'Manual') {
    return this.status.pauses.find((p) => p.reason === reason);
  }

  addPause(reason: 'CanaryPauseStep' | 'BlueGreenPause', durationSeconds?: number): void {
    if (this.pausedBy(reason)) return;
    const until = durationSeconds === undefined ? undefined : this.now + durationSeconds * 1000;
    this.status.pauses.push({ reason, startedAt: this.now, ...(until === undefined ? {} : { until }) });
  }

  clearPause(reason: 'CanaryPauseStep' | 'BlueGreenPause'): void {
    this.status.pauses = this.status.pauses.filter((p) => p.reason !== reason);
  }

  jobContext(): JobContext {
    const spec = this.spec;
    const st = spec.strategy;
    return {
      rollout: spec.name,
      canaryRevision: this.status.currentRevision,
      stableRevision: this.status.stableRevision,
      version: this.input.version,
      addresses: {
        main: spec.traffic.listen,
        ...(st.type === 'canary' && st.canaryListen ? { canary: st.canaryListen } : {}),
        ...(st.type === 'blueGreen' && st.previewListen ? { preview: st.previewListen } : {}),
      },
    };
  }

  /** Ask for a job (by where it belongs in this release attempt) and read its status. */
  job(where: string, title: string, spec: JobSpec, detached = false): JobStatus | undefined {
    const key = this.jobKey(where);
    if (!this.jobs.some((j) => j.key === key)) this.jobs.push({ key, title, spec, context: this.jobContext(), ...(detached ? { detached } : {}) });
    if (this.status.waived?.includes(key)) {
      return { key, rollout: this.spec.name, title, kind: spec.kind, phase: 'Successful', message: 'waived by a user', startedAt: this.now };
    }
    return this.input.jobs.get(key);
  }

  /** A job's status, without asking for it (it stops unless asked for elsewhere in the pass). */
  jobStatus(where: string): JobStatus | undefined {
    return this.input.jobs.get(this.jobKey(where));
  }

  private jobKey(where: string): string {
    return `${this.spec.name}/r${this.status.currentRevision}/a${this.status.attempt ?? 0}/${where}`;
  }

  /** An analysis run for `ref`; a reference that cannot be resolved is an Error at once. */
  analysis(where: string, title: string, ref: AnalysisRef): { job: JobStatus | undefined; onFailure: 'abort' | 'pause' } {
    const resolved = resolveAnalysis(ref, this.input.templates, {
      rollout: this.spec.name,
      canaryRevision: String(this.status.currentRevision),
      stableRevision: String(this.status.stableRevision ?? ''),
    });
    if ('error' in resolved) {
      const job: JobStatus = { key: where, rollout: this.spec.name, title, kind: 'analysis', phase: 'Error', message: resolved.error, startedAt: this.now };
      return { job, onFailure: 'abort' };
    }
    return { job: this.job(where, title, { kind: 'analysis', analysis: resolved }), onFailure: resolved.onFailure };
  }

  /**
   * What a job's result means for the release: 'pass' to go on, 'wait' while it runs,
   * 'stopped' when it aborted the release or paused it for a human (Inconclusive, or a
   * failure with onFailure: pause). `sluice promote` waives a pausing job.
   */
  outcome(job: JobStatus | undefined, title: string, onFailure: 'abort' | 'pause' = 'abort'): 'pass' | 'wait' | 'stopped' {
    const s = this.status;
    if (!job || job.phase === 'Running' || job.phase === 'Pending') {
      this.phase('Progressing', 'Checking', `${title}: ${job?.message || 'starting'}`);
      return 'wait';
    }
    if (job.phase === 'Successful') return 'pass';
    if (s.pauses.some((p) => p.job === job.key)) return 'stopped';
    const why = `${title} ${job.phase === 'Error' ? 'could not measure' : job.phase === 'Failed' ? 'failed' : 'was inconclusive'}: ${job.message}`;
    if (job.phase === 'Inconclusive' || (job.phase === 'Failed' && onFailure === 'pause')) {
      const reason = job.phase === 'Inconclusive' ? 'Inconclusive' : 'AnalysisFailed';
      s.pauses.push({ reason, job: job.key, startedAt: this.now });
      this.phase(
        'Paused',
        job.phase === 'Inconclusive' ? 'AnalysisInconclusive' : 'AnalysisFailed',
        `${why} — \`sluice promote ${this.spec.name}\` continues, \`sluice abort ${this.spec.name}\` rolls back`,
        'Warning',
      );
      return 'stopped';
    }
    abort(this, job.phase === 'Error' ? 'AnalysisError' : 'AnalysisFailed', why);
    return 'stopped';
  }

  hooksOf(kind: WebhookKind): ({ kind: 'webhook'; hook: WebhookSpec } | { kind: 'exec'; hook: ExecHookSpec })[] {
    return [
      ...this.spec.hooks.webhooks.filter((h) => h.kind === kind).map((hook) => ({ kind: 'webhook' as const, hook })),
      ...this.spec.hooks.exec.filter((h) => h.kind === kind).map((hook) => ({ kind: 'exec' as const, hook })),
    ];
  }

  /** Runs every hook of a kind (at `where`); gates wait for 2xx, other hooks must succeed. */
  hooks(kind: WebhookKind, where: string): 'pass' | 'wait' | 'stopped' {
    for (const spec of this.hooksOf(kind)) {
      const title = `${kind} hook "${spec.hook.name}"`;
      const job = this.job(`${where}/hook.${spec.hook.name}`, title, spec);
      if (isGateKind(kind) && job?.phase !== 'Successful') {
        this.phase('Paused', 'WaitingForConfirmation', `${title} has not confirmed yet (${job?.message || 'asking'})`);
        return 'wait';
      }
      const r = this.outcome(job, title);
      if (r !== 'pass') return r;
    }
    return 'pass';
  }

  /** Fire-and-forget hooks (post-rollout, rollback): started now, never waited on. */
  notifyHooks(kind: WebhookKind): void {
    for (const spec of this.hooksOf(kind)) this.job(`${kind}/hook.${spec.hook.name}`, `${kind} hook "${spec.hook.name}"`, spec, true);
  }

  /** Smoke tests aimed at `target`, run against its listener; 'pass' when there are none. */
  smokeTests(target: 'preview' | 'canary', where: string): 'pass' | 'wait' | 'stopped' {
    const address = this.jobContext().addresses[target];
    for (const smoke of this.spec.smokeTests.filter((t) => t.target === target)) {
      if (!address) continue;
      const title = `smoke test "${smoke.name}"`;
      const r = this.outcome(this.job(`${where}/smoke.${smoke.name}`, title, { kind: 'smoke', smoke, baseUrl: `http://${address}` }), title);
      if (r !== 'pass') return r;
    }
    return 'pass';
  }

  /**
   * Rolling and recreate: once the new revision has taken over, watch it before it
   * becomes stable. 'pass' with no watch configured.
   */
  postDeploy(): 'pass' | 'wait' | 'stopped' {
    const st = this.spec.strategy;
    const watch = st.type === 'rolling' || st.type === 'recreate' ? st.postDeploy : undefined;
    if (!watch) return 'pass';
    const job = this.job('post-deploy', 'post-deploy watch', { kind: 'watch', watch });
    const r = this.outcome(job, 'post-deploy watch');
    if (r === 'wait')
      this.phase(
        'Progressing',
        'PostDeployWatch',
        `revision ${this.status.currentRevision} took over; ${job?.message ?? 'watching'} for up to ${watch.duration}s`,
      );
    return r;
  }

  /** The release reached its goal: the current revision becomes stable. */
  complete(message: string): void {
    this.notifyHooks('post-rollout');
    const s = this.status;
    resetReleaseOf(s, 'complete', this.now);
    this.event('Normal', 'RolloutCompleted', message, s.currentRevision);
  }

  /** A route target's revision: canary = the revision being released, stable, or an A/B variant. */
  target(name: string): number {
    const s = this.status;
    const st = this.spec.strategy;
    if (st.type === 'abTest') {
      if (name === st.variants[0]!.name) return s.stableRevision as number;
      if (name === st.variants[1]!.name) return s.currentRevision;
      const extra = s.variantRevisions?.[name];
      if (extra !== undefined) return extra;
    }
    return name === 'stable' ? (s.stableRevision as number) : s.currentRevision;
  }

  finish(): Plan {
    this.status.weights = this.routes.main;
    const s = this.status;
    if (this.spec.traffic.routes.length > 0 && s.stableRevision !== null && s.currentRevision !== s.stableRevision && !s.aborted) {
      // The spec's routes apply while a release is in progress, ahead of any canary header routes.
      const rules: MatchRule[] = this.spec.traffic.routes.map(({ name, match, to }) => {
        const { source, ...rest } = match;
        const where =
          typeof to === 'string'
            ? { revision: this.target(to) }
            : {
                split: Object.entries(to)
                  .filter(([, w]) => w > 0)
                  .map(([t, weight]) => ({ revision: this.target(t), weight })),
              };
        return { name, ...rest, ...(source ? { sourceCidr: source.includes('/') ? source : `${source}/32` } : {}), ...where };
      });
      this.routes = { ...this.routes, rules: [...rules, ...(this.routes.rules ?? [])] };
    }
    return {
      status: this.status,
      scale: this.scale,
      routes: this.routes,
      events: this.events,
      jobs: this.jobs,
      wakeAt: this.wakeAt,
      ...(this.flagActions.length > 0 ? { flagActions: this.flagActions } : {}),
    };
  }
}

/**
 * The end of a canary, shadow or A/B release: `confirm-promotion` gates (holding `routes`
 * and at least `gateScale` instances of `revision` meanwhile), then `revision` at full
 * scale, then all traffic to it; every other revision is scaled down.
 */
export function promoteTo(ctx: PlanContext, revision: number, routes: PlannedRoutes, gateScale: number, completed: string): void {
  const o = ctx.observed(revision);
  if (ctx.hooks('confirm-promotion', 'promotion') !== 'pass') {
    ctx.scale.set(revision, Math.max(gateScale, o.total));
    ctx.routes = routes;
    return;
  }
  ctx.scale.set(revision, ctx.replicas);
  if (o.available >= ctx.replicas) {
    for (const r of [...ctx.scale.keys()]) if (r !== revision) ctx.scale.delete(r);
    ctx.routes = { main: only(revision), preview: only(revision), canary: [] };
    ctx.status.currentRevision = revision;
    ctx.complete(completed);
    ctx.phase('Healthy', 'Available', `revision ${revision} serves all traffic`);
    return;
  }
  ctx.routes = routes;
  ctx.phase(
    'Progressing',
    'Promoting',
    `scaling revision ${revision} to ${ctx.replicas} before it takes all traffic (${o.available}/${ctx.replicas} available)`,
  );
}

/** Strategy-specific part of a release in progress (current differs from stable, not aborted). */
export type ReleaseStep = (ctx: PlanContext) => void;

/**
 * The frame every strategy shares: first deploy, steady state, abort, manual pause and the
 * progress deadline. `release` plans only a release in progress.
 */
export function planRelease(input: PlanInput, release: ReleaseStep): Plan {
  const ctx = new PlanContext(input);
  const s = ctx.status;
  const current = s.currentRevision;

  if (s.stableRevision === null) {
    firstDeploy(ctx);
  } else if (current === s.stableRevision) {
    steady(ctx);
  } else if (s.aborted) {
    aborted(ctx);
  } else {
    const ready = preflight(ctx);
    if (ready === 'pass') release(ctx);
    else if (!s.aborted) hold(ctx);
    if (s.currentRevision !== s.stableRevision && !s.aborted) checkDeadline(ctx);
    if (s.aborted) {
      ctx.scale.clear();
      aborted(ctx);
    }
  }
  if (ctx.pausedBy('Manual') && s.phase !== 'Degraded' && s.phase !== 'Healthy') {
    ctx.phase('Paused', 'Manual', 'paused by a user; `sluice resume` continues');
  }
  return ctx.finish();
}

/** Before a release moves anything: confirm-rollout gates, then pre-rollout hooks. */
function preflight(ctx: PlanContext): 'pass' | 'wait' | 'stopped' {
  const gate = ctx.hooks('confirm-rollout', 'start');
  const hooks = gate === 'pass' ? ctx.hooks('pre-rollout', 'start') : gate;
  return hooks === 'pass' ? databaseBeforeRelease(ctx) : hooks;
}

/** Nothing moves: stable keeps its scale and all traffic. */
function hold(ctx: PlanContext): void {
  const stable = ctx.status.stableRevision as number;
  ctx.scale.set(stable, ctx.replicas);
  ctx.routes = sameEverywhere(stable);
  // A new revision applied while a rolling release had shrunk stable: the earlier revision's
  // ready instances keep serving until stable is back (the database phases may take a while).
  keepServingUntilStableIsBack(ctx);
}

function firstDeploy(ctx: PlanContext): void {
  const s = ctx.status;
  // The schema comes first: no instance starts before expand and backfill are done (and
  // none after they failed: the first deploy waits for a retry or a new revision).
  if (!databaseReady(ctx)) {
    ctx.routes = sameEverywhere(s.currentRevision);
    if (!s.aborted && databaseBeforeRelease(ctx) === 'wait') checkDeadline(ctx);
    return;
  }
  const o = ctx.observed(s.currentRevision);
  ctx.scale.set(s.currentRevision, ctx.replicas);
  ctx.routes = sameEverywhere(s.currentRevision);
  if (o.available >= ctx.replicas) {
    ctx.complete(`revision ${s.currentRevision} is available (${o.available}/${ctx.replicas})`);
    ctx.phase('Healthy', 'Available', `revision ${s.currentRevision} serves all traffic`);
    return;
  }
  // With nothing older to go back to, a failed first deploy keeps trying but says it failed.
  if (s.aborted) return;
  ctx.phase('Progressing', 'FirstDeploy', `starting revision ${s.currentRevision}: ${o.available}/${ctx.replicas} available`);
  checkDeadline(ctx);
}

/** No release in progress: run the stable revision, drain leftovers of older ones. */
export function steady(ctx: PlanContext): void {
  const s = ctx.status;
  const stable = s.stableRevision as number;
  ctx.scale.set(stable, ctx.replicas);
  if (s.scaleDownRevision != null && s.scaleDownAt !== undefined && s.scaleDownRevision !== stable) {
    if (ctx.now < s.scaleDownAt) {
      ctx.scale.set(s.scaleDownRevision, ctx.replicas);
      ctx.wake(s.scaleDownAt);
    } else {
      ctx.event('Normal', 'ScaledDown', `revision ${s.scaleDownRevision} scaled down after the scale-down delay`, s.scaleDownRevision);
      s.scaleDownRevision = null;
      s.scaleDownAt = undefined;
    }
  }
  resetReleaseOf(s, 'rest', ctx.now);
  ctx.routes = sameEverywhere(stable);
  keepServingUntilStableIsBack(ctx);
  contractWhenDue(ctx);
  const o = ctx.observed(stable);
  if (o.available >= ctx.replicas) ctx.phase('Healthy', 'Available', `revision ${stable} serves all traffic`);
  else ctx.phase('Progressing', 'ScalingUp', `revision ${stable}: ${o.available}/${ctx.replicas} available`);
}

/**
 * Going back to stable after a strategy shrank it (rolling): the ready instances of other
 * revisions keep serving beside it until stable is back at full strength, so an abort or
 * a return to stable never empties the pool. Their not-ready instances go at once.
 */
function keepServingUntilStableIsBack(ctx: PlanContext): void {
  const stable = ctx.status.stableRevision as number;
  const so = ctx.observed(stable);
  if (so.available >= ctx.replicas) return;
  const serving = ctx.others(stable).filter((o) => o.ready > 0 && !ctx.scale.has(o.revision));
  if (serving.length === 0) return;
  for (const o of serving) ctx.scale.set(o.revision, o.ready);
  ctx.routes = { main: byReadyInstances([so, ...serving], stable), preview: only(stable), canary: [] };
}

/** After an abort: stable gets all traffic and its full scale; the new revision goes away. */
function aborted(ctx: PlanContext): void {
  const s = ctx.status;
  const stable = s.stableRevision as number;
  ctx.scale.set(stable, ctx.replicas);
  ctx.routes = sameEverywhere(stable);
  keepServingUntilStableIsBack(ctx);
  // Every pass: an abort by a user or by an older sluice may have left some of the attempt behind.
  resetReleaseOf(s, 'abort', ctx.now);
  // Asked for on every pass of an aborted release, whoever aborted it: the job key (revision
  // and attempt) makes it run once per attempt, and a restarted control plane knows it ran.
  ctx.notifyHooks('rollback');
  killFlagsOnAbort(ctx, s.reason && s.message ? `${s.reason}: ${s.message}` : `revision ${s.currentRevision} aborted`);
  if (s.phase !== 'Degraded') {
    ctx.phase('Degraded', 'RolloutAborted', s.message || `revision ${s.currentRevision} aborted`, 'Warning');
  }
}

/** Main and preview listeners to one revision; the canary listener serves nothing. */
export function sameEverywhere(revision: number): PlannedRoutes {
  return { main: only(revision), preview: only(revision), canary: [] };
}

/** Abort the release in progress with a reason that names what went wrong and what to do. */
export function abort(ctx: PlanContext, reason: string, message: string): void {
  const s = ctx.status;
  resetReleaseOf(s, 'abort', ctx.now);
  s.message = message;
  s.reason = reason;
  s.phase = 'Degraded';
  // One event kind for every abort, so notifications can subscribe to it; the cause leads the message.
  ctx.event('Warning', 'RolloutAborted', `${reason}: ${message}`, s.currentRevision);
  ctx.notifyHooks('rollback');
  killFlagsOnAbort(ctx, `${reason}: ${message}`);
}

/**
 * `spec.flags.killOnAbort`: the aborted attempt asks for every named flag to be switched
 * off, once — `flagsKilledAttempt` records the attempt in the status saved with the plan
 * (whoever aborted: a check, the deadline, a user), so later passes and a restarted control
 * plane do not ask again.
 */
function killFlagsOnAbort(ctx: PlanContext, why: string): void {
  const s = ctx.status;
  const names = ctx.spec.flags?.killOnAbort ?? [];
  const attempt = s.attempt ?? 0;
  if (names.length === 0 || s.flagsKilledAttempt === attempt) return;
  s.flagsKilledAttempt = attempt;
  const text = `rollout ${ctx.spec.name} revision ${s.currentRevision} aborted (${why})`;
  for (const flag of names) ctx.flagActions.push({ flag, kill: true, why: text });
}

/**
 * Aborts a release that made no progress (no change in step or in any revision's instance
 * counts) for progressDeadlineSeconds. Paused time does not count.
 */
function checkDeadline(ctx: PlanContext): void {
  const s = ctx.status;
  const key = JSON.stringify([
    s.stepIndex,
    s.activeRevision,
    [...ctx.input.observed.values()].map((o) => [o.revision, o.total, o.ready, o.available, o.terminating ?? 0]),
  ]);
  // Waiting on a person (paused, approval, gate) or on a job that is measuring is not a stall.
  const waiting = ctx.isPaused() || s.phase === 'Paused' || ctx.jobs.some((j) => !j.detached && ctx.input.jobs.get(j.key)?.phase === 'Running');
  if (waiting || s.progressKey !== key || !s.progressAt) {
    s.progressAt = ctx.now;
    s.progressKey = key;
  }
  const deadline = s.progressAt + ctx.spec.progressDeadlineSeconds * 1000;
  if (waiting) return;
  if (ctx.now >= deadline) {
    const o = ctx.observed(s.currentRevision);
    abort(
      ctx,
      'ProgressDeadlineExceeded',
      `revision ${s.currentRevision} made no progress for ${ctx.spec.progressDeadlineSeconds}s (${o.ready}/${o.total} instances ready) — ` +
        `check \`sluice logs ${ctx.spec.name} --revision ${s.currentRevision}\`, then \`sluice retry ${ctx.spec.name}\` or \`sluice undo ${ctx.spec.name}\``,
    );
  } else {
    ctx.wake(deadline);
  }
}

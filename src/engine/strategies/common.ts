import type { WeightedTarget } from '../../router/route-table.js';
import type { Phase, RolloutEventDraft, RolloutStatus } from '../types.js';
import type { Plan, PlanInput, PlannedRoutes, RevisionObservation } from './planner.js';

const NONE: RevisionObservation = { revision: 0, total: 0, ready: 0, available: 0 };

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

  /** The release reached its goal: the current revision becomes stable. */
  complete(message: string): void {
    const s = this.status;
    s.stableRevision = s.currentRevision;
    s.activeRevision = s.currentRevision;
    s.promoteFull = false;
    s.pauses = s.pauses.filter((p) => p.reason === 'Manual');
    s.batchPauseUntil = undefined;
    s.batchAvailable = undefined;
    this.event('Normal', 'RolloutCompleted', message, s.currentRevision);
  }

  finish(): Plan {
    this.status.weights = this.routes.main;
    return { status: this.status, scale: this.scale, routes: this.routes, events: this.events, wakeAt: this.wakeAt };
  }
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
    release(ctx);
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

function firstDeploy(ctx: PlanContext): void {
  const s = ctx.status;
  const o = ctx.observed(s.currentRevision);
  ctx.scale.set(s.currentRevision, ctx.replicas);
  ctx.routes = sameEverywhere(ctx, s.currentRevision);
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
  s.aborted = false;
  s.stepIndex = 0;
  ctx.routes = sameEverywhere(ctx, stable);
  const o = ctx.observed(stable);
  if (o.available >= ctx.replicas) ctx.phase('Healthy', 'Available', `revision ${stable} serves all traffic`);
  else ctx.phase('Progressing', 'ScalingUp', `revision ${stable}: ${o.available}/${ctx.replicas} available`);
}

/** After an abort: stable gets all traffic and its full scale; the new revision goes away. */
function aborted(ctx: PlanContext): void {
  const s = ctx.status;
  const stable = s.stableRevision as number;
  ctx.scale.set(stable, ctx.replicas);
  ctx.routes = sameEverywhere(ctx, stable);
  s.activeRevision = stable;
  s.pauses = s.pauses.filter((p) => p.reason === 'Manual');
  if (s.phase !== 'Degraded') {
    ctx.phase('Degraded', 'RolloutAborted', s.message || `revision ${s.currentRevision} aborted`, 'Warning');
  }
}

/** Main and preview listeners to one revision; the canary listener serves nothing. */
export function sameEverywhere(ctx: PlanContext, revision: number): PlannedRoutes {
  return { main: only(revision), preview: only(revision), canary: [] };
}

/** Abort the release in progress with a reason that names what went wrong and what to do. */
export function abort(ctx: PlanContext, reason: string, message: string): void {
  const s = ctx.status;
  s.aborted = true;
  s.promoteFull = false;
  s.message = message;
  s.reason = reason;
  s.phase = 'Degraded';
  ctx.event('Warning', reason, message, s.currentRevision);
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
    [...ctx.input.observed.values()].map((o) => [o.revision, o.total, o.ready, o.available]),
  ]);
  if (ctx.isPaused() || s.progressKey !== key || !s.progressAt) {
    s.progressAt = ctx.now;
    s.progressKey = key;
  }
  const deadline = s.progressAt + ctx.spec.progressDeadlineSeconds * 1000;
  if (ctx.isPaused()) return;
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

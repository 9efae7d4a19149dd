import type { RollingStrategy } from '../../core/spec.js';
import { resolveIntOrPercent } from '../../spec/resolve.js';
import { byReadyInstances, only, planRelease, type PlanContext } from './common.js';
import type { Planner, RevisionObservation } from './planner.js';

/**
 * Kubernetes Deployment semantics: the new revision grows while the total stays within
 * replicas + maxSurge, old revisions shrink while at least replicas − maxUnavailable
 * instances stay available. Traffic follows ready instances, so every ready instance gets
 * an equal share whichever revision it runs.
 */
function rollingRelease(ctx: PlanContext): void {
  const r = ctx.spec.strategy as RollingStrategy;
  const s = ctx.status;
  const cur = s.currentRevision;
  const R = ctx.replicas;
  let surge = resolveIntOrPercent(r.maxSurge, R, true);
  const unavailable = resolveIntOrPercent(r.maxUnavailable, R, false);
  if (surge === 0 && unavailable === 0) surge = 1;

  const n = ctx.observed(cur);
  const olds = ctx.others(cur).sort((a, b) => a.revision - b.revision);
  const oldTotal = olds.reduce((t, o) => t + o.total, 0);
  const oldAvailable = olds.reduce((t, o) => t + o.available, 0);

  if (n.available >= R && oldTotal === 0) {
    ctx.scale.set(cur, R);
    ctx.routes = { main: only(cur), preview: only(cur), canary: [] };
    if (ctx.postDeploy() !== 'pass') return;
    ctx.complete(`revision ${cur} rolled out: ${R}/${R} available`);
    ctx.phase('Healthy', 'Available', `revision ${cur} serves all traffic`);
    return;
  }

  if (r.pauseSeconds > 0 && !s.promoteFull && n.available > (s.batchAvailable ?? 0) && n.available < R) {
    s.batchAvailable = n.available;
    s.batchPauseUntil = ctx.now + r.pauseSeconds * 1000;
    ctx.event('Normal', 'BatchPause', `${n.available}/${R} of revision ${cur} available; next batch in ${r.pauseSeconds}s`, cur);
  }
  const batchPaused = !s.promoteFull && (s.batchPauseUntil ?? 0) > ctx.now;
  const held = batchPaused || Boolean(ctx.pausedBy('Manual'));
  if (batchPaused) ctx.wake(s.batchPauseUntil);

  const wantNew = held ? n.total : Math.min(R, Math.max(n.total, R + surge - oldTotal));
  ctx.scale.set(cur, wantNew);

  // Each old revision's unavailable instances can go at once (they serve nothing); available
  // ones only while the total available stays at or above the floor, oldest revision first.
  // Counted per revision: a crash-looping revision's instances must not be taken out of a
  // healthy revision's budget (the reconciler stops not-ready instances of a revision first).
  const floor = R - unavailable;
  let spare = Math.max(0, n.available + oldAvailable - floor);
  const after: RevisionObservation[] = [];
  for (const o of olds) {
    const take = Math.min(o.available, spare);
    spare -= take;
    const keep = o.available - take;
    ctx.scale.set(o.revision, keep);
    after.push({ ...o, ready: Math.min(o.ready, keep) });
  }
  ctx.routes = { main: byReadyInstances([...after, n], s.stableRevision as number), canary: [] };

  const progress = `${n.available}/${R} of revision ${cur} available, ${oldTotal} old instance(s) left`;
  if (batchPaused) ctx.phase('Paused', 'BatchPause', `${progress}; next batch in ${Math.ceil(((s.batchPauseUntil as number) - ctx.now) / 1000)}s`);
  else ctx.phase('Progressing', 'RollingUpdate', progress);
}

export const planRolling: Planner = (input) => planRelease(input, rollingRelease);

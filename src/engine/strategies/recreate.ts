import { only, planRelease, type PlanContext } from './common.js';
import type { Plan, Planner, PlanInput } from './planner.js';

/**
 * Recreate: every old instance is drained and stopped — its process exited, or was killed
 * after its grace period — before the new revision starts. In between the router answers
 * with the rollout's maintenance page (503 + Retry-After).
 */
function recreateRelease(ctx: PlanContext): void {
  const s = ctx.status;
  const cur = s.currentRevision;
  // Old instances still exiting count: the new revision starts only once every old process is gone.
  const old = [...ctx.input.observed.values()].filter((o) => o.revision !== cur);
  const oldAlive = old.reduce((t, o) => t + o.total + (o.terminating ?? 0), 0);
  ctx.routes = { main: only(cur), preview: only(cur), canary: [] };
  if (oldAlive > 0) {
    ctx.scale.set(cur, 0);
    ctx.phase('Progressing', 'StoppingOld', `stopping ${oldAlive} old instance(s); the maintenance page answers meanwhile`);
    return;
  }
  ctx.scale.set(cur, ctx.replicas);
  const n = ctx.observed(cur);
  if (n.available >= ctx.replicas) {
    if (ctx.postDeploy() !== 'pass') return;
    ctx.complete(`revision ${cur} is available (${n.available}/${ctx.replicas})`);
    ctx.phase('Healthy', 'Available', `revision ${cur} serves all traffic`);
    return;
  }
  ctx.phase('Progressing', 'StartingNew', `revision ${cur}: ${n.available}/${ctx.replicas} available`);
}

/**
 * Recreate's promise holds in every state — a release, an abort, a return to stable, an
 * undo: one revision runs at a time. The plan keeps only the revision it settles on, and
 * that one gets no new instance while any other revision's process is alive; meanwhile
 * the maintenance page answers.
 */
function oneRevisionAtATime(input: PlanInput, plan: Plan): Plan {
  const s = plan.status;
  const releasing = s.stableRevision === null || (s.currentRevision !== s.stableRevision && !s.aborted);
  const keep = releasing ? s.currentRevision : (s.stableRevision as number);
  for (const r of [...plan.scale.keys()]) if (r !== keep) plan.scale.delete(r);
  const othersAlive = [...input.observed.values()].some((o) => o.revision !== keep && o.total + (o.terminating ?? 0) > 0);
  if (othersAlive) plan.scale.set(keep, Math.min(plan.scale.get(keep) ?? 0, input.observed.get(keep)?.total ?? 0));
  plan.routes = { ...plan.routes, main: only(keep), preview: only(keep), canary: [] };
  s.weights = plan.routes.main;
  return plan;
}

export const planRecreate: Planner = (input) => oneRevisionAtATime(input, planRelease(input, recreateRelease));

import { only, planRelease, type PlanContext } from './common.js';
import type { Planner } from './planner.js';

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

export const planRecreate: Planner = (input) => planRelease(input, recreateRelease);

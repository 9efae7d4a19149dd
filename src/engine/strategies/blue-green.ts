import type { BlueGreenStrategy } from '../../spec/types.js';
import { only, planRelease, sameEverywhere, type PlanContext } from './common.js';
import type { Planner } from './planner.js';

/**
 * Blue-green: the new revision runs beside the active one and is reachable only on the
 * preview listener. Promotion (automatic, after a delay, or by `sluice promote`) scales it
 * to full size and then switches the main listener in one route-table swap. The old
 * revision stays up for scaleDownDelaySeconds so an undo is instant.
 */
function blueGreenRelease(ctx: PlanContext): void {
  const bg = ctx.spec.strategy as BlueGreenStrategy;
  const s = ctx.status;
  const stable = s.stableRevision as number;
  const next = s.currentRevision;
  const previewCount = Math.min(bg.previewReplicaCount ?? ctx.replicas, ctx.replicas);
  const o = ctx.observed(next);

  ctx.scale.set(stable, ctx.replicas);
  ctx.routes = { main: only(stable), preview: only(next), canary: [] };
  s.activeRevision = stable;

  if (!s.promoteFull) {
    ctx.scale.set(next, previewCount);
    if (o.available < previewCount) {
      ctx.phase('Progressing', 'PreviewStarting', `preview revision ${next}: ${o.available}/${previewCount} available`);
      return;
    }
    if (ctx.pausedBy('Manual')) return;
    if (!bg.autoPromotionEnabled) {
      ctx.addPause('BlueGreenPause');
      ctx.phase('Paused', 'BlueGreenPause', `preview revision ${next} is ready; \`sluice promote ${ctx.spec.name}\` switches traffic to it`);
      return;
    }
    if (bg.autoPromotionSeconds > 0) {
      ctx.addPause('BlueGreenPause', bg.autoPromotionSeconds);
      const until = ctx.pausedBy('BlueGreenPause')?.until as number;
      if (ctx.now < until) {
        ctx.wake(until);
        ctx.phase('Paused', 'BlueGreenPause', `preview revision ${next} is ready; switching in ${Math.ceil((until - ctx.now) / 1000)}s`);
        return;
      }
      ctx.clearPause('BlueGreenPause');
    }
    s.promoteFull = true;
    ctx.event('Normal', 'Promoting', `promoting revision ${next}: scaling it to ${ctx.replicas} before the switch`, next);
  }

  ctx.scale.set(next, ctx.replicas);
  if (o.available < ctx.replicas) {
    ctx.phase('Progressing', 'ScalingPreview', `revision ${next}: ${o.available}/${ctx.replicas} available before the switch`);
    return;
  }
  ctx.routes = sameEverywhere(ctx, next);
  s.scaleDownRevision = stable;
  s.scaleDownAt = ctx.now + bg.scaleDownDelaySeconds * 1000;
  ctx.wake(s.scaleDownAt);
  ctx.event('Normal', 'Switched', `all traffic switched from revision ${stable} to revision ${next}`, next);
  ctx.complete(`revision ${next} is active`);
  ctx.phase('Healthy', 'Available', `revision ${next} serves all traffic; revision ${stable} scales down in ${bg.scaleDownDelaySeconds}s`);
}

export const planBlueGreen: Planner = (input) => planRelease(input, blueGreenRelease);

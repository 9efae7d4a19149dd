import type { BlueGreenStrategy } from '../../core/spec.js';
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

  // Post-promotion: the switch happened; the old revision stays up until analysis passes.
  if (s.activeRevision === next) {
    ctx.scale.set(next, ctx.replicas);
    ctx.routes = sameEverywhere(next);
    const post = bg.postPromotionAnalysis;
    if (post) {
      const { job, onFailure } = ctx.analysis('post-promotion', 'post-promotion analysis', post);
      if (ctx.outcome(job, 'post-promotion analysis', onFailure) !== 'pass') return;
    }
    finishSwitch(ctx, bg, stable, next);
    return;
  }
  s.activeRevision = stable;

  if (!s.promoteFull) {
    ctx.scale.set(next, previewCount);
    if (o.available < previewCount) {
      ctx.phase('Progressing', 'PreviewStarting', `preview revision ${next}: ${o.available}/${previewCount} available`);
      return;
    }
  }
  // The preview must pass its smoke tests and pre-promotion analysis before any switch.
  if (ctx.smokeTests('preview', 'preview') !== 'pass') return;
  const pre = bg.prePromotionAnalysis;
  if (pre) {
    const { job, onFailure } = ctx.analysis('pre-promotion', 'pre-promotion analysis', pre);
    if (ctx.outcome(job, 'pre-promotion analysis', onFailure) !== 'pass') return;
  }

  if (!s.promoteFull) {
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
  if (ctx.hooks('confirm-promotion', 'promotion') !== 'pass') return;
  if (o.available < ctx.replicas) {
    ctx.phase('Progressing', 'ScalingPreview', `revision ${next}: ${o.available}/${ctx.replicas} available before the switch`);
    return;
  }
  ctx.routes = sameEverywhere(next);
  s.activeRevision = next;
  ctx.event('Normal', 'Switched', `all traffic switched from revision ${stable} to revision ${next}`, next);
  if (bg.postPromotionAnalysis) {
    ctx.phase('Progressing', 'PostPromotionAnalysis', `revision ${next} is active; revision ${stable} stays up until post-promotion analysis passes`);
    return;
  }
  finishSwitch(ctx, bg, stable, next);
}

function finishSwitch(ctx: PlanContext, bg: BlueGreenStrategy, stable: number, next: number): void {
  const s = ctx.status;
  s.scaleDownRevision = stable;
  s.scaleDownAt = ctx.now + bg.scaleDownDelaySeconds * 1000;
  ctx.wake(s.scaleDownAt);
  ctx.complete(`revision ${next} is active`);
  ctx.phase('Healthy', 'Available', `revision ${next} serves all traffic; revision ${stable} scales down in ${bg.scaleDownDelaySeconds}s`);
}

export const planBlueGreen: Planner = (input) => planRelease(input, blueGreenRelease);

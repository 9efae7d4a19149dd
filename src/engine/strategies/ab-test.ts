import type { AbTestStrategy } from '../../spec/types.js';
import { only, planRelease, split, type PlanContext } from './common.js';
import type { Planner } from './planner.js';

/**
 * A/B test: the stable revision (the first variant, the control) and the new template
 * (the second variant) serve side by side by their weights. Users stick to a variant (the
 * rollout's `traffic.sticky`, by default the router's cookie), every response names its
 * variant, and the control plane stores exposures per variant. The test runs until
 * `sluice promote NAME --variant X` or abort: the new variant winning promotes it like a
 * canary's last step; the control winning ends the test and scales the new revision down.
 */
function abRelease(ctx: PlanContext): void {
  const st = ctx.spec.strategy as AbTestStrategy;
  const s = ctx.status;
  const stable = s.stableRevision as number;
  const current = s.currentRevision;
  const [control, treatment] = st.variants;
  const o = ctx.observed(current);
  const variants = { variants: [{ revision: stable, name: control.name }, { revision: current, name: treatment.name }], variantHeader: st.variantHeader };
  const testScale = Math.min(ctx.replicas, st.replicas ?? Math.max(1, Math.ceil((ctx.replicas * treatment.weight) / 100)));
  ctx.scale.set(stable, ctx.replicas);

  if (s.winner === control.name) {
    // The control won: back to stable, nothing failed.
    ctx.scale.delete(current);
    ctx.routes = { main: only(stable), preview: only(stable), canary: [] };
    ctx.event('Normal', 'ExperimentConcluded', `A/B test ended: variant ${control.name} (revision ${stable}) kept; revision ${current} (${treatment.name}) scaled down`, stable);
    s.currentRevision = stable;
    s.winner = undefined;
    s.activeRevision = stable;
    s.stepIndex = 0;
    s.pauses = s.pauses.filter((p) => p.reason === 'Manual');
    ctx.phase('Healthy', 'Available', `revision ${stable} serves all traffic (variant ${control.name} won)`);
    return;
  }

  if (s.winner === treatment.name) {
    if (ctx.hooks('confirm-promotion', 'promotion') !== 'pass') {
      ctx.scale.set(current, Math.max(testScale, o.total));
      ctx.routes = { main: split(stable, current, treatment.weight), preview: only(stable), canary: only(current), ...variants };
      return;
    }
    ctx.scale.set(current, ctx.replicas);
    if (o.available >= ctx.replicas) {
      ctx.scale.delete(stable);
      ctx.routes = { main: only(current), preview: only(current), canary: [] };
      ctx.complete(`variant ${treatment.name} (revision ${current}) won the A/B test: it serves all traffic`);
      s.winner = undefined;
      ctx.phase('Healthy', 'Available', `revision ${current} serves all traffic`);
      return;
    }
    ctx.routes = { main: split(stable, current, treatment.weight), preview: only(stable), canary: only(current), ...variants };
    ctx.phase('Progressing', 'Promoting', `variant ${treatment.name} won: scaling revision ${current} to ${ctx.replicas} before it takes all traffic (${o.available}/${ctx.replicas} available)`);
    return;
  }

  ctx.scale.set(current, testScale);
  if (o.available < testScale) {
    ctx.routes = { main: only(stable), preview: only(stable), canary: only(current), ...variants };
    ctx.phase('Progressing', 'ExperimentStarting', `starting variant ${treatment.name} (revision ${current}): ${o.available}/${testScale} available`);
    return;
  }
  if (ctx.smokeTests('canary', 'experiment') !== 'pass') {
    ctx.routes = { main: only(stable), preview: only(stable), canary: only(current), ...variants };
    return;
  }
  ctx.routes = { main: split(stable, current, treatment.weight), preview: only(stable), canary: only(current), ...variants };
  if (st.analysis) {
    const { job, onFailure } = ctx.analysis('experiment.analysis', 'A/B analysis', st.analysis);
    if (ctx.outcome(job, 'A/B analysis', onFailure) === 'stopped') return;
  }
  ctx.phase(
    'Paused',
    'Experimenting',
    `A/B test: ${control.name} = revision ${stable} (${control.weight}%), ${treatment.name} = revision ${current} (${treatment.weight}%); ` +
      `\`sluice promote ${ctx.spec.name} --variant ${control.name}|${treatment.name}\` ends it`,
  );
}

export const planAbTest: Planner = (input) => planRelease(input, abRelease);

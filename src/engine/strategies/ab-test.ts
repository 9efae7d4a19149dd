import type { AbTestStrategy } from '../../core/spec.js';
import type { WeightedTarget } from '../../core/route-table.js';
import { only, planRelease, promoteTo, type PlanContext } from './common.js';
import type { Planner } from './planner.js';
import { resetReleaseOf } from '../release-reset.js';

/** Each variant with its revision: the stable one, this template's, then the overridden ones. */
export function variantArms(st: AbTestStrategy, s: { stableRevision: number | null; currentRevision: number; variantRevisions?: Record<string, number> }) {
  return st.variants.flatMap((v, i) => {
    const revision = i === 0 ? s.stableRevision : i === 1 ? s.currentRevision : s.variantRevisions?.[v.name];
    return revision === null || revision === undefined ? [] : [{ name: v.name, weight: v.weight, revision }];
  });
}

/**
 * A/B test: the stable revision (the first variant, the control), the new template (the
 * second) and any further variants (the template with overrides, a revision each) serve
 * side by side by their weights. Users stick to a variant (the rollout's `traffic.sticky`,
 * by default the router's cookie), every response names its variant, and the control
 * plane stores exposures per variant. The test runs until `sluice promote NAME --variant X`
 * or abort: the control winning ends the test with stable unchanged; any other variant
 * winning is scaled up and takes all traffic, like a canary's last step.
 */
function abRelease(ctx: PlanContext): void {
  const st = ctx.spec.strategy as AbTestStrategy;
  const s = ctx.status;
  const stable = s.stableRevision as number;
  const control = st.variants[0]!;
  const arms = variantArms(st, s);
  const tested = arms.filter((a) => a.revision !== stable);
  const variants = { variants: arms.map((a) => ({ revision: a.revision, name: a.name })), variantHeader: st.variantHeader };
  const armScale = (weight: number) => Math.min(ctx.replicas, st.replicas ?? Math.max(1, Math.ceil((ctx.replicas * weight) / 100)));
  const experimentSplit: WeightedTarget[] = arms.filter((a) => a.weight > 0).map((a) => ({ revision: a.revision, weight: a.weight }));
  const holding = { main: only(stable), preview: only(stable), canary: only(s.currentRevision), ...variants };
  ctx.scale.set(stable, ctx.replicas);

  if (s.winner === control.name) {
    // The control won: back to stable, nothing failed.
    ctx.routes = { main: only(stable), preview: only(stable), canary: [] };
    ctx.event(
      'Normal',
      'ExperimentConcluded',
      `A/B test ended: variant ${control.name} (revision ${stable}) kept; ${tested.map((a) => `revision ${a.revision} (${a.name})`).join(', ')} scaled down`,
      stable,
    );
    s.currentRevision = stable;
    resetReleaseOf(s, 'rest', ctx.now);
    ctx.phase('Healthy', 'Available', `revision ${stable} serves all traffic (variant ${control.name} won)`);
    return;
  }

  const winner = tested.find((a) => a.name === s.winner);
  if (winner !== undefined) {
    for (const a of tested) ctx.scale.set(a.revision, Math.max(armScale(a.weight), ctx.observed(a.revision).total));
    promoteTo(
      ctx,
      winner.revision,
      { ...holding, main: experimentSplit },
      armScale(winner.weight),
      `variant ${winner.name} (revision ${winner.revision}) won the A/B test: it serves all traffic`,
    );
    return;
  }

  for (const a of tested) ctx.scale.set(a.revision, armScale(a.weight));
  const starting = tested.filter((a) => ctx.observed(a.revision).available < armScale(a.weight));
  if (starting.length > 0) {
    ctx.routes = holding;
    const what = starting.map((a) => `${a.name} (revision ${a.revision}) ${ctx.observed(a.revision).available}/${armScale(a.weight)}`).join(', ');
    ctx.phase('Progressing', 'ExperimentStarting', `starting variant(s) ${what} available`);
    return;
  }
  if (ctx.smokeTests('canary', 'experiment') !== 'pass') {
    ctx.routes = holding;
    return;
  }
  ctx.routes = { ...holding, main: experimentSplit, ...(st.experiment ? { experiment: experimentId(s) } : {}) };
  if (st.analysis) {
    const { job, onFailure } = ctx.analysis('experiment.analysis', 'A/B analysis', st.analysis);
    if (ctx.outcome(job, 'A/B analysis', onFailure) === 'stopped') return;
  }
  ctx.phase(
    'Paused',
    'Experimenting',
    `A/B test: ${arms.map((a) => `${a.name} = revision ${a.revision} (${a.weight}%)`).join(', ')}; ` +
      `\`sluice promote ${ctx.spec.name} --variant ${arms.map((a) => a.name).join('|')}\` ends it`,
  );
}

/** An A/B test's id within its rollout: one per revision and attempt (exposures, experiment data). */
export function experimentId(s: { currentRevision: number; attempt?: number }): string {
  return `r${s.currentRevision}a${s.attempt ?? 0}`;
}

export const planAbTest: Planner = (input) => planRelease(input, abRelease);

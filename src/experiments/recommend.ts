/**
 * SHIP / STOP / NEUTRAL / CONTINUE from a report, in this order (docs/experiments.md):
 *
 * 1. A treatment over a guardrail: STOP it (final).
 * 2. Sample-ratio mismatch: CONTINUE, not final — the assignment is broken, no verdict
 *    can be trusted, and SHIP is blocked until it is fixed.
 * 3. Fewer users than `minimumUsers` in some variant, or less time than
 *    `minimumDuration`: CONTINUE.
 * 4. On the primary metric, with the always-valid p-value after Holm over the treatments:
 *    - a treatment better than the control (p < alpha, the lift in the metric's good
 *      direction and at least `minimumEffect`): SHIP the best such one (final);
 *    - every treatment significantly worse: STOP (final), the control stays;
 *    - every treatment's always-valid interval of the relative lift inside ±minimumEffect:
 *      NEUTRAL (final): no difference that matters, the control stays;
 *    - past `maximumDuration`: NEUTRAL (final);
 *    - else CONTINUE.
 *
 * The sequential results are valid at whatever moment this runs, so the monitor may look
 * as often as it likes. Pure.
 */
import type { Comparison, ExperimentReport, ExperimentSpec, Recommendation } from '../core/experiment.js';

type Unrecommended = Omit<ExperimentReport, 'recommendation'>;

export function recommend(r: Unrecommended, spec: ExperimentSpec, now: number): Recommendation {
  const c = spec.conclusion;
  const stopped = r.guardrails.find((g) => g.violated !== undefined);
  if (stopped) return { verdict: 'STOP', variant: stopped.variant, reason: `variant ${stopped.variant}: ${stopped.violated}`, final: true };

  if (r.srm.mismatch) {
    const shares = r.variants.map((v) => `${v.variant} ${(v.share * 100).toFixed(1)} % (weight ${v.weight} %)`).join(', ');
    return {
      verdict: 'CONTINUE',
      reason: `sample ratio mismatch (χ² p = ${formatP(r.srm.pValue)} < ${c.srmAlpha}): users split ${shares} — the assignment is skewed, so no verdict can be trusted; find why before shipping`,
      final: false,
    };
  }

  const primary = r.metrics.find((m) => m.primary) ?? r.metrics[0];
  if (primary === undefined) return { verdict: 'CONTINUE', reason: 'no metric', final: false };
  const fewest = Math.min(...r.variants.map((v) => v.users));
  if (fewest < c.minimumUsers) {
    return { verdict: 'CONTINUE', reason: `${fewest} of the ${c.minimumUsers} users per variant needed so far`, final: false };
  }
  const elapsed = r.startedAt === null ? 0 : now - r.startedAt;
  if (elapsed < c.minimumDurationMs) {
    return { verdict: 'CONTINUE', reason: `running ${hours(elapsed)} of the ${hours(c.minimumDurationMs)} minimum`, final: false };
  }

  const better = (x: Comparison) => (primary.direction === 'higher' ? x.relative.estimate : -x.relative.estimate);
  const significant = (x: Comparison) => x.adjustedPValue < c.alpha;
  const winners = primary.comparisons.filter((x) => significant(x) && better(x) > 0 && Math.abs(x.relative.estimate) >= c.minimumEffect);
  const n = `${fewest.toLocaleString('en-US')}+ users per variant`;
  if (winners.length > 0) {
    const best = winners.reduce((a, b) => (better(b) > better(a) ? b : a));
    return { verdict: 'SHIP', variant: best.variant, reason: `variant ${best.variant}: ${describe(primary.name, best)}, ${n}`, final: true };
  }
  const comparisons = primary.comparisons;
  if (comparisons.length > 0 && comparisons.every((x) => significant(x) && better(x) < 0)) {
    const worst = comparisons.reduce((a, b) => (better(b) < better(a) ? b : a));
    return { verdict: 'STOP', variant: worst.variant, reason: `variant ${worst.variant} is worse: ${describe(primary.name, worst)}, ${n}`, final: true };
  }
  if (comparisons.length > 0 && comparisons.every((x) => x.sequential.relative.lower > -c.minimumEffect && x.sequential.relative.upper < c.minimumEffect)) {
    return {
      verdict: 'NEUTRAL',
      reason: `no lift of ±${(c.minimumEffect * 100).toFixed(1)} % or more on ${primary.name}: ${comparisons.map((x) => `${x.variant} ${interval(x)}`).join(', ')}, ${n}`,
      final: true,
    };
  }
  if (c.maximumDurationMs !== undefined && elapsed >= c.maximumDurationMs) {
    return {
      verdict: 'NEUTRAL',
      reason: `no winner after ${hours(elapsed)} (maximum ${hours(c.maximumDurationMs)}): ${comparisons.map((x) => `${x.variant} ${interval(x)}`).join(', ')}`,
      final: true,
    };
  }
  return {
    verdict: 'CONTINUE',
    reason: `no decision yet on ${primary.name}: ${comparisons.map((x) => `${x.variant} ${interval(x)} p = ${formatP(x.adjustedPValue)}`).join(', ')}`,
    final: false,
  };
}

function describe(metric: string, x: Comparison): string {
  return `${metric} ${signed(x.relative.estimate)} ${interval(x)}, always-valid p = ${formatP(x.adjustedPValue)}`;
}

/** The always-valid interval of the relative lift, in percent. */
function interval(x: Comparison): string {
  return `[${signed(x.sequential.relative.lower)}, ${signed(x.sequential.relative.upper)}]`;
}

function signed(x: number): string {
  const v = (x * 100).toFixed(1);
  return `${x >= 0 ? '+' : ''}${v} %`;
}

export function formatP(p: number): string {
  if (p < 1e-12) return '<1e-12';
  if (p < 0.0001) return p.toExponential(1);
  return p.toFixed(4);
}

function hours(ms: number): string {
  const h = ms / 3_600_000;
  return h >= 48 ? `${(h / 24).toFixed(1)} days` : h >= 1 ? `${h.toFixed(1)} h` : `${Math.round(ms / 60_000)} min`;
}

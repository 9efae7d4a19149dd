/**
 * Fixed-horizon tests: valid when the sample size was planned and the data is looked at
 * once. Treatment − control throughout (a positive statistic: treatment higher).
 *
 * Two-proportion z-test (binomial metrics), as statsmodels' proportions_ztest:
 *   p̂ = (cₜ + c꜀)/(nₜ + n꜀), z = (p̂ₜ − p̂꜀) / √(p̂(1−p̂)(1/nₜ + 1/n꜀)) (pooled under H₀),
 *   p = 2·Φ̄(|z|). Absolute interval (Wald, unpooled): (p̂ₜ − p̂꜀) ± z₁₋α/₂ ·
 *   √(p̂ₜ(1−p̂ₜ)/nₜ + p̂꜀(1−p̂꜀)/n꜀). Relative: the delta method below with the Bernoulli
 *   variances p̂(1−p̂) and the normal quantile.
 * Welch's t-test (continuous metrics; no equal-variance assumption, which fails whenever
 *   the treatment changes the spread):
 *   se² = vₜ/nₜ + v꜀/n꜀, t = (ȳₜ − ȳ꜀)/se, ν = se⁴ / ((vₜ/nₜ)²/(nₜ−1) + (v꜀/n꜀)²/(n꜀−1))
 *   (Welch–Satterthwaite), p = 2·P(T_ν > |t|); interval (ȳₜ − ȳ꜀) ± t_{ν,1−α/2}·se; relative
 *   by the delta method with the same quantile.
 * Relative lift (delta method): r = ȳₜ/ȳ꜀ − 1, Var(ȳₜ/ȳ꜀) ≈ vₜ/(nₜ ȳ꜀²) + ȳₜ² v꜀/(n꜀ ȳ꜀⁴);
 *   r ± q·√Var. Undefined when ȳ꜀ = 0: {NaN, −∞, +∞}.
 *
 * Degenerate inputs: an empty arm gives p = 1 and unbounded intervals; se = 0 gives
 * statistic 0 and p = 1 when the means are equal, ±∞ and p = 0 otherwise; Welch with an arm of n < 2 (no variance) gives p = 1, df 0 and unbounded
 * intervals; both variances 0 gives df = nₜ + n꜀ − 2.
 */

import type { Interval } from '../../core/experiment.js';
import { normalPpf, normalSf, studentTPpf, studentTSf } from './distributions.js';
import type { MeanSample, ProportionSample } from './samples.js';

/** One fixed-horizon comparison: the statistic, its two-sided p-value, intervals. */
export interface FixedResult {
  statistic: number;
  pValue: number;
  df?: number;
  absolute: Interval;
  relative: Interval;
}

const UNBOUNDED = { lower: Number.NEGATIVE_INFINITY, upper: Number.POSITIVE_INFINITY };

/** Relative lift (treatment − control)/control ± quantile·(delta-method standard error). */
export function relativeLift(control: MeanSample, treatment: MeanSample, quantile: number): Interval {
  const mc = control.mean;
  const mt = treatment.mean;
  if (mc === 0 || !(control.n > 0) || !(treatment.n > 0)) return { estimate: Number.NaN, ...UNBOUNDED };
  const estimate = mt / mc - 1;
  const se = relativeStandardError(control, treatment);
  return { estimate, lower: estimate - quantile * se, upper: estimate + quantile * se };
}

/** √(vₜ/(nₜ ȳ꜀²) + ȳₜ² v꜀/(n꜀ ȳ꜀⁴)): the delta-method standard error of ȳₜ/ȳ꜀. */
export function relativeStandardError(control: MeanSample, treatment: MeanSample): number {
  const mc2 = control.mean * control.mean;
  return Math.sqrt(treatment.variance / (treatment.n * mc2) + (treatment.mean * treatment.mean * control.variance) / (control.n * mc2 * mc2));
}

function twoSidedFromStatistic(diff: number, se: number, tail: (x: number) => number): { statistic: number; pValue: number } {
  if (se > 0) {
    const statistic = diff / se;
    return { statistic, pValue: Math.min(1, 2 * tail(Math.abs(statistic))) };
  }
  if (diff === 0) return { statistic: 0, pValue: 1 };
  return { statistic: diff > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY, pValue: 0 };
}

/** Two-proportion z-test (pooled statistic as statsmodels; unpooled Wald intervals). */
export function twoProportionZTest(control: ProportionSample, treatment: ProportionSample, alpha = 0.05): FixedResult {
  if (!(control.n > 0) || !(treatment.n > 0)) {
    return { statistic: 0, pValue: 1, absolute: { estimate: 0, ...UNBOUNDED }, relative: { estimate: Number.NaN, ...UNBOUNDED } };
  }
  const pc = control.conversions / control.n;
  const pt = treatment.conversions / treatment.n;
  const pooled = (control.conversions + treatment.conversions) / (control.n + treatment.n);
  const diff = pt - pc;
  const sePooled = Math.sqrt(pooled * (1 - pooled) * (1 / treatment.n + 1 / control.n));
  const { statistic, pValue } = twoSidedFromStatistic(diff, sePooled, normalSf);
  const z = normalPpf(1 - alpha / 2);
  const vc = pc * (1 - pc);
  const vt = pt * (1 - pt);
  const se = Math.sqrt(vt / treatment.n + vc / control.n);
  return {
    statistic,
    pValue,
    absolute: { estimate: diff, lower: diff - z * se, upper: diff + z * se },
    relative: relativeLift({ n: control.n, mean: pc, variance: vc }, { n: treatment.n, mean: pt, variance: vt }, z),
  };
}

/** Welch–Satterthwaite degrees of freedom of the difference of two means. */
export function welchDf(control: MeanSample, treatment: MeanSample): number {
  const a = treatment.variance / treatment.n;
  const b = control.variance / control.n;
  const den = (a * a) / (treatment.n - 1) + (b * b) / (control.n - 1);
  if (!(den > 0)) return treatment.n + control.n - 2;
  return (a + b) ** 2 / den;
}

/** Welch's unequal-variance t-test of treatment − control. */
export function welchTTest(control: MeanSample, treatment: MeanSample, alpha = 0.05): FixedResult {
  const diff = treatment.mean - control.mean;
  if (control.n < 2 || treatment.n < 2) {
    return {
      statistic: 0,
      pValue: 1,
      df: 0,
      absolute: { estimate: diff, ...UNBOUNDED },
      relative: { estimate: relativeLift(control, treatment, 0).estimate, ...UNBOUNDED },
    };
  }
  const se = Math.sqrt(treatment.variance / treatment.n + control.variance / control.n);
  const df = welchDf(control, treatment);
  const { statistic, pValue } = twoSidedFromStatistic(diff, se, (x) => studentTSf(x, df));
  const q = studentTPpf(1 - alpha / 2, df);
  return {
    statistic,
    pValue,
    df,
    absolute: { estimate: diff, lower: diff - q * se, upper: diff + q * se },
    relative: relativeLift(control, treatment, q),
  };
}

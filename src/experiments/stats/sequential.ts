/**
 * Always-valid inference: GrowthBook's "asymptotic confidence sequence" (Waudby-Smith,
 * Arnold, Wu, Lindon, Ramdas & Howard 2023, "Time-uniform central limit theory and
 * asymptotic confidence sequences", the normal-mixture boundary) on the difference of
 * means, usable for binomial metrics (as 0/1 means) and continuous ones alike.
 *
 * "Always valid": with probability ≥ 1 − α the sequence covers the true difference at
 * EVERY sample size simultaneously, so looking daily and stopping at the first look that
 * excludes 0 keeps the false-positive rate ≤ α (asymptotically: the guarantee rests on
 * the central limit theorem, like the z-test's does). A fixed-horizon interval checked
 * daily does not: its error compounds with every look.
 *
 * With n = nₜ + n꜀ users in the comparison, the estimate Δ̂ = ȳₜ − ȳ꜀ and its standard
 * error se = √(vₜ/nₜ + v꜀/n꜀), the per-user variance is σ̂² = n·se². The mixture boundary
 * with parameter ρ at "time" n has half-width
 *   h = σ̂ · √( 2(nρ² + 1)/(n²ρ²) · ln(√(nρ² + 1)/α) )
 *     = se · √( (1 + 1/r)·(2 ln(1/α) + ln(1 + r)) ),   r = nρ².
 * ρ is chosen (Waudby-Smith et al.'s approximation of the optimum, as GrowthBook) so the
 * sequence is tightest at n* users:
 *   ρ² = (−2 ln α + ln(1 − 2 ln α)) / n*.
 * The tuning N* (ConclusionSpec.sequentialTuning) counts users PER VARIANT, so n* = 2N*
 * (two arms in a comparison); r = n/(2N*)·(−2 ln α + ln(1 − 2 ln α)) depends only on the
 * users per arm relative to N*. At n = n*, for α = 0.05, the multiplier h/se is ≈ 3.0
 * against the fixed 1.96; it grows slowly (≈ √ln n) past n*.
 *
 * p-value: the smallest α′ whose sequence (ρ held at the value chosen from the configured
 * α, so the p-value and the interval agree: p < α ⇔ 0 outside the α-interval) excludes 0.
 * Solving |Δ̂| = h(α′) for α′ with z = Δ̂/se, in closed form:
 *   p = min(1, √(1 + r) · exp(−z² r / (2(1 + r)))),
 * taken in log space (no underflow far out). It is the reciprocal of the mixture
 * martingale, hence valid at every α′, not only the configured one.
 * Relative interval: the delta-method standard error of ȳₜ/ȳ꜀ (fixed.ts) times the same
 * multiplier h/se.
 * Degenerate inputs: an arm with n < 2 (no variance estimate) gives p = 1 and unbounded
 * intervals; se = 0 with n ≥ 2 gives p = 1 for equal means, 0 otherwise.
 */

import type { Interval } from '../../core/experiment.js';
import { relativeLift } from './fixed.js';
import type { MeanSample } from './samples.js';

/** The always-valid p-value and confidence sequences of treatment − control. */
export interface SequentialResult {
  pValue: number;
  absolute: Interval;
  relative: Interval;
}

/** ρ² of the normal mixture, tightest at nStar total users. */
export function mixtureRho2(alpha: number, nStar: number): number {
  const l = -2 * Math.log(alpha);
  return (l + Math.log(1 + l)) / nStar;
}

/** h/se: the boundary multiplier at r = nρ² (it replaces the fixed test's z₁₋α/₂). */
export function boundaryMultiplier(r: number, alpha: number): number {
  return Math.sqrt((1 + 1 / r) * (-2 * Math.log(alpha) + Math.log1p(r)));
}

/** Always-valid test of treatment − control (see the header for the boundary and the p-value). */
export function sequentialTest(control: MeanSample, treatment: MeanSample, opts: { alpha: number; tuning: number }): SequentialResult {
  const n = control.n + treatment.n;
  const diff = treatment.mean - control.mean;
  const unbounded = { lower: Number.NEGATIVE_INFINITY, upper: Number.POSITIVE_INFINITY };
  if (control.n < 2 || treatment.n < 2) {
    return { pValue: 1, absolute: { estimate: diff, ...unbounded }, relative: { estimate: Number.NaN, ...unbounded } };
  }
  const r = n * mixtureRho2(opts.alpha, 2 * opts.tuning);
  const m = boundaryMultiplier(r, opts.alpha);
  const se = Math.sqrt(treatment.variance / treatment.n + control.variance / control.n);
  let pValue: number;
  if (se > 0) {
    const z = diff / se;
    const lnP = 0.5 * Math.log1p(r) - (z * z * r) / (2 * (1 + r));
    pValue = Math.exp(Math.min(0, lnP));
  } else {
    pValue = diff === 0 ? 1 : 0;
  }
  return {
    pValue,
    absolute: { estimate: diff, lower: diff - m * se, upper: diff + m * se },
    relative: relativeLift(control, treatment, m),
  };
}

/**
 * TEMPORARY stand-in for the statistics module (written in parallel on another branch):
 * only `sampleSize`, with the signature that module promises, so that `sluice experiment
 * plan` compiles and is tested on this branch. The merge replaces this whole file with the
 * real module; nothing else here should be added to it.
 *
 * Formulas (two-sided test at level alpha, relative minimum detectable effect `mde`):
 * - binomial: p2 = p1(1 + mde), p̄ = (p1 + p2)/2,
 *   n = (z_{1−α/2}·√(2p̄(1−p̄)) + z_power·√(p1(1−p1) + p2(1−p2)))² / (p2 − p1)²
 * - continuous: n = 2(z_{1−α/2} + z_power)²·sd² / (mde·mean)²
 * rounded up: users per variant.
 */

export type SampleSizeOptions =
  | { baseline: number; mde: number; alpha?: number; power?: number; kind?: 'binomial' }
  | { kind: 'continuous'; mean: number; sd: number; mde: number; alpha?: number; power?: number };

/** Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9 after one Halley step). */
function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
      (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  // One Halley refinement against erfc.
  const e = 0.5 * erfc(-x / Math.SQRT2) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** Complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** TEMPORARY (see the file comment): users per variant for a two-sided test. */
export function sampleSize(opts: SampleSizeOptions): number {
  const alpha = opts.alpha ?? 0.05;
  const power = opts.power ?? 0.8;
  const za = normalQuantile(1 - alpha / 2);
  const zb = normalQuantile(power);
  if (opts.kind === 'continuous') {
    return Math.ceil((2 * (za + zb) ** 2 * opts.sd ** 2) / (opts.mde * opts.mean) ** 2);
  }
  const p1 = opts.baseline;
  const p2 = p1 * (1 + opts.mde);
  const pBar = (p1 + p2) / 2;
  const n = (za * Math.sqrt(2 * pBar * (1 - pBar)) + zb * Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p2 - p1) ** 2;
  return Math.ceil(n);
}

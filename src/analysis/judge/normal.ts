/**
 * The standard normal distribution, accurate to about one unit in the last place, so that
 * the judge's p-values agree with R's `pnorm` / `qnorm` far beyond the 1e-6 the fixtures
 * demand, including p-values as small as 1e-300.
 */

const SQRT_32 = Math.sqrt(32);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT_2PI = Math.sqrt(2 * Math.PI);

// Cody's near-minimax rational approximations (ACM TOMS algorithm 715, ANORM).
const A = [2.2352520354606839287, 161.02823106855587881, 1067.6894854603709582, 18154.981253343561249, 0.065682337918207449113];
const B = [47.20258190468824187, 976.09855173777669322, 10260.932208618978205, 45507.789335026729956];
const C = [
  0.39894151208813466764, 8.8831497943883759412, 93.506656132177855979, 597.27027639480026226, 2494.5375852903726711, 6848.1904505362823326,
  11602.651437647350124, 9842.7148383839780218, 1.0765576773720192317e-8,
];
const D = [
  22.266688044328115691, 235.38790178262499861, 1519.377599407554805, 6485.558298266760755, 18615.571640885098091, 34900.952721145977266, 38912.003286093271411,
  19685.429676859990727,
];
const P = [0.21589853405795699, 0.1274011611602473639, 0.022235277870649807, 0.001421619193227893466, 2.9112874951168792e-5, 0.02307344176494017303];
const Q = [1.28426009614491121, 0.468238212480865118, 0.0659881378689285515, 0.00378239633202758244, 7.29751555083966205e-5];

export interface NormalTails {
  /** P(Z ≤ x) */
  lower: number;
  /** P(Z > x), computed directly rather than as 1 − lower so that tiny tails keep their digits. */
  upper: number;
}

/** Both tails of the standard normal distribution at x. Probabilities below the smallest normal double are 0, as in R. */
export function normalTails(x: number): NormalTails {
  if (Number.isNaN(x)) return { lower: NaN, upper: NaN };
  const y = Math.abs(x);
  let lower: number;
  let upper: number;
  if (y <= 0.66291) {
    const xsq = y > Number.EPSILON / 2 ? x * x : 0;
    let num = A[4]! * xsq;
    let den = xsq;
    for (let i = 0; i < 3; i++) {
      num = (num + A[i]!) * xsq;
      den = (den + B[i]!) * xsq;
    }
    const t = (x * (num + A[3]!)) / (den + B[3]!);
    lower = 0.5 + t;
    upper = 0.5 - t;
  } else {
    // `small` is the tail beyond |x|.
    let small: number;
    if (y <= SQRT_32) {
      let num = C[8]! * y;
      let den = y;
      for (let i = 0; i < 7; i++) {
        num = (num + C[i]!) * y;
        den = (den + D[i]!) * y;
      }
      small = gaussianFactor(y) * ((num + C[7]!) / (den + D[7]!));
    } else if (y < 37.5193) {
      const xsq = 1 / (x * x);
      let num = P[5]! * xsq;
      let den = xsq;
      for (let i = 0; i < 4; i++) {
        num = (num + P[i]!) * xsq;
        den = (den + Q[i]!) * xsq;
      }
      const r = (xsq * (num + P[4]!)) / (den + Q[4]!);
      small = gaussianFactor(y) * ((INV_SQRT_2PI - r) / y);
    } else {
      small = 0;
    }
    if (x > 0) {
      upper = small;
      lower = 1 - small;
    } else {
      lower = small;
      upper = 1 - small;
    }
  }
  const MIN_NORMAL = 2.2250738585072014e-308;
  return { lower: lower < MIN_NORMAL ? 0 : lower, upper: upper < MIN_NORMAL ? 0 : upper };
}

/** exp(−y²/2), split so that the large part of y² is exact (Cody's trick against cancellation). */
function gaussianFactor(y: number): number {
  const head = Math.trunc(y * 16) / 16;
  const del = (y - head) * (y + head);
  return Math.exp(-head * head * 0.5) * Math.exp(-del * 0.5);
}

/** P(Z ≤ x) */
export function pnorm(x: number): number {
  return normalTails(x).lower;
}

/** The standard normal quantile: the x with P(Z ≤ x) = p. */
export function qnorm(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  // Solve in the smaller tail so that the refinement compares probabilities without cancellation.
  return p > 0.5 ? -lowerQuantile(1 - p) : lowerQuantile(p);
}

// Acklam's rational approximation (relative error 1.2e-9), polished by Halley steps on the exact tail.
const AQ = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
const BQ = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
const CQ = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const DQ = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];

/** Quantile for p ≤ 0.5, so the answer is ≤ 0. */
function lowerQuantile(p: number): number {
  let x: number;
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((CQ[0]! * q + CQ[1]!) * q + CQ[2]!) * q + CQ[3]!) * q + CQ[4]!) * q + CQ[5]!) / ((((DQ[0]! * q + DQ[1]!) * q + DQ[2]!) * q + DQ[3]!) * q + 1);
  } else {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((AQ[0]! * r + AQ[1]!) * r + AQ[2]!) * r + AQ[3]!) * r + AQ[4]!) * r + AQ[5]!) * q) /
      (((((BQ[0]! * r + BQ[1]!) * r + BQ[2]!) * r + BQ[3]!) * r + BQ[4]!) * r + 1);
  }
  for (let i = 0; i < 3; i++) {
    const e = normalTails(x).lower - p;
    if (e === 0) break;
    const u = e * SQRT_2PI * Math.exp((x * x) / 2);
    const next = x - u / (1 + (x * u) / 2);
    if (next === x || !Number.isFinite(next)) break;
    x = next;
  }
  return x;
}

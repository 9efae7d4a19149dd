/**
 * Distribution functions for the experiment statistics (pure: no I/O, no clock, no randomness).
 *
 * Upper tails are computed directly (survival functions), never as 1 − cdf: a p-value of
 * 1e-20 would otherwise round to 0, and a tiny p-value is what Holm and the SRM alarm
 * compare against small levels.
 *
 * - Normal: Φ(x) = ½ erfc(−x/√2), Φ̄(x) = ½ erfc(x/√2), erfc from the incomplete gamma
 *   (erfc z = Q(½, z²), special.ts). Φ⁻¹(p): Acklam's rational approximation (relative
 *   error < 1.2e-9), then Halley steps x ← x − u/(1 + x·u/2), u = (Φ(x) − p)/φ(x), taken on
 *   the lower tail (p ≤ ½; the upper half by symmetry, 1 − p being exact there).
 * - Student t, ν degrees of freedom (fractional allowed), t > 0:
 *   P(T > t) = ½ I_x(ν/2, ½) with x = ν/(ν + t²) (regularized incomplete beta, Lentz
 *   continued fraction; the complement ½(1 − I_{1−x}(½, ν/2)) when x is past the
 *   fraction's fast region). ln x = −log1p(t²/ν) and ln(1−x) = −log1p(ν/t²) keep the
 *   prefactor exact for huge ν. For ν > 10⁶ the fraction loses digits (it needs many
 *   terms near x = 1), so there the tail is the integral ∫_t^∞ f(s) ds of the density f(s) = (1+s²/ν)^(−(ν+1)/2) / (√ν B(ν/2,½)),
 *   by exp-sinh (double-exponential) quadrature; ν = ∞ is the normal.
 *   Quantile: safeguarded Newton on ln P(T > t) inside a bracket, started at the
 *   Cornish–Fisher expansion of the normal quantile; closed forms for ν = 1 and 2.
 * - Chi-square, k degrees of freedom: P(X > x) = Q(k/2, x/2).
 */

import { betaContinuedFraction, erfc, gammaQ, lnBeta } from './special.js';

const SQRT1_2 = Math.SQRT1_2;
const LN_SQRT_2PI = 0.9189385332046728;

/** Standard normal CDF Φ(x). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x * SQRT1_2);
}

/** Standard normal upper tail 1 − Φ(x), accurate far out (erfc, not 1 − cdf). */
export function normalSf(x: number): number {
  return 0.5 * erfc(x * SQRT1_2);
}

const A = [-39.69683028665376, 220.9460984245205, -275.928510446969, 138.357751867269, -30.66479806614716, 2.506628277459239];
const B = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
const C = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];

function acklamLower(p: number): number {
  const [a0, a1, a2, a3, a4, a5] = A as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = B as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = C as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = D as [number, number, number, number];
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
}

/** Standard normal quantile Φ⁻¹(p), p in (0, 1); ±Infinity at 0 and 1, NaN outside. */
export function normalPpf(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return Number.NaN;
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  if (p > 0.5) return -normalPpf(1 - p);
  let x = acklamLower(p);
  for (let i = 0; i < 4; i++) {
    const cdf = normalCdf(x);
    if (cdf <= 0) break;
    // u = (Φ(x) − p)/φ(x), φ taken in log space (it underflows before Φ does)
    const u = ((cdf - p) / cdf) * Math.exp(Math.log(cdf) + 0.5 * x * x + LN_SQRT_2PI);
    const step = u / (1 + 0.5 * x * u);
    x -= step;
    if (Math.abs(step) <= 1e-16 * Math.abs(x)) break;
  }
  return x;
}

const T_QUADRATURE_DF = 1e6;

/** Upper tail P(T > t) of Student's t with df degrees of freedom (df > 0, may be fractional). */
export function studentTSf(t: number, df: number): number {
  if (Number.isNaN(t) || Number.isNaN(df) || df <= 0) return Number.NaN;
  if (df === Number.POSITIVE_INFINITY) return normalSf(t);
  if (t === 0) return 0.5;
  if (t < 0) return 1 - upperTail(-t, df);
  return upperTail(t, df);
}

/** P(T > t) for t > 0. */
function upperTail(t: number, df: number): number {
  if (t === Number.POSITIVE_INFINITY) return 0;
  if (df > T_QUADRATURE_DF) return tailByQuadrature(t, df);
  const a = df / 2;
  const b = 0.5;
  const t2 = t * t;
  const x = df / (df + t2);
  const lnX = -Math.log1p(t2 / df);
  const lnY = -Math.log1p(df / t2);
  const logPrefactor = a * lnX + b * lnY - lnBeta(a, b);
  if (x < (a + 1) / (a + b + 2)) {
    return (0.5 * Math.exp(logPrefactor) * betaContinuedFraction(a, b, x)) / a;
  }
  const y = t2 / (df + t2);
  return 0.5 * (1 - (Math.exp(logPrefactor) * betaContinuedFraction(b, a, y)) / b);
}

/** ln f(s): the log density of Student's t. */
function lnTPdf(s: number, df: number): number {
  return -lnBeta(df / 2, 0.5) - 0.5 * Math.log(df) - ((df + 1) / 2) * Math.log1p((s * s) / df);
}

/** Density of Student's t. */
export function studentTPdf(s: number, df: number): number {
  if (df === Number.POSITIVE_INFINITY) return Math.exp(-0.5 * s * s - LN_SQRT_2PI);
  return Math.exp(lnTPdf(s, df));
}

/**
 * ∫_t^∞ f(s) ds by exp-sinh quadrature: s = t + c·exp(π/2·sinh τ), trapezoid in τ with
 * step 1/32; c = 1/(1+t) matches the integrand's decay length (~1/t far out).
 */
function tailByQuadrature(t: number, df: number): number {
  const c = 1 / (1 + t);
  const h = 1 / 32;
  const lnNorm = -lnBeta(df / 2, 0.5) - 0.5 * Math.log(df);
  const half = (df + 1) / 2;
  let sum = 0;
  for (let k = -160; k <= 160; k++) {
    const tau = k * h;
    const w = c * Math.exp((Math.PI / 2) * Math.sinh(tau));
    if (w === 0) continue;
    const s = t + w;
    const term = Math.exp(lnNorm - half * Math.log1p((s * s) / df)) * w * (Math.PI / 2) * Math.cosh(tau);
    if (!Number.isFinite(term)) continue;
    sum += term;
    if (k > 0 && term < sum * 1e-18) break;
  }
  return sum * h;
}

/** Quantile of Student's t: the t with P(T ≤ t) = p, p in (0, 1). */
export function studentTPpf(p: number, df: number): number {
  if (Number.isNaN(p) || Number.isNaN(df) || df <= 0 || p < 0 || p > 1) return Number.NaN;
  if (df === Number.POSITIVE_INFINITY) return normalPpf(p);
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  if (p === 0.5) return 0;
  const q = p < 0.5 ? p : 1 - p;
  const t = upperQuantile(q, df);
  return p < 0.5 ? -t : t;
}

/** The t > 0 with P(T > t) = q, 0 < q < ½. */
function upperQuantile(q: number, df: number): number {
  if (df === 1) return 1 / Math.tan(Math.PI * q);
  if (df === 2) {
    const u = 1 - 2 * q;
    return u * Math.sqrt(2 / (4 * q * (1 - q)));
  }
  const z = -normalPpf(q);
  let t = z + (z * z * z + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df);
  if (!(t > 0) || !Number.isFinite(t)) t = z > 0 ? z : 1;
  // bracket [lo, hi] with sf(lo) ≥ q ≥ sf(hi)
  let lo = 0;
  let hi = t;
  while (upperTail(hi, df) > q) {
    lo = hi;
    hi *= 2;
    if (!Number.isFinite(hi)) return Number.POSITIVE_INFINITY;
  }
  const lnQ = Math.log(q);
  for (let i = 0; i < 200; i++) {
    const sf = upperTail(t, df);
    if (sf > q) lo = Math.max(lo, t);
    else hi = Math.min(hi, t);
    const g = Math.log(sf) - lnQ;
    const slope = -studentTPdf(t, df) / sf;
    let next = t - g / slope;
    if (!(next > lo && next < hi)) next = lo > 0 ? Math.sqrt(lo * hi) : 0.5 * (lo + hi);
    const step = Math.abs(next - t);
    t = next;
    if (step <= 1e-15 * t || hi - lo <= 1e-15 * hi) break;
  }
  return t;
}

/** Upper tail of the chi-square distribution with df degrees of freedom: Q(df/2, x/2). */
export function chiSquareSf(x: number, df: number): number {
  if (Number.isNaN(x) || Number.isNaN(df) || df <= 0) return Number.NaN;
  return gammaQ(df / 2, x / 2);
}

/**
 * Special functions behind the distributions (pure, no I/O).
 *
 * - lnGamma(x): Lanczos (g = 7, 9 terms), |relative error of Γ| ≲ 2e-15 for x ≥ 0.5;
 *   reflection Γ(x)Γ(1−x) = π / sin(πx) below.
 * - lnGammaDelta(a, h) = lnΓ(a+h) − lnΓ(a), without the cancellation of two large
 *   logarithms when a is large (Stirling: (a−½)·log1p(h/a) + h·ln(a+h) − h +
 *   Σ B₂ₖ/(2k(2k−1)) · ((a+h)^(1−2k) − a^(1−2k))), exact to rounding for a ≥ 10.
 * - gammaQ(a, x) = Γ(a, x)/Γ(a), the regularized upper incomplete gamma: the series for
 *   P = 1 − Q when x < a + 1, else the continued fraction for Q evaluated by the modified
 *   Lentz method (Numerical Recipes §6.2), both to machine precision. The prefactor
 *   e^(−x) x^a / Γ(a) is taken in log space.
 * - betaContinuedFraction(a, b, x): the continued fraction of I_x(a, b) (NR §6.4),
 *   I_x(a,b) = x^a (1−x)^b / (a B(a,b)) · CF, modified Lentz; converges fast for
 *   x < (a+1)/(a+b+2).
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
];
const LN_SQRT_2PI = 0.9189385332046728;
const EPS = 1e-16;
const FPMIN = 1e-300;
const MAX_ITER = 100000;

/** ln Γ(x) for x > 0 (the log of the absolute value below 0.5). */
export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  if (x >= 10) return lnGammaStirling(x);
  const z = x - 1;
  let sum = LANCZOS[0] as number;
  for (let i = 1; i < LANCZOS.length; i++) sum += (LANCZOS[i] as number) / (z + i);
  const t = z + 7.5;
  return LN_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Stirling series with five correction terms: exact to rounding for x ≥ 10. */
function lnGammaStirling(x: number): number {
  return (x - 0.5) * Math.log(x) - x + LN_SQRT_2PI + stirlingCorrection(x);
}

function stirlingCorrection(x: number): number {
  const r = 1 / x;
  const r2 = r * r;
  return r * (1 / 12 + r2 * (-1 / 360 + r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188)))));
}

/** lnΓ(a+h) − lnΓ(a) for a > 0, h ≥ 0, accurate when a is large (no cancellation). */
export function lnGammaDelta(a: number, h: number): number {
  if (a < 10) return lnGamma(a + h) - lnGamma(a);
  return (a - 0.5) * Math.log1p(h / a) + h * Math.log(a + h) - h + (stirlingCorrection(a + h) - stirlingCorrection(a));
}

/** ln B(a, b) = lnΓ(a) + lnΓ(b) − lnΓ(a+b), the large argument handled by lnGammaDelta. */
export function lnBeta(a: number, b: number): number {
  const big = Math.max(a, b);
  const small = Math.min(a, b);
  return lnGamma(small) - lnGammaDelta(big, small);
}

/** Regularized upper incomplete gamma Q(a, x) = Γ(a, x)/Γ(a), a > 0. */
export function gammaQ(a: number, x: number): number {
  if (Number.isNaN(a) || Number.isNaN(x)) return Number.NaN;
  if (x <= 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  const logPrefactor = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    // P(a, x) = e^(−x) x^a / Γ(a+1) · Σ x^n / ((a+1)…(a+n))
    let ap = a;
    let term = 1 / a;
    let sum = term;
    for (let i = 0; i < MAX_ITER; i++) {
      ap += 1;
      term *= x / ap;
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * EPS) break;
    }
    return 1 - sum * Math.exp(logPrefactor);
  }
  let b = x + 1 - a;
  let c = 1 / FPMIN;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITER; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = b + an / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) break;
  }
  return Math.exp(logPrefactor) * h;
}

/** erfc(z) = Q(½, z²) for z ≥ 0; 2 − erfc(−z) below. Relative accuracy ~1e-15 far out. */
export function erfc(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  if (z < 0) return 2 - erfc(-z);
  return gammaQ(0.5, z * z);
}

/** The continued fraction of the incomplete beta (I_x(a,b) = prefactor/a · CF). */
export function betaContinuedFraction(a: number, b: number, x: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < FPMIN) d = FPMIN;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < MAX_ITER; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) break;
  }
  return h;
}

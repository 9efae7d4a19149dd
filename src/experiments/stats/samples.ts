/**
 * Per-variant samples as the statistics see them, built from the store's running totals.
 *
 * meanSampleOf(n, Σy, Σy²): mean ȳ = Σy/n and the sample variance (ddof = 1)
 *   s² = (Σy² − Σy·ȳ)/(n − 1), where the product Σy·ȳ is formed exactly (Dekker's
 *   two-product) so the subtraction rounds once: only the totals' own rounding remains.
 *   Negative results of rounding clamp to 0; n < 2 gives variance 0.
 * proportionAsMean: a binomial metric as a mean of 0/1 values: ȳ = c/n and
 *   s² = c(n − c)/(n(n − 1)), computed in that form (exact for 0/1 data).
 */

/** Binomial metric of one variant: users and converted users. */
export interface ProportionSample {
  n: number;
  conversions: number;
}

/** Continuous metric of one variant: users, mean and sample variance (ddof = 1; 0 when n < 2). */
export interface MeanSample {
  n: number;
  mean: number;
  variance: number;
}

const SPLITTER = 134217729; // 2^27 + 1

/** a·b as hi + lo exactly (Dekker / Veltkamp). */
function twoProduct(a: number, b: number): [number, number] {
  const p = a * b;
  const ca = SPLITTER * a;
  const ah = ca - (ca - a);
  const al = a - ah;
  const cb = SPLITTER * b;
  const bh = cb - (cb - b);
  const bl = b - bh;
  const err = al * bl - (p - ah * bh - al * bh - ah * bl);
  return [p, err];
}

/** A MeanSample from running totals (n users, Σy, Σy²), with a careful variance. */
export function meanSampleOf(n: number, sum: number, sumSquares: number): MeanSample {
  if (!(n > 0)) return { n: 0, mean: 0, variance: 0 };
  const mean = sum / n;
  if (n < 2) return { n, mean, variance: 0 };
  const [hi, lo] = twoProduct(sum, mean);
  if (!Number.isFinite(hi)) {
    const v = (sumSquares - sum * mean) / (n - 1);
    return { n, mean, variance: Math.max(v, 0) };
  }
  const ss = sumSquares - hi - lo;
  return { n, mean, variance: ss > 0 ? ss / (n - 1) : 0 };
}

/** A binomial sample as a mean of 0/1 values (variance with ddof = 1). */
export function proportionAsMean(p: ProportionSample): MeanSample {
  const { n, conversions: c } = p;
  if (!(n > 0)) return { n: 0, mean: 0, variance: 0 };
  const mean = c / n;
  if (n < 2) return { n, mean, variance: 0 };
  return { n, mean, variance: (c * (n - c)) / (n * (n - 1)) };
}

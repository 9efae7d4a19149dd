/**
 * The two-sample Mann–Whitney (Wilcoxon rank-sum) test with the Hodges–Lehmann shift and
 * its confidence interval, computing what R's
 * `wilcox.test(x, y, conf.int = TRUE, conf.level, alternative, exact, correct)` computes:
 *
 * - Exact: when `exact` is true, or 'auto' and both samples have fewer than 50 values, and
 *   there are no ties anywhere in the pooled sample. (`exact: true` beyond what the exact
 *   distribution can be computed accurately for, min(m, n) > 200 or m·n > 2e6, runs the
 *   normal approximation instead and says so in `method`; R would grind on.) The p-value comes from the exact
 *   distribution of U; the interval ends are order statistics of the m·n pairwise
 *   differences xᵢ − yⱼ at ranks picked by `qwilcox`; the estimate is their median.
 * - Normal otherwise: midranks for ties; variance m·n/12 · ((N + 1) − Σ(t³ − t) / (N(N − 1)))
 *   over tie groups of size t; continuity correction (when `correct`) of ±0.5 toward the
 *   null (two-sided: sign(U − mn/2)·0.5; 'greater': +0.5; 'less': −0.5). The interval ends
 *   are the shifts d where the standardised statistic of (x − d, y), recomputed with its
 *   own ties and the same correction, crosses the normal quantiles; the estimate is where
 *   that statistic without correction crosses 0. Both are found like R does, by Brent's
 *   method on [min x − max y, max x − min y] with tolerance `tolRoot` (R's tol.root, 1e-4).
 *   Each evaluation is an O(m + n) merge of the presorted samples.
 *
 * Deviations from R, for inputs where R gives no answer: NaN values are dropped (R drops NA);
 * infinite values are refused; when every pooled value is the same the p-value is 1 (R: NaN)
 * and when each sample is constant the interval collapses to the one difference (R: error).
 */
import { normalTails, qnorm } from './normal.js';
import { PairwiseDifferences } from './pairwise.js';
import { exactIsComputable, WilcoxonDistribution } from './wilcoxon-exact.js';
import { zeroin } from './zeroin.js';

export type Alternative = 'two-sided' | 'less' | 'greater';

export interface MannWhitneyOptions {
  /** Confidence level of the interval (default 0.95). */
  confidence?: number;
  /** 'greater': x is shifted to the right of y (default 'two-sided'). */
  alternative?: Alternative;
  /** Continuity correction in the normal approximation (default true). */
  correct?: boolean;
  /** 'auto' (default): exact when both samples have fewer than 50 values and nothing is tied. */
  exact?: boolean | 'auto';
  /** Absolute tolerance of the interval and estimate roots in the normal case (default 1e-4, R's). */
  tolRoot?: number;
}

export interface MannWhitneyResult {
  /** R's W: the rank sum of x minus n₁(n₁ + 1)/2, i.e. #(xᵢ > yⱼ) + ½ #(xᵢ = yⱼ). */
  u: number;
  pValue: number;
  /** The shift of x relative to y (Hodges–Lehmann: median of xᵢ − yⱼ; see the module comment for the normal case). */
  estimate: number;
  /** One-sided alternatives leave one end infinite. */
  confInt: [number, number];
  method: 'exact' | 'normal';
}

export function mannWhitney(x: readonly number[], y: readonly number[], opts: MannWhitneyOptions = {}): MannWhitneyResult {
  const confidence = opts.confidence ?? 0.95;
  const alternative = opts.alternative ?? 'two-sided';
  const correct = opts.correct ?? true;
  const tolRoot = opts.tolRoot ?? 1e-4;
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be between 0 and 1 (exclusive), got ${confidence}`);
  if (!(tolRoot > 0)) throw new RangeError(`tolRoot must be positive, got ${tolRoot}`);
  const xs = sortedSample(x, 'x');
  const ys = sortedSample(y, 'y');
  const m = xs.length;
  const n = ys.length;
  const alpha = 1 - confidence;

  const atZero = rankStatistics(xs, ys, 0);
  const u = atZero.rankSum - (m * (m + 1)) / 2;
  const exact = (opts.exact ?? 'auto') === 'auto' ? m < 50 && n < 50 : opts.exact === true;
  if (exact && exactIsComputable(m, n) && !hasTies(xs, ys)) return exactTest(xs, ys, u, alpha, alternative);

  const sigmaOf = (tieSum: number): number => Math.sqrt(((m * n) / 12) * (m + n + 1 - tieSum / ((m + n) * (m + n - 1))));
  const correctionOf = (dz: number, withCorrection: boolean): number => {
    if (!withCorrection) return 0;
    if (alternative === 'two-sided') return Math.sign(dz) * 0.5;
    return alternative === 'greater' ? 0.5 : -0.5;
  };

  const sigma = sigmaOf(atZero.tieSum);
  const centred = u - (m * n) / 2;
  let pValue: number;
  if (sigma === 0) {
    pValue = 1;
  } else {
    const z = (centred - correctionOf(centred, correct)) / sigma;
    const tails = normalTails(z);
    if (alternative === 'less') pValue = tails.lower;
    else if (alternative === 'greater') pValue = tails.upper;
    else pValue = 2 * Math.min(tails.lower, tails.upper);
  }

  const muMin = xs[0]! - ys[n - 1]!;
  const muMax = xs[m - 1]! - ys[0]!;
  if (muMin === muMax) {
    const only = muMin;
    const confInt: [number, number] = alternative === 'two-sided' ? [only, only] : alternative === 'greater' ? [only, Infinity] : [-Infinity, only];
    return { u, pValue, estimate: only, confInt, method: 'normal' };
  }

  const standardised = (d: number, withCorrection: boolean): number => {
    const at = rankStatistics(xs, ys, d);
    const dz = at.rankSum - (m * (m + 1)) / 2 - (m * n) / 2;
    return (dz - correctionOf(dz, withCorrection)) / sigmaOf(at.tieSum);
  };
  const wAtMin = standardised(muMin, correct);
  const wAtMax = standardised(muMax, correct);
  const root = (zq: number): number => {
    const fLower = wAtMin - zq;
    if (fLower <= 0) return muMin;
    const fUpper = wAtMax - zq;
    if (fUpper >= 0) return muMax;
    return zeroin((d) => standardised(d, correct) - zq, muMin, muMax, fLower, fUpper, tolRoot);
  };
  let confInt: [number, number];
  if (alternative === 'two-sided') confInt = [root(-qnorm(alpha / 2)), root(qnorm(alpha / 2))];
  else if (alternative === 'greater') confInt = [root(-qnorm(alpha)), Infinity];
  else confInt = [-Infinity, root(qnorm(alpha))];

  const estimate = zeroin((d) => standardised(d, false), muMin, muMax, standardised(muMin, false), standardised(muMax, false), tolRoot);
  return { u, pValue, estimate, confInt, method: 'normal' };
}

function exactTest(xs: Float64Array, ys: Float64Array, u: number, alpha: number, alternative: Alternative): MannWhitneyResult {
  const m = xs.length;
  const n = ys.length;
  const top = m * n;
  const dist = new WilcoxonDistribution(m, n);
  let pValue: number;
  if (alternative === 'greater') pValue = dist.upper(u);
  else if (alternative === 'less') pValue = dist.cdf(u);
  else pValue = Math.min(2 * (u > top / 2 ? dist.upper(u) : dist.cdf(u)), 1);

  const diffs = new PairwiseDifferences(xs, ys);
  const lowerRank = (level: number): number => Math.max(1, dist.quantile(level));
  let confInt: [number, number];
  if (alternative === 'two-sided') {
    const qu = lowerRank(alpha / 2);
    confInt = [diffs.kth(qu), diffs.kth(top - qu + 1)];
  } else if (alternative === 'greater') {
    confInt = [diffs.kth(lowerRank(alpha)), Infinity];
  } else {
    confInt = [-Infinity, diffs.kth(top - lowerRank(alpha) + 1)];
  }
  return { u, pValue, estimate: diffs.median(), confInt, method: 'exact' };
}

/** Rank sum of x − d in the pooled sample (midranks) and Σ(t³ − t) over its tie groups. */
function rankStatistics(xs: Float64Array, ys: Float64Array, d: number): { rankSum: number; tieSum: number } {
  const m = xs.length;
  const n = ys.length;
  let i = 0;
  let j = 0;
  let placed = 0;
  let rankSum = 0;
  let tieSum = 0;
  while (i < m || j < n) {
    const vx = i < m ? xs[i]! - d : Infinity;
    const vy = j < n ? ys[j]! : Infinity;
    const v = vx < vy ? vx : vy;
    let fromX = 0;
    while (i < m && xs[i]! - d === v) {
      fromX++;
      i++;
    }
    let fromY = 0;
    while (j < n && ys[j] === v) {
      fromY++;
      j++;
    }
    const t = fromX + fromY;
    rankSum += fromX * (placed + (t + 1) / 2);
    tieSum += t * t * t - t;
    placed += t;
  }
  return { rankSum, tieSum };
}

function hasTies(xs: Float64Array, ys: Float64Array): boolean {
  const pooled = new Float64Array(xs.length + ys.length);
  pooled.set(xs);
  pooled.set(ys, xs.length);
  pooled.sort();
  for (let k = 1; k < pooled.length; k++) if (pooled[k] === pooled[k - 1]) return true;
  return false;
}

function sortedSample(values: readonly number[], name: string): Float64Array {
  const kept = values.filter((v) => !Number.isNaN(v));
  for (const v of kept) {
    if (!Number.isFinite(v)) throw new RangeError(`Mann–Whitney: sample ${name} contains ${v}; only finite values can be ranked`);
  }
  if (kept.length === 0) throw new RangeError(`Mann–Whitney: sample ${name} has no values`);
  return Float64Array.from(kept).sort();
}

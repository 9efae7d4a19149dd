/**
 * CUPED (Deng, Xu, Kohavi & Walker 2013): subtract the part of the metric a pre-exposure
 * covariate x predicts, which shrinks the variance by the factor (1 − ρ²(x, y)) without
 * biasing the difference between arms (x is fixed before assignment).
 *
 * One θ over all groups pooled (the arms share it, so the adjustment cancels in
 * expectation): with N = Σnᵍ and the pooled totals,
 *   cov(x, y) = (Σxy − Σx·Σy/N)/(N − 1), var(x) = (Σx² − (Σx)²/N)/(N − 1), θ = cov/var
 *   (θ = 0 when var(x) = 0), x̄ = Σx/N.
 * Per group g, y′ = y − θ(x − x̄):
 *   mean′ = ȳᵍ − θ(x̄ᵍ − x̄), var′ = var(y) − 2θ·cov(x, y) + θ²·var(x) within the group
 *   (ddof = 1, clamped at 0).
 */

import type { MeanSample } from './samples.js';

/** Running totals of one group: users, Σy, Σy², Σx, Σx², Σxy. */
export interface CupedGroup {
  n: number;
  sumY: number;
  sumY2: number;
  sumX: number;
  sumX2: number;
  sumXY: number;
}

function centered(n: number, sumA: number, sumB: number, sumAB: number): number {
  return n > 1 ? (sumAB - (sumA * sumB) / n) / (n - 1) : 0;
}

/** The pooled θ and each group's adjusted mean and variance. */
export function cupedAdjust(groups: CupedGroup[]): { theta: number; samples: MeanSample[] } {
  const all = groups.reduce(
    (s, g) => ({
      n: s.n + g.n,
      sumY: s.sumY + g.sumY,
      sumY2: s.sumY2 + g.sumY2,
      sumX: s.sumX + g.sumX,
      sumX2: s.sumX2 + g.sumX2,
      sumXY: s.sumXY + g.sumXY,
    }),
    { n: 0, sumY: 0, sumY2: 0, sumX: 0, sumX2: 0, sumXY: 0 },
  );
  const varX = centered(all.n, all.sumX, all.sumX, all.sumX2);
  const covXY = centered(all.n, all.sumX, all.sumY, all.sumXY);
  const theta = varX > 0 ? covXY / varX : 0;
  const meanX = all.n > 0 ? all.sumX / all.n : 0;
  const samples = groups.map((g) => {
    if (!(g.n > 0)) return { n: 0, mean: 0, variance: 0 };
    const mean = g.sumY / g.n - theta * (g.sumX / g.n - meanX);
    const v =
      centered(g.n, g.sumY, g.sumY, g.sumY2) - 2 * theta * centered(g.n, g.sumX, g.sumY, g.sumXY) + theta * theta * centered(g.n, g.sumX, g.sumX, g.sumX2);
    return { n: g.n, mean, variance: Math.max(v, 0) };
  });
  return { theta, samples };
}

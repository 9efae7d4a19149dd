/**
 * Sample-ratio mismatch: are the users split as the weights say? A mismatch means the
 * assignment or the counting is broken (a redirect that loses users in one arm, a bot
 * filter that hits one variant), and then no comparison between the arms can be trusted.
 *
 * Pearson's chi-square goodness of fit, as scipy.stats.chisquare(observed, expected):
 *   Eᵢ = N·wᵢ/Σw, X² = Σ (Oᵢ − Eᵢ)²/Eᵢ, df = k − 1, p = Q((k−1)/2, X²/2).
 * An arm with weight 0 and no users is left out (it takes no part in the split); weight 0
 * with users is a certain mismatch (X² = ∞, p = 0). No users at all: X² = 0, p = 1.
 */

import { chiSquareSf } from './distributions.js';

/** Chi-square test of the observed users per arm against the configured weights. */
export function sampleRatioMismatch(observed: number[], weights: number[]): { statistic: number; df: number; pValue: number } {
  if (observed.length !== weights.length) throw new Error('sampleRatioMismatch: observed and weights differ in length');
  const arms = observed.map((o, i) => ({ o, w: weights[i] as number })).filter((a) => !(a.w === 0 && a.o === 0));
  const df = arms.length - 1;
  const total = arms.reduce((s, a) => s + a.o, 0);
  const weightSum = arms.reduce((s, a) => s + a.w, 0);
  if (df < 1 || total === 0) return { statistic: 0, df: Math.max(df, 0), pValue: 1 };
  let statistic = 0;
  for (const { o, w } of arms) {
    const e = (total * w) / weightSum;
    if (e === 0) return { statistic: Number.POSITIVE_INFINITY, df, pValue: 0 };
    statistic += ((o - e) * (o - e)) / e;
  }
  return { statistic, df, pValue: chiSquareSf(statistic, df) };
}

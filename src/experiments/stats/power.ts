/**
 * Sample size per variant for a two-sided test at level α with power 1 − β, the minimum
 * detectable effect given RELATIVE to the baseline (mde 0.1 = +10 %).
 *
 * Binomial (two proportions, Fleiss' normal approximation): p₁ = baseline,
 *   p₂ = baseline·(1 + mde), p̄ = (p₁ + p₂)/2, q = 1 − p,
 *   n = ⌈(z₁₋α/₂ √(2 p̄ q̄) + z₁₋β √(p₁q₁ + p₂q₂))² / (p₂ − p₁)²⌉.
 * Continuous (two means, common σ): δ = mean·mde,
 *   n = ⌈2σ² (z₁₋α/₂ + z₁₋β)² / δ²⌉.
 * The matching normal-approximation power at n (the far rejection tail neglected, so a
 * lower bound): Φ((|p₂ − p₁|√n − z₁₋α/₂ √(2p̄q̄)) / √(p₁q₁ + p₂q₂)), resp.
 * Φ(|δ|√n/(σ√2) − z₁₋α/₂).
 */

import { normalCdf, normalPpf } from './distributions.js';

export type SampleSizeOptions =
  | { baseline: number; mde: number; alpha?: number; power?: number; kind?: 'binomial' }
  | { kind: 'continuous'; mean: number; sd: number; mde: number; alpha?: number; power?: number };

/** Users per variant needed to detect the relative effect mde (see the header for the formulas). */
export function sampleSize(opts: SampleSizeOptions): number {
  const alpha = opts.alpha ?? 0.05;
  const power = opts.power ?? 0.8;
  const za = normalPpf(1 - alpha / 2);
  const zb = normalPpf(power);
  if (opts.kind === 'continuous') {
    const delta = opts.mean * opts.mde;
    return Math.ceil((2 * opts.sd * opts.sd * (za + zb) ** 2) / (delta * delta));
  }
  const p1 = opts.baseline;
  const p2 = p1 * (1 + opts.mde);
  const pbar = (p1 + p2) / 2;
  const num = za * Math.sqrt(2 * pbar * (1 - pbar)) + zb * Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2));
  return Math.ceil((num * num) / ((p2 - p1) * (p2 - p1)));
}

/** Normal-approximation power of the two-sided test at n users per variant (the lower bound above). */
export function powerAt(opts: SampleSizeOptions, n: number): number {
  const alpha = opts.alpha ?? 0.05;
  const za = normalPpf(1 - alpha / 2);
  if (opts.kind === 'continuous') {
    const delta = Math.abs(opts.mean * opts.mde);
    return normalCdf((delta * Math.sqrt(n)) / (opts.sd * Math.SQRT2) - za);
  }
  const p1 = opts.baseline;
  const p2 = p1 * (1 + opts.mde);
  const pbar = (p1 + p2) / 2;
  return normalCdf((Math.abs(p2 - p1) * Math.sqrt(n) - za * Math.sqrt(2 * pbar * (1 - pbar))) / Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2)));
}

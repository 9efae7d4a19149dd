/**
 * Holm–Bonferroni step-down adjustment: with m tests sorted p₍₁₎ ≤ … ≤ p₍ₘ₎,
 *   p̃₍ᵢ₎ = min(1, max_{j ≤ i} (m − j + 1)·p₍ⱼ₎).
 * Controls the family-wise error rate at α when every p̃ is compared with α, under any
 * dependence between the tests; uniformly more powerful than plain Bonferroni. The
 * adjusted values come back in the input order; a NaN p-value counts as 1.
 */

/** Holm-adjusted p-values (monotone in the raw ones, ≥ them, capped at 1), input order. */
export function holm(pValues: number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p: Number.isNaN(p) ? 1 : p, i })).sort((a, b) => a.p - b.p || a.i - b.i);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    out[i] = running;
  });
  return out;
}

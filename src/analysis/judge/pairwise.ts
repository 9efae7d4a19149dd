/**
 * Order statistics of the m·n pairwise differences xᵢ − yⱼ without materialising them.
 *
 * With x ascending and y descending, the differences form a matrix whose rows and columns
 * are both sorted (floating-point subtraction is monotone in each argument, so this holds
 * for the rounded values too). Selection keeps, per row, the range of columns still in
 * play, picks a random pivot among them, counts the differences below and at the pivot in
 * O(m + n) with a staircase walk, and discards the side that cannot hold the answer
 * (Monahan 1984, "Fast computation of the Hodges–Lehmann location estimator").
 * Expected O(log(m·n)) rounds, so O((m + n) log(m·n)) time and O(m + n) memory.
 */

/** Differences still in play below which the survivors are simply sorted. */
const DIRECT_LIMIT = 4096;

export class PairwiseDifferences {
  private readonly xs: Float64Array;
  /** y sorted descending, so that each row xᵢ − yⱼ ascends with j. */
  private readonly yd: Float64Array;
  readonly count: number;

  /** `xSorted` and `ySorted` ascending. */
  constructor(xSorted: ArrayLike<number>, ySorted: ArrayLike<number>) {
    this.xs = Float64Array.from(xSorted);
    this.yd = Float64Array.from(ySorted).reverse();
    this.count = this.xs.length * this.yd.length;
  }

  /** The k-th smallest difference, k = 1 … m·n (R's `sort(outer(x, y, "-"))[k]`). */
  kth(k: number): number {
    const m = this.xs.length;
    const n = this.yd.length;
    if (!Number.isInteger(k) || k < 1 || k > this.count) throw new RangeError(`pairwise difference rank ${k} is outside 1..${this.count}`);
    const lo = new Int32Array(m);
    const hi = new Int32Array(m).fill(n);
    const below = new Int32Array(m);
    const atOrBelow = new Int32Array(m);
    const random = seededRandom(0x9e3779b9 ^ this.count);
    for (;;) {
      let active = 0;
      let discardedLow = 0;
      for (let i = 0; i < m; i++) {
        active += hi[i]! - lo[i]!;
        discardedLow += lo[i]!;
      }
      const rank = k - discardedLow;
      if (active <= DIRECT_LIMIT) {
        const rest = new Float64Array(active);
        let at = 0;
        for (let i = 0; i < m; i++) for (let j = lo[i]!; j < hi[i]!; j++) rest[at++] = this.xs[i]! - this.yd[j]!;
        rest.sort();
        return rest[rank - 1]!;
      }
      let pick = Math.floor(random() * active);
      let pivot = NaN;
      for (let i = 0; i < m; i++) {
        const width = hi[i]! - lo[i]!;
        if (pick < width) {
          pivot = this.xs[i]! - this.yd[lo[i]! + pick]!;
          break;
        }
        pick -= width;
      }
      // Staircase: as the row value xᵢ grows, fewer columns stay below the pivot.
      let totalBelow = 0;
      let totalAtOrBelow = 0;
      let jBelow = 0;
      let jAtOrBelow = 0;
      for (let i = m - 1; i >= 0; i--) {
        const x = this.xs[i]!;
        while (jBelow < n && x - this.yd[jBelow]! < pivot) jBelow++;
        while (jAtOrBelow < n && x - this.yd[jAtOrBelow]! <= pivot) jAtOrBelow++;
        below[i] = jBelow;
        atOrBelow[i] = jAtOrBelow;
        totalBelow += jBelow;
        totalAtOrBelow += jAtOrBelow;
      }
      if (totalBelow < k && k <= totalAtOrBelow) return pivot;
      if (k <= totalBelow) {
        for (let i = 0; i < m; i++) if (below[i]! < hi[i]!) hi[i] = below[i]!;
      } else {
        for (let i = 0; i < m; i++) if (atOrBelow[i]! > lo[i]!) lo[i] = atOrBelow[i]!;
      }
    }
  }

  /** The median of all differences (R's `median(outer(x, y, "-"))`): the Hodges–Lehmann shift. */
  median(): number {
    const half = Math.floor(this.count / 2);
    if (this.count % 2 === 1) return this.kth(half + 1);
    return (this.kth(half) + this.kth(half + 1)) / 2;
  }
}

/** The Hodges–Lehmann estimate of the shift of x relative to y: the median of all xᵢ − yⱼ. */
export function hodgesLehmann(x: readonly number[], y: readonly number[]): number {
  const xs = Float64Array.from(x).sort();
  const ys = Float64Array.from(y).sort();
  return new PairwiseDifferences(xs, ys).median();
}

/** A small deterministic generator (mulberry32): the selection's pivots, never its result, depend on it. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The incremental arithmetic of an experiment's running totals (core/experiment.ts
 * MetricTotals), shared by both stores so they cannot drift apart. A user's state on one
 * metric is (y, x, reported): y their value (binomial 0 or 1, continuous the sum of their
 * conversions), x their CUPED covariate (0 until reported). Each change of a user's state
 * moves the totals of their variant by the difference of the old and new terms, so a total
 * is always the sum over users without ever scanning them.
 *
 * Sums are doubles with a Neumaier compensation term kept beside each (value + error is
 * the total): integer values (counts, cents) stay exact up to 2^53, and a long test whose
 * users' values change many times does not drift from a recomputation by the rounding of
 * every add and subtract.
 */

/** A compensated double: the total is `value + error`. */
export interface CompensatedSum {
  value: number;
  error: number;
}

/** One (metric, variant)'s running totals as stored; `users` comes from the variant's exposures. */
export interface StoredMetricTotals {
  converted: number;
  preReported: number;
  sum: CompensatedSum;
  sumSquares: CompensatedSum;
  preSum: CompensatedSum;
  preSumSquares: CompensatedSum;
  crossSum: CompensatedSum;
}

/** One user's state on one metric (a row of experiment_values). */
export interface UserMetricState {
  value: number;
  /** Conversions counted (binomial: the later ones change nothing else). */
  count: number;
  preValue: number;
  hasPre: boolean;
}

export const NO_USER_STATE: UserMetricState = { value: 0, count: 0, preValue: 0, hasPre: false };

export const zeroSum = (): CompensatedSum => ({ value: 0, error: 0 });

export const zeroMetricTotals = (): StoredMetricTotals => ({
  converted: 0,
  preReported: 0,
  sum: zeroSum(),
  sumSquares: zeroSum(),
  preSum: zeroSum(),
  preSumSquares: zeroSum(),
  crossSum: zeroSum(),
});

/** Neumaier's step: adds x to s in place, keeping the rounding error in s.error. */
export function addTo(s: CompensatedSum, x: number): void {
  const t = s.value + x;
  s.error += Math.abs(s.value) >= Math.abs(x) ? s.value - t + x : x - t + s.value;
  s.value = t;
}

/** The total a compensated sum stands for (never −0, which SQLite and JSON would not keep). */
export const totalOf = (s: CompensatedSum): number => s.value + s.error + 0;

/** Moves `totals` (in place) by one user's change from `before` to `after`. */
export function applyUserChange(totals: StoredMetricTotals, before: UserMetricState, after: UserMetricState): void {
  const { value: y0, preValue: x0 } = before;
  const { value: y1, preValue: x1 } = after;
  totals.converted += Number(y1 !== 0) - Number(y0 !== 0);
  totals.preReported += Number(after.hasPre) - Number(before.hasPre);
  if (y1 !== y0) {
    addTo(totals.sum, y1);
    addTo(totals.sum, -y0);
    addTo(totals.sumSquares, y1 * y1);
    addTo(totals.sumSquares, -(y0 * y0));
  }
  if (x1 !== x0) {
    addTo(totals.preSum, x1);
    addTo(totals.preSum, -x0);
    addTo(totals.preSumSquares, x1 * x1);
    addTo(totals.preSumSquares, -(x0 * x0));
  }
  if (x1 * y1 !== x0 * y0) {
    addTo(totals.crossSum, x1 * y1);
    addTo(totals.crossSum, -(x0 * y0));
  }
}

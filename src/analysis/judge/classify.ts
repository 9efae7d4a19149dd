/**
 * One metric of a Kayenta-style judgement: canary samples against baseline samples.
 *
 * Rules (alpha = 1 − confidence):
 * - NoData when either side has fewer than `minSamples` finite values (and never fewer than 1).
 * - The Mann–Whitney test (canary as x, baseline as y, two-sided) decides significance:
 *   nothing is High or Low unless p < alpha.
 * - The shift it is compared with depends on the sample kind:
 *   - latency: the Hodges–Lehmann shift and its Mann–Whitney interval. The interval's roots
 *     are found to 1e-9 of the data's span rather than R's absolute 1e-4, which would be
 *     10 % of a 1 ms shift measured in seconds.
 *   - error (0/1 per request): the difference in error rates with its normal (Wald)
 *     interval. The median of 0/1 values is 0 or 1, so the Hodges–Lehmann shift and its
 *     interval are 0 for any realistic error rates (R gives [−0.00003, 0.00005] for 5 %
 *     against 1 % over 500 requests, with p = 1e-6): useless as an effect size.
 * - The allowed shift is `tolerance` × |reference|, where the reference is the baseline's
 *   median latency or the baseline's error rate. High when the whole interval lies above
 *   +allowed, Low when it lies below −allowed, otherwise Pass. A reference of 0 (a baseline
 *   without a single error) allows no shift: any significant increase is High. An absolute
 *   tolerance in the metric's own unit was rejected for that case, since `tolerance: 0.1`
 *   would then let a canary go from 0 % to 9 % errors.
 * - `direction` says which classification fails the metric: increase → High, decrease →
 *   Low, either → both.
 */
import type { JudgeMetricConfig } from '../../core/analysis.js';
import { mannWhitney } from './mann-whitney.js';
import { qnorm } from './normal.js';

export type Classification = 'Pass' | 'High' | 'Low' | 'NoData';

export interface SampleSummary {
  n: number;
  /** null when there are no samples. */
  median: number | null;
  mean: number | null;
}

export interface MetricJudgement {
  name: string;
  classification: Classification;
  /** High or Low in the direction the metric forbids. */
  failed: boolean;
  /** The Mann–Whitney p-value; null for NoData. */
  pValue: number | null;
  /** The shift canary − baseline that was judged (see `effect`); null for NoData. */
  estimate: number | null;
  confInt: [number, number] | null;
  /** hodges-lehmann for latency, rate-difference for 0/1 error samples. */
  effect: 'hodges-lehmann' | 'rate-difference' | null;
  /** The largest shift, either way, that is still Pass; null for NoData. */
  allowedShift: number | null;
  canary: SampleSummary;
  baseline: SampleSummary;
  reason: string;
}

/** Judges one metric; `alpha` is 1 − the judge's confidence. */
export function classifyMetric(
  canarySamples: readonly number[],
  baselineSamples: readonly number[],
  metric: JudgeMetricConfig,
  alpha: number,
): MetricJudgement {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`judge metric ${metric.name}: alpha must be between 0 and 1 (exclusive), got ${alpha}`);
  const canaryValues = canarySamples.filter(Number.isFinite);
  const baselineValues = baselineSamples.filter(Number.isFinite);
  const canary = summarise(canaryValues);
  const baseline = summarise(baselineValues);
  const needed = Math.max(1, metric.minSamples);
  if (canary.n < needed || baseline.n < needed) {
    return {
      name: metric.name,
      classification: 'NoData',
      failed: false,
      pValue: null,
      estimate: null,
      confInt: null,
      effect: null,
      allowedShift: null,
      canary,
      baseline,
      reason: `${metric.name}: ${canary.n} canary and ${baseline.n} baseline samples; at least ${needed} needed on each side: NoData`,
    };
  }

  const span = max(canaryValues) - min(canaryValues) + (max(baselineValues) - min(baselineValues));
  const test = mannWhitney(canaryValues, baselineValues, {
    confidence: 1 - alpha,
    tolRoot: span > 0 ? span * 1e-9 : 1e-4,
  });
  const isError = metric.source === 'error';
  let estimate: number;
  let confInt: [number, number];
  let reference: number;
  if (isError) {
    const pc = canary.mean!;
    const pb = baseline.mean!;
    estimate = pc - pb;
    const halfWidth = -qnorm(alpha / 2) * Math.sqrt((pc * (1 - pc)) / canary.n + (pb * (1 - pb)) / baseline.n);
    confInt = [estimate - halfWidth, estimate + halfWidth];
    reference = pb;
  } else {
    estimate = test.estimate;
    confInt = test.confInt;
    reference = baseline.median!;
  }
  const allowedShift = metric.tolerance * Math.abs(reference);
  const significant = test.pValue < alpha;
  const classification: Classification = significant && confInt[0] > allowedShift ? 'High' : significant && confInt[1] < -allowedShift ? 'Low' : 'Pass';
  const failed = (classification === 'High' && metric.direction !== 'decrease') || (classification === 'Low' && metric.direction !== 'increase');

  const show = isError ? formatRate : formatSeconds;
  const showShift = isError ? formatPoints : formatSeconds;
  const sides = isError
    ? `canary error rate ${show(canary.mean!)} (${countOnes(canaryValues)}/${canary.n}) vs baseline ${show(baseline.mean!)} (${countOnes(baselineValues)}/${baseline.n})`
    : `canary median ${show(canary.median!)} vs baseline ${show(baseline.median!)}`;
  const decimals = decimalsFor(confInt, isError ? 100 : 1);
  const showEnd = (v: number): string => signed(v, (a) => (isError ? `${(a * 100).toFixed(decimals)} pp` : `${a.toFixed(decimals)}s`));
  const shift = `${isError ? 'difference' : 'shift'} ${showEnd(estimate)} [${showEnd(confInt[0])}, ${showEnd(confInt[1])}]`;
  const p = `${test.pValue === 0 ? 'p<1e-300' : `p=${formatP(test.pValue)}`} ${significant ? '<' : '≥'} ${formatP(alpha)}`;
  const tolerance = `the ${formatPercent(metric.tolerance)} tolerance (±${showShift(allowedShift)})`;
  let verdict: string;
  if (!significant) verdict = 'no significant shift: Pass';
  else if (classification === 'Pass') verdict = `within ${tolerance}: Pass`;
  else
    verdict = `${classification === 'High' ? 'above' : 'below'} ${tolerance}: ${classification}${failed ? '' : `, allowed by direction ${metric.direction}`}`;
  return {
    name: metric.name,
    classification,
    failed,
    pValue: test.pValue,
    estimate,
    confInt,
    effect: isError ? 'rate-difference' : 'hodges-lehmann',
    allowedShift,
    canary,
    baseline,
    reason: `${metric.name}: ${sides}, ${shift}, ${p}; ${verdict}`,
  };
}

function summarise(values: readonly number[]): SampleSummary {
  if (values.length === 0) return { n: 0, median: null, mean: null };
  const sorted = Float64Array.from(values).sort();
  const half = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[half]! : (sorted[half - 1]! + sorted[half]!) / 2;
  let sum = 0;
  for (const v of values) sum += v;
  return { n: values.length, median, mean: sum / values.length };
}

function min(values: readonly number[]): number {
  let least = Infinity;
  for (const v of values) if (v < least) least = v;
  return least;
}

function max(values: readonly number[]): number {
  let most = -Infinity;
  for (const v of values) if (v > most) most = v;
  return most;
}

function countOnes(values: readonly number[]): number {
  let count = 0;
  for (const v of values) if (v !== 0) count++;
  return count;
}

function threeDigits(v: number): string {
  return String(Number(v.toPrecision(3)));
}

function formatSeconds(v: number): string {
  return `${threeDigits(v)}s`;
}

function formatRate(v: number): string {
  return `${threeDigits(v * 100)} %`;
}

function formatPoints(v: number): string {
  return `${threeDigits(v * 100)} pp`;
}

function formatPercent(v: number): string {
  return `${threeDigits(v * 100)} %`;
}

/** Enough decimals to tell the interval's ends apart (two digits of its width). */
function decimalsFor(interval: [number, number], scale: number): number {
  const width = (interval[1] - interval[0]) * scale;
  if (!Number.isFinite(width) || width <= 0) return 3;
  return Math.min(12, Math.max(0, 1 - Math.floor(Math.log10(width))));
}

function signed(v: number, format: (v: number) => string): string {
  if (v === Infinity) return '+∞';
  if (v === -Infinity) return '−∞';
  return v > 0 ? `+${format(v)}` : v < 0 ? `-${format(-v)}` : format(0);
}

function formatP(p: number): string {
  return p < 1e-3 ? p.toExponential(1) : String(Number(p.toPrecision(2)));
}

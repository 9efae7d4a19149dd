/**
 * Kayenta's scoring over per-metric judgements:
 * - score = 100 × (weight of metrics that did not fail) / (weight of metrics with data);
 *   NoData metrics count in neither sum;
 * - a critical metric that fails makes the score 0 and the verdict Fail (a critical metric
 *   without data does not);
 * - no metric with data, or only metrics of weight 0: score null, verdict NoData;
 * - otherwise Pass when score ≥ thresholds.pass, Marginal when ≥ thresholds.marginal, else Fail.
 */
import type { JudgeMetricConfig, JudgeProviderConfig } from '../../core/analysis.js';
import { classifyMetric, type MetricJudgement } from './classify.js';

export type Verdict = 'Pass' | 'Marginal' | 'Fail' | 'NoData';

export interface JudgeResult {
  /** 0–100; null when no metric had data. */
  score: number | null;
  verdict: Verdict;
  metrics: MetricJudgement[];
  /** One line a human can read, naming the failed metrics. */
  reason: string;
}

/** Per metric name: the samples each side collected over the window. */
export type JudgeSamples = Record<string, { canary: readonly number[]; baseline: readonly number[] }>;

/** Judges every configured metric (a metric without samples is NoData) and scores the result. */
export function judge(samples: JudgeSamples, config: JudgeProviderConfig): JudgeResult {
  if (!(config.confidence > 0 && config.confidence < 1)) {
    throw new RangeError(`judge: confidence must be between 0 and 1 (exclusive), got ${config.confidence}`);
  }
  const alpha = 1 - config.confidence;
  const seen = new Set<string>();
  for (const metric of config.metrics) {
    if (seen.has(metric.name)) throw new RangeError(`judge: metric ${metric.name} is listed twice`);
    seen.add(metric.name);
  }
  const judgements = config.metrics.map((metric) => {
    const sides = Object.hasOwn(samples, metric.name) ? samples[metric.name]! : { canary: [], baseline: [] };
    return classifyMetric(sides.canary, sides.baseline, metric, alpha);
  });
  return scoreJudgements(judgements, config.metrics, config.thresholds);
}

/** Scores judgements made for `metrics` (matched by name, for weight and criticality). */
export function scoreJudgements(
  judgements: MetricJudgement[],
  metrics: readonly JudgeMetricConfig[],
  thresholds: JudgeProviderConfig['thresholds'],
): JudgeResult {
  const configOf = new Map(metrics.map((m) => [m.name, m]));
  let withData = 0;
  let passed = 0;
  const failedNames: string[] = [];
  const criticalFailures: string[] = [];
  for (const j of judgements) {
    const config = configOf.get(j.name);
    if (config === undefined) throw new RangeError(`judge: no configuration for metric ${j.name}`);
    if (!(config.weight >= 0 && Number.isFinite(config.weight))) {
      throw new RangeError(`judge metric ${j.name}: weight must be a finite number ≥ 0, got ${config.weight}`);
    }
    if (j.classification === 'NoData') continue;
    withData += config.weight;
    if (j.failed) {
      failedNames.push(j.name);
      if (config.critical) criticalFailures.push(j.name);
    } else {
      passed += config.weight;
    }
  }
  if (criticalFailures.length > 0) {
    return {
      score: 0,
      verdict: 'Fail',
      metrics: judgements,
      reason: `critical metric${criticalFailures.length > 1 ? 's' : ''} ${criticalFailures.join(', ')} failed: score 0, Fail`,
    };
  }
  if (withData === 0) {
    const why = judgements.some((j) => j.classification !== 'NoData') ? 'only metrics of weight 0 had data' : 'no metric had enough samples';
    return { score: null, verdict: 'NoData', metrics: judgements, reason: `${why}: NoData` };
  }
  const score = (100 * passed) / withData;
  const verdict: Verdict = score >= thresholds.pass ? 'Pass' : score >= thresholds.marginal ? 'Marginal' : 'Fail';
  const shown = Number(score.toFixed(1));
  const comparison =
    verdict === 'Pass'
      ? `≥ pass ${thresholds.pass}`
      : verdict === 'Marginal'
        ? `< pass ${thresholds.pass}, ≥ marginal ${thresholds.marginal}`
        : `< marginal ${thresholds.marginal}`;
  const failedPart = failedNames.length > 0 ? `; failed: ${failedNames.join(', ')}` : '';
  return {
    score,
    verdict,
    metrics: judgements,
    reason: `score ${shown} (weight ${passed} of ${withData} passed${failedPart}) ${comparison}: ${verdict}`,
  };
}

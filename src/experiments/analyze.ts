/**
 * An experiment's report from the store's running totals and the router's guardrail
 * readings: per variant and metric the rate or mean, each treatment against the control
 * (fixed-horizon and always-valid), Holm over the treatments of each metric, the
 * sample-ratio check, guardrails and the recommendation. Pure: no I/O, no clock (the caller
 * passes `now`), so it is the same in the control plane, the CLI and tests.
 */
import type {
  Comparison,
  ExperimentReport,
  ExperimentSpec,
  ExperimentTotals,
  GuardrailReport,
  MetricReport,
  MetricSpec,
  MetricTotals,
} from '../core/experiment.js';
import { recommend } from './recommend.js';
import {
  cupedAdjust,
  holm,
  meanSampleOf,
  proportionAsMean,
  sampleRatioMismatch,
  sequentialTest,
  twoProportionZTest,
  welchTTest,
  type MeanSample,
} from './stats/index.js';

/** Users per variant with a reported pre-exposure value before CUPED is used. */
export const CUPED_MIN_USERS = 100;

export interface Arm {
  variant: string;
  revision: number;
  /** 0..100. */
  weight: number;
}

/** The router's own measurements of one variant since the test started (guardrails). */
export interface GuardrailReading {
  variant: string;
  requests: number;
  errorRate: number;
  p95LatencyMs: number | null;
}

export interface AnalysisInput {
  rollout: string;
  experiment: string;
  now: number;
  spec: ExperimentSpec;
  /** The control first, as in the spec's variants. */
  arms: Arm[];
  totals: ExperimentTotals;
  guardrails: GuardrailReading[];
  /** Converted users per variant of Prometheus metrics, by metric name (absent: not read). */
  prometheus?: Record<string, Record<string, number>>;
}

export function analyzeExperiment(input: AnalysisInput): ExperimentReport {
  const { spec, arms, totals } = input;
  const usersOf = (variant: string) => totals.variants.find((v) => v.variant === variant)?.users ?? 0;
  const totalUsers = arms.reduce((n, a) => n + usersOf(a.variant), 0);
  const starts = totals.variants.map((v) => v.firstExposureAt).filter((t): t is number => t !== null);
  const startedAt = starts.length > 0 ? Math.min(...starts) : null;

  const live = arms.filter((a) => a.weight > 0);
  const srmTest =
    live.length >= 2 && totalUsers > 0
      ? sampleRatioMismatch(
          live.map((a) => usersOf(a.variant)),
          live.map((a) => a.weight),
        )
      : { statistic: 0, df: Math.max(live.length - 1, 0), pValue: 1 };
  const srm = { ...srmTest, mismatch: srmTest.pValue < spec.conclusion.srmAlpha };

  const metrics = spec.metrics.map((m) => metricReport(m, input, usersOf));
  const guardrails = guardrailReports(input);
  const report: Omit<ExperimentReport, 'recommendation'> = {
    rollout: input.rollout,
    experiment: input.experiment,
    at: input.now,
    startedAt,
    variants: arms.map((a) => ({
      variant: a.variant,
      revision: a.revision,
      weight: a.weight,
      users: usersOf(a.variant),
      share: totalUsers > 0 ? usersOf(a.variant) / totalUsers : 0,
    })),
    srm,
    metrics,
    guardrails,
    ignored: totals.ignored,
  };
  return { ...report, recommendation: recommend(report, spec, input.now) };
}

function metricReport(m: MetricSpec, input: AnalysisInput, usersOf: (v: string) => number): MetricReport {
  const { arms, totals, spec } = input;
  const rows = arms.map((a) => {
    const t = totals.metrics.find((x) => x.metric === m.name && x.variant === a.variant);
    const users = usersOf(a.variant);
    return { arm: a, users, t: t ?? zeroTotals(m.name, a.variant, users) };
  });
  // Prometheus counts replace the store's for that metric (binomial only).
  const promCounts = m.prometheus ? input.prometheus?.[m.name] : undefined;
  const samples: MeanSample[] = rows.map(({ arm, users, t }) => {
    if (m.kind === 'binomial') {
      const conversions = Math.min(users, promCounts ? Math.max(0, Math.round(promCounts[arm.variant] ?? 0)) : t.converted);
      return proportionAsMean({ n: users, conversions });
    }
    return meanSampleOf(users, t.sum, t.sumSquares);
  });
  const cuped = m.kind === 'continuous' && rows.every(({ t }) => t.preReported >= CUPED_MIN_USERS);
  const tested = cuped
    ? cupedAdjust(rows.map(({ users, t }) => ({ n: users, sumY: t.sum, sumY2: t.sumSquares, sumX: t.preSum, sumX2: t.preSumSquares, sumXY: t.crossSum })))
        .samples
    : samples;
  const control = rows[0]!;
  const raw: Omit<Comparison, 'adjustedPValue'>[] = rows.slice(1).map(({ arm, users }, i) => {
    const c = tested[0]!;
    const x = tested[i + 1]!;
    const fixed =
      m.kind === 'binomial' && !cuped
        ? twoProportionZTest(
            { n: control.users, conversions: conversionsOf(samples[0]!) },
            { n: users, conversions: conversionsOf(samples[i + 1]!) },
            spec.conclusion.alpha,
          )
        : welchTTest(c, x, spec.conclusion.alpha);
    const seq = sequentialTest(c, x, { alpha: spec.conclusion.alpha, tuning: spec.conclusion.sequentialTuning });
    return {
      variant: arm.variant,
      absolute: fixed.absolute,
      relative: fixed.relative,
      fixed: { statistic: fixed.statistic, pValue: fixed.pValue, ...(fixed.df !== undefined ? { df: fixed.df } : {}) },
      sequential: seq,
      cuped,
    };
  });
  const adjusted = holm(raw.map((c) => c.sequential.pValue));
  return {
    name: m.name,
    kind: m.kind,
    direction: m.direction,
    primary: m.primary,
    variants: rows.map(({ arm, users, t }, i) => ({
      variant: arm.variant,
      users,
      converted: m.kind === 'binomial' ? conversionsOf(samples[i]!) : t.converted,
      mean: samples[i]!.mean,
      sd: Math.sqrt(samples[i]!.variance),
    })),
    comparisons: raw.map((c, i) => ({ ...c, adjustedPValue: adjusted[i]! })),
  };
}

/** A binomial sample's conversions back from its mean (exact: mean = conversions / n). */
function conversionsOf(s: MeanSample): number {
  return Math.round(s.mean * s.n);
}

function zeroTotals(metric: string, variant: string, users: number): MetricTotals {
  return { metric, variant, users, converted: 0, sum: 0, sumSquares: 0, preReported: 0, preSum: 0, preSumSquares: 0, crossSum: 0 };
}

/**
 * A treatment crosses a guardrail when it has served enough requests and is over the limit
 * and worse than the control (a limit both break is the app's, not the variant's, problem).
 */
function guardrailReports(input: AnalysisInput): GuardrailReport[] {
  const g = input.spec.guardrails;
  const control = input.guardrails.find((r) => r.variant === input.arms[0]?.variant);
  return input.arms.map((a, i) => {
    const r = input.guardrails.find((x) => x.variant === a.variant) ?? { variant: a.variant, requests: 0, errorRate: 0, p95LatencyMs: null };
    const base: GuardrailReport = { variant: a.variant, requests: r.requests, errorRate: r.errorRate, p95LatencyMs: r.p95LatencyMs };
    if (i === 0 || r.requests < g.minRequests) return base;
    if (g.maxErrorRate !== undefined && r.errorRate > g.maxErrorRate && r.errorRate > (control?.errorRate ?? 0)) {
      return {
        ...base,
        violated: `error rate ${pct(r.errorRate)} over ${r.requests} requests is above the ${pct(g.maxErrorRate)} guardrail (control ${pct(control?.errorRate ?? 0)})`,
      };
    }
    if (g.maxP95LatencyMs !== undefined && r.p95LatencyMs !== null && r.p95LatencyMs > g.maxP95LatencyMs && r.p95LatencyMs > (control?.p95LatencyMs ?? 0)) {
      return {
        ...base,
        violated: `p95 latency ${Math.round(r.p95LatencyMs)} ms is above the ${g.maxP95LatencyMs} ms guardrail (control ${control?.p95LatencyMs === null || control === undefined ? 'n/a' : `${Math.round(control.p95LatencyMs)} ms`})`,
      };
    }
    return base;
  });
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(2)} %`;
}

/**
 * The Kayenta-style judge over the router's raw per-request samples: for each configured
 * metric, the canary's samples against the stable revision's (the baseline) over the same
 * window (`windowSeconds` back from now, never before the run started; at most the
 * JUDGE_MAX_SAMPLES most recent requests per side), scored by src/analysis/judge.
 * `result` is the score, 0..100; a NoData verdict (too few samples) is Inconclusive.
 */
import { judge, type JudgeSamples } from '../judge/score.js';
import type { JudgeProviderConfig, MeasurementContext, MetricProvider, ProviderResult } from '../../core/analysis.js';
import { windowStart } from '../window.js';
import { MeasurementError } from './web.js';
import type { TrafficWindows } from '../../core/traffic-router.js';

/** Per side; enough for a sharp Mann–Whitney interval, small enough to fetch every interval. */
export const JUDGE_MAX_SAMPLES = 5000;

export class JudgeProvider implements MetricProvider<JudgeProviderConfig> {
  readonly kind = 'judge' as const;

  constructor(private readonly windows: TrafficWindows) {}

  async measure(config: JudgeProviderConfig, ctx: MeasurementContext, signal: AbortSignal): Promise<ProviderResult> {
    if (ctx.stableRevision === null) {
      throw new MeasurementError(`judge: ${ctx.rollout} has no stable revision to compare the canary with (first release); use builtin metrics instead`);
    }
    const sinceMs = windowStart(ctx.now, config.windowSeconds, ctx.runStartedAt);
    const [canary, baseline] = await Promise.all([
      this.windows.samples(ctx.rollout, ctx.canaryRevision, sinceMs, JUDGE_MAX_SAMPLES),
      this.windows.samples(ctx.rollout, ctx.stableRevision, sinceMs, JUDGE_MAX_SAMPLES),
    ]);
    signal.throwIfAborted();
    const input: JudgeSamples = {};
    for (const m of config.metrics) {
      input[m.name] =
        m.source === 'latency' ? { canary: canary.latencies, baseline: baseline.latencies } : { canary: canary.errors, baseline: baseline.errors };
    }
    const r = judge(input, config);
    const details: Record<string, unknown> = {
      verdict: r.verdict,
      reason: r.reason,
      metrics: r.metrics,
      canaryRevision: ctx.canaryRevision,
      stableRevision: ctx.stableRevision,
      samples: { canary: canary.latencies.length, baseline: baseline.latencies.length },
      window: Math.round(ctx.now - sinceMs) / 1000,
    };
    if (r.verdict === 'NoData' || r.score === null) return { value: null, details: { ...details, inconclusive: true } };
    return { value: r.score, details };
  }
}

/**
 * Builtin metrics: the router's own measurements of one revision over a sliding window
 * (`windowSeconds` back from now, never before the run started), read from its admin API
 * (GET /window), so analysis needs no Prometheus and sees traffic within seconds.
 *
 * What conditions see as `result`:
 * - request-rate: requests per second over the window the router actually covered;
 *   requests: the count; error-rate: the 5xx share (the router's own 502/503/504 count),
 *   0..1; success-rate: the non-5xx share, 0..1; latency-p50/p90/p95/p99: seconds, exact
 *   over the requests (linear interpolation between closest ranks, like numpy);
 *   mismatch-rate: of the revision's mirrored copies (it is a shadow, MirrorRoute) whose
 *   answer was compared with the primary's, the share that differed, 0..1; its volume is
 *   the number of copies compared (`minRequests` applies to that, not to requests).
 * - With `compare`, the canary against the stable revision over the same window (whatever
 *   `revision` says): difference = canary − stable, ratio = canary / stable. A ratio over
 *   a stable value of 0 is 1 when the canary is 0 too, else Infinity (a canary that errs
 *   where stable never does is infinitely worse, and `result < 2` must fail).
 * - Rates and latencies of fewer than `minRequests` requests (on either side when
 *   comparing) are not a measurement: `{value: null, details.inconclusive}`. Counts
 *   (requests, request-rate) are measured at any volume, since no traffic is itself the
 *   finding there.
 */
import type { BuiltinMetric, BuiltinProviderConfig, MeasurementContext, MetricProvider, ProviderResult } from '../../core/analysis.js';
import { windowStart } from '../window.js';
import { MeasurementError } from './web.js';
import type { TrafficWindows, WindowStats } from '../../core/traffic-router.js';

export class BuiltinProvider implements MetricProvider<BuiltinProviderConfig> {
  readonly kind = 'builtin' as const;

  constructor(private readonly windows: TrafficWindows) {}

  async measure(config: BuiltinProviderConfig, ctx: MeasurementContext, signal: AbortSignal): Promise<ProviderResult> {
    const minRequests = config.minRequests;
    const sinceMs = windowStart(ctx.now, config.windowSeconds, ctx.runStartedAt);
    const gated = config.metric !== 'requests' && config.metric !== 'request-rate';

    if (config.compare === undefined) {
      const revision = config.revision === 'stable' ? ctx.stableRevision : ctx.canaryRevision;
      if (revision === null)
        throw new MeasurementError(
          `builtin metric ${config.metric}: no stable revision to measure (${ctx.rollout} has none before this release); measure revision: canary`,
        );
      const w = await this.windows.window(ctx.rollout, revision, sinceMs);
      signal.throwIfAborted();
      const details = baseDetails(w);
      if (config.metric === 'mismatch-rate') {
        const compared = w.compared ?? 0;
        details.compared = compared;
        details.mismatches = w.mismatches ?? 0;
        if (compared < minRequests) return inconclusive(details, `only ${compared} mirrored copies compared in the window (need ${minRequests})`);
      }
      if (gated && w.requests < minRequests) return inconclusive(details, `only ${w.requests} requests in the window (need ${minRequests})`);
      const value = metricOf(w, config.metric);
      if (value === null) return inconclusive(details, 'no requests in the window');
      return { value, details };
    }

    if (ctx.stableRevision === null) {
      throw new MeasurementError(
        `builtin metric ${config.metric} (compare: ${config.compare}): no stable revision to measure (${ctx.rollout} has none before this release); drop compare`,
      );
    }
    const [c, s] = await Promise.all([
      this.windows.window(ctx.rollout, ctx.canaryRevision, sinceMs),
      this.windows.window(ctx.rollout, ctx.stableRevision, sinceMs),
    ]);
    signal.throwIfAborted();
    const details: Record<string, unknown> = { ...baseDetails(c), stableRevision: s.revision, stableRequests: s.requests };
    if (s.truncated) details.truncated = true;
    if (config.metric === 'mismatch-rate') {
      const short = [c, s].find((w) => (w.compared ?? 0) < minRequests);
      if (short !== undefined) {
        const side = short === c ? 'canary' : 'stable';
        return inconclusive(
          details,
          `only ${short.compared ?? 0} mirrored copies compared in the window (need ${minRequests}) on the ${side} revision ${short.revision}`,
        );
      }
    }
    if (gated) {
      const short = [c, s].find((w) => w.requests < minRequests);
      if (short !== undefined) {
        const side = short === c ? 'canary' : 'stable';
        return inconclusive(details, `only ${short.requests} requests in the window (need ${minRequests}) on the ${side} revision ${short.revision}`);
      }
    }
    const canary = metricOf(c, config.metric);
    const stable = metricOf(s, config.metric);
    details.canary = canary;
    details.stable = stable;
    if (canary === null || stable === null) return inconclusive(details, `no requests in the window on the ${canary === null ? 'canary' : 'stable'} revision`);
    const value = config.compare === 'difference' ? canary - stable : stable === 0 ? (canary === 0 ? 1 : Infinity) : canary / stable;
    return { value, details };
  }
}

function metricOf(w: WindowStats, metric: BuiltinMetric): number | null {
  switch (metric) {
    case 'request-rate':
      return w.requestRate;
    case 'requests':
      return w.requests;
    case 'error-rate':
      return w.requests > 0 ? w.errorRate : null;
    case 'success-rate':
      return w.requests > 0 ? w.successRate : null;
    case 'latency-p50':
      return w.latency.p50;
    case 'latency-p90':
      return w.latency.p90;
    case 'latency-p95':
      return w.latency.p95;
    case 'latency-p99':
      return w.latency.p99;
    case 'mismatch-rate':
      return (w.compared ?? 0) > 0 ? w.mismatchRate : null;
    default:
      throw new MeasurementError(
        `builtin metric ${metric as string}: unknown; use request-rate, requests, error-rate, success-rate, latency-p50/p90/p95/p99 or mismatch-rate`,
      );
  }
}

/** `window` is the span the router covered, in seconds (shorter than asked early in a run). */
function baseDetails(w: WindowStats): Record<string, unknown> {
  const d: Record<string, unknown> = { revision: w.revision, requests: w.requests, window: Math.round(w.to - w.from) / 1000 };
  if (w.truncated) d.truncated = true;
  return d;
}

function inconclusive(details: Record<string, unknown>, reason: string): ProviderResult {
  return { value: null, details: { ...details, inconclusive: true, reason } };
}

import type { PostDeployWatch } from '../core/analysis.js';
export const DEFAULT_WATCH: PostDeployWatch = {
  interval: 10,
  duration: 300,
  minRequests: 20,
  immediate: { errorRate: 0.1, p95: 5 },
  average: { errorRate: 0.02, p95: 1 },
  badSample: { errorRate: 0.05, maxShare: 0.2 },
};

export interface WatchSample {
  at: number;
  requests: number;
  errorRate: number;
  /** seconds; null with no requests */
  p95: number | null;
}

export type WatchVerdict = { phase: 'Running' | 'Successful' | 'Failed' | 'Inconclusive'; message: string };

/** Pure: the verdict from the samples so far; `over` once the duration has passed. */
export function judgeWatch(w: PostDeployWatch, samples: WatchSample[], over: boolean): WatchVerdict {
  const usable = samples.filter((s) => s.requests >= w.minRequests);
  const last = usable.at(-1);
  if (last && last.errorRate > w.immediate.errorRate) {
    return {
      phase: 'Failed',
      message: `error rate ${pct(last.errorRate)} in one sample is over the immediate rollback threshold ${pct(w.immediate.errorRate)}`,
    };
  }
  if (last && last.p95 !== null && last.p95 > w.immediate.p95) {
    return { phase: 'Failed', message: `p95 ${last.p95.toFixed(3)}s in one sample is over the immediate rollback threshold ${w.immediate.p95}s` };
  }
  const summary = `${usable.length} sample(s) of ${samples.length} with ≥ ${w.minRequests} requests`;
  if (!over) return { phase: 'Running', message: `watching: ${summary}` };
  if (usable.length === 0) return { phase: 'Inconclusive', message: `no sample had ${w.minRequests} requests in ${w.duration}s — not enough traffic to judge` };
  const avgError = usable.reduce((t, s) => t + s.errorRate, 0) / usable.length;
  const p95s = usable.filter((s) => s.p95 !== null).map((s) => s.p95 as number);
  const avgP95 = p95s.length ? p95s.reduce((t, v) => t + v, 0) / p95s.length : 0;
  const badShare = usable.filter((s) => s.errorRate > w.badSample.errorRate).length / usable.length;
  const problems = [
    avgError >= w.average.errorRate && `average error rate ${pct(avgError)} ≥ ${pct(w.average.errorRate)}`,
    avgP95 >= w.average.p95 && `average p95 ${avgP95.toFixed(3)}s ≥ ${w.average.p95}s`,
    badShare >= w.badSample.maxShare && `${pct(badShare)} of samples had error rate > ${pct(w.badSample.errorRate)} (limit ${pct(w.badSample.maxShare)})`,
  ].filter(Boolean);
  if (problems.length > 0) return { phase: 'Failed', message: `${problems.join('; ')} (${summary})` };
  return { phase: 'Successful', message: `average error rate ${pct(avgError)}, average p95 ${avgP95.toFixed(3)}s, ${pct(badShare)} bad samples (${summary})` };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.1 ? 2 : 1)} %`;
}

/**
 * What the builtin and judge providers read: a data plane's own per-revision measurements
 * over a sliding window. HttpTrafficRouter (the builtin router's admin client) implements
 * it; tests can hand in anything with the same shape.
 */
import type { RevisionSampleList, WindowStats } from '../router/admin-protocol.js';

export type { RevisionSampleList, WindowStats };

export interface TrafficWindows {
  /** Aggregates over the requests of one revision that ended at or after sinceMs (epoch ms). */
  window(rollout: string, revision: number, sinceMs: number): Promise<WindowStats>;
  /** The most recent per-request samples (at most `max`) of one revision since sinceMs. */
  samples(rollout: string, revision: number, sinceMs: number, max?: number): Promise<RevisionSampleList>;
}

/** The start of a provider's window: windowSeconds back from now, never before the run started. */
export function windowStart(now: number, windowSeconds: number, runStartedAt: number): number {
  return Math.max(now - windowSeconds * 1000, runStartedAt);
}

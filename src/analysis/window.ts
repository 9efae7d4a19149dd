/** The start of a provider's window: windowSeconds back from now, never before the run started. */
export function windowStart(now: number, windowSeconds: number, runStartedAt: number): number {
  return Math.max(now - windowSeconds * 1000, runStartedAt);
}

/**
 * Restart delays for a crashing instance, as Kubernetes does it: 1s, 2s, 4s ... capped
 * at 30s, and back to 1s once a process has stayed up for 60s.
 */
export class RestartBackoff {
  private crashes = 0;

  constructor(
    private readonly initialMs = 1000,
    private readonly maxMs = 30_000,
    private readonly resetAfterMs = 60_000,
  ) {}

  /** The delay before the next restart of a process that was up for `upForMs`. */
  next(upForMs: number): number {
    if (upForMs >= this.resetAfterMs) this.crashes = 0;
    const delay = Math.min(this.initialMs * 2 ** this.crashes, this.maxMs);
    this.crashes++;
    return delay;
  }
}

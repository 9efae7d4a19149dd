import type { Probe } from '../../core/spec.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { ProbeAction } from './probe-actions.js';

/**
 * What a probe currently says. Every probe starts `unknown`; the consumer decides what
 * that means (not ready for readiness and startup, alive for liveness), as Kubernetes does.
 */
export type ProbeState = 'unknown' | 'success' | 'failure';

export interface ProberOptions {
  probe: Probe;
  action: ProbeAction;
  clock?: Clock;
  /** Called when the state flips: successThreshold successes, or failureThreshold failures, in a row. */
  onTransition: (state: ProbeState) => void;
  /**
   * When the process being probed started (ms); initialDelaySeconds counts from it, so an
   * adopted process that has been up for a while is probed at once. Defaults to now.
   */
  since?: number;
}

/**
 * Runs one Probe with Kubernetes semantics: the first attempt after initialDelaySeconds,
 * then one every periodSeconds (measured start to start; an attempt that overruns delays
 * the next, never overlaps it), each bounded by timeoutSeconds. Fractional seconds work.
 */
export class Prober {
  private stateValue: ProbeState = 'unknown';
  private successes = 0;
  private failures = 0;
  private timer?: { cancel(): void };
  private running = false;
  private readonly clock: Clock;

  constructor(private readonly options: ProberOptions) {
    this.clock = options.clock ?? systemClock;
  }

  get state(): ProbeState {
    return this.stateValue;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const since = this.options.since ?? this.clock.now();
    const delay = Math.max(0, since + this.options.probe.initialDelaySeconds * 1000 - this.clock.now());
    this.schedule(delay);
  }

  /** No further attempts; the result of one in flight is ignored. */
  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    this.timer = this.clock.setTimeout(() => void this.attempt(), delayMs);
  }

  private async attempt(): Promise<void> {
    this.timer = undefined;
    if (!this.running) return;
    const { probe, action } = this.options;
    const startedAt = this.clock.now();
    let ok: boolean;
    try {
      ok = await action(Math.max(1, probe.timeoutSeconds * 1000));
    } catch {
      ok = false;
    }
    if (!this.running) return;
    this.record(ok);
    if (!this.running) return;
    this.schedule(Math.max(0, startedAt + probe.periodSeconds * 1000 - this.clock.now()));
  }

  private record(ok: boolean): void {
    const { successThreshold, failureThreshold } = this.options.probe;
    if (ok) {
      this.successes++;
      this.failures = 0;
      if (this.stateValue !== 'success' && this.successes >= Math.max(1, successThreshold)) this.transition('success');
    } else {
      this.failures++;
      this.successes = 0;
      if (this.stateValue !== 'failure' && this.failures >= Math.max(1, failureThreshold)) this.transition('failure');
    }
  }

  private transition(state: ProbeState): void {
    this.stateValue = state;
    this.options.onTransition(state);
  }
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, the algorithm of client-go's
 * tools/leaderelection, so that of the controller's replicas exactly one reconciles:
 *
 * - A candidate takes the Lease when it is absent, released (holderIdentity empty), or expired.
 *   Expired is judged on OUR clock, never by comparing clocks: the candidate notes when it
 *   first observed the current record (any change of the record restarts that), and the
 *   record is expired once `leaseDurationSeconds` (the record's) have passed since then
 *   without it changing.
 * - Every write is a PUT carrying the resourceVersion read (optimistic concurrency): a 409
 *   Conflict means another candidate wrote first, and the next attempt reads again.
 * - The leader renews every `retryPeriodMs`. When no renewal has succeeded for
 *   `renewDeadlineMs` (counted from the START of the last successful attempt, which is
 *   before the API server stored it), it stops leading at once — before any other candidate
 *   can consider the lease expired, since `renewDeadlineMs < leaseDurationMs`.
 * - Seeing another holder in the record while leading means leadership was lost: at once.
 * - `stop()` releases the lease like client-go's ReleaseOnCancel (holderIdentity empty,
 *   leaseDurationSeconds 1), so the other replica takes over at its next attempt.
 *
 * `run()` resolves when this elector has stopped leading (lost or stopped) or was stopped
 * while waiting; call it again to stand again (client-go's callers usually exit instead).
 */
import { UserError } from '../util/errors.js';
import { KubeApiError, type KubeClient, type KubeObject, type Resource } from './client.js';

export const LEASES: Resource = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases' };

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** MicroTime: RFC 3339 with microseconds. */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

/** What the elector needs of a clock (src/core/clock.ts's Clock fits; tests pass a fake). */
export interface ElectionClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

const systemClock: ElectionClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** The verbs used: a KubeClient, or an in-memory fake in tests. */
export type LeaseClient = Pick<KubeClient, 'get' | 'create' | 'update'>;

export interface LeaderElectorOptions {
  client: LeaseClient;
  namespace: string;
  /** The Lease's name (`sluice-controller`). */
  name: string;
  /** Unique per replica: the pod name, or host + pid. */
  identity: string;
  /** How long a holder's claim lasts for the others (written as whole seconds, rounded up). client-go's default 15 s. */
  leaseDurationMs: number;
  /** How long the leader keeps trying to renew before it stops leading. Default in client-go 10 s. */
  renewDeadlineMs: number;
  /** Pause between attempts (to acquire, or to renew). Default in client-go 2 s. */
  retryPeriodMs: number;
  clock?: ElectionClock;
  /** Acquire attempts wait retryPeriod × (1 + random × 1.2), client-go's JitterFactor. */
  random?: () => number;
  /** One line per event worth knowing (acquired, lost, a failing renewal); default stderr. */
  log?: (line: string) => void;
}

export interface LeaderCallbacks {
  /** Now leading; `signal` aborts when leading ends (lost or stopped). Not awaited. */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Leading ended (after `signal` aborted). */
  onStoppedLeading(): void;
  /** The holder observed changed (this replica's identity included). */
  onNewLeader?(identity: string): void;
}

const JITTER = 1.2;

/** MicroTime as the API writes it: 2026-12-04T22:43:40.123000Z. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

export class LeaderElector {
  private readonly clock: ElectionClock;
  private readonly random: () => number;
  private readonly log: (line: string) => void;
  private readonly leaseSeconds: number;
  /** The record last read or written, the time (our clock) it was first seen, and its object. */
  private observed: { spec: LeaseSpec; json: string; at: number; lease: Lease } | undefined;
  private reportedLeader: string | undefined;
  private leading = false;
  private stopping = false;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private lossTimer: { cancel(): void } | undefined;
  private abort: AbortController | undefined;
  private callbacks: LeaderCallbacks | undefined;
  private failingSince: number | undefined;

  constructor(private readonly o: LeaderElectorOptions) {
    if (!(o.retryPeriodMs > 0)) throw new UserError('leader election: retryPeriod must be positive');
    if (!(o.renewDeadlineMs > o.retryPeriodMs * JITTER)) {
      throw new UserError(`leader election: renewDeadline (${o.renewDeadlineMs} ms) must exceed ${JITTER} × retryPeriod (${o.retryPeriodMs} ms)`);
    }
    if (!(o.leaseDurationMs > o.renewDeadlineMs)) {
      throw new UserError(`leader election: leaseDuration (${o.leaseDurationMs} ms) must exceed renewDeadline (${o.renewDeadlineMs} ms)`);
    }
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? Math.random;
    this.log = o.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.leaseSeconds = Math.ceil(o.leaseDurationMs / 1000);
  }

  /** Whether this replica leads now. */
  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last observed ('' when released or not yet read). */
  leader(): string {
    return this.observed?.spec.holderIdentity ?? '';
  }

  run(callbacks: LeaderCallbacks): Promise<void> {
    if (this.running) throw new Error('LeaderElector.run: already running');
    this.stopping = false;
    this.callbacks = callbacks;
    this.running = this.loop(callbacks).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops standing; a leader releases the lease first. Resolves when run() has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
  }

  private async loop(cb: LeaderCallbacks): Promise<void> {
    const where = `lease ${this.o.namespace}/${this.o.name}`;
    // Acquire.
    let started = 0;
    for (;;) {
      if (this.stopping) return;
      started = this.clock.now();
      if (await this.tryAcquireOrRenew()) break;
      await this.sleep(this.o.retryPeriodMs * (1 + this.random() * JITTER));
    }
    this.leading = true;
    const abort = new AbortController();
    this.abort = abort;
    this.armDeadline(started);
    if (this.stopping) {
      // Won just as stop() was called: hand it back without ever leading.
      await this.release();
      this.leading = false;
      this.lossTimer?.cancel();
      return;
    }
    this.log(`leader election: ${this.o.identity} leads (${where})`);
    try {
      const p = cb.onStartedLeading(abort.signal);
      if (p && typeof p.then === 'function') p.catch((err: Error) => this.log(`leader election: onStartedLeading failed: ${err.message}`));
    } catch (err) {
      this.log(`leader election: onStartedLeading failed: ${(err as Error).message}`);
    }
    // Renew.
    while (this.leading && !this.stopping) {
      await this.sleep(this.o.retryPeriodMs);
      if (!this.leading || this.stopping) break;
      const attempt = this.clock.now();
      const ok = await this.tryAcquireOrRenew();
      if (!this.leading) break;
      if (ok) {
        this.armDeadline(attempt);
        this.failingSince = undefined;
      } else if (this.observed && this.observed.spec.holderIdentity !== this.o.identity) {
        this.lose(`${this.observed.spec.holderIdentity || 'nobody'} holds it now`);
      }
    }
    if (this.leading) {
      // stop(): release, then end.
      await this.release();
      this.end('stopped');
    }
  }

  /** Stop leading when no renewal started at or after `attempt` succeeds by attempt + renewDeadline. */
  private armDeadline(attempt: number): void {
    this.lossTimer?.cancel();
    const ms = attempt + this.o.renewDeadlineMs - this.clock.now();
    this.lossTimer = this.clock.setTimeout(() => this.lose(`no renewal succeeded for ${this.o.renewDeadlineMs} ms`), Math.max(0, ms));
  }

  private lose(why: string): void {
    if (!this.leading) return;
    this.log(`leader election: ${this.o.identity} lost lease ${this.o.namespace}/${this.o.name}: ${why}`);
    this.end();
    this.wake?.();
  }

  private end(how?: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.lossTimer?.cancel();
    this.abort?.abort();
    if (how) this.log(`leader election: ${this.o.identity} ${how} leading (lease ${this.o.namespace}/${this.o.name} released)`);
    try {
      this.callbacks?.onStoppedLeading();
    } catch (err) {
      this.log(`leader election: onStoppedLeading failed: ${(err as Error).message}`);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => done(), ms);
      const done = () => {
        timer.cancel();
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      this.wake = done;
    });
  }

  private record(spec: LeaseSpec, lease: Lease): void {
    const json = JSON.stringify(spec);
    if (!this.observed || this.observed.json !== json) this.observed = { spec, json, at: this.clock.now(), lease };
    else this.observed.lease = lease;
    const holder = spec.holderIdentity ?? '';
    if (holder && holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      try {
        this.callbacks?.onNewLeader?.(holder);
      } catch (err) {
        this.log(`leader election: onNewLeader failed: ${(err as Error).message}`);
      }
    }
  }

  private failed(what: string, err: unknown): false {
    const now = this.clock.now();
    // One line when attempts start failing, not one per retry.
    if (this.failingSince === undefined) {
      this.failingSince = now;
      this.log(`leader election: cannot ${what} lease ${this.o.namespace}/${this.o.name}: ${(err as Error).message}`);
    }
    return false;
  }

  /** client-go's tryAcquireOrRenew: true when this replica holds the lease after the attempt. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const mine: LeaseSpec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: this.leaseSeconds,
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    let current: Lease | undefined;
    try {
      current = await this.o.client.get<Lease>(LEASES, this.o.namespace, this.o.name);
    } catch (err) {
      return this.failed('read', err);
    }
    this.failingSince = undefined;
    if (!current) {
      try {
        const created = await this.o.client.create<Lease>(LEASES, this.o.namespace, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: mine,
        });
        this.record(created.spec ?? mine, created);
        return true;
      } catch (err) {
        if (err instanceof KubeApiError && err.httpStatus === 409) return false; // another created it first
        return this.failed('create', err);
      }
    }
    const old = current.spec ?? {};
    this.record(old, current);
    const observed = this.observed;
    if (!observed) return false;
    const holder = old.holderIdentity ?? '';
    const iHold = holder === this.o.identity;
    const expiresAt = observed.at + (old.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== '' && !iHold && expiresAt > now) return false; // held by another, not expired
    if (iHold && this.leading) {
      mine.acquireTime = old.acquireTime ?? mine.acquireTime;
      mine.leaseTransitions = old.leaseTransitions ?? 0;
    } else {
      mine.leaseTransitions = (old.leaseTransitions ?? 0) + (iHold ? 0 : 1);
      if (iHold) mine.acquireTime = old.acquireTime ?? mine.acquireTime;
    }
    try {
      const updated = await this.o.client.update<Lease>(LEASES, this.o.namespace, { ...current, spec: mine });
      this.record(updated.spec ?? mine, updated);
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.httpStatus === 409) return false; // someone else wrote first: read again next time
      return this.failed('update', err);
    }
  }

  /** ReleaseOnCancel: holder emptied and a 1-second duration, when the record read last is still ours. */
  private async release(): Promise<void> {
    const observed = this.observed;
    if (!observed || observed.spec.holderIdentity !== this.o.identity) return;
    const now = microTime(this.clock.now());
    const spec: LeaseSpec = {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: observed.spec.leaseTransitions ?? 0,
    };
    try {
      const updated = await this.o.client.update<Lease>(LEASES, this.o.namespace, { ...observed.lease, spec });
      this.record(updated.spec ?? spec, updated);
    } catch (err) {
      this.log(`leader election: cannot release lease ${this.o.namespace}/${this.o.name}: ${(err as Error).message}`);
    }
  }
}

/**
 * Kubernetes Events (events.k8s.io/v1) for what the controller does to an object — `kubectl
 * describe rollout web` and `kubectl events` show them — recorded like client-go's
 * tools/events:
 *
 * - One Event object per (regarding, action, reason, note); a repeat within 10 minutes of the
 *   last occurrence updates that object's `series` (count, lastObservedTime) with a merge
 *   patch instead of making a new one. Later than that, or when the object is gone (Events
 *   expire, by default after an hour), a new object is made.
 * - Writes are bounded by a token bucket (default a burst of 25, then 1 a second); a
 *   repeat refused by it still counts, and the next write of its series carries the count.
 *   A new event refused by it is dropped.
 * - `event()` never throws and never waits: writes run in order in the background, and a
 *   failure logs one line (then silence until a write succeeds again; the line after says
 *   how many were lost). `flush()` waits for the writes queued so far.
 */
import type { KubeClient, KubeObject, Resource } from './client.js';
import { microTime } from './lease.js';

export const EVENTS: Resource = { group: 'events.k8s.io', version: 'v1', plural: 'events' };
export const REPORTING_CONTROLLER = 'sluice.dev/controller';

/** The object an event is about. */
export interface ObjectReference {
  apiVersion: string;
  kind: string;
  name: string;
  /** Absent for a cluster-scoped object: its events go to namespace `default`, as client-go does. */
  namespace?: string;
  uid?: string;
}

export interface KubeEvent extends KubeObject {
  eventTime: string;
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  regarding: ObjectReference;
  note?: string;
  type: 'Normal' | 'Warning';
  series?: { count: number; lastObservedTime: string };
}

export interface EventRecorderOptions {
  client: Pick<KubeClient, 'create' | 'mergePatch'>;
  /** This replica (the pod name). */
  reportingInstance: string;
  reportingController?: string;
  clock?: { now(): number };
  /** Writes at once before the rate applies (default 25). */
  burst?: number;
  /** Writes a second after the burst (default 1). */
  perSecond?: number;
  log?: (line: string) => void;
}

/** A repeat this soon after the last occurrence joins its series (client-go: the same order). */
export const SERIES_WINDOW_MS = 10 * 60_000;
/** Series remembered at most (the oldest forgotten first). */
const MAX_SERIES = 4096;
const NOTE_BYTES = 1024;
const FIELD_CHARS = 128;

interface Series {
  namespace: string;
  /** The object's name once created; undefined while its create is queued. */
  name?: string;
  count: number;
  /** Count last written. */
  written: number;
  firstAt: number;
  lastAt: number;
}

function truncateBytes(text: string, bytes: number): string {
  if (Buffer.byteLength(text) <= bytes) return text;
  let out = Buffer.from(text)
    .subarray(0, bytes - 3)
    .toString();
  out = out.replace(/\uFFFD$/, '');
  return `${out}...`;
}

export class EventRecorder {
  private readonly clock: { now(): number };
  private readonly log: (line: string) => void;
  private readonly controller: string;
  private readonly burst: number;
  private readonly perSecond: number;
  private tokens: number;
  private refilledAt: number;
  private readonly series = new Map<string, Series>();
  private chain: Promise<void> = Promise.resolve();
  private failing = false;
  private lost = 0;
  private seq = 0;

  constructor(private readonly o: EventRecorderOptions) {
    this.clock = o.clock ?? { now: () => Date.now() };
    this.log = o.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.controller = o.reportingController ?? REPORTING_CONTROLLER;
    this.burst = o.burst ?? 25;
    this.perSecond = o.perSecond ?? 1;
    this.tokens = this.burst;
    this.refilledAt = this.clock.now();
  }

  normal(regarding: ObjectReference, reason: string, action: string, note: string): void {
    this.event(regarding, 'Normal', reason, action, note);
  }

  warning(regarding: ObjectReference, reason: string, action: string, note: string): void {
    this.event(regarding, 'Warning', reason, action, note);
  }

  /** Records an event (in the background; never throws). */
  event(regarding: ObjectReference, type: 'Normal' | 'Warning', reason: string, action: string, note: string): void {
    try {
      this.record(regarding, type, reason.slice(0, FIELD_CHARS), action.slice(0, FIELD_CHARS), truncateBytes(note, NOTE_BYTES));
    } catch (err) {
      this.failed(err);
    }
  }

  /** Resolves when every write queued so far has ended (succeeded or failed). */
  flush(): Promise<void> {
    return this.chain;
  }

  private take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private record(regarding: ObjectReference, type: 'Normal' | 'Warning', reason: string, action: string, note: string): void {
    const now = this.clock.now();
    const namespace = regarding.namespace ?? 'default';
    const key = JSON.stringify([regarding.apiVersion, regarding.kind, namespace, regarding.name, regarding.uid ?? '', action, reason, note]);
    const existing = this.series.get(key);
    if (existing && now - existing.lastAt <= SERIES_WINDOW_MS) {
      existing.count++;
      existing.lastAt = now;
      this.series.delete(key);
      this.series.set(key, existing); // most recently used last
      if (!this.take(now)) return; // counted; the next write of the series carries it
      this.enqueue(() => this.writeSeries(existing, regarding, type, reason, action, note));
      return;
    }
    this.forgetOld(now);
    if (!this.take(now)) {
      this.lost++;
      return;
    }
    const s: Series = { namespace, count: 1, written: 0, firstAt: now, lastAt: now };
    this.series.set(key, s);
    this.enqueue(() => this.create(s, regarding, type, reason, action, note));
  }

  private forgetOld(now: number): void {
    for (const [key, s] of this.series) {
      if (now - s.lastAt > SERIES_WINDOW_MS || this.series.size >= MAX_SERIES) this.series.delete(key);
      else break; // the map is in last-use order
    }
  }

  private enqueue(write: () => Promise<void>): void {
    this.chain = this.chain.then(write).catch((err) => this.failed(err));
  }

  private name(regarding: ObjectReference, at: number): string {
    // client-go: <name>.<unix nanoseconds in hex>; the nanoseconds below a millisecond count
    // this recorder's events, so two in one millisecond differ.
    this.seq = (this.seq + 1) % 1_000_000;
    return `${regarding.name}.${(BigInt(at) * 1_000_000n + BigInt(this.seq)).toString(16)}`;
  }

  private async create(s: Series, regarding: ObjectReference, type: 'Normal' | 'Warning', reason: string, action: string, note: string): Promise<void> {
    const count = s.count;
    const event: KubeEvent = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: this.name(regarding, s.firstAt), namespace: s.namespace },
      eventTime: microTime(s.firstAt),
      reportingController: this.controller,
      reportingInstance: this.o.reportingInstance.slice(0, FIELD_CHARS),
      action,
      reason,
      regarding: { ...regarding, namespace: regarding.namespace },
      note,
      type,
      ...(count > 1 ? { series: { count, lastObservedTime: microTime(s.lastAt) } } : {}),
    };
    const created = await this.o.client.create<KubeEvent>(EVENTS, s.namespace, event);
    s.name = created.metadata.name;
    s.written = count;
    this.succeeded();
  }

  private async writeSeries(s: Series, regarding: ObjectReference, type: 'Normal' | 'Warning', reason: string, action: string, note: string): Promise<void> {
    if (s.written >= s.count) return; // an earlier write carried this count
    if (!s.name) {
      // Its create failed: make it now, with the count so far.
      await this.create(s, regarding, type, reason, action, note);
      return;
    }
    const count = s.count;
    try {
      await this.o.client.mergePatch(EVENTS, s.namespace, s.name, { series: { count, lastObservedTime: microTime(s.lastAt) } });
      s.written = count;
      this.succeeded();
    } catch (err) {
      if ((err as { httpStatus?: number }).httpStatus !== 404) throw err;
      // Expired meanwhile: a new object for the series.
      s.name = undefined;
      s.firstAt = s.lastAt;
      await this.create(s, regarding, type, reason, action, note);
    }
  }

  private succeeded(): void {
    if (this.failing || this.lost > 0) {
      if (this.lost > 0) this.log(`events: ${this.lost} event(s) not recorded (rate limit or API errors); recording again`);
      this.failing = false;
      this.lost = 0;
    }
  }

  private failed(err: unknown): void {
    this.lost++;
    if (this.failing) return;
    this.failing = true;
    this.log(`events: cannot record an event: ${(err as Error).message}`);
  }
}

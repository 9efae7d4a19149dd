import type { ListenerRole, RouteTable } from '../core/route-table.js';
import type { RevisionSampleList, WindowStats } from '../core/traffic-router.js';

/** Requests kept per (rollout, revision): about 1.2 MB each, a few minutes of a busy service. */
export const DEFAULT_SAMPLE_CAPACITY = 65_536;
/** A revision that left the route table keeps its samples this long (for a late look)… */
export const RETIRED_RETENTION_MS = 10 * 60_000;
/** …and at most this many such revisions are kept, newest retirement first. */
export const MAX_RETIRED_RINGS = 8;
/** GET /samples without `max`. */
export const DEFAULT_SAMPLE_MAX = 5000;

/** Listener roles as stored per sample (one byte). */
export const ROLE_CODES: Readonly<Record<ListenerRole, number>> = { main: 0, canary: 1, preview: 2 };

/**
 * Per-sample flags (one byte). A mirrored copy (mirror.ts) is recorded in its shadow
 * revision's ring like a client request, flagged so that windows can count copies and
 * their comparison with the primary's answer.
 */
export const SAMPLE_MIRRORED = 1;
export const SAMPLE_COMPARED = 2;
export const SAMPLE_MISMATCH = 4;

/**
 * The most recent requests one revision answered, in preallocated typed arrays used as a
 * ring: recording is a handful of stores, with no allocation and no lookup. A sample is
 * (end time in epoch ms, latency in seconds, status, listener role); the status is the one
 * the client got (the router's own 502/503/504 included), 0 when the client left before
 * any answer.
 *
 * End times come from Date.now() so that they compare with the control plane's clock; a
 * wall-clock step backwards can hide samples from a window until the clock catches up.
 */
/** Rings start this small and double while they fill (up to their capacity). */
const INITIAL_RING = 1024;

export class RevisionSamples {
  private end: Float64Array;
  private seconds: Float64Array;
  private status: Uint16Array;
  private role: Uint8Array;
  private flags: Uint8Array;
  private mask: number;
  /** Samples ever recorded; the next goes to slot `recorded & mask`. */
  private recorded = 0;
  /** End time of the most recently overwritten sample; −Infinity until the ring wraps. */
  private droppedEndMs = -Infinity;

  /** Grows by doubling up to this; a revision with little traffic stays small. */
  private maxCapacity: number;

  constructor(capacity: number) {
    if (!Number.isInteger(Math.log2(capacity))) throw new RangeError(`sample capacity ${capacity} must be a power of two`);
    this.maxCapacity = capacity;
    const initial = Math.min(capacity, INITIAL_RING);
    this.end = new Float64Array(initial).fill(-Infinity);
    this.seconds = new Float64Array(initial);
    this.status = new Uint16Array(initial);
    this.role = new Uint8Array(initial);
    this.flags = new Uint8Array(initial);
    this.mask = initial - 1;
  }

  get capacity(): number {
    return this.maxCapacity;
  }

  /** `flags`: SampleFlags (a mirrored copy…); `endMs`: when the request ended, if not now (a data plane whose log is read later). */
  record(status: number, seconds: number, role: number, flags = 0, endMs = Date.now()): void {
    if (this.recorded === this.mask + 1 && this.recorded < this.maxCapacity) this.grow();
    const i = this.recorded & this.mask;
    this.droppedEndMs = this.end[i];
    this.end[i] = endMs;
    this.seconds[i] = seconds;
    this.status[i] = status;
    this.role[i] = role;
    this.flags[i] = flags;
    this.recorded++;
  }

  /** Before the first wrap the slots are in order, so doubling is a plain copy. */
  private grow(): void {
    const size = (this.mask + 1) * 2;
    const end = new Float64Array(size).fill(-Infinity);
    end.set(this.end);
    const seconds = new Float64Array(size);
    seconds.set(this.seconds);
    const status = new Uint16Array(size);
    status.set(this.status);
    const role = new Uint8Array(size);
    role.set(this.role);
    const flags = new Uint8Array(size);
    flags.set(this.flags);
    [this.end, this.seconds, this.status, this.role, this.flags, this.mask] = [end, seconds, status, role, flags, size - 1];
  }

  /**
   * Frees the arrays of a ring no longer wanted. A series of an old table may still hold it
   * and record a late request: that lands in a one-slot ring nobody reads.
   */
  release(): void {
    this.end = new Float64Array(1).fill(-Infinity);
    this.seconds = new Float64Array(1);
    this.status = new Uint16Array(1);
    this.role = new Uint8Array(1);
    this.flags = new Uint8Array(1);
    this.mask = 0;
    this.maxCapacity = 1;
    this.recorded = 0;
    this.droppedEndMs = -Infinity;
  }

  /**
   * Walks the samples that ended at or after sinceMs, newest first, stopping after `max`.
   * Returns whether samples since sinceMs were lost to the ring (overwritten).
   */
  scan(
    sinceMs: number,
    role: number,
    max: number,
    visit: (seconds: number, status: number, flags: number) => void,
  ): { visited: number; more: boolean; overwritten: boolean } {
    const oldest = Math.max(0, this.recorded - this.mask - 1);
    let visited = 0;
    let more = false;
    let k = this.recorded - 1;
    for (; k >= oldest; k--) {
      const i = k & this.mask;
      if (this.end[i] < sinceMs) break;
      if (role >= 0 && this.role[i] !== role) continue;
      if (visited === max) {
        more = true;
        break;
      }
      visit(this.seconds[i], this.status[i], this.flags[i]);
      visited++;
    }
    return { visited, more, overwritten: k < oldest && this.droppedEndMs >= sinceMs };
  }

  /** The start of the span the ring fully covers, for a window that lost samples. */
  get coveredFromMs(): number {
    return this.droppedEndMs;
  }
}

interface RingEntry {
  ring: RevisionSamples;
  rollout: string;
  revision: number;
  /** When the revision left the route table; undefined while it is in it. */
  retiredAt: number | undefined;
}

/** The rings of every revision the router serves, keyed by (rollout, revision) across listeners. */
export class SampleStore {
  private readonly rings = new Map<string, RingEntry>();
  /** Sort buffer for percentiles, reused: queries run one at a time on the event loop. */
  private scratch: Float64Array | undefined;

  constructor(readonly capacity: number = DEFAULT_SAMPLE_CAPACITY) {
    if (!Number.isInteger(Math.log2(capacity)) || capacity < 1) throw new RangeError(`sample capacity ${capacity} must be a power of two`);
  }

  /** Called when a table is compiled, never per request. */
  ringFor(rollout: string, revision: number): RevisionSamples {
    const key = ringKey(rollout, revision);
    let e = this.rings.get(key);
    if (e === undefined) {
      e = { ring: new RevisionSamples(this.capacity), rollout, revision, retiredAt: undefined };
      this.rings.set(key, e);
    }
    return e.ring;
  }

  /**
   * Called when a table takes effect: revisions in it are live; the others retire and are
   * freed after RETIRED_RETENTION_MS, or sooner when more than MAX_RETIRED_RINGS wait.
   */
  retain(table: RouteTable, now = Date.now()): void {
    const live = new Set<string>();
    for (const l of table.listeners) for (const b of l.backends) live.add(ringKey(l.rollout, b.revision));
    const retired: [string, RingEntry][] = [];
    for (const [key, e] of this.rings) {
      if (live.has(key)) e.retiredAt = undefined;
      else {
        e.retiredAt ??= now;
        retired.push([key, e]);
      }
    }
    retired.sort((a, b) => b[1].retiredAt! - a[1].retiredAt!);
    retired.forEach(([key, e], i) => {
      if (i >= MAX_RETIRED_RINGS || now - e.retiredAt! > RETIRED_RETENTION_MS) {
        e.ring.release();
        this.rings.delete(key);
      }
    });
  }

  /** Aggregates over the samples that ended at or after sinceMs; `role` narrows to one listener role. */
  window(rollout: string, revision: number, sinceMs: number, role?: ListenerRole, now = Date.now()): WindowStats {
    const ring = this.rings.get(ringKey(rollout, revision))?.ring;
    const buf = (this.scratch ??= new Float64Array(this.capacity));
    let n = 0;
    let errors = 0;
    let sum = 0;
    let overwritten = false;
    let mirrored = 0;
    let compared = 0;
    let mismatches = 0;
    if (ring !== undefined) {
      const r = ring.scan(sinceMs, roleCode(role), buf.length, (seconds, status, flags) => {
        buf[n++] = seconds;
        sum += seconds;
        if (status >= 500) errors++;
        if (flags !== 0) {
          if (flags & SAMPLE_MIRRORED) mirrored++;
          if (flags & SAMPLE_COMPARED) compared++;
          if (flags & SAMPLE_MISMATCH) mismatches++;
        }
      });
      overwritten = r.overwritten;
    }
    const from = overwritten ? Math.max(sinceMs, ring!.coveredFromMs) : sinceMs;
    const spanSeconds = (now - from) / 1000;
    const sorted = buf.subarray(0, n).sort();
    return {
      rollout,
      revision,
      ...(role === undefined ? {} : { role }),
      from,
      to: now,
      requests: n,
      errors5xx: errors,
      requestRate: n > 0 && spanSeconds > 0 ? n / spanSeconds : 0,
      errorRate: n > 0 ? errors / n : 0,
      successRate: n > 0 ? (n - errors) / n : 0,
      latency: {
        p50: percentile(sorted, 0.5),
        p90: percentile(sorted, 0.9),
        p95: percentile(sorted, 0.95),
        p99: percentile(sorted, 0.99),
        mean: n > 0 ? sum / n : null,
      },
      truncated: overwritten,
      mirrored,
      compared,
      mismatches,
      mismatchRate: compared > 0 ? mismatches / compared : 0,
    };
  }

  /** The `max` most recent samples that ended at or after sinceMs, oldest first. */
  samples(rollout: string, revision: number, sinceMs: number, max = DEFAULT_SAMPLE_MAX, role?: ListenerRole): RevisionSampleList {
    const ring = this.rings.get(ringKey(rollout, revision))?.ring;
    const latencies: number[] = [];
    const errors: number[] = [];
    if (ring === undefined) return { latencies, errors, truncated: false };
    const r = ring.scan(sinceMs, roleCode(role), max, (seconds, status) => {
      latencies.push(seconds);
      errors.push(status >= 500 ? 1 : 0);
    });
    latencies.reverse();
    errors.reverse();
    return { latencies, errors, truncated: r.more || r.overwritten };
  }
}

/**
 * Linear interpolation between closest ranks (numpy's default, R's type 7): with n sorted
 * values x₀…xₙ₋₁, h = (n − 1)·p and the result is x⌊h⌋ + (h − ⌊h⌋)·(x⌊h⌋₊₁ − x⌊h⌋).
 * Null for no values.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function ringKey(rollout: string, revision: number): string {
  return `${rollout}\0${revision}`;
}

function roleCode(role: ListenerRole | undefined): number {
  return role === undefined ? -1 : ROLE_CODES[role];
}

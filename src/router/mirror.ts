/**
 * Request mirroring (MirrorRoute, the shadow strategy): copies of a share of a listener's
 * requests go to another revision; the client only ever gets the primary's answer.
 *
 * - Choice: per mirror route, requests matching its `match` (methods default GET, HEAD,
 *   OPTIONS) are copied by a deterministic accumulator, so over any N matching requests the
 *   number copied is within one of N × percent / 100. A request already routed to the
 *   shadow revision is not copied to it.
 * - Bound: at most `queueLimit` copies of a route are pending (waiting to be sent or in
 *   flight); a copy chosen beyond that is dropped and counted. The slot is taken when the
 *   request is chosen, so a burst is refused at once rather than queued in memory.
 * - Never in the way: the request body is captured by keeping references to the chunks as
 *   undici sends them to the primary (Exchange.onBodySent); copies are sent from a
 *   setImmediate after the primary's request is written; their answers are drained and
 *   discarded with no backpressure on anything.
 * - Accounting: a copy is recorded in the shadow revision's sample ring (so /window error
 *   rate and latencies of the shadow work), flagged SAMPLE_MIRRORED (+ COMPARED, MISMATCH),
 *   and counted in the sluice_mirror_* metrics, but never in sluice_requests_total or
 *   /traffic, which describe client traffic.
 * - Comparison (`compare`): the primary's answer is captured (up to COMPARE_MAX_BYTES) for
 *   the requests copied, and compared with the copy's (compare.ts) once both are complete.
 *   A copy that got no answer (connection error, timeout: recorded as 502/504) is not
 *   compared; neither is one whose primary failed, or whose bodies exceed the cap.
 */
import { performance } from 'node:perf_hooks';
import type { IncomingMessage } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Balancer, CompiledEndpoint } from './balancer.js';
import { compareResponses, parseIgnorePath, type Difference, type IgnorePath } from './compare.js';
import type { InflightRegistry } from './inflight.js';
import type { ListenerRoutes, MirrorRoute, RouteTable } from '../core/route-table.js';
import { ROLE_CODES, SAMPLE_COMPARED, SAMPLE_MIRRORED, SAMPLE_MISMATCH, type RevisionSamples } from './samples.js';
import { compileMatch, type RequestTest } from './split.js';
import type { UpstreamPools } from './upstream.js';

/** What a mirror copies to: the shadow revision's backend as compiled with the table (compile.ts). */
export interface MirrorTarget {
  revision: number;
  balancer: Balancer;
  /** Where the shadow's answers are sampled (its RevisionSeries' ring). */
  series: { samples: RevisionSamples | undefined };
}

/** Methods copied when a mirror's match names none: the idempotent ones. */
export const DEFAULT_MIRROR_METHODS = ['GET', 'HEAD', 'OPTIONS'];
/** Sent on every copy, so the shadow (and its logs) can tell copies from client requests. */
export const MIRROR_HEADER = 'x-sluice-mirror';
/** Largest response body (each side) captured for a comparison; beyond it: not compared. */
export const COMPARE_MAX_BYTES = 1024 * 1024;
/** Mismatches kept per (rollout, revision) for GET /mismatches. */
export const MISMATCH_LOG_SIZE = 20;

/** Cumulative counters of one (rollout, shadow revision, mirror route); they survive table swaps. */
export class MirrorCounters {
  /** Copies sent. */
  copies = 0;
  /** Chosen, but the route already had queueLimit copies pending. */
  dropped = 0;
  /** Chosen, but the request body is larger than maxBodyBytes. */
  tooLarge = 0;
  /** Copies that got no answer (connection error, timeout). */
  failed = 0;
  compared = 0;
  mismatches = 0;
  /** With compare on: copies not compared (a body over COMPARE_MAX_BYTES, the primary or the copy failed). */
  notCompared = 0;
  /** Copies waiting to be sent or in flight (the queueLimit bound). */
  pending = 0;
  shadowSeconds = 0;
  /** Of the compared pairs: the primary's time to a complete answer. */
  primarySeconds = 0;
  readonly labelText: string;
  constructor(
    readonly rollout: string,
    readonly revision: number,
    readonly route: string,
  ) {
    this.labelText = `rollout="${esc(rollout)}",revision="${revision}",route="${esc(route)}"`;
  }
}

/** A mismatch kept for humans (GET /mismatches). */
export interface MismatchRecord {
  /** Epoch ms. */
  at: number;
  rollout: string;
  /** The shadow revision. */
  revision: number;
  /** The revision that answered the client. */
  primaryRevision: number;
  route: string;
  listen: string;
  method: string;
  /** The request target (path and query). */
  path: string;
  primaryStatus: number;
  shadowStatus: number;
  primaryMs: number;
  shadowMs: number;
  /** status, json or bytes: what differed first. */
  kind: string;
  differences: Difference[];
}

/** Every mirror route's counters and the recent mismatches; owned by RouterMetrics. */
export class MirrorStats {
  private readonly counters = new Map<string, MirrorCounters>();
  private readonly logs = new Map<string, MismatchRecord[]>();

  /** Called when a table is compiled, never per request. */
  countersFor(rollout: string, revision: number, route: string): MirrorCounters {
    const key = `${rollout}\0${revision}\0${route}`;
    let c = this.counters.get(key);
    if (c === undefined) {
      c = new MirrorCounters(rollout, revision, route);
      this.counters.set(key, c);
    }
    return c;
  }

  /**
   * A table is in effect: a rollout with no listener left in it was deleted, and its
   * counters and mismatches go, so that a rollout re-created under the same name starts
   * at zero (copies still in flight update counters no longer listed).
   */
  retain(table: RouteTable): void {
    const live = new Set(table.listeners.map((l) => l.rollout));
    for (const [key, c] of this.counters) if (!live.has(c.rollout)) this.counters.delete(key);
    for (const [key, log] of this.logs) if (log.length > 0 && !live.has(log[0].rollout)) this.logs.delete(key);
  }

  logMismatch(m: MismatchRecord): void {
    const key = `${m.rollout}\0${m.revision}`;
    let log = this.logs.get(key);
    if (log === undefined) this.logs.set(key, (log = []));
    log.push(m);
    if (log.length > MISMATCH_LOG_SIZE) log.shift();
  }

  /** The most recent mismatches of a rollout (one revision, or all), newest first. */
  mismatches(rollout: string, revision?: number): MismatchRecord[] {
    const out: MismatchRecord[] = [];
    for (const log of this.logs.values()) {
      for (const m of log) if (m.rollout === rollout && (revision === undefined || m.revision === revision)) out.push(m);
    }
    return out.sort((a, b) => b.at - a.at);
  }

  /** Prometheus text for every mirror route seen (empty when none). */
  render(): string {
    if (this.counters.size === 0) return '';
    const all = [...this.counters.values()];
    const out: string[] = [];
    const family = (name: string, type: string, help: string, value: (c: MirrorCounters) => number): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const c of all) out.push(`${name}{${c.labelText}} ${value(c)}`);
    };
    family('sluice_mirror_requests_total', 'counter', 'Mirrored copies sent to the shadow revision (not in sluice_requests_total).', (c) => c.copies);
    family('sluice_mirror_dropped_total', 'counter', 'Copies not sent because queueLimit copies were already pending.', (c) => c.dropped);
    family('sluice_mirror_too_large_total', 'counter', 'Requests not copied because their body exceeds maxBodyBytes.', (c) => c.tooLarge);
    family('sluice_mirror_failed_total', 'counter', 'Copies that got no answer (connection error or timeout).', (c) => c.failed);
    family('sluice_mirror_compared_total', 'counter', "Copies whose answer was compared with the primary's.", (c) => c.compared);
    family('sluice_mirror_mismatches_total', 'counter', "Compared copies whose answer differed from the primary's.", (c) => c.mismatches);
    family(
      'sluice_mirror_not_compared_total',
      'counter',
      'Copies of a comparing route that could not be compared (body over 1 MiB, a side failed).',
      (c) => c.notCompared,
    );
    family('sluice_mirror_pending', 'gauge', 'Copies waiting to be sent or in flight.', (c) => c.pending);
    family('sluice_mirror_shadow_duration_seconds_sum', 'counter', "Sum of the copies' times to a complete answer.", (c) => c.shadowSeconds);
    family(
      'sluice_mirror_primary_duration_seconds_sum',
      'counter',
      "Sum of the primary's times to a complete answer, over the compared pairs.",
      (c) => c.primarySeconds,
    );
    return out.join('\n') + '\n';
  }
}

/** One mirror route of one listener, compiled with the table. */
export class CompiledMirror {
  /** Accumulated percent; a copy each time it reaches 100. */
  private acc = 0;
  readonly compare: boolean;
  constructor(
    readonly route: MirrorRoute,
    readonly listen: string,
    readonly backend: MirrorTarget,
    readonly counters: MirrorCounters,
    readonly stats: MirrorStats,
    readonly roleCode: number,
    private readonly test: RequestTest,
    readonly ignore: IgnorePath[] | undefined,
  ) {
    this.compare = ignore !== undefined;
  }

  /** Whether this request's turn has come (match, then share). */
  wants(req: IncomingMessage): boolean {
    if (!this.test(req)) return false;
    this.acc += this.route.percent;
    if (this.acc < 100) return false;
    this.acc -= 100;
    return true;
  }
}

/**
 * The listener's mirror routes whose revision has a ready instance; undefined when none,
 * so that a listener without mirrors costs one null check per request.
 */
export function compileMirrors(l: ListenerRoutes, li: number, backends: Map<number, MirrorTarget>, stats: MirrorStats): CompiledMirror[] | undefined {
  if (l.mirrors === undefined || l.mirrors.length === 0) return undefined;
  const out: CompiledMirror[] = [];
  l.mirrors.forEach((m, mi) => {
    const backend = backends.get(m.revision);
    if (backend === undefined || m.percent <= 0) return;
    const where = `listeners[${li}].mirrors[${mi}].match`;
    const test = compileMatch({ ...m.match, methods: m.match?.methods ?? DEFAULT_MIRROR_METHODS }, where)!;
    const ignore = m.compare === undefined ? undefined : m.compare.ignorePaths.map(parseIgnorePath);
    const counters = stats.countersFor(l.rollout, m.revision, m.name);
    out.push(new CompiledMirror(m, l.listen, backend, counters, stats, ROLE_CODES[l.role], test, ignore));
  });
  return out.length === 0 ? undefined : out;
}

/**
 * The mirroring of one client request: holds its copies until the request has been sent
 * to the primary, and the primary's answer while a comparison needs it. The proxy's
 * Exchange feeds it (requestChunk, requestSent, primary*).
 */
export class MirrorTap {
  /** Request body chunks as sent to the primary; undefined without a body or once given up. */
  private chunks: Buffer[] | undefined;
  private bodyBytes = 0;
  private readonly bodyLimit: number;
  private sent = false;
  private closed = false;
  /** Primary's answer: status (0 until its head), body chunks while captured. */
  primaryStatus = 0;
  private primaryChunks: Buffer[] | undefined;
  private primaryBytes = 0;
  /** Captured body of the primary, once complete (undefined if over the cap or not comparing). */
  primaryBody: Buffer | undefined;
  /** 'pending' until the primary's answer is complete or has failed. */
  primaryState: 'pending' | 'done' | 'failed' = 'pending';
  primarySeconds = 0;
  /** Copies finished before the primary: compared when it completes. */
  private waiting: MirrorCopy[] | undefined;

  constructor(
    private readonly copies: CompiledMirror[],
    readonly req: IncomingMessage,
    private readonly headers: string[],
    hasBody: boolean,
    readonly primaryRevision: number,
    private readonly pools: UpstreamPools,
    private readonly registry: InflightRegistry,
    private readonly start: number,
  ) {
    let limit = 0;
    let compare = false;
    for (const m of copies) {
      if (m.route.maxBodyBytes > limit) limit = m.route.maxBodyBytes;
      if (m.compare) compare = true;
    }
    this.bodyLimit = limit;
    this.chunks = hasBody ? [] : undefined;
    this.primaryChunks = compare ? [] : undefined;
  }

  requestChunk(chunk: unknown): void {
    const chunks = this.chunks;
    // After requestSent the copies have their body: a retry of the primary sends it again.
    if (chunks === undefined || this.sent || !Buffer.isBuffer(chunk)) return;
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.bodyLimit) {
      // Larger than any copy may carry: give up now rather than hold the whole upload.
      this.chunks = undefined;
      for (const m of this.copies) {
        m.counters.tooLarge++;
        m.counters.pending--;
      }
      this.copies.length = 0;
      return;
    }
    chunks.push(chunk);
  }

  /** The primary's request (head and body) is written: the copies may go. */
  requestSent(): void {
    if (this.sent || this.closed) return;
    this.sent = true;
    if (this.copies.length > 0) setImmediate(sendCopies, this);
  }

  /** Called from setImmediate. */
  send(): void {
    const body = this.chunks === undefined ? null : this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = undefined;
    const headers = this.headers.concat(MIRROR_HEADER, '1');
    const method = this.req.method as Dispatcher.HttpMethod;
    const path = this.req.url ?? '/';
    for (const m of this.copies) {
      if (body !== null && body.length > m.route.maxBodyBytes) {
        m.counters.tooLarge++;
        m.counters.pending--;
        continue;
      }
      const endpoint = m.backend.balancer.pick();
      let pool = endpoint.pool;
      if (pool === undefined || pool.closed) pool = endpoint.pool = this.pools.get(endpoint.host, endpoint.port);
      this.registry.acquire(endpoint.load);
      m.counters.copies++;
      const copy = new MirrorCopy(this, m, endpoint, this.registry);
      try {
        const ms = this.pools.timeoutMs;
        pool.dispatch({ method, path, headers, body, headersTimeout: ms, bodyTimeout: ms }, copy);
      } catch (e) {
        copy.onError(e as Error);
      }
    }
  }

  primaryHeaders(status: number): void {
    this.primaryStatus = status;
  }

  primaryChunk(chunk: Buffer): void {
    const chunks = this.primaryChunks;
    if (chunks === undefined) return;
    this.primaryBytes += chunk.length;
    if (this.primaryBytes > COMPARE_MAX_BYTES) this.primaryChunks = undefined;
    else chunks.push(chunk);
  }

  primaryComplete(): void {
    if (this.primaryState !== 'pending') return;
    this.primaryState = 'done';
    this.primarySeconds = (performance.now() - this.start) / 1000;
    const chunks = this.primaryChunks;
    this.primaryChunks = undefined;
    if (chunks !== undefined) this.primaryBody = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    this.flush();
  }

  /** The client's response is over (finished or not). */
  primaryClosed(): void {
    this.closed = true;
    if (!this.sent) {
      // The request never fully reached the primary: nothing to copy.
      this.chunks = undefined;
      for (const m of this.copies) m.counters.pending--;
      this.copies.length = 0;
    }
    if (this.primaryState === 'pending') {
      this.primaryState = 'failed';
      this.primaryChunks = undefined;
      this.flush();
    }
  }

  /** A copy finished; settles it now or once the primary's answer is in. */
  copyDone(copy: MirrorCopy): void {
    if (copy.mirror.compare && !copy.failed && this.primaryState === 'pending') (this.waiting ??= []).push(copy);
    else settle(this, copy);
  }

  private flush(): void {
    const w = this.waiting;
    if (w === undefined) return;
    this.waiting = undefined;
    for (const copy of w) settle(this, copy);
  }
}

function sendCopies(tap: MirrorTap): void {
  tap.send();
}

/** The copies of a request chosen by the listener's mirror routes, or undefined (most requests). */
export function startMirrors(
  mirrors: CompiledMirror[],
  req: IncomingMessage,
  headers: string[],
  hasBody: boolean,
  primaryRevision: number,
  pools: UpstreamPools,
  registry: InflightRegistry,
  start: number,
): MirrorTap | undefined {
  let chosen: CompiledMirror[] | undefined;
  for (let i = 0; i < mirrors.length; i++) {
    const m = mirrors[i];
    if (m.backend.revision === primaryRevision || !m.wants(req)) continue;
    const c = m.counters;
    if (hasBody) {
      const length = Number(req.headers['content-length']);
      if (length > m.route.maxBodyBytes) {
        c.tooLarge++;
        continue;
      }
    }
    if (c.pending >= m.route.queueLimit) {
      c.dropped++;
      continue;
    }
    c.pending++;
    (chosen ??= []).push(m);
  }
  if (chosen === undefined || req.url === '*') {
    if (chosen !== undefined) for (const m of chosen) m.counters.pending--;
    return undefined;
  }
  return new MirrorTap(chosen, req, headers, hasBody, primaryRevision, pools, registry, start);
}

/** One copy in flight: the undici handler of its request. Its answer is drained and discarded. */
class MirrorCopy implements Dispatcher.DispatchHandlers {
  readonly start = performance.now();
  status = 0;
  failed = false;
  seconds = 0;
  body: Buffer | undefined;
  private chunks: Buffer[] | undefined;
  private bytes = 0;
  private finished = false;

  constructor(
    readonly tap: MirrorTap,
    readonly mirror: CompiledMirror,
    private readonly endpoint: CompiledEndpoint,
    private readonly registry: InflightRegistry,
  ) {
    this.chunks = mirror.compare ? [] : undefined;
  }

  onConnect(): void {}

  onHeaders(status: number): boolean {
    if (status >= 200) this.status = status;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const chunks = this.chunks;
    if (chunks !== undefined) {
      this.bytes += chunk.length;
      if (this.bytes > COMPARE_MAX_BYTES) this.chunks = undefined;
      else chunks.push(chunk);
    }
    return true;
  }

  onComplete(): void {
    const chunks = this.chunks;
    this.chunks = undefined;
    if (chunks !== undefined) this.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    this.finish();
  }

  onError(err: Error): void {
    this.chunks = undefined;
    if (this.status === 0) this.status = (err as NodeJS.ErrnoException).code === 'UND_ERR_HEADERS_TIMEOUT' ? 504 : 502;
    this.failed = true;
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.seconds = (performance.now() - this.start) / 1000;
    this.registry.release(this.endpoint.load);
    const c = this.mirror.counters;
    c.pending--;
    c.shadowSeconds += this.seconds;
    if (this.failed) c.failed++;
    this.tap.copyDone(this);
  }
}

/** Records a finished copy in the shadow's ring, compared with the primary when it can be. */
function settle(tap: MirrorTap, copy: MirrorCopy): void {
  const m = copy.mirror;
  const c = m.counters;
  let flags = SAMPLE_MIRRORED;
  if (m.compare) {
    const primaryBody = tap.primaryBody;
    const shadowBody = copy.body;
    if (copy.failed || tap.primaryState !== 'done' || tap.primaryStatus === 0 || primaryBody === undefined || shadowBody === undefined) {
      c.notCompared++;
    } else {
      const result = compareResponses({ status: tap.primaryStatus, body: primaryBody }, { status: copy.status, body: shadowBody }, m.ignore!);
      flags |= SAMPLE_COMPARED;
      c.compared++;
      c.primarySeconds += tap.primarySeconds;
      if (!result.equal) {
        flags |= SAMPLE_MISMATCH;
        c.mismatches++;
        const req = tap.req;
        m.stats.logMismatch({
          at: Date.now(),
          rollout: c.rollout,
          revision: c.revision,
          primaryRevision: tap.primaryRevision,
          route: c.route,
          listen: m.listen,
          method: req.method ?? '',
          path: truncate(req.url ?? '/', 200),
          primaryStatus: tap.primaryStatus,
          shadowStatus: copy.status,
          primaryMs: round(tap.primarySeconds * 1000),
          shadowMs: round(copy.seconds * 1000),
          kind: result.kind,
          differences: result.differences,
        });
      }
    }
  }
  const ring: RevisionSamples | undefined = m.backend.series.samples;
  if (ring !== undefined) ring.record(copy.status, copy.seconds, m.roleCode, flags);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { PassThrough } from 'node:stream';
import { errors, type Dispatcher } from 'undici';
import type { CompiledEndpoint } from './balancer.js';
import type { CompiledBackend, CompiledListener } from './compile.js';
import type { InflightRegistry } from './inflight.js';
import type { RevisionSeries } from './metrics.js';
import { startMirrors, type MirrorTap } from './mirror.js';
import type { GuardedProxy, QueueWaiter, ResilienceState, RevisionQueue } from './resilience.js';
import type { UpstreamPools } from './upstream.js';
import type { PreparedAnswer } from './prepared-answer.js';
import type { GoalHit } from './experiments/goals.js';

/**
 * How long an upstream may stay silent (no response yet, or a stalled body) before the
 * client gets a 504. Generous, like nginx's proxy_read_timeout: slow endpoints are the
 * app's business, a stuck socket is ours.
 */
export const UPSTREAM_TIMEOUT_MS = 60_000;

/** Methods that may be sent twice (RFC 9110 §9.2.2); only these are retried. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** The connection was never made: the request cannot have reached the app. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
/** Hop-by-hop headers (RFC 9110 §7.6.1) that never cross the proxy. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

const kExchange = Symbol('sluice.exchange');

/**
 * The upstream timeout is enforced here, not by undici (whose headersTimeout/bodyTimeout
 * re-arm a timer on every request of a reused connection): one interval per process walks
 * the exchanges whose request is on a connection and aborts those silent for too long.
 * Granularity SWEEP_MS: a timeout fires between its limit and its limit + SWEEP_MS (60 s
 * by default: ±0.25 s does not matter; a listener's responseMs of 300 ms fires by 550 ms).
 */
export const SWEEP_MS = 250;

/** The exchanges being watched for silence: an intrusive list, nothing allocated per request. */
class SilenceWatch {
  private head: Exchange | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;

  add(ex: Exchange): void {
    ex.silent = 0;
    if (ex.watched) return;
    ex.watched = true;
    ex.watchPrev = undefined;
    ex.watchNext = this.head;
    if (this.head !== undefined) this.head.watchPrev = ex;
    this.head = ex;
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), SWEEP_MS);
      this.timer.unref();
    }
  }

  remove(ex: Exchange): void {
    if (!ex.watched) return;
    ex.watched = false;
    const { watchPrev: prev, watchNext: next } = ex;
    if (prev === undefined) this.head = next;
    else prev.watchNext = next;
    if (next !== undefined) next.watchPrev = prev;
    ex.watchPrev = ex.watchNext = undefined;
  }

  private sweep(): void {
    if (this.head === undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    let ex: Exchange | undefined = this.head;
    while (ex !== undefined) {
      const next: Exchange | undefined = ex.watchNext;
      // Paused: the client is slow to read, the app is not silent (undici does the same).
      if (!ex.paused && ++ex.silent > ex.limitTicks) {
        this.remove(ex);
        const err = ex.answered ? new errors.BodyTimeoutError() : new errors.HeadersTimeoutError();
        // Still waiting for a connection of the pool: nothing to abort yet (onConnect will).
        if (ex.abort !== undefined) ex.abort(err);
        else ex.onError(err);
      }
      ex = next;
    }
  }
}

const watch = new SilenceWatch();

export interface ProxyOptions {
  pools: UpstreamPools;
  upstreamTimeoutMs: number;
  registry: InflightRegistry;
  /** The compiled listener in effect for an address: the single point where a table swap shows. */
  lookup(listen: string): CompiledListener | undefined;
  /** Outlier ejection, limits, holds (resilience.ts); needed once a table has `resilience` or `hold`. */
  resilience?: ResilienceState;
}

/**
 * One client request on its way through, and the undici handler of its upstream request:
 * a request costs this one object, not a set of closures. Event handlers on the client's
 * response are shared module functions that find their exchange on the emitter.
 */
class Exchange implements Dispatcher.DispatchHandlers, QueueWaiter {
  endpoint!: CompiledEndpoint;
  /** The whole body, read before routing (resilience.bufferRequests): it may be sent twice. */
  buffered: Buffer | undefined = undefined;
  /**
   * The client's body on its way to the app (see uploadBody); undefined when there is none
   * or it was buffered.
   */
  upload: PassThrough | undefined = undefined;
  /** Waiting for a free endpoint (resilience.limits). */
  queue: RevisionQueue | undefined = undefined;
  queueTimer: NodeJS.Timeout | undefined = undefined;
  holdsEndpoint = false;
  retried = false;
  /** Set-Cookie added to the app's response: a new client's sticky bucket. */
  setCookie: string | undefined = undefined;
  byRouter = false;
  done = false;
  /** The app's response head arrived (for the request in progress). */
  answered = false;
  /** Cancels the upstream request in progress; set by undici once it is being sent. */
  abort: ((err?: Error) => void) | undefined = undefined;
  resume: (() => void) | undefined = undefined;
  /** Mirrored copies of this request (mirror.ts); undefined unless the listener has mirrors. */
  mirror: MirrorTap | undefined = undefined;
  /** An experiment's request that may convert (experiments/goals.ts); undefined otherwise. */
  goal: GoalHit | undefined = undefined;
  /** SilenceWatch: sweeps since the app last sent something, and the limit in sweeps. */
  silent = 0;
  limitTicks = 0;
  paused = false;
  watched = false;
  watchPrev: Exchange | undefined = undefined;
  watchNext: Exchange | undefined = undefined;
  readonly start = performance.now();
  constructor(
    readonly proxy: RouterProxy,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly listener: CompiledListener,
    readonly backend: CompiledBackend,
    /** The request head to send upstream, as a flat name/value list. */
    readonly headers: string[],
    readonly hasBody: boolean,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    // The client left, or got its 504, while the request waited for a connection.
    if (this.done || this.res.writableEnded) abort();
    else this.abort = abort;
  }

  /**
   * The client's body as given to undici: a pipe, not the request itself, because undici
   * destroys the body it was sending when the exchange ends early, and a destroyed request
   * stops its connection's parser (the client's next request would hang). Ended early, the
   * pipe unpipes and the client's body is no longer read (closeAfterUpload).
   */
  uploadBody(): PassThrough {
    let up = this.upload;
    if (up === undefined) {
      up = this.upload = new PassThrough();
      up.on('error', ignore);
      this.req.pipe(up);
    }
    return up;
  }

  /**
   * An answer while the client is still sending its body: the app will not read the rest,
   * so the connection cannot carry another request. It goes out with Connection: close and
   * the connection ends after it (as the app itself does with its early 413).
   */
  closeAfterUpload(): void {
    if (this.upload !== undefined && !this.req.complete) this.res.shouldKeepAlive = false;
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    this.silent = 0;
    if (status < 200) return true; // 100 Continue, 103 Early Hints: not relayed
    this.answered = true;
    const outlier = this.backend.outlier;
    if (outlier !== undefined) {
      if (status >= 500) outlier.failure(this.endpoint);
      else outlier.success(this.endpoint);
    }
    if (this.done) return true;
    this.resume = resume;
    this.closeAfterUpload();
    if (this.goal !== undefined) this.goal.headers(raw);
    const headers = responseHeaders(raw);
    if (this.setCookie !== undefined) headers.push('Set-Cookie', this.setCookie);
    const variant = this.backend.variantHeader;
    if (variant !== undefined) headers.push(variant[0], variant[1]);
    if (this.mirror !== undefined) this.mirror.primaryHeaders(status);
    this.res.writeHead(status, statusText, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.silent = 0;
    if (this.done) return true;
    if (this.mirror !== undefined) this.mirror.primaryChunk(chunk);
    if (this.res.write(chunk)) return true;
    // Backpressure: undici stops reading the app's socket until the client drains.
    this.paused = true;
    this.res.once('drain', onClientDrain);
    return false;
  }

  onComplete(): void {
    watch.remove(this);
    if (this.mirror !== undefined) this.mirror.primaryComplete();
    if (!this.done) this.res.end();
  }

  /** undici passes the chunk itself (its types say a size): mirroring keeps a reference. */
  onBodySent(chunk: Buffer | number): void {
    // The app is reading the upload: it is not silent.
    this.silent = 0;
    if (this.mirror !== undefined) this.mirror.requestChunk(chunk);
  }

  onRequestSent(): void {
    if (this.mirror !== undefined) this.mirror.requestSent();
  }

  onError(err: Error): void {
    watch.remove(this);
    if (this.done || this.res.writableEnded) return;
    const e = err as NodeJS.ErrnoException & { socket?: { bytesRead?: number } };
    const res = this.res;
    // Connect errors, resets, timeouts: the instance failed this request (the client did not leave).
    if (this.backend.outlier !== undefined && !this.answered) this.backend.outlier.failure(this.endpoint);
    if (this.answered || res.headersSent) {
      // The app (or the upstream timeout) broke the response: the client must see a broken
      // response, not a short one.
      res.destroy();
      return;
    }
    const timedOut = e.code === 'UND_ERR_HEADERS_TIMEOUT';
    if (!timedOut && this.proxy.retry(this, e)) return;
    this.byRouter = true;
    this.closeAfterUpload();
    const status = timedOut ? 504 : 502;
    const timeoutMs = this.listener.guard?.responseMs ?? this.proxy.timeoutMs;
    sendText(res, status, upstreamErrorText(status, this.listener, this.backend, this.endpoint, e, timeoutMs));
  }

  /** Its turn in the revision's queue (resilience.limits). */
  admit(e: CompiledEndpoint): void {
    if (!this.done) this.proxy.dispatch(this, e);
  }

  /** The revision's queue is full, or the wait was too long. */
  overflow(text: string): void {
    if (this.done) return;
    this.byRouter = true;
    const body = Buffer.from(text);
    this.res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store', 'retry-after': '1' });
    this.res.end(body);
  }
}

type WithExchange = { [kExchange]: Exchange };

export class RouterProxy implements GuardedProxy {
  readonly registry: InflightRegistry;
  readonly timeoutMs: number;
  private readonly pools: UpstreamPools;
  readonly lookup: (listen: string) => CompiledListener | undefined;
  private readonly resilience: ResilienceState | undefined;

  constructor(opts: ProxyOptions) {
    this.pools = opts.pools;
    this.timeoutMs = opts.upstreamTimeoutMs;
    this.registry = opts.registry;
    this.lookup = opts.lookup;
    this.resilience = opts.resilience;
  }

  handleRequest(listen: string, req: IncomingMessage, res: ServerResponse): void {
    const listener = this.lookup(listen);
    if (listener === undefined) {
      // A keep-alive connection on a listener just removed from the table.
      res.shouldKeepAlive = false;
      sendText(res, 503, `503 Service Unavailable: ${listen} is no longer routed\n`);
      return;
    }
    // Hold, buffering (resilience.ts), which then calls forward().
    if (listener.guard !== undefined && this.resilience !== undefined) this.resilience.admit(this, listen, listener, req, res);
    else this.forward(listener, req, res, undefined);
  }

  /** Chooses the revision and an endpoint, and sends the request; `body` when it was read first. */
  forward(listener: CompiledListener, req: IncomingMessage, res: ServerResponse, body: Buffer | undefined): void {
    const backend = chooseBackend(listener, req);
    if (backend === undefined) {
      sendPrepared(res, listener.maintenance);
      listener.unservedSeries.observe(listener.maintenance.status, true, 0);
      return;
    }
    const headers = requestHeaders(req, listener.routes.listen);
    const ex = new Exchange(this, req, res, listener, backend, headers, requestHasBody);
    ex.setCookie = assignedCookie;
    if (assignedCookie !== undefined) backend.series.newUsers++;
    const mirrors = listener.mirrors;
    if (mirrors !== undefined) ex.mirror = startMirrors(mirrors, req, headers, ex.hasBody, backend.revision, this.pools, this.registry, ex.start);
    const experiment = listener.experiment;
    if (experiment !== undefined) ex.goal = experiment.take();
    ex.buffered = body;
    (res as unknown as WithExchange)[kExchange] = ex;
    res.on('close', onClientClose);
    res.on('error', ignore);
    backend.series.inflight++;
    if (backend.queue === undefined) this.dispatch(ex, backend.balancer.pick());
    else backend.queue.enter(ex);
  }

  dispatch(ex: Exchange, endpoint: CompiledEndpoint): void {
    ex.endpoint = endpoint;
    ex.holdsEndpoint = true;
    ex.abort = undefined;
    this.registry.acquire(endpoint.load);
    const guard = ex.listener.guard;
    let pool = endpoint.pool;
    if (pool === undefined || pool.closed) pool = endpoint.pool = this.pools.get(endpoint.host, endpoint.port, guard?.connectMs);
    // The timeout is enforced by SilenceWatch: its limit in sweeps, so that it fires no sooner.
    // It runs from here, so a wait for one of the pool's connections counts too.
    ex.limitTicks = Math.ceil((guard?.responseMs ?? this.timeoutMs) / SWEEP_MS);
    ex.paused = false;
    watch.add(ex);
    const req = ex.req;
    const path = req.url ?? '/';
    if (path === '*') {
      asteriskRequest(ex, endpoint);
      return;
    }
    const body = ex.buffered ?? (ex.hasBody ? ex.uploadBody() : null);
    pool.dispatch({ method: req.method as Dispatcher.HttpMethod, path, headers: ex.headers, body }, ex);
  }

  /**
   * Second try (once, on another endpoint when there is one), only for an idempotent request
   * whose body, if any, was buffered (a streamed body is gone), and only for a failure that
   * means the app did not process it:
   * - the connection was never made (refused, unreachable, connect timeout);
   * - a reused keep-alive connection failed (reset, EPIPE, or closed) before the response
   *   head. The app read nothing of it or died before answering: that is what an instance
   *   killed or restarted under load does to the requests queued on its idle connections,
   *   and what every HTTP client retries (Go's Transport, browsers). "Reused" is
   *   bytesRead > 0 on the socket, i.e. it had carried earlier responses (undici's
   *   SocketError carries it, UpstreamPools tags raw ECONNRESET/EPIPE with it). A fresh
   *   connection that fails the same way is not retried: the app may have died of this very
   *   request, and retrying would take a second instance down with it. The one blind spot:
   *   a response head cut off in its first bytes also counts as "nothing answered".
   */
  retry(ex: Exchange, err: NodeJS.ErrnoException & { socket?: { bytesRead?: number }; bytesRead?: number }): boolean {
    if (ex.retried || !IDEMPOTENT.has(ex.req.method ?? '')) return false;
    if (ex.hasBody && ex.buffered === undefined) return false;
    const code = err.code ?? '';
    const neverConnected = NOT_CONNECTED.has(code);
    const staleSocket = (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') && (err.socket?.bytesRead ?? err.bytesRead ?? 0) > 0;
    if (!neverConnected && !staleSocket) return false;
    const other = ex.backend.balancer.pickOther(ex.endpoint) ?? (staleSocket ? ex.endpoint : undefined);
    if (other === undefined) return false;
    ex.retried = true;
    this.releaseEndpoint(ex);
    this.dispatch(ex, other);
    return true;
  }

  releaseEndpoint(ex: Exchange): void {
    if (ex.holdsEndpoint) {
      ex.holdsEndpoint = false;
      this.registry.release(ex.endpoint.load);
      // resilience.limits: a slot is free for the next waiter of the revision.
      const queue = ex.backend.queue;
      if (queue !== undefined && queue.length > 0) queue.pump();
    }
  }

  /**
   * WebSocket and other upgrades: forward the handshake, then splice the two sockets. The
   * endpoint counts as busy until both sides are closed, so draining waits for it.
   */
  handleUpgrade(listen: string, req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', ignore);
    const listener = this.lookup(listen);
    if (listener === undefined) {
      socket.end(rawAnswer(503, `503 Service Unavailable: ${listen} is no longer routed\n`));
      return;
    }
    const backend = chooseBackend(listener, req);
    if (backend === undefined) {
      const m = listener.maintenance;
      socket.end(rawAnswer(m.status, m.body.toString(), m.headers['retry-after']));
      listener.unservedSeries.observe(m.status, true, 0);
      return;
    }
    const setCookie = assignedCookie;
    if (setCookie !== undefined) backend.series.newUsers++;
    // An upgrade is exposed, but counts for no goal.
    listener.experiment?.take();
    forwardedHeaders(req, listen, true);
    const start = performance.now();
    const series = backend.series;
    const endpoint = backend.balancer.pick();
    this.registry.acquire(endpoint.load);
    series.inflight++;
    let upSocket: Socket | undefined;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.registry.release(endpoint.load);
      series.inflight--;
    };
    const fail = (status: number, text: string): void => {
      series.observe(status, true, (performance.now() - start) / 1000);
      if (!socket.destroyed) socket.end(rawAnswer(status, text));
      release();
    };
    const up = http.request({
      host: endpoint.host,
      port: endpoint.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent: false,
      timeout: this.timeoutMs,
    });
    up.on('timeout', () => up.destroy(Object.assign(new Error('upstream timeout'), { code: 'ETIMEDOUT' })));
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (upSocket !== undefined) return;
      fail(err.code === 'ETIMEDOUT' ? 504 : 502, upstreamErrorText(err.code === 'ETIMEDOUT' ? 504 : 502, listener, backend, endpoint, err, this.timeoutMs));
    });
    up.on('response', (ures: IncomingMessage) => {
      // The app declined the upgrade: relay its answer, then close (the body is unframed here).
      series.observe(ures.statusCode ?? 502, false, (performance.now() - start) / 1000);
      socket.write(rawHead(ures, true, setCookie));
      ures.on('error', ignore);
      ures.on('end', () => socket.end());
      ures.on('close', release);
      ures.pipe(socket, { end: false });
    });
    up.on('upgrade', (ures: IncomingMessage, usocket: Socket, uhead: Buffer) => {
      upSocket = usocket;
      series.observe(ures.statusCode ?? 101, false, (performance.now() - start) / 1000);
      usocket.setTimeout(0);
      usocket.on('error', ignore);
      socket.write(rawHead(ures, false, setCookie));
      if (uhead.length > 0) socket.write(uhead);
      if (head.length > 0) usocket.write(head);
      usocket.pipe(socket);
      socket.pipe(usocket);
      let open = 2;
      const closed = (): void => {
        socket.destroy();
        usocket.destroy();
        if (--open === 0) release();
      };
      usocket.on('close', closed);
      socket.on('close', closed);
    });
    socket.on('close', () => {
      if (upSocket === undefined) {
        up.destroy();
        release();
      }
    });
    up.end();
  }
}

/**
 * The Set-Cookie value for the request chooseBackend just routed (a new client of cookie
 * stickiness), else undefined. Written by every call; read right after it.
 */
let assignedCookie: string | undefined;

function chooseBackend(l: CompiledListener, req: IncomingMessage): CompiledBackend | undefined {
  assignedCookie = undefined;
  const rules = l.rules;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    if (r.test(req)) {
      // A rule whose revision has no ready instance defers to the split instead of failing.
      if (r.backend !== undefined) return r.backend;
      const rs = r.split;
      if (rs !== undefined) {
        const b = rs.sticky === undefined ? rs.split.next() : rs.sticky.choose(req);
        if (rs.sticky !== undefined) assignedCookie = rs.sticky.assigned;
        if (b !== undefined) return b;
      }
      break;
    }
  }
  const sticky = l.sticky;
  if (sticky === undefined) return l.split.next();
  const backend = sticky.choose(req);
  assignedCookie = sticky.assigned;
  return backend;
}

/**
 * For upgrades (sent with node:http): rewrites the incoming headers object in place (it is
 * ours, and copying it per request is what we avoid).
 */
function forwardedHeaders(req: IncomingMessage, listen: string, upgrade: boolean): void {
  const h = req.headers;
  const conn = h.connection;
  if (conn !== undefined) {
    if (conn !== 'keep-alive' && conn !== 'close' && conn !== 'Keep-Alive') {
      for (const token of conn.split(',')) {
        const name = token.trim().toLowerCase();
        if (name !== 'upgrade' && name !== 'transfer-encoding' && name !== '') delete h[name];
      }
    }
    if (upgrade) h.connection = 'upgrade';
    else delete h.connection;
  }
  if (h['keep-alive'] !== undefined) delete h['keep-alive'];
  if (h['proxy-connection'] !== undefined) delete h['proxy-connection'];
  if (h.te !== undefined) delete h.te;
  if (h.trailer !== undefined) delete h.trailer;
  if (!upgrade && h.upgrade !== undefined) delete h.upgrade;
  let remote = req.socket.remoteAddress ?? '';
  if (remote.startsWith('::ffff:')) remote = remote.slice(7);
  const xff = h['x-forwarded-for'];
  h['x-forwarded-for'] = xff === undefined ? remote : `${xff}, ${remote}`;
  // Set, not passed through: the router is the edge here, a client cannot claim https.
  h['x-forwarded-proto'] = 'http';
  h['x-forwarded-host'] = h.host ?? listen;
}

/** Whether the request requestHeaders just read has a body. Written by every call; read right after it. */
let requestHasBody = false;

/**
 * The request head for the app, as a flat name/value list built from the raw headers (no
 * headers object, duplicates and case kept): hop-by-hop headers and those named in
 * Connection dropped, X-Forwarded-* set. Transfer-Encoding is dropped too: undici re-chunks
 * a body of unknown length. Expect is dropped: Node's server has already answered
 * 100 Continue to the client, and undici does not send it.
 */
function requestHeaders(req: IncomingMessage, listen: string): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let host: string | undefined;
  let xff: string | undefined;
  let conn: string | undefined;
  let hasBody = false;
  let sawLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    switch (name.length) {
      case 2:
        if (name.toLowerCase() === 'te') continue;
        break;
      case 4:
        if (name.toLowerCase() === 'host') {
          if (host !== undefined) continue;
          host = value;
        }
        break;
      case 6:
        if (name.toLowerCase() === 'expect') continue;
        break;
      case 7: {
        const lower = name.toLowerCase();
        if (lower === 'trailer' || lower === 'upgrade') continue;
        break;
      }
      case 10: {
        const lower = name.toLowerCase();
        if (lower === 'connection') {
          conn = conn === undefined ? value : `${conn}, ${value}`;
          continue;
        }
        if (lower === 'keep-alive') continue;
        break;
      }
      case 14:
        if (name.toLowerCase() === 'content-length') {
          if (sawLength) continue;
          sawLength = true;
          if (value !== '0') hasBody = true;
        }
        break;
      case 15:
        if (name.toLowerCase() === 'x-forwarded-for') {
          xff = xff === undefined ? value : `${xff}, ${value}`;
          continue;
        }
        break;
      case 16: {
        const lower = name.toLowerCase();
        if (lower === 'proxy-connection' || lower === 'x-forwarded-host') continue;
        break;
      }
      case 17: {
        const lower = name.toLowerCase();
        if (lower === 'transfer-encoding') {
          hasBody = true;
          continue;
        }
        if (lower === 'x-forwarded-proto') continue;
        break;
      }
    }
    out.push(name, value);
  }
  requestHasBody = hasBody;
  let remote = req.socket.remoteAddress ?? '';
  if (remote.startsWith('::ffff:')) remote = remote.slice(7);
  // Set, not passed through: the router is the edge here, a client cannot claim https.
  out.push('x-forwarded-for', xff === undefined ? remote : `${xff}, ${remote}`, 'x-forwarded-proto', 'http', 'x-forwarded-host', host ?? listen);
  if (conn === undefined) return out;
  const v = conn.toLowerCase();
  if (v === 'keep-alive' || v === 'close') return out;
  const named = new Set<string>();
  for (const token of v.split(',')) {
    const t = token.trim();
    if (t !== '' && t !== 'x-forwarded-for' && t !== 'x-forwarded-proto' && t !== 'x-forwarded-host') named.add(t);
  }
  if (named.size === 0) return out;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (!named.has(out[i].toLowerCase())) kept.push(out[i], out[i + 1]);
  return kept;
}

/**
 * The app's response head without hop-by-hop headers (and those it named in Connection).
 * Names are lowercased only when their length is that of a hop-by-hop name (2, 7, 10, 16,
 * 17): most response headers are compared by length alone.
 */
function responseHeaders(rawBuffers: Buffer[]): string[] {
  const out: string[] = [];
  let connTokens: string[] | undefined;
  for (let i = 0; i < rawBuffers.length; i += 2) {
    const name = rawBuffers[i].toString('latin1');
    const value = rawBuffers[i + 1].toString('latin1');
    switch (name.length) {
      case 2:
      case 7:
      case 16:
      case 17: {
        if (HOP_BY_HOP.has(name.toLowerCase())) continue;
        break;
      }
      case 10: {
        const lower = name.toLowerCase();
        if (lower === 'connection') {
          const v = value.toLowerCase();
          if (v !== 'keep-alive' && v !== 'close') connTokens = v.split(',').map((t) => t.trim());
          continue;
        }
        if (lower === 'keep-alive') continue;
        break;
      }
    }
    out.push(name, value);
  }
  if (connTokens === undefined) return out;
  const named = new Set(connTokens);
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (!named.has(out[i].toLowerCase())) kept.push(out[i], out[i + 1]);
  return kept;
}

/**
 * `OPTIONS * HTTP/1.1` (asterisk-form), which undici refuses to send: node:http on a fresh
 * connection, driving the same handler.
 */
function asteriskRequest(ex: Exchange, endpoint: CompiledEndpoint): void {
  const up = http.request({
    host: endpoint.host,
    port: endpoint.port,
    method: ex.req.method,
    path: '*',
    headers: ex.headers,
    agent: false,
    timeout: ex.proxy.timeoutMs,
  });
  let answered = false;
  ex.onConnect((err) => up.destroy(err));
  up.on('timeout', () => up.destroy(Object.assign(new Error('upstream timeout'), { code: answered ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT' })));
  up.on('error', (err) => ex.onError(err));
  up.on('response', (ures: IncomingMessage) => {
    answered = true;
    ex.onHeaders(
      ures.statusCode ?? 502,
      ures.rawHeaders.map((h) => Buffer.from(h, 'latin1')),
      () => ures.resume(),
      ures.statusMessage ?? '',
    );
    ures.on('data', (chunk: Buffer) => {
      if (!ex.onData(chunk)) ures.pause();
    });
    ures.on('end', () => ex.onComplete());
    ures.on('error', (err) => ex.onError(err));
  });
  if (ex.buffered !== undefined) up.end(ex.buffered);
  else if (ex.hasBody) ex.req.pipe(up);
  else up.end();
}

function onClientDrain(this: ServerResponse): void {
  const ex = (this as unknown as WithExchange)[kExchange];
  ex.paused = false;
  ex.silent = 0;
  if (!ex.done && ex.resume !== undefined) ex.resume();
}

function onClientClose(this: ServerResponse): void {
  const ex = (this as unknown as WithExchange)[kExchange];
  ex.done = true;
  watch.remove(ex);
  if (ex.mirror !== undefined) ex.mirror.primaryClosed();
  if (ex.queue !== undefined) ex.queue.remove(ex);
  ex.proxy.releaseEndpoint(ex);
  const series: RevisionSeries = ex.backend.series;
  series.inflight--;
  const finished = this.writableFinished;
  if (!finished && ex.abort !== undefined) ex.abort();
  const seconds = (performance.now() - ex.start) / 1000;
  // A client that left before any answer is counted like nginx's 499: a 4xx, not the app's fault.
  if (finished || this.headersSent) series.observe(this.statusCode, ex.byRouter, seconds);
  else series.observeAbandoned(seconds);
  if (ex.goal !== undefined) ex.goal.finish(this.statusCode, finished);
}

function upstreamErrorText(
  status: number,
  l: CompiledListener,
  b: CompiledBackend,
  e: CompiledEndpoint,
  err: NodeJS.ErrnoException,
  timeoutMs: number,
): string {
  const who = `${l.routes.rollout} revision ${b.revision} instance ${e.id} at ${e.host}:${e.port}`;
  if (status === 504) return `504 Gateway Timeout: ${who} sent nothing for ${timeoutMs / 1000}s\n`;
  const code = err.code ?? '';
  const why =
    code === 'ECONNREFUSED'
      ? 'refused the connection (ECONNREFUSED)'
      : code === 'ECONNRESET' || code === 'EPIPE'
        ? `closed the connection before a complete response (${code})`
        : code.startsWith('HPE_')
          ? `sent an invalid HTTP response (${code})`
          : `could not be reached: ${err.message}`;
  return `502 Bad Gateway: ${who} ${why}\n`;
}

function sendText(res: ServerResponse, status: number, text: string): void {
  const body = Buffer.from(text);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
  res.end(body);
}

function sendPrepared(res: ServerResponse, a: PreparedAnswer): void {
  res.writeHead(a.status, a.headers);
  res.end(a.body);
}

function rawAnswer(status: number, text: string, retryAfter?: string | number): string {
  const len = Buffer.byteLength(text);
  const ra = retryAfter === undefined ? '' : `Retry-After: ${retryAfter}\r\n`;
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${len}\r\n${ra}Connection: close\r\n\r\n${text}`;
}

/**
 * Status line and headers as the app sent them, plus the router's Set-Cookie if any;
 * `closeDelimited` re-frames a relayed body.
 */
function rawHead(ures: IncomingMessage, closeDelimited: boolean, setCookie: string | undefined): string {
  let head = `HTTP/1.1 ${ures.statusCode} ${ures.statusMessage}\r\n`;
  const raw = ures.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (closeDelimited) {
      const lower = raw[i].toLowerCase();
      if (lower === 'transfer-encoding' || lower === 'content-length' || lower === 'connection' || lower === 'keep-alive') continue;
    }
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  if (setCookie !== undefined) head += `Set-Cookie: ${setCookie}\r\n`;
  if (closeDelimited) head += 'Connection: close\r\n';
  return head + '\r\n';
}

function ignore(): void {}

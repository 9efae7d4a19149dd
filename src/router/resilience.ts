import { readBoundedBody } from '../http/body.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Balancer, BalancerKind, CompiledEndpoint } from './balancer.js';
import type { PreparedAnswer } from './prepared-answer.js';
import { HealthRegistry, OutlierGroup, type OutlierEvents } from './outlier.js';
import type { EndpointHealth } from './endpoint-health.js';
import type { ListenerRoutes } from '../core/route-table.js';

/**
 * What `resilience` and `hold` compile to for one listener. A listener without either has
 * no CompiledGuard (`CompiledListener.guard` is undefined) and its requests never come here:
 * the proxy's hot path only tests that one field (and `CompiledBackend.queue/outlier`).
 */
export interface CompiledGuard {
  hold: { mode: 'stopped' | 'paused'; pauseTimeoutMs: number } | undefined;
  /** The answer while stopped, or to a paused request that waited too long. */
  holdAnswer: PreparedAnswer;
  /** bufferRequests.maxBytes, if bodies are read before an endpoint is chosen. */
  bufferMaxBytes: number | undefined;
  /** Upstream silence allowed before the response head and between body chunks (undici headers/bodyTimeout). */
  responseMs: number | undefined;
  /** TCP connect timeout (a Pool option: pools are keyed by it too, see UpstreamPools). */
  connectMs: number | undefined;
}

/** What the guard reads of a compiled listener (compile.ts's CompiledListener has all of it). */
export interface GuardedListener {
  routes: ListenerRoutes;
  guard: CompiledGuard | undefined;
  maintenance: PreparedAnswer;
  unservedSeries: { observe(status: number, byRouter: boolean, seconds: number): void };
  backends: ReadonlyMap<number, { balancer: Balancer; outlier: OutlierGroup | undefined; queue: RevisionQueue | undefined }>;
}

/** What the proxy gives the guard: how to carry on with a request once it may go. */
export interface GuardedProxy<L extends GuardedListener = GuardedListener> {
  lookup(listen: string): L | undefined;
  /** Chooses the revision and sends the request (handleRequest past the guard). */
  forward(listener: L, req: IncomingMessage, res: ServerResponse, body: Buffer | undefined): void;
  /** handleRequest from the start (a request released from a pause, under the new table). */
  handleRequest(listen: string, req: IncomingMessage, res: ServerResponse): void;
}

export const DEFAULT_PAUSE_TIMEOUT_MS = 30_000;

/**
 * Held requests released per endpoint at once when a pause ends (unless
 * resilience.limits.maxConnections says otherwise). Releasing hundreds at once opened as
 * many new connections, more than a small listen backlog takes (issue 9 defect 13); a few
 * per endpoint at a time drain a backlog over the pool's warm connections.
 */
export const RELEASE_PER_ENDPOINT = 8;

/**
 * The balancer of a revision with outlier ejection and/or connection limits: ejected
 * endpoints are skipped (unless every endpoint is ejected: then they all serve, rather than
 * nothing), and `pickFree` only returns an endpoint with fewer than `maxConnections`
 * requests in flight. round-robin takes the next such endpoint in turn; least-requests the
 * least loaded one.
 */
export class GuardedBalancer implements Balancer {
  private next = 0;
  constructor(
    private readonly kind: BalancerKind,
    private readonly endpoints: CompiledEndpoint[],
    readonly maxConnections: number,
  ) {}

  pick(): CompiledEndpoint {
    return this.choose(undefined, Infinity)!;
  }

  /** An endpoint below the connection limit, or undefined when the healthy ones are all full. */
  pickFree(): CompiledEndpoint | undefined {
    return this.choose(undefined, this.maxConnections);
  }

  /** For the retry: another endpoint, below the limit if possible, healthy if possible. */
  pickOther(except: CompiledEndpoint): CompiledEndpoint | undefined {
    return this.choose(except, this.maxConnections) ?? this.choose(except, Infinity);
  }

  private choose(except: CompiledEndpoint | undefined, cap: number): CompiledEndpoint | undefined {
    const eps = this.endpoints;
    const n = eps.length;
    const rr = this.kind === 'round-robin';
    const first = this.next;
    if (!rr && ++this.next === n) this.next = 0;
    let best: CompiledEndpoint | undefined;
    let bestLoad = Infinity;
    let fallback: CompiledEndpoint | undefined;
    let fallbackLoad = Infinity;
    let healthy = false;
    for (let k = 0, i = first; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      const e = eps[i];
      if (e === except) continue;
      const load = e.load.inflight;
      const ejected = e.health?.ejected;
      if (!ejected) healthy = true;
      if (load >= cap) continue;
      if (ejected) {
        if (load < fallbackLoad) {
          fallback = e;
          fallbackLoad = load;
        }
        continue;
      }
      if (rr) {
        this.next = i + 1 === n ? 0 : i + 1;
        return e;
      }
      if (load < bestLoad) {
        best = e;
        bestLoad = load;
      }
    }
    if (best !== undefined) return best;
    if (healthy) return undefined;
    if (rr && fallback !== undefined) this.next = (eps.indexOf(fallback) + 1) % n;
    return fallback;
  }
}

/** A request waiting for a free endpoint of its revision (implemented by the proxy's Exchange). */
export interface QueueWaiter {
  queue: RevisionQueue | undefined;
  queueTimer: NodeJS.Timeout | undefined;
  /** Its turn: send it to `e`. */
  admit(e: CompiledEndpoint): void;
  /** Refused: 503 with this text. */
  overflow(text: string): void;
}

/**
 * The bounded FIFO of one (listener, revision) under `resilience.limits`. It outlives table
 * swaps (keyed like the metrics series) so that waiters are served by the endpoints of the
 * table in effect; `balancer` and the limits are replaced at each swap.
 */
export class RevisionQueue {
  balancer!: GuardedBalancer;
  maxPending = 0;
  timeoutMs = 0;
  private readonly waiters: QueueWaiter[] = [];
  overflowFull = 0;
  overflowTimeout = 0;
  constructor(
    readonly listen: string,
    readonly rollout: string,
    readonly revision: number,
  ) {}

  get length(): number {
    return this.waiters.length;
  }

  /** Admits `w` now if an endpoint is free (and nobody is ahead), else queues or refuses it. */
  enter(w: QueueWaiter): void {
    if (this.waiters.length === 0) {
      const e = this.balancer.pickFree();
      if (e !== undefined) {
        w.admit(e);
        return;
      }
    }
    if (this.waiters.length >= this.maxPending) {
      this.overflowFull++;
      w.overflow(
        `503 Service Unavailable: every instance of ${this.rollout} revision ${this.revision} has ${this.balancer.maxConnections} request(s) in flight ` +
          `and ${this.waiters.length} more are waiting (resilience.limits); retry shortly\n`,
      );
      return;
    }
    w.queue = this;
    const ms = this.timeoutMs;
    w.queueTimer = setTimeout(() => {
      w.queueTimer = undefined;
      if (!this.remove(w)) return;
      this.overflowTimeout++;
      w.overflow(
        `503 Service Unavailable: waited ${ms} ms for a free instance of ${this.rollout} revision ${this.revision} ` +
          `(at most ${this.balancer.maxConnections} request(s) in flight each, resilience.limits); retry shortly\n`,
      );
    }, ms);
    this.waiters.push(w);
  }

  /** Takes `w` out (its client left, or it timed out); false if it was not waiting here. */
  remove(w: QueueWaiter): boolean {
    const i = this.waiters.indexOf(w);
    if (i < 0) return false;
    this.waiters.splice(i, 1);
    w.queue = undefined;
    if (w.queueTimer !== undefined) {
      clearTimeout(w.queueTimer);
      w.queueTimer = undefined;
    }
    return true;
  }

  /** A request finished (or the table changed): admits waiters while endpoints are free. */
  pump(): void {
    while (this.waiters.length > 0) {
      const e = this.balancer.pickFree();
      if (e === undefined) return;
      this.admitHead(e);
    }
  }

  /** Limits gone from the table: everybody waiting goes now. */
  flush(): void {
    while (this.waiters.length > 0) this.admitHead(this.balancer.pick());
  }

  private admitHead(e: CompiledEndpoint): void {
    const w = this.waiters.shift()!;
    w.queue = undefined;
    if (w.queueTimer !== undefined) {
      clearTimeout(w.queueTimer);
      w.queueTimer = undefined;
    }
    w.admit(e);
  }
}

/** A request held by a paused listener. */
interface HeldRequest {
  req: IncomingMessage;
  res: ServerResponse;
  timer: NodeJS.Timeout;
  onClose: () => void;
}

/**
 * The requests held by one listener, in arrival order, and once its pause ends the release
 * in progress: at most releaseCap() of them in flight, the next one sent as one finishes.
 * Waiting to be released, a request keeps a hold timer (re-armed at the resume), so none
 * waits without bound even behind a slow app.
 */
interface HoldLine {
  waiting: Set<HeldRequest>;
  inflight: number;
  /** The pause has ended and the line is being released. */
  releasing: boolean;
}

/**
 * Everything of resilience and hold that outlives a table: endpoint health, queues, the
 * requests held by paused listeners, and their counters. Owned by the Router.
 */
export class ResilienceState implements OutlierEvents {
  readonly health = new HealthRegistry();
  private readonly queues = new Map<string, RevisionQueue>();
  private readonly held = new Map<string, HoldLine>();
  private readonly ejections = new Map<string, number>();
  private queuesInEffect = new Set<RevisionQueue>();

  constructor(private readonly log: (line: string) => void) {}

  // ---- compiling (called by compileTable, touches nothing live) ----

  /** The guard of a listener, or undefined when it has neither `resilience` nor `hold`. */
  compileListener(l: ListenerRoutes, maintenance: PreparedAnswer): CompiledGuard | undefined {
    const r = l.resilience;
    if (r === undefined && l.hold === undefined) return undefined;
    return {
      hold: l.hold === undefined ? undefined : { mode: l.hold.mode, pauseTimeoutMs: l.hold.pauseTimeoutMs ?? DEFAULT_PAUSE_TIMEOUT_MS },
      holdAnswer: holdAnswer(l, maintenance),
      bufferMaxBytes: r?.bufferRequests?.maxBytes,
      responseMs: r?.timeouts?.responseMs,
      connectMs: r?.timeouts?.connectMs,
    };
  }

  /**
   * A revision's balancer, outlier group and queue when the listener has outlier ejection or
   * limits; undefined otherwise (the plain balancers then serve). Sets `health` on the endpoints.
   */
  compileBackend(
    l: ListenerRoutes,
    revision: number,
    endpoints: CompiledEndpoint[],
  ): { balancer: Balancer; outlier: OutlierGroup | undefined; queue: RevisionQueue | undefined } | undefined {
    const outlier = l.resilience?.outlier;
    const limits = l.resilience?.limits;
    if (outlier === undefined && limits === undefined) return undefined;
    if (outlier !== undefined) for (const e of endpoints) e.health = this.health.health(e.id);
    const balancer = new GuardedBalancer(l.balancer, endpoints, limits?.maxConnections ?? Infinity);
    let queue: RevisionQueue | undefined;
    if (limits !== undefined) {
      const key = `${l.listen}\0${l.rollout}\0${revision}`;
      queue = this.queues.get(key);
      if (queue === undefined) {
        queue = new RevisionQueue(l.listen, l.rollout, revision);
        // Usable at once (a new listener serves the table being applied); adopt() sets these
        // on queues that already serve, once the table is in effect.
        queue.balancer = balancer;
        queue.maxPending = limits.maxPending;
        queue.timeoutMs = limits.queueTimeoutMs;
        this.queues.set(key, queue);
      }
    }
    return {
      balancer,
      outlier: outlier === undefined ? undefined : new OutlierGroup(outlier, endpoints, l.rollout, revision, this),
      queue,
    };
  }

  // ---- after a swap ----

  /**
   * The table `listeners` is now in effect: queues take their new balancer and limits and
   * admit what they can, health is forgotten for endpoints no longer checked, and requests
   * held by a listener that is no longer paused go on under the new table.
   */
  adopt<L extends GuardedListener>(listeners: Iterable<L>, proxy: GuardedProxy<L>): void {
    const inEffect = new Set<RevisionQueue>();
    const checked = new Set<string>();
    for (const cl of listeners) {
      const limits = cl.routes.resilience?.limits;
      for (const b of cl.backends.values()) {
        if (b.outlier !== undefined) for (const e of b.outlier.endpoints) checked.add(e.id);
        const q = b.queue;
        if (q === undefined || limits === undefined) continue;
        q.balancer = b.balancer as GuardedBalancer;
        q.maxPending = limits.maxPending;
        q.timeoutMs = limits.queueTimeoutMs;
        inEffect.add(q);
      }
    }
    for (const q of this.queuesInEffect) if (!inEffect.has(q)) q.flush();
    for (const [key, q] of this.queues) if (!inEffect.has(q) && q.length === 0) this.queues.delete(key);
    this.queuesInEffect = inEffect;
    for (const q of inEffect) q.pump();
    this.health.retain(checked);
    for (const [listen, line] of this.held) {
      if (proxy.lookup(listen)?.guard?.hold?.mode === 'paused') continue;
      if (!line.releasing) {
        line.releasing = true;
        // A fresh wait for the release: the time held already was the operator's pause.
        for (const h of line.waiting) h.timer.refresh();
      }
      this.release(listen, line, proxy);
    }
  }

  /** Sends held requests of `listen` on, FIFO, while fewer than releaseCap() are in flight. */
  private release(listen: string, line: HoldLine, proxy: GuardedProxy): void {
    const l = proxy.lookup(listen);
    // Paused again: the rest wait for the next resume.
    if (l?.guard?.hold?.mode === 'paused') {
      line.releasing = false;
      return;
    }
    const cap = releaseCap(l);
    for (const h of line.waiting) {
      if (line.inflight >= cap) return;
      line.waiting.delete(h);
      clearTimeout(h.timer);
      h.res.off('close', h.onClose);
      line.inflight++;
      h.res.once('close', () => {
        line.inflight--;
        this.release(listen, line, proxy);
      });
      proxy.handleRequest(listen, h.req, h.res);
    }
    if (line.waiting.size === 0 && line.inflight === 0 && this.held.get(listen) === line) this.held.delete(listen);
  }

  // ---- per request (guarded listeners only) ----

  /** A request on a listener with a guard: hold, then buffering, then on to the proxy. */
  admit<L extends GuardedListener>(proxy: GuardedProxy<L>, listen: string, listener: L, req: IncomingMessage, res: ServerResponse): void {
    const g = listener.guard!;
    const hold = g.hold;
    if (hold !== undefined) {
      if (hold.mode === 'stopped') {
        sendPrepared(res, g.holdAnswer);
        listener.unservedSeries.observe(g.holdAnswer.status, true, 0);
      } else {
        this.hold(proxy, listen, req, res, hold.pauseTimeoutMs);
      }
      return;
    }
    const max = g.bufferMaxBytes;
    if (max !== undefined && (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0')) {
      bufferBody(req, res, max, listener, (body) => {
        // The upload may have taken a while: route it with the table in effect now.
        const now = proxy.lookup(listen) ?? listener;
        proxy.forward(now, req, res, body);
      });
      return;
    }
    proxy.forward(listener, req, res, undefined);
  }

  private hold(proxy: GuardedProxy, listen: string, req: IncomingMessage, res: ServerResponse, timeoutMs: number): void {
    let line = this.held.get(listen);
    if (line === undefined) {
      line = { waiting: new Set(), inflight: 0, releasing: false };
      this.held.set(listen, line);
    }
    // Holding again: paused, whatever was being released.
    line.releasing = false;
    const set = line.waiting;
    const held: HeldRequest = {
      req,
      res,
      timer: setTimeout(() => {
        set.delete(held);
        res.off('close', held.onClose);
        const l = proxy.lookup(listen);
        if (l === undefined) {
          proxy.handleRequest(listen, req, res);
          return;
        }
        // Still paused: the operator's answer; waiting behind a release: the maintenance answer.
        const answer = l.guard?.hold !== undefined ? l.guard.holdAnswer : l.maintenance;
        sendPrepared(res, answer);
        l.unservedSeries.observe(answer.status, true, timeoutMs / 1000);
      }, timeoutMs).unref(),
      // The client gave up: drop it from the wait list.
      onClose: () => {
        clearTimeout(held.timer);
        set.delete(held);
      },
    };
    res.once('close', held.onClose);
    set.add(held);
  }

  /** At shutdown: held requests get their listener's hold answer now rather than at their timeout. */
  close(proxy: GuardedProxy): void {
    for (const [listen, line] of this.held) {
      this.held.delete(listen);
      const answer = proxy.lookup(listen)?.guard?.holdAnswer;
      for (const h of line.waiting) {
        clearTimeout(h.timer);
        h.res.off('close', h.onClose);
        h.res.shouldKeepAlive = false;
        if (answer === undefined) h.res.destroy();
        else sendPrepared(h.res, answer);
      }
    }
  }

  /** Requests held by paused listeners right now. */
  heldCount(): number {
    let n = 0;
    for (const line of this.held.values()) n += line.waiting.size;
    return n;
  }

  // ---- OutlierEvents ----

  ejected(group: OutlierGroup, e: CompiledEndpoint, ms: number): void {
    const key = `rollout="${esc(group.rollout)}",revision="${group.revision}",endpoint="${esc(e.id)}"`;
    this.ejections.set(key, (this.ejections.get(key) ?? 0) + 1);
    const h = e.health!;
    this.log(
      `outlier: ejected ${group.rollout} revision ${group.revision} instance ${e.id} at ${e.host}:${e.port} for ${ms} ms ` +
        `(${group.config.consecutiveFailures} failures in a row; ejection #${h.ejections})`,
    );
  }

  returned(h: EndpointHealth, address: string): void {
    this.log(`outlier: instance ${h.id} at ${address} is back in rotation`);
  }

  /** Prometheus text for the counters kept here (appended to RouterMetrics' output). */
  render(): string {
    const out: string[] = [
      '# HELP sluice_router_ejections_total Times an instance was ejected by passive outlier detection.',
      '# TYPE sluice_router_ejections_total counter',
    ];
    for (const [labels, n] of this.ejections) out.push(`sluice_router_ejections_total{${labels}} ${n}`);
    out.push('# HELP sluice_router_ejected Instances currently ejected (1) among those checked.', '# TYPE sluice_router_ejected gauge');
    for (const [id, ejected] of this.health.entries()) out.push(`sluice_router_ejected{endpoint="${esc(id)}"} ${ejected ? 1 : 0}`);
    out.push(
      '# HELP sluice_router_overflow_total Requests refused with 503 by connection limits: queue full, or waited too long.',
      '# TYPE sluice_router_overflow_total counter',
    );
    for (const q of this.queues.values()) {
      const l = `listener="${esc(q.listen)}",rollout="${esc(q.rollout)}",revision="${q.revision}"`;
      out.push(
        `sluice_router_overflow_total{${l},reason="queue_full"} ${q.overflowFull}`,
        `sluice_router_overflow_total{${l},reason="queue_timeout"} ${q.overflowTimeout}`,
      );
    }
    out.push('# HELP sluice_router_held_requests Requests waiting on a paused listener.', '# TYPE sluice_router_held_requests gauge');
    out.push(`sluice_router_held_requests ${this.heldCount()}`);
    return out.join('\n') + '\n';
  }
}

/**
 * Reads the whole request body before it is routed. A declared length over `max` is refused
 * at once; a chunked body as soon as it passes `max`. Either way the connection is closed
 * after the 413 (the rest of the body is not read).
 */
function bufferBody(req: IncomingMessage, res: ServerResponse, max: number, listener: GuardedListener, done: (body: Buffer) => void): void {
  const tooLarge = (): void => {
    res.shouldKeepAlive = false;
    const text = `413 Content Too Large: request bodies on ${listener.routes.listen} are limited to ${max} bytes (resilience.bufferRequests.maxBytes)\n`;
    const body = Buffer.from(text);
    res.writeHead(413, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store', connection: 'close' });
    res.end(body);
    listener.unservedSeries.observe(413, false, 0);
  };
  readBoundedBody(req, max, {
    tooLarge,
    done: (body) => {
      if (!res.destroyed && !res.headersSent) done(body);
    },
  });
  req.on('error', () => {});
}

/** How many released requests of a listener may be in flight at once (RELEASE_PER_ENDPOINT). */
function releaseCap(l: GuardedListener | undefined): number {
  // A listener gone from the table answers at once: nothing reaches an app.
  if (l === undefined) return Infinity;
  let endpoints = 0;
  for (const b of l.routes.backends) endpoints += b.endpoints.length;
  return Math.max(1, endpoints) * (l.routes.resilience?.limits?.maxConnections ?? RELEASE_PER_ENDPOINT);
}

function holdAnswer(l: ListenerRoutes, maintenance: PreparedAnswer): PreparedAnswer {
  if (l.maintenance !== undefined) return maintenance;
  const what = l.hold?.mode === 'paused' ? 'paused' : 'stopped';
  const body = Buffer.from(`503 Service Unavailable: traffic to ${l.rollout} behind ${l.listen} is ${what} by the operator; retry later\n`);
  return {
    status: 503,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store', 'retry-after': 1 },
    body,
  };
}

function sendPrepared(res: ServerResponse, a: PreparedAnswer): void {
  res.writeHead(a.status, a.headers);
  res.end(a.body);
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

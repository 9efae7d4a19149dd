import type { Socket } from 'node:net';
import { buildConnector, Pool } from 'undici';
import type { RouteTable } from '../core/route-table.js';

/**
 * Keep-alive connection pools to the endpoints, one undici Pool per host:port. undici is
 * the HTTP client behind Node's fetch; for a proxy it costs about half of node:http's
 * client per request (no ClientRequest/IncomingMessage objects, no Agent bookkeeping, no
 * per-request listeners). Upgrades stay on node:http.
 *
 * Idle connections are closed after at most 4 s, before Node apps close them (their default
 * keepAliveTimeout is 5 s, and undici also honours a shorter `Keep-Alive: timeout=` hint):
 * reusing a socket the app is closing would fail the request.
 */
/** undici's own default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * undici's connector, plus: a socket error (ECONNRESET, EPIPE) gets `bytesRead`, the bytes
 * the socket had received when it failed. undici passes such errors on as they are, without
 * the socket info its own SocketError ('other side closed') carries; the proxy's retry rule
 * needs it to tell a reused keep-alive connection (bytesRead > 0) from a fresh one.
 */
function countingConnector(timeout: number): buildConnector.connector {
  const connect = buildConnector({ timeout });
  return (opts, cb) =>
    connect(opts, (err, socket) => {
      if (socket) {
        // Registered before undici's own listener, so the error is tagged before undici sees it.
        socket.on('error', tagBytesRead);
        keepReadingAfterPeerClosed(socket as Socket);
      }
      (cb as (err: Error | null, socket: Socket | null) => void)(err, socket as Socket | null);
    });
}

type WriteCallback = (err?: Error | null) => void;
type SocketWrites = Socket & {
  _write(chunk: unknown, encoding: BufferEncoding, cb: WriteCallback): void;
  _writev?(chunks: unknown[], cb: WriteCallback): void;
};

/**
 * An app may answer before it has read the whole request (a 413 to a large upload) and close
 * the connection: writing the rest of the body then fails (EPIPE, ECONNRESET) while its answer
 * is already in the socket's receive buffer. Node destroys a socket at its first failed
 * write, before that answer is read, so the client would get a 502 instead of the app's
 * answer (nginx forwards it). Here a failed write does not fail the socket: the rest of the
 * body is discarded and the socket stays readable until the answer, or the reset behind it,
 * ends the request (undici then completes it as a "response completed before request").
 * An app that died without answering still ends in ECONNRESET or EOF: a 502 as before.
 */
function keepReadingAfterPeerClosed(socket: Socket): void {
  const s = socket as SocketWrites;
  const write = s._write;
  const writev = s._writev;
  let peerClosed = false;
  const guard =
    (cb: WriteCallback): WriteCallback =>
    (err) => {
      const code = (err as NodeJS.ErrnoException | null | undefined)?.code;
      if (code === 'EPIPE' || code === 'ECONNRESET') {
        peerClosed = true;
        cb();
      } else cb(err);
    };
  s._write = function (chunk, encoding, cb) {
    if (peerClosed) cb();
    else write.call(this, chunk, encoding, guard(cb));
  };
  if (writev !== undefined) {
    s._writev = function (chunks, cb) {
      if (peerClosed) cb();
      else writev.call(this, chunks, guard(cb));
    };
  }
}

function tagBytesRead(this: Socket, err: Error & { bytesRead?: number }): void {
  err.bytesRead ??= this.bytesRead;
}

export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  /** How long an upstream may stay silent (proxy.ts, UPSTREAM_TIMEOUT_MS). */
  constructor(readonly timeoutMs: number) {}

  /**
   * `connectMs` (a listener's resilience.timeouts.connectMs) is a Pool option, so a listener
   * with its own connect timeout gets its own pool to the endpoint (key host:port#ms).
   */
  get(host: string, port: number, connectMs?: number): Pool {
    const key = connectMs === undefined ? `${host}:${port}` : `${host}:${port}#${connectMs}`;
    let pool = this.pools.get(key);
    if (pool === undefined || pool.closed || pool.destroyed) {
      pool = new Pool(`http://${host.includes(':') ? `[${host}]` : host}:${port}`, {
        connections: 1024,
        pipelining: 1,
        keepAliveTimeout: 4000,
        keepAliveMaxTimeout: 4000,
        // No undici timers: they cost a timer (re)armed on every request of a reused
        // connection. The proxy enforces its upstream timeout itself with one coarse sweep
        // (proxy.ts, SilenceWatch); mirror copies pass `timeoutMs` per request.
        headersTimeout: 0,
        bodyTimeout: 0,
        strictContentLength: true,
        connect: countingConnector(connectMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** After a table swap: pools of endpoints no longer routed close once their requests are done. */
  retain(table: RouteTable): void {
    const keep = new Set<string>();
    for (const l of table.listeners) for (const b of l.backends) for (const e of b.endpoints) keep.add(`${e.host}:${e.port}`);
    for (const [key, pool] of this.pools) {
      const hash = key.lastIndexOf('#');
      if (keep.has(hash < 0 ? key : key.slice(0, hash))) continue;
      this.pools.delete(key);
      pool.close().catch(() => {});
    }
  }

  /** At shutdown, after draining: cuts whatever is left. */
  async destroy(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.destroy().catch(() => {})));
  }
}

import http from 'node:http';
import net, { type Socket } from 'node:net';
import { parseHostPort } from '../util/host-port.js';

/** What a listening socket hands its requests to: the proxy, or the OFREP endpoint (flags.ts). */
export interface ListenerHandler {
  handleRequest(listen: string, req: http.IncomingMessage, res: http.ServerResponse): void;
  handleUpgrade(listen: string, req: http.IncomingMessage, socket: Socket, head: Buffer): void;
}

/**
 * How long, during a handover, the old router keeps a keep-alive connection that carries no
 * request before closing it. See ConnectionTracker.retire for why it is not closed at once.
 */
export const HANDOVER_IDLE_GRACE_MS = 1000;

/**
 * The connections of one http.Server, for a graceful handover (src/router/README.md,
 * "Restart without dropping a request"). Costs a Set entry per connection, nothing per request
 * but one boolean test.
 */
export class ConnectionTracker {
  /** Once true, every response goes out with `Connection: close`. */
  retiring = false;
  private readonly sockets = new Set<Socket>();
  /** Since retire(): when each connection last carried a byte or a request, and its byte count then. */
  private readonly activity = new Map<Socket, { at: number; bytesRead: number }>();

  constructor(private readonly server: http.Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.activity.delete(socket);
      });
      if (this.retiring) this.activity.set(socket, { at: Date.now(), bytesRead: socket.bytesRead });
    });
  }

  /** Call at the top of the request handler. */
  onRequest(res: http.ServerResponse): void {
    if (this.retiring) res.shouldKeepAlive = false;
  }

  get connections(): number {
    return this.sockets.size;
  }

  /**
   * Handover, old side. Stops accepting (the successor accepts on the same socket), answers
   * every request still in flight, or still arriving on an open keep-alive connection, with
   * `Connection: close`, and closes a connection only once it has carried no byte and no
   * request for `idleGraceMs`; after `drainMs` it cuts whatever is left (`upgraded` too).
   *
   * Why idle keep-alive connections are not closed at once (what http.Server.close() does
   * since Node 19): a client may be writing its next request on one at that very moment, and
   * that request would be lost (ECONNRESET on a reused connection, which many clients, Node's
   * http.Agent included, do not retry). A request that arrives during the grace is answered,
   * with `Connection: close`. Remaining risk: a connection that stays silent for the whole
   * grace and is then picked by its client in the instant our FIN is on its way. Clients that
   * retry a request whose reused connection closed before any response byte (RFC 9112
   * §9.3.1: browsers, Go, curl; undici for idempotent methods) do not see even that.
   */
  retire(drainMs: number, idleGraceMs: number, upgraded: Set<Socket> = new Set()): Promise<void> {
    this.retiring = true;
    const started = Date.now();
    for (const s of this.sockets) {
      this.activity.set(s, { at: started, bytesRead: s.bytesRead });
      // A request in flight whose answer has not started: make that answer the last one.
      const current = (s as Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage;
      if (current != null && !current.headersSent) current.shouldKeepAlive = false;
    }
    return new Promise((resolve) => {
      const sweep = setInterval(() => {
        const now = Date.now();
        for (const s of this.sockets) {
          if (upgraded.has(s)) continue;
          const a = this.activity.get(s) ?? { at: now, bytesRead: s.bytesRead };
          const busy = (s as Socket & { _httpMessage?: unknown })._httpMessage != null || s.writableLength > 0;
          if (busy || s.bytesRead !== a.bytesRead) {
            a.at = now;
            a.bytesRead = s.bytesRead;
          }
          this.activity.set(s, a);
          if (now - a.at >= idleGraceMs) s.destroy();
        }
      }, 25);
      const force = setTimeout(() => {
        for (const s of this.sockets) s.destroy();
        for (const s of upgraded) s.destroy();
      }, drainMs);
      // net.Server's close, not http.Server's: the latter also closes idle connections at once.
      net.Server.prototype.close.call(this.server, () => {
        clearInterval(sweep);
        clearTimeout(force);
        resolve();
      });
    });
  }
}

/** One listening address and the connections it accepted. */
export class ListenerServer {
  private readonly server: http.Server;
  private readonly tracker: ConnectionTracker;
  /** Upgraded connections are invisible to server.close(); tracked to end them on shutdown. */
  private readonly upgraded = new Set<Socket>();

  /**
   * `keepAliveMs`: how long an idle keep-alive connection stays open, announced to clients as
   * `Keep-Alive: timeout=`. Public listeners keep 65 s (longer than the 60 s idle timeout of
   * the load balancers usually in front). `handoverIdleGraceMs`: see ConnectionTracker.retire;
   * a listener whose clients honour the hint (undici closes its side 1–2 s before it) waits
   * longer than the hint, so it is the client, never this side, that closes an idle one.
   */
  constructor(
    readonly listen: string,
    proxy: ListenerHandler,
    private readonly opts: { keepAliveMs?: number; handoverIdleGraceMs?: number } = {},
  ) {
    // No request timeout: uploads and streams may be long; stalls are bounded by the upstream
    // timeout instead. headersTimeout still guards against clients that never finish headers.
    this.server = http.createServer({ requestTimeout: 0, keepAliveTimeout: opts.keepAliveMs ?? 65_000, noDelay: true }, (req, res) => {
      this.tracker.onRequest(res);
      proxy.handleRequest(listen, req, res);
    });
    this.tracker = new ConnectionTracker(this.server);
    this.server.on('upgrade', (req, socket: Socket, head: Buffer) => {
      this.upgraded.add(socket);
      socket.on('close', () => this.upgraded.delete(socket));
      proxy.handleUpgrade(listen, req, socket, head);
    });
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** The listening server, to pass to a successor process (child.send(message, server)). */
  get handle(): net.Server {
    return this.server;
  }

  open(): Promise<void> {
    const addr = parseHostPort(this.listen);
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new Error(`cannot listen on ${this.listen}: ${err.code === 'EADDRINUSE' ? 'address already in use (EADDRINUSE)' : err.message}`));
      };
      this.server.once('error', onError);
      this.server.listen({ host: addr.host, port: addr.port, backlog: 1024 }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  /**
   * Handover, new side: accept on the predecessor's listening socket (received over IPC).
   * Synchronous on purpose: the received server must not run a poll phase without us.
   */
  adopt(received: net.Server): void {
    this.server.listen(received);
  }

  /**
   * Stops accepting at once, lets requests in flight finish (keep-alive connections are
   * closed as soon as they are idle), and after drainMs cuts whatever is left.
   */
  close(drainMs: number): Promise<void> {
    return new Promise((resolve) => {
      const sweep = setInterval(() => this.server.closeIdleConnections(), 50);
      const force = setTimeout(() => {
        this.server.closeAllConnections();
        for (const s of this.upgraded) s.destroy();
      }, drainMs);
      this.server.close(() => {
        clearInterval(sweep);
        clearTimeout(force);
        resolve();
      });
      this.server.closeIdleConnections();
      if (this.upgraded.size === 0 && drainMs <= 0) this.server.closeAllConnections();
    });
  }

  /** Handover, old side: see ConnectionTracker.retire. The listener's own grace wins when longer. */
  retire(drainMs: number, idleGraceMs: number): Promise<void> {
    return this.tracker.retire(drainMs, Math.max(idleGraceMs, this.opts.handoverIdleGraceMs ?? 0), this.upgraded);
  }
}

import http from 'node:http';
import type { Socket } from 'node:net';
import { parseHostPort } from './address.js';
import type { Proxy } from './proxy.js';

/** One listening address and the connections it accepted. */
export class ListenerServer {
  private readonly server: http.Server;
  /** Upgraded connections are invisible to server.close(); tracked to end them on shutdown. */
  private readonly upgraded = new Set<Socket>();

  constructor(
    readonly listen: string,
    proxy: Proxy,
  ) {
    // No request timeout: uploads and streams may be long; stalls are bounded by the upstream
    // timeout instead. headersTimeout still guards against clients that never finish headers.
    this.server = http.createServer({ requestTimeout: 0, keepAliveTimeout: 65_000, noDelay: true }, (req, res) =>
      proxy.handleRequest(listen, req, res),
    );
    this.server.on('upgrade', (req, socket: Socket, head: Buffer) => {
      this.upgraded.add(socket);
      socket.on('close', () => this.upgraded.delete(socket));
      proxy.handleUpgrade(listen, req, socket, head);
    });
  }

  open(): Promise<void> {
    const addr = parseHostPort(this.listen)!;
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
}

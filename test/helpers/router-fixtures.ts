import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { Router } from '../../src/router/router.js';
import { createAdminServer } from '../../src/router/admin.js';
import { HttpTrafficRouter } from '../../src/router/http-client.js';
import type { Endpoint, ListenerRoutes, RouteTable } from '../../src/core/route-table.js';
import { freePort } from './ports.js';

/**
 * A small app instance for router tests. It answers with its name and supports:
 *   /slow?ms=N   answers after N ms          /echo      streams the request body back
 *   /headers     the request headers as JSON /stream    one chunk, then waits for releaseStream()
 *   /hang        never answers               upgrade    raw WebSocket-style handshake, echoes "echo:<data>"
 */
export interface Backend {
  name: string;
  port: number;
  endpoint(id?: string): Endpoint;
  /** Requests in progress, by path. */
  active: Map<string, number>;
  hits: number;
  releaseStream(): void;
  close(): Promise<void>;
}

export async function startBackend(name: string): Promise<Backend> {
  const active = new Map<string, number>();
  const sockets = new Set<Socket>();
  let streamRelease: (() => void) | undefined;
  const state = { hits: 0 };
  const server = http.createServer((req, res) => {
    state.hits++;
    const url = new URL(req.url ?? '/', 'http://x');
    active.set(url.pathname, (active.get(url.pathname) ?? 0) + 1);
    res.on('close', () => active.set(url.pathname, (active.get(url.pathname) ?? 1) - 1));
    switch (url.pathname) {
      case '/slow':
        setTimeout(() => res.end(name), Number(url.searchParams.get('ms') ?? '500'));
        return;
      case '/echo':
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.pipe(res);
        return;
      case '/headers':
        res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive, x-hop', 'x-hop': 'secret', 'x-app': name });
        res.end(JSON.stringify(req.headers));
        return;
      case '/stream': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first\n');
        const timer = setTimeout(() => res.end('late\n'), 3000);
        streamRelease = () => {
          clearTimeout(timer);
          res.end('second\n');
        };
        return;
      }
      case '/hang':
        return;
      default:
        req.resume();
        res.end(name);
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    const key = String(req.headers['sec-websocket-key'] ?? '');
    const accept = createHash('sha1')
      .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
      .digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-App: ${name}\r\n\r\n`);
    if (head.length > 0) socket.write(Buffer.concat([Buffer.from('echo:'), head]));
    socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    name,
    port,
    endpoint: (id = name) => ({ id, host: '127.0.0.1', port }),
    active,
    get hits() {
      return state.hits;
    },
    releaseStream: () => streamRelease?.(),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(
  port: number,
  opts: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent | false } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers, agent: opts.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error('test request timed out')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A Router in this process with its admin API, over a fresh temporary state directory. */
export interface RouterHarness {
  router: Router;
  client: HttpTrafficRouter;
  admin: string;
  adminPort: number;
  stateDir: string;
  /** The admin API's token, and headers that carry it (raw admin requests in tests). */
  token: string;
  adminHeaders: http.OutgoingHttpHeaders;
  close(): Promise<void>;
}

/** A token and the createAdminServer access for an in-process router over stateDir. */
export function testAdminAccess(stateDir: string): { token: string; host: string; identity: { stateDir: string; pid: number; instanceId: string } } {
  return { token: randomBytes(32).toString('hex'), host: '127.0.0.1', identity: { stateDir, pid: process.pid, instanceId: 'test' } };
}

export async function startRouter(opts: { upstreamTimeoutMs?: number; drainTimeoutMs?: number } = {}): Promise<RouterHarness> {
  const stateDir = mkdtempSync(join(tmpdir(), 'sluice-router-test-'));
  const router = new Router({ stateDir, upstreamTimeoutMs: opts.upstreamTimeoutMs, drainTimeoutMs: opts.drainTimeoutMs ?? 2000 });
  await router.start();
  const access = testAdminAccess(stateDir);
  const adminServer = createAdminServer(router, { shutdown: () => {} }, access);
  await new Promise<void>((r) => adminServer.listen(0, '127.0.0.1', r));
  const adminPort = (adminServer.address() as { port: number }).port;
  const admin = `127.0.0.1:${adminPort}`;
  const client = new HttpTrafficRouter(admin, access.token);
  return {
    router,
    client,
    admin,
    adminPort,
    stateDir,
    token: access.token,
    adminHeaders: { authorization: `Bearer ${access.token}`, 'content-type': 'application/json' },
    async close() {
      client.close();
      await router.close(500);
      adminServer.closeAllConnections();
      await new Promise((r) => adminServer.close(r));
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** One listener's routes with defaults filled in; backends given as revision → [version, endpoints]. */
export function listener(
  listen: string,
  backends: Record<number, [string, Endpoint[]]>,
  split: Record<number, number>,
  extra: Partial<ListenerRoutes> = {},
): ListenerRoutes {
  return {
    listen,
    rollout: 'web',
    role: 'main',
    balancer: 'round-robin',
    rules: [],
    split: Object.entries(split).map(([revision, weight]) => ({ revision: Number(revision), weight })),
    backends: Object.entries(backends).map(([revision, [version, endpoints]]) => ({ revision: Number(revision), version, endpoints })),
    ...extra,
  };
}

export function table(generation: number, ...listeners: ListenerRoutes[]): RouteTable {
  return { generation, listeners };
}

export async function listenAddr(): Promise<{ listen: string; port: number }> {
  const port = await freePort();
  return { listen: `127.0.0.1:${port}`, port };
}

/**
 * An app whose answers are a function of its request count: every `failEvery`-th answers
 * 500; `/?ms=N` answers after N ms; `/hang` never answers.
 */
export interface CountingApp {
  endpoint: Endpoint;
  close(): Promise<void>;
}

export async function startCountingApp(name: string, failEvery = 0): Promise<CountingApp> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    n++;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/hang') return;
    const status = failEvery > 0 && n % failEvery === 0 ? 500 : 200;
    const ms = Number(url.searchParams.get('ms') ?? '0');
    const answer = (): void => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(name);
    };
    if (ms > 0) setTimeout(answer, ms);
    else answer();
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: { id: name, host: '127.0.0.1', port },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

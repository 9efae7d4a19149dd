import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { ConnectionTracker } from './listeners.js';
import type { ListenerRole } from '../core/route-table.js';
import type { Router } from './router.js';
import { SUCCESSOR_HEADER, type HandoverOptions, type HandoverResult, type RouterIdentity } from './admin-protocol.js';
import { DEFAULT_SAMPLE_MAX } from './samples.js';
import { RouteTableError } from './validate.js';

/** Largest PUT /routes body accepted; a table is a few KB, this only stops runaway clients. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Longest wait a GET /endpoints/:id/idle may ask for. */
const MAX_IDLE_WAIT_MS = 10 * 60_000;
/** Longest drain a handover may ask of the old router. */
const MAX_HANDOVER_DRAIN_MS = 10 * 60_000;

export interface AdminHooks {
  /** POST /shutdown: called after the 200 is sent. */
  shutdown(): void;
  /**
   * POST /handover: starts a successor on the same sockets; resolves once it serves. Rejects
   * with an error whose `status` is the HTTP status (409 busy, 500 the successor failed).
   * Without it, the route answers 501.
   */
  handover?(options: HandoverOptions): Promise<HandoverResult>;
  /** After a handover: the successor's pid. Requests that still reach this process are sent there. */
  successor?(): number | undefined;
}

/** Who may call the admin API and what GET /identity says (admin-protocol.ts, "Access"). */
export interface AdminAccess {
  /** The bearer token every endpoint but /healthz requires (src/router/credential.ts). */
  token: string;
  /** The host part of --admin: a Host header naming it is accepted besides the loopback names. */
  host?: string;
  identity: Omit<RouterIdentity, 'generation'>;
}

const trackers = new WeakMap<http.Server, ConnectionTracker>();

/** The admin API of src/router/admin-protocol.ts. */
export function createAdminServer(router: Router, hooks: AdminHooks, access: AdminAccess): http.Server {
  const tokenDigest = digest(access.token);
  const server = http.createServer((req, res) => {
    tracker.onRequest(res);
    const refusal = refuse(req, access, tokenDigest);
    if (refusal !== undefined) {
      req.resume();
      if (refusal[0] === 401) res.setHeader('www-authenticate', 'Bearer');
      return sendJson(res, refusal[0], { error: refusal[1] });
    }
    handle(router, hooks, access, req, res).catch((e: Error) => {
      if (!res.headersSent) sendJson(res, 500, { error: oneLine(e.message) });
      else res.destroy();
    });
  });
  const tracker = new ConnectionTracker(server);
  trackers.set(server, tracker);
  return server;
}

/**
 * Handover, old side: the admin server stops accepting (the successor accepts on the same
 * socket), answers what is in flight (long GET /endpoints/:id/idle included) with
 * `Connection: close`, and closes idle connections after the grace (ConnectionTracker.retire).
 */
export function retireAdminServer(server: http.Server, drainMs: number, idleGraceMs: number): Promise<void> {
  const tracker = trackers.get(server);
  if (tracker === undefined) throw new Error('not an admin server');
  return tracker.retire(drainMs, idleGraceMs);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Host names a Host header may carry (with the port the request came in on). */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

function bracketed(host: string): string {
  const h = host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
  return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
}

/**
 * [status, one line] when the request must not reach the API: a browser (any Origin: no web
 * page may drive the router, whatever its preflight), a Host that is not this address (DNS
 * rebinding), no or a wrong token (compared in constant time; never logged), a body that is
 * not JSON (what a cross-site form or text/plain fetch would send).
 */
function refuse(req: IncomingMessage, access: AdminAccess, tokenDigest: Buffer): [number, string] | undefined {
  if (req.headers.origin !== undefined) return [403, 'admin API: requests from a web page (Origin header) are refused'];
  const port = req.socket.localPort;
  const names = new Set(LOOPBACK_NAMES);
  if (access.host !== undefined) names.add(bracketed(access.host));
  if (req.socket.localAddress !== undefined) names.add(bracketed(req.socket.localAddress));
  const host = (req.headers.host ?? '').toLowerCase();
  if (![...names].some((n) => host === `${n.toLowerCase()}:${port}`)) {
    return [403, `admin API: Host "${host.slice(0, 100)}" is not this router's admin address; use 127.0.0.1:${port}`];
  }
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/healthz') {
    const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    if (m === null || !timingSafeEqual(digest(m[1]), tokenDigest)) {
      return [401, `admin API: ${m === null ? 'no' : 'wrong'} credential; send Authorization: Bearer <the token in <state-dir>/router/admin-token>`];
    }
  }
  const hasBody = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (hasBody && type !== 'application/json') return [415, `admin API: a request body must be content-type application/json, not "${type.slice(0, 100)}"`];
  return undefined;
}

async function handle(router: Router, hooks: AdminHooks, access: AdminAccess, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const successor = hooks.successor?.();
  if (successor !== undefined) {
    // A request on a keep-alive connection opened before the handover: this process no longer
    // holds the state (its table is frozen, its samples stop), the successor answers it.
    req.resume();
    res.setHeader(SUCCESSOR_HEADER, String(successor));
    return sendJson(res, 503, { error: `this router process handed over to pid ${successor}; ask again on a new connection` });
  }
  if (path === '/healthz') {
    if (method !== 'GET' && method !== 'HEAD') return notAllowed(res, method, path);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 2 });
    res.end('ok');
    return;
  }
  if (path === '/identity') {
    if (method !== 'GET') return notAllowed(res, method, path);
    return sendJson(res, 200, { ...access.identity, generation: router.table.generation } satisfies RouterIdentity);
  }
  if (path === '/routes') {
    if (method === 'GET') return sendJson(res, 200, router.table);
    if (method !== 'PUT') return notAllowed(res, method, path);
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (e) {
      return sendJson(res, 400, { error: `PUT /routes: body is not JSON: ${oneLine((e as Error).message)}` });
    }
    try {
      sendJson(res, 200, await router.apply(body));
    } catch (e) {
      if (e instanceof RouteTableError) {
        return sendJson(res, e.status, e.status === 409 ? { error: e.message, generation: e.currentGeneration } : { error: oneLine(e.message) });
      }
      throw e;
    }
    return;
  }
  const idle = /^\/endpoints\/([^/]+)\/idle$/.exec(path);
  if (idle !== null) {
    if (method !== 'GET') return notAllowed(res, method, path);
    const raw = url.searchParams.get('timeoutMs') ?? '0';
    const timeoutMs = Number(raw);
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) return sendJson(res, 400, { error: `timeoutMs=${raw}: must be a non-negative number of milliseconds` });
    return sendJson(res, 200, await router.waitIdle(decodeURIComponent(idle[1]), Math.min(timeoutMs, MAX_IDLE_WAIT_MS)));
  }
  if (path === '/traffic') {
    if (method !== 'GET') return notAllowed(res, method, path);
    return sendJson(res, 200, router.traffic());
  }
  if (path === '/window' || path === '/samples') {
    if (method !== 'GET') return notAllowed(res, method, path);
    const q = sampleQuery(url.searchParams, path === '/samples');
    if (typeof q === 'string') return sendJson(res, 400, { error: `GET ${path}: ${q}` });
    if (path === '/window') return sendJson(res, 200, router.window(q.rollout, q.revision, q.sinceMs, q.role));
    return sendJson(res, 200, router.sampleList(q.rollout, q.revision, q.sinceMs, q.max, q.role));
  }
  if (path === '/mismatches') {
    if (method !== 'GET') return notAllowed(res, method, path);
    const rollout = url.searchParams.get('rollout');
    if (rollout === null || rollout === '') return sendJson(res, 400, { error: 'GET /mismatches: rollout=NAME is required' });
    const raw = url.searchParams.get('revision');
    const revision = raw === null ? undefined : Number(raw);
    if (revision !== undefined && (raw === '' || !Number.isInteger(revision) || revision < 0)) return sendJson(res, 400, { error: `GET /mismatches: revision=${raw}: must be a revision number` });
    return sendJson(res, 200, { mismatches: router.mismatches(rollout, revision) });
  }
  if (path === '/metrics') {
    if (method !== 'GET') return notAllowed(res, method, path);
    const text = router.metricsText();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  if (path === '/shutdown') {
    if (method !== 'POST') return notAllowed(res, method, path);
    res.on('finish', () => hooks.shutdown());
    return sendJson(res, 200, { shuttingDown: true });
  }
  if (path === '/handover') {
    if (method !== 'POST') return notAllowed(res, method, path);
    if (hooks.handover === undefined) return sendJson(res, 501, { error: 'this router cannot hand over (not started by main.js)' });
    const text = await readBody(req);
    const options = handoverOptions(text);
    if (typeof options === 'string') return sendJson(res, 400, { error: `POST /handover: ${options}` });
    try {
      return sendJson(res, 200, await hooks.handover(options));
    } catch (e) {
      const status = (e as { status?: number }).status ?? 500;
      return sendJson(res, status, { error: oneLine((e as Error).message) });
    }
  }
  sendJson(res, 404, { error: `no admin endpoint ${method} ${path}; see src/router/admin-protocol.ts` });
}

/**
 * The handover's options, or what is wrong with them. An allow-list: the successor runs with
 * this router's own options, never with arguments a caller chose.
 */
function handoverOptions(text: string): HandoverOptions | string {
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    return `body is not JSON: ${oneLine((e as Error).message)}`;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'body must be a JSON object, e.g. {"drainTimeoutMs": 5000}';
  const extra = Object.keys(body).filter((k) => k !== 'drainTimeoutMs');
  if (extra.length > 0) return `unknown field(s) ${extra.map((k) => JSON.stringify(k.slice(0, 50))).join(', ')}; only "drainTimeoutMs" may be given`;
  const drain = (body as { drainTimeoutMs?: unknown }).drainTimeoutMs;
  if (drain === undefined) return {};
  if (typeof drain !== 'number' || !Number.isSafeInteger(drain) || drain < 0 || drain > MAX_HANDOVER_DRAIN_MS) {
    return `"drainTimeoutMs" must be a whole number of milliseconds from 0 to ${MAX_HANDOVER_DRAIN_MS}`;
  }
  return { drainTimeoutMs: drain };
}

interface SampleQuery {
  rollout: string;
  revision: number;
  sinceMs: number;
  max: number;
  role: ListenerRole | undefined;
}

/** The query of GET /window and /samples, or what is wrong with it. */
function sampleQuery(p: URLSearchParams, withMax: boolean): SampleQuery | string {
  const rollout = p.get('rollout');
  if (rollout === null || rollout === '') return 'rollout=NAME is required';
  const rawRevision = p.get('revision');
  const revision = Number(rawRevision);
  if (rawRevision === null || rawRevision === '' || !Number.isInteger(revision) || revision < 0) return `revision=${rawRevision ?? ''}: must be a revision number`;
  const rawSince = p.get('sinceMs');
  const sinceMs = Number(rawSince);
  if (rawSince === null || rawSince === '' || !Number.isFinite(sinceMs)) return `sinceMs=${rawSince ?? ''}: must be a time in milliseconds since the epoch`;
  const rawMax = p.get('max');
  let max = DEFAULT_SAMPLE_MAX;
  if (withMax && rawMax !== null) {
    max = Number(rawMax);
    if (rawMax === '' || !Number.isInteger(max) || max < 1) return `max=${rawMax}: must be a positive whole number of samples`;
  }
  const role = p.get('role') ?? undefined;
  if (role !== undefined && role !== 'main' && role !== 'canary' && role !== 'preview') return `role=${role}: must be main, canary or preview`;
  return { rollout, revision, sinceMs, max, role };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function notAllowed(res: ServerResponse, method: string, path: string): void {
  sendJson(res, 405, { error: `${method} is not allowed on ${path}` });
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

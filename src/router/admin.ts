import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { ConnectionTracker } from './listeners.js';
import type { ListenerRole } from './route-table.js';
import type { Router } from './router.js';
import { SUCCESSOR_HEADER, type HandoverResult } from './admin-protocol.js';
import { DEFAULT_SAMPLE_MAX } from './samples.js';
import { RouteTableError } from './validate.js';

/** Largest PUT /routes body accepted; a table is a few KB, this only stops runaway clients. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Longest wait a GET /endpoints/:id/idle may ask for. */
const MAX_IDLE_WAIT_MS = 10 * 60_000;

export interface AdminHooks {
  /** POST /shutdown: called after the 200 is sent. */
  shutdown(): void;
  /**
   * POST /handover: starts a successor on the same sockets; resolves once it serves. Rejects
   * with an error whose `status` is the HTTP status (409 busy, 500 the successor failed).
   * Without it, the route answers 501.
   */
  handover?(args: string[]): Promise<HandoverResult>;
  /** After a handover: the successor's pid. Requests that still reach this process are sent there. */
  successor?(): number | undefined;
}

const trackers = new WeakMap<http.Server, ConnectionTracker>();

/** The admin API of src/router/admin-protocol.ts. */
export function createAdminServer(router: Router, hooks: AdminHooks): http.Server {
  const server = http.createServer((req, res) => {
    tracker.onRequest(res);
    handle(router, hooks, req, res).catch((e: Error) => {
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

async function handle(router: Router, hooks: AdminHooks, req: IncomingMessage, res: ServerResponse): Promise<void> {
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
    let args: string[] = [];
    const text = await readBody(req);
    if (text.trim() !== '') {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (e) {
        return sendJson(res, 400, { error: `POST /handover: body is not JSON: ${oneLine((e as Error).message)}` });
      }
      const a = (body as { args?: unknown } | null)?.args;
      if (a !== undefined && (!Array.isArray(a) || !a.every((x) => typeof x === 'string'))) {
        return sendJson(res, 400, { error: 'POST /handover: "args" must be a list of strings (extra options for the new router)' });
      }
      args = (a as string[] | undefined) ?? [];
    }
    try {
      return sendJson(res, 200, await hooks.handover(args));
    } catch (e) {
      const status = (e as { status?: number }).status ?? 500;
      return sendJson(res, status, { error: oneLine((e as Error).message) });
    }
  }
  sendJson(res, 404, { error: `no admin endpoint ${method} ${path}; see src/router/admin-protocol.ts` });
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

import http from 'node:http';
import { HttpError, jsonHandler, Routes, singleTokenAuth } from '../http/server.js';
import { ConnectionTracker } from './listeners.js';
import type { ListenerRole } from '../core/route-table.js';
import type { Router } from './router.js';
import type { RouterFlags } from './flags.js';
import { SUCCESSOR_HEADER, type FlagUsageAnswer, type HandoverOptions, type HandoverResult, type RouterIdentity } from './admin-protocol.js';
import { DEFAULT_SAMPLE_MAX } from './samples.js';
import { RouteTableError } from './validate.js';
import { JournalError, RECORDS_DEFAULT_MAX, RECORDS_MAX } from './experiments/journal.js';

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

/** 409 with the generation in effect, as PUT /routes answers it. */
function conflictWithGeneration(e: unknown): never {
  if (e instanceof RouteTableError && e.status === 409) throw new HttpError(409, e.message, e.code, { generation: e.currentGeneration });
  throw e;
}

const trackers = new WeakMap<http.Server, ConnectionTracker>();

/** The admin API of src/router/admin-protocol.ts. */
export function createAdminServer(router: Router, hooks: AdminHooks, access: AdminAccess, flags?: RouterFlags): http.Server {
  const routes = adminRoutes(router, hooks, access);
  if (flags !== undefined) flagRoutes(routes, flags, access);
  const handler = jsonHandler({
    routes,
    name: 'admin API',
    self: "this router's admin address",
    // The port the request came in on; the --admin host and the socket's own address besides loopback.
    host: (req) => ({ port: req.socket.localPort ?? 0, names: [access.host, req.socket.localAddress] }),
    // No web page may drive the router, whatever its preflight.
    origin: 'refuse',
    auth: singleTokenAuth(
      access.token,
      (why) => `admin API: ${why === 'missing' ? 'no' : 'wrong'} credential; send Authorization: Bearer <the token in <state-dir>/router/admin-token>`,
    ),
    bodyLimit: MAX_BODY_BYTES,
    notFound: (method, path) => `no admin endpoint ${method} ${path}; see src/router/admin-protocol.ts`,
    guard: () => {
      // A request on a keep-alive connection opened before the handover: this process no longer
      // holds the state (its table is frozen, its samples stop), the successor answers it.
      const successor = hooks.successor?.();
      if (successor === undefined) return undefined;
      return new HttpError(
        503,
        `this router process handed over to pid ${successor}; ask again on a new connection`,
        'handed-over',
        {},
        { [SUCCESSOR_HEADER]: String(successor) },
      );
    },
  });
  const server = http.createServer((req, res) => {
    tracker.onRequest(res);
    handler(req, res);
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

/** GET/PUT /flags and GET /flags/usage (admin-protocol.ts). */
function flagRoutes(routes: Routes, flags: RouterFlags, access: AdminAccess): void {
  routes
    .add('GET', '/flags', () => ({ body: flags.current }))
    .add('PUT', '/flags', async (ctx) => {
      const push = await ctx.json();
      try {
        return { body: await flags.apply(push) };
      } catch (e) {
        conflictWithGeneration(e);
      }
    })
    .add('GET', '/flags/usage', () => ({ body: { instanceId: access.identity.instanceId, usage: flags.usage() } satisfies FlagUsageAnswer }));
}

const bad = (message: string) => new HttpError(400, message, 'bad-request');

function adminRoutes(router: Router, hooks: AdminHooks, access: AdminAccess): Routes {
  return new Routes()
    .add(['GET', 'HEAD'], '/healthz', () => ({ text: 'ok', type: 'text/plain; charset=utf-8' }), { public: true })
    .add('GET', '/identity', () => ({ body: { ...access.identity, generation: router.table.generation } satisfies RouterIdentity }))
    .add('GET', '/routes', () => ({ body: router.table }))
    .add('PUT', '/routes', async (ctx) => {
      const table = await ctx.json();
      try {
        return { body: await router.apply(table) };
      } catch (e) {
        // The caller continues from the generation in effect (admin-protocol.ts).
        conflictWithGeneration(e);
      }
    })
    .add('GET', '/endpoints/:id/idle', async (ctx) => {
      const raw = ctx.url.searchParams.get('timeoutMs') ?? '0';
      const timeoutMs = Number(raw);
      if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw bad(`timeoutMs=${raw}: must be a non-negative number of milliseconds`);
      return { body: await router.waitIdle(ctx.params.id!, Math.min(timeoutMs, MAX_IDLE_WAIT_MS)) };
    })
    .add('GET', '/traffic', () => ({ body: router.traffic() }))
    .add('GET', '/window', (ctx) => {
      const q = sampleQuery(ctx.url.searchParams, false);
      if (typeof q === 'string') throw bad(`GET /window: ${q}`);
      return { body: router.window(q.rollout, q.revision, q.sinceMs, q.role) };
    })
    .add('GET', '/samples', (ctx) => {
      const q = sampleQuery(ctx.url.searchParams, true);
      if (typeof q === 'string') throw bad(`GET /samples: ${q}`);
      return { body: router.sampleList(q.rollout, q.revision, q.sinceMs, q.max, q.role) };
    })
    .add('GET', '/mismatches', (ctx) => {
      const rollout = ctx.url.searchParams.get('rollout');
      if (rollout === null || rollout === '') throw bad('GET /mismatches: rollout=NAME is required');
      const raw = ctx.url.searchParams.get('revision');
      const revision = raw === null ? undefined : Number(raw);
      if (revision !== undefined && (raw === '' || !Number.isInteger(revision) || revision < 0))
        throw bad(`GET /mismatches: revision=${raw}: must be a revision number`);
      return { body: { mismatches: router.mismatches(rollout, revision) } };
    })
    .add('GET', '/experiments/records', async (ctx) => {
      const p = ctx.url.searchParams;
      const rawAfter = p.get('after') ?? '0';
      const after = Number(rawAfter);
      if (rawAfter === '' || !Number.isSafeInteger(after) || after < 0)
        throw bad(`GET /experiments/records: after=${rawAfter}: must be a seq (a whole number ≥ 0)`);
      const rawMax = p.get('max');
      const max = rawMax === null ? RECORDS_DEFAULT_MAX : Number(rawMax);
      if (rawMax !== null && (rawMax === '' || !Number.isSafeInteger(max) || max < 1 || max > RECORDS_MAX))
        throw bad(`GET /experiments/records: max=${rawMax}: must be a whole number from 1 to ${RECORDS_MAX}`);
      return { body: await router.experiments.journal.read(after, max) };
    })
    .add('POST', '/experiments/ack', async (ctx) => {
      const body = (await ctx.json()) as { journal?: unknown; upTo?: unknown } | null;
      if (body === null || typeof body !== 'object' || typeof body.journal !== 'string' || typeof body.upTo !== 'number')
        throw bad('POST /experiments/ack: body must be {"journal": "<id from GET /experiments/records>", "upTo": <seq>}');
      try {
        return { body: await router.experiments.journal.ack(body.journal, body.upTo) };
      } catch (e) {
        if (e instanceof JournalError) throw new HttpError(e.status, `POST /experiments/ack: ${e.message}`, e.status === 409 ? 'conflict' : 'bad-request');
        throw e;
      }
    })
    .add('GET', '/metrics', () => ({ text: router.metricsText(), type: 'text/plain; version=0.0.4; charset=utf-8' }))
    .add('POST', '/shutdown', (ctx) => {
      ctx.res.on('finish', () => hooks.shutdown());
      return { body: { shuttingDown: true } };
    })
    .add('POST', '/handover', async (ctx) => {
      if (hooks.handover === undefined) throw new HttpError(501, 'this router cannot hand over (not started by main.js)', 'not-implemented');
      const options = handoverOptions(await ctx.json({}));
      if (typeof options === 'string') throw bad(`POST /handover: ${options}`);
      try {
        return { body: await hooks.handover(options) };
      } catch (e) {
        const status = (e as { status?: number }).status ?? 500;
        throw new HttpError(status, (e as Error).message, status === 409 ? 'busy' : 'handover-failed');
      }
    });
}

/**
 * The handover's options, or what is wrong with them. An allow-list: the successor runs with
 * this router's own options, never with arguments a caller chose.
 */
function handoverOptions(body: unknown): HandoverOptions | string {
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
  if (rawRevision === null || rawRevision === '' || !Number.isInteger(revision) || revision < 0)
    return `revision=${rawRevision ?? ''}: must be a revision number`;
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

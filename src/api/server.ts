/**
 * The control-plane HTTP API: JSON routes mapping one to one onto RolloutActions, behind a
 * bearer token. Plain node:http; the CLI (api/client.ts) is its main caller.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Actor, RolloutActions } from '../engine/actions.js';
import { UserError } from '../util/errors.js';
import { redactDeep, redactText, secretValues } from '../util/redact.js';
import { refuseCrossSite, refuseNonJson, type Refusal } from './same-origin.js';

export const ACTOR_HEADER = 'x-sluice-actor';
/** Largest request body accepted; a rollout file is a few KiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ApiServerOptions {
  /** host:port (or just a port: 127.0.0.1 is the default host). Port 0 picks a free one. */
  listen: string;
  token: string;
  actions: RolloutActions;
  /**
   * Called by `POST /v1/shutdown` after the response went out (`sluice down`). Without it,
   * that route answers 501.
   */
  shutdown?: (options: { everything: boolean }) => void | Promise<void>;
  /** `POST /v1/router/restart` (`sluice router restart`): hand the router over to a new process. Without it, 501. */
  routerRestart?: () => Promise<unknown>;
}

export interface RunningApiServer {
  /** host:port actually listened on. */
  address: string;
  close(): Promise<void>;
}

/** Thrown by route handlers for a malformed request. */
class BadRequest extends UserError {
  constructor(message: string, status = 400, code = 'bad-request') {
    super(message, code, status);
  }
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:(.*):)?(\d+)$/.exec(listen.trim());
  if (!m) throw new UserError(`invalid listen address "${listen}" — use host:port, e.g. 127.0.0.1:7070`);
  const host = (m[1] || '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  const port = Number(m[2]);
  if (port > 65535) throw new UserError(`invalid port in "${listen}" — use 0..65535`);
  return { host, port };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Compares digests so neither the token's content nor its length leaks through timing. */
function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), expected);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body ?? { ok: true });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) reject(new BadRequest(`request body larger than ${MAX_BODY_BYTES} bytes`, 413, 'too-large'));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await readBody(req);
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadRequest(`invalid JSON body: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new BadRequest('the JSON body must be an object');
  }
  return value as Record<string, unknown>;
}

function optional<T>(body: Record<string, unknown>, field: string, check: (v: unknown) => v is T, what: string): T | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (!check(v)) throw new BadRequest(`"${field}" must be ${what}`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
const isPositiveNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;
const isEnvChanges = (v: unknown): v is Record<string, string | null> =>
  v !== null &&
  typeof v === 'object' &&
  !Array.isArray(v) &&
  Object.values(v as object).every((x) => x === null || typeof x === 'string');

function queryInt(url: URL, name: string): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw new BadRequest(`query parameter "${name}" must be a non-negative integer, got "${raw}"`);
  return Number(raw);
}

function actorOf(req: IncomingMessage): Actor {
  const raw = req.headers[ACTOR_HEADER];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  // Recorded on events and shown in views: keep it short and printable.
  const actor = value ? value.replace(/[^\x20-\x7e]/g, '?').slice(0, 100) : 'api';
  return { actor };
}

type Handler = (req: IncomingMessage, url: URL, name: string) => Promise<{ status?: number; body: unknown }>;

/** Actions on one rollout: POST /v1/rollouts/:name/<action>. */
function rolloutActionHandlers(actions: RolloutActions): Record<string, Handler> {
  const done = { body: { ok: true } };
  return {
    promote: async (req, _url, name) => {
      const body = await readJson(req);
      const variant = optional(body, 'variant', isString, 'a variant name');
      await actions.promote(name, { full: optional(body, 'full', isBoolean, 'true or false') ?? false, ...(variant !== undefined ? { variant } : {}) }, actorOf(req));
      return done;
    },
    'stop-traffic': async (req, _url, name) => (await actions.stopTraffic(name, actorOf(req)), done),
    'pause-traffic': async (req, _url, name) => {
      const body = await readJson(req);
      const timeoutSeconds = optional(body, 'timeoutSeconds', isPositiveNumber, 'seconds (a number above 0)');
      await actions.pauseTraffic(name, { timeoutSeconds }, actorOf(req));
      return done;
    },
    'resume-traffic': async (req, _url, name) => (await actions.resumeTraffic(name, actorOf(req)), done),
    abort: async (req, _url, name) => (await actions.abort(name, actorOf(req)), done),
    retry: async (req, _url, name) => (await actions.retry(name, actorOf(req)), done),
    pause: async (req, _url, name) => (await actions.pause(name, actorOf(req)), done),
    resume: async (req, _url, name) => (await actions.resume(name, actorOf(req)), done),
    restart: async (req, _url, name) => (await actions.restart(name, actorOf(req)), done),
    approve: async (req, _url, name) => ({ body: { approved: await actions.approve(name, actorOf(req)) } }),
    undo: async (req, _url, name) => {
      const body = await readJson(req);
      const toRevision = optional(body, 'toRevision', isPositiveInt, 'a revision number (a positive integer)');
      return { body: await actions.undo(name, { toRevision }, actorOf(req)) };
    },
    set: async (req, _url, name) => {
      const body = await readJson(req);
      const version = optional(body, 'version', isString, 'a string');
      const env = optional(body, 'env', isEnvChanges, 'an object of strings (null removes a variable)');
      if (version === undefined && env === undefined) throw new BadRequest('nothing to set: give "version" and/or "env"');
      return { body: await actions.set(name, { version, env }, actorOf(req)) };
    },
  };
}

export async function startApiServer(options: ApiServerOptions): Promise<RunningApiServer> {
  const { actions } = options;
  const expected = digest(options.token);
  const perRollout = rolloutActionHandlers(actions);
  // Set once listening, before the first request can arrive.
  let bound = { host: '127.0.0.1', port: 0 };
  const refuse = (req: IncomingMessage, res: ServerResponse, r: Refusal) => {
    req.resume();
    sendJson(res, r.status, { error: r.message, code: r.code });
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sluice.invalid');
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/\/+$/, '') || '/';

    const crossSite = refuseCrossSite(req, bound);
    if (crossSite) return refuse(req, res, crossSite);
    if (path === '/v1/healthz' && (method === 'GET' || method === 'HEAD')) {
      sendJson(res, 200, { ok: true, pid: process.pid });
      return;
    }
    if (!tokenMatches(req.headers.authorization, expected)) {
      req.resume();
      sendJson(res, 401, { error: 'missing or wrong API token — send "Authorization: Bearer <token from .sluice/token>"', code: 'unauthorized' });
      return;
    }
    const notJson = refuseNonJson(req);
    if (notJson) return refuse(req, res, notJson);

    // Views carry the spec, its YAML source and events: secrets never leave through the API.
    const reply = (result: { status?: number; body: unknown }, extraSecrets: Iterable<string> = []) =>
      sendJson(res, result.status ?? 200, redactDeep(result.body, extraSecrets));
    // Events, history and analysis runs do not carry the spec: take its secrets from the rollout.
    const secretsOf = async (name: string) => {
      const view = await actions.get(name);
      return secretValues({ spec: view.spec, revisions: view.revisions });
    };
    const notAllowed = (allowed: string): never => {
      res.setHeader('allow', allowed);
      throw new BadRequest(`${method} is not allowed on ${path} — use ${allowed}`, 405, 'method-not-allowed');
    };

    if (path === '/v1/apply') {
      if (method !== 'POST') notAllowed('POST');
      const body = await readJson(req);
      if (typeof body.yaml !== 'string') throw new BadRequest('"yaml" must be the text of the rollout file');
      const file = optional(body, 'file', isString, 'a string') ?? '<api>';
      return reply({ body: await actions.apply(body.yaml, file, actorOf(req)) });
    }
    if (path === '/v1/shutdown') {
      if (method !== 'POST') notAllowed('POST');
      const body = await readJson(req);
      const shutdown = options.shutdown;
      if (!shutdown) throw new BadRequest('this server cannot be shut down over the API', 501, 'not-implemented');
      const everything = body.everything === true;
      res.on('finish', () => {
        Promise.resolve()
          .then(() => shutdown({ everything }))
          .catch((err: unknown) => console.error(`sluice: shutdown failed: ${(err as Error).stack ?? String(err)}`));
      });
      return reply({ status: 202, body: { ok: true, everything } });
    }
    if (path === '/v1/router/restart') {
      if (method !== 'POST') notAllowed('POST');
      req.resume();
      if (!options.routerRestart) throw new BadRequest('this server cannot restart the router', 501, 'not-implemented');
      return reply({ body: await options.routerRestart() });
    }
    if (path === '/v1/rollouts') {
      if (method !== 'GET') notAllowed('GET');
      return reply({ body: await actions.list() });
    }
    const m = /^\/v1\/rollouts\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (m) {
      let name: string;
      try {
        name = decodeURIComponent(m[1]!);
      } catch {
        throw new BadRequest(`invalid rollout name in ${path}`);
      }
      const sub = m[2];
      if (sub === undefined) {
        if (method === 'GET') return reply({ body: await actions.get(name) });
        if (method === 'DELETE') {
          await actions.delete(name, actorOf(req));
          return reply({ body: { ok: true } });
        }
        notAllowed('GET, DELETE');
      }
      if (sub === 'history') {
        if (method !== 'GET') notAllowed('GET');
        return reply({ body: await actions.history(name) }, await secretsOf(name));
      }
      if (sub === 'analysis') {
        if (method !== 'GET') notAllowed('GET');
        return reply({ body: await actions.analysis(name) }, await secretsOf(name));
      }
      if (sub === 'events') {
        if (method !== 'GET') notAllowed('GET');
        return reply({ body: await actions.events(name, { afterId: queryInt(url, 'afterId'), limit: queryInt(url, 'limit') }) }, await secretsOf(name));
      }
      const handler = sub !== undefined && Object.hasOwn(perRollout, sub) ? perRollout[sub] : undefined;
      if (handler) {
        if (method !== 'POST') notAllowed('POST');
        return reply(await handler(req, url, name));
      }
    }
    throw new BadRequest(`no API route ${method} ${path}`, 404, 'no-route');
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // Drain what is left of the body so the error answer reaches the client.
      req.resume();
      if (err instanceof UserError) {
        sendJson(res, err.status, { error: redactText(err.message), code: err.code });
      } else {
        console.error(redactText(`sluice api: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`));
        sendJson(res, 500, { error: redactText((err as Error)?.message || String(err)), code: 'internal' });
      }
    });
  });
  server.keepAliveTimeout = 5000;

  const { host, port } = parseListen(options.listen);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new UserError(`cannot listen on ${options.listen}: the address is in use — is sluice already up? (or pick another with --api)`, 'address-in-use')
          : err,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const info = server.address() as AddressInfo;
  bound = { host: info.address, port: info.port };
  const shownHost = info.family === 'IPv6' ? `[${info.address}]` : info.address;

  return {
    address: `${shownHost}:${info.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * The control-plane HTTP API: JSON routes mapping one to one onto RolloutActions, behind a
 * bearer token. On the shared JSON layer of src/http/; the CLI (api/client.ts) is its main caller.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Actor, RolloutActions } from '../engine/actions.js';
import { MAX_LOG_CHUNK_BYTES } from '../core/platform.js';
import { formatHostPort, parseHostPort } from '../util/host-port.js';
import { type Caller, type FinishedRequest, HttpError, jsonHandler, Routes, type Handler, type RequestContext, singleTokenAuth } from '../http/server.js';
import { type AuditDraft, type Need, type Principal, type Role, satisfies } from '../core/auth.js';
import { addTokenRoutes, type TokenRoutesBackend } from './token-routes.js';
import { addPipelineRoutes, type ReleaseBackend } from './pipeline-routes.js';
import { UserError } from '../util/errors.js';
import { redactDeep, redactText, secretValues } from '../util/redact.js';
import { apiHostPolicy } from './same-origin.js';
import type { FlagActions } from '../engine/flags/controller.js';
import type { DatabaseActions } from '../core/database.js';
import type { ExperimentReport } from '../core/experiment.js';
import { FLAG_KEY_PATTERN, type FlagRampActions } from '../core/flags.js';
import { addDashboardRoutes, type DashboardBackend, sessionAuth } from './dashboard-routes.js';
import { addMetricsRoutes, type MetricsBackend } from './metrics-routes.js';

export const ACTOR_HEADER = 'x-sluice-actor';
/** Largest request body accepted; a rollout file is a few KiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ApiServerOptions {
  /** host:port (or just a port: 127.0.0.1 is the default host). Port 0 picks a free one. */
  listen: string;
  /** Who a bearer token is (TokenService.authenticate): the admin token or a named one. */
  authenticate?(bearer: string): Principal | { refused: string };
  /** Only the admin token, no named ones (tests, tools): used when `authenticate` is not given. */
  token?: string;
  /** Named tokens and the audit log (`/v1/tokens`, `/v1/audit`); without it, 501. */
  tokens?: TokenRoutesBackend;
  /** Every state-changing request (not GET/HEAD), answered or refused, with its final status. */
  audit?(record: AuditDraft): void;
  /** The audit's clock (defaults to Date.now). */
  now?(): number;
  actions: RolloutActions;
  /**
   * Called by `POST /v1/shutdown` after the response went out (`sluice down`). Without it,
   * that route answers 501.
   */
  shutdown?: (options: { everything: boolean }) => void | Promise<void>;
  /** `POST /v1/router/restart` (`sluice router restart`): hand the router over to a new process. Without it, 501. */
  routerRestart?: () => Promise<unknown>;
  /** Feature flags (`/v1/flags…`); without it those routes answer 501. */
  flags?: FlagActions;
  /** Flag ramp verbs (`POST /v1/flags/:name/promote|abort|pause|resume|retry`); without it, 501. */
  flagRamps?: FlagRampActions;
  /** Experiment reports (`/v1/experiments`, `/v1/rollouts/:name/experiment`); without it, 501. */
  experiments?: ExperimentReads;
  /** Database migrations (`/v1/rollouts/:name/database…`, `/v1/backups`); without it, 501. */
  database?: DatabaseActions;
  /** Environments, pipelines and releases (`/v1/releases…`, `/v1/kpis`); without it, 501. */
  pipelines?: ReleaseBackend;
  /** The dashboard (`/`, `/v1/session`, `/v1/overview`, `/v1/stream`): sign-in by session cookie; absent: no UI, bearer tokens only. */
  dashboard?: DashboardBackend;
  /** `GET /v1/metrics` (Prometheus text format: rollout phases, weights, analysis); without it, 501. */
  metrics?: MetricsBackend;
}

/** What the API reads of experiments (src/engine/experiments/monitor.ts). */
export interface ExperimentReads {
  reportOf(rollout: string, experiment?: string): { report: ExperimentReport | null; snapshots: ExperimentReport[] };
  list(): { rollout: string; experiment: string; verdict: string; users: number; at: number }[];
}

export interface RunningApiServer {
  /** host:port actually listened on. */
  address: string;
  close(): Promise<void>;
}

const bad = (message: string) => new HttpError(400, message, 'bad-request');

/** `--api`: host:port, or just a port (on 127.0.0.1); port 0 picks a free one. */
export function parseListen(listen: string): { host: string; port: number } {
  return parseHostPort(listen.trim(), { defaultHost: '127.0.0.1', allowPortZero: true, what: 'listen address' });
}

function optional<T>(body: Record<string, unknown>, field: string, check: (v: unknown) => v is T, what: string): T | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (!check(v)) throw bad(`"${field}" must be ${what}`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
const isPositiveNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;
const isEnvChanges = (v: unknown): v is Record<string, string | null> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v as object).every((x) => x === null || typeof x === 'string');

function queryInt(url: URL, name: string): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw bad(`query parameter "${name}" must be a non-negative integer, got "${raw}"`);
  return Number(raw);
}

/**
 * Who an event records: a named token's (or a dashboard session's) user; for the admin token, the x-sluice-actor header
 * (the one-machine CLI sends the local user name), else "api".
 */
export function actorOf(req: IncomingMessage, caller?: Caller): Actor {
  if (caller !== undefined && (caller.tokenId !== undefined || caller.session === true)) return { actor: caller.user };
  const raw = req.headers[ACTOR_HEADER];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  // Recorded on events and shown in views: keep it short and printable.
  const actor = value ? value.replace(/[^\x20-\x7e]/g, '?').slice(0, 100) : 'api';
  return { actor };
}

/** Actions on one rollout: POST /v1/rollouts/:name/<action>. */
function rolloutActionHandlers(actions: RolloutActions): Record<string, (ctx: RequestContext, name: string) => Promise<unknown>> {
  const done = { ok: true };
  return {
    promote: async (ctx, name) => {
      const body = await ctx.jsonObject();
      const variant = optional(body, 'variant', isString, 'a variant name');
      await actions.promote(
        name,
        { full: optional(body, 'full', isBoolean, 'true or false') ?? false, ...(variant !== undefined ? { variant } : {}) },
        actorOf(ctx.req, ctx.caller),
      );
      return done;
    },
    'stop-traffic': async (ctx, name) => (await actions.stopTraffic(name, actorOf(ctx.req, ctx.caller)), done),
    'pause-traffic': async (ctx, name) => {
      const body = await ctx.jsonObject();
      const timeoutSeconds = optional(body, 'timeoutSeconds', isPositiveNumber, 'seconds (a number above 0)');
      await actions.pauseTraffic(name, { timeoutSeconds }, actorOf(ctx.req, ctx.caller));
      return done;
    },
    'resume-traffic': async (ctx, name) => (await actions.resumeTraffic(name, actorOf(ctx.req, ctx.caller)), done),
    abort: async (ctx, name) => (await actions.abort(name, actorOf(ctx.req, ctx.caller)), done),
    retry: async (ctx, name) => (await actions.retry(name, actorOf(ctx.req, ctx.caller)), done),
    pause: async (ctx, name) => (await actions.pause(name, actorOf(ctx.req, ctx.caller)), done),
    resume: async (ctx, name) => (await actions.resume(name, actorOf(ctx.req, ctx.caller)), done),
    restart: async (ctx, name) => (await actions.restart(name, actorOf(ctx.req, ctx.caller)), done),
    approve: async (ctx, name) => ({ approved: await actions.approve(name, actorOf(ctx.req, ctx.caller)) }),
    undo: async (ctx, name) => {
      const body = await ctx.jsonObject();
      const toRevision = optional(body, 'toRevision', isPositiveInt, 'a revision number (a positive integer)');
      return actions.undo(name, { toRevision }, actorOf(ctx.req, ctx.caller));
    },
    set: async (ctx, name) => {
      const body = await ctx.jsonObject();
      const version = optional(body, 'version', isString, 'a string');
      const env = optional(body, 'env', isEnvChanges, 'an object of strings (null removes a variable)');
      if (version === undefined && env === undefined) throw bad('nothing to set: give "version" and/or "env"');
      return actions.set(name, { version, env }, actorOf(ctx.req, ctx.caller));
    },
  };
}

function apiRoutes(options: ApiServerOptions): Routes {
  const { actions } = options;
  const database = (): DatabaseActions => {
    if (!options.database) throw new HttpError(501, 'this control plane runs no database migrations', 'not-implemented');
    return options.database;
  };
  const databaseOf = async (name: string) => {
    const view = await actions.get(name);
    const db = view.spec.database;
    if (!db) throw new HttpError(404, `rollout ${name} has no spec.database — nothing to show`, 'not-found');
    const revision = view.status.currentRevision;
    const refs = view.revisions.find((r) => r.number === revision)?.template.migrations ?? [];
    return { name, db, refs, revision, view };
  };
  const experiments = (): ExperimentReads => {
    if (!options.experiments) throw new HttpError(501, 'this control plane does not run experiments', 'not-implemented');
    return options.experiments;
  };
  // Views carry the spec, its YAML source and events: secrets never leave through the API.
  // An action that returns nothing answers {ok: true}.
  const reply = (body: unknown, extraSecrets: Iterable<string> = [], status = 200) => ({ status, body: redactDeep(body ?? { ok: true }, extraSecrets) });
  // Events, history and analysis runs do not carry the spec: take its secrets from the rollout.
  const secretsOf = async (name: string) => {
    const view = await actions.get(name);
    return secretValues({ spec: view.spec, revisions: view.revisions });
  };
  const routes = new Routes()
    .add(['GET', 'HEAD'], '/v1/healthz', () => ({ body: { ok: true, pid: process.pid } }), { public: true })
    .add('POST', '/v1/apply', async (ctx) => {
      const body = await ctx.jsonObject();
      if (typeof body.yaml !== 'string') throw bad('"yaml" must be the text of the rollout file');
      const file = optional(body, 'file', isString, 'a string') ?? '<api>';
      return reply(await actions.apply(body.yaml, file, actorOf(ctx.req, ctx.caller)));
    })
    .add('GET', '/v1/whoami', (ctx) => ({
      body: { user: ctx.caller?.user, roles: ctx.caller?.roles ?? [], ...(ctx.caller?.tokenId ? { tokenId: ctx.caller.tokenId } : {}) },
    }))
    .add(
      'POST',
      '/v1/shutdown',
      async (ctx) => {
        const body = await ctx.jsonObject();
        const shutdown = options.shutdown;
        if (!shutdown) throw new HttpError(501, 'this server cannot be shut down over the API', 'not-implemented');
        const everything = body.everything === true;
        ctx.res.on('finish', () => {
          Promise.resolve()
            .then(() => shutdown({ everything }))
            .catch((err: unknown) => console.error(`sluice: shutdown failed: ${(err as Error).stack ?? String(err)}`));
        });
        return reply({ ok: true, everything }, [], 202);
      },
      { need: 'admin' },
    )
    .add(
      'POST',
      '/v1/router/restart',
      async (ctx) => {
        ctx.req.resume();
        if (!options.routerRestart) throw new HttpError(501, 'this server cannot restart the router', 'not-implemented');
        return reply(await options.routerRestart());
      },
      { need: 'admin' },
    )
    .add('GET', '/v1/rollouts', async () => reply(await actions.list()))
    .add('GET', '/v1/rollouts/:name', async (ctx) => reply(await actions.get(ctx.params.name!)))
    .add('DELETE', '/v1/rollouts/:name', async (ctx) => {
      await actions.delete(ctx.params.name!, actorOf(ctx.req, ctx.caller));
      return reply({ ok: true });
    })
    .add('GET', '/v1/rollouts/:name/history', async (ctx) => reply(await actions.history(ctx.params.name!), await secretsOf(ctx.params.name!)))
    .add('GET', '/v1/rollouts/:name/experiment', async (ctx) => {
      const name = ctx.params.name!;
      await actions.get(name);
      const test = ctx.url.searchParams.get('experiment') ?? undefined;
      if (test !== undefined && !/^r\d+a\d+$/.test(test)) throw bad(`experiment "${test}" is not a test id — write r<revision>a<attempt>, e.g. r2a0`);
      return reply(experiments().reportOf(name, test));
    })
    .add('GET', '/v1/experiments', async () => reply({ experiments: experiments().list() }))
    .add('GET', '/v1/rollouts/:name/database', async (ctx) => {
      const { name, db, refs } = await databaseOf(ctx.params.name!);
      return reply(await database().status(name, db, refs));
    })
    .add('GET', '/v1/rollouts/:name/database/plan', async (ctx) => {
      const { name, db, refs, revision } = await databaseOf(ctx.params.name!);
      return reply({ plan: await database().plan(name, db, refs, revision) });
    })
    .add('GET', '/v1/backups', async (ctx) => reply({ backups: database().backups(ctx.url.searchParams.get('rollout') ?? undefined) }))
    .add('POST', '/v1/rollouts/:name/database/restore', async (ctx) => {
      const body = await ctx.jsonObject();
      const backup = optional(body, 'backup', isString, 'a backup id (sluice db backups lists them)');
      if (!backup) throw bad('give "backup": the id of the backup to restore (`sluice db backups NAME` lists them)');
      const { name, db, view } = await databaseOf(ctx.params.name!);
      if (view.status.trafficHold?.mode !== 'stopped') {
        throw new HttpError(
          409,
          `rollout ${name} still serves traffic — a restore while the app writes would lose those writes: \`sluice stop-traffic ${name}\` first, then restore, then \`sluice resume-traffic ${name}\``,
          'conflict',
        );
      }
      return reply({ restored: await database().restore(name, db, backup) });
    })
    .add('GET', '/v1/rollouts/:name/analysis', async (ctx) => reply(await actions.analysis(ctx.params.name!), await secretsOf(ctx.params.name!)))
    .add('GET', '/v1/rollouts/:name/events', async (ctx) => {
      const name = ctx.params.name!;
      return reply(await actions.events(name, { afterId: queryInt(ctx.url, 'afterId'), limit: queryInt(ctx.url, 'limit') }), await secretsOf(name));
    })
    .add('GET', '/v1/rollouts/:name/logs', async (ctx) => {
      const name = ctx.params.name!;
      const instance = ctx.url.searchParams.get('instance');
      if (!instance) throw bad(`query parameter "instance" is required: an instance id from \`sluice get rollout ${name}\``);
      const maxBytes = queryInt(ctx.url, 'maxBytes') ?? MAX_LOG_CHUNK_BYTES;
      if (maxBytes === 0) throw bad('query parameter "maxBytes" must be above 0');
      // An app may print its own env: the rollout's secret values are cut out of the text too.
      return reply(await actions.logs(name, instance, queryInt(ctx.url, 'offset') ?? 0, maxBytes), await secretsOf(name));
    });
  for (const [action, run] of Object.entries(rolloutActionHandlers(actions))) {
    const handler: Handler = async (ctx) => reply(await run(ctx, ctx.params.name!));
    routes.add('POST', `/v1/rollouts/:name/${action}`, handler);
  }
  addFlagRoutes(routes, options, (body) => reply(body));
  addTokenRoutes(routes, options.tokens);
  addPipelineRoutes(routes, options.pipelines, (ctx) => actorOf(ctx.req, ctx.caller).actor, options.now ?? Date.now);
  addMetricsRoutes(routes, options.metrics);
  if (options.dashboard) addDashboardRoutes(routes, options.dashboard, options.now ?? Date.now);
  return routes;
}

/** Feature flags: `/v1/flags…`, `/v1/flags-stale`, `/v1/flag-tokens` (same token as the rest). */
function addFlagRoutes(routes: Routes, options: ApiServerOptions, reply: (body: unknown) => { status: number; body: unknown }): void {
  const flags = (): FlagActions => {
    if (!options.flags) throw new HttpError(501, 'this control plane serves no feature flags', 'not-implemented');
    return options.flags;
  };
  const ramps = (): FlagRampActions => {
    if (!options.flagRamps)
      throw new HttpError(
        501,
        'flag ramps are not available on this control plane — set the percentage with `sluice flags set NAME --percentage N`',
        'not-implemented',
      );
    return options.flagRamps;
  };
  const nameOf = (ctx: RequestContext): string => {
    const name = ctx.params.name!;
    if (!FLAG_KEY_PATTERN.test(name)) throw bad(`flag name "${name}" is not a flag key: letters, digits, _ . - (no "/" or "..")`);
    return name;
  };
  const reason = (body: Record<string, unknown>) => optional(body, 'reason', isString, 'a string');
  routes
    .add('GET', '/v1/flags', async () => reply(await flags().listFlags()))
    .add('GET', '/v1/flags-stale', async (ctx) => reply(await flags().staleFlags(queryInt(ctx.url, 'days'))))
    .add('POST', '/v1/flag-tokens', async (ctx) => {
      const body = await ctx.jsonObject();
      const name = body.name;
      if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw bad('"name" must be a token name: 1 to 64 of letters, digits, _ . -');
      const list = body.flags;
      if (list !== undefined && !(Array.isArray(list) && list.every((f) => typeof f === 'string' && FLAG_KEY_PATTERN.test(f))))
        throw bad('"flags" must be a list of flag keys');
      const f = flags();
      if (!f.createClientToken) throw new HttpError(501, 'this control plane cannot make client tokens', 'not-implemented');
      return reply(await f.createClientToken(name, list as string[] | undefined, actorOf(ctx.req, ctx.caller).actor));
    })
    .add('GET', '/v1/flags/:name', async (ctx) => reply(await flags().getFlag(nameOf(ctx))))
    .add('GET', '/v1/flags/:name/history', async (ctx) => reply(await flags().flagHistory(nameOf(ctx))))
    .add('POST', '/v1/flags/:name/kill', async (ctx) => {
      const name = nameOf(ctx);
      const body = await ctx.jsonObject();
      return reply({ ok: true, push: await flags().killFlag(name, actorOf(ctx.req, ctx.caller).actor, reason(body)) });
    })
    .add('POST', '/v1/flags/:name/restore', async (ctx) => {
      const name = nameOf(ctx);
      const body = await ctx.jsonObject();
      return reply({ ok: true, push: await flags().restoreFlag(name, actorOf(ctx.req, ctx.caller).actor, reason(body)) });
    })
    .add('PUT', '/v1/flags/:name/percentage', async (ctx) => {
      const name = nameOf(ctx);
      const body = await ctx.jsonObject();
      const p = body.percentage;
      if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 100) throw bad('"percentage" must be a number from 0 to 100');
      return reply({ ok: true, push: await flags().setFlagPercentage(name, p, actorOf(ctx.req, ctx.caller).actor, reason(body)) });
    });
  const verbs: Record<string, (ctx: RequestContext, name: string, by: string) => Promise<void>> = {
    promote: async (ctx, name, by) => ramps().promote(name, { full: optional(await ctx.jsonObject(), 'full', isBoolean, 'true or false') ?? false }, by),
    abort: async (ctx, name, by) => ramps().abort(name, by, reason(await ctx.jsonObject())),
    pause: async (ctx, name, by) => (await ctx.jsonObject(), ramps().pause(name, by)),
    resume: async (ctx, name, by) => (await ctx.jsonObject(), ramps().resume(name, by)),
    retry: async (ctx, name, by) => (await ctx.jsonObject(), ramps().retry(name, by)),
  };
  for (const [verb, run] of Object.entries(verbs)) {
    routes.add('POST', `/v1/flags/:name/${verb}`, async (ctx) => {
      await run(ctx, nameOf(ctx), actorOf(ctx.req, ctx.caller).actor);
      return reply({ ok: true });
    });
  }
}

/** The admin token alone as the authentication (timing-safe: singleTokenAuth). */
function adminOnly(token: string | undefined): (bearer: string) => Principal | { refused: string } {
  if (token === undefined) throw new Error('startApiServer: give authenticate or token');
  const auth = singleTokenAuth(token, () => 'wrong API token — send "Authorization: Bearer <token from .sluice/token>"');
  return (bearer) => auth.authenticate(bearer) as Principal | { refused: string };
}

/** The 403's message: the role needed and the caller's, and what to do. */
export function refusalFor(caller: Caller, need: Need): string | undefined {
  if (satisfies(caller.roles as Role[], need)) return undefined;
  const needed = need === 'admin' ? 'admin' : need === 'approver' ? 'approver:<role> (or admin)' : `${need} (or admin)`;
  const has = caller.roles.length > 0 ? caller.roles.join(', ') : 'no role';
  return `this needs role ${needed}; token "${caller.user}" has ${has} — ask an admin for a token with that role`;
}

/** Every call that may change state goes to the audit log, refusals included; reads do not. */
function auditOf(options: ApiServerOptions, done: FinishedRequest): void {
  if (options.audit === undefined || done.method === 'GET' || done.method === 'HEAD') return;
  const { remoteAddress, remotePort } = done.req.socket;
  options.audit({
    at: (options.now ?? Date.now)(),
    user: done.caller?.user ?? '-',
    roles: (done.caller?.roles ?? []) as Role[],
    method: done.method,
    path: done.path.slice(0, 500),
    status: done.status,
    remote: remoteAddress !== undefined ? formatHostPort({ host: remoteAddress, port: remotePort ?? 0 }) : '-',
    ...(done.error !== undefined ? { detail: done.error.slice(0, 500) } : {}),
  });
}

export async function startApiServer(options: ApiServerOptions): Promise<RunningApiServer> {
  // Set once listening, before the first request can arrive.
  let bound = { host: '127.0.0.1', port: 0 };
  const authenticate = options.authenticate ?? adminOnly(options.token);
  const server = createServer(
    jsonHandler({
      routes: apiRoutes(options),
      name: 'sluice API',
      self: 'this API',
      host: () => apiHostPolicy(bound),
      // The dashboard is a page of this origin; no other site's page may call the API.
      origin: 'same',
      auth: {
        authenticate: (bearer) =>
          bearer === undefined
            ? { refused: 'missing API token — send "Authorization: Bearer <token>" (.sluice/token, or one from `sluice token create`)' }
            : authenticate(bearer),
        authorize: (caller, need) => refusalFor(caller, need as Need),
        ...(options.dashboard ? { session: sessionAuth(options.dashboard.sessions) } : {}),
      },
      onFinish: (done) => auditOf(options, done),
      bodyLimit: MAX_BODY_BYTES,
      notFound: (method, path) => `no API route ${method} ${path}`,
      redact: redactText,
      onInternalError: (req, err) => console.error(redactText(`sluice api: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`)),
    }),
  );
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

  return {
    address: formatHostPort({ host: info.address, port: info.port }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

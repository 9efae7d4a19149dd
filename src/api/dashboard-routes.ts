/**
 * The dashboard's routes (issue 16): the page and its assets, sign-in and sign-out, the
 * overview, a rollout's traffic timeline and the live stream. Every other thing the page
 * shows or does goes through the API's ordinary routes, with the same roles: the API's rules
 * are the UI's rules.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Principal } from '../core/auth.js';
import { type SessionInfo, SESSION_COOKIE } from '../core/live.js';
import type { StreamMessage } from '../core/live.js';
import { satisfies } from '../core/auth.js';
import type { ChangeFeed } from '../engine/change-feed.js';
import { type Caller, HttpError, type RequestContext, type Routes } from '../http/server.js';
import { cookieValue, type Session, type Sessions } from './session.js';
import { serveStream } from './stream.js';
import { NOT_BUILT_PAGE, type UiFile, UI_HEADERS, UiFiles } from './ui.js';

export interface DashboardBackend {
  sessions: Sessions;
  feed: Pick<ChangeFeed, 'subscribe' | 'overview' | 'weights'>;
  /** Who a token is (TokenService.authenticate). */
  authenticate(token: string): Principal | { refused: string };
  /** Environments for the overview (none without pipelines). */
  environments(): unknown[];
  /** Throws the API's 404 when there is no such rollout. */
  exists(name: string): Promise<unknown>;
  /** No secret leaves: a message's data as it may be sent. */
  redact(message: StreamMessage): unknown;
  /** The built page; default dist/ui/. */
  ui?: UiFiles;
}

/** Changes on every start: a page that sees another after a reconnect refetches everything. */
const SERVER_ID = randomBytes(8).toString('hex');

export function addDashboardRoutes(routes: Routes, backend: DashboardBackend, now: () => number): void {
  const ui = backend.ui ?? new UiFiles();
  const send = (ctx: RequestContext, file: UiFile | undefined, fallback?: string) => {
    const res: ServerResponse = ctx.res;
    if (file === undefined && fallback === undefined) throw new HttpError(404, `no dashboard file ${ctx.path}`, 'not-found');
    const body = file?.body ?? Buffer.from(fallback!);
    res.writeHead(file === undefined ? 503 : 200, {
      ...UI_HEADERS,
      'content-type': file?.type ?? 'text/html; charset=utf-8',
      'content-length': body.length,
      'cache-control': 'no-cache',
    });
    res.end(ctx.method === 'HEAD' ? undefined : body);
    return { taken: true as const };
  };
  const sessionOf = (ctx: RequestContext): Session => {
    const cookie = cookieValue(ctx.req.headers.cookie, SESSION_COOKIE);
    const s = cookie === undefined ? undefined : backend.sessions.verify(cookie);
    if (s === undefined || 'refused' in s) throw new HttpError(401, s?.refused ?? 'not signed in — sign in with an API token', 'unauthorized');
    return s;
  };
  routes
    .add(['GET', 'HEAD'], '/', (ctx) => send(ctx, ui.index(), NOT_BUILT_PAGE), { public: true })
    .add(['GET', 'HEAD'], '/assets/:file', (ctx) => send(ctx, ui.asset(ctx.params.file!)), { public: true })
    .add(
      'POST',
      '/v1/session',
      async (ctx) => {
        const body = await ctx.jsonObject();
        if (typeof body.token !== 'string' || body.token.trim() === '') {
          throw new HttpError(400, '"token" must be an API token: .sluice/token, or one from `sluice token create`', 'bad-request');
        }
        const who = backend.authenticate(body.token.trim());
        if ('refused' in who) throw new HttpError(401, who.refused, 'unauthorized');
        const { cookie, session } = backend.sessions.create(who);
        return { body: infoOf(session), headers: { 'set-cookie': backend.sessions.setCookie(cookie, backend.sessions.ttlMs) } };
      },
      { public: true },
    )
    .add('GET', '/v1/session', (ctx) => ({ body: infoOf(sessionOf(ctx)) }))
    .add(
      'DELETE',
      '/v1/session',
      (ctx) => {
        backend.sessions.signOut(sessionOf(ctx));
        return { body: { ok: true }, headers: { 'set-cookie': backend.sessions.setCookie('', 0) } };
      },
      { need: 'viewer' },
    )
    .add('GET', '/v1/overview', () => ({ body: { rollouts: backend.feed.overview(), environments: backend.environments() } }))
    .add('GET', '/v1/rollouts/:name/weights', async (ctx) => {
      await backend.exists(ctx.params.name!);
      return { body: { points: backend.feed.weights(ctx.params.name!) } };
    })
    .add('GET', '/v1/stream', (ctx) => {
      serveStream(ctx.res, backend.feed, { server: SERVER_ID, at: now() }, (m) => backend.redact(m));
      return { taken: true };
    });
}

/** What the browser is told of its session: who, the CSRF token, and what the roles allow. */
export function infoOf(s: Session): SessionInfo {
  return {
    user: s.user,
    roles: [...s.roles],
    csrf: s.csrf,
    expiresAt: s.expiresAt,
    can: {
      deploy: satisfies(s.roles, 'deployer'),
      admin: satisfies(s.roles, 'admin'),
      approverRoles: s.roles.filter((r) => r.startsWith('approver:')).map((r) => r.slice('approver:'.length)),
    },
  };
}

/**
 * The JsonAuth.session hook: the caller a session cookie names. Requests that change
 * something need the session's CSRF token in `X-CSRF-Token` (403 `csrf` without it).
 */
export function sessionAuth(
  sessions: Sessions,
): (req: import('node:http').IncomingMessage, method: string) => Caller | { refused: string; status?: 401 | 403; code?: string } | undefined {
  return (req, method) => {
    const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (cookie === undefined || cookie === '') return undefined;
    const s = sessions.verify(cookie);
    if ('refused' in s) return s;
    if (method !== 'GET' && method !== 'HEAD') {
      const h = req.headers['x-csrf-token'];
      if (!sessions.csrfOk(s, Array.isArray(h) ? h[0] : h)) {
        return {
          refused: `${method} with a session cookie needs the X-CSRF-Token header of GET /v1/session — a page of another site cannot send it`,
          status: 403,
          code: 'csrf',
        };
      }
    }
    return { user: s.user, roles: s.roles, ...(s.tokenId !== undefined ? { tokenId: s.tokenId } : {}), session: true };
  };
}

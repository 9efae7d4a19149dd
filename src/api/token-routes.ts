/**
 * The API's routes for users and roles (issue 15): named tokens (`/v1/tokens`, admin only)
 * and the audit log (`/v1/audit`, admin only: it names who did what from where).
 */
import type { AuditRecord } from '../core/auth.js';
import { HttpError, type RequestContext, type Routes } from '../http/server.js';
import type { TokenService } from './tokens.js';

/** What the routes need: the token service and the audit log's reader. */
export interface TokenRoutesBackend {
  service: Pick<TokenService, 'create' | 'list' | 'revoke'>;
  now(): number;
  listAudit(options: { afterId?: number; limit?: number; user?: string }): AuditRecord[];
}

/** Longest expiry a token may get: ten years, in seconds. */
const MAX_EXPIRY_SECONDS = 10 * 365 * 86400;
const DEFAULT_AUDIT_LIMIT = 100;
const bad = (message: string) => new HttpError(400, message, 'bad-request');

function queryInt(ctx: RequestContext, name: string): number | undefined {
  const raw = ctx.url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw bad(`query parameter "${name}" must be a non-negative integer, got "${raw.slice(0, 40)}"`);
  return Number(raw);
}

export function addTokenRoutes(routes: Routes, backend: TokenRoutesBackend | undefined): void {
  const get = (): TokenRoutesBackend => {
    if (backend === undefined) throw new HttpError(501, 'this control plane keeps no named tokens', 'not-implemented');
    return backend;
  };
  const by = (ctx: RequestContext) => ctx.caller?.user ?? 'api';
  routes
    .add(
      'POST',
      '/v1/tokens',
      async (ctx) => {
        const body = await ctx.jsonObject();
        const b = get();
        const seconds = body.expiresInSeconds;
        if (
          seconds !== undefined &&
          seconds !== null &&
          !(typeof seconds === 'number' && Number.isInteger(seconds) && seconds > 0 && seconds <= MAX_EXPIRY_SECONDS)
        ) {
          throw bad(`"expiresInSeconds" must be a whole number of seconds from 1 to ${MAX_EXPIRY_SECONDS} (ten years)`);
        }
        if (!Array.isArray(body.roles)) throw bad('"roles" must be a list of roles, e.g. ["deployer"]');
        const expiresAt = typeof seconds === 'number' ? b.now() + seconds * 1000 : undefined;
        const made = b.service.create(body.name as string, body.roles, { expiresAt }, by(ctx));
        return { status: 201, body: made };
      },
      { need: 'admin' },
    )
    .add('GET', '/v1/tokens', () => ({ body: { tokens: get().service.list() } }), { need: 'admin' })
    .add('DELETE', '/v1/tokens/:id', (ctx) => ({ body: { revoked: get().service.revoke(ctx.params.id!, by(ctx)) } }), { need: 'admin' })
    .add(
      'GET',
      '/v1/audit',
      (ctx) => {
        const user = ctx.url.searchParams.get('user') || undefined;
        const records = get().listAudit({ afterId: queryInt(ctx, 'afterId'), limit: queryInt(ctx, 'limit') ?? DEFAULT_AUDIT_LIMIT, ...(user ? { user } : {}) });
        return { body: { records } };
      },
      { need: 'admin' },
    );
}

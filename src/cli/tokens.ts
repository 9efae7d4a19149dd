/**
 * Users and roles on the command line (issue 15): `sluice token create|list|revoke`,
 * `sluice whoami` and `sluice audit`. Everything goes through the API (admin only but
 * whoami); the token in use is $SLUICE_TOKEN when set, else the state directory's admin token.
 */
import { join } from 'node:path';
import type { AuditRecord, Role } from '../core/auth.js';
import { parseRole, type PublicTokenRecord } from '../api/tokens.js';
import { UserError } from '../util/errors.js';
import { listFlag, positiveIntFlag, printStructured, stringFlag, UsageError, type Command, type Context } from './command.js';
import { renderTable } from './render.js';

const ACTIONS = ['create', 'list', 'revoke'] as const;
const UNIT_SECONDS: Record<string, number> = { m: 60, h: 3600, d: 86400, w: 7 * 86400 };
/** The API's cap (api/token-routes.ts): ten years. */
const MAX_EXPIRY_SECONDS = 10 * 365 * 86400;
const EXPIRES_HELP = 'write a whole number and m, h, d or w, e.g. --expires 30d, 12h or 90m';

/** `--expires 30d|12h|90m|2w` → seconds; a UsageError naming the value and an example otherwise. */
export function parseExpires(raw: string): number {
  const m = /^(\d{1,9})([mhdw])$/.exec(raw.trim());
  if (!m) throw new UsageError(`--expires "${raw.slice(0, 40)}" is not a duration — ${EXPIRES_HELP}`);
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  if (seconds <= 0) throw new UsageError(`--expires ${raw}: a token must live a while — ${EXPIRES_HELP}`);
  if (seconds > MAX_EXPIRY_SECONDS) throw new UsageError(`--expires ${raw}: at most ten years (3650d) — ${EXPIRES_HELP}`);
  return seconds;
}

/** `--role` values checked before any call: the message lists the valid forms. */
export function parseRoleFlags(raw: string[]): Role[] {
  if (raw.length === 0) throw new UsageError('a token needs at least one --role: viewer, deployer, admin or approver:<role> (e.g. --role deployer)');
  try {
    return [...new Set(raw.map(parseRole))];
  } catch (err) {
    throw new UsageError(`--role: ${(err as Error).message}`);
  }
}

const time = (ms: number | undefined): string => (ms === undefined ? '-' : `${new Date(ms).toISOString().slice(0, 19)}Z`);

/** `token list`: never the hash (the API does not send it; the columns would not show it either). */
export function renderTokenList(tokens: readonly PublicTokenRecord[], now: number): string {
  if (tokens.length === 0)
    return 'no named tokens (the admin token in the state directory always works) — make one with `sluice token create NAME --role ROLE`';
  return renderTable(
    ['ID', 'NAME', 'ROLES', 'CREATED', 'EXPIRES', 'REVOKED'],
    tokens.map((t) => [
      t.id,
      t.name,
      t.roles.join(','),
      `${time(t.createdAt)} by ${t.createdBy}`,
      t.expiresAt === undefined ? 'never' : `${time(t.expiresAt)}${t.expiresAt <= now ? ' (expired)' : ''}`,
      t.revokedAt === undefined ? '-' : `${time(t.revokedAt)} by ${t.revokedBy ?? 'unknown'}`,
    ]),
  );
}

/** ok for 2xx/3xx; refused (401/403) or failed with the API's one-line reason otherwise. */
export function auditOutcome(r: Pick<AuditRecord, 'status' | 'detail'>): string {
  const detail = r.detail ? `: ${r.detail.length > 100 ? `${r.detail.slice(0, 99)}…` : r.detail}` : '';
  if (r.status < 400) return `ok${detail}`;
  return `${r.status === 401 || r.status === 403 ? 'refused' : 'failed'}${detail}`;
}

export function renderAudit(records: readonly AuditRecord[]): string {
  if (records.length === 0) return 'no audit records';
  return renderTable(
    ['TIME', 'USER', 'CALL', 'STATUS', 'FROM', 'OUTCOME'],
    records.map((r) => [time(r.at), r.user, `${r.method} ${r.path}`, String(r.status), r.remote, auditOutcome(r)]),
  );
}

function args(ctx: Context, action: string, names: string[]): string[] {
  const given = ctx.positionals.slice(1);
  if (given.length < names.length) throw new UsageError(`sluice token ${action} needs ${names.slice(given.length).join(' ')}`);
  if (given.length > names.length) throw new UsageError(`unexpected argument "${given[names.length]}" for \`sluice token ${action}\``);
  return given;
}

/** A live token by id, else by name (a name several live tokens share must be told by id). */
export function findToken(tokens: readonly PublicTokenRecord[], idOrName: string): PublicTokenRecord {
  const byId = tokens.find((t) => t.id === idOrName);
  if (byId) return byId;
  const named = tokens.filter((t) => t.name === idOrName);
  const live = named.filter((t) => t.revokedAt === undefined);
  if (live.length === 1) return live[0]!;
  if (live.length > 1) {
    throw new UserError(`${live.length} live tokens are named "${idOrName}" (ids ${live.map((t) => t.id).join(', ')}) — revoke one by its id`, 'ambiguous');
  }
  if (named.length > 0) throw new UserError(`token "${idOrName}" is already revoked (id ${named.map((t) => t.id).join(', ')})`, 'conflict', 409);
  throw new UserError(`no token with id or name "${idOrName.slice(0, 80)}" — \`sluice token list\` shows them`, 'not-found', 404);
}

export const tokenCommand: Command = {
  name: 'token',
  summary: 'named API tokens with roles: create, list, revoke (admin)',
  usage: 'create NAME --role ROLE [--role ROLE ...] [--expires 30d] | list | revoke ID_OR_NAME [-o json|yaml]',
  flags: [
    ['--role ROLE', 'create: viewer, deployer, admin or approver:<role> (repeatable)'],
    ['--expires D', 'create: the token stops working after D (90m, 12h, 30d, 2w); default never'],
    ['-o, --output json|yaml', 'print the raw data (create: {token, record}; list)'],
  ],
  details:
    'Roles: viewer reads everything; deployer also applies and acts on rollouts, flags and releases;\n' +
    'approver:<role> approves release stages that ask for <role>; admin does everything, tokens\n' +
    'and the audit log included. The token is printed once: sluice keeps only its SHA-256.\n' +
    "Use it with `export SLUICE_TOKEN=<token>`; without it the CLI uses the state directory's\n" +
    'admin token. Needs an admin token.',
  options: {
    role: { type: 'string', multiple: true },
    expires: { type: 'string' },
  },
  output: true,
  async run(ctx) {
    const action = ctx.positionals[0] ?? 'list';
    switch (action) {
      case 'create': {
        const [name] = args(ctx, action, ['NAME']);
        const roles = parseRoleFlags(listFlag(ctx, 'role'));
        const expires = stringFlag(ctx, 'expires');
        const seconds = expires === undefined ? undefined : parseExpires(expires);
        const made = await ctx.client().createToken(name!, roles, seconds);
        if (printStructured(ctx, made)) return 0;
        const r = made.record;
        ctx.out(
          [
            `token/${r.name} created (id ${r.id}, roles ${r.roles.join(', ')}, expires ${r.expiresAt === undefined ? 'never' : time(r.expiresAt)})`,
            made.token,
            'It is shown only now (sluice keeps only its hash). Use it with:',
            `  export SLUICE_TOKEN=${made.token}`,
          ].join('\n'),
        );
        return 0;
      }
      case 'list': {
        args(ctx, action, []);
        const { tokens } = await ctx.client().listTokens();
        if (!printStructured(ctx, tokens)) ctx.out(renderTokenList(tokens, Date.now()));
        return 0;
      }
      case 'revoke': {
        const [idOrName] = args(ctx, action, ['ID_OR_NAME']);
        const client = ctx.client();
        const target = findToken((await client.listTokens()).tokens, idOrName!);
        const { revoked } = await client.revokeToken(target.id);
        if (!printStructured(ctx, revoked)) ctx.out(`token/${revoked.name} (id ${revoked.id}) revoked: it is refused (401) from now on`);
        return 0;
      }
      default:
        throw new UsageError(`unknown token action "${action}" — one of ${ACTIONS.join(', ')}`);
    }
  },
};

export const whoamiCommand: Command = {
  name: 'whoami',
  summary: 'the user and roles of the API token in use',
  usage: '[-o json|yaml]',
  details: 'The token is $SLUICE_TOKEN when set, else the state directory\'s admin token (user "admin").',
  output: true,
  async run(ctx) {
    if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument "${ctx.positionals[0]}"`);
    const me = await ctx.client().whoami();
    if (printStructured(ctx, me)) return 0;
    const source = process.env.SLUICE_TOKEN?.trim() ? '$SLUICE_TOKEN' : join(ctx.stateDir, 'token');
    ctx.out(
      [
        `user:   ${me.user}`,
        `roles:  ${me.roles.length > 0 ? me.roles.join(', ') : 'none'}`,
        ...(me.tokenId ? [`token:  ${me.tokenId}`] : []),
        `from:   ${source}`,
      ].join('\n'),
    );
    return 0;
  },
};

export const auditCommand: Command = {
  name: 'audit',
  summary: 'the audit log: every state-changing API call, refusals included (admin)',
  usage: '[--user U] [--limit N] [--after ID] [-o json|yaml]',
  flags: [
    ['--user U', "only this user's calls (a token's name; admin for the state directory's token)"],
    ['--limit N', 'at most N records (default 100), oldest first'],
    ['--after ID', 'records after this id (read on from the last one shown; see -o json for ids)'],
    ['-o, --output json|yaml', 'print the raw records'],
  ],
  options: {
    user: { type: 'string' },
    limit: { type: 'string' },
    after: { type: 'string' },
  },
  output: true,
  async run(ctx) {
    if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument "${ctx.positionals[0]}"`);
    const after = stringFlag(ctx, 'after');
    if (after !== undefined && !/^\d{1,15}$/.test(after)) throw new UsageError(`--after must be a record id (a whole number), got "${after.slice(0, 40)}"`);
    const user = stringFlag(ctx, 'user');
    const { records } = await ctx.client().audit({
      ...(user ? { user } : {}),
      limit: positiveIntFlag(ctx, 'limit'),
      ...(after !== undefined ? { afterId: Number(after) } : {}),
    });
    if (!printStructured(ctx, records)) ctx.out(renderAudit(records));
    return 0;
  },
};

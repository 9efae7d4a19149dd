/**
 * Named API tokens with roles (issue 15): made, checked and revoked here over an AuthStore.
 * A token is `sl_<id>_<secret>`; only its SHA-256 is stored, so neither the database nor a
 * backup of it lets anyone call the API. The state directory's admin token (`.sluice/token`)
 * stays the principal `admin` with role `admin`, so one-machine use needs no setup.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { APPROVER_ROLE_PATTERN, type AuthStore, type Principal, type Role, TOKEN_NAME_PATTERN, type TokenRecord } from '../core/auth.js';
import type { Clock } from '../core/clock.js';
import { UserError } from '../util/errors.js';

const TOKEN_PREFIX = 'sl_';
/** The admin token's user name: a named token may not take it (the audit log would be ambiguous). */
export const ADMIN_USER = 'admin';
const ROLE_HELP = 'use viewer, deployer, admin or approver:<role> (lower-case letters, digits, -)';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A role as written (`--role`, the API's "roles"), or a one-line UserError naming it and the fix. */
export function parseRole(raw: unknown): Role {
  if (typeof raw !== 'string') throw new UserError(`role ${JSON.stringify(raw)?.slice(0, 60)} is not a string — ${ROLE_HELP}`, 'bad-role');
  if (raw === 'viewer' || raw === 'deployer' || raw === 'admin') return raw;
  if (raw.startsWith('approver:')) {
    const name = raw.slice('approver:'.length);
    if (APPROVER_ROLE_PATTERN.test(name)) return `approver:${name}`;
    throw new UserError(
      `role "${printable(raw)}": "${printable(name)}" is not an approver role name — write approver:<role>, e.g. approver:qa (lower-case letters, digits, -; up to 40)`,
      'bad-role',
    );
  }
  throw new UserError(`role "${printable(raw)}" is not a role — ${ROLE_HELP}`, 'bad-role');
}

/** A non-empty list of roles, without repeats. */
export function parseRoles(raw: unknown): Role[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new UserError(`a token needs at least one role — ${ROLE_HELP}`, 'bad-role');
  return [...new Set(raw.map(parseRole))];
}

export function checkTokenName(raw: unknown): string {
  if (typeof raw !== 'string' || !TOKEN_NAME_PATTERN.test(raw)) {
    throw new UserError(
      `token name ${typeof raw === 'string' ? `"${printable(raw)}"` : 'missing'} is not valid — 1 to 64 of letters, digits, _ . @ -, starting with a letter or digit (e.g. alice or ci-deploy)`,
      'bad-name',
    );
  }
  if (raw === ADMIN_USER) throw new UserError(`token name "admin" is the state directory's admin token — pick another name, e.g. alice-admin`, 'bad-name');
  return raw;
}

/** A token record as the API shows it: never the hash. */
export type PublicTokenRecord = Omit<TokenRecord, 'hash'>;
export function publicRecord(t: TokenRecord): PublicTokenRecord {
  const { hash: _hash, ...rest } = t;
  return rest;
}

export class TokenService {
  private readonly adminDigest: Buffer;

  constructor(
    private readonly store: AuthStore,
    private readonly clock: Pick<Clock, 'now'>,
    /** The state directory's token (`.sluice/token`). */
    adminToken: string,
  ) {
    this.adminDigest = createHash('sha256').update(adminToken).digest();
  }

  /** A new token: returned once, only its hash is kept. */
  create(name: string, roles: readonly unknown[], options: { expiresAt?: number }, by: string): { token: string; record: PublicTokenRecord } {
    const record: TokenRecord = {
      id: randomBytes(6).toString('hex'),
      name: checkTokenName(name),
      hash: '',
      roles: parseRoles(roles),
      createdAt: this.clock.now(),
      createdBy: by,
      ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt } : {}),
    };
    if (record.expiresAt !== undefined && !(record.expiresAt > record.createdAt)) {
      throw new UserError(`token "${name}": the expiry must be in the future — give a positive duration, e.g. --expires 30d`, 'bad-expiry');
    }
    const token = `${TOKEN_PREFIX}${record.id}_${randomBytes(32).toString('base64url')}`;
    record.hash = sha256(token);
    this.store.putToken(record);
    return { token, record: publicRecord(record) };
  }

  /** Who a bearer token is, or why it is refused (one line, for the 401). */
  authenticate(bearer: string): Principal | { refused: string } {
    // Digests compared: neither the admin token's content nor its length leaks through timing.
    if (timingSafeEqual(createHash('sha256').update(bearer).digest(), this.adminDigest)) return { user: ADMIN_USER, roles: ['admin'] };
    if (!bearer.startsWith(TOKEN_PREFIX)) return { refused: 'wrong API token — send the token in .sluice/token or one from `sluice token create`' };
    // Looked up by hash: a guessed id learns nothing, and the table is indexed on it.
    const t = this.store.tokenByHash(sha256(bearer));
    if (t === undefined) return { refused: 'unknown API token — it was never made here or was mistyped; ask an admin for one (`sluice token create`)' };
    if (t.revokedAt !== undefined) {
      return { refused: `token "${t.name}" was revoked at ${new Date(t.revokedAt).toISOString()} by ${t.revokedBy ?? 'unknown'} — ask an admin for a new one` };
    }
    if (t.expiresAt !== undefined && this.clock.now() >= t.expiresAt) {
      return { refused: `token "${t.name}" expired at ${new Date(t.expiresAt).toISOString()} — ask an admin for a new one` };
    }
    return { user: t.name, roles: t.roles, tokenId: t.id };
  }

  list(): PublicTokenRecord[] {
    return this.store.listTokens().map(publicRecord);
  }

  /** Revokes by id; a UserError (404) when there is no such live token. */
  revoke(id: string, by: string): PublicTokenRecord {
    if (!this.store.revokeToken(id, this.clock.now(), by)) {
      const known = this.store.listTokens().find((t) => t.id === id);
      if (known) throw new UserError(`token ${id} ("${known.name}") is already revoked`, 'conflict', 409);
      throw new UserError(`no token with id "${printable(id)}" — \`sluice token list\` shows the ids`, 'not-found', 404);
    }
    return publicRecord(this.store.listTokens().find((t) => t.id === id)!);
  }
}

/** For messages: short and printable. */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
}

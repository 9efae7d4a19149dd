/**
 * Users and roles on the API (issue 15): named tokens with roles, stored hashed, and the
 * audit log of every state-changing call. The single admin token of `.sluice/token` keeps
 * working for one-machine use: it is the principal `admin` with role `admin`.
 */

/**
 * `viewer` reads everything and changes nothing; `deployer` applies, releases and acts on
 * rollouts, flags and releases; `approver:<role>` approves or rejects a release's entry into
 * a stage that asks for <role> (and reads like a viewer); `admin` does everything, tokens and
 * shutdown included.
 */
export type Role = 'viewer' | 'deployer' | 'admin' | `approver:${string}`;

/** What a route needs: `approver` is any `approver:<role>` (the pipeline checks which one applies). */
export type Need = 'viewer' | 'deployer' | 'approver' | 'admin';

/** Role names after `approver:`: the ones Pipeline stages name in `approvals[].role`. */
export const APPROVER_ROLE_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;
/** A token's (user's) name. */
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

/** Who is calling: from the bearer token. */
export interface Principal {
  /** The token's name (the user); `admin` for the state directory's admin token. */
  user: string;
  roles: Role[];
  /** The named token's id; absent for the admin token. */
  tokenId?: string;
}

/** A named token as stored: never the token itself, only its SHA-256. */
export interface TokenRecord {
  /** Short public id (shown in lists, used by `token revoke`); also the token's prefix. */
  id: string;
  name: string;
  /** Hex SHA-256 of the whole token. */
  hash: string;
  roles: Role[];
  createdAt: number;
  createdBy: string;
  expiresAt?: number;
  revokedAt?: number;
  revokedBy?: string;
}

/** One state-changing API call (every method but GET/HEAD), answered or refused. */
export interface AuditRecord {
  id: number;
  at: number;
  user: string;
  /** The roles the caller had; empty when the token was refused. */
  roles: Role[];
  method: string;
  path: string;
  /** The HTTP status answered. */
  status: number;
  /** The caller's address (host:port). */
  remote: string;
  /** A short note: the error's message on a refusal, the release/rollout acted on otherwise. */
  detail?: string;
}

export type AuditDraft = Omit<AuditRecord, 'id'>;

/** Persistence of tokens and the audit log (both stores implement it: core/store.ts). */
export interface AuthStore {
  putToken(t: TokenRecord): void;
  /** By SHA-256 of the token (the hash column is unique). */
  tokenByHash(hash: string): TokenRecord | undefined;
  listTokens(): TokenRecord[];
  /** Sets revokedAt/revokedBy; false when no such id (or already revoked). */
  revokeToken(id: string, at: number, by: string): boolean;
  appendAudit(a: AuditDraft): AuditRecord;
  /** Oldest first, after `afterId`, at most `limit`. */
  listAudit(options?: { afterId?: number; limit?: number; user?: string }): AuditRecord[];
}

/** Whether a principal's roles satisfy what a route needs. */
export function satisfies(roles: readonly Role[], need: Need): boolean {
  if (roles.includes('admin')) return true;
  switch (need) {
    case 'viewer':
      return roles.length > 0;
    case 'deployer':
      return roles.includes('deployer');
    case 'approver':
      return roles.some((r) => r.startsWith('approver:'));
    case 'admin':
      return false;
  }
}

/** The approver roles (`qa` of `approver:qa`) a principal holds; admin holds none implicitly. */
export function approverRoles(roles: readonly Role[]): string[] {
  return roles.filter((r) => r.startsWith('approver:')).map((r) => r.slice('approver:'.length));
}

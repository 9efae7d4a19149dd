/**
 * Named API tokens and the audit log on SQLite (tables api_tokens, audit_log of
 * migrations.ts). Only a token's SHA-256 is ever written: the file never holds a token.
 */
import type Database from 'better-sqlite3';
import type { AuditDraft, AuditRecord, AuthStore, Role, TokenRecord } from '../core/auth.js';

interface TokenRow {
  id: string;
  name: string;
  hash: string;
  roles: string;
  created_at: number;
  created_by: string;
  expires_at: number | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

interface AuditRow {
  id: number;
  at: number;
  user: string;
  roles: string;
  method: string;
  path: string;
  status: number;
  remote: string;
  detail: string | null;
}

function toToken(r: TokenRow): TokenRecord {
  return {
    id: r.id,
    name: r.name,
    hash: r.hash,
    roles: JSON.parse(r.roles) as Role[],
    createdAt: r.created_at,
    createdBy: r.created_by,
    ...(r.expires_at !== null ? { expiresAt: r.expires_at } : {}),
    ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
    ...(r.revoked_by !== null ? { revokedBy: r.revoked_by } : {}),
  };
}

function toAudit(r: AuditRow): AuditRecord {
  return {
    id: r.id,
    at: r.at,
    user: r.user,
    roles: JSON.parse(r.roles) as Role[],
    method: r.method,
    path: r.path,
    status: r.status,
    remote: r.remote,
    ...(r.detail !== null ? { detail: r.detail } : {}),
  };
}

export class SqliteAuthStore implements AuthStore {
  constructor(private readonly db: Database.Database) {}

  putToken(t: TokenRecord): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO api_tokens (id, name, hash, roles, created_at, created_by, expires_at, revoked_at, revoked_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(t.id, t.name, t.hash, JSON.stringify(t.roles), t.createdAt, t.createdBy, t.expiresAt ?? null, t.revokedAt ?? null, t.revokedBy ?? null);
  }
  tokenByHash(hash: string): TokenRecord | undefined {
    const row = this.db.prepare('SELECT * FROM api_tokens WHERE hash = ?').get(hash) as TokenRow | undefined;
    return row && toToken(row);
  }
  listTokens(): TokenRecord[] {
    return (this.db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id').all() as TokenRow[]).map(toToken);
  }
  revokeToken(id: string, at: number, by: string): boolean {
    return this.db.prepare('UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL').run(at, by, id).changes > 0;
  }
  appendAudit(a: AuditDraft): AuditRecord {
    const info = this.db
      .prepare('INSERT INTO audit_log (at, user, roles, method, path, status, remote, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(a.at, a.user, JSON.stringify(a.roles), a.method, a.path, a.status, a.remote, a.detail ?? null);
    return { ...structuredClone(a), id: Number(info.lastInsertRowid) };
  }
  listAudit(options: { afterId?: number; limit?: number; user?: string } = {}): AuditRecord[] {
    const rows = this.db
      .prepare(`SELECT * FROM audit_log WHERE id > ? ${options.user !== undefined ? 'AND user = ?' : ''} ORDER BY id LIMIT ?`)
      .all(...[options.afterId ?? 0, ...(options.user !== undefined ? [options.user] : []), options.limit ?? -1]) as AuditRow[];
    return rows.map(toAudit);
  }
}

/**
 * Named API tokens and the audit log in memory (MemoryStore), keeping SqliteAuthStore's
 * contract (test/unit/store-contract.test.ts): copies in and out, the same orders.
 */
import type { AuditDraft, AuditRecord, AuthStore, TokenRecord } from '../core/auth.js';

export class MemoryAuthStore implements AuthStore {
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly audit: AuditRecord[] = [];

  putToken(t: TokenRecord): void {
    // The hash is unique as in SQLite: a record of another id with the same hash is refused.
    for (const other of this.tokens.values()) {
      if (other.hash === t.hash && other.id !== t.id) throw new Error('UNIQUE constraint failed: api_tokens.hash');
    }
    this.tokens.set(t.id, structuredClone(t));
  }
  tokenByHash(hash: string): TokenRecord | undefined {
    for (const t of this.tokens.values()) if (t.hash === hash) return structuredClone(t);
    return undefined;
  }
  listTokens(): TokenRecord[] {
    return [...this.tokens.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((t) => structuredClone(t));
  }
  revokeToken(id: string, at: number, by: string): boolean {
    const t = this.tokens.get(id);
    if (t === undefined || t.revokedAt !== undefined) return false;
    this.tokens.set(id, { ...t, revokedAt: at, revokedBy: by });
    return true;
  }
  appendAudit(a: AuditDraft): AuditRecord {
    const record = { ...structuredClone(a), id: this.audit.length + 1 };
    this.audit.push(record);
    return structuredClone(record);
  }
  listAudit(options: { afterId?: number; limit?: number; user?: string } = {}): AuditRecord[] {
    const afterId = options.afterId ?? 0;
    const rows = this.audit.filter((a) => a.id > afterId && (options.user === undefined || a.user === options.user));
    return (options.limit !== undefined ? rows.slice(0, options.limit) : rows).map((a) => structuredClone(a));
  }
}

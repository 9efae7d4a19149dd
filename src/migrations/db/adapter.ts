import type { ConnectionRef, DatabaseEngine } from '../../core/database.js';

/**
 * One database engine behind the migration runner: sessions that run SQL, and the
 * engine's own backup. One file per engine beside this one (postgres.ts, sqlite.ts);
 * `openDatabase` in index.ts picks by `engine`.
 */
export interface QueryResult<R = Record<string, unknown>> {
  rows: R[];
  rowCount: number;
}

/** One connection: statements run in order; a transaction is BEGIN … COMMIT on it. */
export interface DbSession {
  /** One statement; `$1`, `$2`… are `params` (SQLite: `?` or `$1` are both accepted). */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
  /** The server's id of this session (PostgreSQL backend pid), for reports of who blocks whom. */
  readonly pid: number | undefined;
  close(): Promise<void>;
}

export interface DatabaseAdapter {
  readonly engine: DatabaseEngine;
  /** Where it is, without credentials: `postgres://127.0.0.1:5432/shop`, `sqlite:/var/app.db`. */
  readonly description: string;
  connect(): Promise<DbSession>;
  /** pg_dump --format=custom / SQLite's online backup, to `file`. */
  backup(file: string): Promise<{ bytes: number }>;
  /** Replaces the database's contents with the backup's. */
  restore(file: string): Promise<void>;
  close(): Promise<void>;
}

/** A connection that cannot be opened or used: one line, never the URL's password. */
export class DatabaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseError';
  }
}

/** Where a connection ref points, for messages: the env var or file name, never the value. */
export function describeRef(ref: ConnectionRef): string {
  if ('env' in ref) return `$${ref.env}`;
  if ('file' in ref) return ref.file;
  return ref.path;
}

/** `postgres://user:secret@host/db` → `postgres://user@host/db` (messages never carry a password). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '';
    return u.toString().replace(/:@/, '@');
  } catch {
    return '(an unreadable URL)';
  }
}

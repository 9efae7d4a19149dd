import { copyFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { type DatabaseAdapter, DatabaseError, type DbSession, type QueryResult } from './adapter.js';

/**
 * SQLite through better-sqlite3 (already the store's driver). Backups use SQLite's online
 * backup API, so a copy taken while the app writes is consistent.
 */
export class SqliteAdapter implements DatabaseAdapter {
  readonly engine = 'sqlite' as const;
  readonly description: string;

  constructor(private readonly path: string) {
    this.description = `sqlite:${path}`;
  }

  private open(): Database.Database {
    try {
      const db = new Database(this.path, { fileMustExist: false });
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 5000');
      return db;
    } catch (err) {
      throw new DatabaseError(`cannot open ${this.description}: ${(err as Error).message} — check database.connection.path`);
    }
  }

  async connect(): Promise<DbSession> {
    const db = this.open();
    return {
      pid: undefined,
      async query<R>(sql: string, params: unknown[] = []): Promise<QueryResult<R>> {
        // `$1` placeholders (the migrations' backfill form) become SQLite's `?NNN`, which
        // better-sqlite3 binds by number from an object (positional arrays are refused).
        const numbered = /\$\d+/.test(sql);
        const text = numbered ? sql.replace(/\$(\d+)/g, '?$1') : sql;
        const args = numbered ? [Object.fromEntries(params.map((v, i) => [i + 1, v]))] : params;
        const st = db.prepare(text);
        if (st.reader) return { rows: st.all(...args) as R[], rowCount: 0 };
        const r = st.run(...args);
        return { rows: [], rowCount: r.changes };
      },
      async close() {
        db.close();
      },
    };
  }

  async backup(file: string): Promise<{ bytes: number }> {
    const db = this.open();
    try {
      await db.backup(file);
    } finally {
      db.close();
    }
    return { bytes: statSync(file).size };
  }

  async restore(file: string): Promise<void> {
    const db = this.open();
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
    copyFileSync(file, this.path);
  }

  async close(): Promise<void> {}
}

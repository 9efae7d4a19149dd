import { statSync } from 'node:fs';
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
        // `$1` placeholders (the migrations' backfill form) become anonymous `?`s with the
        // values in their order (better-sqlite3 binds an array only to anonymous ones; `?1`
        // fails with "Too many parameter values"), so `$1 … $1` may repeat a value.
        const order: number[] = [];
        const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
          order.push(Number(n) - 1);
          return '?';
        });
        const args = order.length > 0 ? order.map((i) => params[i]) : params;
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

  /**
   * Through SQLite's backup API in the other direction (backup file → database), not a file
   * copy: the database's WAL and shared-memory files stay consistent with its main file,
   * and a connection open meanwhile sees the old pages or the new ones, never a torn file.
   */
  async restore(file: string): Promise<void> {
    let src: Database.Database;
    try {
      src = new Database(file, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw new DatabaseError(`cannot open backup ${file}: ${(err as Error).message} — pick another backup`);
    }
    try {
      await src.backup(this.path);
    } finally {
      src.close();
    }
    const db = this.open();
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
  }

  async close(): Promise<void> {}
}

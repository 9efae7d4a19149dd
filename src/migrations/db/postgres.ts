import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type DatabaseAdapter, DatabaseError, type DbSession, type QueryResult, redactUrl } from './adapter.js';

/** PostgreSQL through node-postgres; backups with the server's pg_dump / pg_restore. */
export class PostgresAdapter implements DatabaseAdapter {
  readonly engine = 'postgres' as const;
  readonly description: string;

  constructor(private readonly url: string) {
    this.description = redactUrl(url);
  }

  async connect(): Promise<DbSession> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'sluice-migrations' });
    // A dropped connection must not crash the control plane; the next query reports it.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (err) {
      throw new DatabaseError(`cannot connect to ${this.description}: ${(err as Error).message} — check the URL and that the server runs`);
    }
    const pid = (client as unknown as { processID?: number }).processID;
    return {
      pid,
      async query<R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
        const r = await client.query(sql, params as unknown[] | undefined);
        return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
      },
      async close() {
        await client.end().catch(() => {});
      },
    };
  }

  async backup(file: string): Promise<{ bytes: number }> {
    await run('pg_dump', ['--format=custom', '--no-owner', `--file=${file}`, `--dbname=${this.url}`], this.description);
    return { bytes: statSync(file).size };
  }

  /**
   * Exactly the backup's database: objects created since (a new table, an index) must go
   * too, which `pg_restore --clean` alone leaves. So the dump becomes a SQL script that psql
   * runs in ONE transaction after dropping every user schema (public is recreated as
   * initdb makes it; the dump replays any change to it): either the whole database is the
   * backup's, or nothing changed.
   */
  async restore(file: string): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-restore-'));
    try {
      const script = join(dir, 'restore.sql');
      await run('pg_restore', ['--no-owner', `--file=${script}`, file], this.description);
      const before = join(dir, 'before.sql');
      writeFileSync(before, DROP_EVERYTHING);
      await run('psql', ['-X', '-q', '--single-transaction', '-v', 'ON_ERROR_STOP=1', `--dbname=${this.url}`, '-f', before, '-f', script], this.description);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {}
}

const DROP_EVERYTHING = `DO $sluice$
DECLARE s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
END
$sluice$;
CREATE SCHEMA public AUTHORIZATION pg_database_owner;
GRANT USAGE ON SCHEMA public TO PUBLIC;
COMMENT ON SCHEMA public IS 'standard public schema';
`;

/** pg_dump / pg_restore of the server's version: PATH first, else Debian's folder. */
function run(tool: string, args: string[], where: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PATH: `${process.env.PATH ?? ''}:${pgBinPath()}` } });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    child.on('error', (e) => reject(new DatabaseError(`${tool}: ${e.message} — install PostgreSQL's client tools (apt-get install postgresql-client)`)));
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else reject(new DatabaseError(`${tool} of ${where} exited ${code}: ${err.trim().split('\n').at(-1) ?? ''}`));
    });
  });
}

function pgBinPath(): string {
  try {
    return readdirSync('/usr/lib/postgresql')
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => `/usr/lib/postgresql/${v}/bin`)
      .join(':');
  } catch {
    return '';
  }
}

import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
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

  async restore(file: string): Promise<void> {
    await run('pg_restore', ['--clean', '--if-exists', '--no-owner', '--single-transaction', `--dbname=${this.url}`, file], this.description);
  }

  async close(): Promise<void> {}
}

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

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/**
 * A real PostgreSQL server of the test's own, from Debian's `postgresql` package: initdb in
 * a temporary folder, its own port on 127.0.0.1, trust authentication, fsync off (the tests
 * do not outlive the machine). PostgreSQL refuses to run as root, so under root (CI) the
 * server runs as the package's `postgres` user through setpriv (an exec, so signals reach
 * the server itself).
 */
export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  /** Folder of pg_dump, pg_restore, psql of the same version. */
  bindir: string;
  /** A URL to another database of this server (created on first call). */
  database(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** Where the server binaries are: pg_config's answer, else the newest /usr/lib/postgresql/N/bin. */
export function postgresBindir(): string | undefined {
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const fromConfig = r.status === 0 ? r.stdout.trim() : '';
  if (fromConfig && existsSync(join(fromConfig, 'initdb'))) return fromConfig;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

/**
 * Whether the PostgreSQL tests can run. Without the server they are skipped with a loud
 * message on a developer machine, and fail in CI (CI is set), where .ci/run installs it.
 */
export function postgresMissing(): string | false {
  if (postgresBindir()) return false;
  const message = 'PostgreSQL is not installed: the database migration tests need it (sudo apt-get install postgresql)';
  if (process.env.CI) throw new Error(`${message}; CI must run them`);
  console.error(`\n*** SKIPPED: ${message}\n`);
  return message;
}

const asRoot = process.getuid?.() === 0;

function asServerUser(bin: string, args: string[]): [string, string[]] {
  return asRoot ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', bin, ...args]] : [bin, args];
}

export async function startPostgres(opts: { settings?: Record<string, string> } = {}): Promise<TestPostgres> {
  const bindir = postgresBindir();
  if (!bindir) throw new Error('PostgreSQL is not installed (sudo apt-get install postgresql)');
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pg-'));
  const owner = () => {
    if (!asRoot) return;
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(dir, Number(id.stdout.trim()), Number(gid.stdout.trim()));
  };
  owner();
  const data = join(dir, 'data');
  const [initBin, initArgs] = asServerUser(join(bindir, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  const init = spawnSync(initBin, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '100',
    ...opts.settings,
  };
  const [bin, args] = asServerUser(join(bindir, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ]);
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-8000);
  });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const psql = (sql: string, db = 'postgres') =>
    spawnSync(join(bindir, 'psql'), ['-X', '-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', db, '-c', sql], { encoding: 'utf8' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited ${child.exitCode}: ${log}`);
    const ready = spawnSync(join(bindir, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']);
    if (ready.status === 0) break;
    if (Date.now() > deadline) throw new Error(`postgres did not get ready in 30 s: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const created = new Set<string>();
  return {
    url,
    port,
    bindir,
    async database(name) {
      if (!created.has(name)) {
        const r = psql(`CREATE DATABASE "${name}"`);
        if (r.status !== 0) throw new Error(`CREATE DATABASE ${name}: ${r.stderr}`);
        created.add(name);
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import type { DatabaseAdapter, DbSession } from './db/adapter.js';
import { sleep } from '../util/sleep.js';
import { isProcessAlive } from '../util/process-control.js';

/**
 * Locks around migrations.
 *
 * - The migration lock: only one control plane migrates a database at a time. PostgreSQL:
 *   a session-level advisory lock (`pg_try_advisory_lock`, polled so the waiter can say who
 *   holds it and stop on its signal) on a dedicated session held for the whole phase; the
 *   server drops it when that connection dies (a killed control plane frees it). SQLite: a
 *   lock file beside the database (`<db>.sluice-lock`, created with O_EXCL, holding pid,
 *   host and time); a file whose process is gone (same host) is taken over.
 * - Who blocks a statement: `pg_blocking_pids(pid)` joined to pg_stat_activity, polled
 *   from the lock session while a migration statement runs (after a lock timeout the
 *   statement no longer waits, so it must be seen while it does).
 */

export interface LockHolder {
  pid: number;
  applicationName: string;
  /** When the holder's session started (ms). */
  since: number;
  host?: string;
}

export interface LockOptions {
  signal?: AbortSignal;
  /** Poll interval while waiting (ms). */
  pollMs?: number;
}

/** A stable signed 64-bit key (as text, for `$1::bigint`) for `sluice:<database>/<name>`. */
export function advisoryKey(database: string, name: string): string {
  const h = createHash('sha256').update(`sluice:${database}/${name}`, 'utf8').digest();
  return h.readBigInt64BE(0).toString();
}

function isAdapter(x: DatabaseAdapter | DbSession): x is DatabaseAdapter {
  return typeof (x as DatabaseAdapter).connect === 'function';
}

export class LockWaitAborted extends Error {
  constructor(what: string) {
    super(`stopped while waiting for ${what}`);
    this.name = 'LockWaitAborted';
  }
}

/**
 * Runs `fn` holding the migration lock `name` of the database. `target`: an adapter (a
 * dedicated session is opened and closed) or a PostgreSQL session to hold it on. `fn` gets
 * the lock's session (PostgreSQL; use it to watch blockers, never for a transaction) —
 * undefined for SQLite. `onWait` hears who holds the lock, when the wait starts and every
 * 5 s after.
 */
export async function withMigrationLock<T>(
  target: DatabaseAdapter | DbSession,
  name: string,
  fn: (lockSession: DbSession | undefined) => Promise<T>,
  onWait?: (holder: LockHolder | undefined, waitedMs: number) => void,
  opts: LockOptions = {},
): Promise<T> {
  if (isAdapter(target) && target.engine === 'sqlite') return withLockFile(target, name, fn, onWait, opts);
  const own = isAdapter(target);
  const session = own ? await target.connect() : target;
  try {
    const db = await session.query<{ d: string }>('SELECT current_database() AS d');
    const key = advisoryKey(db.rows[0]?.d ?? '', name);
    const started = Date.now();
    let lastReport = -Infinity;
    for (;;) {
      const r = await session.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key]);
      if (r.rows[0]?.ok) break;
      if (opts.signal?.aborted) throw new LockWaitAborted('the migration lock');
      if (Date.now() - lastReport >= 5000) {
        lastReport = Date.now();
        onWait?.(await advisoryHolder(session, key), Date.now() - started);
      }
      await sleep(opts.pollMs ?? 250, opts.signal);
    }
    try {
      return await fn(session);
    } finally {
      await session.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => {});
    }
  } finally {
    if (own) await session.close();
  }
}

async function advisoryHolder(session: DbSession, key: string): Promise<LockHolder | undefined> {
  const k = BigInt.asUintN(64, BigInt(key));
  const classid = Number(k >> 32n);
  const objid = Number(k & 0xffffffffn);
  const r = await session.query<{ pid: number; app: string; since: Date }>(
    `SELECT l.pid, a.application_name AS app, a.backend_start AS since
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [classid, objid],
  );
  const row = r.rows[0];
  return row ? { pid: row.pid, applicationName: row.app, since: new Date(row.since).getTime() } : undefined;
}

/** "pid 123 ('sluice expand r3', since 19:40:02)" */
export function describeHolder(h: LockHolder | undefined): string {
  if (!h) return 'another session (it just let go)';
  const at = new Date(h.since).toISOString().slice(11, 19);
  return `pid ${h.pid}${h.host ? ` on ${h.host}` : ''} ('${h.applicationName}', since ${at} UTC)`;
}

async function withLockFile<T>(
  db: DatabaseAdapter,
  name: string,
  fn: (lockSession: DbSession | undefined) => Promise<T>,
  onWait: ((holder: LockHolder | undefined, waitedMs: number) => void) | undefined,
  opts: LockOptions,
): Promise<T> {
  const path = `${db.description.replace(/^sqlite:/, '')}.sluice-lock`;
  const me = { pid: process.pid, host: hostname(), name, since: Date.now() };
  const started = Date.now();
  let lastReport = -Infinity;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readLockFile(path);
    if (holder && holder.host === me.host && !isProcessAlive(holder.pid)) {
      // Its process is gone: the lock is stale.
      try {
        unlinkSync(path);
      } catch {}
      continue;
    }
    if (opts.signal?.aborted) throw new LockWaitAborted('the migration lock');
    if (Date.now() - lastReport >= 5000) {
      lastReport = Date.now();
      onWait?.(holder, Date.now() - started);
    }
    await sleep(opts.pollMs ?? 250, opts.signal);
  }
  try {
    return await fn(undefined);
  } finally {
    try {
      unlinkSync(path);
    } catch {}
  }
}

function readLockFile(path: string): LockHolder | undefined {
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as { pid: number; host: string; since: number };
    return { pid: j.pid, host: j.host, since: j.since, applicationName: 'sluice' };
  } catch {
    return undefined;
  }
}

/** A statement that gave up waiting for a lock (and may be retried): PostgreSQL 55P03 / 40P01, SQLite busy. */
export function isLockFailure(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === '55P03' || code === '40P01' || code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

export interface Blocker {
  pid: number;
  applicationName: string;
  state: string;
  /** Seconds since the blocker's transaction started. */
  xactAgeSeconds: number | null;
  query: string;
}

/** Who holds the locks `pid` waits for, now. */
export async function blockersOf(observer: DbSession, pid: number): Promise<Blocker[]> {
  const r = await observer.query<{ pid: number; app: string; state: string | null; age: number | null; query: string | null }>(
    `SELECT a.pid, a.application_name AS app, a.state,
            extract(epoch FROM now() - a.xact_start)::float8 AS age, left(a.query, 80) AS query
       FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids($1)) ORDER BY a.xact_start NULLS LAST`,
    [pid],
  );
  return r.rows.map((b) => ({
    pid: b.pid,
    applicationName: b.app ?? '',
    state: b.state ?? 'unknown',
    xactAgeSeconds: b.age === null ? null : Number(b.age),
    query: (b.query ?? '').replace(/\s+/g, ' ').trim(),
  }));
}

/** "pid 123 (app 'shop', idle in transaction for 45s: UPDATE people SET …)" */
export function describeBlocker(b: Blocker): string {
  const age = b.xactAgeSeconds === null ? '' : ` for ${Math.round(b.xactAgeSeconds)}s`;
  const q = b.query ? `: ${b.query.length >= 80 ? `${b.query.slice(0, 77)}…` : b.query}` : '';
  return `pid ${b.pid} (app '${b.applicationName}', ${b.state}${age}${q})`;
}

/**
 * Polls who blocks `pid` while a statement runs; `stop()` ends the polling and returns the
 * blockers seen last (the wait is over by the time a lock timeout is reported).
 */
export function watchBlockers(observer: DbSession | undefined, pid: number | undefined, intervalMs: number): { stop(): Promise<Blocker[]> } {
  if (!observer || pid === undefined) return { stop: async () => [] };
  let seen: Blocker[] = [];
  let running = true;
  let wake: () => void = () => {};
  const loop = (async () => {
    while (running) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, intervalMs);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
      if (!running) break;
      try {
        const b = await blockersOf(observer, pid);
        if (b.length > 0) seen = b;
      } catch {
        break;
      }
    }
  })();
  return {
    async stop() {
      running = false;
      wake();
      await loop;
      return seen;
    },
  };
}

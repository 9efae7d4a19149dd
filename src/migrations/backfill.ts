import type { BackfillProgress, BackfillSettings } from '../core/database.js';
import type { DatabaseAdapter, DbSession } from './db/adapter.js';
import type { LoadedMigration, LoadedStatement } from './load.js';
import { sleep } from '../util/sleep.js';

/**
 * The migrate phase: every statement of a migration's migrate section, in order, each
 * remembered in `sluice_backfill` so that a restart after a crash skips what is done.
 *
 * A batched statement (`-- sluice:batch key=id size=N`) walks the key range
 * [min(key), max(key)] found once when it starts (rows inserted later with larger keys are
 * the new version's, which writes both shapes). Each batch is ONE transaction that runs the
 * statement with `$1, $2` = `[lo, hi)` AND moves the cursor row forward: a kill -9 loses
 * either both or neither, so no batch is applied twice and none is skipped. The cursor row
 * is locked (FOR UPDATE) and checked inside the transaction, so a second runner that got
 * past the advisory lock still cannot redo a batch.
 *
 * A non-batched statement runs once in a transaction that also writes its done marker (a
 * row with no table). A `no-transaction` statement cannot share a transaction with its
 * marker: it runs, then the marker is written (a crash between the two reruns it).
 */

export const BACKFILL_TABLE = 'sluice_backfill';

export interface BackfillOptions {
  settings: BackfillSettings;
  /** `SET lock_timeout` on the session (PostgreSQL; SQLite: busy_timeout). */
  lockTimeoutMs: number;
  /** `SET statement_timeout` (PostgreSQL; 0 = none). */
  statementTimeoutMs: number;
  /** A batch that timed out on a lock is retried this many times (default 5) … */
  lockRetries?: number;
  /** … after retryBackoffMs, doubling each time (default 200). */
  retryBackoffMs?: number;
  /** Stops between batches; an in-flight batch commits or rolls back whole. */
  signal?: AbortSignal;
  /** After each batch (and while throttled, with `message` saying why it waits). */
  progress?: (p: BackfillProgress[], message?: string) => void;
  revision: number;
}

export interface BackfillResult {
  ok: boolean;
  message: string;
  progress: BackfillProgress[];
}

type Engine = DatabaseAdapter['engine'];

function ddl(engine: Engine): string {
  const big = engine === 'postgres' ? 'bigint' : 'INTEGER';
  return `CREATE TABLE IF NOT EXISTS ${BACKFILL_TABLE} (
  migration text NOT NULL,
  statement integer NOT NULL,
  table_name text,
  min_key ${big},
  max_key ${big},
  next_key ${big},
  batches_done integer NOT NULL DEFAULT 0,
  rows_done ${big} NOT NULL DEFAULT 0,
  done integer NOT NULL DEFAULT 0,
  revision integer NOT NULL,
  updated_at ${big} NOT NULL,
  PRIMARY KEY (migration, statement)
)`;
}

interface Row {
  migration: string;
  statement: number | string;
  table_name: string | null;
  min_key: number | string | null;
  max_key: number | string | null;
  next_key: number | string | null;
  batches_done: number | string;
  rows_done: number | string;
  done: number | string;
}

function toProgress(r: Row): BackfillProgress {
  return {
    migration: r.migration,
    statement: Number(r.statement),
    table: r.table_name ?? '',
    nextKey: Number(r.next_key ?? 0),
    minKey: Number(r.min_key ?? 0),
    maxKey: Number(r.max_key ?? 0),
    batchesDone: Number(r.batches_done),
    rowsDone: Number(r.rows_done),
    done: Number(r.done) === 1,
  };
}

const COLUMNS = 'migration, statement, table_name, min_key, max_key, next_key, batches_done, rows_done, done';

/** The batched backfills recorded in the database (all, or one migration's), for `sluice db status`. */
export async function readBackfill(session: DbSession, migrationId?: string): Promise<BackfillProgress[]> {
  try {
    const where = migrationId === undefined ? '' : 'AND migration = $1';
    const r = await session.query<Row>(
      `SELECT ${COLUMNS} FROM ${BACKFILL_TABLE} WHERE table_name IS NOT NULL ${where} ORDER BY migration, statement`,
      migrationId === undefined ? [] : [migrationId],
    );
    return r.rows.map(toProgress);
  } catch (err) {
    if (/does not exist|no such table/i.test((err as Error).message)) return [];
    throw err;
  }
}

/** PostgreSQL lock_not_available / deadlock, SQLite busy: worth another try after a pause. */
function isLockTimeout(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === '55P03' || e.code === '40P01' || e.code === 'SQLITE_BUSY' || /database is locked/i.test(e.message ?? '');
}

function quoteIdent(name: string): string {
  return name
    .split('.')
    .map((p) => `"${p.replace(/"/g, '""')}"`)
    .join('.');
}

/** Runs `m`'s migrate section; a failure or a stop is a result, not a throw. */
export async function runBackfill(db: DatabaseAdapter, m: LoadedMigration, opts: BackfillOptions): Promise<BackfillResult> {
  const engine = db.engine;
  const statements = m.statements.filter((s) => s.phase === 'migrate');
  let session: DbSession;
  try {
    session = await db.connect();
  } catch (err) {
    return { ok: false, message: `backfill ${m.id}: ${(err as Error).message}`, progress: [] };
  }
  const state = new Map<number, BackfillProgress>();
  const snapshot = () => [...state.values()].sort((a, b) => a.statement - b.statement).map((p) => ({ ...p }));
  const report = (message?: string) => opts.progress?.(snapshot(), message);
  const retries = opts.lockRetries ?? 5;
  const backoff = opts.retryBackoffMs ?? 200;
  const begin = engine === 'sqlite' ? 'BEGIN IMMEDIATE' : 'BEGIN';
  const forUpdate = engine === 'postgres' ? ' FOR UPDATE' : '';

  /** One transaction, retried whole when it times out on a lock. */
  const transaction = async <T>(what: string, body: () => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await session.query(begin);
        const out = await body();
        await session.query('COMMIT');
        return out;
      } catch (err) {
        await session.query('ROLLBACK').catch(() => {});
        if (!isLockTimeout(err) || attempt >= retries || opts.signal?.aborted) {
          const e = err as Error & { code?: string };
          const hint =
            e.code === '57014'
              ? ' — the statement hit statement_timeout: make the batch smaller (size=) or raise statementTimeoutMs'
              : isLockTimeout(err)
                ? ` — still waiting on a lock after ${attempt + 1} tries: find the blocking transaction (pg_stat_activity) and end it, then run again`
                : '';
          throw new Error(`${what}: ${e.message}${hint}`);
        }
        await sleep(backoff * 2 ** attempt, opts.signal);
      }
    }
  };

  const readRow = async (i: number, lock = false): Promise<Row | undefined> =>
    (await session.query<Row>(`SELECT ${COLUMNS} FROM ${BACKFILL_TABLE} WHERE migration = $1 AND statement = $2${lock ? forUpdate : ''}`, [m.id, i])).rows[0];

  /** Waits while the database is busy or a replica lags; false when stopped meanwhile. */
  const throttle = async (): Promise<boolean> => {
    if (engine !== 'postgres') return true;
    const { maxActiveSessions, maxReplicationLagSeconds } = opts.settings;
    if (maxActiveSessions === undefined && maxReplicationLagSeconds === undefined) return true;
    for (;;) {
      if (opts.signal?.aborted) return false;
      const why: string[] = [];
      if (maxActiveSessions !== undefined) {
        const r = await session.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        );
        const n = Number(r.rows[0]?.n ?? 0);
        if (n > maxActiveSessions) why.push(`${n} active sessions > maxActiveSessions ${maxActiveSessions}`);
      }
      if (maxReplicationLagSeconds !== undefined) {
        const r = await session.query<{ lag: string | null; n: string }>(
          'SELECT count(*) AS n, max(extract(epoch FROM greatest(write_lag, flush_lag, replay_lag))) AS lag FROM pg_stat_replication',
        );
        const lag = Number(r.rows[0]?.lag ?? 0);
        if (Number(r.rows[0]?.n ?? 0) > 0 && lag > maxReplicationLagSeconds)
          why.push(`replication lag ${lag.toFixed(1)} s > maxReplicationLagSeconds ${maxReplicationLagSeconds}`);
      }
      if (why.length === 0) return true;
      report(`throttled: ${why.join(', ')}`);
      await sleep(Math.max(100, Math.min(opts.settings.pauseMs, 1000)), opts.signal);
    }
  };

  const runOnce = async (i: number, st: LoadedStatement) => {
    const mark = async (rows: number) => {
      await session.query(
        `INSERT INTO ${BACKFILL_TABLE} (migration, statement, table_name, batches_done, rows_done, done, revision, updated_at)
         VALUES ($1, $2, NULL, 1, $3, 1, $4, $5)
         ON CONFLICT (migration, statement) DO UPDATE SET done = 1, rows_done = excluded.rows_done, updated_at = excluded.updated_at`,
        [m.id, i, rows, opts.revision, Date.now()],
      );
    };
    if (st.noTransaction) {
      const r = await session.query(st.sql);
      await mark(r.rowCount);
      return;
    }
    await transaction(`${m.id} migrate statement ${i + 1} (line ${st.line})`, async () => {
      const row = await readRow(i, true);
      if (row && Number(row.done) === 1) return;
      const r = await session.query(st.sql);
      await mark(r.rowCount);
    });
  };

  const runBatched = async (i: number, st: LoadedStatement, batch: NonNullable<LoadedStatement['batch']>): Promise<boolean> => {
    const size = batch.size ?? opts.settings.batchSize;
    const where = `${m.id} migrate statement ${i + 1} (line ${st.line}, ${batch.table})`;
    let row = await readRow(i);
    if (!row) {
      // The key range, found once: stored with the cursor so a restart walks the same range.
      row = await transaction(`${where}: finding the key range`, async () => {
        const existing = await readRow(i, true);
        if (existing) return existing;
        const k = quoteIdent(batch.key);
        const r = await session.query<{ lo: number | string | null; hi: number | string | null }>(
          `SELECT min(${k}) AS lo, max(${k}) AS hi FROM ${quoteIdent(batch.table)}`,
        );
        const lo = r.rows[0]?.lo;
        const hi = r.rows[0]?.hi;
        const empty = lo === null || lo === undefined || hi === null || hi === undefined;
        const min = empty ? 0 : Number(lo);
        const max = empty ? -1 : Number(hi);
        if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max))
          throw new Error(`${where}: key ${batch.key} is not an integer column — batch on an integer key (key=COLUMN)`);
        await session.query(
          `INSERT INTO ${BACKFILL_TABLE} (migration, statement, table_name, min_key, max_key, next_key, batches_done, rows_done, done, revision, updated_at)
           VALUES ($1, $2, $3, $4, $5, $4, 0, 0, $6, $7, $8)`,
          [m.id, i, batch.table, min, max, empty ? 1 : 0, opts.revision, Date.now()],
        );
        return (await readRow(i)) as Row;
      });
    }
    state.set(i, toProgress(row));
    report();
    let first = true;
    for (;;) {
      const p = state.get(i) as BackfillProgress;
      if (p.done) return true;
      if (opts.signal?.aborted) return false;
      if (!first) await sleep(opts.settings.pauseMs, opts.signal);
      first = false;
      if (opts.signal?.aborted) return false;
      if (!(await throttle())) return false;
      const next = await transaction(`${where}: batch from key ${p.nextKey}`, async () => {
        const cur = toProgress((await readRow(i, true)) as Row);
        if (cur.done) return cur;
        const lo = cur.nextKey;
        const hi = Math.min(lo + size, cur.maxKey + 1);
        const r = await session.query(st.sql, [lo, hi]);
        const done = hi > cur.maxKey ? 1 : 0;
        await session.query(
          `UPDATE ${BACKFILL_TABLE} SET next_key = $3, batches_done = batches_done + 1, rows_done = rows_done + $4, done = $5, updated_at = $6
           WHERE migration = $1 AND statement = $2`,
          [m.id, i, hi, r.rowCount, done, Date.now()],
        );
        return { ...cur, nextKey: hi, batchesDone: cur.batchesDone + 1, rowsDone: cur.rowsDone + r.rowCount, done: done === 1 };
      });
      state.set(i, next);
      report();
    }
  };

  try {
    await session.query(ddl(engine));
    if (engine === 'postgres') {
      await session.query(`SET lock_timeout = ${Math.max(0, Math.floor(opts.lockTimeoutMs))}`);
      await session.query(`SET statement_timeout = ${Math.max(0, Math.floor(opts.statementTimeoutMs))}`);
    } else {
      await session.query(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(opts.lockTimeoutMs))}`);
    }
    for (const [i, st] of statements.entries()) {
      if (opts.signal?.aborted) break;
      if (st.batch) {
        if (!(await runBatched(i, st, st.batch))) break;
      } else {
        const row = await readRow(i);
        if (row && Number(row.done) === 1) continue;
        await runOnce(i, st);
      }
    }
    const progress = snapshot();
    if (opts.signal?.aborted) {
      const at = progress.find((p) => !p.done);
      return {
        ok: false,
        message: `backfill ${m.id} stopped${at ? ` at ${at.table} key ${at.nextKey} (${at.batchesDone} batches done)` : ''} — run migrate again to resume`,
        progress,
      };
    }
    const rows = progress.reduce((a, p) => a + p.rowsDone, 0);
    const batches = progress.reduce((a, p) => a + p.batchesDone, 0);
    return {
      ok: true,
      message: `backfill ${m.id}: ${statements.length} migrate statement${statements.length === 1 ? '' : 's'} done (${batches} batches, ${rows} rows)`,
      progress,
    };
  } catch (err) {
    return { ok: false, message: `backfill ${(err as Error).message}`, progress: snapshot() };
  } finally {
    await session.close();
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** `people ███████░░░ 70% 700,000/1,000,000 keys, 700,000 rows, 70/100 batches` (for `sluice db status --watch`). */
export function renderProgressBar(p: BackfillProgress, width = 20): string {
  const range = Math.max(0, p.maxKey - p.minKey + 1);
  const walked = p.done ? range : Math.max(0, Math.min(range, p.nextKey - p.minKey));
  const fraction = range === 0 ? 1 : walked / range;
  const cells = Math.max(1, Math.floor(width));
  const full = p.done ? cells : Math.min(cells, Math.floor(fraction * cells));
  const bar = '█'.repeat(full) + '░'.repeat(cells - full);
  const pct = p.done ? 100 : Math.min(99, Math.floor(fraction * 100));
  // Batches are of equal width but the last: the total follows from the width walked so far.
  const total = p.done ? p.batchesDone : p.batchesDone > 0 && walked > 0 ? Math.ceil(range / (walked / p.batchesDone)) : undefined;
  return `${p.table} ${bar} ${pct}% ${fmt(walked)}/${fmt(range)} keys, ${fmt(p.rowsDone)} rows, ${fmt(p.batchesDone)}/${total === undefined ? '?' : fmt(total)} batches`;
}

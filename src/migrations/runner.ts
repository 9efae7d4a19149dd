import type { DatabaseEngine, MigrationPhase, ToolCommand } from '../core/database.js';
import type { DatabaseAdapter, DbSession } from './db/adapter.js';
import { checksumProblem, ensureHistory, markPending, markPhase, readApplied } from './history.js';
import type { LoadedMigration, LoadedStatement } from './load.js';
import { type Blocker, describeBlocker, describeHolder, isLockFailure, type LockHolder, LockWaitAborted, watchBlockers, withMigrationLock } from './locks.js';
import { firstLine, formatPlan, type LockSettings, type MigrationPlan, type PhasePlan, PlanError, planPhase } from './plan.js';
import { type PrecheckProblem, precheck } from './prechecks.js';
import { runTool, toolName } from './tool.js';
import { sleep } from '../util/sleep.js';

/**
 * The migration runner: applies one phase of a folder's migrations to a database, safely.
 *
 * - Holds the migration lock (locks.ts) for the whole phase: one control plane at a time.
 * - Every migration session sets `lock_timeout`, `statement_timeout` and an
 *   `application_name` naming the phase and revision (SQLite: `busy_timeout`).
 * - Per migration not yet done for the phase, in file order: its statements of the phase
 *   in ONE transaction together with the phase's record in sluice_migrations (history.ts),
 *   so a failure leaves nothing of it. A `no-transaction` statement (CREATE INDEX
 *   CONCURRENTLY …) runs alone outside any transaction and splits the migration into
 *   steps; the steps committed are recorded, a re-run resumes after them. An invalid index
 *   left by a failed concurrent build of the statement about to run is dropped first.
 * - A statement that gives up waiting for a lock (lock_timeout, 55P03; deadlock) is
 *   retried with exponential backoff and jitter, up to `lockRetries` times; the whole
 *   transaction is rolled back between attempts so no lock is held while waiting. Who
 *   blocked it (pg_blocking_pids, watched while it waits) is in every report.
 * - Files whose checksum differs from the recorded one: an error before anything runs.
 * - Pre-checks before expand and contract (prechecks.ts): reported, not fatal.
 * - A framework tool command for the phase runs after the SQL files.
 * - `dryRun`: the plan, read-only (not even sluice_migrations is created).
 *
 * A failure is a result (`ok: false`, one line: what, where, what to do), never a throw.
 */
export interface ApplyOptions extends LockSettings {
  revision: number;
  signal?: AbortSignal;
  progress?: (msg: string) => void;
  dryRun?: boolean;
  tool?: ToolCommand;
  /** The tool's connection variables, e.g. `{ DATABASE_URL }` (never printed). */
  connectionEnv?: Record<string, string>;
  /** Pre-check: transactions open longer than this are reported (default 60 s). */
  longTransactionSeconds?: number;
  /** Name of the migration lock (default `migrations`): one per database. */
  lockName?: string;
  /** How often a waiter polls the migration lock (ms, default 250). */
  lockPollMs?: number;
  /**
   * The caller already holds the migration lock on this session (e.g. the backfill runs
   * the unbatched migrate statements under its own lock): do not take it again (a second
   * session would wait for the caller forever); it still watches blockers from it.
   */
  lockSession?: DbSession;
  /** The caller holds the migration lock (SQLite's lock file, or PostgreSQL without a session to share). */
  lockHeld?: boolean;
}

export interface ApplyResult {
  ok: boolean;
  message: string;
  /** Migrations whose phase this call applied. */
  applied: string[];
  /** Dry run: the ordered plan. */
  plan?: string[];
  problems?: PrecheckProblem[];
}

export type RunnablePhase = MigrationPhase;

export async function applyPhase(db: DatabaseAdapter, migrations: LoadedMigration[], phase: RunnablePhase, opts: ApplyOptions): Promise<ApplyResult> {
  const progress = opts.progress ?? (() => {});
  const applied: string[] = [];
  try {
    if (opts.dryRun) return await dryRun(db, migrations, phase, opts, progress);
    const appName = `sluice ${phase} r${opts.revision}`;
    const held = opts.lockSession;
    const underLock = <T>(fn: (lockSession: DbSession | undefined) => Promise<T>, onWait: (h: LockHolder | undefined, ms: number) => void) =>
      held || opts.lockHeld ? fn(held) : withMigrationLock(db, opts.lockName ?? 'migrations', fn, onWait, { signal: opts.signal, pollMs: opts.lockPollMs });
    return await underLock(
      async (lockSession) => {
        if (lockSession && !held) await setAppName(lockSession, `${appName} (lock)`);
        const session = await db.connect();
        try {
          await configure(session, db.engine, appName, opts);
          if (phase === 'expand') await ensureHistory(session);
          const rows = await readApplied(session, db.engine);
          const bad = checksumProblem(migrations, rows);
          if (bad) return { ok: false, message: bad, applied };
          const plan = planPhase(migrations, rows, phase);
          const problems = phase === 'migrate' ? [] : await precheckAndReport(session, plan, opts, progress);
          for (const mp of plan.pending) {
            if (opts.signal?.aborted) return { ok: false, message: `${phase} stopped before ${mp.migration.id}${doneNote(applied)}`, applied, problems };
            await runMigration(session, lockSession, db.engine, mp, opts, progress);
            applied.push(mp.migration.id);
            progress(`${mp.migration.id} ${phase} applied (r${opts.revision})`);
          }
          if (opts.tool) {
            progress(`${phase}: running ${toolName(opts.tool)}`);
            const r = await runTool(opts.tool, { connectionEnv: opts.connectionEnv, signal: opts.signal, progress });
            if (!r.ok) return { ok: false, message: `${phase}: ${r.message}${doneNote(applied)}`, applied, problems };
          }
          return { ok: true, message: summary(phase, plan, applied, opts), applied, problems };
        } finally {
          await session.close();
        }
      },
      (holder, waitedMs) =>
        progress(`waiting for the migration lock held by ${describeHolder(holder)}${waitedMs > 0 ? ` (${Math.round(waitedMs / 1000)}s so far)` : ''}`),
    );
  } catch (err) {
    return { ok: false, message: failureMessage(err, phase, db) + doneNote(applied), applied };
  }
}

function doneNote(applied: string[]): string {
  return applied.length > 0 ? ` (applied before that: ${applied.join(', ')})` : '';
}

function summary(phase: MigrationPhase, plan: PhasePlan, applied: string[], opts: ApplyOptions): string {
  const parts = [applied.length > 0 ? `applied ${applied.join(', ')} (r${opts.revision})` : 'nothing pending'];
  if (plan.skipped.length > 0) parts.push(`already applied: ${plan.skipped.join(', ')}`);
  if (plan.forBackfill.length > 0) parts.push(`left for the backfill: ${plan.forBackfill.join(', ')}`);
  if (opts.tool) parts.push(`tool \`${toolName(opts.tool)}\` done`);
  return `${phase}: ${parts.join('; ')}`;
}

function failureMessage(err: unknown, phase: MigrationPhase, db: DatabaseAdapter): string {
  if (err instanceof StatementFailure || err instanceof PlanError) return err.message;
  if (err instanceof LockWaitAborted) return `${phase}: ${err.message}; nothing was applied`;
  const e = err as Error & { code?: string };
  // Connection errors (DatabaseError) already name the database without its password.
  if (e?.name === 'DatabaseError') return e.message;
  if (e?.code === 'ERR_INVALID_URL')
    return `${phase}: the database URL is not a valid URL — write it as postgres://user:password@host:port/database (it is never printed)`;
  return `${phase} of ${db.description}: ${e?.message ?? String(err)} — check the database and run the phase again`;
}

async function setAppName(session: DbSession, name: string): Promise<void> {
  await session.query(`SELECT set_config('application_name', $1, false)`, [name.slice(0, 63)]);
}

/** lock_timeout, statement_timeout and application_name for the session (SQLite: busy_timeout). */
export async function configure(session: DbSession, engine: DatabaseEngine, appName: string, s: LockSettings): Promise<void> {
  if (engine === 'sqlite') {
    await session.query(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(s.lockTimeoutMs))}`);
    return;
  }
  await session.query(`SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false), set_config('application_name', $3, false)`, [
    `${Math.max(0, Math.floor(s.lockTimeoutMs))}ms`,
    `${Math.max(0, Math.floor(s.statementTimeoutMs))}ms`,
    appName.slice(0, 63),
  ]);
}

async function dryRun(
  db: DatabaseAdapter,
  migrations: LoadedMigration[],
  phase: MigrationPhase,
  opts: ApplyOptions,
  progress: (m: string) => void,
): Promise<ApplyResult> {
  const session = await db.connect();
  try {
    const rows = await readApplied(session, db.engine);
    const bad = checksumProblem(migrations, rows);
    if (bad) return { ok: false, message: bad, applied: [] };
    const plan = planPhase(migrations, rows, phase);
    const lines = formatPlan(plan, opts, { revision: opts.revision, tool: opts.tool && toolName(opts.tool), database: db.description });
    const problems = phase === 'migrate' ? [] : await precheck(session, { longTransactionSeconds: opts.longTransactionSeconds });
    for (const p of problems) lines.push(`pre-check: ${p.message}`);
    for (const l of lines) progress(l);
    const n = plan.pending.length;
    return {
      ok: true,
      message: `dry run of ${phase}: ${n} migration(s) would run${n ? ` (${plan.pending.map((p) => p.migration.id).join(', ')})` : ''}; nothing was changed`,
      applied: [],
      plan: lines,
      problems,
    };
  } finally {
    await session.close();
  }
}

async function precheckAndReport(session: DbSession, plan: PhasePlan, opts: ApplyOptions, progress: (m: string) => void): Promise<PrecheckProblem[]> {
  const problems = await precheck(session, { longTransactionSeconds: opts.longTransactionSeconds });
  const own = new Map<string, string>();
  for (const mp of plan.pending)
    for (const seg of mp.segments)
      for (const { statement } of seg.statements) {
        const idx = concurrentIndex(statement);
        if (idx) own.set(idx.qualified, mp.migration.id);
      }
  for (const p of problems) {
    const mine = p.kind === 'invalid-index' && p.name ? (own.get(p.name) ?? own.get(`public.${p.name}`)) : undefined;
    progress(`pre-check: ${p.message}${mine ? ` (${mine} builds it: dropped and rebuilt when it runs)` : ''}`);
  }
  return problems;
}

/** CREATE INDEX CONCURRENTLY with a name: the name as to_regclass reads it. */
function concurrentIndex(st: LoadedStatement): { qualified: string; regclass: string } | undefined {
  const body = st.node?.IndexStmt as { idxname?: string; concurrent?: boolean; relation?: { schemaname?: string } } | undefined;
  if (!body?.concurrent || !body.idxname) return undefined;
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  const schema = body.relation?.schemaname;
  return {
    qualified: schema ? `${schema}.${body.idxname}` : body.idxname,
    regclass: schema ? `${q(schema)}.${q(body.idxname)}` : q(body.idxname),
  };
}

/** A statement that failed: the one-line report, and what blocked it if it waited for a lock. */
export class StatementFailure extends Error {
  constructor(
    message: string,
    override readonly cause: unknown,
    readonly blockers: Blocker[],
    readonly waitedMs: number,
    readonly statement: LoadedStatement,
  ) {
    super(message);
    this.name = 'StatementFailure';
  }
}

function where(m: LoadedMigration, st: LoadedStatement, err: unknown): string {
  let { line, col } = st;
  const pos = Number((err as { position?: string })?.position);
  if (Number.isInteger(pos) && pos > 0) {
    const before = st.sql.slice(0, pos - 1);
    const nl = before.split('\n').length - 1;
    line += nl;
    col = nl === 0 ? col + before.length : before.length - before.lastIndexOf('\n');
  }
  return `${m.file}:${line}:${col}`;
}

function blockedBy(blockers: Blocker[]): string {
  return blockers.length > 0 ? `a lock held by ${blockers.map(describeBlocker).join(' and ')}` : 'a lock (its holder had let go when checked)';
}

function isStatementTimeout(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '57014' && /statement timeout/.test(e.message ?? '');
}

/** Exponential backoff with ±20% jitter: base, 2×base, 4×base… */
export function backoffMs(base: number, attempt: number): number {
  return Math.round(base * 2 ** (attempt - 1) * (0.8 + Math.random() * 0.4));
}

async function runMigration(
  session: DbSession,
  observer: DbSession | undefined,
  engine: DatabaseEngine,
  mp: MigrationPlan,
  opts: ApplyOptions,
  progress: (m: string) => void,
): Promise<void> {
  const m = mp.migration;
  const { phase } = mp;
  const poll = Math.max(50, Math.min(500, Math.floor(opts.lockTimeoutMs / 4)));
  const isPg = engine === 'postgres';

  const runOne = async (st: LoadedStatement, committedBefore: boolean): Promise<void> => {
    const watch = watchBlockers(isPg ? observer : undefined, session.pid, poll);
    const cancel = () => {
      if (isPg && observer && session.pid) observer.query('SELECT pg_cancel_backend($1)', [session.pid]).catch(() => {});
    };
    opts.signal?.addEventListener('abort', cancel, { once: true });
    const t0 = Date.now();
    let error: unknown;
    try {
      await session.query(st.sql);
    } catch (e) {
      error = e;
    }
    const blockers = await watch.stop();
    opts.signal?.removeEventListener('abort', cancel);
    if (error === undefined) return;
    const waited = Date.now() - t0;
    const first = firstLine(st.sql, 60);
    const undone = committedBefore
      ? `${m.id}'s statements before line ${st.line} stay committed; a re-run resumes here`
      : st.noTransaction
        ? `nothing else of ${m.id} ran`
        : `nothing of ${m.id} was applied (its transaction rolled back)`;
    const msg = opts.signal?.aborted
      ? `${m.id} ${phase} stopped during ${where(m, st, undefined)}: ${first} (cancelled on the server); ${undone}`
      : isLockFailure(error)
        ? `${where(m, st, error)}: ${first} waited ${(waited / 1000).toFixed(1)}s for ${blockedBy(blockers)}`
        : isStatementTimeout(error)
          ? `${where(m, st, error)}: ${first} ran longer than statement_timeout (${opts.statementTimeoutMs}ms) — raise database.statementTimeoutMs or split the statement; ${undone}`
          : `${where(m, st, error)}: ${first} failed: ${(error as Error).message} — fix the migration and run ${phase} again; ${undone}`;
    throw new StatementFailure(msg, error, blockers, waited, st);
  };

  /** Runs `attempt` and retries it while it fails on a lock. */
  const withRetry = async (committedBefore: boolean, attempt: () => Promise<void>): Promise<void> => {
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof StatementFailure) || !isLockFailure(err.cause)) throw err;
        if (n > opts.lockRetries || opts.signal?.aborted) {
          const b = err.blockers[0];
          const fix = b
            ? `end that transaction (or SELECT pg_terminate_backend(${b.pid})) or run ${phase} again once it is done`
            : `find the long transaction on that table (pg_stat_activity) or run ${phase} again later`;
          const undone = committedBefore
            ? `${m.id}'s statements before line ${err.statement.line} stay committed; a re-run resumes there`
            : `nothing of ${m.id} was applied`;
          throw new StatementFailure(
            `${m.id} ${phase} gave up after ${n} attempt(s) (lock_timeout ${opts.lockTimeoutMs}ms): ${err.message} — ${fix}; ${undone}`,
            err.cause,
            err.blockers,
            err.waitedMs,
            err.statement,
          );
        }
        const delay = backoffMs(opts.retryBackoffMs, n);
        progress(`${err.message}; retry ${n}/${opts.lockRetries} in ${delay}ms`);
        await sleep(delay, opts.signal);
        if (opts.signal?.aborted) {
          const undone = committedBefore ? `${m.id}'s statements before line ${err.statement.line} stay committed` : `nothing of ${m.id} was applied`;
          throw new StatementFailure(
            `${m.id} ${phase} stopped while waiting to retry (${err.message}); ${undone}`,
            err.cause,
            err.blockers,
            err.waitedMs,
            err.statement,
          );
        }
      }
    }
  };

  const segs = mp.segments;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const last = i === segs.length - 1;
    const committedBefore = mp.resumeAt > 0 || i > 0;
    const nextDone = (seg.statements.at(-1)?.index ?? 0) + 1;
    if (seg.transaction) {
      await withRetry(committedBefore, async () => {
        await session.query(isPg ? 'BEGIN' : 'BEGIN IMMEDIATE');
        try {
          for (const { statement } of seg.statements) await runOne(statement, committedBefore);
          if (last) await markPhase(session, m.id, m.checksum, phase, opts.revision);
          else await markPending(session, m.id, m.checksum, phase, nextDone);
          await session.query('COMMIT');
        } catch (e) {
          await session.query('ROLLBACK').catch(() => {});
          throw e;
        }
      });
    } else {
      const { statement } = seg.statements[0];
      const idx = isPg ? concurrentIndex(statement) : undefined;
      await withRetry(committedBefore, async () => {
        if (idx) {
          const r = await session.query<{ valid: boolean | null }>('SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)) AS valid', [
            idx.regclass,
          ]);
          const valid = r.rows[0]?.valid;
          if (valid === false) {
            progress(`${m.id}: index ${idx.qualified} is invalid (an earlier build failed) — dropping it to build it again`);
            await runOne({ ...statement, sql: `DROP INDEX CONCURRENTLY IF EXISTS ${idx.regclass}` }, committedBefore);
          } else if (valid === true && i === 0) {
            // The run before built it and stopped before recording the step.
            progress(`${m.id}: index ${idx.qualified} already exists and is valid — taken as built by the interrupted run`);
            return;
          }
        }
        await runOne(statement, committedBefore);
      });
      if (last) await markPhase(session, m.id, m.checksum, phase, opts.revision);
      else await markPending(session, m.id, m.checksum, phase, nextDone);
    }
  }
  if (segs.length === 0) await markPhase(session, m.id, m.checksum, phase, opts.revision);
}

import type { DbSession } from './db/adapter.js';
import { engineOf } from './history.js';

/**
 * Checks before expand and contract (the playbook's integrity checks, done right):
 *
 * - transactions open longer than `longTransactionSeconds` in this database: DDL would
 *   queue behind them (the migration's lock_timeout keeps the app from queueing behind the
 *   DDL in turn, so this is a warning);
 * - constraints not validated (`pg_constraint.convalidated = false`): NOT VALID ones
 *   waiting for their VALIDATE, or left by an earlier failed run;
 * - invalid indexes (`pg_index.indisvalid = false`): a failed (or running) CREATE INDEX
 *   CONCURRENTLY; the runner drops and rebuilds one its own pending statement creates.
 *
 * SQLite: `PRAGMA foreign_key_check` (rows whose foreign key points nowhere).
 */
export interface PrecheckProblem {
  kind: 'long-transaction' | 'invalid-constraint' | 'invalid-index' | 'foreign-key-violation';
  message: string;
  pid?: number;
  /** Constraint or index name. */
  name?: string;
  table?: string;
}

export async function precheck(session: DbSession, opts: { longTransactionSeconds?: number } = {}): Promise<PrecheckProblem[]> {
  if (engineOf(session) === 'sqlite') return precheckSqlite(session);
  const out: PrecheckProblem[] = [];
  const secs = opts.longTransactionSeconds ?? 60;
  const tx = await session.query<{ pid: number; app: string; state: string; age: number; query: string }>(
    `SELECT pid, application_name AS app, state, extract(epoch FROM now() - xact_start)::float8 AS age, left(query, 80) AS query
       FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
        AND xact_start < now() - make_interval(secs => $1)
      ORDER BY xact_start`,
    [secs],
  );
  for (const t of tx.rows) {
    const q = (t.query ?? '').replace(/\s+/g, ' ').trim();
    out.push({
      kind: 'long-transaction',
      pid: t.pid,
      message:
        `transaction open ${Math.round(Number(t.age))}s: pid ${t.pid} (app '${t.app}', ${t.state}: ${q}) — ` +
        `DDL on the tables it touched waits for it; end it or expect lock timeouts and retries`,
    });
  }
  const cons = await session.query<{ name: string; tbl: string; type: string }>(
    `SELECT conname AS name, conrelid::regclass::text AS tbl, contype AS type FROM pg_constraint
      WHERE NOT convalidated AND conrelid <> 0 ORDER BY 2, 1`,
  );
  for (const c of cons.rows) {
    const kind = c.type === 'f' ? 'foreign key' : c.type === 'c' ? 'check' : 'constraint';
    out.push({
      kind: 'invalid-constraint',
      name: c.name,
      table: c.tbl,
      message: `${kind} ${c.name} on ${c.tbl} is not validated (NOT VALID) — run ALTER TABLE ${c.tbl} VALIDATE CONSTRAINT ${c.name} once its rows comply`,
    });
  }
  const idx = await session.query<{ name: string; tbl: string }>(
    `SELECT i.indexrelid::regclass::text AS name, i.indrelid::regclass::text AS tbl FROM pg_index i
       JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
  );
  for (const i of idx.rows) {
    out.push({
      kind: 'invalid-index',
      name: i.name,
      table: i.tbl,
      message: `index ${i.name} on ${i.tbl} is invalid (a failed or running CREATE INDEX CONCURRENTLY) — DROP INDEX CONCURRENTLY ${i.name} and build it again`,
    });
  }
  return out;
}

async function precheckSqlite(session: DbSession): Promise<PrecheckProblem[]> {
  const r = await session.query<{ table: string; rowid: number; parent: string }>('PRAGMA foreign_key_check');
  const byTable = new Map<string, { parent: string; n: number }>();
  for (const v of r.rows) {
    const e = byTable.get(v.table) ?? { parent: v.parent, n: 0 };
    e.n++;
    byTable.set(v.table, e);
  }
  return [...byTable].map(([table, e]) => ({
    kind: 'foreign-key-violation' as const,
    table,
    message: `${e.n} row(s) of ${table} point to missing rows of ${e.parent} — fix or delete them (PRAGMA foreign_key_check lists them)`,
  }));
}

import { basename } from 'node:path';
import type { AppliedMigration, DatabaseEngine, Migration, MigrationPhase } from '../core/database.js';
import type { DbSession } from './db/adapter.js';

/**
 * `sluice_migrations`, the record in the target database of what ran: one row per
 * migration with the sha256 of its file and, per phase, the revision that ran it and when
 * (ms since the epoch, BIGINT so PostgreSQL and SQLite store the same). `pending_phase` /
 * `pending_done` record how far a migration that commits in several steps (a
 * `no-transaction` statement splits its transaction) got, so a re-run resumes there.
 *
 * The expand phase creates the table (`ensureHistory`); nothing else does.
 */
export const HISTORY_TABLE = 'sluice_migrations';

const CREATE = `CREATE TABLE IF NOT EXISTS ${HISTORY_TABLE} (
  id TEXT PRIMARY KEY,
  checksum TEXT NOT NULL,
  expand_revision INTEGER,
  expand_at BIGINT,
  migrate_revision INTEGER,
  migrate_at BIGINT,
  contract_revision INTEGER,
  contract_at BIGINT,
  pending_phase TEXT,
  pending_done INTEGER
)`;

/** A row as read back, with the partial progress of a migration that is half way through a phase. */
export interface HistoryRow extends AppliedMigration {
  pending?: { phase: MigrationPhase; done: number };
}

/** SQLite sessions have no server pid; PostgreSQL's always do. */
export function engineOf(session: DbSession): DatabaseEngine {
  return session.pid === undefined ? 'sqlite' : 'postgres';
}

export async function ensureHistory(session: DbSession): Promise<void> {
  await session.query(CREATE);
}

export async function historyExists(session: DbSession, engine: DatabaseEngine = engineOf(session)): Promise<boolean> {
  if (engine === 'postgres') {
    const r = await session.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [HISTORY_TABLE]);
    return r.rows[0]?.present === true;
  }
  const r = await session.query<{ n: number }>(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?`, [HISTORY_TABLE]);
  return Number(r.rows[0]?.n ?? 0) > 0;
}

type Row = Record<string, unknown>;

function toApplied(r: Row): HistoryRow {
  const phases: AppliedMigration['phases'] = {};
  for (const p of ['expand', 'migrate', 'contract'] as const) {
    const rev = r[`${p}_revision`];
    if (rev !== null && rev !== undefined) phases[p] = { revision: Number(rev), at: Number(r[`${p}_at`] ?? 0) };
  }
  const out: HistoryRow = { id: String(r.id), checksum: String(r.checksum), phases };
  if (r.pending_phase) out.pending = { phase: r.pending_phase as MigrationPhase, done: Number(r.pending_done ?? 0) };
  return out;
}

/** Every recorded migration in id order; none when the table does not exist yet. */
export async function readApplied(session: DbSession, engine: DatabaseEngine = engineOf(session)): Promise<HistoryRow[]> {
  if (!(await historyExists(session, engine))) return [];
  const r = await session.query<Row>(`SELECT * FROM ${HISTORY_TABLE} ORDER BY id`);
  return r.rows.map(toApplied);
}

/**
 * Records that `phase` of migration `id` ran at `revision` (and clears its partial
 * progress). Run it inside the transaction of the phase's statements, so both commit or
 * neither does. The table must exist (expand creates it).
 */
export async function markPhase(
  session: DbSession,
  id: string,
  checksum: string,
  phase: MigrationPhase,
  revision: number,
  at: number = Date.now(),
): Promise<void> {
  await session.query(
    `INSERT INTO ${HISTORY_TABLE} (id, checksum, ${phase}_revision, ${phase}_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE SET ${phase}_revision = $3, ${phase}_at = $4, pending_phase = NULL, pending_done = NULL`,
    [id, checksum, revision, at],
  );
}

/** Records that the first `done` statements of `phase` of migration `id` are committed. */
export async function markPending(session: DbSession, id: string, checksum: string, phase: MigrationPhase, done: number): Promise<void> {
  await session.query(
    `INSERT INTO ${HISTORY_TABLE} (id, checksum, pending_phase, pending_done) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE SET pending_phase = $3, pending_done = $4`,
    [id, checksum, phase, done],
  );
}

/**
 * The first migration whose file changed since it was recorded, as the one-line error;
 * undefined when every recorded file is unchanged.
 */
export function checksumProblem(migrations: Pick<Migration, 'id' | 'file' | 'checksum'>[], applied: AppliedMigration[]): string | undefined {
  const byId = new Map(applied.map((a) => [a.id, a]));
  for (const m of migrations) {
    const a = byId.get(m.id);
    if (a && a.checksum !== m.checksum) {
      const ran = (Object.keys(a.phases) as MigrationPhase[]).join(', ') || 'partly';
      return (
        `applied migration ${m.id} changed since it ran (${ran}; checksum ${a.checksum.slice(0, 12)}… recorded, ` +
        `${m.checksum.slice(0, 12)}… now in ${basename(m.file)}) — restore the file or add a new migration; nothing was applied`
      );
    }
  }
  return undefined;
}

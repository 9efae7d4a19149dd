import type { MigrationPhase } from '../core/database.js';
import type { HistoryRow } from './history.js';
import type { LoadedMigration, LoadedStatement } from './load.js';

/**
 * What a phase will do, in order: per pending migration, its statements of that phase cut
 * into segments — consecutive statements share one transaction (with the phase record
 * written in the last one); a `no-transaction` statement (CREATE INDEX CONCURRENTLY …) is
 * a segment of its own, outside any transaction. The dry run prints this; the runner runs it.
 */
export interface Segment {
  transaction: boolean;
  /** Index of each statement within the migration's statements of the phase. */
  statements: { index: number; statement: LoadedStatement }[];
}

export interface MigrationPlan {
  migration: LoadedMigration;
  phase: MigrationPhase;
  /** Statements of the phase already committed by an earlier, interrupted run. */
  resumeAt: number;
  segments: Segment[];
}

export interface PhasePlan {
  phase: MigrationPhase;
  pending: MigrationPlan[];
  /** Already done for this phase (re-run after a crash): `001_x (r3)`. */
  skipped: string[];
  /** Migrate: migrations with batched statements, left for the backfill. */
  forBackfill: string[];
}

export interface LockSettings {
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  lockRetries: number;
  retryBackoffMs: number;
}

export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanError';
  }
}

export function segmentsOf(statements: LoadedStatement[], from = 0): Segment[] {
  const out: Segment[] = [];
  statements.forEach((statement, index) => {
    if (index < from) return;
    const last = out.at(-1);
    if (statement.noTransaction) out.push({ transaction: false, statements: [{ index, statement }] });
    else if (last?.transaction) last.statements.push({ index, statement });
    else out.push({ transaction: true, statements: [{ index, statement }] });
  });
  return out;
}

/** The statements of `phase` the runner runs (migrate: the unbatched ones of migrations without a batch). */
export function phaseStatements(m: LoadedMigration, phase: MigrationPhase): LoadedStatement[] {
  return m.statements.filter((s) => s.phase === phase);
}

/** Throws PlanError when the phase cannot run yet (a missing earlier phase). */
export function planPhase(migrations: LoadedMigration[], applied: HistoryRow[], phase: MigrationPhase): PhasePlan {
  const byId = new Map(applied.map((a) => [a.id, a]));
  const plan: PhasePlan = { phase, pending: [], skipped: [], forBackfill: [] };
  for (const m of migrations) {
    const a = byId.get(m.id);
    const done = a?.phases[phase];
    if (done) {
      plan.skipped.push(`${m.id} (r${done.revision})`);
      continue;
    }
    if (phase !== 'expand' && !a?.phases.expand)
      throw new PlanError(`migration ${m.id} has not been expanded — run the expand phase first (nothing of ${phase} was applied)`);
    const statements = phaseStatements(m, phase);
    if (phase === 'migrate' && statements.some((s) => s.batch)) {
      plan.forBackfill.push(m.id);
      continue;
    }
    if (phase === 'contract' && !a?.phases.migrate && m.statements.some((s) => s.phase === 'migrate'))
      throw new PlanError(`migration ${m.id} has not finished its migrate phase (backfill) — run migrate first (nothing of contract was applied)`);
    const resumeAt = a?.pending?.phase === phase ? a.pending.done : 0;
    plan.pending.push({ migration: m, phase, resumeAt, segments: segmentsOf(statements, resumeAt) });
  }
  return plan;
}

/** The statement's first line, shortened: `ALTER TABLE people ADD COLUMN email text …`. */
export function firstLine(sql: string, max = 72): string {
  const lines = sql.trim().split('\n');
  const first = lines[0].trim();
  const cut = first.length > max ? `${first.slice(0, max - 1)}…` : first;
  return lines.length > 1 && cut === first ? `${cut} …` : cut;
}

/** The dry run's lines. */
export function formatPlan(plan: PhasePlan, settings: LockSettings, opts: { revision: number; tool?: string; database: string }): string[] {
  const lines: string[] = [
    `${plan.phase} of ${opts.database} at revision ${opts.revision}, holding the migration lock; every session: ` +
      `lock_timeout ${settings.lockTimeoutMs}ms, statement_timeout ${settings.statementTimeoutMs}ms, ` +
      `a statement that times out on its lock retried up to ${settings.lockRetries}× (backoff from ${settings.retryBackoffMs}ms)`,
  ];
  for (const s of plan.skipped) lines.push(`${s.split(' ')[0]} ${plan.phase}: already applied ${s.split(' ')[1] ?? ''} — skipped`);
  for (const id of plan.forBackfill) lines.push(`${id} ${plan.phase}: batched backfill — left for the backfill runner`);
  for (const p of plan.pending) {
    const id = p.migration.id;
    if (p.resumeAt > 0) lines.push(`${id} ${plan.phase}: resumes after statement ${p.resumeAt} (committed by an earlier run)`);
    p.segments.forEach((seg, i) => {
      const where = seg.transaction ? `in transaction ${i + 1}` : 'alone, outside a transaction';
      for (const { statement } of seg.statements) lines.push(`${id} ${plan.phase} [${where}] line ${statement.line}: ${firstLine(statement.sql)}`);
    });
    const lastTx = p.segments.at(-1)?.transaction;
    lines.push(`${id} ${plan.phase}: record r${opts.revision} in sluice_migrations${lastTx ? ' (same transaction)' : ''}`);
  }
  if (opts.tool) lines.push(`then the tool: ${opts.tool} (DATABASE_URL in its environment)`);
  if (plan.pending.length === 0 && !opts.tool) lines.push(`nothing to do for ${plan.phase}`);
  return lines;
}

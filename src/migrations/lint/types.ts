import type { MigrationPhase } from '../../core/database.js';

/**
 * What a statement is for the release (docs/migrations-lint.md):
 * - `expand`: safe while the old version runs;
 * - `contract`: breaks the old version (drop / rename, type change, SET NOT NULL…);
 * - `lock`: holds a lock that blocks the app for a long time (index without CONCURRENTLY…);
 * - `impossible`: fails as written (CONCURRENTLY in a transaction, a contract statement in expand…);
 * - `data`: DML (a backfill).
 */
export type StatementClass = 'expand' | 'contract' | 'lock' | 'impossible' | 'data';
export type Severity = 'error' | 'warning';

export interface LintFinding {
  file: string;
  line: number;
  col: number;
  rule: string;
  severity: Severity;
  /** Absent for `load` / `syntax` findings (the file could not be read into sections). */
  phase?: MigrationPhase;
  message: string;
  fix: string;
}

export interface StatementReport {
  file: string;
  line: number;
  col: number;
  phase: MigrationPhase;
  /** PostgreSQL node type (`AlterTableStmt`) or, for SQLite, the statement's first words. */
  type: string;
  /** The first 80 characters of the statement, on one line. */
  summary: string;
  class: StatementClass;
}

export interface LintReport {
  statements: StatementReport[];
  findings: LintFinding[];
  errors: number;
  warnings: number;
}

export interface LintOptions {
  engine: 'postgres' | 'sqlite';
  /**
   * The files are run by something other than sluice (psql, a framework): no per-session
   * lock_timeout and no transaction per section, so the file must set them itself.
   */
  standalone?: boolean;
}

/** A rule's kind: the first three give the statement its class; `data`, `style` and `meta` only warn. */
export type RuleKind = 'contract' | 'lock' | 'impossible' | 'data' | 'style' | 'meta';

export interface RuleInfo {
  id: string;
  kind: RuleKind;
  engines: readonly ('postgres' | 'sqlite')[];
  /** Contract rules: error outside the contract section, nothing inside it. */
  severity: Severity;
  /** `-- sluice:allow` can waive it (impossible ones mostly cannot: the database refuses them). */
  waivable: boolean;
  /** squawk's rule with the same intent, if any. */
  squawk?: string;
  catches: string;
  fix: string;
}

/** One rule firing on one statement, before severity and waivers are applied. */
export interface Hit {
  rule: string;
  message: string;
  fix?: string;
}

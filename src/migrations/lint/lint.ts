import type { MigrationPhase } from '../../core/database.js';
import type { LoadedMigration, LoadedStatement } from '../load.js';
import { parseStatements } from '../sql/parse.js';
import type { Obj } from './pg-ast.js';
import { checkPostgres, DML_TYPES } from './rules-postgres.js';
import { checkSqlite, isSqliteDml, sqliteType } from './rules-sqlite.js';
import { RULE_BY_ID, ruleInfo } from './rules.js';
import { type FolderState, newFileState, type StatementContext } from './state.js';
import type { Hit, LintFinding, LintOptions, LintReport, StatementClass, StatementReport } from './types.js';

/** Precedence when several rules fire on one statement: the class shown is the worst. */
export const CLASS_RANK: Record<StatementClass, number> = { expand: 0, data: 1, lock: 2, contract: 3, impossible: 4 };

/**
 * Lints migrations already loaded (src/migrations/load.ts). Pure: no database, no disk.
 * PostgreSQL statements need `loadSqlParser()` awaited first when they come from .yaml operations.
 */
export function lintMigrations(migrations: LoadedMigration[], opts: LintOptions): LintReport {
  const statements: StatementReport[] = [];
  const findings: LintFinding[] = [];
  const folder: FolderState = { notNullChecks: new Set() };
  for (const m of migrations) {
    const file = newFileState();
    m.statements.forEach((st, index) => {
      const ctx: StatementContext = {
        phase: st.phase,
        sql: st.sql,
        noTransaction: st.noTransaction,
        batched: st.batch !== undefined,
        index,
        standalone: opts.standalone === true,
        file,
        folder,
      };
      const node = opts.engine === 'postgres' ? nodeOf(st) : undefined;
      const type = opts.engine === 'postgres' ? (node ? Object.keys(node)[0] : 'Unknown') : sqliteType(st.sql);
      const hits = opts.engine === 'postgres' ? (node ? checkPostgres(node, ctx) : []) : checkSqlite(st.sql, ctx);
      const dml = opts.engine === 'postgres' ? DML_TYPES.has(type) : isSqliteDml(st.sql);
      let cls: StatementClass = dml ? 'data' : 'expand';
      for (const h of hits) {
        const c = classOf(h.rule, st.phase);
        if (c && CLASS_RANK[c] > CLASS_RANK[cls]) cls = c;
      }
      statements.push({ file: m.file, line: st.line, col: st.col, phase: st.phase, type, summary: summary(st.sql), class: cls });
      findings.push(...toFindings(m.file, st, hits, opts.engine));
    });
  }
  return {
    statements,
    findings,
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
  };
}

/** The class a rule gives a statement in `phase` (undefined: it does not change it). */
export function classOf(rule: string, phase: MigrationPhase): StatementClass | undefined {
  const kind = RULE_BY_ID.get(rule)?.kind;
  if (kind === 'contract') return phase === 'contract' ? 'contract' : 'impossible';
  if (kind === 'lock' || kind === 'impossible' || kind === 'data') return kind;
  return undefined;
}

function toFindings(file: string, st: LoadedStatement, hits: Hit[], engine: LintOptions['engine']): LintFinding[] {
  const out: LintFinding[] = [];
  const allow = new Set(st.allow ?? []);
  const at = { file, line: st.line, col: st.col, phase: st.phase };
  for (const a of allow) {
    if (!RULE_BY_ID.has(a))
      out.push({ ...at, rule: 'unknown-allow', severity: 'warning', message: `\`-- sluice:allow ${a}\`: no such rule`, fix: ruleInfo('unknown-allow').fix });
  }
  for (const h of hits) {
    const info = ruleInfo(h.rule);
    if (info.kind === 'contract' && st.phase === 'contract') continue; // where it belongs
    const allowed = allow.has(h.rule);
    // SQLite refuses its impossible statements even on an empty table: no waiver there.
    if (allowed && info.waivable && !(engine === 'sqlite' && info.kind === 'impossible')) continue;
    let message = h.message;
    if (info.kind === 'contract') message += ` — it breaks the old version, which still runs during ${st.phase}`;
    if (allowed) message += ' (cannot be waived: the database refuses it)';
    out.push({ ...at, rule: h.rule, severity: info.severity, message, fix: h.fix ?? info.fix });
  }
  return out;
}

function nodeOf(st: LoadedStatement): Obj | undefined {
  if (st.node) return st.node;
  // Statements compiled from .yaml operations carry SQL only: parse it here.
  try {
    return parseStatements(st.sql)[0]?.node;
  } catch {
    return undefined;
  }
}

function summary(sql: string): string {
  const one = sql.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? one.slice(0, 80) : one;
}

import { readFileSync } from 'node:fs';
import type { DatabaseEngine } from '../../core/database.js';
import { type LoadedMigration, loadMigrationFile, MigrationError, migrationFiles } from '../load.js';
import { loadSqlParser } from '../sql/parse.js';
import { lintMigrations } from './lint.js';
import type { LintFinding, LintReport } from './types.js';

/**
 * Lints a folder of migrations. A folder or file that cannot be loaded (missing folder, bad
 * name, bad directive, SQL PostgreSQL's parser rejects) becomes one error finding — `load`,
 * or `syntax` at the parser's position — instead of a throw; the other files are still linted.
 */
export async function lintFolder(folder: string, engine: DatabaseEngine, opts: { standalone?: boolean } = {}): Promise<LintReport> {
  await loadSqlParser();
  const problems: LintFinding[] = [];
  const loaded: LoadedMigration[] = [];
  let files: string[] = [];
  try {
    files = migrationFiles(folder);
  } catch (err) {
    problems.push(asFinding(err));
  }
  for (const file of files) {
    try {
      loaded.push(loadMigrationFile(file, readFileSync(file, 'utf8'), engine));
    } catch (err) {
      problems.push(asFinding(err, file));
    }
  }
  const report = lintMigrations(loaded, { engine, ...opts });
  const findings = [...problems, ...report.findings];
  return {
    statements: report.statements,
    findings,
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
  };
}

function asFinding(err: unknown, file?: string): LintFinding {
  if (err instanceof MigrationError) {
    const cut = err.problem.lastIndexOf(' — ');
    const message = cut === -1 ? err.problem : err.problem.slice(0, cut);
    const fix = cut === -1 ? 'fix the file' : err.problem.slice(cut + 3);
    const syntax = fix.includes("PostgreSQL's parser");
    return { file: err.file, line: err.line, col: err.col, rule: syntax ? 'syntax' : 'load', severity: 'error', message, fix: syntax ? 'fix the SQL' : fix };
  }
  const e = err as NodeJS.ErrnoException;
  return { file: file ?? '', line: 1, col: 1, rule: 'load', severity: 'error', message: e?.message ?? String(err), fix: 'check the file can be read' };
}

/** The migration linter (docs/migrations-lint.md): PostgreSQL rules over its own parser's tree, SQLite rules over the text. */
export { lintFolder } from './folder.js';
export { formatLint } from './format.js';
export { CLASS_RANK, classOf, lintMigrations } from './lint.js';
export { RULE_BY_ID, RULES } from './rules.js';
export type { LintFinding, LintOptions, LintReport, RuleInfo, Severity, StatementClass, StatementReport } from './types.js';

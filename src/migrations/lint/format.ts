import type { LintReport } from './types.js';

/**
 * `text`: one line per finding, `file:line:col rule — message; fix: …` (warnings say so),
 * then a summary line. `json`: the report itself.
 */
export function formatLint(report: LintReport, format: 'text' | 'json'): string {
  if (format === 'json') return JSON.stringify(report, null, 2);
  const lines = report.findings.map(
    (f) => `${f.file}:${f.line}:${f.col} ${f.rule}${f.severity === 'warning' ? ' (warning)' : ''} — ${f.message}; fix: ${f.fix}`,
  );
  const classes = new Map<string, number>();
  for (const s of report.statements) classes.set(s.class, (classes.get(s.class) ?? 0) + 1);
  const byClass = [...classes].map(([c, n]) => `${n} ${c}`).join(', ');
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  lines.push(
    `${plural(report.statements.length, 'statement')}${byClass ? ` (${byClass})` : ''}: ${plural(report.errors, 'error')}, ${plural(report.warnings, 'warning')}`,
  );
  return lines.join('\n');
}

import { parseArgs } from 'node:util';
import type { DatabaseEngine } from '../core/database.js';
import { formatLint, lintFolder } from '../migrations/lint/index.js';

export const DB_LINT_USAGE = 'sluice db lint [FOLDER] [--engine postgres|sqlite] [--format text|json] [--standalone]';

/**
 * `sluice db lint`: lints a folder of migrations (default `migrations`) before anything
 * runs. Exit 0 when clean or warnings only, 1 on errors, 2 on bad usage.
 */
export async function dbLint(argv: string[], out: (s: string) => void): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    out(`error: ${(err as Error).message} — usage: ${DB_LINT_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const engine = values.engine ?? 'postgres';
  const format = values.format ?? 'text';
  if (engine !== 'postgres' && engine !== 'sqlite') {
    out(`error: --engine ${engine} is not known — use postgres or sqlite`);
    return 2;
  }
  if (format !== 'text' && format !== 'json') {
    out(`error: --format ${format} is not known — use text or json`);
    return 2;
  }
  if (positionals.length > 1) {
    out(`error: unexpected argument "${positionals[1]}" — usage: ${DB_LINT_USAGE}`);
    return 2;
  }
  const report = await lintFolder(positionals[0] ?? 'migrations', engine as DatabaseEngine, { standalone: values.standalone === true });
  out(formatLint(report, format));
  return report.errors > 0 ? 1 : 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { engine: { type: 'string' }, format: { type: 'string' }, standalone: { type: 'boolean' } },
  });
}

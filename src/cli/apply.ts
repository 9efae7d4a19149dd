/** `sluice apply` (through the API) and `sluice lint` (local, no daemon needed). */
import { stringify } from 'yaml';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { lintFile, lintResources } from '../spec/lint.js';
import { formatLint, lintFolder } from '../migrations/lint/index.js';
import { loadResources } from '../spec/load.js';
import { decodeSpecFile, readSpecFile } from '../spec/source.js';
import { UserError } from '../util/errors.js';
import { listFlag, UsageError, type Command, type Context } from './command.js';
import { renderApplyResult } from './render.js';
import { importWarnings } from './convert.js';

interface SourceFile {
  /** What error messages and the store call it: an absolute path, or "<stdin>". */
  file: string;
  text: string;
}

const YAML_FILE = /\.ya?ml$/i;

/** `-f FILE`, `-f DIR` (its *.yaml / *.yml files, sorted) and `-f -` (stdin). */
function readSources(ctx: Context): SourceFile[] {
  const args = listFlag(ctx, 'filename');
  if (args.length === 0) throw new UsageError('missing -f FILE');
  if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument "${ctx.positionals[0]}" — name files with -f`);
  const out: SourceFile[] = [];
  for (const arg of args) {
    if (arg === '-') {
      out.push({ file: '<stdin>', text: decodeSpecFile(readFileSync(0), '<stdin>') });
      continue;
    }
    const path = resolve(arg);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UserError(code === 'ENOENT' ? `${arg}: no such file` : `${arg}: cannot read: ${(err as Error).message}`);
    }
    const files = isDir
      ? readdirSync(path)
          .filter((f) => YAML_FILE.test(f))
          .sort()
          .map((f) => join(path, f))
      : [path];
    if (isDir && files.length === 0) throw new UserError(`${arg}: directory has no .yaml or .yml files`);
    for (const file of files) out.push({ file, text: readSpecFile(file) });
  }
  return out;
}

const FILE_OPTION = { filename: { type: 'string', short: 'f', multiple: true } } as const;

export const applyCommand: Command = {
  name: 'apply',
  summary: 'create or update rollouts from YAML files',
  usage: '-f FILE [-f FILE ...]',
  flags: [['-f, --filename FILE', 'a rollout file, a directory of them, or - for stdin (repeatable)']],
  details:
    'Each file is applied all or nothing. Prints one line per rollout:\n' +
    '  rollout/web created (revision 1) | configured (revision 3) | unchanged (revision 3)',
  options: FILE_OPTION,
  async run(ctx) {
    const sources = readSources(ctx);
    const client = ctx.client();
    for (const { file, text } of sources) {
      // An Argo Rollouts / Flagger document's fields sluice does not carry over (docs/import.md).
      for (const w of importWarnings(text, file)) process.stderr.write(`warning: ${w}\n`);
      const results = await client.apply(text, file);
      for (const r of results) ctx.out(renderApplyResult(r));
    }
    return 0;
  },
};

export const lintCommand: Command = {
  name: 'lint',
  summary: 'check rollout files without applying them (no running sluice needed)',
  usage: '-f FILE [-f FILE ...]',
  flags: [['-f, --filename FILE', 'a rollout file, a directory of them, or - for stdin (repeatable)']],
  details:
    'Prints "FILE: ok (N rollouts)" and any warnings per file. Exit codes: 0 all files valid\n' +
    '(warnings allowed), 1 a file is invalid: the one-line error names file:line:col and the field.',
  options: FILE_OPTION,
  async run(ctx) {
    const sources = readSources(ctx);
    let failed = false;
    for (const { file, text } of sources) {
      const shown = file === '<stdin>' ? file : relativeOrAbsolute(file);
      // lintFile reads the file itself; stdin can only be loaded.
      const report = file === '<stdin>' ? { ok: true, error: undefined, ...lintResources(loadResources(text, shown)) } : lintFile(shown);
      if (!report.ok) throw new UserError(report.error ?? `${shown}: invalid`);
      const count = report.rollouts.length;
      const flagCount = report.flags.length;
      const flagsShown = flagCount > 0 ? `, ${flagCount} flag${flagCount === 1 ? '' : 's'}` : '';
      ctx.out(`${shown}: ok (${count} rollout${count === 1 ? '' : 's'}${flagsShown})`);
      for (const w of report.warnings) ctx.out(`warning: ${w}`);
      for (const { spec } of report.rollouts) {
        const st = spec.strategy;
        if (st.type !== 'canary' || st.expandedFrom !== 'flagger') continue;
        const expansion = stringify({ steps: st.steps, analysis: st.analysis }).trimEnd().replace(/^/gm, '  ');
        ctx.out(`${spec.name}: the Flagger-style analysis expands to:\n${expansion}`);
      }
      for (const f of report.flags) {
        if (f.targeting === undefined) ctx.out(`flag ${f.name}: no targeting, everyone gets ${f.defaultVariant}`);
        else ctx.out(`flag ${f.name}: targeting expands to:\n${compactJson(f.targeting, '  ')}`);
      }
      // The migrations of spec.database, as `sluice db lint` and the apply check them.
      for (const { spec } of report.rollouts) {
        if (!spec.database) continue;
        const lint = await lintFolder(spec.database.migrations, spec.database.engine);
        ctx.out(`${spec.name}: migrations ${relativeOrAbsolute(spec.database.migrations)}: ${lint.errors} error(s), ${lint.warnings} warning(s)`);
        if (lint.findings.length > 0) ctx.out(formatLint(lint, 'text'));
        if (lint.errors > 0) failed = true;
      }
    }
    return failed ? 1 : 0;
  },
};

/** JSON with a node on one line when it fits in 80 columns, else its items one per line. */
export function compactJson(value: unknown, indent = ''): string {
  const flat = JSON.stringify(value);
  if (value === null || typeof value !== 'object' || indent.length + flat.length <= 80) return `${indent}${flat}`;
  const inner = `${indent}  `;
  if (Array.isArray(value)) return `${indent}[\n${value.map((v) => compactJson(v, inner)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => {
    const rendered = compactJson(v, inner).trimStart();
    return `${inner}${JSON.stringify(k)}: ${rendered}`;
  });
  return `${indent}{\n${entries.join(',\n')}\n${indent}}`;
}

function relativeOrAbsolute(file: string): string {
  const cwd = process.cwd() + '/';
  return file.startsWith(cwd) ? file.slice(cwd.length) : file;
}

// Agreement between sluice's migration linter and squawk (https://squawkhq.com) on the
// PostgreSQL lint fixture: each fixture statement goes to squawk alone in a temp file;
// sluice lints the fixture folder as it would before a release. For each pair of rules
// with the same intent: statements where both fire / only ours / only squawk / neither.
// Needs `squawk` on PATH (pip install squawk-cli). Prints Markdown; `npm run build` first.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lintFolder, RULES } from '../dist/src/migrations/lint/index.js';
import { loadMigrations } from '../dist/src/migrations/load.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const folder = join(root, 'test/fixtures/migrations/lint/postgres');
// squawk rules about session settings and re-runnable files: sluice sets lock_timeout /
// statement_timeout on each session it runs and records applied migrations, so they are left out.
const EXCLUDE = 'prefer-robust-stmts,require-statement-timeout,require-lock-timeout';

const report = await lintFolder(folder, 'postgres');
const migrations = await loadMigrations(folder, 'postgres');
const dir = mkdtempSync(join(tmpdir(), 'squawk-agreement-'));
const stmts = [];
for (const m of migrations) {
  for (const s of m.statements) {
    const file = join(dir, `s${String(stmts.length).padStart(3, '0')}.sql`);
    writeFileSync(file, `${s.sql};\n`);
    const ours = new Set(report.findings.filter((f) => f.file === m.file && f.line === s.line && f.col === s.col).map((f) => f.rule));
    stmts.push({ where: `${relative(root, m.file)}:${s.line}`, sql: s.sql.replace(/\s+/g, ' ').slice(0, 70), file, ours, squawk: new Set() });
  }
}
let out;
try {
  out = execFileSync('squawk', ['--reporter', 'json', `--exclude=${EXCLUDE}`, ...stmts.map((s) => s.file)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
} catch (err) {
  out = err.stdout; // squawk exits 1 when it finds something
}
for (const v of JSON.parse(out)) stmts.find((s) => s.file === v.file)?.squawk.add(v.rule_name);
rmSync(dir, { recursive: true, force: true });
const version = execFileSync('squawk', ['--version'], { encoding: 'utf8' }).trim();

// One row per squawk rule: the sluice rules with the same intent (any of them firing counts).
const groups = new Map();
for (const r of RULES) if (r.squawk && r.engines.includes('postgres')) groups.set(r.squawk, [...(groups.get(r.squawk) ?? []), r.id]);
const lines = [
  `# sluice db lint vs ${version}`,
  '',
  `${stmts.length} statements of test/fixtures/migrations/lint/postgres; squawk sees each statement alone (\`--exclude=${EXCLUDE}\`), sluice lints the folder (sections, transactions, tables created earlier in the file).`,
  '',
  '| sluice rule(s) | squawk rule | both | only sluice | only squawk | neither |',
  '|---|---|---:|---:|---:|---:|',
];
const disagreements = [];
for (const [theirs, ours] of groups) {
  const n = { both: 0, ours: 0, theirs: 0, neither: 0 };
  for (const s of stmts) {
    const a = ours.some((r) => s.ours.has(r));
    const b = s.squawk.has(theirs);
    if (a && b) n.both++;
    else if (a) n.ours++;
    else if (b) n.theirs++;
    else n.neither++;
    if (a !== b)
      disagreements.push(
        `- \`${s.where}\` ${a ? `only sluice \`${ours.filter((r) => s.ours.has(r)).join(', ')}\`` : `only squawk \`${theirs}\` (sluice: ${[...s.ours].join(', ') || 'none'})`}: \`${s.sql}\``,
      );
  }
  lines.push(`| ${ours.map((r) => `\`${r}\``).join(', ')} | \`${theirs}\` | ${n.both} | ${n.ours} | ${n.theirs} | ${n.neither} |`);
}
const pairs = [...groups.keys()].map((t) => [null, t]);
const unmapped = new Map();
for (const s of stmts) for (const r of s.squawk) if (!pairs.some(([, t]) => t === r)) unmapped.set(r, (unmapped.get(r) ?? 0) + 1);
lines.push('', '## Disagreements', '', ...disagreements);
lines.push('', '## squawk rules with no sluice counterpart that fired', '', ...[...unmapped].map(([r, n]) => `- \`${r}\`: ${n} statements`));
console.log(lines.join('\n'));

// Match-rule regexes: the cost of one whole-value test of `(a+)+$` (issue 10's ReDoS) and of
// a typical rule, with JS RegExp (what the router used) and with RE2 (src/router/regex.ts,
// what it uses now, including the 4096-character cap). In process, no HTTP: this is the
// time a request holds the router's event loop for its rule. Prints a markdown table and
// writes bench/results/regex.md. Run: npx tsc -p tsconfig.json && node bench/regex.mjs
// Bounded: JS RegExp is only tried up to 24 characters (each one more doubles its time).
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results', 'regex.md');
const { compileValueRegex } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'router', 'regex.js')).href);

/** Median milliseconds of `runs` calls (after 3 warm-up calls). */
function time(f, runs) {
  for (let i = 0; i < 3; i++) f();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    f();
    t.push(performance.now() - s);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)];
}

const rows = [];
const row = (pattern, value, engine, ms) => rows.push(`| \`${pattern}\` | ${value} | ${engine} | ${ms < 0.01 ? '< 0.01' : ms.toFixed(2)} |`);
const evil = '(a+)+$';
const js = new RegExp(`^(?:${evil})$`);
for (const n of [16, 20, 24])
  row(
    evil,
    `${n} × a + !`,
    'JS RegExp',
    time(() => js.test('a'.repeat(n) + '!'), 3),
  );
const re2 = compileValueRegex(evil, 'bench');
for (const n of [24, 28, 1000, 4095, 10_000])
  row(
    evil,
    `${n} × a + !`,
    'RE2',
    time(() => re2('a'.repeat(n) + '!'), 21),
  );
const typical = '.*@example\\.com';
const jsTypical = new RegExp(`^(?:${typical})$`);
const re2Typical = compileValueRegex(typical, 'bench');
row(
  typical,
  '26-char address',
  'JS RegExp',
  time(() => jsTypical.test('someone.else@example.com.x'), 1001),
);
row(
  typical,
  '26-char address',
  'RE2',
  time(() => re2Typical('someone.else@example.com.x'), 1001),
);

const text = `# Match-rule regexes: JS RegExp vs RE2

\`node bench/regex.mjs\` on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.
Median time of one whole-value test, in process (the time a request holds the router's event loop).
JS RegExp doubles with each character (issue 10: 2.6 s at 28); RE2 is linear, and values over
4096 characters are not matched at all.

| pattern | value | engine | ms |
|---|---|---|---|
${rows.join('\n')}
`;
mkdirSync(dirname(RESULTS), { recursive: true });
writeFileSync(RESULTS, text);
console.log(text);

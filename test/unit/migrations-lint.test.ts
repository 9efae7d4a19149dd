/**
 * The migration linter (src/migrations/lint/): a fixture folder whose every statement says
 * which rules it must raise and which class it gets (`-- expect: RULE, … | CLASS`), the
 * playbook's bugs, load and syntax errors as one finding, --standalone, the CLI, and a
 * property test over random migration files (never throws, positions at the statement's
 * first token, severity and class consistent, JSON round-trips).
 *
 * Seeded: the seed is printed; replay with SLUICE_FUZZ_SEED=<seed> (SLUICE_FUZZ_RUNS, default 300).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { loadMigrationFile } from '../../src/migrations/load.js';
import { loadSqlParser } from '../../src/migrations/sql/parse.js';
import { CLASS_RANK, classOf, formatLint, type LintReport, lintFolder, lintMigrations, RULE_BY_ID, RULES } from '../../src/migrations/lint/index.js';
import { dbLint } from '../../src/cli/db-lint.js';
import type { DatabaseEngine, MigrationPhase } from '../../src/core/database.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/migrations/lint/', import.meta.url));
const SEED = Number(process.env.SLUICE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.SLUICE_FUZZ_RUNS ?? 300);

interface Expectation {
  file: string;
  line: number;
  col: number;
  rules: string[];
  cls: string;
}

/** `-- expect:` comments of a file, each tied to the last statement that starts before it. */
function expectations(report: LintReport, file: string): Expectation[] {
  const text = readFileSync(file, 'utf8');
  const starts = report.statements.filter((s) => s.file === file).map((s) => ({ s, at: offsetOf(text, s.line, s.col) }));
  const out: Expectation[] = [];
  for (const m of text.matchAll(/--\s*expect:\s*([^|\n]*)\|\s*(\w+)/g)) {
    const before = starts.filter((x) => x.at < (m.index ?? 0)).pop();
    assert.ok(before, `${file}: an expect comment before any statement`);
    const rules =
      m[1].trim() === 'none'
        ? []
        : m[1]
            .split(',')
            .map((r) => r.trim())
            .sort();
    out.push({ file, line: before.s.line, col: before.s.col, rules, cls: m[2] });
  }
  return out;
}

function offsetOf(text: string, line: number, col: number): number {
  let at = 0;
  for (let l = 1; l < line; l++) at = text.indexOf('\n', at) + 1;
  return at + col - 1;
}

for (const engine of ['postgres', 'sqlite'] as DatabaseEngine[]) {
  test(`${engine} fixture: every statement raises exactly the rules and class its comment expects`, async () => {
    const folder = join(FIXTURES, engine);
    const report = await lintFolder(folder, engine);
    const files = readdirSync(folder)
      .sort()
      .map((n) => join(folder, n));
    const expected = files.flatMap((f) => expectations(report, f));
    assert.equal(expected.length, report.statements.length, 'every statement carries one expect comment');
    assert.ok(expected.length >= (engine === 'postgres' ? 50 : 20), `fixture has ${expected.length} statements`);
    const problems: string[] = [];
    for (const e of expected) {
      const got = report.findings
        .filter((f) => f.file === e.file && f.line === e.line && f.col === e.col)
        .map((f) => f.rule)
        .sort();
      const st = report.statements.find((s) => s.file === e.file && s.line === e.line && s.col === e.col);
      if (got.join(',') !== e.rules.join(',') || st?.class !== e.cls)
        problems.push(`${e.file}:${e.line}:${e.col} expected [${e.rules}] | ${e.cls}, got [${got}] | ${st?.class}`);
    }
    assert.deepEqual(problems, []);
    for (const f of report.findings) assert.ok(RULE_BY_ID.get(f.rule)?.engines.includes(engine), `${f.rule} is a ${engine} rule`);
  });
}

test("the playbook's bugs are not repeated", async () => {
  await loadSqlParser();
  const lint = (sql: string) => {
    const m = loadMigrationFile('/m/001_x.sql', `-- sluice:expand\n${sql};\n`, 'postgres');
    return lintMigrations([m], { engine: 'postgres' }).findings.map((f) => f.rule);
  };
  assert.deepEqual(lint('CREATE TABLE t (id bigint PRIMARY KEY, name text NOT NULL)'), []);
  assert.deepEqual(lint('ALTER TABLE t ADD COLUMN name text NOT NULL'), ['add-column-required']);
  assert.deepEqual(lint('ALTER TABLE t ADD COLUMN name text NOT NULL DEFAULT $$x$$'), []);
  assert.deepEqual(lint('ALTER TABLE t ADD COLUMN name text NOT NULL DEFAULT NULL'), ['add-column-required']);
  assert.deepEqual(lint('BEGIN; CREATE INDEX CONCURRENTLY i ON t (a); COMMIT'), ['transaction-control', 'concurrently-in-transaction', 'transaction-control']);
  assert.deepEqual(lint('CREATE INDEX CONCURRENTLY i ON t (a)'), []);
  assert.deepEqual(lint("ALTER TABLE t ADD COLUMN d jsonb NOT NULL DEFAULT '{}'"), []);
});

test('a file PostgreSQL cannot parse is one syntax finding at its position; the other files are still linted', async () => {
  const report = await lintFolder(join(FIXTURES, 'bad-syntax'), 'postgres');
  assert.equal(report.findings.length, 1);
  const [f] = report.findings;
  assert.equal(f.rule, 'syntax');
  assert.equal(f.severity, 'error');
  assert.match(f.file, /002_typo\.sql$/);
  assert.deepEqual([f.line, f.col], [4, 33]);
  assert.match(f.message, /syntax error at or near "text"/);
  assert.equal(report.statements.length, 1, '001_ok.sql is linted');
  assert.equal(report.errors, 1);
});

test('a missing folder and a bad directive are one load finding each', async () => {
  const missing = await lintFolder(join(FIXTURES, 'no-such-folder'), 'postgres');
  assert.deepEqual(
    missing.findings.map((f) => [f.rule, f.line, f.col]),
    [['load', 1, 1]],
  );
  assert.match(missing.findings[0].fix, /create it/);
  const bad = await lintFolder(join(FIXTURES, 'bad-directive'), 'postgres');
  assert.deepEqual(
    bad.findings.map((f) => [f.rule, f.line, f.col]),
    [['load', 3, 1]],
  );
  assert.match(bad.findings[0].message, /unknown directive `-- sluice:sideways`/);
});

test('--standalone: lock_timeout is required once per file, BEGIN is allowed but not nested, VALIDATE is judged per transaction', async () => {
  await loadSqlParser();
  const lint = (body: string, standalone: boolean) => {
    const m = loadMigrationFile('/m/001_x.sql', `-- sluice:expand\n${body}\n`, 'postgres');
    return lintMigrations([m], { engine: 'postgres', standalone }).findings.map((f) => `${f.line}:${f.rule}`);
  };
  assert.deepEqual(lint('ALTER TABLE t ADD COLUMN a text;\nALTER TABLE t ADD COLUMN b text;', true), ['2:require-lock-timeout']);
  assert.deepEqual(lint('ALTER TABLE t ADD COLUMN a text;', false), []);
  assert.deepEqual(lint("SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN a text;", true), []);
  const fkThenValidate = 'ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT f;';
  assert.deepEqual(lint(`SET lock_timeout = '2s';\n${fkThenValidate}`, true), [], 'psql autocommits each statement');
  assert.deepEqual(lint(`SET lock_timeout = '2s';\nBEGIN;\n${fkThenValidate}\nCOMMIT;`, true), ['5:validate-in-same-transaction']);
  assert.deepEqual(lint(`SET lock_timeout = '2s';\nBEGIN;\nBEGIN;\nCOMMIT;`, true), ['4:transaction-control']);
  assert.deepEqual(lint(fkThenValidate, false), ['3:validate-in-same-transaction'], 'sluice runs the section as one transaction');
});

test('waivers: `-- sluice:allow` removes a lock finding, not an impossible one; unknown ids warn', async () => {
  await loadSqlParser();
  const lint = (body: string) => {
    const m = loadMigrationFile('/m/001_x.sql', `-- sluice:expand\n${body}\n`, 'postgres');
    return lintMigrations([m], { engine: 'postgres' }).findings.map((f) => `${f.rule}:${f.severity}`);
  };
  assert.deepEqual(lint('CREATE INDEX i ON t (a);'), ['require-concurrent-index:error']);
  assert.deepEqual(lint('-- sluice:allow require-concurrent-index\nCREATE INDEX i ON t (a);'), []);
  assert.deepEqual(lint('-- sluice:allow drop-column\nALTER TABLE t DROP COLUMN a;'), [], 'a column the old version never used');
  assert.deepEqual(lint('-- sluice:allow requre-concurrent-index\nCREATE INDEX i ON t (a);'), ['unknown-allow:warning', 'require-concurrent-index:error']);
});

test('formatLint: one `file:line:col rule — message; fix: …` line per finding and a summary; json is the report', async () => {
  const report = await lintFolder(join(FIXTURES, 'postgres'), 'postgres');
  const lines = formatLint(report, 'text').split('\n');
  assert.equal(lines.length, report.findings.length + 1);
  for (const [i, f] of report.findings.entries()) {
    assert.ok(lines[i].startsWith(`${f.file}:${f.line}:${f.col} ${f.rule}${f.severity === 'warning' ? ' (warning)' : ''} — `), lines[i]);
    assert.ok(lines[i].endsWith(`; fix: ${f.fix}`), lines[i]);
  }
  assert.match(lines.at(-1) ?? '', new RegExp(`^${report.statements.length} statements \\(.*\\): ${report.errors} errors, ${report.warnings} warnings$`));
  assert.deepEqual(JSON.parse(formatLint(report, 'json')), report);
});

test('sluice db lint: exit 1 on errors, 0 when clean or warnings only, 2 on bad usage; --format json', async () => {
  const lines: string[] = [];
  const out = (s: string) => lines.push(s);
  assert.equal(await dbLint([join(FIXTURES, 'postgres')], out), 1);
  assert.match(lines.join('\n'), /003_breaking\.sql:2:1 drop-column — /);
  const clean = mkdtempSync(join(tmpdir(), 'sluice-lint-'));
  writeFileSync(join(clean, '001_add.sql'), '-- sluice:expand\nALTER TABLE t ADD COLUMN a text;\nUPDATE t SET a = 1;\n');
  lines.length = 0;
  assert.equal(await dbLint([clean, '--format', 'json'], out), 0, 'a warning only');
  const report = JSON.parse(lines.join('\n')) as LintReport;
  assert.deepEqual([report.errors, report.warnings, report.findings[0].rule], [0, 1, 'backfill-outside-migrate']);
  lines.length = 0;
  assert.equal(await dbLint([join(FIXTURES, 'sqlite'), '--engine', 'sqlite'], out), 1);
  assert.equal(await dbLint([clean, '--engine', 'mysql'], out), 2);
  assert.equal(await dbLint([clean, '--nope'], out), 2);
  lines.length = 0;
  assert.equal(await dbLint([join(FIXTURES, 'no-such-folder')], out), 1);
  assert.match(lines[0], /no-such-folder:1:1 load — migrations folder not found; fix: create it/);
});

test('every rule is documented with a fix and, where squawk has one, its name', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/migrations-lint.md', import.meta.url)), 'utf8');
  for (const r of RULES) {
    assert.ok(r.fix && r.catches, r.id);
    assert.ok(doc.includes(`\`${r.id}\``), `docs/migrations-lint.md lists ${r.id}`);
    if (r.squawk) assert.ok(doc.includes(r.squawk), `docs/migrations-lint.md names squawk's ${r.squawk}`);
  }
});

// ---- property test ----

const TABLES = ['users', 'orders', '"Quoted Table"', 'app.events'];
const COLS = ['a', 'email', 'created_at', '"Odd Col"'];
const pgStatement = fc.oneof(
  fc.constantFrom(
    'CREATE TABLE T (id bigint PRIMARY KEY, C text NOT NULL)',
    'CREATE TABLE T (id serial PRIMARY KEY, C char(3) REFERENCES users (id))',
    'ALTER TABLE T ADD COLUMN C text',
    'ALTER TABLE T ADD COLUMN C text NOT NULL',
    "ALTER TABLE T ADD COLUMN C jsonb DEFAULT '{}'::jsonb",
    'ALTER TABLE T ADD COLUMN C uuid DEFAULT gen_random_uuid()',
    'ALTER TABLE T ADD COLUMN C timestamptz NOT NULL DEFAULT now()',
    'ALTER TABLE T ADD COLUMN C bigserial',
    'ALTER TABLE T ADD COLUMN C int GENERATED ALWAYS AS IDENTITY',
    'ALTER TABLE T ADD COLUMN C text DEFAULT f(1)',
    'ALTER TABLE T DROP COLUMN C',
    'ALTER TABLE T RENAME COLUMN C TO c2',
    'ALTER TABLE T RENAME TO t2',
    'ALTER TABLE T ALTER COLUMN C TYPE bigint',
    'ALTER TABLE T ALTER COLUMN C SET NOT NULL',
    'ALTER TABLE T ALTER COLUMN C DROP NOT NULL',
    'ALTER TABLE T ADD CONSTRAINT k FOREIGN KEY (C) REFERENCES users (id)',
    'ALTER TABLE T ADD CONSTRAINT k FOREIGN KEY (C) REFERENCES users (id) NOT VALID',
    'ALTER TABLE T ADD CONSTRAINT k CHECK (C IS NOT NULL) NOT VALID',
    'ALTER TABLE T VALIDATE CONSTRAINT k',
    'ALTER TABLE T ADD CONSTRAINT u UNIQUE (C)',
    'ALTER TABLE T ADD PRIMARY KEY (C)',
    'CREATE INDEX i ON T (C)',
    'CREATE INDEX CONCURRENTLY i ON T (C)',
    'DROP INDEX i',
    'DROP INDEX CONCURRENTLY i',
    'DROP TABLE T',
    'DROP VIEW v',
    'UPDATE T SET C = 1',
    'DELETE FROM T WHERE C IS NULL',
    'INSERT INTO T (C) VALUES (1)',
    'INSERT INTO T (C) SELECT C FROM users',
    'BEGIN',
    'COMMIT',
    'ROLLBACK',
    'SAVEPOINT s',
    "SET lock_timeout = '1s'",
    'VACUUM T',
    'CREATE VIEW v AS SELECT C FROM T',
    'SELECT 1',
  ),
);
const sqliteStatement = fc.constantFrom(
  'CREATE TABLE T (id INTEGER PRIMARY KEY, C TEXT NOT NULL)',
  'ALTER TABLE T ADD COLUMN C TEXT',
  'ALTER TABLE T ADD COLUMN C TEXT NOT NULL',
  "ALTER TABLE T ADD COLUMN C TEXT NOT NULL DEFAULT 'x'",
  'ALTER TABLE T ADD COLUMN C TEXT DEFAULT CURRENT_TIMESTAMP',
  'ALTER TABLE T ADD COLUMN C TEXT UNIQUE',
  'ALTER TABLE T DROP COLUMN C',
  'ALTER TABLE T RENAME COLUMN C TO c2',
  'ALTER TABLE T RENAME TO t2',
  'ALTER TABLE T ALTER COLUMN C TYPE INTEGER',
  'DROP TABLE T',
  'DROP VIEW v',
  'CREATE INDEX i ON T (C)',
  "UPDATE T SET C = 'a;b'",
  'DELETE FROM T',
  'INSERT INTO T (C) SELECT C FROM users',
  'BEGIN',
  'COMMIT',
  'CREATE TRIGGER tr AFTER INSERT ON T BEGIN UPDATE T SET C = 1; END',
);
const ruleIds = RULES.map((r) => r.id);
const item = (stmt: fc.Arbitrary<string>) =>
  fc.record({
    sql: stmt,
    table: fc.constantFrom(...TABLES),
    col: fc.constantFrom(...COLS),
    allow: fc.option(fc.oneof(fc.constantFrom(...ruleIds), fc.constantFrom('made-up-rule', 'x')), { nil: undefined }),
    noTx: fc.boolean(),
    leading: fc.constantFrom('', '  ', '\n', '/* c */ ', '-- note\n', '\t'),
    sameLine: fc.boolean(),
  });
const file = (stmt: fc.Arbitrary<string>) =>
  fc.record({
    sections: fc.subarray(['expand', 'migrate', 'contract'] as MigrationPhase[], { minLength: 1 }),
    items: fc.array(fc.array(item(stmt), { maxLength: 8 }), { minLength: 3, maxLength: 3 }),
    standalone: fc.boolean(),
  });

type Item = { sql: string; table: string; col: string; allow?: string; noTx: boolean; leading: string; sameLine: boolean };

function build(f: { sections: MigrationPhase[]; items: Item[][] }): { text: string; firstWords: string[] } {
  let text = '';
  const firstWords: string[] = [];
  f.sections.forEach((phase, i) => {
    text += `-- sluice:${phase}\n`;
    for (const it of f.items[i]) {
      if (it.allow) text += `-- sluice:allow ${it.allow}\n`;
      if (it.noTx) text += '-- sluice:no-transaction\n';
      const sql = it.sql.replace(/\bT\b/g, it.table).replace(/\bC\b/g, it.col);
      text += `${it.leading}${sql};${it.sameLine ? ' ' : '\n'}`;
      firstWords.push(sql.split(/\s+/)[0]);
    }
    text += '\n';
  });
  return { text, firstWords };
}

for (const engine of ['postgres', 'sqlite'] as DatabaseEngine[]) {
  test(`${engine} property: random files never make the linter throw; findings sit on statements' first tokens; severity and class agree (seed ${SEED})`, async () => {
    await loadSqlParser();
    console.log(`migrations-lint ${engine} property seed ${SEED} (SLUICE_FUZZ_SEED to replay)`);
    fc.assert(
      fc.property(fc.array(file(engine === 'postgres' ? pgStatement : sqliteStatement), { minLength: 1, maxLength: 3 }), (files) => {
        const built = files.map(build);
        const migrations = built.map((b, i) => loadMigrationFile(`/m/00${i}_f.sql`, b.text, engine));
        const standalone = files[0].standalone;
        const report = lintMigrations(migrations, { engine, standalone });
        const byFile = new Map(migrations.map((m, i) => [m.file, { text: m.text, words: built[i].firstWords }]));
        assert.equal(
          report.statements.length,
          built.reduce((n, b) => n + b.firstWords.length, 0),
        );
        for (const s of report.statements) {
          const { text } = byFile.get(s.file) ?? assert.fail('statement of an unknown file');
          const at = offsetOf(text, s.line, s.col);
          assert.ok(/^[A-Za-z]/.test(text.slice(at)), `${s.file}:${s.line}:${s.col} is not at a token: ${JSON.stringify(text.slice(at, at + 20))}`);
          assert.ok(s.summary.length <= 80);
        }
        // Statements appear in file order with the generated first words.
        for (const [file, { text, words }] of byFile) {
          const got = report.statements.filter((s) => s.file === file).map((s) => text.slice(offsetOf(text, s.line, s.col)).split(/[\s;]+/)[0]);
          assert.deepEqual(got, words);
        }
        const starts = new Set(report.statements.map((s) => `${s.file}:${s.line}:${s.col}`));
        for (const f of report.findings) {
          assert.ok(starts.has(`${f.file}:${f.line}:${f.col}`), `finding ${f.rule} at ${f.line}:${f.col} is not at a statement`);
          const info = RULE_BY_ID.get(f.rule);
          assert.ok(info, `unknown rule ${f.rule}`);
          assert.equal(f.severity, info.severity, f.rule);
          assert.ok(f.message && f.fix);
          const st = report.statements.find((s) => `${s.file}:${s.line}:${s.col}` === `${f.file}:${f.line}:${f.col}`);
          assert.ok(st);
          assert.equal(f.phase, st.phase);
          if (info.kind === 'contract') assert.notEqual(st.phase, 'contract', 'contract rules are silent in the contract section');
          const c = classOf(f.rule, st.phase);
          if (c) assert.ok(CLASS_RANK[st.class] >= CLASS_RANK[c], `${f.rule} (${c}) on a statement classed ${st.class}`);
          if (f.severity === 'error' && f.rule !== 'load' && f.rule !== 'syntax') assert.notEqual(st.class, 'expand', `error ${f.rule} on an expand statement`);
        }
        assert.equal(report.errors, report.findings.filter((f) => f.severity === 'error').length);
        assert.equal(report.warnings, report.findings.length - report.errors);
        assert.deepEqual(JSON.parse(formatLint(report, 'json')), report);
        assert.equal(formatLint(report, 'text').split('\n').length, report.findings.length + 1);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
}

test(`property: lintFolder never throws on arbitrary file text; a broken file is one load/syntax finding inside it (seed ${SEED})`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-lint-fuzz-'));
  const fragment = fc.oneof(
    fc.constantFrom(
      '-- sluice:expand\n',
      '-- sluice:migrate\n',
      '-- sluice:contract\n',
      '-- sluice:batch key=id\n',
      '-- sluice:allow x\n',
      '-- sluice:no-transaction\n',
    ),
    fc.constantFrom(
      'ALTER TABLE t ADD COLUMN a text;\n',
      'UPDATE t SET a = 1 WHERE id >= $1 AND id < $2;\n',
      "SELECT 'é;', $$;$$;\n",
      'CREATE INDEX i ON t (a);\n',
      '/* x */',
      ';',
      '\n',
    ),
    fc.string({ maxLength: 20 }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(fragment, { maxLength: 12 }), fc.constantFrom<DatabaseEngine>('postgres', 'sqlite'), async (parts, engine) => {
      const text = parts.join('');
      const file = join(dir, '001_fuzz.sql');
      writeFileSync(file, text);
      const report = await lintFolder(dir, engine);
      const lines = text.split('\n');
      for (const f of report.findings) {
        assert.ok(f.line >= 1 && f.line <= lines.length, `${f.rule} at line ${f.line} of ${lines.length}`);
        assert.ok(f.col >= 1 && f.col <= lines[f.line - 1].length + 1, `${f.rule} at ${f.line}:${f.col}`);
      }
      const broken = report.findings.filter((f) => f.rule === 'load' || f.rule === 'syntax');
      assert.ok(broken.length <= 1);
      if (broken.length === 1) assert.equal(report.statements.length, 0, 'a broken file contributes no statements');
      assert.deepEqual(JSON.parse(formatLint(report, 'json')), report);
    }),
    { seed: SEED, numRuns: Math.min(RUNS, 200) },
  );
});

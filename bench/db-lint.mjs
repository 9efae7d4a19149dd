// `sluice db lint` speed (issue 14: lint of 1,000 statements < 1 s): a generated mix of
// DDL and DML across 20 files, written to a temp folder, then lintFolder (read + parse with
// PostgreSQL's parser + sections + rules) timed cold (first call loads the WASM parser) and
// warm (median of 10). Also the SQLite text rules on the same mix. `npm run bench:db-lint`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lintFolder } from '../dist/src/migrations/lint/index.js';

const STATEMENTS = Number(process.env.STATEMENTS ?? 1000);
const FILES = 20;
const PG = [
  (t, i) => `ALTER TABLE ${t} ADD COLUMN c${i} text`,
  (t, i) => `ALTER TABLE ${t} ADD COLUMN c${i} jsonb NOT NULL DEFAULT '{}'::jsonb`,
  (t, i) => `ALTER TABLE ${t} ADD COLUMN c${i} uuid DEFAULT gen_random_uuid()`,
  (t, i) => `CREATE TABLE ${t}_${i} (id bigint PRIMARY KEY, owner bigint NOT NULL REFERENCES ${t} (id), note text)`,
  (t, i) => `CREATE INDEX CONCURRENTLY ${t}_c${i}_idx ON ${t} (c${i})`,
  (t, i) => `CREATE INDEX ${t}_d${i}_idx ON ${t} (c${i})`,
  (t, i) => `ALTER TABLE ${t} ADD CONSTRAINT ${t}_fk${i} FOREIGN KEY (c${i}) REFERENCES other (id) NOT VALID`,
  (t, i) => `ALTER TABLE ${t} ADD CONSTRAINT ${t}_ck${i} CHECK (c${i} IS NOT NULL) NOT VALID`,
  (t, i) => `ALTER TABLE ${t} ALTER COLUMN c${i} TYPE bigint`,
  (t, i) => `INSERT INTO ${t} (id, c${i}) VALUES (${i}, 'x'), (${i + 1}, 'y')`,
];
const MIGRATE = (t, i) => `-- sluice:batch key=id size=1000\nUPDATE ${t} SET c${i} = lower(c${i}) WHERE id >= $1 AND id < $2`;
const CONTRACT = [(t, i) => `ALTER TABLE ${t} DROP COLUMN old${i}`, (t, i) => `ALTER TABLE ${t} ALTER COLUMN c${i} SET NOT NULL`];
const SQLITE = [
  (t, i) => `ALTER TABLE ${t} ADD COLUMN c${i} TEXT`,
  (t, i) => `CREATE TABLE ${t}_${i} (id INTEGER PRIMARY KEY, note TEXT NOT NULL)`,
  (t, i) => `CREATE INDEX ${t}_c${i}_idx ON ${t} (c${i})`,
  (t, i) => `INSERT INTO ${t} (id, c${i}) VALUES (${i}, 'x;y')`,
];

function write(engine) {
  const dir = mkdtempSync(join(tmpdir(), `sluice-lint-bench-${engine}-`));
  const per = STATEMENTS / FILES;
  let n = 0;
  for (let f = 0; f < FILES; f++) {
    const t = `t${f}`;
    const expand = [];
    const migrate = [];
    const contract = [];
    for (let i = 0; i < per; i++, n++) {
      if (engine === 'postgres') {
        const k = n % 14;
        if (k < 10) expand.push(PG[k](t, n));
        else if (k < 12) migrate.push(MIGRATE(t, n));
        else contract.push(CONTRACT[k - 12](t, n));
      } else {
        const k = n % 6;
        if (k < 4) expand.push(SQLITE[k](t, n));
        else if (k === 4) migrate.push(MIGRATE(t, n));
        else contract.push(`ALTER TABLE ${t} DROP COLUMN old${n}`);
      }
    }
    const section = (name, s) => (s.length ? `-- sluice:${name}\n${s.map((x) => `${x};`).join('\n')}\n` : '');
    writeFileSync(join(dir, `${String(f).padStart(3, '0')}_m.sql`), section('expand', expand) + section('migrate', migrate) + section('contract', contract));
  }
  return dir;
}

const rows = [];
for (const engine of ['postgres', 'sqlite']) {
  const dir = write(engine);
  let t0 = performance.now();
  let report = await lintFolder(dir, engine);
  const cold = performance.now() - t0;
  const warm = [];
  for (let i = 0; i < 10; i++) {
    t0 = performance.now();
    report = await lintFolder(dir, engine);
    warm.push(performance.now() - t0);
  }
  warm.sort((a, b) => a - b);
  const med = warm[5];
  if (report.statements.length !== STATEMENTS) throw new Error(`${engine}: linted ${report.statements.length} statements, wrote ${STATEMENTS}`);
  rows.push([
    engine,
    String(report.statements.length),
    String(FILES),
    cold.toFixed(1),
    med.toFixed(1),
    Math.round(STATEMENTS / (med / 1000)).toLocaleString('en-US'),
    String(report.findings.length),
    med < 1000 && cold < 1000 ? 'yes' : 'NO',
  ]);
  rmSync(dir, { recursive: true, force: true });
}

const head = ['engine', 'statements', 'files', 'cold ms (incl. WASM load)', 'warm ms (median of 10)', 'statements/s (warm)', 'findings', '< 1 s'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
console.log(`sluice db lint: load + lint of ${STATEMENTS} generated statements (node ${process.version}, ${new Date().toISOString().slice(0, 10)})`);
console.log(line(head));
for (const r of rows) console.log(line(r));

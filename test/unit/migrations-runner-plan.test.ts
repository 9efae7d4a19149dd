import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MigrationPhase } from '../../src/core/database.js';
import { checksumProblem, type HistoryRow } from '../../src/migrations/history.js';
import type { LoadedMigration, LoadedStatement } from '../../src/migrations/load.js';
import { advisoryKey } from '../../src/migrations/locks.js';
import { firstLine, PlanError, planPhase, segmentsOf } from '../../src/migrations/plan.js';
import { backoffMs } from '../../src/migrations/runner.js';
import { redactValues } from '../../src/migrations/tool.js';

const st = (phase: MigrationPhase, sql: string, extra: Partial<LoadedStatement> = {}): LoadedStatement => ({
  phase,
  sql,
  line: 1,
  col: 1,
  noTransaction: false,
  ...extra,
});
const mig = (id: string, statements: LoadedStatement[]): LoadedMigration => ({ id, file: `/m/${id}.sql`, checksum: `sum-${id}`, text: '', statements });
const row = (id: string, phases: HistoryRow['phases'], pending?: HistoryRow['pending']): HistoryRow => ({
  id,
  checksum: `sum-${id}`,
  phases,
  ...(pending ? { pending } : {}),
});

test('segments: consecutive statements share a transaction; a no-transaction statement stands alone', () => {
  const s = [
    st('expand', 'a'),
    st('expand', 'b'),
    st('expand', 'c', { noTransaction: true }),
    st('expand', 'd'),
    st('expand', 'e', { noTransaction: true }),
    st('expand', 'f', { noTransaction: true }),
  ];
  assert.deepEqual(
    segmentsOf(s).map((g) => [g.transaction, g.statements.map((x) => x.statement.sql)]),
    [
      [true, ['a', 'b']],
      [false, ['c']],
      [true, ['d']],
      [false, ['e']],
      [false, ['f']],
    ],
  );
  assert.deepEqual(
    segmentsOf(s, 3).map((g) => g.statements.map((x) => x.index)),
    [[3], [4], [5]],
  );
});

test('plan: skips done migrations, resumes partial ones, leaves batched migrate to the backfill, refuses phases out of order', () => {
  const ms = [
    mig('001_a', [st('expand', 'x'), st('contract', 'y')]),
    mig('002_b', [st('expand', 'x1'), st('expand', 'x2', { noTransaction: true }), st('migrate', 'u', { batch: { table: 't', key: 'id' } })]),
    mig('003_c', [st('migrate', 'v')]),
  ];
  const applied = [row('001_a', { expand: { revision: 1, at: 1 } }), row('002_b', {}, { phase: 'expand', done: 1 })];
  const e = planPhase(ms, applied, 'expand');
  assert.deepEqual(e.skipped, ['001_a (r1)']);
  assert.deepEqual(
    e.pending.map((p) => [p.migration.id, p.resumeAt, p.segments.length]),
    [
      ['002_b', 1, 1],
      ['003_c', 0, 0],
    ],
  );
  assert.throws(
    () => planPhase(ms, applied, 'migrate'),
    (err: Error) => err instanceof PlanError && /002_b has not been expanded/.test(err.message),
  );
  const all = ms.map((m) => row(m.id, { expand: { revision: 2, at: 1 } }));
  const m = planPhase(ms, all, 'migrate');
  assert.deepEqual(m.forBackfill, ['002_b']);
  assert.deepEqual(
    m.pending.map((p) => p.migration.id),
    ['001_a', '003_c'],
  );
  assert.throws(() => planPhase(ms, all, 'contract'), /002_b has not finished its migrate phase \(backfill\) — run migrate first/);
});

test('checksums: a changed applied file names the file and what to do; unrecorded files are fine', () => {
  const ms = [mig('001_a', []), mig('002_b', []), mig('003_new', [])];
  const applied = [row('001_a', { expand: { revision: 1, at: 1 } }), { ...row('002_b', { expand: { revision: 1, at: 1 } }), checksum: 'abcdef0123456789' }];
  assert.match(
    checksumProblem(ms, applied) ?? '',
    /^applied migration 002_b changed since it ran \(expand; checksum abcdef012345… recorded, sum-002_b… now in 002_b\.sql\) — restore the file or add a new migration; nothing was applied$/,
  );
  assert.equal(checksumProblem(ms, applied.slice(0, 1)), undefined);
});

test('advisory key: stable, signed 64-bit, per database and name', () => {
  const k = advisoryKey('shop', 'migrations');
  assert.equal(k, advisoryKey('shop', 'migrations'));
  assert.notEqual(k, advisoryKey('shop2', 'migrations'));
  assert.notEqual(k, advisoryKey('shop', 'other'));
  const n = BigInt(k);
  assert.ok(n >= -(2n ** 63n) && n < 2n ** 63n);
});

test('backoff doubles with ±20% jitter', () => {
  for (let i = 0; i < 200; i++) {
    const [a, b, c] = [1, 2, 3].map((n) => backoffMs(100, n));
    assert.ok(a >= 80 && a <= 120 && b >= 160 && b <= 240 && c >= 320 && c <= 480, `${a} ${b} ${c}`);
  }
});

test('tool output: connection values and their passwords are redacted', () => {
  const env = { DATABASE_URL: 'postgres://app:s3cr%21t@db:5432/shop' };
  assert.equal(redactValues('using postgres://app:s3cr%21t@db:5432/shop now', env), 'using postgres://app@db:5432/shop now');
  assert.equal(redactValues('password was s3cr!t', env), 'password was ***');
});

test('first line of a statement, shortened', () => {
  assert.equal(firstLine('ALTER TABLE people\n  ADD COLUMN x int'), 'ALTER TABLE people …');
  assert.equal(firstLine('SELECT 1'), 'SELECT 1');
  assert.equal(firstLine(`SELECT ${'x'.repeat(100)}`, 20), 'SELECT xxxxxxxxxxxx…');
});

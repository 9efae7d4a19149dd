// Compiling .yaml operations (src/migrations/operations.ts): statements per phase, their
// positions, that PostgreSQL's parser reads them (the SQL and the PL/pgSQL bodies), and
// one-line errors at the right place. Running them: test/integration/migrations-operations.test.ts.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { before, describe, test } from 'node:test';
import { loadMigrationFile } from '../../src/migrations/load.js';
import { MigrationError } from '../../src/migrations/errors.js';
import { compileOperations } from '../../src/migrations/operations.js';
import { syncName } from '../../src/migrations/operations/postgres.js';
import { loadSqlParser, parseStatements } from '../../src/migrations/sql/parse.js';

const require = createRequire(import.meta.url);
const plpgsql = require('libpg-query') as { loadModule(): Promise<void>; parsePlPgSQLSync(sql: string): unknown };

const EXAMPLE = `# full name for v2, email renamed, cents
operations:
  - replaceColumns:
      table: people
      key: id
      from: [first_name, last_name]
      to: { name: full_name, type: text }
      up: "first_name || ' ' || last_name"
      down:
        first_name: "split_part(full_name, ' ', 1)"
        last_name: "substr(full_name, length(split_part(full_name, ' ', 1)) + 2)"
  - renameColumn: { table: people, from: email, to: contact_email }
  - changeType: { table: app.orders, column: amount, to: amount_cents, type: bigint, notNull: true, batchSize: 500, up: "(amount * 100)::bigint", down: { amount: "amount_cents / 100.0" } }
`;
const FILE = '/srv/migrations/002_full_name.yaml';

function compileError(text: string, engine: 'postgres' | 'sqlite' = 'postgres'): MigrationError {
  try {
    compileOperations(FILE, text, engine);
  } catch (err) {
    assert.ok(err instanceof MigrationError, `not a MigrationError: ${err}`);
    assert.doesNotMatch(err.message, /\n/, 'errors are one line');
    assert.match(err.message, / — /, 'errors say what to do');
    return err;
  }
  assert.fail('compiled without an error');
}

const ops = (body: string) => `operations:\n  - ${body}\n`;

describe('compileOperations', () => {
  before(async () => {
    await loadSqlParser();
    await plpgsql.loadModule();
  });

  test('the three operations compile to expand, migrate, contract in that order, each statement at its operation', () => {
    const s = compileOperations(FILE, EXAMPLE, 'postgres');
    const phases = s.map((x) => x.phase);
    assert.deepEqual(phases, [...Array(9).fill('expand'), ...Array(3).fill('migrate'), ...Array(13).fill('contract')]);
    const summary = s.map((x) => `${x.phase} ${x.line}:${x.col} ${x.type}`);
    assert.deepEqual(summary.slice(0, 9), [
      'expand 3:5 AlterTableStmt',
      'expand 3:5 CreateFunctionStmt',
      'expand 3:5 CreateTrigStmt',
      'expand 12:5 DoStmt',
      'expand 12:5 CreateFunctionStmt',
      'expand 12:5 CreateTrigStmt',
      'expand 13:5 AlterTableStmt',
      'expand 13:5 CreateFunctionStmt',
      'expand 13:5 CreateTrigStmt',
    ]);
    assert.equal(s[0].sql, 'ALTER TABLE "people" ADD COLUMN "full_name" text');
    assert.equal(
      s[2].sql,
      'CREATE TRIGGER "sluice_people_002_full_name_sync" BEFORE INSERT OR UPDATE ON "people" FOR EACH ROW EXECUTE FUNCTION "sluice_people_002_full_name_sync"()',
    );
    // The second operation on `people` gets a trigger of its own.
    assert.match(s[5].sql, /CREATE TRIGGER "sluice_people_002_full_name_2_sync"/);
    assert.match(s[6].sql, /^ALTER TABLE "app"\."orders" ADD COLUMN "amount_cents" bigint$/);
    assert.match(s[7].sql, /^CREATE OR REPLACE FUNCTION "app"\."sluice_orders_002_full_name_sync"\(\) RETURNS trigger/);

    const migrate = s.filter((x) => x.phase === 'migrate');
    assert.deepEqual(
      migrate.map((x) => [x.sql, x.batch]),
      [
        [
          `UPDATE "people" SET "full_name" = (first_name || ' ' || last_name) WHERE "id" >= $1 AND "id" < $2 AND "full_name" IS NULL`,
          { table: 'people', key: 'id' },
        ],
        ['UPDATE "people" SET "contact_email" = ("email") WHERE "id" >= $1 AND "id" < $2 AND "contact_email" IS NULL', { table: 'people', key: 'id' }],
        [
          'UPDATE "app"."orders" SET "amount_cents" = ((amount * 100)::bigint) WHERE "id" >= $1 AND "id" < $2 AND "amount_cents" IS NULL',
          { table: 'app.orders', key: 'id', size: 500 },
        ],
      ],
    );
    const contract = s.filter((x) => x.phase === 'contract').map((x) => x.sql);
    assert.deepEqual(contract, [
      'DROP TRIGGER IF EXISTS "sluice_people_002_full_name_sync" ON "people"',
      'DROP FUNCTION IF EXISTS "sluice_people_002_full_name_sync"()',
      'ALTER TABLE "people" DROP COLUMN "first_name", DROP COLUMN "last_name"',
      'DROP TRIGGER IF EXISTS "sluice_people_002_full_name_2_sync" ON "people"',
      'DROP FUNCTION IF EXISTS "sluice_people_002_full_name_2_sync"()',
      'ALTER TABLE "people" DROP COLUMN "email"',
      'DROP TRIGGER IF EXISTS "sluice_orders_002_full_name_sync" ON "app"."orders"',
      'DROP FUNCTION IF EXISTS "app"."sluice_orders_002_full_name_sync"()',
      'ALTER TABLE "app"."orders" ADD CONSTRAINT "sluice_orders_002_full_name_nn" CHECK ("amount_cents" IS NOT NULL) NOT VALID',
      'ALTER TABLE "app"."orders" VALIDATE CONSTRAINT "sluice_orders_002_full_name_nn"',
      'ALTER TABLE "app"."orders" ALTER COLUMN "amount_cents" SET NOT NULL',
      'ALTER TABLE "app"."orders" DROP CONSTRAINT "sluice_orders_002_full_name_nn"',
      'ALTER TABLE "app"."orders" DROP COLUMN "amount"',
    ]);
    assert.deepEqual(
      s.filter((x) => x.phase === 'contract').map((x) => x.line),
      [3, 3, 3, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13],
    );
    assert.ok(s.every((x) => x.noTransaction === false));
  });

  test('every statement passes PostgreSQL parser alone, and every trigger body passes the PL/pgSQL parser', () => {
    const s = compileOperations(FILE, EXAMPLE, 'postgres');
    for (const x of s) {
      const parsed = parseStatements(x.sql);
      assert.equal(parsed.length, 1, x.sql);
      assert.equal(parsed[0].type, x.type);
      assert.deepEqual(parsed[0].node, x.node);
    }
    const bodies = s.filter((x) => x.type === 'CreateFunctionStmt' || x.type === 'DoStmt');
    assert.equal(bodies.length, 4);
    for (const b of bodies) assert.doesNotThrow(() => plpgsql.parsePlPgSQLSync(b.sql), b.sql);
  });

  test('the loader compiles .yaml files through it: positions, checksum, node and type', () => {
    const m = loadMigrationFile(FILE, EXAMPLE, 'postgres');
    assert.equal(m.id, '002_full_name');
    assert.equal(m.statements.length, 25);
    assert.ok(m.statements.every((x) => typeof x.type === 'string' && x.node));
  });

  test('the trigger fills the other shape: up on INSERT without the new column, down otherwise, the changed side drives on UPDATE', () => {
    const fn = compileOperations(FILE, EXAMPLE, 'postgres')[1].sql;
    assert.match(
      fn,
      /IF NEW\."full_name" IS NULL THEN\n.*\n {6}NEW\."full_name" := \(SELECT \(first_name \|\| ' ' \|\| last_name\) FROM \(SELECT NEW\.\*\) AS sluice_row\);/,
    );
    assert.match(
      fn,
      /SELECT \(split_part\(full_name, ' ', 1\)\), \(substr\(full_name, length\(split_part\(full_name, ' ', 1\)\) \+ 2\)\) INTO NEW\."first_name", NEW\."last_name"/,
    );
    assert.match(fn, /ELSIF \(NEW\."first_name", NEW\."last_name"\) IS DISTINCT FROM \(OLD\."first_name", OLD\."last_name"\) THEN/);
  });

  test('changeType without up casts the old column', () => {
    const s = compileOperations(FILE, ops('changeType: { table: t, column: n, to: n2, type: bigint, down: "n2::int" }'), 'postgres');
    assert.equal(s.find((x) => x.phase === 'migrate')?.sql, 'UPDATE "t" SET "n2" = ("n"::bigint) WHERE "id" >= $1 AND "id" < $2 AND "n2" IS NULL');
  });

  test('trigger names stay within 63 characters and differ per migration', () => {
    assert.equal(syncName('people', '002_full_name', 1), 'sluice_people_002_full_name_sync');
    const long = syncName('a_very_long_table_name_for_people_records', '017_a_very_long_migration_name_indeed', 1);
    assert.ok(long.length <= 63, long);
    assert.match(long, /^sluice_a_very_long_table_name_for_people_records_.*_[0-9a-f]{8}_sync$/);
    assert.notEqual(long, syncName('a_very_long_table_name_for_people_records', '017_a_very_long_migration_name_indeed', 2));
  });

  // [name, file, message, [line, column number or the text the error points at on that line]]
  const cases: [string, string, RegExp, [number, number | string]][] = [
    [
      'unknown operation',
      ops('dropColumn: { table: t, column: c }'),
      /unknown operation `dropColumn` — use renameColumn, changeType or replaceColumns/,
      [2, 5],
    ],
    ['missing field', ops('renameColumn: { table: people, from: email }'), /`renameColumn` needs `to` — add `to: contact_email`/, [2, 5]],
    ['unknown field', ops('renameColumn: { table: people, from: email, to: e, colour: red }'), /has no field `colour`/, [2, 'colour']],
    ['bad identifier', ops('renameColumn: { table: people, from: "email; drop table x", to: e }'), /is not a plain column\/table name/, [2, '"email;']],
    ['upper case', ops('renameColumn: { table: People, from: a, to: b }'), /lower case/, [2, 'People']],
    [
      'down not covering every from column',
      `operations:
  - replaceColumns:
      table: people
      from: [first_name, last_name]
      to: { name: full_name, type: text }
      up: "first_name || ' ' || last_name"
      down:
        first_name: "split_part(full_name, ' ', 1)"
`,
      /`down` does not say how to compute last_name — add `last_name: "…"`/,
      [8, 9],
    ],
    [
      'down naming a column not in from',
      ops('changeType: { table: t, column: a, to: b, type: int, down: { c: "b" } }'),
      /`down` names `c`, which is not in `from`/,
      [2, 'c: "b"'],
    ],
    [
      'an expression that smuggles a statement',
      ops('changeType: { table: t, column: a, to: b, type: int, down: "b); DROP TABLE t; SELECT (1" }'),
      /`down.a` is more than one expression/,
      [2, '"b);'],
    ],
    [
      'an expression that does not parse',
      ops('changeType: { table: t, column: a, to: b, type: int, up: "a +", down: "b" }'),
      /`up` is not an SQL expression/,
      [2, '"a +"'],
    ],
    ['a type that is not a type', ops('changeType: { table: t, column: a, to: b, type: "int; drop", down: "b" }'), /is not a type name/, [2, '"int; drop"']],
    [
      'a type PostgreSQL cannot parse',
      ops('changeType: { table: t, column: a, to: b, type: "int int", down: "b" }'),
      /`type: int int` is not a type PostgreSQL can read/,
      [2, '"int int"'],
    ],
    [
      'two operations on one column',
      'operations:\n  - renameColumn: { table: t, from: a, to: b }\n  - renameColumn: { table: t, from: b, to: c }\n',
      /column t\.b is also used by the operation at line 2/,
      [3, 5],
    ],
    ['not a list', 'operations: {}\n', /`operations:` must be a non-empty list/, [1, 13]],
    ['another top-level key', 'operations: []\nversion: 2\n', /unknown top-level key `version`/, [2, 1]],
    ['invalid YAML', 'operations:\n  - renameColumn: { table: t\n', /not valid YAML/, [2, 1]],
  ];
  for (const [name, text, message, [line, at]] of cases) {
    test(`error: ${name}`, () => {
      const err = compileError(text);
      const col = typeof at === 'number' ? at : text.split('\n')[line - 1].indexOf(at) + 1;
      assert.ok(col > 0, `marker ${at} not on line ${line}`);
      assert.match(err.message, message);
      if (name !== 'invalid YAML') assert.deepEqual([err.line, err.col], [line, col], err.message);
      assert.ok(err.message.startsWith(`${FILE}:${err.line}:${err.col}: `));
    });
  }

  test('SQLite: a clear error that the operation needs PostgreSQL, at the operation', () => {
    const err = compileError(EXAMPLE, 'sqlite');
    assert.equal(
      err.message,
      `${FILE}:3:5: \`replaceColumns\` needs PostgreSQL (SQLite's triggers cannot fill a NOT NULL column before its check) — write the SQLite migration as a .sql file`,
    );
  });
});

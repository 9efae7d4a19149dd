import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PostgresAdapter } from '../../src/migrations/db/postgres.js';
import { readApplied } from '../../src/migrations/history.js';
import { loadMigrations } from '../../src/migrations/load.js';
import { precheck } from '../../src/migrations/prechecks.js';
import { applyPhase } from '../../src/migrations/runner.js';
import { migrationFolder, pgClient, settings } from '../helpers/migration-folders.js';
import { freePort } from '../helpers/ports.js';
import { postgresMissing, startPostgres, type TestPostgres } from '../helpers/postgres.js';

const skip = postgresMissing();

describe('migration runner on PostgreSQL', { skip }, () => {
  let server: TestPostgres;
  const cleanups: (() => void | Promise<void>)[] = [];
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await server?.stop();
  });

  /** A fresh database and a client of the test's own on it. */
  async function fresh(name: string) {
    const url = await server.database(name);
    const client = await pgClient(url);
    cleanups.push(() => client.end());
    return { url, db: new PostgresAdapter(url), client };
  }
  function folder(files: Record<string, string>) {
    const f = migrationFolder(files);
    cleanups.push(f.cleanup);
    return f;
  }
  const steps = async (client: Awaited<ReturnType<typeof pgClient>>) =>
    (await client.query<{ what: string }>('SELECT what FROM steps ORDER BY n')).rows.map((r) => r.what);

  test('expand applies in order and records checksum and revision; a re-run skips; contract runs only what is pending', async () => {
    const { db, client } = await fresh('order');
    const f = folder({
      '001_steps.sql': "-- sluice:expand\nCREATE TABLE steps (n serial PRIMARY KEY, what text NOT NULL);\nINSERT INTO steps (what) VALUES ('expand 001');\n",
      '002_people.sql':
        "-- sluice:expand\nINSERT INTO steps (what) VALUES ('expand 002');\nCREATE TABLE people (id bigserial PRIMARY KEY, name text);\n-- sluice:contract\nINSERT INTO steps (what) VALUES ('contract 002');\n",
      '003_email.sql':
        "-- sluice:expand\nALTER TABLE people ADD COLUMN email text;\nINSERT INTO steps (what) VALUES ('expand 003');\n-- sluice:contract\nINSERT INTO steps (what) VALUES ('contract 003');\n",
    });
    const t0 = Date.now();
    let ms = await loadMigrations(f.dir, 'postgres');
    const r1 = await applyPhase(db, ms, 'expand', { ...settings, revision: 1 });
    assert.equal(r1.ok, true, r1.message);
    assert.deepEqual(r1.applied, ['001_steps', '002_people', '003_email']);
    assert.deepEqual(await steps(client), ['expand 001', 'expand 002', 'expand 003']);
    const session = await db.connect();
    cleanups.push(() => session.close());
    const rec = await readApplied(session);
    assert.deepEqual(
      rec.map((a) => [a.id, a.checksum, a.phases.expand?.revision, a.phases.contract]),
      ms.map((m) => [m.id, m.checksum, 1, undefined]),
    );
    for (const a of rec) assert.ok(a.phases.expand && a.phases.expand.at >= t0 - 1000 && a.phases.expand.at <= Date.now());

    const r2 = await applyPhase(db, ms, 'expand', { ...settings, revision: 2 });
    assert.equal(r2.ok, true, r2.message);
    assert.deepEqual(r2.applied, []);
    assert.match(r2.message, /already applied: 001_steps \(r1\)/);
    assert.deepEqual(await steps(client), ['expand 001', 'expand 002', 'expand 003']);
    assert.deepEqual(
      (await readApplied(session)).map((a) => a.phases.expand?.revision),
      [1, 1, 1],
    );

    const c1 = await applyPhase(db, ms, 'contract', { ...settings, revision: 2 });
    assert.equal(c1.ok, true, c1.message);
    assert.deepEqual(c1.applied, ['001_steps', '002_people', '003_email']);

    f.write(
      '004_more.sql',
      "-- sluice:expand\nINSERT INTO steps (what) VALUES ('expand 004');\n-- sluice:contract\nINSERT INTO steps (what) VALUES ('contract 004');\n",
    );
    ms = await loadMigrations(f.dir, 'postgres');
    const early = await applyPhase(db, ms, 'contract', { ...settings, revision: 3 });
    assert.equal(early.ok, false);
    assert.match(early.message, /migration 004_more has not been expanded — run the expand phase first/);
    assert.ok(!(await steps(client)).includes('contract 004'));

    const e3 = await applyPhase(db, ms, 'expand', { ...settings, revision: 3 });
    assert.deepEqual(e3.applied, ['004_more']);
    const c3 = await applyPhase(db, ms, 'contract', { ...settings, revision: 3 });
    assert.equal(c3.ok, true, c3.message);
    assert.deepEqual(c3.applied, ['004_more']);
    assert.deepEqual(await steps(client), ['expand 001', 'expand 002', 'expand 003', 'contract 002', 'contract 003', 'expand 004', 'contract 004']);
    const final = await readApplied(session);
    assert.deepEqual(
      final.map((a) => [a.id, a.phases.expand?.revision, a.phases.contract?.revision]),
      [
        ['001_steps', 1, 2],
        ['002_people', 1, 2],
        ['003_email', 1, 2],
        ['004_more', 3, 3],
      ],
    );
  });

  test('a changed applied file is one clear error and nothing is applied', async () => {
    const { db, client } = await fresh('changed');
    const f = folder({
      '001_steps.sql': '-- sluice:expand\nCREATE TABLE steps (n serial PRIMARY KEY, what text);\n',
      '002_x.sql': "-- sluice:expand\nINSERT INTO steps (what) VALUES ('002');\n",
    });
    assert.equal((await applyPhase(db, await loadMigrations(f.dir, 'postgres'), 'expand', settings)).ok, true);
    f.write('002_x.sql', "-- sluice:expand\nINSERT INTO steps (what) VALUES ('002 edited');\n");
    f.write('003_new.sql', '-- sluice:expand\nCREATE TABLE newer (id int);\n');
    const ms = await loadMigrations(f.dir, 'postgres');
    const r = await applyPhase(db, ms, 'expand', { ...settings, revision: 2 });
    assert.equal(r.ok, false);
    assert.deepEqual(r.applied, []);
    assert.match(
      r.message,
      /^applied migration 002_x changed since it ran \(expand; checksum [0-9a-f]{12}… recorded, [0-9a-f]{12}… now in 002_x\.sql\) — restore the file or add a new migration/,
    );
    assert.equal(r.message.split('\n').length, 1);
    assert.equal((await client.query("SELECT to_regclass('newer') AS t")).rows[0].t, null);
    assert.deepEqual(await steps(client), ['002']);
    // Dry run says the same.
    const d = await applyPhase(db, ms, 'expand', { ...settings, dryRun: true });
    assert.equal(d.ok, false);
    assert.match(d.message, /002_x changed since it ran/);
  });

  test("the playbook's set applies; the concurrent index is built outside a transaction and valid", async () => {
    const { db, client } = await fresh('playbook');
    await client.query(
      "CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL); INSERT INTO customers (email) SELECT 'u' || g || '@x' FROM generate_series(1, 2000) g",
    );
    // The counterfactual: PostgreSQL refuses this statement inside a transaction.
    await client.query('BEGIN');
    await assert.rejects(client.query('CREATE INDEX CONCURRENTLY customers_email_idx ON customers (email)'), /cannot run inside a transaction block/);
    await client.query('ROLLBACK');
    const f = folder({
      '001_playbook.sql': [
        '-- sluice:expand',
        "ALTER TABLE customers ADD COLUMN preferences jsonb NOT NULL DEFAULT '{}'::jsonb;",
        'CREATE INDEX CONCURRENTLY customers_email_idx ON customers (email);',
        'CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id), total numeric NOT NULL DEFAULT 0);',
        'CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id);',
        '-- sluice:migrate',
        `UPDATE customers SET preferences = '{"theme": "light"}' WHERE preferences = '{}';`,
        '-- sluice:contract',
        'ALTER TABLE customers DROP COLUMN IF EXISTS legacy;',
        '',
      ].join('\n'),
    });
    const ms = await loadMigrations(f.dir, 'postgres');
    assert.deepEqual(
      ms[0].statements.filter((s) => s.phase === 'expand').map((s) => s.noTransaction),
      [false, true, false, true],
    );
    const r = await applyPhase(db, ms, 'expand', settings);
    assert.equal(r.ok, true, r.message);
    const idx = await client.query<{ name: string; valid: boolean }>(
      "SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('customers_email_idx', 'orders_customer_idx') ORDER BY 1",
    );
    assert.deepEqual(idx.rows, [
      { name: 'customers_email_idx', valid: true },
      { name: 'orders_customer_idx', valid: true },
    ]);
    const col = await client.query(
      "SELECT column_default, is_nullable FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'preferences'",
    );
    assert.deepEqual(col.rows, [{ column_default: "'{}'::jsonb", is_nullable: 'NO' }]);
    const fk = await client.query("SELECT confrelid::regclass::text AS ref FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'f'");
    assert.deepEqual(fk.rows, [{ ref: 'customers' }]);
    const m = await applyPhase(db, ms, 'migrate', settings);
    assert.equal(m.ok, true, m.message);
    assert.deepEqual(m.applied, ['001_playbook']);
    assert.equal((await client.query(`SELECT count(*)::int AS n FROM customers WHERE preferences->>'theme' = 'light'`)).rows[0].n, 2000);
    const c = await applyPhase(db, ms, 'contract', settings);
    assert.equal(c.ok, true, c.message);
    const s = await db.connect();
    const rec = await readApplied(s);
    await s.close();
    assert.deepEqual(Object.keys(rec[0].phases).sort(), ['contract', 'expand', 'migrate']);
    assert.equal(rec[0].pending, undefined);
  });

  test('a failing statement in expand leaves nothing of its migration and names file:line', async () => {
    const { db, client } = await fresh('failing');
    const f = folder({
      '001_ok.sql': '-- sluice:expand\nCREATE TABLE fine (id int);\n',
      '002_bad.sql': '-- sluice:expand\nCREATE TABLE good_one (id int);\nALTER TABLE nope ADD COLUMN x int;\n',
      '003_after.sql': '-- sluice:expand\nCREATE TABLE after_bad (id int);\n',
    });
    const ms = await loadMigrations(f.dir, 'postgres');
    const r = await applyPhase(db, ms, 'expand', settings);
    assert.equal(r.ok, false);
    assert.deepEqual(r.applied, ['001_ok']);
    assert.match(
      r.message,
      new RegExp(
        `^${join(f.dir, '002_bad.sql').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3:1: ALTER TABLE nope ADD COLUMN x int failed: relation "nope" does not exist`,
      ),
    );
    assert.match(r.message, /nothing of 002_bad was applied \(its transaction rolled back\)/);
    const t = await client.query("SELECT to_regclass('fine')::text AS fine, to_regclass('good_one')::text AS good, to_regclass('after_bad')::text AS later");
    assert.deepEqual(t.rows[0], { fine: 'fine', good: null, later: null });
    const ids = await client.query('SELECT id, expand_revision FROM sluice_migrations ORDER BY id');
    assert.deepEqual(ids.rows, [{ id: '001_ok', expand_revision: 1 }]);
  });

  test('an error inside a multi-line statement points at its line and column', async () => {
    const { db } = await fresh('position');
    const f = folder({ '001_pos.sql': '-- sluice:expand\nCREATE TABLE pos (id int);\nALTER TABLE pos\n  ADD COLUMN y no_such_type;\n' });
    const r = await applyPhase(db, await loadMigrations(f.dir, 'postgres'), 'expand', settings);
    assert.equal(r.ok, false);
    assert.match(r.message, /001_pos\.sql:4:16: ALTER TABLE pos … failed: type "no_such_type" does not exist/);
  });

  test('a statement over statement_timeout: says so and what to change', async () => {
    const { db, client } = await fresh('stmt_timeout');
    const f = folder({ '001_slow.sql': '-- sluice:expand\nCREATE TABLE s (id int);\nSELECT pg_sleep(2);\n' });
    const r = await applyPhase(db, await loadMigrations(f.dir, 'postgres'), 'expand', { ...settings, statementTimeoutMs: 200 });
    assert.equal(r.ok, false);
    assert.match(
      r.message,
      /001_slow\.sql:3:1: SELECT pg_sleep\(2\) ran longer than statement_timeout \(200ms\) — raise database\.statementTimeoutMs or split the statement; nothing of 001_slow was applied/,
    );
    assert.equal((await client.query("SELECT to_regclass('s') AS t")).rows[0].t, null);
  });

  test('dry run prints the ordered plan and changes nothing (no sluice_migrations)', async () => {
    const { db, client } = await fresh('dryrun');
    const f = folder({
      '001_people.sql':
        '-- sluice:expand\nCREATE TABLE people (id bigserial PRIMARY KEY, email text);\nCREATE INDEX CONCURRENTLY people_email ON people (email);\nALTER TABLE people ADD COLUMN name text;\n-- sluice:contract\nALTER TABLE people DROP COLUMN name;\n',
      '002_more.sql': '-- sluice:expand\nCREATE TABLE more (id int);\n',
    });
    const ms = await loadMigrations(f.dir, 'postgres');
    const seen: string[] = [];
    const r = await applyPhase(db, ms, 'expand', {
      ...settings,
      dryRun: true,
      progress: (m) => seen.push(m),
      tool: { command: ['python', 'manage.py', 'migrate'], timeoutSeconds: 60 },
    });
    assert.equal(r.ok, true, r.message);
    assert.match(r.message, /dry run of expand: 2 migration\(s\) would run \(001_people, 002_more\); nothing was changed/);
    const plan = r.plan ?? [];
    assert.deepEqual(seen, plan);
    assert.match(plan[0], /lock_timeout 1000ms, statement_timeout 30000ms.*up to 3×/);
    assert.deepEqual(plan.slice(1), [
      '001_people expand [in transaction 1] line 2: CREATE TABLE people (id bigserial PRIMARY KEY, email text)',
      '001_people expand [alone, outside a transaction] line 3: CREATE INDEX CONCURRENTLY people_email ON people (email)',
      '001_people expand [in transaction 3] line 4: ALTER TABLE people ADD COLUMN name text',
      '001_people expand: record r1 in sluice_migrations (same transaction)',
      '002_more expand [in transaction 1] line 2: CREATE TABLE more (id int)',
      '002_more expand: record r1 in sluice_migrations (same transaction)',
      'then the tool: python manage.py migrate (DATABASE_URL in its environment)',
    ]);
    const t = await client.query("SELECT to_regclass('sluice_migrations')::text AS h, to_regclass('people')::text AS p");
    assert.deepEqual(t.rows[0], { h: null, p: null });
    // After a real expand, the dry run of contract lists only what is pending.
    assert.equal((await applyPhase(db, ms, 'expand', settings)).ok, true);
    const c = await applyPhase(db, ms, 'contract', { ...settings, dryRun: true });
    assert.ok(c.plan?.includes('001_people contract [in transaction 1] line 6: ALTER TABLE people DROP COLUMN name'), c.plan?.join('\n'));
    assert.equal(
      (await client.query("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'people' AND column_name = 'name'")).rows[0].n,
      1,
    );
  });

  test('bad connections: one clear line, no password', async () => {
    const f = folder({ '001_a.sql': '-- sluice:expand\nCREATE TABLE a (id int);\n' });
    const ms = await loadMigrations(f.dir, 'postgres');
    const wrongDb = await applyPhase(new PostgresAdapter(`postgres://postgres:sekrit@127.0.0.1:${server.port}/no_such_db`), ms, 'expand', settings);
    assert.equal(wrongDb.ok, false);
    assert.match(
      wrongDb.message,
      new RegExp(`^cannot connect to postgres://postgres@127\\.0\\.0\\.1:${server.port}/no_such_db: database "no_such_db" does not exist — check the URL`),
    );
    const port = await freePort();
    const down = await applyPhase(new PostgresAdapter(`postgres://app:sekrit@127.0.0.1:${port}/shop`), ms, 'expand', settings);
    assert.equal(down.ok, false);
    assert.match(down.message, new RegExp(`cannot connect to postgres://app@127\\.0\\.0\\.1:${port}/shop: connect ECONNREFUSED`));
    const garbled = await applyPhase(new PostgresAdapter('postgres://app:sekrit@[::1/shop'), ms, 'expand', settings);
    assert.equal(garbled.ok, false);
    assert.match(garbled.message, /not a valid URL/);
    for (const r of [wrongDb, down, garbled]) {
      assert.ok(!r.message.includes('sekrit'), r.message);
      assert.equal(r.message.split('\n').length, 1);
    }
  });

  test('pre-checks report a long transaction and a constraint that is not validated', async () => {
    const { url, db, client } = await fresh('prechecks');
    await client.query('CREATE TABLE t (id int PRIMARY KEY, x int); INSERT INTO t VALUES (1, -1)');
    await client.query('ALTER TABLE t ADD CONSTRAINT t_x_positive CHECK (x > 0) NOT VALID');
    const long = await pgClient(url, 'reporting-job');
    cleanups.push(() => long.end());
    await long.query('BEGIN');
    await long.query('SELECT count(*) FROM t');
    await new Promise((r) => setTimeout(r, 1300));
    const s = await db.connect();
    const problems = await precheck(s, { longTransactionSeconds: 1 });
    await s.close();
    const lt = problems.filter((p) => p.kind === 'long-transaction');
    assert.equal(lt.length, 1);
    assert.equal(lt[0].pid, long.pid);
    assert.match(
      lt[0].message,
      new RegExp(`transaction open \\d+s: pid ${long.pid} \\(app 'reporting-job', idle in transaction: SELECT count\\(\\*\\) FROM t\\)`),
    );
    const ic = problems.filter((p) => p.kind === 'invalid-constraint');
    assert.deepEqual(
      ic.map((p) => [p.name, p.table]),
      [['t_x_positive', 't']],
    );
    assert.match(ic[0].message, /VALIDATE CONSTRAINT t_x_positive/);
    // The runner reports them and goes on (a migration on another table).
    const f = folder({ '001_other.sql': '-- sluice:expand\nCREATE TABLE other (id int);\n' });
    const seen: string[] = [];
    const r = await applyPhase(db, await loadMigrations(f.dir, 'postgres'), 'expand', {
      ...settings,
      longTransactionSeconds: 1,
      progress: (m) => seen.push(m),
    });
    assert.equal(r.ok, true, r.message);
    assert.ok(
      seen.some((m) => m.startsWith(`pre-check: transaction open`) && m.includes(`pid ${long.pid}`)),
      seen.join('\n'),
    );
    assert.ok(
      seen.some((m) => m.startsWith('pre-check: check t_x_positive on t is not validated')),
      seen.join('\n'),
    );
    await long.query('ROLLBACK');
    // Nothing to report once it is gone and the constraint validated.
    await client.query('UPDATE t SET x = 1; ALTER TABLE t VALIDATE CONSTRAINT t_x_positive');
    const s2 = await db.connect();
    assert.deepEqual(await precheck(s2, { longTransactionSeconds: 1 }), []);
    await s2.close();
  });

  test('an invalid index left by a failed concurrent build is reported, then dropped and rebuilt on the re-run', async () => {
    const { db, client } = await fresh('invalid_index');
    await client.query("CREATE TABLE dup (id int PRIMARY KEY, v text); INSERT INTO dup VALUES (1, 'a'), (2, 'a'), (3, 'b')");
    const f = folder({ '001_unique.sql': '-- sluice:expand\nCREATE TABLE side (id int);\nCREATE UNIQUE INDEX CONCURRENTLY dup_v_key ON dup (v);\n' });
    const ms = await loadMigrations(f.dir, 'postgres');
    const r1 = await applyPhase(db, ms, 'expand', settings);
    assert.equal(r1.ok, false);
    assert.match(r1.message, /001_unique\.sql:3:1: CREATE UNIQUE INDEX CONCURRENTLY dup_v_key ON dup \(v\) failed: could not create unique index "dup_v_key"/);
    assert.match(r1.message, /001_unique's statements before line 3 stay committed; a re-run resumes here/);
    const valid = async () => (await client.query("SELECT indisvalid AS v FROM pg_index WHERE indexrelid = to_regclass('dup_v_key')")).rows[0]?.v;
    assert.equal(await valid(), false);
    const s = await db.connect();
    const problems = await precheck(s);
    const rec = await readApplied(s);
    await s.close();
    assert.deepEqual(
      problems.map((p) => [p.kind, p.name]),
      [['invalid-index', 'dup_v_key']],
    );
    assert.deepEqual(rec[0].pending, { phase: 'expand', done: 1 });
    await client.query('DELETE FROM dup WHERE id = 2');
    const seen: string[] = [];
    const r2 = await applyPhase(db, ms, 'expand', { ...settings, progress: (m) => seen.push(m) });
    assert.equal(r2.ok, true, r2.message);
    assert.ok(
      seen.some((m) => m.includes('pre-check: index dup_v_key on dup is invalid') && m.includes('001_unique builds it: dropped and rebuilt')),
      seen.join('\n'),
    );
    assert.ok(seen.includes('001_unique: index dup_v_key is invalid (an earlier build failed) — dropping it to build it again'), seen.join('\n'));
    assert.equal(await valid(), true);
    // CREATE TABLE side ran once (a re-run from the top would have failed: it exists).
    assert.equal((await client.query('SELECT expand_revision AS r, pending_phase AS p FROM sluice_migrations')).rows[0].r, 1);
  });

  test('after a crash between a concurrent build and its record, the re-run takes the valid index as built and records the phase', async () => {
    const { db, client } = await fresh('crash_resume');
    await client.query('CREATE TABLE items (id int PRIMARY KEY, sku text)');
    const f = folder({ '001_idx.sql': '-- sluice:expand\nCREATE INDEX CONCURRENTLY items_sku ON items (sku);\nALTER TABLE items ADD COLUMN note text;\n' });
    const ms = await loadMigrations(f.dir, 'postgres');
    // What the crashed run left: the index built, nothing recorded.
    await client.query('CREATE INDEX CONCURRENTLY items_sku ON items (sku)');
    const seen: string[] = [];
    const r = await applyPhase(db, ms, 'expand', { ...settings, progress: (m) => seen.push(m) });
    assert.equal(r.ok, true, r.message);
    assert.ok(seen.includes('001_idx: index items_sku already exists and is valid — taken as built by the interrupted run'), seen.join('\n'));
    const cols = await client.query("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'");
    assert.equal(cols.rows[0].n, 1);
    assert.deepEqual((await client.query('SELECT id, expand_revision AS r, pending_phase AS p FROM sluice_migrations')).rows, [
      { id: '001_idx', r: 1, p: null },
    ]);
  });

  test('the tool command runs after the SQL files with DATABASE_URL, its output redacted', async () => {
    const { url, db } = await fresh('tool');
    const f = folder({ '001_a.sql': '-- sluice:expand\nCREATE TABLE a (id int);\n' });
    const withPw = url.replace('postgres@', 'postgres:sekrit@');
    const out = join(f.dir, 'seen-url');
    const script = `require('fs').writeFileSync(${JSON.stringify(out)}, process.env.DATABASE_URL); console.log('connecting to ' + process.env.DATABASE_URL)`;
    const seen: string[] = [];
    const r = await applyPhase(db, await loadMigrations(f.dir, 'postgres'), 'expand', {
      ...settings,
      tool: { command: [process.execPath, '-e', script], timeoutSeconds: 30 },
      connectionEnv: { DATABASE_URL: withPw },
      progress: (m) => seen.push(m),
    });
    assert.equal(r.ok, true, r.message);
    assert.equal(readFileSync(out, 'utf8'), withPw);
    assert.ok(
      seen.some((m) => m.endsWith(`connecting to ${url.replace('postgres@', 'postgres@')}`)),
      seen.join('\n'),
    );
    assert.ok(!seen.join('\n').includes('sekrit'));
    const bad = await applyPhase(db, await loadMigrations(f.dir, 'postgres'), 'expand', {
      ...settings,
      tool: { command: [process.execPath, '-e', `console.error('boom at ' + process.env.DATABASE_URL); process.exit(3)`], timeoutSeconds: 30 },
      connectionEnv: { DATABASE_URL: withPw },
    });
    assert.equal(bad.ok, false);
    assert.match(bad.message, /^expand: tool `.* -e .*` exited 3: boom at postgres:\/\/postgres@127\.0\.0\.1:\d+\/tool — fix its migrations/);
    assert.ok(!bad.message.includes('sekrit'));
  });
});

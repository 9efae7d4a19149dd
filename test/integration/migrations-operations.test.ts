// The operations of a .yaml migration against a real PostgreSQL: after expand, two real
// processes of test/fixtures/apps/people-app.mjs (v1: first_name + last_name, v2:
// full_name) serve reads and writes side by side while the backfill runs in batches;
// zero failed requests, every row readable by both in its own shape; contract then drops
// the old columns (v2 keeps working, v1 fails: why contract waits for the window).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { MigrationPhase, MigrationStatement } from '../../src/core/database.js';
import { compileOperations } from '../../src/migrations/operations.js';
import { loadSqlParser } from '../../src/migrations/sql/parse.js';
import { freePort } from '../helpers/ports.js';
import { postgresMissing, startPostgres, type TestPostgres } from '../helpers/postgres.js';

const skip = postgresMissing();
const APP = fileURLToPath(new URL('../../../test/fixtures/apps/people-app.mjs', import.meta.url));

const FULL_NAME = `operations:
  - replaceColumns:
      table: people
      key: id
      from: [first_name, last_name]
      to: { name: full_name, type: text, notNull: true }
      up: "first_name || ' ' || last_name"
      down:
        first_name: "split_part(full_name, ' ', 1)"
        last_name: "substr(full_name, length(split_part(full_name, ' ', 1)) + 2)"
`;

/** Runs one phase's statements in a transaction (the runner's job; here as plainly as possible). */
async function runPhase(url: string, statements: MigrationStatement[], phase: MigrationPhase): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('BEGIN');
    for (const s of statements.filter((x) => x.phase === phase && !x.batch)) await c.query(s.sql);
    await c.query('COMMIT');
  } finally {
    await c.end();
  }
}

/** Runs every batched statement over the table's key range, `size` keys at a time. */
async function backfill(url: string, statements: MigrationStatement[], size: number, pauseMs = 0): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  let rows = 0;
  try {
    for (const s of statements.filter((x) => x.batch)) {
      const b = s.batch as { table: string; key: string };
      const r = await c.query(`SELECT min("${b.key}")::bigint AS lo, max("${b.key}")::bigint AS hi FROM ${b.table}`);
      const lo = Number(r.rows[0].lo ?? 0);
      const hi = Number(r.rows[0].hi ?? -1);
      for (let k = lo; k <= hi; k += size) {
        rows += (await c.query(s.sql, [k, k + size])).rowCount ?? 0;
        if (pauseMs) await new Promise((res) => setTimeout(res, pauseMs));
      }
    }
  } finally {
    await c.end();
  }
  return rows;
}

interface App {
  shape: 'v1' | 'v2';
  base: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

async function startApp(shape: 'v1' | 'v2', url: string): Promise<App> {
  const port = await freePort();
  const proc = spawn(process.execPath, [APP], { env: { ...process.env, PORT: String(port), DATABASE_URL: url, APP_SHAPE: shape }, stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (proc.exitCode !== null) throw new Error(`people-app ${shape} exited ${proc.exitCode}`);
    if (Date.now() > deadline) throw new Error(`people-app ${shape} not healthy in 15 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    shape,
    base,
    proc,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

type Person = { first_name: string; last_name: string };
const full = (p: Person) => `${p.first_name} ${p.last_name}`;
const body = (shape: 'v1' | 'v2', p: Person) => (shape === 'v1' ? p : { full_name: full(p) });

async function call(app: App, method: string, path: string, payload?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${app.base}${path}`, {
    method,
    headers: payload ? { 'content-type': 'application/json' } : {},
    body: payload ? JSON.stringify(payload) : undefined,
  });
  assert.equal(res.headers.get('x-app-shape'), app.shape);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** What `app` should answer for a person, in its own shape. */
const shaped = (shape: 'v1' | 'v2', id: number, p: Person) => (shape === 'v1' ? { id, ...p } : { id, full_name: full(p) });

describe('operations against a real PostgreSQL', { skip }, () => {
  let server: TestPostgres;
  before(async () => {
    await loadSqlParser();
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });

  test('first_name + last_name → full_name: v1 and v2 read and write side by side during the backfill, zero failed requests, no lost writes', async () => {
    const url = await server.database('people');
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const apps: App[] = [];
    try {
      await db.query('CREATE TABLE people (id bigserial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL)');
      const SEEDED = 3000;
      await db.query(`INSERT INTO people (first_name, last_name) SELECT 'seed' || g, 'Row ' || g FROM generate_series(1, ${SEEDED}) g`);
      const statements = compileOperations('/migrations/002_full_name.yaml', FULL_NAME, 'postgres');

      // The stable version runs before expand, and through it.
      const v1 = await startApp('v1', url);
      apps.push(v1);
      assert.equal((await call(v1, 'GET', '/people/1')).body.first_name, 'seed1');
      await runPhase(url, statements, 'expand');
      assert.deepEqual((await call(v1, 'GET', '/people/1')).body, { id: 1, first_name: 'seed1', last_name: 'Row 1' });
      const v2 = await startApp('v2', url);
      apps.push(v2);

      // v2 inserts without first_name / last_name, which are NOT NULL: the BEFORE trigger fills them first.
      const direct = await call(v2, 'POST', '/people', { full_name: 'Ada Lovelace King' });
      assert.equal(direct.status, 201, JSON.stringify(direct.body));
      assert.deepEqual((await call(v1, 'GET', `/people/${direct.body.id}`)).body, { id: direct.body.id, first_name: 'Ada', last_name: 'Lovelace King' });

      // Load: workers of both versions create, cross-read, cross-update their own rows and
      // update seeded rows (which the backfill walks at the same time).
      const expected = new Map<number, Person>();
      expected.set(direct.body.id as number, { first_name: 'Ada', last_name: 'Lovelace King' });
      for (let g = 1; g <= SEEDED; g++) expected.set(g, { first_name: `seed${g}`, last_name: `Row ${g}` });
      const failures: string[] = [];
      let requests = 0;
      const check = (what: string, r: { status: number; body: unknown }, want: number, equal?: unknown) => {
        requests++;
        if (r.status !== want) failures.push(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
        else if (equal !== undefined && JSON.stringify(r.body) !== JSON.stringify(equal))
          failures.push(`${what}: got ${JSON.stringify(r.body)}, want ${JSON.stringify(equal)}`);
      };
      const until = Date.now() + 4000;
      const worker = async (w: number, mine: App, other: App) => {
        let n = 0;
        let seeded = w + 1;
        while (Date.now() < until) {
          n++;
          const p: Person = { first_name: `w${w}n${n}`, last_name: `Made by ${mine.shape}` };
          const created = await call(mine, 'POST', '/people', body(mine.shape, p));
          check(`${mine.shape} POST`, created, 201);
          const id = created.body.id as number;
          expected.set(id, p);
          check(`${other.shape} GET own row ${id}`, await call(other, 'GET', `/people/${id}`), 200, shaped(other.shape, id, p));
          const q: Person = { first_name: `w${w}n${n}u`, last_name: `Changed by ${other.shape}` };
          check(`${other.shape} PUT ${id}`, await call(other, 'PUT', `/people/${id}`, body(other.shape, q)), 200);
          expected.set(id, q);
          check(`${mine.shape} GET after update ${id}`, await call(mine, 'GET', `/people/${id}`), 200, shaped(mine.shape, id, q));
          // A seeded row of this worker's own (ids ≡ w mod 8), updated through its version.
          if (seeded <= SEEDED) {
            const s: Person = { first_name: `s${seeded}`, last_name: `Seed edited by ${mine.shape}` };
            check(`${mine.shape} PUT seeded ${seeded}`, await call(mine, 'PUT', `/people/${seeded}`, body(mine.shape, s)), 200);
            expected.set(seeded, s);
            check(`${other.shape} GET seeded ${seeded}`, await call(other, 'GET', `/people/${seeded}`), 200, shaped(other.shape, seeded, s));
            seeded += 8;
          }
        }
      };
      const load = Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((w) => (w % 2 === 0 ? worker(w, v1, v2) : worker(w, v2, v1))));
      const filled = backfill(url, statements, 100, 20);
      const [, backfilled] = await Promise.all([load, filled]);
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${requests} requests failed`);
      assert.ok(requests > 200, `only ${requests} requests in 4 s`);
      assert.ok(backfilled > 0, 'the backfill updated no row');

      // After the backfill: every row, whoever wrote it, readable by both in their own shape.
      const all = await db.query('SELECT id, first_name, last_name, full_name FROM people ORDER BY id');
      assert.equal(all.rowCount, expected.size, 'rows lost or invented');
      for (const r of all.rows) {
        const want = expected.get(Number(r.id));
        assert.ok(want, `row ${r.id} was never written`);
        assert.deepEqual({ first_name: r.first_name, last_name: r.last_name, full_name: r.full_name }, { ...want, full_name: full(want) }, `row ${r.id}`);
      }
      for (const id of [1, SEEDED, ...[...expected.keys()].filter((k) => k > SEEDED).slice(0, 20)]) {
        const p = expected.get(id) as Person;
        for (const app of apps) assert.deepEqual((await call(app, 'GET', `/people/${id}`)).body, shaped(app.shape, id, p));
      }

      // Contract: the old columns go; v2 keeps working, v1 (which the window keeps away) now fails.
      await runPhase(url, statements, 'contract');
      const cols = await db.query("SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = 'people' ORDER BY column_name");
      assert.deepEqual(cols.rows, [
        { column_name: 'full_name', is_nullable: 'NO' },
        { column_name: 'id', is_nullable: 'NO' },
      ]);
      const trig = await db.query("SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'people'::regclass AND NOT tgisinternal");
      assert.equal(trig.rows[0].n, 0);
      const con = await db.query("SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'people'::regclass AND contype = 'c'");
      assert.equal(con.rows[0].n, 0, 'the NOT NULL helper check is dropped');
      const after = await call(v2, 'POST', '/people', { full_name: 'Grace Hopper' });
      assert.equal(after.status, 201);
      assert.deepEqual((await call(v2, 'GET', `/people/${after.body.id}`)).body, { id: after.body.id, full_name: 'Grace Hopper' });
      assert.deepEqual((await call(v2, 'GET', '/people/1')).body, shaped('v2', 1, expected.get(1) as Person));
      const old = await call(v1, 'GET', '/people/1');
      assert.equal(old.status, 500);
      assert.match(String(old.body.error), /column "first_name" does not exist/);
    } finally {
      for (const a of apps) await a.stop();
      await db.end();
    }
  });

  test('renameColumn: both names live during the release, the new one keeps the old type', async () => {
    const url = await server.database('rename');
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      await db.query('CREATE TABLE contacts (id bigserial PRIMARY KEY, email varchar(200) NOT NULL)');
      await db.query("INSERT INTO contacts (email) SELECT 'seed' || g || '@x.test' FROM generate_series(1, 250) g");
      const statements = compileOperations(
        '/m/003_contact_email.yaml',
        'operations:\n  - renameColumn: { table: contacts, from: email, to: contact_email }\n',
        'postgres',
      );
      await runPhase(url, statements, 'expand');
      const type = await db.query(
        "SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'contacts'::regclass AND attname = 'contact_email'",
      );
      assert.equal(type.rows[0].t, 'character varying(200)');
      const v1 = await db.query("INSERT INTO contacts (email) VALUES ('old@x.test') RETURNING id, contact_email");
      assert.equal(v1.rows[0].contact_email, 'old@x.test');
      const v2 = await db.query("INSERT INTO contacts (contact_email) VALUES ('new@x.test') RETURNING id, email");
      assert.equal(v2.rows[0].email, 'new@x.test', 'the NOT NULL old column is filled by the trigger');
      await db.query("UPDATE contacts SET email = 'old2@x.test' WHERE id = $1", [v2.rows[0].id]);
      await db.query("UPDATE contacts SET contact_email = 'new2@x.test' WHERE id = $1", [v1.rows[0].id]);
      assert.equal(await backfill(url, statements, 64), 250);
      const bad = await db.query('SELECT count(*)::int AS n FROM contacts WHERE contact_email IS DISTINCT FROM email');
      assert.equal(bad.rows[0].n, 0);
      const both = await db.query('SELECT id, email, contact_email FROM contacts WHERE id IN ($1, $2) ORDER BY id', [v1.rows[0].id, v2.rows[0].id]);
      assert.deepEqual(
        both.rows.map((r) => [r.email, r.contact_email]),
        [
          ['new2@x.test', 'new2@x.test'],
          ['old2@x.test', 'old2@x.test'],
        ],
      );
      await runPhase(url, statements, 'contract');
      const cols = await db.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'contacts' ORDER BY column_name");
      assert.deepEqual(
        cols.rows.map((r) => r.column_name),
        ['contact_email', 'id'],
      );
    } finally {
      await db.end();
    }
  });

  test('changeType: amount (numeric) ↔ amount_cents (bigint) both ways, NOT NULL set safely at contract', async () => {
    const url = await server.database('orders');
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      await db.query('CREATE TABLE orders (id bigserial PRIMARY KEY, amount numeric(12,2) NOT NULL)');
      await db.query('INSERT INTO orders (amount) SELECT g * 1.25 FROM generate_series(1, 500) g');
      const yaml = `operations:
  - changeType:
      table: orders
      column: amount
      to: amount_cents
      type: bigint
      notNull: true
      up: "(amount * 100)::bigint"
      down: { amount: "amount_cents / 100.0" }
`;
      const statements = compileOperations('/m/004_cents.yaml', yaml, 'postgres');
      await runPhase(url, statements, 'expand');
      const v1 = await db.query('INSERT INTO orders (amount) VALUES (12.34) RETURNING id, amount_cents');
      assert.equal(v1.rows[0].amount_cents, '1234');
      const v2 = await db.query('INSERT INTO orders (amount_cents) VALUES (505) RETURNING id, amount');
      assert.equal(v2.rows[0].amount, '5.05');
      await db.query('UPDATE orders SET amount_cents = 999 WHERE id = $1', [v1.rows[0].id]);
      await db.query('UPDATE orders SET amount = 1.5 WHERE id = $1', [v2.rows[0].id]);
      const rows = await db.query('SELECT amount::text AS a, amount_cents::text AS c FROM orders WHERE id IN ($1, $2) ORDER BY id', [
        v1.rows[0].id,
        v2.rows[0].id,
      ]);
      assert.deepEqual(rows.rows, [
        { a: '9.99', c: '999' },
        { a: '1.50', c: '150' },
      ]);
      assert.equal(await backfill(url, statements, 1000), 500);
      const bad = await db.query('SELECT count(*)::int AS n FROM orders WHERE amount_cents IS DISTINCT FROM (amount * 100)::bigint');
      assert.equal(bad.rows[0].n, 0);
      await runPhase(url, statements, 'contract');
      const col = await db.query("SELECT data_type, is_nullable FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'amount_cents'");
      assert.deepEqual(col.rows, [{ data_type: 'bigint', is_nullable: 'NO' }]);
      await assert.rejects(db.query('INSERT INTO orders (amount_cents) VALUES (NULL)'), /null value in column "amount_cents"/);
    } finally {
      await db.end();
    }
  });
});

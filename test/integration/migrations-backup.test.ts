import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { BackupCatalog } from '../../src/migrations/backup.js';
import { PostgresAdapter } from '../../src/migrations/db/postgres.js';
import { SqliteAdapter } from '../../src/migrations/db/sqlite.js';
import { postgresMissing, startPostgres, type TestPostgres } from '../helpers/postgres.js';

const missing = postgresMissing();

describe('backups (PostgreSQL)', { skip: missing }, () => {
  let server: TestPostgres;
  let dir: string;
  before(async () => {
    server = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), 'sluice-backups-'));
  });
  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** What "exactly" means: every row of every table, the sequences, and the whole schema as pg_dump prints it. */
  async function fingerprint(c: pg.Client, url: string): Promise<{ data: string; seq: string; schema: string }> {
    const data = (await c.query("SELECT md5(string_agg(t::text, ',' ORDER BY id)) AS h FROM people t")).rows[0].h as string;
    const seq = (await c.query('SELECT last_value::text || is_called::text AS s FROM people_id_seq')).rows[0].s as string;
    const dump = spawnSync(join(server.bindir, 'pg_dump'), ['--schema-only', `--dbname=${url}`], { encoding: 'utf8' });
    assert.equal(dump.status, 0, dump.stderr);
    // pg_dump ≥ 15.14 fences its script with `\\restrict KEY` lines whose key is random per run.
    return { data, seq, schema: dump.stdout.replace(/^\\(un)?restrict \S+$/gm, '') };
  }

  test('a failing migration, extra rows and a dropped column are undone exactly by the restore', async () => {
    const url = await server.database('shop');
    const c = new pg.Client(url);
    await c.connect();
    try {
      await c.query(`CREATE TABLE people (id serial PRIMARY KEY, first_name text NOT NULL, last_name text, age int CHECK (age >= 0));
        CREATE INDEX people_last ON people (last_name);
        CREATE VIEW adults AS SELECT id, first_name FROM people WHERE age >= 18;
        INSERT INTO people (first_name, last_name, age) SELECT 'f' || g, 'l' || (g % 97), g % 90 FROM generate_series(1, 20000) g;`);
      const before = await fingerprint(c, url);
      const db = new PostgresAdapter(url);
      const catalog = new BackupCatalog(join(dir, 'backups'));
      const rec = await catalog.take(db, { rollout: 'shop', revision: 3 });
      assert.match(rec.id, /^b-shop-r3-\d{14}$/);
      assert.equal(rec.engine, 'postgres');
      assert.ok(rec.bytes > 1000 && existsSync(rec.file));
      assert.deepEqual(catalog.get(rec.id), rec);

      // A failing expand's partial effect, then more damage.
      await c.query('ALTER TABLE people ADD COLUMN email text');
      await c.query('CREATE TABLE half_done (x int)');
      await c.query('CREATE SCHEMA stray; CREATE TABLE stray.t (y int)');
      await assert.rejects(c.query('ALTER TABLE people ADD COLUMN bad int NOT NULL'));
      await c.query("INSERT INTO people (first_name, age) SELECT 'x' || g, 5 FROM generate_series(1, 500) g");
      await c.query("UPDATE people SET first_name = 'changed' WHERE id % 10 = 0");
      await c.query('DROP VIEW adults; ALTER TABLE people DROP COLUMN last_name');
      const damaged = await fingerprint(c, url);
      assert.notEqual(damaged.data, before.data);
      assert.notEqual(damaged.schema, before.schema);

      await catalog.restore(db, rec.id);
      const restored = await fingerprint(c, url);
      assert.equal(restored.data, before.data, 'table data differs after restore');
      assert.equal(restored.seq, before.seq, 'sequence differs after restore');
      assert.equal(restored.schema, before.schema, 'schema differs after restore');
      // A restore into the same state is a no-op, not an error.
      await catalog.restore(db, rec.id);
      assert.deepEqual(await fingerprint(c, url), before);
    } finally {
      await c.end();
    }
  });

  test('a restore that fails leaves the database as it was (one transaction)', async () => {
    const url = await server.database('atomic');
    const c = new pg.Client(url);
    await c.connect();
    try {
      await c.query("CREATE TABLE people (id serial PRIMARY KEY, first_name text); INSERT INTO people (first_name) VALUES ('a'), ('b')");
      const catalog = new BackupCatalog(join(dir, 'atomic'));
      const db = new PostgresAdapter(url);
      const rec = await catalog.take(db, { rollout: 'atomic', revision: 1 });
      await c.query("INSERT INTO people (first_name) VALUES ('c')");
      const now = await fingerprint(c, url);
      // A role the dump needs is missing: the script fails midway and must roll back whole.
      await c.query("CREATE ROLE reader; GRANT SELECT ON people TO reader; INSERT INTO people (first_name) VALUES ('d')");
      const withGrant = await fingerprint(c, url);
      const rec2 = await catalog.take(db, { rollout: 'atomic', revision: 2 });
      await c.query('REVOKE ALL ON people FROM reader; DROP ROLE reader');
      const afterDrop = await fingerprint(c, url);
      await assert.rejects(catalog.restore(db, rec2.id), /psql of postgres:\/\/postgres@127\.0\.0\.1:\d+\/atomic exited 3: .*role "reader" does not exist/);
      assert.deepEqual(await fingerprint(c, url), afterDrop, 'a failed restore changed the database');
      assert.notDeepEqual(withGrant, now);
      await catalog.restore(db, rec.id);
      assert.equal((await c.query('SELECT count(*)::int AS n FROM people')).rows[0].n, 2);
      await assert.rejects(catalog.restore(db, 'b-nope'), /backup b-nope not found in .* — list them with `sluice db backups`/);
    } finally {
      await c.end();
    }
  });

  test('retention keeps the newest N of a rollout and deletes the older files', async () => {
    const url = await server.database('keep');
    const c = new pg.Client(url);
    await c.connect();
    await c.query('CREATE TABLE people (id serial PRIMARY KEY)');
    await c.end();
    const bdir = join(dir, 'keep');
    const catalog = new BackupCatalog(bdir);
    const db = new PostgresAdapter(url);
    const t0 = Date.UTC(2026, 0, 1, 10, 0, 0);
    const taken = [];
    for (let i = 0; i < 4; i++) taken.push(await catalog.take(db, { rollout: 'keep', revision: i + 1, now: new Date(t0 + i * 1000) }));
    const other = await catalog.take(db, { rollout: 'other', revision: 1, now: new Date(t0) });
    // Same second, same revision: still a unique id.
    const twin = await catalog.take(db, { rollout: 'other', revision: 1, now: new Date(t0) });
    assert.equal(twin.id, `${other.id}-2`);
    assert.equal(taken[0].id, 'b-keep-r1-20260101100000');
    const removed = catalog.prune('keep', 2);
    assert.deepEqual(
      removed.map((r) => r.id),
      taken.slice(0, 2).map((r) => r.id),
    );
    assert.deepEqual(
      catalog.list('keep').map((r) => r.id),
      taken.slice(2).map((r) => r.id),
    );
    assert.equal(catalog.list().length, 4, 'another rollout lost backups');
    for (const r of removed) assert.equal(existsSync(r.file), false);
    assert.deepEqual(readdirSync(bdir).sort(), [...[...taken.slice(2), other, twin].map((r) => r.file.split('/').at(-1)), 'index.json'].sort());
    assert.deepEqual(catalog.prune('keep', 2), []);
  });
});

describe('backups (SQLite)', () => {
  test('restore while another connection holds a read snapshot (the WAL cannot be checkpointed away)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-backups-sqlite-'));
    try {
      const path = join(dir, 'app.db');
      const app = new Database(path);
      app.pragma('journal_mode = WAL');
      app.exec('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
      const ins = app.prepare('INSERT INTO people (name) VALUES (?)');
      app.transaction(() => {
        for (let i = 0; i < 3000; i++) ins.run(`n${i}`);
      })();
      const fp = (d: Database.Database) =>
        (d.prepare("SELECT count(*) || ':' || group_concat(id || '=' || name, ',') AS h FROM (SELECT * FROM people ORDER BY id)").get() as { h: string }).h;
      const before = fp(app);
      const db = new SqliteAdapter(path);
      const catalog = new BackupCatalog(join(dir, 'backups'));
      const rec = await catalog.take(db, { rollout: 'app', revision: 1 });
      // A reader keeps an old snapshot open, so the frames written next stay in the WAL.
      const reader = new Database(path);
      reader.exec('BEGIN');
      fp(reader);
      app.transaction(() => {
        for (let i = 0; i < 3000; i++) ins.run(`extra${i}`);
        app.exec("UPDATE people SET name = 'changed' WHERE id % 2 = 0");
      })();
      let restoreError: unknown;
      await catalog.restore(db, rec.id).catch((e) => {
        restoreError = e;
      });
      reader.exec('COMMIT');
      reader.close();
      if (restoreError) {
        // Refusing is acceptable; a torn database is not.
        assert.equal(app.pragma('integrity_check', { simple: true }), 'ok');
        await catalog.restore(db, rec.id);
      }
      assert.equal(fp(app), before);
      app.close();
      const fresh = new Database(path, { readonly: true });
      assert.equal(fresh.pragma('integrity_check', { simple: true }), 'ok');
      assert.equal(fp(fresh), before);
      fresh.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('online backup while in WAL mode; restore is exact with a connection still open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-backups-sqlite-'));
    try {
      const path = join(dir, 'app.db');
      const app = new Database(path);
      app.pragma('journal_mode = WAL');
      app.exec('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL); CREATE INDEX people_name ON people (name)');
      const ins = app.prepare('INSERT INTO people (name) VALUES (?)');
      app.transaction(() => {
        for (let i = 0; i < 5000; i++) ins.run(`n${i}`);
      })();
      const fp = () => ({
        data: (app.prepare("SELECT group_concat(id || ':' || name, ',') AS h FROM (SELECT * FROM people ORDER BY id)").get() as { h: string }).h,
        schema: app.prepare("SELECT group_concat(sql, ';') AS s FROM (SELECT sql FROM sqlite_master ORDER BY name)").get(),
      });
      const before = fp();
      const db = new SqliteAdapter(path);
      const catalog = new BackupCatalog(join(dir, 'backups'));
      const rec = await catalog.take(db, { rollout: 'app', revision: 1 });
      assert.match(rec.file, /b-app-r1-\d{14}\.sqlite$/);
      app.exec(
        "ALTER TABLE people ADD COLUMN email TEXT; CREATE TABLE extra (x); UPDATE people SET name = 'z' WHERE id % 3 = 0; DELETE FROM people WHERE id > 4000",
      );
      assert.ok(existsSync(`${path}-wal`), 'the test means a WAL with changes in it');
      assert.notDeepEqual(fp(), before);
      await catalog.restore(db, rec.id);
      assert.deepEqual(fp(), before, 'the open connection sees the restored database');
      app.close();
      const fresh = new Database(path, { readonly: true });
      assert.equal((fresh.prepare('SELECT count(*) AS n FROM people').get() as { n: number }).n, 5000);
      assert.equal(fresh.pragma('integrity_check', { simple: true }), 'ok');
      fresh.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

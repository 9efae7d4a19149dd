import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteAdapter } from '../../src/migrations/db/sqlite.js';
import { readApplied } from '../../src/migrations/history.js';
import { loadMigrations } from '../../src/migrations/load.js';
import { precheck } from '../../src/migrations/prechecks.js';
import { applyPhase } from '../../src/migrations/runner.js';
import { migrationFolder, settings } from '../helpers/migration-folders.js';

describe('migration runner on SQLite', () => {
  const cleanups: (() => void)[] = [];
  after(() => {
    for (const c of cleanups) c();
  });
  function setup(files: Record<string, string>) {
    const f = migrationFolder(files);
    cleanups.push(f.cleanup);
    const path = join(f.dir, 'app.db');
    const read = <T>(sql: string): T[] => {
      const d = new Database(path);
      try {
        return d.prepare(sql).all() as T[];
      } finally {
        d.close();
      }
    };
    return { f, path, db: new SqliteAdapter(path), read };
  }
  const tables = (read: <T>(sql: string) => T[]) =>
    read<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").map((r) => r.name);

  test('expand and contract with the migrations table; a re-run skips', async () => {
    const { f, db, read } = setup({
      '001_people.sql':
        "-- sluice:expand\nCREATE TABLE people (id INTEGER PRIMARY KEY, first TEXT, last TEXT);\nCREATE TABLE steps (what TEXT);\nINSERT INTO steps VALUES ('e1');\n",
      '002_full.sql':
        "-- sluice:expand\nALTER TABLE people ADD COLUMN full_name TEXT;\nINSERT INTO steps VALUES ('e2');\n-- sluice:migrate\nUPDATE people SET full_name = first || ' ' || last;\n-- sluice:contract\nALTER TABLE people DROP COLUMN first;\nINSERT INTO steps VALUES ('c2');\n",
    });
    const ms = await loadMigrations(f.dir, 'sqlite');
    const e = await applyPhase(db, ms, 'expand', { ...settings, revision: 4 });
    assert.equal(e.ok, true, e.message);
    assert.deepEqual(e.applied, ['001_people', '002_full']);
    const again = await applyPhase(db, ms, 'expand', { ...settings, revision: 5 });
    assert.deepEqual(again.applied, []);
    assert.equal((await applyPhase(db, ms, 'migrate', settings)).ok, true);
    const c = await applyPhase(db, ms, 'contract', { ...settings, revision: 5 });
    assert.equal(c.ok, true, c.message);
    assert.deepEqual(c.applied, ['001_people', '002_full']);
    assert.deepEqual(
      read<{ what: string }>('SELECT what FROM steps').map((r) => r.what),
      ['e1', 'e2', 'c2'],
    );
    assert.deepEqual(
      read<{ name: string }>("SELECT name FROM pragma_table_info('people') ORDER BY cid").map((r) => r.name),
      ['id', 'last', 'full_name'],
    );
    const s = await db.connect();
    const rec = await readApplied(s);
    await s.close();
    assert.deepEqual(
      rec.map((a) => [a.id, a.checksum, a.phases.expand?.revision, a.phases.contract?.revision]),
      [
        ['001_people', ms[0].checksum, 4, 5],
        ['002_full', ms[1].checksum, 4, 5],
      ],
    );
    assert.equal(existsSync(`${join(f.dir, 'app.db')}.sluice-lock`), false, 'the lock file is removed');
  });

  test('a changed applied file is an error; a failing statement leaves nothing of its migration; dry run touches nothing', async () => {
    const { f, db, read } = setup({ '001_a.sql': '-- sluice:expand\nCREATE TABLE a (id INTEGER);\n' });
    const dry = await applyPhase(db, await loadMigrations(f.dir, 'sqlite'), 'expand', { ...settings, dryRun: true });
    assert.equal(dry.ok, true, dry.message);
    assert.ok(dry.plan?.includes('001_a expand [in transaction 1] line 2: CREATE TABLE a (id INTEGER)'), dry.plan?.join('\n'));
    assert.deepEqual(tables(read), []);
    assert.equal((await applyPhase(db, await loadMigrations(f.dir, 'sqlite'), 'expand', settings)).ok, true);
    f.write('002_bad.sql', '-- sluice:expand\nCREATE TABLE b (id INTEGER);\nINSERT INTO missing VALUES (1);\n');
    const bad = await applyPhase(db, await loadMigrations(f.dir, 'sqlite'), 'expand', settings);
    assert.equal(bad.ok, false);
    assert.match(
      bad.message,
      /002_bad\.sql:3:1: INSERT INTO missing VALUES \(1\) failed: no such table: missing — fix the migration and run expand again; nothing of 002_bad was applied/,
    );
    assert.deepEqual(tables(read), ['a', 'sluice_migrations']);
    f.write('001_a.sql', '-- sluice:expand\nCREATE TABLE a (id INTEGER, v TEXT);\n');
    f.write('002_bad.sql', '-- sluice:expand\nCREATE TABLE b (id INTEGER);\n');
    const changed = await applyPhase(db, await loadMigrations(f.dir, 'sqlite'), 'expand', settings);
    assert.equal(changed.ok, false);
    assert.match(changed.message, /^applied migration 001_a changed since it ran .* — restore the file or add a new migration/);
    assert.deepEqual(tables(read), ['a', 'sluice_migrations']);
  });

  test('the lock file: a live holder makes the runner wait (and stop on its signal); a dead one is taken over', async () => {
    const { f, path, db, read } = setup({ '001_a.sql': '-- sluice:expand\nCREATE TABLE a (id INTEGER);\n' });
    const ms = await loadMigrations(f.dir, 'sqlite');
    writeFileSync(`${path}.sluice-lock`, JSON.stringify({ pid: process.pid, host: hostname(), since: Date.now() }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const seen: string[] = [];
    const r = await applyPhase(db, ms, 'expand', { ...settings, signal: ac.signal, lockPollMs: 50, progress: (m) => seen.push(m) });
    assert.equal(r.ok, false);
    assert.equal(r.message, 'expand: stopped while waiting for the migration lock; nothing was applied');
    assert.match(seen[0], new RegExp(`^waiting for the migration lock held by pid ${process.pid} on ${hostname()}`));
    assert.equal(existsSync(path) ? tables(read).length : 0, 0);
    writeFileSync(`${path}.sluice-lock`, JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), since: Date.now() }));
    const r2 = await applyPhase(db, ms, 'expand', settings);
    assert.equal(r2.ok, true, r2.message);
    assert.deepEqual(r2.applied, ['001_a']);
  });

  test('pre-check: rows whose foreign key points nowhere', async () => {
    const { path, db } = setup({});
    const d = new Database(path);
    d.pragma('foreign_keys = OFF');
    d.exec('CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (id INTEGER, p_id INTEGER REFERENCES p (id)); INSERT INTO c VALUES (1, 99), (2, 98)');
    d.close();
    const s = await db.connect();
    const problems = await precheck(s);
    await s.close();
    assert.deepEqual(
      problems.map((p) => p.message),
      ['2 row(s) of c point to missing rows of p — fix or delete them (PRAGMA foreign_key_check lists them)'],
    );
  });
});

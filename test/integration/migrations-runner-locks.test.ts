import { sleep } from '../helpers/wait.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PostgresAdapter } from '../../src/migrations/db/postgres.js';
import { loadMigrations } from '../../src/migrations/load.js';
import { advisoryKey, withMigrationLock } from '../../src/migrations/locks.js';
import { applyPhase } from '../../src/migrations/runner.js';
import { migrationFolder, pgClient, settings } from '../helpers/migration-folders.js';
import { postgresMissing, startPostgres, type TestPostgres } from '../helpers/postgres.js';

const skip = postgresMissing();

describe('migration runner: locks', { skip }, () => {
  let server: TestPostgres;
  const cleanups: (() => void | Promise<void>)[] = [];
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await server?.stop();
  });
  async function client(url: string, app: string) {
    const c = await pgClient(url, app);
    cleanups.push(() => c.end());
    return c;
  }
  function folder(files: Record<string, string>) {
    const f = migrationFolder(files);
    cleanups.push(f.cleanup);
    return f;
  }

  /** Runs a read and a write on `people` back to back until stopped; the longest wait of each. */
  function appLoad(c: Awaited<ReturnType<typeof pgClient>>) {
    let running = true;
    const waits: number[] = [];
    const done = (async () => {
      while (running) {
        for (const sql of ['SELECT count(*) FROM people', "INSERT INTO people (name) VALUES ('app')"]) {
          const t = performance.now();
          await c.query(sql);
          waits.push(performance.now() - t);
        }
        await sleep(5);
      }
    })();
    return {
      waits,
      async stop() {
        running = false;
        await done;
      },
    };
  }

  test('a long transaction holding a lock: the ALTER times out on lock_timeout, retries, names the blocker, then succeeds; the app never waits longer than the lock timeout', async () => {
    const url = await server.database('blocked');
    const setup = await client(url, 'setup');
    await setup.query("CREATE TABLE people (id bigserial PRIMARY KEY, name text); INSERT INTO people (name) SELECT 'p' || g FROM generate_series(1, 100) g");
    const blocker = await client(url, 'shop');
    await blocker.query('BEGIN');
    await blocker.query("UPDATE people SET name = 'held' WHERE id = 1");
    const app = await client(url, 'reader');
    const load = appLoad(app);
    const f = folder({ '001_nick.sql': '-- sluice:expand\nALTER TABLE people ADD COLUMN nickname text;\n' });
    const lockTimeoutMs = 300;
    const seen: string[] = [];
    let released = false;
    const result = await applyPhase(new PostgresAdapter(url), await loadMigrations(f.dir, 'postgres'), 'expand', {
      ...settings,
      lockTimeoutMs,
      lockRetries: 8,
      retryBackoffMs: 150,
      progress: (m) => {
        seen.push(m);
        if (!released && /retry 2\/8/.test(m)) {
          released = true;
          void blocker.query('COMMIT');
        }
      },
    });
    await load.stop();
    assert.equal(result.ok, true, `${result.message}\n${seen.join('\n')}`);
    assert.deepEqual(result.applied, ['001_nick']);
    const retries = seen.filter((m) => /; retry \d\/8 in \d+ms$/.test(m));
    assert.ok(retries.length >= 2, seen.join('\n'));
    const expected = new RegExp(
      `001_nick\\.sql:2:1: ALTER TABLE people ADD COLUMN nickname text waited 0\\.\\d+s for a lock held by pid ${blocker.pid} \\(app 'shop', idle in transaction for \\d+s: UPDATE people SET name = 'held' WHERE id = 1\\); retry 1/8 in \\d+ms$`,
    );
    assert.match(retries[0], expected);
    // Backoff grows (jitter is ±20%: 150 → 120..180, 300 → 240..360).
    const delays = retries.map((m) => Number(/in (\d+)ms$/.exec(m)?.[1]));
    assert.ok(delays[0] >= 120 && delays[0] <= 180 && delays[1] >= 240 && delays[1] <= 360, String(delays));
    const col = await setup.query("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'people' AND column_name = 'nickname'");
    assert.equal(col.rows[0].n, 1);
    // The app queued behind the waiting ALTER (so this measured something) but never longer than the lock timeout.
    const worst = Math.max(...load.waits);
    assert.ok(load.waits.length > 20, String(load.waits.length));
    assert.ok(worst > lockTimeoutMs / 3, `the app never waited behind the DDL (worst ${worst.toFixed(0)}ms): the test measured nothing`);
    assert.ok(worst < lockTimeoutMs + 700, `the app waited ${worst.toFixed(0)}ms behind the DDL lock (lock_timeout ${lockTimeoutMs}ms)`);
  });

  test('a blocker that never lets go: the final failure names it and says what to do; nothing applied', async () => {
    const url = await server.database('stuck');
    const setup = await client(url, 'setup');
    await setup.query('CREATE TABLE people (id bigserial PRIMARY KEY, name text); INSERT INTO people (name) VALUES (1)');
    const blocker = await client(url, 'batch-job');
    await blocker.query('BEGIN');
    await blocker.query('SELECT * FROM people');
    const f = folder({ '001_two.sql': '-- sluice:expand\nCREATE TABLE audit (id int);\nALTER TABLE people ADD COLUMN x int;\n' });
    const seen: string[] = [];
    const r = await applyPhase(new PostgresAdapter(url), await loadMigrations(f.dir, 'postgres'), 'expand', {
      ...settings,
      lockTimeoutMs: 200,
      lockRetries: 2,
      retryBackoffMs: 50,
      progress: (m) => seen.push(m),
    });
    await blocker.query('ROLLBACK');
    assert.equal(r.ok, false);
    assert.match(
      r.message,
      new RegExp(
        `^001_two expand gave up after 3 attempt\\(s\\) \\(lock_timeout 200ms\\): .*001_two\\.sql:3:1: ALTER TABLE people ADD COLUMN x int waited 0\\.\\d+s for a lock held by pid ${blocker.pid} \\(app 'batch-job', idle in transaction for \\d+s: SELECT \\* FROM people\\) — end that transaction \\(or SELECT pg_terminate_backend\\(${blocker.pid}\\)\\) or run expand again once it is done; nothing of 001_two was applied$`,
      ),
    );
    assert.equal(seen.filter((m) => m.includes('; retry ')).length, 2);
    const t = await setup.query("SELECT to_regclass('audit')::text AS audit, (SELECT count(*)::int FROM sluice_migrations) AS n");
    assert.deepEqual(t.rows[0], { audit: null, n: 0 });
  });

  test('two runners on one database: the second waits on the advisory lock (and says who holds it), then applies nothing twice', async () => {
    const url = await server.database('two');
    const check = await client(url, 'check');
    const f = folder({
      '001_slow.sql': '-- sluice:expand\nCREATE TABLE runs (n int);\nINSERT INTO runs VALUES (1);\nSELECT pg_sleep(1.5);\n',
      '002_more.sql': '-- sluice:expand\nINSERT INTO runs VALUES (2);\n',
    });
    const ms = await loadMigrations(f.dir, 'postgres');
    const key = advisoryKey('two', 'migrations');
    const aDone = { at: 0 };
    const a = applyPhase(new PostgresAdapter(url), ms, 'expand', { ...settings, revision: 7 }).then((r) => {
      aDone.at = Date.now();
      return r;
    });
    // Wait until the first holds the lock.
    let holder = 0;
    for (let i = 0; i < 100 && !holder; i++) {
      const k = BigInt.asUintN(64, BigInt(key));
      const r = await check.query<{ pid: number }>(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::oid AND objid = $2::oid",
        [Number(k >> 32n), Number(k & 0xffffffffn)],
      );
      holder = r.rows[0]?.pid ?? 0;
      if (!holder) await sleep(20);
    }
    assert.ok(holder > 0, 'the first runner never took the advisory lock');
    const seenB: string[] = [];
    const b = await applyPhase(new PostgresAdapter(url), ms, 'expand', { ...settings, revision: 8, lockPollMs: 50, progress: (m) => seenB.push(m) });
    const bDone = Date.now();
    const ra = await a;
    assert.equal(ra.ok, true, ra.message);
    assert.deepEqual(ra.applied, ['001_slow', '002_more']);
    assert.equal(b.ok, true, b.message);
    assert.deepEqual(b.applied, []);
    assert.ok(bDone >= aDone.at, 'the second finished before the first');
    assert.match(
      seenB[0],
      new RegExp(`^waiting for the migration lock held by pid ${holder} \\('sluice expand r7 \\(lock\\)', since \\d\\d:\\d\\d:\\d\\d UTC\\)`),
    );
    assert.deepEqual((await check.query('SELECT n FROM runs ORDER BY n')).rows, [{ n: 1 }, { n: 2 }]);
    assert.deepEqual((await check.query('SELECT id, expand_revision AS r FROM sluice_migrations ORDER BY id')).rows, [
      { id: '001_slow', r: 7 },
      { id: '002_more', r: 7 },
    ]);
    // The lock is free again: a third run takes it at once.
    const third = await applyPhase(new PostgresAdapter(url), ms, 'expand', { ...settings, progress: (m) => assert.ok(!m.startsWith('waiting'), m) });
    assert.equal(third.ok, true);
  });

  test('a waiter stops on its signal; the lock is per database', async () => {
    const url = await server.database('signal');
    const other = await server.database('signal_other');
    const db = new PostgresAdapter(url);
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    let entered: () => void = () => {};
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    const first = withMigrationLock(db, 'migrations', async () => {
      entered();
      await held;
    });
    await inside;
    // Another database's lock is another lock.
    assert.equal(await withMigrationLock(new PostgresAdapter(other), 'migrations', async () => 'free'), 'free');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const f = folder({ '001_a.sql': '-- sluice:expand\nCREATE TABLE a (id int);\n' });
    const t0 = Date.now();
    const r = await applyPhase(db, await loadMigrations(f.dir, 'postgres'), 'expand', { ...settings, signal: ac.signal, lockPollMs: 50 });
    assert.equal(r.ok, false);
    assert.equal(r.message, 'expand: stopped while waiting for the migration lock; nothing was applied');
    assert.ok(Date.now() - t0 < 2000);
    release();
    await first;
    const c = await client(url, 'check');
    assert.equal((await c.query("SELECT to_regclass('a') AS a")).rows[0].a, null);
  });

  test('a signal during a statement cancels it on the server; its migration is not applied', async () => {
    const url = await server.database('cancel');
    const f = folder({ '001_slow.sql': '-- sluice:expand\nCREATE TABLE slow (id int);\nSELECT pg_sleep(20);\n' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 400);
    const t0 = Date.now();
    const r = await applyPhase(new PostgresAdapter(url), await loadMigrations(f.dir, 'postgres'), 'expand', { ...settings, signal: ac.signal });
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0}ms`);
    assert.equal(r.ok, false);
    assert.match(
      r.message,
      /^001_slow expand stopped during .*001_slow\.sql:3:1: SELECT pg_sleep\(20\) \(cancelled on the server\); nothing of 001_slow was applied/,
    );
    const c = await client(url, 'check');
    assert.equal((await c.query("SELECT to_regclass('slow') AS t")).rows[0].t, null);
  });

  test('a caller that holds the migration lock passes its session: no self-deadlock, blockers still watched', async () => {
    const url = await server.database('held');
    const db = new PostgresAdapter(url);
    const f = folder({ '001_a.sql': '-- sluice:expand\nCREATE TABLE a (id int);\n-- sluice:migrate\nINSERT INTO a VALUES (1);\n' });
    const ms = await loadMigrations(f.dir, 'postgres');
    const t0 = Date.now();
    const results = await withMigrationLock(db, 'migrations', async (lockSession) => [
      await applyPhase(db, ms, 'expand', { ...settings, lockSession }),
      await applyPhase(db, ms, 'migrate', { ...settings, lockSession }),
    ]);
    assert.ok(Date.now() - t0 < 5000);
    assert.deepEqual(
      results.map((r) => [r.ok, r.applied]),
      [
        [true, ['001_a']],
        [true, ['001_a']],
      ],
    );
  });

  test('a signal between lock retries stops the runner at once', async () => {
    const url = await server.database('retry_abort');
    const setup = await client(url, 'setup');
    await setup.query('CREATE TABLE people (id int)');
    const blocker = await client(url, 'holder');
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE people IN ACCESS SHARE MODE');
    const f = folder({ '001_x.sql': '-- sluice:expand\nALTER TABLE people ADD COLUMN x int;\n' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 700);
    const t0 = Date.now();
    const r = await applyPhase(new PostgresAdapter(url), await loadMigrations(f.dir, 'postgres'), 'expand', {
      ...settings,
      lockTimeoutMs: 200,
      lockRetries: 50,
      retryBackoffMs: 300,
      signal: ac.signal,
    });
    await blocker.query('ROLLBACK');
    assert.ok(Date.now() - t0 < 2500, `took ${Date.now() - t0}ms`);
    assert.equal(r.ok, false);
    assert.match(
      r.message,
      new RegExp(
        `^001_x expand stopped (while waiting to retry \\(.*held by pid ${blocker.pid} .*\\)|during .*001_x\\.sql:2:1: ALTER TABLE people ADD COLUMN x int \\(cancelled on the server\\)); nothing of 001_x was applied`,
      ),
    );
  });
});

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { BackfillProgress } from '../../src/core/database.js';
import { readBackfill, renderProgressBar, runBackfill } from '../../src/migrations/backfill.js';
import { PostgresAdapter } from '../../src/migrations/db/postgres.js';
import { SqliteAdapter } from '../../src/migrations/db/sqlite.js';
import { type LoadedMigration, loadMigrationFile } from '../../src/migrations/load.js';
import { loadSqlParser } from '../../src/migrations/sql/parse.js';
import { postgresMissing, startPostgres, type TestPostgres } from '../helpers/postgres.js';

const missing = postgresMissing();
const CHILD = fileURLToPath(new URL('../../../test/fixtures/backfill/child.mjs', import.meta.url));

const BUMP = `-- sluice:migrate
-- sluice:batch key=id size=37
UPDATE t SET n = n + 1 WHERE id >= $1 AND id < $2;
INSERT INTO log (note) VALUES ('once');
`;

function migration(text: string, engine: 'postgres' | 'sqlite' = 'postgres', id = '001_bump'): LoadedMigration {
  return loadMigrationFile(`/migrations/${id}.sql`, text, engine);
}

const settings = { batchSize: 100, pauseMs: 0 };
const base = { lockTimeoutMs: 1000, statementTimeoutMs: 30_000, revision: 2 };

describe('batched, resumable backfill (PostgreSQL)', { skip: missing }, () => {
  let server: TestPostgres;
  let n = 0;
  /** A fresh database with t(id, n) holding ids 1..1000 but 100..199 and 500, plus 5000 (gaps and a far max). */
  async function fresh(): Promise<{ db: PostgresAdapter; c: pg.Client; url: string }> {
    const url = await server.database(`bf${++n}`);
    const c = new pg.Client(url);
    await c.connect();
    await c.query('CREATE TABLE t (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0); CREATE TABLE log (note text)');
    await c.query('INSERT INTO t (id) SELECT g FROM generate_series(1, 1000) g WHERE g NOT BETWEEN 100 AND 199 AND g <> 500');
    await c.query('INSERT INTO t (id) VALUES (5000)');
    return { db: new PostgresAdapter(url), c, url };
  }
  const count = async (c: pg.Client, sql: string) => Number((await c.query(sql)).rows[0].n);

  before(async () => {
    await loadSqlParser();
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });

  test('every key exactly once, gaps and the max key included; a second run redoes nothing', async () => {
    const { db, c } = await fresh();
    try {
      const m = migration(BUMP);
      const r = await runBackfill(db, m, { ...base, settings });
      assert.equal(r.ok, true, r.message);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM t WHERE n <> 1'), 0);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM t'), 900);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM log'), 1);
      const [p] = r.progress;
      assert.deepEqual(
        { ...p },
        {
          migration: '001_bump',
          statement: 0,
          table: 't',
          minKey: 1,
          maxKey: 5000,
          nextKey: 5001,
          batchesDone: Math.ceil(5000 / 37),
          rowsDone: 900,
          done: true,
        },
      );
      const again = await runBackfill(db, m, { ...base, settings });
      assert.equal(again.ok, true, again.message);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM t WHERE n <> 1'), 0, 'a finished backfill ran again');
      assert.equal(await count(c, 'SELECT count(*) AS n FROM log'), 1, 'a done statement ran again');
      const s = await db.connect();
      assert.deepEqual(await readBackfill(s, '001_bump'), r.progress);
      assert.deepEqual(await readBackfill(s, 'other'), []);
      await s.close();
    } finally {
      await c.end();
    }
  });

  test('progress after every batch, in order, and the bar renders it', async () => {
    const { db, c } = await fresh();
    try {
      const seen: BackfillProgress[] = [];
      const r = await runBackfill(db, migration(BUMP), { ...base, settings, progress: (p) => p[0] && seen.push(p[0]) });
      assert.equal(r.ok, true, r.message);
      const batches = seen.map((p) => p.batchesDone);
      assert.deepEqual(
        batches,
        Array.from({ length: batches.length }, (_, i) => i),
      );
      assert.equal(batches.at(-1), Math.ceil(5000 / 37));
      const mid = seen[68];
      assert.equal(mid.nextKey, 1 + 68 * 37);
      assert.match(renderProgressBar(mid, 10), /^t █{5}░{5} 50% 2,516\/5,000 keys, [\d,]+ rows, 68\/136 batches$/);
      assert.match(renderProgressBar(r.progress[0], 10), /^t █{10} 100% 5,000\/5,000 keys, 900 rows, 136\/136 batches$/);
    } finally {
      await c.end();
    }
  });

  test('pauses between batches, stops on the signal, and resumes at the next batch', async () => {
    const { db, c } = await fresh();
    try {
      const ac = new AbortController();
      const m = migration(BUMP);
      const t0 = Date.now();
      const r = await runBackfill(db, m, {
        ...base,
        settings: { batchSize: 100, pauseMs: 40 },
        signal: ac.signal,
        progress: (p) => {
          if ((p[0]?.batchesDone ?? 0) >= 5) ac.abort();
        },
      });
      assert.equal(r.ok, false);
      assert.match(r.message, /stopped at t key 186 \(5 batches done\) — run migrate again to resume/);
      assert.ok(Date.now() - t0 >= 4 * 40, 'no pause between batches');
      assert.equal(await count(c, 'SELECT count(*) AS n FROM t WHERE id < 186 AND n <> 1'), 0);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM t WHERE id >= 186 AND n <> 0'), 0);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM log'), 0);
      const firsts: number[] = [];
      const resumed = await runBackfill(db, m, { ...base, settings, progress: (p) => firsts.push(p[0].batchesDone) });
      assert.equal(resumed.ok, true, resumed.message);
      assert.equal(firsts[0], 5, 'resumes from the recorded cursor');
      assert.equal(firsts[1], 6);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM t WHERE n <> 1'), 0);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM log'), 1);
    } finally {
      await c.end();
    }
  });

  test('waits while more sessions than maxActiveSessions are active, then continues', async () => {
    const { db, c, url } = await fresh();
    const busy = await Promise.all(
      [1, 2, 3].map(async () => {
        const b = new pg.Client(url);
        await b.connect();
        return b;
      }),
    );
    try {
      let sleptAt = 0;
      const sleeping = Promise.all(busy.map((b) => b.query('SELECT pg_sleep(1.5)'))).then(() => {
        sleptAt = Date.now();
      });
      await new Promise((r) => setTimeout(r, 200));
      const messages: string[] = [];
      let firstBatchAt = 0;
      const r = await runBackfill(db, migration(BUMP), {
        ...base,
        settings: { batchSize: 1000, pauseMs: 0, maxActiveSessions: 2 },
        progress: (p, message) => {
          if (message) messages.push(message);
          if (!firstBatchAt && p[0]?.batchesDone === 1) firstBatchAt = Date.now();
        },
      });
      await sleeping;
      assert.equal(r.ok, true, r.message);
      assert.ok(messages.length > 0, 'never reported throttling');
      assert.match(messages[0], /^throttled: [3-9] active sessions > maxActiveSessions 2$/);
      assert.ok(firstBatchAt > 0 && firstBatchAt >= sleptAt - 200, `a batch ran while the sessions were busy (${sleptAt - firstBatchAt} ms before)`);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM t WHERE n <> 1'), 0);
    } finally {
      await Promise.all(busy.map((b) => b.end()));
      await c.end();
    }
  });

  test('a batch blocked by a lock times out, is retried with backoff, and goes through', async () => {
    const { db, c, url } = await fresh();
    const holder = new pg.Client(url);
    await holder.connect();
    try {
      await holder.query('BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
      setTimeout(() => holder.query('COMMIT').catch(() => {}), 700);
      const r = await runBackfill(db, migration(BUMP), { ...base, lockTimeoutMs: 100, lockRetries: 6, retryBackoffMs: 100, settings });
      assert.equal(r.ok, true, r.message);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM t WHERE n <> 1'), 0);
      // Held for good: it gives up with a message saying what to do, and nothing is half done.
      await holder.query('BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
      const blocked = await runBackfill(db, migration(BUMP, 'postgres', '002_again'), {
        ...base,
        lockTimeoutMs: 50,
        lockRetries: 2,
        retryBackoffMs: 20,
        settings,
      });
      await holder.query('ROLLBACK');
      assert.equal(blocked.ok, false);
      assert.match(blocked.message, /lock timeout.*still waiting on a lock after 3 tries/);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM t WHERE n <> 1'), 0);
    } finally {
      await holder.end();
      await c.end();
    }
  });

  test('a no-transaction statement (CREATE INDEX CONCURRENTLY) runs outside a transaction once; a statement_timeout fails whole with what to do', async () => {
    const { db, c } = await fresh();
    try {
      const m = migration(`-- sluice:migrate
CREATE INDEX CONCURRENTLY t_n ON t (n);
-- sluice:batch key=id size=500
UPDATE t SET n = n + 1 WHERE id >= $1 AND id < $2;
`);
      const r = await runBackfill(db, m, { ...base, settings });
      assert.equal(r.ok, true, r.message);
      assert.deepEqual(
        r.progress.map((p) => [p.statement, p.table, p.batchesDone]),
        [[1, 't', 10]],
      );
      assert.equal(await count(c, "SELECT count(*) AS n FROM pg_index WHERE indexrelid = 't_n'::regclass AND indisvalid"), 1);
      const again = await runBackfill(db, m, { ...base, settings });
      assert.equal(again.ok, true, `the index statement ran again: ${again.message}`);

      const slow = migration(
        `-- sluice:migrate
-- sluice:batch key=id size=2000
UPDATE t SET n = n + 1 WHERE id >= $1 AND id < $2 AND (SELECT pg_sleep(0.3)) IS NOT NULL;
`,
        'postgres',
        '003_slow',
      );
      const failed = await runBackfill(db, slow, { ...base, statementTimeoutMs: 100, settings });
      assert.equal(failed.ok, false);
      assert.match(
        failed.message,
        /003_slow migrate statement 1 \(line 3, t\): batch from key 1: canceling statement due to statement timeout — .*make the batch smaller/,
      );
      assert.equal(await count(c, 'SELECT count(*) AS n FROM t WHERE n <> 1'), 0, 'a timed-out batch left changes');
      assert.equal(failed.progress[0].batchesDone, 0);
    } finally {
      await c.end();
    }
  });

  test('kill -9 during a 1M-row backfill: the restart resumes at the next batch and every row is bumped exactly once', async () => {
    const url = await server.database('million');
    const c = new pg.Client(url);
    await c.connect();
    try {
      // 1,000,000 rows over ids 1..1,050,000 (every 21st missing); n starts at id % 7.
      await c.query('CREATE TABLE big (id bigint PRIMARY KEY, n int NOT NULL)');
      await c.query('INSERT INTO big SELECT g, g % 7 FROM generate_series(1, 1050000) g WHERE g % 21 <> 0');
      assert.equal(await count(c, 'SELECT count(*) AS n FROM big'), 1_000_000);
      const expectedSum = Number((await c.query('SELECT sum(n) + count(*) AS n FROM big')).rows[0].n);

      const first = runChild(url);
      await first.until((line) => /^batch (\d+)/.exec(line) !== null && Number(/^batch (\d+)/.exec(line)?.[1]) >= 20);
      first.child.kill('SIGKILL');
      await first.exited;
      assert.ok(!first.lines.some((l) => l.startsWith('result')), 'the child finished before the kill');

      const s = await new PostgresAdapter(url).connect();
      const [killed] = await readBackfill(s, '001_bump');
      await s.close();
      assert.ok(killed.batchesDone >= 20 && killed.batchesDone < 105, `killed at ${killed.batchesDone} batches`);
      assert.equal(killed.nextKey, 1 + killed.batchesDone * 10_000);
      // What is committed is exactly the batches recorded: below the cursor bumped once, above untouched.
      assert.equal(await count(c, `SELECT count(*) AS n FROM big WHERE id < ${killed.nextKey} AND n <> id % 7 + 1`), 0);
      assert.equal(await count(c, `SELECT count(*) AS n FROM big WHERE id >= ${killed.nextKey} AND n <> id % 7`), 0);

      const second = runChild(url);
      const code = await second.exited;
      assert.equal(code, 0, second.lines.join('\n'));
      const batches = second.lines.filter((l) => l.startsWith('batch')).map((l) => Number(l.split(' ')[1]));
      assert.equal(batches[0], killed.batchesDone, 'the restart did not start at the recorded cursor');
      assert.equal(batches[1], killed.batchesDone + 1, 'the restart did not go on with the next batch');
      assert.equal(batches.at(-1), 105);
      assert.match(second.lines.at(-1) ?? '', /^result \{"ok":true/);
      assert.equal(await count(c, 'SELECT count(*) AS n FROM big WHERE n <> id % 7 + 1'), 0);
      assert.equal(Number((await c.query('SELECT sum(n) AS n FROM big')).rows[0].n), expectedSum);
      const s2 = await new PostgresAdapter(url).connect();
      const [final] = await readBackfill(s2, '001_bump');
      await s2.close();
      assert.deepEqual({ b: final.batchesDone, rows: final.rowsDone, done: final.done }, { b: 105, rows: 1_000_000, done: true });
    } finally {
      await c.end();
    }
  });
});

function runChild(url: string): { child: ChildProcess; lines: string[]; exited: Promise<number | null>; until: (f: (l: string) => boolean) => Promise<void> } {
  const child = spawn(process.execPath, [CHILD, url, '10000', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: { f: (l: string) => boolean; resolve: () => void }[] = [];
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of waiters.splice(0)) (w.f(line) ? w.resolve : () => waiters.push(w))();
    }
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const until = (f: (l: string) => boolean) =>
    new Promise<void>((resolve, reject) => {
      if (lines.some(f)) return resolve();
      waiters.push({ f, resolve });
      exited.then(() => reject(new Error(`the child exited first: ${lines.slice(-3).join(' | ')}`)));
    });
  return { child, lines, exited, until };
}

describe('batched backfill (SQLite)', () => {
  test('same tables, every key once, stop and resume', async () => {
    await loadSqlParser();
    const dir = mkdtempSync(join(tmpdir(), 'sluice-bf-sqlite-'));
    try {
      const db = new SqliteAdapter(join(dir, 'app.db'));
      const s = await db.connect();
      await s.query('CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0)');
      await s.query('CREATE TABLE log (note TEXT)');
      await s.query('WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 1000) INSERT INTO t (id) SELECT x FROM g WHERE x % 10 <> 3');
      await s.query('INSERT INTO t (id) VALUES (2500)');
      const m = migration(BUMP, 'sqlite');
      const ac = new AbortController();
      const stopped = await runBackfill(db, m, {
        ...base,
        settings,
        signal: ac.signal,
        progress: (p) => {
          if (p[0].batchesDone === 10) ac.abort();
        },
      });
      assert.equal(stopped.ok, false);
      assert.equal(stopped.progress[0].batchesDone, 10);
      const bumped = await s.query<{ n: number }>('SELECT count(*) AS n FROM t WHERE n = 1');
      assert.equal(bumped.rows[0].n, (await s.query<{ n: number }>('SELECT count(*) AS n FROM t WHERE id < 371')).rows[0].n);
      const r = await runBackfill(db, m, { ...base, settings });
      assert.equal(r.ok, true, r.message);
      assert.equal((await s.query<{ n: number }>('SELECT count(*) AS n FROM t WHERE n <> 1')).rows[0].n, 0);
      assert.equal((await s.query<{ n: number }>('SELECT count(*) AS n FROM log')).rows[0].n, 1);
      const [p] = await readBackfill(s);
      assert.deepEqual(
        { ...p },
        {
          migration: '001_bump',
          statement: 0,
          table: 't',
          minKey: 1,
          maxKey: 2500,
          nextKey: 2501,
          batchesDone: Math.ceil(2500 / 37),
          rowsDone: 901,
          done: true,
        },
      );
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

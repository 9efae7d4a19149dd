/**
 * Acceptance (issue 14): `kill -9` of the control plane during a 1M-row batched backfill
 * on a real PostgreSQL. After the restart the backfill continues at the next batch: every
 * row was incremented exactly once (the statement is `n = n + 1`, so a batch applied twice
 * shows), and the batch count is exactly the range's. Meanwhile a second control plane
 * releasing against the same database waits on the migration lock and says so.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { postgresMissing, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { SluiceUnderTest } from '../helpers/sluice.js';
import { PEOPLE_APP } from '../helpers/migration-e2e.js';
import { waitFor } from '../helpers/wait.js';

const skip = postgresMissing();
const APP = PEOPLE_APP;
const ROWS = 1_000_000;
const BATCH = 5000;
let a: SluiceUnderTest;
let b: SluiceUnderTest | undefined;
let db: TestPostgres;

before(async () => {
  if (skip) return;
  db = await startPostgres();
  a = await SluiceUnderTest.start();
});
after(async () => {
  await b?.down();
  await a?.down();
  await db?.stop();
});

test('kill -9 during a 1M-row backfill: the restarted control plane resumes at the next batch and every row is updated exactly once; a second control plane waits on the lock', {
  skip,
}, async () => {
  const url = await db.database('crash');
  const migrations = join(a.dir, 'migrations');
  mkdirSync(migrations, { recursive: true });
  writeFileSync(
    join(migrations, '001_people.sql'),
    '-- sluice:expand\nCREATE TABLE people (id bigserial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL);\nCREATE TABLE counters (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);\n',
  );
  const urlFile = join(a.dir, 'db-url');
  writeFileSync(urlFile, `${url}\n`);
  const manifest = async (name: string, version: string) =>
    rolloutManifest({
      name,
      version,
      listen: await freePort(),
      replicas: 1,
      dataPlane: 'builtin',
      args: [APP],
      env: { APP_SHAPE: 'v1', DATABASE_URL: url },
      strategy: '    canary:\n      steps:\n        - setWeight: 50\n',
      extra: `  database:\n    engine: postgres\n    url: {file: ${urlFile}}\n    migrations: ${migrations}\n    backups: {enabled: false}\n    backfill: {batchSize: ${BATCH}, pause: 20ms}\n`,
    });
  await a.apply('web.yaml', await manifest('web', 'v1'));
  await waitFor(
    a.rollout('web', (v) => v.status.phase === 'Healthy'),
    { timeoutMs: 60_000, what: 'v1 healthy' },
  );
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`INSERT INTO counters (id) SELECT g FROM generate_series(1, ${ROWS}) g`);
    writeFileSync(join(migrations, '002_count.sql'), `-- sluice:migrate\n-- sluice:batch key=id\nUPDATE counters SET n = n + 1 WHERE id >= $1 AND id < $2;\n`);
    await a.apply('web.yaml', await manifest('web', 'v2'));
    const progress = async () => {
      const r = await client.query("SELECT batches_done, rows_done, done FROM sluice_backfill WHERE migration = '002_count'").catch(() => ({ rows: [] }));
      return r.rows[0] as { batches_done: number; rows_done: number | string; done: boolean } | undefined;
    };
    await waitFor(async () => ((await progress())?.batches_done ?? 0) >= 20, { timeoutMs: 120_000, intervalMs: 50, what: 'the backfill to be under way' });

    // A second control plane releasing another rollout on the same database waits on the lock.
    b = await SluiceUnderTest.start();
    await b.apply('other.yaml', await manifest('other', 'v1'));
    const waiting = await waitFor(
      async () => {
        const v = await b!.get('other');
        return (v.jobs ?? []).find((j) => j.kind === 'migration' && /migration lock/.test(j.message));
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the second control plane to wait on the migration lock' },
    );
    assert.match(waiting.message, /waiting for the migration lock held by/);
    await b.down();
    b = undefined;

    await a.kill9();
    const atKill = (await progress())!;
    const total = Math.ceil(ROWS / BATCH);
    assert.ok(atKill.batches_done > 0 && atKill.batches_done < total, `killed mid-way (${atKill.batches_done}/${total} batches)`);
    const mid = await client.query(
      'SELECT count(*) FILTER (WHERE n = 1)::int AS one, count(*) FILTER (WHERE n = 0)::int AS zero, count(*) FILTER (WHERE n > 1)::int AS more FROM counters',
    );
    assert.equal(mid.rows[0].more, 0);
    assert.equal(mid.rows[0].one, Number(atKill.rows_done), 'what the cursor says is done is exactly what was updated');

    await a.up();
    await waitFor(
      a.rollout(
        'web',
        (v) =>
          v.status.phase === 'Healthy' &&
          v.status.stableRevision === v.status.currentRevision &&
          v.revisions.find((r) => r.number === v.status.stableRevision)?.template.version === 'v2',
      ),
      { timeoutMs: 180_000, what: 'v2 released after the restart' },
    );
    const end = (await progress())!;
    assert.equal(Number(end.done), 1);
    assert.equal(end.batches_done, total, 'every batch ran once: none redone after the restart');
    const final = await client.query(
      'SELECT count(*) FILTER (WHERE n = 1)::int AS one, count(*) FILTER (WHERE n <> 1)::int AS other, sum(n)::bigint AS sum FROM counters',
    );
    assert.deepEqual(final.rows[0], { one: ROWS, other: 0, sum: String(ROWS) }, 'every row incremented exactly once');
  } finally {
    await client.end();
  }
});

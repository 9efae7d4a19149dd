/**
 * Acceptance (issue 14), on a real sluice and a real PostgreSQL:
 *
 * - the playbooks' migration set (a JSONB column with a default, a concurrent index, a new
 *   table with a foreign key, a backfill UPDATE) ships with a canary under 300 req/s of
 *   reads and writes: zero failed requests, and the index is built concurrently (outside a
 *   transaction, where PostgreSQL accepts CREATE INDEX CONCURRENTLY) and valid;
 * - a failing expand aborts the release before any instance of the new revision starts,
 *   and the backup taken just before it (`sluice db backups`) restores the database
 *   exactly (`sluice db restore`, refused while traffic flows): the checksum of a table
 *   dump is the one from before.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { rolloutManifest } from '../helpers/manifest.js';
import { PeopleLoad } from '../helpers/people-load.js';
import { freePort } from '../helpers/ports.js';
import { PEOPLE_APP, PEOPLE_TABLE, sluiceWithPostgres } from '../helpers/migration-e2e.js';
import { waitFor } from '../helpers/wait.js';

const APP = PEOPLE_APP;
const env = sluiceWithPostgres();
const { skip } = env;

const PLAYBOOK = `-- The playbooks' set: a JSONB column with a default, a concurrent index, a new table
-- with a foreign key, then a backfill.
-- sluice:expand
ALTER TABLE people ADD COLUMN preferences jsonb NOT NULL DEFAULT '{}';
CREATE INDEX CONCURRENTLY people_last_name_idx ON people (last_name);
CREATE TABLE orders (id bigserial PRIMARY KEY, person_id bigint NOT NULL REFERENCES people (id), total numeric(12, 2) NOT NULL);
-- sluice:migrate
-- sluice:batch key=id size=1000
UPDATE people SET preferences = jsonb_build_object('tier', 'basic') WHERE id >= $1 AND id < $2 AND preferences = '{}';
`;

const BROKEN = `-- sluice:expand
ALTER TABLE people ADD COLUMN nickname text;
UPDATE no_such_table SET x = 1;
`;

/** A checksum of the table's rows and of the schema around it. */
async function checksum(client: pg.Client): Promise<string> {
  const rows = await client.query("SELECT md5(coalesce(string_agg(p::text, ',' ORDER BY id), '')) AS h, count(*)::int AS n FROM people p");
  const cols = await client.query(
    "SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' ORDER BY table_name, column_name) AS c FROM information_schema.columns WHERE table_schema = 'public'",
  );
  return `${rows.rows[0].n}:${rows.rows[0].h}:${cols.rows[0].c}`;
}

test('the playbook migration set through a canary at 300 req/s: zero failed requests, the index built concurrently; a failing expand starts nothing and its backup restores exactly', {
  skip,
}, async () => {
  const sluice = env.sluice();
  const db = env.db();
  const url = await db.database('shop');
  const migrations = join(sluice.dir, 'migrations');
  mkdirSync(migrations, { recursive: true });
  writeFileSync(join(migrations, '001_people.sql'), PEOPLE_TABLE);
  const urlFile = join(sluice.dir, 'shop-db-url');
  writeFileSync(urlFile, `${url}\n`);
  const port = await freePort();
  const manifest = (version: string) =>
    rolloutManifest({
      name: 'shop',
      version,
      listen: port,
      replicas: 2,
      dataPlane: 'builtin',
      args: [APP],
      env: { APP_SHAPE: 'v1', DATABASE_URL: url, POOL_SIZE: '8' },
      strategy: `    canary:
      steps:
        - setWeight: 50
        - pause: {duration: 10}
`,
      extra: `  database:
    engine: postgres
    url: {file: ${urlFile}}
    migrations: ${migrations}
    backups: {keep: 3}
`,
    });
  const done = (version: string) =>
    sluice.rollout('shop', (v) => v.status.phase === 'Healthy' && v.revisions.find((r) => r.number === v.status.stableRevision)?.template.version === version);

  await sluice.apply('shop.yaml', manifest('v1'));
  await waitFor(done('v1'), { timeoutMs: 60_000, what: 'v1 healthy' });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("INSERT INTO people (first_name, last_name) SELECT 'Old' || g, 'Row' || g FROM generate_series(1, 20000) g");

    const load = new PeopleLoad(port, 300);
    try {
      writeFileSync(join(migrations, '002_playbook.sql'), PLAYBOOK);
      await sluice.apply('shop.yaml', manifest('v2'));
      await waitFor(done('v2'), { timeoutMs: 120_000, what: 'v2 released' });
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures.slice(0, 5), [], `failed requests: ${load.failures.length} of ${load.requests}`);
    assert.ok(load.requests > 3000, `load ran (${load.requests} requests)`);
    const index = await client.query(
      "SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'people_last_name_idx'",
    );
    assert.deepEqual(index.rows, [{ valid: true }], 'the concurrent index exists and is valid');
    const unfilled = await client.query("SELECT count(*)::int AS n FROM people WHERE id <= 20000 AND preferences = '{}'");
    assert.equal(unfilled.rows[0].n, 0, 'the backfill reached every old row');
    const fk = await client.query("SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'f' AND convalidated");
    assert.equal(fk.rows[0].n, 1);

    // A failing expand: nothing of it stays, no v3 instance ever starts, the backup before it restores exactly.
    const before = await checksum(client);
    writeFileSync(join(migrations, '003_broken.sql'), BROKEN);
    await sluice.apply('shop.yaml', manifest('v3'));
    const failed = await waitFor(
      sluice.rollout('shop', (v) => v.status.aborted),
      { timeoutMs: 60_000, what: 'the release aborted on its expand' },
    );
    assert.match(failed.status.message, /database expand failed: .*003_broken\.sql:3:\d+: .*no_such_table.*nothing of 003_broken was applied/);
    const v3 = failed.revisions.find((r) => r.template.version === 'v3')!;
    assert.ok(!failed.instances.some((i) => i.revision === v3.number), 'no v3 instance');
    assert.ok(!failed.events.some((e) => e.revision === v3.number && /Scaled|started/i.test(e.reason)), 'no v3 instance was ever started');
    assert.equal(await checksum(client), before, 'the failed expand left nothing behind (one transaction)');

    const list = await sluice.cli(['db', 'backups', 'shop', '-o', 'json']);
    assert.equal(list.code, 0, list.stderr);
    const backups = (JSON.parse(list.stdout) as { backups: { id: string; revision: number }[] }).backups;
    const taken = backups.filter((b) => b.revision === v3.number);
    assert.equal(taken.length, 1, `one backup before v3's expand: ${list.stdout}`);

    // The database changes afterwards; the restore brings back the state of the backup.
    await client.query("INSERT INTO people (first_name, last_name) VALUES ('After', 'Backup')");
    await client.query('ALTER TABLE orders ADD COLUMN note text');
    const refused = await sluice.cli(['db', 'restore', 'shop', taken[0]!.id, '--yes']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /still serves traffic .*stop-traffic shop/);
    assert.equal((await sluice.cli(['stop-traffic', 'shop'])).code, 0);
    const restored = await sluice.cli(['db', 'restore', 'shop', taken[0]!.id], `${taken[0]!.id}\n`);
    assert.equal(restored.code, 0, restored.stderr + restored.stdout);
    assert.match(restored.stdout, /restored/);
    await client.end().catch(() => {});
    const again = new pg.Client({ connectionString: url });
    await again.connect();
    try {
      assert.equal(await checksum(again), before, 'the restore put the database back exactly');
    } finally {
      await again.end();
    }
    assert.equal((await sluice.cli(['resume-traffic', 'shop'])).code, 0);
  } finally {
    await client.end().catch(() => {});
  }
});

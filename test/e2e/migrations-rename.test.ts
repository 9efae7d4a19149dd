/**
 * Acceptance (issue 14): `first_name` / `last_name` → `full_name` across a release, on a
 * real sluice and a real PostgreSQL, under read/write load through the router.
 *
 * - v1 (reads and writes first_name + last_name) is stable; v2 (full_name) ships with a
 *   `replaceColumns` migration: expand (new column + sync trigger) and the backfill run
 *   before any v2 instance starts, then the canary serves both side by side: zero failed
 *   requests, and every row written by either version is readable by both;
 * - an undo inside the rollback window goes back to v1 with zero failed requests;
 * - v2 again, then v3: contract drops the old columns only now, and an undo to v1 is
 *   refused with the reason.
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

const FULL_NAME = `operations:
  - replaceColumns:
      table: people
      from: [first_name, last_name]
      to: {name: full_name, type: text}
      up: "first_name || ' ' || last_name"
      down:
        first_name: "split_part(full_name, ' ', 1)"
        last_name: "substr(full_name, length(split_part(full_name, ' ', 1)) + 2)"
`;

test('first/last name → full_name: both versions serve reads and writes through the canary, undo inside the window, contract only after it, undo after contract refused', {
  skip,
}, async () => {
  const sluice = env.sluice();
  const db = env.db();
  const url = await db.database('people');
  const migrations = join(sluice.dir, 'migrations');
  mkdirSync(migrations, { recursive: true });
  writeFileSync(join(migrations, '001_people.sql'), PEOPLE_TABLE);
  const urlFile = join(sluice.dir, 'people-db-url');
  writeFileSync(urlFile, `${url}\n`);
  const port = await freePort();
  const manifest = (version: string, shape: 'v1' | 'v2') =>
    rolloutManifest({
      name: 'people',
      version,
      listen: port,
      replicas: 2,
      dataPlane: 'builtin',
      args: [APP],
      env: { APP_SHAPE: shape, DATABASE_URL: url },
      strategy: `    canary:
      steps:
        - setWeight: 50
        - pause: {duration: 6}
`,
      extra: `  database:
    engine: postgres
    url: {file: ${urlFile}}
    migrations: ${migrations}
    backfill: {batchSize: 500}
`,
    });
  const done = (version: string) =>
    sluice.rollout(
      'people',
      (v) => v.status.phase === 'Healthy' && v.revisions.find((r) => r.number === v.status.stableRevision)?.template.version === version,
    );

  await sluice.apply('people.yaml', manifest('v1', 'v1'));
  await waitFor(done('v1'), { timeoutMs: 60_000, what: 'v1 healthy' });
  // Rows from before the release: the backfill gives them a full_name.
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("INSERT INTO people (first_name, last_name) SELECT 'Old' || g, 'Row' || g FROM generate_series(1, 3000) g");

    const load = new PeopleLoad(port, 120);
    try {
      writeFileSync(join(migrations, '002_full_name.yaml'), FULL_NAME);
      await sluice.apply('people.yaml', manifest('v2', 'v2'));
      await waitFor(done('v2'), { timeoutMs: 120_000, what: 'v2 released' });
      const afterRelease = { ...load.byShape };
      assert.ok((afterRelease.v1 ?? 0) > 100 && (afterRelease.v2 ?? 0) > 100, `both versions answered during the release: ${JSON.stringify(afterRelease)}`);
      const backfilled = await client.query("SELECT count(*)::int AS n FROM people WHERE full_name IS NULL OR full_name <> first_name || ' ' || last_name");
      assert.equal(backfilled.rows[0].n, 0, 'every row, old or written by either version, has both shapes in agreement');

      // Undo inside the window: v1 again, its columns are still there and kept in sync.
      const undo = await sluice.cli(['undo', 'people']);
      assert.equal(undo.code, 0, undo.stderr);
      await waitFor(done('v1'), { timeoutMs: 120_000, what: 'undo to v1' });
      assert.equal(
        (await client.query("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'people' AND column_name = 'first_name'")).rows[0].n,
        1,
      );

      // Forward again, then the next release contracts.
      await sluice.apply('people.yaml', manifest('v2', 'v2'));
      await waitFor(done('v2'), { timeoutMs: 120_000, what: 'v2 again' });
      await sluice.apply('people.yaml', manifest('v3', 'v2'));
      await waitFor(done('v3'), { timeoutMs: 120_000, what: 'v3 released (and 002 contracted)' });
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures.slice(0, 5), [], `failed requests: ${load.failures.length} of ${load.requests}`);
    assert.ok(load.requests > 2000, `load ran (${load.requests} requests)`);

    const cols = await client.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'people' ORDER BY column_name");
    assert.deepEqual(
      cols.rows.map((r) => r.column_name),
      ['full_name', 'id'],
      'contract dropped first_name and last_name',
    );
    // No lost writes: every write the load saw acknowledged is in the table with its value.
    const rows = await client.query('SELECT id, full_name FROM people');
    const byId = new Map(rows.rows.map((r) => [Number(r.id), r.full_name as string]));
    const lost = [...load.people.values()].filter((p) => byId.get(p.id) !== p.full_name);
    assert.deepEqual(lost.slice(0, 5), [], `${lost.length} of ${load.people.size} acknowledged writes are missing or wrong`);
    assert.equal(byId.get(1), 'Old1 Row1');

    // v1 cannot come back now.
    const v = await sluice.get('people');
    const v1 = v.revisions.find((r) => r.template.version === 'v1')!;
    const refused = await sluice.cli(['undo', 'people', '--to-revision', String(v1.number)]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, new RegExp(`revision ${v1.number} cannot come back: it was built before migration 002_full_name`));
    assert.equal((await sluice.get('people')).status.currentRevision, v.status.currentRevision, 'nothing changed');
  } finally {
    await client.end();
  }
});

/**
 * Acceptance (issue 14): bad input to the migrations is one clear error and nothing is
 * applied — unparsable SQL, a missing folder, a contract statement in expand (refused by
 * `sluice apply` and `sluice lint`), a wrong URL and a changed applied file (the release
 * stops at its expand, before any new instance). Also `sluice db status` and `sluice db
 * plan` on a real sluice and PostgreSQL.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { PEOPLE_APP, PEOPLE_TABLE, sluiceWithPostgres } from '../helpers/migration-e2e.js';
import { waitFor } from '../helpers/wait.js';

const APP = PEOPLE_APP;
const env = sluiceWithPostgres();
const { skip } = env;

test('bad migrations are refused with one line and change nothing; a wrong URL and a changed applied file stop the release before any new instance', {
  skip,
}, async () => {
  const sluice = env.sluice();
  const db = env.db();
  const url = await db.database('bad');
  const migrations = join(sluice.dir, 'migrations');
  mkdirSync(migrations, { recursive: true });
  writeFileSync(join(migrations, '001_people.sql'), PEOPLE_TABLE);
  const good = join(sluice.dir, 'good-url');
  writeFileSync(good, url);
  const wrong = join(sluice.dir, 'wrong-url');
  writeFileSync(wrong, url.replace(/:(\d+)\//, (_, p) => `:${Number(p) + 1}/`).replace('postgres@', 'postgres:s3cret@'));
  const port = await freePort();
  const manifest = (version: string, o: { urlFile?: string; folder?: string } = {}) =>
    rolloutManifest({
      name: 'bad',
      version,
      listen: port,
      replicas: 1,
      dataPlane: 'builtin',
      args: [APP],
      env: { APP_SHAPE: 'v1', DATABASE_URL: url },
      strategy: '    canary:\n      steps:\n        - setWeight: 50\n',
      extra: `  database:\n    engine: postgres\n    url: {file: ${o.urlFile ?? good}}\n    migrations: ${o.folder ?? migrations}\n`,
    });
  await sluice.apply('bad.yaml', manifest('v1'));
  await waitFor(
    sluice.rollout('bad', (v) => v.status.phase === 'Healthy'),
    { timeoutMs: 60_000, what: 'v1 healthy' },
  );
  const status = await sluice.cli(['db', 'status', 'bad']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /001_people\s+r1 /);
  assert.doesNotMatch(status.stdout + status.stderr, /s3cret/);

  const revisions = async () => (await sluice.get('bad')).revisions.length;
  const before = await revisions();
  const refused = async (file: string, text: string, pattern: RegExp, folder?: string) => {
    writeFileSync(join(migrations, file), text);
    const path = join(sluice.dir, 'bad.yaml');
    writeFileSync(path, manifest('v2', { folder }));
    const r = await sluice.cli(['apply', '-f', path]);
    assert.notEqual(r.code, 0, `${file}: apply must fail`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0]!, pattern);
    assert.equal(await revisions(), before, `${file}: no new revision`);
    const lint = await sluice.cli(['lint', '-f', path]);
    assert.notEqual(lint.code, 0, `${file}: sluice lint fails too`);
    rmSync(join(migrations, file));
  };
  await refused(
    '002_typo.sql',
    '-- sluice:expand\nALTER TABLE people ADD COLUMN email text;\nALTER TABLE peple ADDD COLUMN x int;\n',
    /002_typo\.sql:3:\d+: syntax error at or near "ADDD"/,
  );
  await refused('002_drop.sql', '-- sluice:expand\nALTER TABLE people DROP COLUMN last_name;\n', /002_drop\.sql:2:1 .*drop.*column/i);
  const missing = join(sluice.dir, 'no-such-folder');
  writeFileSync(join(sluice.dir, 'missing.yaml'), manifest('v2', { folder: missing }));
  const m = await sluice.cli(['apply', '-f', join(sluice.dir, 'missing.yaml')]);
  assert.notEqual(m.code, 0);
  assert.match(m.stderr.trim(), /no-such-folder:1:1: migrations folder not found — create it or fix `database\.migrations`$/);

  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const columns = async () =>
      (await client.query("SELECT string_agg(column_name, ',' ORDER BY column_name) AS c FROM information_schema.columns WHERE table_name = 'people'")).rows[0]
        .c;
    assert.equal(await columns(), 'first_name,id,last_name', 'nothing of the refused files was applied');

    // A wrong URL: the release stops at its expand; the message names the database, never the password.
    writeFileSync(join(migrations, '002_email.sql'), '-- sluice:expand\nALTER TABLE people ADD COLUMN email text;\n');
    await sluice.apply('bad.yaml', manifest('v2', { urlFile: wrong }));
    const stopped = await waitFor(
      sluice.rollout('bad', (v) => v.status.aborted),
      { timeoutMs: 60_000, what: 'the release stopped on the wrong URL' },
    );
    assert.match(
      stopped.status.message,
      /^database (contract|expand)\b.* failed: cannot connect to postgres:\/\/postgres@127\.0\.0\.1:\d+\/bad: .* — check the URL/,
    );
    assert.doesNotMatch(JSON.stringify(stopped), /s3cret/);
    assert.deepEqual(
      stopped.instances.map((i) => i.revision),
      [stopped.status.stableRevision],
      'only the stable revision runs',
    );

    // The right URL: v2 applies 002; then 002's file changes: the next release stops at its expand.
    await sluice.apply('bad.yaml', manifest('v2'));
    await waitFor(
      sluice.rollout('bad', (v) => v.status.phase === 'Healthy' && v.status.stableRevision === v.status.currentRevision && !v.status.aborted),
      { timeoutMs: 60_000, what: 'v2 with 002' },
    );
    assert.equal(await columns(), 'email,first_name,id,last_name');
    const plan = await sluice.cli(['db', 'plan', 'bad']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /002_email expand: already applied \(r\d+\) — skipped\nnothing to do for expand/);
    assert.match(plan.stdout, /lock_timeout 2000ms/);
    writeFileSync(join(migrations, '002_email.sql'), '-- sluice:expand\nALTER TABLE people ADD COLUMN email varchar(200);\n');
    await sluice.apply('bad.yaml', manifest('v3'));
    const changed = await waitFor(
      sluice.rollout('bad', (v) => v.status.aborted),
      { timeoutMs: 60_000, what: 'the release stopped on the changed file' },
    );
    assert.match(changed.status.message, /applied migration 002_email changed since it ran/);
    assert.equal(await columns(), 'email,first_name,id,last_name', 'nothing re-ran');
  } finally {
    await client.end();
  }
});

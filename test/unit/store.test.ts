import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';
import { STATUS_STEPS, SPEC_STEPS, currentFormat, decodeRow } from '../../src/store/row-formats.js';
import { initialStatus } from '../../src/engine/controller.js';

const file = () => join(mkdtempSync(join(tmpdir(), 'sluice-store-')), 'state', 'sluice.db');

test('everything written is there after reopening the file', () => {
  const path = file();
  let store = new SqliteStore(path);
  const spec = { name: 'web' } as never;
  store.putRollout({ name: 'web', spec, source: 'yaml', status: initialStatus(1, 5), createdAt: 5 });
  store.addRevision({ rollout: 'web', number: 1, template: { version: 'v1' } as never, hash: 'h', createdAt: 5, cause: 'apply' });
  const e = store.appendEvent('web', { type: 'Normal', reason: 'Created', message: 'hi', revision: 1 }, 'ana', 6);
  store.saveStatus('web', { ...initialStatus(1, 5), phase: 'Healthy' });
  store.saveRouteTable({ generation: 7, listeners: [] });
  store.close();

  store = new SqliteStore(path);
  assert.equal(store.getRollout('web')?.status.phase, 'Healthy');
  assert.equal(store.listRevisions('web')[0].hash, 'h');
  assert.deepEqual(store.listEvents('web'), [{ ...e }]);
  assert.equal(store.lastEvents('web', 5)[0].actor, 'ana');
  assert.equal(store.loadRouteTable()?.generation, 7);
  store.close();
});

test('jobs stored before the revision column (schema 4) get it from their key; rows the old pruning left behind are dropped', () => {
  const path = file();
  mkdirSync(dirname(path), { recursive: true });
  let db = new Database(path);
  migrate(db, MIGRATIONS.slice(0, 4));
  const revision = db.prepare("INSERT INTO revisions (rollout, number, template, hash, cause, created_at) VALUES (?, ?, '{}', 'h', 'apply', 1)");
  const job = db.prepare("INSERT INTO jobs (key, rollout, job, status) VALUES (?, ?, '{}', '{}')");
  const measurement = db.prepare("INSERT INTO measurements (job, measurement) VALUES (?, '{}')");
  for (const [rollout, n] of [
    ['web', 1],
    ['web', 12],
    ['web-2', 1],
  ] as const)
    revision.run(rollout, n);
  const kept = ['web/r1/a1/step0.analysis', 'web/r12/a1/x', 'web-2/r1/a1/x'];
  // r3 was pruned (its job saved again afterwards), `gone` deleted, `web/x` names no revision
  const leftovers = ['web/r3/a1/x', 'gone/r1/a1/x', 'web/x/a1/y'];
  for (const key of [...kept, ...leftovers]) {
    job.run(key, key.slice(0, key.indexOf('/')));
    measurement.run(key);
  }
  measurement.run('web/r1/a1/never-saved');
  db.close();

  const store = new SqliteStore(path);
  db = new Database(path, { readonly: true });
  const rows = () => db.prepare('SELECT key, revision, (SELECT count(*) FROM measurements WHERE job = key) AS measurements FROM jobs ORDER BY rowid').all();
  const orphans = () => (db.prepare('SELECT count(*) AS n FROM measurements WHERE job NOT IN (SELECT key FROM jobs)').get() as { n: number }).n;
  assert.deepEqual(rows(), [
    { key: kept[0], revision: 1, measurements: 1 },
    { key: kept[1], revision: 12, measurements: 1 },
    { key: kept[2], revision: 1, measurements: 1 },
  ]);
  assert.equal(orphans(), 0);
  store.deleteRevision('web', 1);
  assert.deepEqual(
    rows().map((r) => (r as { key: string }).key),
    [kept[1], kept[2]],
    'pruned by the backfilled column: r1 of web only',
  );
  assert.equal(orphans(), 0);
  db.close();
  store.close();
});

/** A database as an older sluice left it: the first `steps` migrations, and one rollout. */
function olderDatabase(steps: number): string {
  const path = file();
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  migrate(db, MIGRATIONS.slice(0, steps));
  db.prepare("INSERT INTO rollouts (name, spec, source, status, created_at) VALUES ('web', '{}', 'yaml', '{}', 5)").run();
  db.close();
  return path;
}

const schemaOf = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true });
  } finally {
    db.close();
  }
};

test('the schema version is the number of migrations', () => {
  const path = file();
  new SqliteStore(path).close();
  assert.equal(schemaOf(path), MIGRATIONS.length);
});

for (let steps = 1; steps < MIGRATIONS.length; steps++) {
  test(`a database of schema ${steps} opens, is brought to the current schema and keeps its data`, () => {
    const path = olderDatabase(steps);
    const store = new SqliteStore(path);
    assert.equal(store.getRollout('web')?.createdAt, 5);
    store.putExposure({
      rollout: 'web',
      experiment: 'r1a1',
      variant: 'a',
      revision: 1,
      requests: 1,
      users: 1,
      seenRequests: 1,
      seenUsers: 1,
      startedAt: 1,
      updatedAt: 1,
    });
    assert.equal(store.listExposures('web').length, 1, 'the newest table is there');
    store.close();
    assert.equal(schemaOf(path), MIGRATIONS.length);
  });
}

test('adding a migration, and nothing else, bumps the schema: the longer list opens its database again, the shorter one refuses it untouched', () => {
  const path = olderDatabase(MIGRATIONS.length);
  const longer = [...MIGRATIONS, 'CREATE TABLE from_the_future (name TEXT PRIMARY KEY);'];
  for (let start = 0; start < 2; start++) {
    const db = new Database(path);
    migrate(db, longer);
    db.prepare('INSERT INTO from_the_future (name) VALUES (?)').run(`f${start}`);
    db.close();
  }
  assert.equal(schemaOf(path), longer.length);

  assert.throws(
    () => new SqliteStore(path),
    new RegExp(`sluice\\.db has schema ${longer.length}, newer than this sluice understands \\(${MIGRATIONS.length}\\) — upgrade sluice$`),
  );
  const db = new Database(path, { readonly: true });
  assert.equal((db.prepare('SELECT count(*) AS n FROM from_the_future').get() as { n: number }).n, 2);
  assert.equal((db.prepare('SELECT created_at FROM rollouts').get() as { created_at: number }).created_at, 5);
  db.close();
  assert.equal(schemaOf(path), longer.length);
});

test('a rollout row from before row formats (schema 3) loads as format 1; rows are written in the current format', () => {
  const path = olderDatabase(3);
  const store = new SqliteStore(path);
  assert.deepEqual(store.getRollout('web'), { name: 'web', spec: {}, source: 'yaml', status: {}, createdAt: 5 });
  store.putRollout({ name: 'api', spec: { name: 'api' } as never, source: 'yaml', status: initialStatus(1, 5), createdAt: 5 });
  store.close();
  const db = new Database(path, { readonly: true });
  const formats = db.prepare('SELECT name, spec_format AS spec, status_format AS status FROM rollouts ORDER BY name').all();
  db.close();
  assert.deepEqual(formats, [
    { name: 'api', spec: currentFormat(SPEC_STEPS), status: currentFormat(STATUS_STEPS) },
    { name: 'web', spec: 1, status: 1 },
  ]);
});

test('a row in a format this sluice does not know is refused with one line naming it; saving it again writes a known format', () => {
  const path = file();
  let store = new SqliteStore(path);
  store.putRollout({ name: 'web', spec: { name: 'web' } as never, source: 'yaml', status: initialStatus(1, 5), createdAt: 5 });
  store.close();
  const db = new Database(path);
  db.prepare('UPDATE rollouts SET status_format = ?').run(currentFormat(STATUS_STEPS) + 1);
  db.close();

  store = new SqliteStore(path);
  const refusal = new RegExp(
    `rollout web: status is stored in format ${currentFormat(STATUS_STEPS) + 1}, which this sluice does not understand \\(it knows 1 to ${currentFormat(STATUS_STEPS)}\\) — upgrade sluice$`,
  );
  assert.throws(() => store.getRollout('web'), refusal);
  assert.throws(() => store.listRollouts(), refusal);
  store.saveStatus('web', { ...initialStatus(1, 5), phase: 'Healthy' });
  assert.equal(store.getRollout('web')?.status.phase, 'Healthy');
  store.close();
});

test('decodeRow brings an older row through each step to the current format, and leaves a current one as it is', () => {
  const steps = [(v: unknown) => ({ ...(v as object), weight: 0 }), (v: unknown) => ({ ...(v as object), v3: true })];
  assert.deepEqual(decodeRow('spec', '{"name":"web"}', 1, steps), { name: 'web', weight: 0, v3: true });
  assert.deepEqual(decodeRow('spec', '{"name":"web"}', 2, steps), { name: 'web', v3: true });
  assert.deepEqual(decodeRow('spec', '{"name":"web"}', 3, steps), { name: 'web' });
  for (const format of [0, 4, 1.5]) assert.throws(() => decodeRow('spec', '{}', format, steps), /: spec is stored in format/);
});

test('onEvent hears of an event once it is committed, and never of one a transaction rolled back', async () => {
  const store = new SqliteStore(file());
  const heard: string[] = [];
  store.onEvent = (e) => heard.push(e.reason);
  const draft = (reason: string) => ({ type: 'Normal' as const, reason, message: '' });
  store.appendEvent('web', draft('Alone'), 'ana', 1);
  assert.throws(() =>
    store.transaction(() => {
      store.appendEvent('web', draft('RolledBack'), 'ana', 2);
      throw new Error('boom');
    }),
  );
  store.transaction(() => {
    store.appendEvent('web', draft('Committed'), 'ana', 3);
    try {
      store.transaction(() => {
        store.appendEvent('web', draft('InnerRolledBack'), 'ana', 4);
        throw new Error('inner');
      });
    } catch {
      // the outer transaction commits without the inner one
    }
  });
  await new Promise((done) => setImmediate(done));
  assert.deepEqual(heard, ['Alone', 'Committed']);
  assert.deepEqual(
    store.listEvents('web').map((e) => e.reason),
    ['Alone', 'Committed'],
  );
  store.close();
});

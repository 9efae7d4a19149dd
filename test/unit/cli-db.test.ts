import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderBackups, renderDatabaseStatus } from '../../src/cli/db.js';
import type { DatabaseStatusView } from '../../src/core/database.js';

const at = Date.UTC(2026, 11, 2, 19, 30, 0);

test('db status: each migration with the revision and time of each phase, a changed file marked, a bar per backfill', () => {
  const view: DatabaseStatusView = {
    rollout: 'people',
    engine: 'postgres',
    database: 'postgres://app@127.0.0.1:5432/people',
    migrations: [
      { id: '001_people', checksum: 'a', phases: { expand: { revision: 1, at }, migrate: { revision: 1, at }, contract: { revision: 3, at } } },
      { id: '002_full_name', checksum: 'b', phases: { expand: { revision: 2, at } }, changed: true },
    ],
    backfill: [
      { migration: '002_full_name', statement: 0, table: 'people', nextKey: 501, minKey: 1, maxKey: 1000, batchesDone: 5, rowsDone: 500, done: false },
    ],
    backups: [{ id: 'b-people-r2-20261202193000', rollout: 'people', revision: 2, engine: 'postgres', file: '/x', bytes: 2048, createdAt: at }],
  };
  const text = renderDatabaseStatus(view);
  const lines = text.split('\n');
  assert.equal(lines[0], 'rollout/people: postgres postgres://app@127.0.0.1:5432/people');
  assert.match(lines.find((l) => l.includes('001_people'))!, /001_people\s+r1 12-02 19:30\s+r1 12-02 19:30\s+r3 12-02 19:30/);
  assert.match(lines.find((l) => l.includes('002_full_name  '))!, /r2 12-02 19:30\s+pending\s+pending\s+CHANGED since applied/);
  assert.match(text, /backfill 002_full_name#0: people █+░+ 50% 500\/1,000 keys, 500 rows, 5\/10 batches/);
  assert.match(text, /backups: 1, newest b-people-r2-20261202193000/);
});

test('db status: a database that cannot be read says why, and still lists what the control plane knows', () => {
  const text = renderDatabaseStatus({
    rollout: 'people',
    engine: 'postgres',
    database: '$DATABASE_URL',
    migrations: [{ id: '001_people', checksum: 'a', phases: {} }],
    backfill: [],
    backups: [],
    error: 'cannot connect to postgres://app@127.0.0.1:5432/people: ECONNREFUSED — check the URL and that the server runs',
  });
  assert.match(text, /cannot read the database: cannot connect .*ECONNREFUSED/);
  assert.match(text, /001_people\s+pending\s+pending\s+pending/);
});

test('db backups: one row per backup with its size, none says so', () => {
  assert.equal(renderBackups([]), 'no backups');
  const text = renderBackups([
    { id: 'b-shop-r3-20261202193000', rollout: 'shop', revision: 3, engine: 'postgres', file: '/x', bytes: 3 * 1024 * 1024, createdAt: at },
  ]);
  const [head, row] = text.split('\n');
  assert.match(head!, /^ID\s+ROLLOUT\s+REV\s+ENGINE\s+SIZE\s+CREATED$/);
  assert.match(row!, /^b-shop-r3-20261202193000\s+shop\s+r3\s+postgres\s+3\.0 MiB\s+2026-12-02 19:30:00$/);
});

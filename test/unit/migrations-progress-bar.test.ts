import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BackfillProgress } from '../../src/core/database.js';
import { renderProgressBar } from '../../src/migrations/backfill.js';

const p = (over: Partial<BackfillProgress>): BackfillProgress => ({
  migration: '002_full_name',
  statement: 0,
  table: 'people',
  minKey: 1,
  maxKey: 1_000_000,
  nextKey: 1,
  batchesDone: 0,
  rowsDone: 0,
  done: false,
  ...over,
});

test('the bar: fraction of the key range walked, rows, batches done of the total they imply', () => {
  assert.equal(
    renderProgressBar(p({ nextKey: 700_001, batchesDone: 70, rowsDone: 700_000 }), 10),
    'people ███████░░░ 70% 700,000/1,000,000 keys, 700,000 rows, 70/100 batches',
  );
  assert.equal(renderProgressBar(p({}), 4), 'people ░░░░ 0% 0/1,000,000 keys, 0 rows, 0/? batches');
  // Never 100% before it is done, and exactly 100% when it is (the last batch may be short).
  assert.match(renderProgressBar(p({ nextKey: 999_999, batchesDone: 99, rowsDone: 5 }), 10), / 99% /);
  assert.equal(
    renderProgressBar(p({ nextKey: 1_000_001, batchesDone: 101, rowsDone: 999_000, done: true }), 5),
    'people █████ 100% 1,000,000/1,000,000 keys, 999,000 rows, 101/101 batches',
  );
  // An empty table is done at once.
  assert.equal(renderProgressBar(p({ minKey: 0, maxKey: -1, nextKey: 0, done: true }), 3), 'people ███ 100% 0/0 keys, 0 rows, 0/0 batches');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RevisionSamples } from '../../src/router/samples.js';

test('a sample ring starts small, grows while it fills, keeps every sample in order, then wraps at capacity', () => {
  const ring = new RevisionSamples(4096);
  for (let n = 0; n < 3000; n++) ring.record(200 + (n % 2), n, 0);
  const seen: number[] = [];
  let r = ring.scan(0, -1, 10_000, (seconds) => seen.push(seconds));
  assert.equal(r.visited, 3000);
  assert.deepEqual(seen.slice(0, 3), [2999, 2998, 2997], 'newest first, across the growth copies');
  assert.equal(seen.at(-1), 0);
  assert.equal(r.overwritten, false);
  for (let n = 3000; n < 5000; n++) ring.record(200, n, 0);
  const after: number[] = [];
  r = ring.scan(0, -1, 10_000, (seconds) => after.push(seconds));
  assert.equal(r.visited, 4096, 'capped at capacity');
  assert.equal(after.at(-1), 5000 - 4096, 'the oldest were overwritten');
});

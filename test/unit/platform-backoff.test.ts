import { it } from 'node:test';
import assert from 'node:assert/strict';
import { RestartBackoff } from '../../src/platform/local/backoff.js';

it('RestartBackoff doubles from 1s, caps at 30s and resets after 60s of uptime', () => {
  const backoff = new RestartBackoff();
  const delays = Array.from({ length: 7 }, () => backoff.next(100));
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.equal(backoff.next(59_999), 30000);
  assert.equal(backoff.next(60_000), 1000);
  assert.equal(backoff.next(10), 2000);
});

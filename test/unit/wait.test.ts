/** test/helpers/wait.ts: every poll in the tests relies on what it returns and how it fails. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiveUp, waitFor } from '../helpers/wait.js';

test('waitFor returns the first truthy value of the check', async () => {
  let n = 0;
  const v = await waitFor(() => (++n >= 3 ? { n } : undefined), { timeoutMs: 1000, intervalMs: 1, what: 'three calls' });
  assert.deepEqual(v, { n: 3 });
});

test('a timeout names what was awaited, the last value and the detail', async () => {
  await assert.rejects(
    waitFor(() => 0, { timeoutMs: 20, intervalMs: 5, what: 'the count to move', detail: () => 'log: nothing' }),
    (err: Error) => err.message === 'timed out after 20 ms waiting for the count to move (last value 0)\nlog: nothing',
  );
});

test('a check that throws is retried, and a timeout reports its last error', async () => {
  let n = 0;
  const flaky = () => {
    if (++n < 3) throw new Error('not yet');
    return 'ok';
  };
  assert.equal(await waitFor(flaky, { timeoutMs: 1000, intervalMs: 1, what: 'x' }), 'ok');
  await assert.rejects(
    waitFor(() => Promise.reject(new Error(`try ${++n}`)), { timeoutMs: 20, intervalMs: 5, what: 'y' }),
    /^Error: timed out after 20 ms waiting for y \(last error: try \d+\)$/,
  );
});

test('GiveUp ends the wait at once', async () => {
  const t0 = Date.now();
  let n = 0;
  const hopeless = () => {
    n++;
    throw new GiveUp('the process exited');
  };
  await assert.rejects(waitFor(hopeless, { timeoutMs: 5000, what: 'z' }), /^Error: the process exited$/);
  assert.equal(n, 1);
  assert.ok(Date.now() - t0 < 1000);
});

/** GET /v1/rollouts/:name/logs: one instance's output in chunks, with the rollout's secrets cut out. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../src/api/client.js';
import { REDACTED } from '../../src/util/redact.js';
import { canaryView, startFakeApi, TEST_TOKEN, type FakeApi } from '../helpers/cli-fakes.js';

let api: FakeApi;
let client: ApiClient;
const LOG = 'boot\nusing DB_PASSWORD=hunter2-db and token tok-9f8e7d6c\ndone\n';

before(async () => {
  const logDir = mkdtempSync(join(tmpdir(), 'sluice-api-logs-'));
  const view = canaryView('web', 'Paused', logDir);
  // A secret of the spec the app printed in a form no pattern catches: its value still goes.
  view.spec.template.env = { ...view.spec.template.env, SESSION_KEY: 'tok-9f8e7d6c' };
  writeFileSync(join(logDir, 'web-2-1.log'), LOG);
  api = await startFakeApi([view]);
  client = new ApiClient({ address: api.server.address, token: TEST_TOKEN });
});
after(() => api.server.close());

test('the whole log, then nothing new from the offset it returned; secrets redacted', async () => {
  const first = await client.logs('web', 'web-2-1', 0, 1 << 20);
  assert.equal(first.text, `boot\nusing DB_PASSWORD=${REDACTED} and token ${REDACTED}\ndone\n`);
  assert.equal(first.offset, Buffer.byteLength(LOG));
  assert.deepEqual(await client.logs('web', 'web-2-1', first.offset, 1 << 20), { text: '', offset: first.offset });
});

test('a small maxBytes reads on from each returned offset', async () => {
  const first = await client.logs('web', 'web-2-1', 0, 6);
  assert.deepEqual(first, { text: 'boot\n', offset: 5 });
  const second = await client.logs('web', 'web-2-1', first.offset, 1 << 20);
  assert.match(second.text, /^using DB_PASSWORD=<redacted>/);
  assert.deepEqual(api.actions.calls.filter((c) => c.method === 'logs').at(-1)?.args, ['web', 'web-2-1', 5, 1 << 20]);
});

test("an instance that is not the rollout's is a 404 with the message; a missing instance parameter is a 400", async () => {
  await assert.rejects(client.logs('web', 'other-1', 0, 100), (err: Error & { status?: number }) => {
    assert.equal(err.status, 404);
    assert.match(err.message, /rollout web has no instance other-1/);
    return true;
  });
  await assert.rejects(client.logs('nope', 'web-2-1', 0, 100), /rollout "nope" not found/);
  const res = await fetch(`http://${api.server.address}/v1/rollouts/web/logs?offset=0`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
  assert.equal(res.status, 400);
  assert.match(((await res.json()) as { error: string }).error, /"instance" is required/);
  const bad = await fetch(`http://${api.server.address}/v1/rollouts/web/logs?instance=web-2-1&offset=-1`, {
    headers: { authorization: `Bearer ${TEST_TOKEN}` },
  });
  assert.equal(bad.status, 400);
});

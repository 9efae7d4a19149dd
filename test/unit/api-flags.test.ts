/** /v1/flags…: real HTTP against the API server with its real token, a FlagController on a MemoryStore behind it. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../src/api/client.js';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { ensureToken } from '../../src/api/token.js';
import { clientTokenRecords, clientTokensFile, createClientToken, ensureClientTokens, readClientTokens } from '../../src/api/flag-tokens.js';
import { FlagController } from '../../src/engine/flags/controller.js';
import type { RolloutActions } from '../../src/engine/actions.js';
import type { FlagRampActions } from '../../src/core/flags.js';
import { MemoryStore } from '../../src/store/memory.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { DAY, flagSpec, RecordingFlagPlane, stubCompile } from '../helpers/flag-fixtures.js';

const compile = stubCompile;

let server: RunningApiServer;
let rampServer: RunningApiServer;
let client: ApiClient;
let token: string;
let stateDir: string;
const plane = new RecordingFlagPlane();
const store = new MemoryStore();
const clock = new FakeClock(200 * DAY);
const rampCalls: string[] = [];

before(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'sluice-api-flags-'));
  token = ensureToken(stateDir);
  ensureClientTokens(stateDir);
  const flags = new FlagController({
    store,
    clock,
    plane,
    listen: '127.0.0.1:8016',
    compile,
    tokens: { records: () => clientTokenRecords(readClientTokens(stateDir)), create: (n, f) => createClientToken(stateDir, n, f) },
  });
  flags.applyFlags(
    [
      {
        set: { flags: [flagSpec('checkout'), flagSpec('banner', { lifecycle: { permanent: false, owner: 'web' } })], evaluators: {}, metadata: {} },
        source: 'x',
        file: 'f.yaml',
        line: 1,
      },
    ],
    'ana',
  );
  clock.advanceTo(clock.now() + 100 * DAY);
  const actions = {} as RolloutActions;
  server = await startApiServer({ listen: '127.0.0.1:0', token, actions, flags });
  const ramps: FlagRampActions = {
    promote: async (f, o, by) => void rampCalls.push(`promote ${f} ${o.full} ${by}`),
    abort: async (f, by, why) => void rampCalls.push(`abort ${f} ${by} ${why}`),
    pause: async (f, by) => void rampCalls.push(`pause ${f} ${by}`),
    resume: async (f, by) => void rampCalls.push(`resume ${f} ${by}`),
    retry: async (f, by) => void rampCalls.push(`retry ${f} ${by}`),
  };
  rampServer = await startApiServer({ listen: '127.0.0.1:0', token, actions, flags, flagRamps: ramps });
  client = new ApiClient({ address: server.address, token, actor: 'bob' });
});
after(async () => {
  await server.close();
  await rampServer.close();
});

test('list, get and history; a wrong token is 401 and an unknown flag 404', async () => {
  const list = await client.listFlags();
  assert.deepEqual(
    list.flags.map((f) => `${f.name} ${f.percentage} ${f.killed}`),
    ['banner 10 false', 'checkout 10 false'],
  );
  const view = await client.getFlag('checkout');
  assert.equal(view.spec.defaultVariant, 'off');
  assert.ok(view.compiled !== undefined || view.compileError !== undefined);
  assert.deepEqual(view.usage, []);
  assert.equal((await client.flagHistory('checkout'))[0]!.reason, 'FlagCreated');
  await assert.rejects(client.getFlag('nope'), { status: 404, message: /flag "nope" not found — known flags: banner, checkout/ });
  const res = await fetch(`http://${server.address}/v1/flags`, { headers: { authorization: 'Bearer wrong' } });
  assert.equal(res.status, 401);
  const bad = await fetch(`http://${server.address}/v1/flags/a..b`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(bad.status, 400);
});

test('kill and restore: pushed before the answer, the actor and reason in the event; twice is a 409', async () => {
  const push = await client.killFlag('checkout', 'checkout errors');
  assert.equal(push.error, undefined);
  assert.equal(push.servedGeneration, plane.pushes.at(-1)!.generation);
  assert.equal(plane.pushes.at(-1)!.document.flags.checkout!.defaultVariant, 'off');
  const e = (await client.flagHistory('checkout')).at(-1)!;
  assert.equal(e.actor, 'bob');
  assert.match(e.message, /→ killed \(serves "off"\) — checkout errors$/);
  await assert.rejects(client.killFlag('checkout'), { status: 409 });
  await client.restoreFlag('checkout');
  assert.equal((await client.getFlag('checkout')).state.killed, false);
});

test('percentage: set, and a bad one is a 400 that changes nothing', async () => {
  await client.setFlagPercentage('banner', 50);
  assert.equal((await client.getFlag('banner')).state.percentage, 50);
  await assert.rejects(client.setFlagPercentage('banner', 150), { status: 400, message: /"percentage" must be a number from 0 to 100/ });
  assert.equal((await client.getFlag('banner')).state.percentage, 50);
});

test('stale with --days; the old flags are listed with owners', async () => {
  const stale = await client.staleFlags(30);
  assert.deepEqual(
    stale.map((s) => `${s.name} ${s.owner}`),
    ['banner web', 'checkout team-a'],
  );
  await assert.rejects(client.staleFlags(0), { status: 400 });
});

test('client tokens: the default one is made at first start (0600), a new one is pushed as a hash only', async () => {
  assert.equal(statSync(clientTokensFile(stateDir)).mode & 0o777, 0o600);
  const made = await client.createClientToken('mobile', ['checkout']);
  assert.match(made.token, /^[0-9a-f]{64}$/);
  const pushed = plane.pushes.at(-1)!.tokens;
  assert.deepEqual(
    pushed.map((t) => t.name),
    ['default', 'mobile'],
  );
  assert.deepEqual(pushed[1]!.flags, ['checkout']);
  assert.ok(!JSON.stringify(pushed).includes(made.token), 'the data plane never gets the token');
  await assert.rejects(client.createClientToken('mobile'), { status: 409 });
});

test('flag ramp verbs: 501 with a message without FlagRampActions, else passed on with the actor', async () => {
  await assert.rejects(client.flagRamp('promote', 'checkout'), { status: 501, message: /flag ramps are not available/ });
  const ramped = new ApiClient({ address: rampServer.address, token, actor: 'bob' });
  await ramped.flagRamp('promote', 'checkout', { full: true });
  await ramped.flagRamp('abort', 'checkout', { reason: 'bad' });
  await ramped.flagRamp('pause', 'checkout');
  assert.deepEqual(rampCalls, ['promote checkout true bob', 'abort checkout bob bad', 'pause checkout bob']);
});

/**
 * POST /experiments/v1/events on the router's client API (the OFREP server): app events as
 * conversions of the user's assigned variant, per-line validation that keeps the good lines,
 * client tokens, the body limit. Real router process, real HTTP on 127.0.0.1.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/ports.js';
import {
  allRecords,
  CLIENT_TOKEN,
  experimentListener,
  experimentRoutes,
  flagPush,
  RouterProcs,
  send,
  startVariantApp,
  table,
  type Reply,
  type RouterProc,
  type VariantApp,
} from '../helpers/router-experiment.js';

const procs = new RouterProcs();
let apps: VariantApp[];
let router: RouterProc;
let appPort: number;
let apiPort: number;
const variantOf = new Map<string, string>();
const AUTH = { authorization: `Bearer ${CLIENT_TOKEN}` };

before(async () => {
  apps = await Promise.all(['a', 'b'].map(startVariantApp));
  appPort = await freePort();
  apiPort = await freePort();
  router = await procs.start();
  await router.client.apply(table(1, experimentListener(`127.0.0.1:${appPort}`, apps, [50, 50], experimentRoutes())));
  await router.client.pushFlags(flagPush(`127.0.0.1:${apiPort}`));
  for (let i = 1; i <= 6; i++) {
    const r = await send(appPort, { headers: { 'x-user': `u-${i}` } });
    variantOf.set(`u-${i}`, r.body);
  }
});
after(async () => {
  procs.cleanup();
  await Promise.all(apps.map((a) => a.close()));
});

function post(body: string | Buffer, headers: Record<string, string> = AUTH): Promise<Reply> {
  return send(apiPort, { method: 'POST', path: '/experiments/v1/events', headers: { 'content-type': 'application/x-ndjson', ...headers }, body });
}

const lines = (...xs: unknown[]): string => xs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n');

test('401 without a client token, or with a wrong one', async () => {
  const body = lines({ user: 'u-1', event: 'signup' });
  assert.equal((await post(body, {})).status, 401);
  assert.equal((await post(body, { authorization: 'Bearer nope' })).status, 401);
});

test('each bad line is rejected with its line number and a one-line error; the good lines are kept', async () => {
  const future = Date.now() + 10 * 60_000;
  const body = lines(
    { user: 'u-1', event: 'purchase', value: 12.5 }, // 1 ok
    '{not json', // 2
    { event: 'signup' }, // 3 no user
    { user: 'x'.repeat(300), event: 'signup' }, // 4 too long
    { user: 'u-1', event: 'nope' }, // 5 unknown event
    { user: 'u-1', event: 'purchase', value: 'abc' }, // 6 not a number
    { user: 'u-1', event: 'purchase', value: -5 }, // 7 negative
    { user: 'u-2', event: 'refund', value: -5 }, // 8 ok: refunds may be negative
    { user: 'u-1', event: 'signup', time: 'yesterday' }, // 9 bad time
    { user: 'u-1', event: 'signup', time: future }, // 10 future
    { user: 'stranger', event: 'signup' }, // 11 never served
    { user: 'u-3', event: 'signup', time: new Date(Date.now() - 60_000).toISOString(), pre: true }, // 12 ok
    { user: 'u-1', event: 'signup', rollout: 'other' }, // 13 no test of that rollout takes it
    '', // blank lines are skipped
    { user: 'u-4', event: 'purchase' }, // 15 continuous without value
  );
  const r = await post(body);
  assert.equal(r.status, 200, r.body);
  const answer = JSON.parse(r.body) as { accepted: number; rejected: { line: number; error: string }[] };
  assert.equal(answer.accepted, 3);
  const errors = new Map(answer.rejected.map((x) => [x.line, x.error]));
  assert.deepEqual([...errors.keys()], [2, 3, 4, 5, 6, 7, 9, 10, 11, 13, 15]);
  const expect: [number, RegExp][] = [
    [2, /not JSON .*one JSON object per line/],
    [3, /"user" is missing or empty/],
    [4, /300 characters, at most 256/],
    [5, /unknown event "nope": no live test takes it/],
    [6, /"value" "abc" is not a finite number/],
    [7, /negative.*revenue-app.*does not allow negative/],
    [9, /"time" "yesterday" is not a time; send epoch milliseconds or an ISO 8601 string/],
    [10, /more than 5 minutes in the future/],
    [11, /user "stranger" has not been served by shop's test; events count only for users the router assigned/],
    [13, /no live test of rollout "other" takes it/],
    [15, /"value" is required/],
  ];
  for (const [line, re] of expect) {
    assert.match(errors.get(line)!, re, `line ${line}`);
    assert.ok(!errors.get(line)!.includes('\n'), 'one line');
  }
  const { records } = await allRecords(router.client);
  const events = records.filter((x) => x.type === 'conversion' && x.source === 'event');
  assert.equal(events.length, 3);
  for (const e of events) {
    assert.ok(e.type === 'conversion');
    assert.equal(e.variant, variantOf.get(e.user), `${e.user}'s event carries their variant`);
  }
  const byUser = new Map(events.map((e) => [e.user, e]));
  const u1 = byUser.get('u-1')!;
  assert.ok(u1.type === 'conversion' && u1.metric === 'revenue-app' && u1.value === 12.5 && u1.rollout === 'shop' && u1.experiment === 'r2a1');
  const u3 = byUser.get('u-3')!;
  assert.ok(u3.type === 'conversion' && u3.metric === 'signups' && u3.value === 1 && u3.pre === true && u3.at < Date.now() - 30_000);
  const u2 = byUser.get('u-2')!;
  assert.ok(u2.type === 'conversion' && u2.value === -5 && u2.metric === 'net');
});

test('a batch with no good line answers 400 with the same body', async () => {
  const r = await post(lines({ user: 'stranger', event: 'signup' }, '[1'));
  assert.equal(r.status, 400);
  const answer = JSON.parse(r.body) as { accepted: number; rejected: { line: number }[] };
  assert.equal(answer.accepted, 0);
  assert.deepEqual(
    answer.rejected.map((x) => x.line),
    [1, 2],
  );
});

test('a JSON array body (Content-Type application/json) is taken too', async () => {
  const r = await post(JSON.stringify([{ user: 'u-5', event: 'signup' }, { user: 'u-6', event: 'purchase', value: 3 }, { user: 'u-6' }]), {
    ...AUTH,
    'content-type': 'application/json',
  });
  assert.equal(r.status, 200, r.body);
  const answer = JSON.parse(r.body) as { accepted: number; rejected: { line: number; error: string }[] };
  assert.equal(answer.accepted, 2);
  assert.equal(answer.rejected[0].line, 3);
  assert.match(answer.rejected[0].error, /"event" is missing/);
});

test('a 10 MB batch answers 413 with the limit and what to do', async () => {
  const line = `${JSON.stringify({ user: 'u-1', event: 'signup' })}\n`;
  const body = Buffer.from(line.repeat(Math.ceil((10 * 1024 * 1024) / line.length)));
  const r = await post(body);
  assert.equal(r.status, 413);
  assert.match(JSON.parse(r.body).error, /larger than 1048576 bytes \(1 MiB\); split the batch/);
  // More than 10,000 lines within the byte limit is refused too.
  const many = lines(...Array.from({ length: 10_001 }, () => ({ user: 'u', event: 'e' })));
  const r2 = await post(many);
  assert.equal(r2.status, 413);
  assert.match(JSON.parse(r2.body).error, /more than 10000 lines in one batch; split the batch/);
});

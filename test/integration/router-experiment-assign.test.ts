/**
 * Experiments in the builtin router (src/router/experiments/): hashed assignment by the
 * user key or the router's signed cookie, exposures once per user (across restarts), goal
 * conversions on the request path. Real router processes, real HTTP on 127.0.0.1.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentRecord } from '../../src/core/experiment.js';
import { freePort } from '../helpers/ports.js';
import {
  allRecords,
  experimentListener,
  experimentRoutes,
  inParallel,
  RouterProcs,
  send,
  startVariantApp,
  table,
  type RouterProc,
  type VariantApp,
} from '../helpers/router-experiment.js';

const procs = new RouterProcs();
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
let apps: VariantApp[];
let router: RouterProc;
const ports: number[] = [];
const USERS = 10_000;
/** L0: 50/50 a/b by x-user; L1: 34/33/33 a/b/c by x-user; L2: 50/50 by the signed cookie only. */
let routes: ReturnType<typeof table>;
const assigned: Map<string, string>[] = [new Map(), new Map()];

function buildTable(p: number[], generation = 1): ReturnType<typeof table> {
  return table(
    generation,
    experimentListener(`127.0.0.1:${p[0]}`, apps.slice(0, 2), [50, 50], experimentRoutes()),
    experimentListener(`127.0.0.1:${p[1]}`, apps, [34, 33, 33], experimentRoutes({ experiment: 'r5a1', salt: 'menu/r5a1' }), 'menu'),
    experimentListener(`127.0.0.1:${p[2]}`, apps.slice(0, 2), [50, 50], experimentRoutes({ experiment: 'r7a1', salt: 'cart/r7a1', userKey: {} }), 'cart'),
  );
}

before(async () => {
  apps = await Promise.all(['a', 'b', 'c'].map(startVariantApp));
  for (let i = 0; i < 3; i++) ports.push(await freePort());
  routes = buildTable(ports);
  router = await procs.start();
  await router.client.apply(routes);
});
after(async () => {
  agent.destroy();
  procs.cleanup();
  await Promise.all(apps.map((a) => a.close()));
});

const exposures = (records: ExperimentRecord[], experiment: string) => records.filter((r) => r.type === 'exposure' && r.experiment === experiment);

/** The variant each user gets on `port` (one request each, through the keep-alive pool). */
async function variantsOf(port: number, users: string[]): Promise<string[]> {
  return inParallel(users.length, 32, async (i) => {
    const r = await send(port, { agent, headers: { 'x-user': users[i] } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-variant'], r.body, 'the variant header names the variant that answered');
    return r.body;
  });
}

function assertWithinInterval(counts: Map<string, number>, weights: Record<string, number>, n: number): void {
  for (const [variant, w] of Object.entries(weights)) {
    const p = w / 100;
    const half = 3.29 * Math.sqrt(n * p * (1 - p));
    const got = counts.get(variant) ?? 0;
    assert.ok(Math.abs(got - n * p) <= half, `variant ${variant}: ${got} of ${n} users, expected ${n * p} ± ${half.toFixed(0)} (99.9 %)`);
  }
}

const users = Array.from({ length: USERS }, (_, i) => `user-${i}`);

test('10,000 user keys split 50/50 and 34/33/33 within the 99.9 % binomial interval; one exposure per user', async () => {
  for (const [li, weights] of [
    [0, { a: 50, b: 50 }],
    [1, { a: 34, b: 33, c: 33 }],
  ] as const) {
    const got = await variantsOf(ports[li], users);
    const counts = new Map<string, number>();
    got.forEach((v, i) => {
      counts.set(v, (counts.get(v) ?? 0) + 1);
      assigned[li].set(users[i], v);
    });
    assertWithinInterval(counts, weights, USERS);
  }
  // The same 300 users again, three times each: no new exposure.
  for (let k = 0; k < 3; k++) {
    const again = await variantsOf(ports[0], users.slice(0, 300));
    for (const [i, v] of again.entries()) assert.equal(v, assigned[0].get(users[i]), `${users[i]} moved`);
  }
  const { records } = await allRecords(router.client);
  assert.equal(exposures(records, 'r2a1').length, USERS);
  assert.equal(exposures(records, 'r5a1').length, USERS);
  assert.equal(new Set(exposures(records, 'r2a1').map((r) => r.user)).size, USERS);
  for (const r of exposures(records, 'r2a1').slice(0, 500)) assert.equal(r.variant, assigned[0].get(r.user));
});

test('a second router process on the same table assigns the same keys the same variants', async () => {
  const other = await procs.start();
  const p2 = [await freePort(), await freePort(), await freePort()];
  await other.client.apply(buildTable(p2));
  const sample = users.slice(0, 2000);
  for (const li of [0, 1]) {
    const got = await variantsOf(p2[li], sample);
    for (const [i, v] of got.entries()) assert.equal(v, assigned[li].get(sample[i]), `${sample[i]} on listener ${li}`);
  }
  await procs.stop(other);
});

let cookies: { value: string; variant: string }[] = [];

test('without a key a request gets a signed cookie; sent back, it keeps the variant', async () => {
  cookies = await inParallel(40, 8, async () => {
    const r = await send(ports[2]);
    assert.equal(r.status, 200);
    const set = r.headers['set-cookie']?.[0] ?? '';
    const m = /^sluice-uid=([A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}); Path=\/; HttpOnly; SameSite=Lax; Max-Age=31536000$/.exec(set);
    assert.ok(m !== null, `Set-Cookie: ${set}`);
    return { value: m[1], variant: r.body };
  });
  assert.equal(new Set(cookies.map((c) => c.value)).size, cookies.length, 'every new user a new id');
  assert.ok(new Set(cookies.map((c) => c.variant)).size === 2, 'both variants drawn among 40 users');
  for (const c of cookies) {
    for (let k = 0; k < 3; k++) {
      const r = await send(ports[2], { agent, headers: { cookie: `theme=dark; sluice-uid=${c.value}` } });
      assert.equal(r.body, c.variant);
      assert.equal(r.headers['set-cookie'], undefined, 'a valid cookie is not replaced');
    }
  }
});

test('a forged cookie (edited id, edited mac, a bucket number) is re-assigned, never obeyed', async () => {
  const flip = (s: string, at: number): string => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
  const v = cookies[0].value;
  const forged = [flip(v, 3), flip(v, 30), flip(v, v.length - 1), '0', '9999', `${v.slice(0, 22)}.${'A'.repeat(22)}`, `${v}x`, ''];
  for (const f of forged) {
    const r = await send(ports[2], { headers: { cookie: `sluice-uid=${f}` } });
    assert.equal(r.status, 200);
    const set = r.headers['set-cookie']?.[0] ?? '';
    assert.match(set, /^sluice-uid=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22};/, `forged ${JSON.stringify(f)} got no new cookie`);
    assert.notEqual(set.slice(11, 33), v.slice(0, 22), 'a new id, not the forged one');
  }
  // The id of a forged cookie never appears as a user in the journal; the new ids do.
  const { records } = await allRecords(router.client);
  const ids = new Set(exposures(records, 'r7a1').map((r) => r.user));
  assert.ok(!ids.has(flip(v, 3).slice(0, 22)));
  assert.ok(ids.has(v.slice(0, 22)));
});

test('goals: POST /checkout (2xx) converts; continuous goals take the value header; others do not', async () => {
  const u = users.slice(0, 20);
  for (const user of u) {
    assert.equal((await send(ports[0], { method: 'POST', path: '/checkout?from=cart', headers: { 'x-user': user } })).status, 200);
    await send(ports[0], { method: 'GET', path: '/checkout', headers: { 'x-user': user } }); // wrong method
    await send(ports[0], { method: 'POST', path: '/checkout/more', headers: { 'x-user': user } }); // not the exact path
    await send(ports[0], { path: '/buy/item?amount=12.5', headers: { 'x-user': user } });
    await send(ports[0], { path: '/buy?amount=abc', headers: { 'x-user': user } }); // unparseable
    await send(ports[0], { path: '/buy?amount=-3', headers: { 'x-user': user } }); // negative
    await send(ports[0], { path: '/buy', headers: { 'x-user': user } }); // empty header
  }
  const { records } = await allRecords(router.client);
  const conv = records.filter((r) => r.type === 'conversion' && r.experiment === 'r2a1');
  const checkout = conv.filter((r) => r.type === 'conversion' && r.metric === 'checkout');
  const revenue = conv.filter((r) => r.type === 'conversion' && r.metric === 'revenue');
  assert.equal(checkout.length, u.length);
  assert.equal(revenue.length, u.length);
  for (const r of [...checkout, ...revenue]) {
    assert.ok(r.type === 'conversion');
    assert.equal(r.source, 'goal');
    assert.equal(r.variant, assigned[0].get(r.user), `${r.user}'s conversion carries their variant`);
    assert.equal(r.value, r.metric === 'checkout' ? 1 : 12.5);
  }
});

test('after a restart: same variants, valid cookies still valid, no second exposure', async () => {
  const before = (await allRecords(router.client)).records;
  await procs.stop(router);
  router = await procs.start(router.dir);
  const sample = users.slice(0, 1000);
  const got = await variantsOf(ports[0], sample);
  for (const [i, v] of got.entries()) assert.equal(v, assigned[0].get(sample[i]));
  for (const c of cookies.slice(0, 10)) {
    const r = await send(ports[2], { headers: { cookie: `sluice-uid=${c.value}` } });
    assert.equal(r.body, c.variant);
    assert.equal(r.headers['set-cookie'], undefined);
  }
  const afterRestart = await allRecords(router.client);
  assert.equal(afterRestart.records.length, before.length, 'no new records: every user was exposed before the restart');
  assert.equal(afterRestart.last, before.at(-1)!.seq);
});

test('the HMAC key is 32 bytes, 0600, in the state dir', () => {
  const key = join(router.dir, 'router', 'experiment.key');
  assert.equal(statSync(key).size, 32);
  assert.equal(statSync(key).mode & 0o777, 0o600);
});

test('PUT /routes refuses a malformed experiment with the path and what to fix', async () => {
  const base = buildTable(ports, 50);
  const bad: [(e: Record<string, unknown>) => void, RegExp][] = [
    [(e) => delete e.salt, /listeners\[0\]\.experiment\.salt: undefined must be the hash salt/],
    [(e) => (e.userKey = { header: 'x user' }), /experiment\.userKey\.header: "x user" is not a valid header name/],
    [(e) => (e.cookie = { name: 'sluice-uid', maxAgeSeconds: 0 }), /experiment\.cookie\.maxAgeSeconds: 0 must be a whole number of seconds/],
    [(e) => (e.goals = [{ metric: 'm', kind: 'binomial', goal: { path: '/a', pathPrefix: '/b' } }]), /goals\[0\]\.goal: needs exactly one of path/],
    [(e) => (e.goals = [{ metric: 'm', kind: 'continuous', goal: { path: '/a' } }]), /goals\[0\]\.goal\.valueHeader: a continuous goal needs/],
    [(e) => (e.goals = [{ metric: 'm', kind: 'binomial', goal: { path: '/a', statusClass: 7 } }]), /statusClass: 7 must be 2, 3, 4 or 5/],
    [(e) => (e.events = [{ event: 'x', metric: 'm', kind: 'ratio', allowNegative: false }]), /events\[0\]\.kind: "ratio" must be binomial or continuous/],
    [(e) => (e.extra = 1), /experiment\.extra: is not an experiment setting/],
  ];
  for (const [edit, re] of bad) {
    const t = structuredClone(base);
    edit(t.listeners[0].experiment as unknown as Record<string, unknown>);
    await assert.rejects(router.client.apply(t), re);
  }
  const canary = structuredClone(base);
  canary.listeners[0].role = 'canary';
  await assert.rejects(router.client.apply(canary), /only a main listener carries an experiment/);
});

/**
 * nginx as a data plane, against a real (managed, non-root) nginx: the rendered config
 * passes `nginx -t`, routes by weight, rules, stickiness and maintenance; a table nginx
 * refuses is rejected and changes nothing; reloads under load lose no request; windows
 * come from the JSON access log.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NginxDataPlane } from '../../src/dataplane/nginx/data-plane.js';
import { isNginxMaster } from '../../src/dataplane/nginx/procfs.js';
import type { ListenerRoutes, MirrorRoute } from '../../src/core/route-table.js';
import { nginxMissing } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';
import { sleep, waitFor } from '../helpers/wait.js';

const skip = nginxMissing();
const dir = mkdtempSync(join(tmpdir(), 'sluice-nginx-'));
let dp: NginxDataPlane;
let port = 0;
let generation = 0;
const apps: http.Server[] = [];
const appPorts: Record<number, number> = {};

/** An app answering its version; /fail answers 500. */
async function app(version: string): Promise<number> {
  const s = http.createServer((req, res) => {
    req.resume();
    res.writeHead(req.url === '/fail' ? 500 : 200, { 'x-version': version });
    res.end(version);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  apps.push(s);
  return (s.address() as { port: number }).port;
}

function listener(extra: Partial<ListenerRoutes> = {}): ListenerRoutes {
  return {
    listen: `127.0.0.1:${port}`,
    rollout: 'web',
    role: 'main',
    balancer: 'round-robin',
    rules: [],
    split: [{ revision: 1, weight: 100 }],
    backends: [1, 2].map((revision) => ({
      revision,
      version: `v${revision}`,
      endpoints: [{ id: `web-${revision}`, host: '127.0.0.1', port: appPorts[revision] }],
    })),
    dataPlane: 'nginx',
    ...extra,
  };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(path = '/', headers: http.OutgoingHttpHeaders = {}, agent: http.Agent | false = false, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent, method }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function versions(n: number, headers: http.OutgoingHttpHeaders = {}): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const a = await get('/', headers);
    seen[a.body] = (seen[a.body] ?? 0) + 1;
  }
  return seen;
}

before(async () => {
  if (skip) return;
  appPorts[1] = await app('v1');
  appPorts[2] = await app('v2');
  port = await freePort();
  dp = new NginxDataPlane(dir);
});

after(async () => {
  await dp?.shutdown();
  for (const s of apps) s.close();
});

test('a single revision, then an 80/20 split with a header rule ahead of it', { skip }, async () => {
  await dp.apply(++generation, [listener()]);
  assert.deepEqual(await versions(20), { v1: 20 });
  await dp.apply(++generation, [
    listener({
      split: [
        { revision: 1, weight: 80 },
        { revision: 2, weight: 20 },
      ],
      rules: [{ name: 'testers', header: { name: 'X-Canary', exact: 'yes' }, revision: 2 }],
    }),
  ]);
  const split = await versions(500);
  assert.ok(Math.abs((split.v2 ?? 0) / 500 - 0.2) < 0.06, `v2 share ≈ 20 %: ${JSON.stringify(split)}`);
  assert.deepEqual(await versions(20, { 'x-canary': 'yes' }), { v2: 20 });
  assert.ok((await versions(100, { 'x-canary': 'no' })).v1! > 60, 'a different value takes the split');
});

test('rules on cookie, query and path prefix, all conditions of a rule must hold', { skip }, async () => {
  await dp.apply(++generation, [
    listener({
      rules: [
        { name: 'beta-api', cookie: { name: 'beta-user', exact: '1' }, pathPrefix: '/api', revision: 2 },
        { name: 'q', query: { name: 'canary', regex: 'y(es)?' }, revision: 2 },
      ],
    }),
  ]);
  assert.equal((await get('/api/x', { cookie: 'a=b; beta-user=1' })).body, 'v2');
  assert.equal((await get('/apix', { cookie: 'beta-user=1' })).body, 'v1', 'a prefix matches whole segments');
  assert.equal((await get('/api', { cookie: 'beta-user=2' })).body, 'v1');
  assert.equal((await get('/?canary=yes')).body, 'v2');
  assert.equal((await get('/?canary=yess')).body, 'v1', 'a regex matches the whole value');
});

test('sticky cookie: a new client gets a cookie and then always the same revision', { skip }, async () => {
  await dp.apply(++generation, [
    listener({
      split: [
        { revision: 1, weight: 50 },
        { revision: 2, weight: 50 },
      ],
      sticky: { cookie: { name: 'sluice-web' } },
    }),
  ]);
  const first = await get('/');
  const cookie = String(first.headers['set-cookie']?.[0] ?? '').split(';')[0];
  assert.match(cookie, /^sluice-web=\w+/);
  for (let i = 0; i < 20; i++) {
    const a = await get('/', { cookie });
    assert.equal(a.body, first.body);
    assert.equal(a.headers['set-cookie'], undefined, 'no new cookie for a known client');
  }
});

test('maintenance answer when the chosen revision has no ready instance', { skip }, async () => {
  await dp.apply(++generation, [
    listener({
      split: [{ revision: 3, weight: 100 }],
      backends: [{ revision: 3, version: 'v3', endpoints: [] }],
      maintenance: { status: 503, body: 'back soon, costs $5', retryAfterSeconds: 7 },
    }),
  ]);
  const a = await get('/');
  assert.equal(a.status, 503);
  assert.equal(a.body, 'back soon, costs $5');
  assert.equal(a.headers['retry-after'], '7');
});

test('a table nginx refuses (nginx -t) is rejected and the one in effect keeps serving', { skip }, async () => {
  await dp.apply(++generation, [listener()]);
  const good = readFileSync(join(dir, 'nginx', 'routes.conf'), 'utf8');
  // JavaScript accepts a class range starting at an escape; PCRE refuses it.
  const bad = listener({ rules: [{ name: 'bad', header: { name: 'x-a', regex: '[\\d-z]' }, revision: 2 }] });
  await assert.rejects(dp.apply(generation + 1, [bad]), /nginx refused route table/);
  assert.equal(readFileSync(join(dir, 'nginx', 'routes.conf'), 'utf8'), good, 'the previous file is back');
  assert.deepEqual(await versions(10), { v1: 10 });
});

test('reloads under keep-alive load lose no request; windows come from the access log', { skip }, async () => {
  const since = Date.now();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const loop = async () => {
    while (!stop) {
      await get(Math.random() < 0.1 ? '/fail' : '/', {}, agent).then(
        (a) => (a.status === 200 || a.status === 500 ? ok++ : failures.push(String(a.status))),
        (e: Error) => failures.push(e.message),
      );
    }
  };
  const loops = Array.from({ length: 4 }, loop);
  for (let i = 0; i < 10; i++) {
    const w = i % 2 === 0 ? 30 : 70;
    await dp.apply(++generation, [
      listener({
        split: [
          { revision: 1, weight: 100 - w },
          { revision: 2, weight: w },
        ],
      }),
    ]);
    await sleep(150);
  }
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  assert.deepEqual(failures, [], `no failed request during 10 reloads (${ok} answered)`);
  assert.equal(await dp.waitIdle('web-1', 10_000), true, 'old workers finished');
  const w1 = dp.window('web', 1, since);
  const w2 = dp.window('web', 2, since);
  assert.ok(w1.requests + w2.requests >= ok * 0.95, `the log has the requests: ${w1.requests}+${w2.requests} of ${ok}`);
  assert.ok(Math.abs(w2.errorRate - 0.1) < 0.05, `≈10 % 5xx on revision 2: ${w2.errorRate}`);
  assert.ok(w2.latency.p50 !== null && w2.latency.p50 < 1);
  const t = dp.traffic().find((x) => x.revision === 2);
  assert.ok(t && t.requests >= w2.requests && t.listen === `127.0.0.1:${port}`);
});

/** A shadow app (revision 3) recording the copies it gets; `delayMs` before answering. */
const copies: { method: string; url: string; mirror: string | undefined; body: string }[] = [];
let shadowDelayMs = 0;
async function shadow(): Promise<number> {
  const s = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      copies.push({ method: req.method ?? '', url: req.url ?? '', mirror: req.headers['x-sluice-mirror'] as string | undefined, body });
      setTimeout(() => res.end('shadow'), shadowDelayMs);
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  apps.push(s);
  return (s.address() as { port: number }).port;
}

function withShadow(mirror: Partial<MirrorRoute>): ListenerRoutes {
  const l = listener();
  return {
    ...l,
    backends: [...l.backends, { revision: 3, version: 'v3', endpoints: [{ id: 'web-3', host: '127.0.0.1', port: appPorts[3] }] }],
    mirrors: [{ name: 'shadow', revision: 3, percent: 100, queueLimit: 100, maxBodyBytes: 1 << 20, ...mirror }],
  };
}

async function settle(): Promise<void> {
  for (let n = -1; n !== copies.length; ) {
    n = copies.length;
    await sleep(100);
  }
}

test('mirror: a share of GETs is copied to the shadow with x-sluice-mirror; a POST is not; the client gets the primary', { skip }, async () => {
  appPorts[3] ??= await shadow();
  await dp.apply(++generation, [withShadow({ percent: 50 })]);
  assert.match(readFileSync(join(dir, 'nginx', 'routes.conf'), 'utf8'), /mirror \/\.sluice-mirror\/0;/, 'nginx -t accepted the mirror');
  copies.length = 0;
  const since = Date.now();
  for (let i = 0; i < 200; i++) assert.equal((await get(`/x?i=${i}`)).body, 'v1');
  for (let i = 0; i < 20; i++) assert.equal((await get('/post', { 'content-type': 'text/plain' }, false, 'POST', `b${i}`)).body, 'v1');
  await settle();
  assert.ok(Math.abs(copies.length - 100) <= 20, `≈50 % of 200 GETs copied: ${copies.length}`);
  assert.ok(
    copies.every((c) => c.method === 'GET' && /^\/x\?i=\d+$/.test(c.url) && c.mirror === '1'),
    JSON.stringify(copies.slice(0, 3)),
  );
  assert.equal(new Set(copies.map((c) => c.url)).size, copies.length, 'each request copied at most once');
  const w = dp.window('web', 3, since);
  assert.equal(w.requests, 0, 'copies are not client traffic');
  assert.equal(dp.window('web', 1, since).requests, 220);
});

test('mirror: match (methods, path prefix) and the body; a larger body or a request routed to the shadow is not copied', { skip }, async () => {
  appPorts[3] ??= await shadow();
  await dp.apply(++generation, [withShadow({ match: { methods: ['POST'], pathPrefix: '/api' }, maxBodyBytes: 10 })]);
  copies.length = 0;
  assert.equal((await get('/api/orders', {}, false, 'POST', 'hello')).body, 'v1');
  assert.equal((await get('/api/orders', {}, false, 'POST', 'more than ten bytes')).body, 'v1');
  assert.equal((await get('/api/orders')).body, 'v1');
  assert.equal((await get('/other', {}, false, 'POST', 'hello')).body, 'v1');
  await settle();
  assert.deepEqual(copies, [{ method: 'POST', url: '/api/orders', mirror: '1', body: 'hello' }]);
  // The shadow serving a request itself (a rule) gets no copy of it.
  await dp.apply(++generation, [{ ...withShadow({}), rules: [{ name: 'r', header: { name: 'x-shadow', exact: '1' }, revision: 3 }] }]);
  copies.length = 0;
  assert.equal((await get('/y', { 'x-shadow': '1' })).body, 'shadow');
  await settle();
  assert.deepEqual(
    copies.map((c) => c.mirror),
    [undefined],
  );
});

test('mirror: a slow shadow never delays the answer, nor the primary latency the analysis sees; its copy is cut off', { skip }, async () => {
  appPorts[3] ??= await shadow();
  await dp.apply(++generation, [withShadow({})]);
  shadowDelayMs = 5000;
  const since = Date.now();
  try {
    const t0 = Date.now();
    assert.equal((await get('/slow')).body, 'v1');
    assert.ok(Date.now() - t0 < 1000, `answered in ${Date.now() - t0} ms`);
    // nginx logs the request once its copy ended: cut off after MIRROR_TIMEOUT (2 s).
    // Not logged within 4 s fails the timing assertion below, which says by how much.
    await waitFor(() => dp.window('web', 1, since).requests > 0, { timeoutMs: 4000, what: 'the request in the access log' }).catch(() => undefined);
    const waited = Date.now() - t0;
    assert.ok(waited > 1500 && waited < 3500, `logged when the copy was cut off: ${waited} ms`);
    const w = dp.window('web', 1, since);
    assert.equal(w.requests, 1);
    assert.ok(w.latency.p50 !== null && w.latency.p50 < 0.5, `the primary's own latency: ${w.latency.p50}`);
  } finally {
    shadowDelayMs = 0;
  }
});

test('shutdown stops the managed nginx', { skip }, async () => {
  const pid = Number(readFileSync(join(dir, 'nginx', 'nginx.pid'), 'utf8'));
  assert.ok(isNginxMaster(pid));
  await dp.shutdown();
  assert.equal(isNginxMaster(pid), false);
});

// Mirroring, shadow comparison, rules with a split target, the A/B variant header and
// exposures, through a router running as its own process (dist/src/router/main.js) and
// apps in this process, all over real HTTP on 127.0.0.1.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { freePort } from '../helpers/ports.js';
import { listenAddr, listener, request, table, type Answer } from '../helpers/router-fixtures.js';
import { HttpTrafficRouter, startRouterProcess } from '../../src/router/http-client.js';
import { readAdminToken } from '../../src/router/credential.js';
import type { Endpoint, ListenerRoutes, MirrorRoute } from '../../src/core/route-table.js';
import { validateRouteTable } from '../../src/router/validate.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** What an app saw of one request. */
interface Seen {
  method: string;
  path: string;
  mirror: boolean;
  host: string;
  body: string;
}

/**
 * An app for these tests. Paths: /same (JSON differing between apps only in timestamp and
 * requestId), /price (JSON with the app's price), /status (the app's status), /wait (after
 * the app's delay), /echo (the body back), anything else: the app's name.
 */
interface App {
  name: string;
  endpoint: Endpoint;
  seen: Seen[];
  delayMs: number;
  close(): Promise<void>;
}

const apps: App[] = [];

async function startApp(name: string, opts: { price?: number; status?: number; delayMs?: number } = {}): Promise<App> {
  const sockets = new Set<Socket>();
  const app: App = { name, endpoint: { id: name, host: '127.0.0.1', port: 0 }, seen: [], delayMs: opts.delayMs ?? 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const path = (req.url ?? '/').split('?')[0];
      app.seen.push({ method: req.method ?? '', path, mirror: req.headers['x-sluice-mirror'] === '1', host: req.headers.host ?? '', body });
      const json = (status: number, v: unknown): void => {
        const text = JSON.stringify(v);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-app': name });
        res.end(text);
      };
      switch (path) {
        case '/same':
          return json(200, { id: 7, name: 'widget', timestamp: Date.now() + Math.random(), requestId: `${name}-${Math.random()}` });
        case '/price':
          return json(200, { id: 7, price: opts.price ?? 5 });
        case '/status':
          return json(opts.status ?? 200, { id: 7 });
        case '/wait':
          setTimeout(() => json(200, { ok: true }), app.delayMs);
          return;
        case '/echo':
          res.writeHead(200, { 'content-type': 'text/plain', 'x-app': name });
          res.end(`${name}:${body}`);
          return;
        default:
          res.writeHead(200, { 'content-type': 'text/plain', 'x-app': name });
          res.end(name);
      }
    });
  });
  server.keepAliveTimeout = 10_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  app.endpoint.port = (server.address() as { port: number }).port;
  app.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      for (const s of sockets) s.destroy();
    });
  apps.push(app);
  return app;
}

let client: HttpTrafficRouter;
let routerPid = 0;
let stateDir = '';
let generation = 1;
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

before(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'sluice-router-mirror-'));
  const admin = `127.0.0.1:${await freePort()}`;
  routerPid = (await startRouterProcess({ stateDir, admin, logFile: join(stateDir, 'router.log') })).pid;
  client = new HttpTrafficRouter(admin, readAdminToken(stateDir));
});
after(async () => {
  agent.destroy();
  await client.shutdown().catch(() => {});
  await sleep(300);
  try {
    process.kill(routerPid, 'SIGKILL');
  } catch {
    // already gone
  }
  client.close();
  await Promise.all(apps.map((a) => a.close()));
  rmSync(stateDir, { recursive: true, force: true });
});

/** Applies one listener (rollout `rollout`) and returns its port. */
async function serve(routes: (listen: string) => ListenerRoutes): Promise<number> {
  const { listen, port } = await listenAddr();
  await client.apply(table(generation++, routes(listen)));
  return port;
}

function mirror(extra: Partial<MirrorRoute> = {}): MirrorRoute {
  return { name: 'shadow', revision: 2, percent: 100, queueLimit: 1000, maxBodyBytes: 64 * 1024, ...extra };
}

/** `n` requests, 16 at a time over keep-alive connections; answers in request order. */
async function send(port: number, n: number, opts: (i: number) => Parameters<typeof request>[1] = () => ({})): Promise<Answer[]> {
  const answers: Answer[] = new Array(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      answers[i] = await request(port, { agent, ...opts(i) });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return answers;
}

/** The value of one sample of the router's /metrics (0 when absent). */
async function metric(name: string, labels: Record<string, string | number>): Promise<number> {
  const text = await client.metrics();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.indexOf('}');
    const set = line.slice(name.length + 1, close).split(',');
    if (want.every((w) => set.includes(w))) return Number(line.slice(close + 2));
  }
  return 0;
}

test('shadow comparison: a different field and a different status are mismatches, ignored paths are not; the client gets the primary', async () => {
  const primary = await startApp('cmp-primary', { price: 5, status: 200 });
  const shadow = await startApp('cmp-shadow', { price: 6, status: 500 });
  const rollout = 'cmp';
  const t0 = Date.now();
  const port = await serve((listen) =>
    listener(
      listen,
      { 1: ['v1', [primary.endpoint]], 2: ['v2', [shadow.endpoint]] },
      { 1: 100 },
      {
        rollout,
        mirrors: [mirror({ compare: { ignorePaths: ['$.timestamp', '$.requestId'] } })],
      },
    ),
  );
  const labels = { rollout, revision: 2, route: 'shadow' };
  const settled = async (n: number) => (await metric('sluice_mirror_compared_total', labels)) + (await metric('sluice_mirror_not_compared_total', labels)) >= n;

  const same = await send(port, 30, () => ({ path: '/same' }));
  for (const a of same) assert.equal(a.headers['x-app'], 'cmp-primary');
  await waitFor(() => settled(30), { timeoutMs: 15_000, intervalMs: 50, what: '30 copies compared' });
  assert.equal(await metric('sluice_mirror_mismatches_total', labels), 0, 'differences only in ignored paths are not mismatches');
  assert.equal(await metric('sluice_mirror_compared_total', labels), 30);

  const priced = await send(port, 20, () => ({ path: '/price' }));
  for (const a of priced) assert.deepEqual(JSON.parse(a.body), { id: 7, price: 5 }, 'the client always gets the primary');
  await waitFor(() => settled(50), { timeoutMs: 15_000, intervalMs: 50, what: '50 copies compared' });
  assert.equal(await metric('sluice_mirror_mismatches_total', labels), 20);

  const statuses = await send(port, 10, () => ({ path: '/status' }));
  for (const a of statuses) assert.equal(a.status, 200);
  await waitFor(() => settled(60), { timeoutMs: 15_000, intervalMs: 50, what: '60 copies compared' });
  assert.equal(await metric('sluice_mirror_mismatches_total', labels), 30);
  assert.equal(await metric('sluice_mirror_requests_total', labels), 60);

  // What the shadow got: copies marked as such, with the client's Host.
  assert.equal(shadow.seen.length, 60);
  assert.ok(
    shadow.seen.every((s) => s.mirror && s.host === `127.0.0.1:${port}`),
    JSON.stringify(shadow.seen[0]),
  );
  assert.ok(primary.seen.every((s) => !s.mirror));

  // The shadow's window counts its copies (and their 500s); the primary's has none.
  const w = await client.window(rollout, 2, t0);
  assert.deepEqual([w.requests, w.mirrored, w.compared, w.mismatches, w.mismatchRate, w.errors5xx], [60, 60, 60, 30, 0.5, 10]);
  const wp = await client.window(rollout, 1, t0);
  assert.deepEqual([wp.requests, wp.mirrored, wp.mismatches], [60, 0, 0]);

  // Client traffic excludes copies.
  const traffic = await client.traffic();
  const shadowTraffic = traffic.find((t) => t.rollout === rollout && t.revision === 2);
  assert.equal(shadowTraffic?.requests ?? 0, 0);
  assert.equal(traffic.find((t) => t.rollout === rollout && t.revision === 1)?.requests, 60);
  assert.equal(await metric('sluice_requests_total', { rollout, revision: 2, code_class: '2xx' }), 0);

  // The last mismatches, for humans: newest first, at most 20, with what differed.
  const log = await client.mismatches(rollout, 2);
  assert.equal(log.length, 20);
  assert.deepEqual(log[0].differences, [{ path: 'status', primary: '200', shadow: '500' }]);
  assert.equal(log[0].path, '/status');
  const price = log.find((m) => m.path === '/price');
  assert.deepEqual(price?.differences, [{ path: '$.price', primary: '5', shadow: '6' }]);
  assert.ok(log.every((m) => m.shadowMs >= 0 && m.primaryMs >= 0 && m.route === 'shadow' && m.primaryRevision === 1));
  assert.deepEqual(await client.mismatches(rollout, 1), []);
});

test('methods: a POST is not mirrored by default; with methods [POST] its body is copied, up to maxBodyBytes', async () => {
  const primary = await startApp('post-primary');
  const shadow = await startApp('post-shadow');
  const backends = { 1: ['v1', [primary.endpoint]], 2: ['v2', [shadow.endpoint]] } as Record<number, [string, Endpoint[]]>;
  const plain = await serve((listen) => listener(listen, backends, { 1: 100 }, { rollout: 'post', mirrors: [mirror()] }));
  const a = await request(plain, { method: 'POST', path: '/echo', body: 'hello', agent });
  assert.equal(a.body, 'post-primary:hello');
  await request(plain, { path: '/x', agent });
  await waitFor(async () => shadow.seen.length >= 1, { timeoutMs: 15_000, intervalMs: 50, what: 'the GET copy' });
  await sleep(200);
  assert.deepEqual(
    shadow.seen.map((s) => s.method),
    ['GET'],
    'only the GET was copied',
  );

  const posts = await serve((listen) =>
    listener(listen, backends, { 1: 100 }, { rollout: 'post', mirrors: [mirror({ name: 'posts', match: { methods: ['POST'] }, maxBodyBytes: 1000 })] }),
  );
  const big = 'x'.repeat(5000);
  const answers = await Promise.all([
    request(posts, { method: 'POST', path: '/echo', body: 'copy me', agent }),
    request(posts, { method: 'POST', path: '/echo', body: big, agent }),
    // A chunked body (no Content-Length) over the limit: found out while it streams.
    new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: posts, method: 'POST', path: '/echo', agent }, (res) => {
        let s = '';
        res.on('data', (d: Buffer) => (s += d.toString()));
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.write('y'.repeat(600));
      setTimeout(() => req.end('y'.repeat(600)), 20);
    }),
  ]);
  assert.equal(answers[0].body, 'post-primary:copy me');
  assert.equal(answers[1].body, `post-primary:${big}`);
  assert.equal(answers[2], `post-primary:${'y'.repeat(1200)}`);
  const labels = { rollout: 'post', revision: 2, route: 'posts' };
  await waitFor(async () => (await metric('sluice_mirror_requests_total', labels)) >= 1, { timeoutMs: 15_000, intervalMs: 50, what: 'the POST copy' });
  await sleep(200);
  const copies = shadow.seen.filter((s) => s.method === 'POST');
  assert.deepEqual(
    copies.map((s) => [s.body, s.mirror]),
    [['copy me', true]],
  );
  assert.equal(await metric('sluice_mirror_too_large_total', labels), 2);
  // A GET does not match methods [POST].
  await request(posts, { path: '/x', agent });
  await sleep(200);
  assert.equal(shadow.seen.filter((s) => s.method === 'GET').length, 1);
});

test('queue overflow: with queueLimit 2 and a very slow shadow, a burst drops and counts copies, and the primary is unaffected', async () => {
  const primary = await startApp('q-primary');
  const shadow = await startApp('q-shadow', { delayMs: 3000 });
  const port = await serve((listen) =>
    listener(listen, { 1: ['v1', [primary.endpoint]], 2: ['v2', [shadow.endpoint]] }, { 1: 100 }, { rollout: 'queue', mirrors: [mirror({ queueLimit: 2 })] }),
  );
  const started = performance.now();
  const times: number[] = [];
  await Promise.all(
    Array.from({ length: 40 }, async () => {
      const t = performance.now();
      const a = await request(port, { path: '/wait', agent: false });
      times.push(performance.now() - t);
      assert.equal(a.status, 200);
      assert.equal(a.headers['x-app'], 'q-primary');
    }),
  );
  const burstMs = performance.now() - started;
  assert.ok(burstMs < 2000, `the burst took ${burstMs.toFixed(0)} ms: the primary waited for the 3 s shadow`);
  const labels = { rollout: 'queue', revision: 2, route: 'shadow' };
  assert.equal(await metric('sluice_mirror_requests_total', labels), 2);
  assert.equal(await metric('sluice_mirror_dropped_total', labels), 38);
  assert.equal(await metric('sluice_mirror_pending', labels), 2);
  // Once the slow copies are done the queue takes copies again.
  await waitFor(async () => (await metric('sluice_mirror_pending', labels)) === 0, { timeoutMs: 10_000, intervalMs: 50, what: 'the slow copies to finish' });
  await request(port, { path: '/x', agent });
  await waitFor(async () => (await metric('sluice_mirror_requests_total', labels)) === 3, { timeoutMs: 15_000, intervalMs: 50, what: 'a new copy' });
});

test('percent: exactly 20 % of 1,000 matching requests are copied (the deterministic accumulator)', async () => {
  const primary = await startApp('pct-primary');
  const shadow = await startApp('pct-shadow');
  const port = await serve((listen) =>
    listener(
      listen,
      { 1: ['v1', [primary.endpoint]], 2: ['v2', [shadow.endpoint]] },
      { 1: 100 },
      {
        rollout: 'pct',
        mirrors: [mirror({ percent: 20, match: { pathPrefix: '/api' } })],
      },
    ),
  );
  await send(port, 1000, () => ({ path: '/api/items' }));
  await send(port, 100, () => ({ path: '/other' }));
  const labels = { rollout: 'pct', revision: 2, route: 'shadow' };
  await waitFor(async () => (await metric('sluice_mirror_pending', labels)) === 0 && (await metric('sluice_mirror_requests_total', labels)) > 0, {
    timeoutMs: 15_000,
    intervalMs: 50,
    what: 'copies done',
  });
  const copies = await metric('sluice_mirror_requests_total', labels);
  // The accumulator copies every fifth matching request; the 100 others do not move it.
  assert.equal(copies, 200);
  assert.equal(shadow.seen.length, copies);
  assert.ok(shadow.seen.every((s) => s.path === '/api/items'));
});

test('isolation: with a shadow that takes 2 s, every primary answer arrives well before it (latency figures: bench/mirror.mjs)', async () => {
  const primary = await startApp('iso-primary');
  const shadow = await startApp('iso-shadow', { delayMs: 2000 });
  const port = await serve((listen) =>
    listener(listen, { 1: ['v1', [primary.endpoint]], 2: ['v2', [shadow.endpoint]] }, { 1: 100 }, { rollout: 'iso', mirrors: [mirror({ queueLimit: 500 })] }),
  );
  const labels = { rollout: 'iso', revision: 2, route: 'shadow' };
  const t0 = Date.now();
  const answers = await send(port, 64, () => ({ path: '/wait' }));
  const ms = Date.now() - t0;
  assert.ok(answers.every((a) => a.status === 200 && a.headers['x-app'] === 'iso-primary'));
  // 64 requests, 16 at a time: four rounds. Had a primary answer waited for its copy, they
  // would take 4 × 2 s.
  assert.ok(ms < 1500, `64 primary answers took ${ms} ms with a 2 s shadow`);
  assert.ok((await metric('sluice_mirror_pending', labels)) > 0, 'the copies were still at the shadow when the primaries had answered');
  await waitFor(async () => (await metric('sluice_mirror_pending', labels)) === 0, { timeoutMs: 15_000, intervalMs: 50, what: 'copies done' });
  assert.equal(await metric('sluice_mirror_requests_total', labels), 64);
  assert.equal(shadow.seen.filter((s) => s.mirror && s.path === '/wait').length, 64);
});

test('a rule with a split target: premium users 50/50 between two revisions, everyone else on stable; sticky keeps a user on one', async () => {
  const stable = await startApp('seg-stable');
  const a = await startApp('seg-a');
  const b = await startApp('seg-b');
  const backends = { 1: ['v1', [stable.endpoint]], 2: ['v2', [a.endpoint]], 3: ['v3', [b.endpoint]] } as Record<number, [string, Endpoint[]]>;
  const rules = [
    {
      name: 'premium',
      header: { name: 'x-user-segment', exact: 'premium' },
      split: [
        { revision: 2, weight: 50 },
        { revision: 3, weight: 50 },
      ],
    },
  ];
  const port = await serve((listen) => listener(listen, backends, { 1: 100 }, { rollout: 'seg', rules }));
  const premium = await send(port, 1000, () => ({ headers: { 'x-user-segment': 'premium' } }));
  const count = (answers: Answer[], name: string) => answers.filter((x) => x.body === name).length;
  const onA = count(premium, 'seg-a');
  assert.ok(onA >= 450 && onA <= 550, `${onA} of 1000 on revision 2`);
  assert.equal(onA + count(premium, 'seg-b'), 1000);
  const others = await send(port, 100, () => ({ headers: { 'x-user-segment': 'basic' } }));
  assert.equal(count(others, 'seg-stable'), 100);

  // Sticky by the router's cookie: each premium user stays on the revision it first got.
  const sticky = await serve((listen) => listener(listen, backends, { 1: 100 }, { rollout: 'seg', rules, sticky: { cookie: { name: 'sluice-seg' } } }));
  const users = 200;
  const cookies: string[] = [];
  const first = await send(sticky, users, () => ({ headers: { 'x-user-segment': 'premium' } }));
  first.forEach((ans, i) => {
    const set = String(ans.headers['set-cookie'] ?? '');
    assert.match(set, /^sluice-seg=\d+;/, `user ${i} got no bucket cookie`);
    cookies[i] = set.split(';')[0];
  });
  const firstOnA = count(first, 'seg-a');
  assert.ok(firstOnA >= 70 && firstOnA <= 130, `${firstOnA} of ${users} new premium users on revision 2`);
  const again = await send(sticky, users * 4, (i) => ({ headers: { 'x-user-segment': 'premium', cookie: cookies[i % users] } }));
  again.forEach((ans, i) => {
    assert.equal(ans.body, first[i % users].body, `user ${i % users} moved`);
    assert.equal(ans.headers['set-cookie'], undefined);
  });
});

test('A/B: the variant header names the answering backend’s variant; exposures count requests and new users per revision', async () => {
  const a = await startApp('ab-a');
  const b = await startApp('ab-b');
  const c = await startApp('ab-c');
  const rollout = 'ab';
  const { listen, port } = await listenAddr();
  const plainAddr = await listenAddr();
  const routes: ListenerRoutes = {
    ...listener(listen, { 1: ['v1', [a.endpoint]], 2: ['v2', [b.endpoint]], 3: ['v3', [c.endpoint]] }, { 1: 40, 2: 40, 3: 20 }, { rollout }),
    variantHeader: 'x-sluice-variant',
    sticky: { cookie: { name: 'sluice-ab' } },
  };
  routes.backends[0].variant = 'a';
  routes.backends[1].variant = 'b';
  // Revision 3 plays no variant: no header.
  const plain = listener(plainAddr.listen, { 1: ['v1', [a.endpoint]] }, { 1: 100 }, { rollout: 'ab-plain' });
  plain.backends[0].variant = 'a';
  await client.apply(table(generation++, routes, plain));

  const users = 100;
  const first = await send(port, users);
  const want: Record<string, string | undefined> = { 'ab-a': 'a', 'ab-b': 'b', 'ab-c': undefined };
  for (const ans of first) assert.equal(ans.headers['x-sluice-variant'], want[ans.body], ans.body);
  const cookies = first.map((ans) => String(ans.headers['set-cookie']).split(';')[0]);
  const again = await send(port, users * 2, (i) => ({ headers: { cookie: cookies[i % users] } }));
  for (const ans of again) assert.equal(ans.headers['x-sluice-variant'], want[ans.body]);
  // A listener without variantHeader adds nothing, even to a backend with a variant.
  assert.equal((await request(plainAddr.port, { agent })).headers['x-sluice-variant'], undefined);

  const traffic = (await client.traffic()).filter((t) => t.rollout === rollout && t.listen === listen).sort((x, y) => x.revision - y.revision);
  const byRevision = (name: string) => first.filter((x) => x.body === name).length;
  const served = (name: string) => [...first, ...again].filter((x) => x.body === name).length;
  assert.deepEqual(
    traffic.map((t) => [t.revision, t.requests, t.newUsers]),
    [
      [1, served('ab-a'), byRevision('ab-a')],
      [2, served('ab-b'), byRevision('ab-b')],
      [3, served('ab-c'), byRevision('ab-c')],
    ],
  );
  assert.equal(
    traffic.reduce((s, t) => s + t.newUsers, 0),
    users,
  );
  assert.equal(await metric('sluice_sticky_assignments_total', { rollout, revision: 2 }), byRevision('ab-b'));
});

test('validation: rule targets, mirrors and variants', () => {
  const base = (extra: Partial<ListenerRoutes>): unknown => ({
    generation: 1,
    listeners: [
      listener(
        '127.0.0.1:1',
        { 1: ['v1', [{ id: 'a', host: '127.0.0.1', port: 2 }]], 2: ['v2', [{ id: 'b', host: '127.0.0.1', port: 3 }]] },
        { 1: 100 },
        extra,
      ),
    ],
  });
  const ok = (extra: Partial<ListenerRoutes>) => assert.doesNotThrow(() => validateRouteTable(base(extra)));
  const bad = (extra: unknown, re: RegExp) => assert.throws(() => validateRouteTable(base(extra as Partial<ListenerRoutes>)), re);
  const header = { name: 'x-seg', exact: 'p' };
  ok({
    rules: [
      {
        name: 'r',
        header,
        split: [
          { revision: 1, weight: 50 },
          { revision: 2, weight: 50 },
        ],
      },
    ],
  });
  ok({ rules: [{ name: 'r', methods: ['POST'], revision: 2 }] });
  bad({ rules: [{ name: 'r', header }] }, /rules\[0\]: has neither revision nor split/);
  bad({ rules: [{ name: 'r', header, revision: 1, split: [{ revision: 1, weight: 100 }] }] }, /has both revision and split/);
  bad(
    {
      rules: [
        {
          name: 'r',
          header,
          split: [
            { revision: 1, weight: 50 },
            { revision: 2, weight: 40 },
          ],
        },
      ],
    },
    /rules\[0\]\.split: weights sum to 90/,
  );
  bad({ rules: [{ name: 'r', header, split: [{ revision: 9, weight: 100 }] }] }, /split\[0\]\.revision: revision 9 has no backend/);
  bad({ rules: [{ name: 'r', header, split: [] }] }, /non-empty list/);
  ok({ mirrors: [mirror({ compare: { ignorePaths: ['$.a', '$.items[*].id', '$.h["x-y"]'] }, match: { pathPrefix: '/api' } })] });
  bad({ mirrors: [mirror({ percent: 101 })] }, /mirrors\[0\]\.percent: must be a number in 0\.\.100/);
  bad({ mirrors: [mirror({ queueLimit: 0 })] }, /queueLimit: must be a whole number ≥ 1/);
  bad({ mirrors: [mirror({ revision: 5 })] }, /mirrors\[0\]\.revision: revision 5 has no backend/);
  bad({ mirrors: [mirror({ compare: { ignorePaths: ['timestamp'] } })] }, /ignorePaths\[0\]: "timestamp": a path starts with \$/);
  bad({ mirrors: [mirror({ match: { header: { name: 'x', regex: '(' } } })] }, /mirrors\[0\]\.match\.header\.regex/);
  bad({ mirrors: [mirror(), mirror()] }, /shadow names another mirror/);
  bad({ variantHeader: 'bad header' }, /variantHeader: "bad header" is not a valid header name/);
  const withVariant = base({ variantHeader: 'x-v' }) as { listeners: { backends: { variant?: unknown }[] }[] };
  withVariant.listeners[0].backends[0].variant = '';
  assert.throws(() => validateRouteTable(withVariant), /backends\[0\]\.variant/);
});

test('a rollout deleted and re-created under the same name starts its mirror counters at zero', async () => {
  const primary = await startApp('again-primary');
  const shadow = await startApp('again-shadow');
  const routes = (listen: string): ListenerRoutes =>
    listener(listen, { 1: ['v1', [primary.endpoint]], 2: ['v2', [shadow.endpoint]] }, { 1: 100 }, { rollout: 'again', mirrors: [mirror()] });
  const labels = { rollout: 'again', revision: 2, route: 'shadow' };
  const copiesAfter = async (port: number, n: number): Promise<number> => {
    await send(port, n);
    await waitFor(async () => (await metric('sluice_mirror_pending', labels)) === 0 && (await metric('sluice_mirror_requests_total', labels)) > 0, {
      timeoutMs: 15_000,
      intervalMs: 50,
      what: 'copies done',
    });
    return metric('sluice_mirror_requests_total', labels);
  };
  assert.equal(await copiesAfter(await serve(routes), 5), 5);
  // Deleted: its listener leaves the table; then re-created.
  await client.apply(table(generation++));
  assert.doesNotMatch(await client.metrics(), /sluice_mirror_\w+\{rollout="again"/);
  assert.equal(await copiesAfter(await serve(routes), 3), 3);
});

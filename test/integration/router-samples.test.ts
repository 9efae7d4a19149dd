import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../../src/router/router.js';
import { createAdminServer } from '../../src/router/admin.js';
import { HttpTrafficRouter } from '../../src/router/http-client.js';
import { testAdminAccess } from '../helpers/router-fixtures.js';
import { percentile } from '../../src/router/samples.js';
import type { Endpoint } from '../../src/core/route-table.js';
import type { TrafficWindows } from '../../src/core/traffic-router.js';
import { freePort } from '../helpers/ports.js';
import { listenAddr, listener, request, startCountingApp, table, type CountingApp } from '../helpers/router-fixtures.js';
import { sleep, waitFor } from '../helpers/wait.js';

interface Harness {
  router: Router;
  client: HttpTrafficRouter;
  adminPort: number;
  adminHeaders: { authorization: string };
  close(): Promise<void>;
}

async function startHarness(sampleCapacity?: number): Promise<Harness> {
  const stateDir = mkdtempSync(join(tmpdir(), 'sluice-samples-test-'));
  const router = new Router({ stateDir, drainTimeoutMs: 500, sampleCapacity });
  await router.start();
  const access = testAdminAccess(stateDir);
  const admin = createAdminServer(router, { shutdown: () => {} }, access);
  await new Promise<void>((r) => admin.listen(0, '127.0.0.1', r));
  const adminPort = (admin.address() as { port: number }).port;
  const client = new HttpTrafficRouter(`127.0.0.1:${adminPort}`, access.token);
  return {
    router,
    client,
    adminPort,
    adminHeaders: { authorization: `Bearer ${access.token}` },
    async close() {
      client.close();
      await router.close(500);
      admin.closeAllConnections();
      await new Promise((r) => admin.close(r));
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** `count` GETs with at most `concurrency` in flight; returns the statuses in answer order. */
async function send(port: number, count: number, concurrency: number, path = '/'): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      statuses.push((await request(port, { path, agent })).status);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  agent.destroy();
  return statuses;
}

let h: Harness;
const apps: CountingApp[] = [];
let generation = 1;

async function app(name: string, failEvery = 0): Promise<CountingApp> {
  const a = await startCountingApp(name, failEvery);
  apps.push(a);
  return a;
}

before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
  await Promise.all(apps.map((a) => a.close()));
});

test('/window counts requests and 5xx exactly; rates follow (through HttpTrafficRouter as the analysis sees it, a TrafficWindows)', async () => {
  const a = await app('tenth-fails', 10);
  const { listen, port } = await listenAddr();
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', [a.endpoint]] }, { 1: 100 }, { rollout: 'counts' })));
  const t0 = Date.now();
  const statuses = await send(port, 200, 8);
  assert.equal(statuses.filter((s) => s === 500).length, 20);
  const windows: TrafficWindows = h.client;
  const w = await windows.window('counts', 1, t0);
  assert.equal(w.rollout, 'counts');
  assert.equal(w.revision, 1);
  assert.equal(w.requests, 200);
  assert.equal(w.errors5xx, 20);
  assert.equal(w.errorRate, 0.1);
  assert.equal(w.successRate, 0.9);
  assert.equal(w.truncated, false);
  assert.equal(w.from, t0);
  assert.ok(w.to >= t0 && w.to <= Date.now(), `to ${w.to}`);
  assert.ok(Math.abs(w.requestRate - 200 / ((w.to - w.from) / 1000)) < 1e-9, `requestRate ${w.requestRate}`);
  for (const p of [w.latency.p50, w.latency.p90, w.latency.p95, w.latency.p99, w.latency.mean]) assert.ok(p !== null && p > 0 && p < 1, `latency ${p}`);
  // The counters of /traffic agree.
  const t = (await h.client.traffic()).find((x) => x.rollout === 'counts');
  assert.deepEqual([t?.requests, t?.errors5xx], [200, 20]);
});

test('percentiles are exact over the samples (linear interpolation) and reflect known delays', async () => {
  const a = await app('delays');
  const { listen, port } = await listenAddr();
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', [a.endpoint]] }, { 1: 100 }, { rollout: 'delays' })));
  const t0 = Date.now();
  // 30 answers after 20 ms, 10 after 120 ms.
  await Promise.all([send(port, 30, 10, '/?ms=20'), send(port, 10, 10, '/?ms=120')]);
  const w = await h.client.window('delays', 1, t0);
  const s = await h.client.samples('delays', 1, t0);
  assert.equal(w.requests, 40);
  assert.equal(s.latencies.length, 40);
  const sorted = [...s.latencies].sort((x, y) => x - y);
  assert.equal(w.latency.p50, percentile(sorted, 0.5));
  assert.equal(w.latency.p90, percentile(sorted, 0.9));
  assert.equal(w.latency.p95, percentile(sorted, 0.95));
  assert.equal(w.latency.p99, percentile(sorted, 0.99));
  assert.ok(Math.abs(w.latency.mean! - sorted.reduce((x, y) => x + y, 0) / 40) < 1e-12);
  // Timing is real: generous bounds. p50 (rank 19.5 of 0..39) is a fast one, p90 (35.1) a slow one.
  assert.ok(w.latency.p50! >= 0.019 && w.latency.p50! < 0.09, `p50 ${w.latency.p50}`);
  assert.ok(w.latency.p90! >= 0.119 && w.latency.p90! < 0.4, `p90 ${w.latency.p90}`);
  assert.ok(w.latency.p99! >= 0.119 && w.latency.p99! < 0.5, `p99 ${w.latency.p99}`);
  assert.ok(w.latency.mean! >= 0.044 && w.latency.mean! < 0.15, `mean ${w.latency.mean}`);
});

test('percentile() is numpy-linear', () => {
  assert.equal(percentile([], 0.5), null);
  assert.equal(percentile([7], 0.99), 7);
  assert.equal(percentile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9), 9.1);
  assert.ok(Math.abs(percentile([0, 10], 0.95)! - 9.5) < 1e-12);
});

test('sinceMs keeps only requests that ended at or after it; an empty window has rates 0 and null percentiles', async () => {
  const a = await app('since');
  const { listen, port } = await listenAddr();
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', [a.endpoint]] }, { 1: 100 }, { rollout: 'since' })));
  const t0 = Date.now();
  await send(port, 10, 2);
  await sleep(5);
  const t1 = Date.now();
  await send(port, 7, 2);
  assert.equal((await h.client.window('since', 1, t0)).requests, 17);
  assert.equal((await h.client.window('since', 1, t1)).requests, 7);
  assert.equal((await h.client.samples('since', 1, t1)).latencies.length, 7);
  const empty = await h.client.window('since', 1, Date.now() + 60_000);
  assert.deepEqual(
    {
      requests: empty.requests,
      errors5xx: empty.errors5xx,
      requestRate: empty.requestRate,
      errorRate: empty.errorRate,
      successRate: empty.successRate,
      latency: empty.latency,
      truncated: empty.truncated,
    },
    {
      requests: 0,
      errors5xx: 0,
      requestRate: 0,
      errorRate: 0,
      successRate: 0,
      latency: { p50: null, p90: null, p95: null, p99: null, mean: null },
      truncated: false,
    },
  );
  // A revision the router never routed to: zero requests, not an error.
  assert.equal((await h.client.window('since', 99, t0)).requests, 0);
  assert.deepEqual(await h.client.samples('nobody', 1, t0), { latencies: [], errors: [], truncated: false });
});

test('main and canary listeners count under the same revision; role narrows', async () => {
  const stable = await app('roles-v1');
  const canary = await app('roles-v2');
  const main = await listenAddr();
  const side = await listenAddr();
  const backends = { 1: ['v1', [stable.endpoint]], 2: ['v2', [canary.endpoint]] } as Record<number, [string, Endpoint[]]>;
  await h.client.apply(
    table(
      generation++,
      listener(main.listen, backends, { 1: 50, 2: 50 }, { rollout: 'roles' }),
      listener(side.listen, backends, { 2: 100 }, { rollout: 'roles', role: 'canary' }),
    ),
  );
  const t0 = Date.now();
  await send(main.port, 40, 4);
  await send(side.port, 15, 3);
  assert.equal((await h.client.window('roles', 2, t0)).requests, 35);
  assert.equal((await h.client.window('roles', 1, t0)).requests, 20);
  const onlyCanary = await h.client.window('roles', 2, t0, 'canary');
  assert.equal(onlyCanary.requests, 15);
  assert.equal(onlyCanary.role, 'canary');
  assert.equal((await h.client.window('roles', 2, t0, 'main')).requests, 20);
  assert.equal((await h.client.samples('roles', 2, t0, undefined, 'canary')).latencies.length, 15);
});

test('/samples: latencies and 0/1 errors, oldest first, at most max', async () => {
  const a = await app('shape', 10);
  const { listen, port } = await listenAddr();
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', [a.endpoint]] }, { 1: 100 }, { rollout: 'shape' })));
  const t0 = Date.now();
  await send(port, 25, 1);
  const all = await h.client.samples('shape', 1, t0);
  assert.equal(all.truncated, false);
  assert.equal(all.latencies.length, 25);
  assert.ok(all.latencies.every((x) => typeof x === 'number' && x > 0 && x < 1));
  assert.deepEqual(
    all.errors
      .map((e, i) => [i, e])
      .filter(([, e]) => e === 1)
      .map(([i]) => i),
    [9, 19],
  );
  const last = await h.client.samples('shape', 1, t0, 6);
  assert.equal(last.truncated, true);
  assert.deepEqual(last.errors, [1, 0, 0, 0, 0, 0]);
  assert.deepEqual(last.latencies, all.latencies.slice(-6));
  // Bad queries are refused with the reason.
  for (const [q, why] of [
    ['/window?revision=1&sinceMs=0', /rollout=NAME is required/],
    ['/window?rollout=shape&revision=x&sinceMs=0', /revision=x/],
    ['/window?rollout=shape&revision=1', /sinceMs=/],
    ['/samples?rollout=shape&revision=1&sinceMs=0&max=0', /max=0/],
    ['/samples?rollout=shape&revision=1&sinceMs=0&role=edge', /role=edge/],
  ] as const) {
    const r = await request(h.adminPort, { path: q, headers: h.adminHeaders });
    assert.equal(r.status, 400, q);
    assert.match((JSON.parse(r.body) as { error: string }).error, why);
  }
  assert.equal((await request(h.adminPort, { path: '/window?rollout=shape&revision=1&sinceMs=0', method: 'POST', headers: h.adminHeaders })).status, 405);
});

test("the router's own 502s are errors; a client that leaves before any answer is sampled as status 0, not an error", async () => {
  const a = await app('abandoned');
  const deadPort = await freePort();
  const main = await listenAddr();
  const side = await listenAddr();
  const backends = { 1: ['v1', [a.endpoint]], 2: ['v2', [{ id: 'dead', host: '127.0.0.1', port: deadPort }]] } as Record<number, [string, Endpoint[]]>;
  await h.client.apply(
    table(
      generation++,
      listener(main.listen, backends, { 1: 50, 2: 50 }, { rollout: 'failing' }),
      listener(side.listen, backends, { 1: 100 }, { rollout: 'failing', role: 'preview' }),
    ),
  );
  const t0 = Date.now();
  const statuses = await send(main.port, 10, 1);
  assert.equal(statuses.filter((s) => s === 502).length, 5);
  const dead = await h.client.window('failing', 2, t0);
  assert.deepEqual([dead.requests, dead.errors5xx, dead.errorRate], [5, 5, 1]);
  // A request to revision 1 that the client gives up on before any answer.
  await new Promise<void>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: side.port, path: '/hang', agent: false });
    req.on('error', () => resolve());
    // Timed from the moment the head is written: the router's clock starts when it reads it.
    req.on('finish', () => setTimeout(() => req.destroy(), 300));
  });
  let w = await h.client.window('failing', 1, t0);
  // A timeout is not the failure to report: the assertion below shows the last window.
  await waitFor(async () => (w = await h.client.window('failing', 1, t0)).requests >= 6, {
    timeoutMs: 5000,
    intervalMs: 20,
    what: '6 requests in the window',
  }).catch(() => undefined);
  assert.deepEqual([w.requests, w.errors5xx], [6, 0]);
  const abandoned = await h.client.samples('failing', 1, t0, undefined, 'preview');
  assert.equal(abandoned.latencies.length, 1);
  assert.ok(abandoned.latencies[0] >= 0.2, `the abandoned request's latency ${abandoned.latencies[0]} (the client left after 0.3 s)`);
});

test('a ring that overwrote requests since sinceMs says truncated and covers less; a revision that left the table keeps its samples', async () => {
  const small = await startHarness(64);
  try {
    const a = await app('small', 10);
    const { listen, port } = await listenAddr();
    await small.client.apply(table(1, listener(listen, { 1: ['v1', [a.endpoint]] }, { 1: 100 }, { rollout: 'ring' })));
    const t0 = Date.now();
    await send(port, 60, 4);
    await sleep(5);
    const t1 = Date.now();
    await send(port, 40, 4);
    const w = await small.client.window('ring', 1, t0);
    assert.equal(w.requests, 64);
    assert.equal(w.truncated, true);
    assert.ok(w.from >= t0 && w.from <= t1, `from ${w.from} within (${t0}, ${t1}]`);
    assert.ok(Math.abs(w.requestRate - 64 / ((w.to - w.from) / 1000)) < 1e-9);
    const recent = await small.client.window('ring', 1, t1);
    assert.deepEqual([recent.requests, recent.errors5xx, recent.truncated], [40, 4, false]);
    const s = await small.client.samples('ring', 1, t0, 1000);
    assert.deepEqual([s.latencies.length, s.truncated], [64, true]);
    // Revision 1 leaves the table: its samples stay readable (for 10 minutes).
    const b = await app('small-v2');
    await small.client.apply(table(2, listener(listen, { 2: ['v2', [b.endpoint]] }, { 2: 100 }, { rollout: 'ring' })));
    assert.equal((await small.client.window('ring', 1, t1)).requests, 40);
  } finally {
    await small.close();
  }
});

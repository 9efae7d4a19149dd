import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../helpers/ports.js';
import { listenAddr, listener, request, startBackend, startRouter, table, type Backend, type RouterHarness } from '../helpers/router-fixtures.js';
import type { UserError } from '../../src/util/errors.js';
import { sleep, waitFor } from '../helpers/wait.js';

let h: RouterHarness;
const backends: Backend[] = [];
let generation = 1;
async function backend(name: string): Promise<Backend> {
  const b = await startBackend(name);
  backends.push(b);
  return b;
}

before(async () => {
  h = await startRouter();
});
after(async () => {
  await h.close();
  await Promise.all(backends.map((b) => b.close()));
});

test('a 20/80 split sends exactly 20% to the canary (within one request)', async () => {
  const stable = await backend('stable');
  const canary = await backend('canary');
  const { listen, port } = await listenAddr();
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', [stable.endpoint()]], 2: ['v2', [canary.endpoint()]] }, { 1: 80, 2: 20 })));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const counts: Record<string, number> = {};
  for (let i = 0; i < 100; i++) {
    const answers = await Promise.all(Array.from({ length: 10 }, () => request(port, { agent })));
    for (const a of answers) counts[a.body] = (counts[a.body] ?? 0) + 1;
  }
  agent.destroy();
  assert.equal(counts.stable + counts.canary, 1000);
  assert.ok(Math.abs(counts.canary - 200) <= 2, `canary got ${counts.canary} of 1000`);
});

test('round-robin spreads one revision evenly over its three endpoints', async () => {
  const bs = await Promise.all(['a', 'b', 'c'].map((n) => backend(`rr-${n}`)));
  const { listen, port } = await listenAddr();
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', bs.map((b) => b.endpoint())] }, { 1: 100 })));
  const counts: Record<string, number> = {};
  for (let i = 0; i < 30; i++) {
    const a = await request(port);
    counts[a.body] = (counts[a.body] ?? 0) + 1;
  }
  assert.deepEqual(counts, { 'rr-a': 10, 'rr-b': 10, 'rr-c': 10 });
});

test('least-requests sends new requests to the idle endpoint', async () => {
  const x = await backend('lr-x');
  const y = await backend('lr-y');
  const { listen, port } = await listenAddr();
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', [x.endpoint(), y.endpoint()]] }, { 1: 100 }, { balancer: 'least-requests' })));
  const slow = request(port, { path: '/slow?ms=800' });
  await waitFor(() => (x.active.get('/slow') ?? 0) + (y.active.get('/slow') ?? 0) === 1, { timeoutMs: 3000, intervalMs: 10, what: 'slow request in flight' });
  const busy = (x.active.get('/slow') ?? 0) === 1 ? x : y;
  const idle = busy === x ? y : x;
  for (let i = 0; i < 10; i++) assert.equal((await request(port)).body, idle.name);
  assert.equal((await slow).body, busy.name);
});

test('blue-green switch is atomic: after apply returns no request reaches v1, and none fails', async () => {
  const blue = await backend('blue');
  const green = await backend('green');
  const { listen, port } = await listenAddr();
  const routes = (rev: number) =>
    listener(listen, { 1: ['v1', [blue.endpoint()]], 2: ['v2', [green.endpoint()]] }, rev === 1 ? { 1: 100, 2: 0 } : { 1: 0, 2: 100 });
  await h.client.apply(table(generation++, routes(1)));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let applied = Infinity;
  let stop = false;
  const seen: { sentAt: number; status: number; body: string }[] = [];
  const worker = async (): Promise<void> => {
    while (!stop) {
      const sentAt = performance.now();
      const a = await request(port, { agent });
      seen.push({ sentAt, status: a.status, body: a.body });
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  await sleep(150);
  await h.client.apply(table(generation++, routes(2)));
  applied = performance.now();
  await sleep(150);
  stop = true;
  await Promise.all(workers);
  agent.destroy();
  assert.ok(
    seen.every((s) => s.status === 200),
    'every request succeeded',
  );
  const after = seen.filter((s) => s.sentAt > applied);
  assert.ok(after.length > 10, `enough requests after the switch (${after.length})`);
  assert.deepEqual([...new Set(after.map((s) => s.body))], ['green']);
  assert.ok(
    seen.some((s) => s.body === 'blue'),
    'v1 served before the switch',
  );
});

test('draining: a request in flight to a removed endpoint completes, and waitIdle resolves after it', async () => {
  const old = await backend('drain-old');
  const fresh = await backend('drain-new');
  const { listen, port } = await listenAddr();
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', [old.endpoint()]] }, { 1: 100 })));
  const slowStarted = performance.now();
  let slowDoneAt = 0;
  const slow = request(port, { path: '/slow?ms=600' }).then((a) => {
    slowDoneAt = performance.now();
    return a;
  });
  await waitFor(() => old.active.get('/slow') === 1, { timeoutMs: 3000, intervalMs: 10, what: 'slow request at the old endpoint' });
  await h.client.apply(table(generation++, listener(listen, { 2: ['v2', [fresh.endpoint()]] }, { 2: 100 })));
  assert.equal((await request(port)).body, 'drain-new');
  assert.equal(await h.client.waitIdle('drain-old', 50), false, 'not idle while the slow request runs');
  const idle = await h.client.waitIdle('drain-old', 5000);
  const idleAt = performance.now();
  assert.equal(idle, true);
  const a = await slow;
  assert.equal(a.status, 200);
  assert.equal(a.body, 'drain-old');
  assert.ok(idleAt >= slowDoneAt - 5 && idleAt - slowStarted >= 550, 'waitIdle resolved after the request, not before');
  assert.equal(await h.client.waitIdle('never-seen', 1000), true, 'an unknown endpoint is idle');
});

test('no ready endpoint: the maintenance page with its status and Retry-After, or a plain 503', async () => {
  const spare = await backend('spare');
  const { listen, port } = await listenAddr();
  const maintenance = { status: 503, body: '<h1>Back soon</h1>', retryAfterSeconds: 7 };
  // 100% to a revision with no endpoint: a weight-0 revision that has endpoints must not take over.
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', []], 2: ['v2', [spare.endpoint()]] }, { 1: 100, 2: 0 }, { maintenance })));
  const a = await request(port);
  assert.equal(a.status, 503);
  assert.equal(a.headers['retry-after'], '7');
  assert.match(String(a.headers['content-type']), /text\/html/);
  assert.equal(a.body, '<h1>Back soon</h1>');
  // A revision without endpoints gives its share to the others.
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', []], 2: ['v2', [spare.endpoint()]] }, { 1: 90, 2: 10 }, { maintenance })));
  for (let i = 0; i < 5; i++) assert.equal((await request(port)).body, 'spare');
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', []] }, { 1: 100 })));
  const plain = await request(port);
  assert.equal(plain.status, 503);
  assert.match(plain.body, /no ready instance of web/);
});

test('502 with a clear body when the only endpoint refuses connections', async () => {
  const dead = await freePort();
  const { listen, port } = await listenAddr();
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', [{ id: 'dead-1', host: '127.0.0.1', port: dead }]] }, { 1: 100 })));
  const a = await request(port);
  assert.equal(a.status, 502);
  assert.match(a.body, /instance dead-1 .* refused the connection \(ECONNREFUSED\)/);
  assert.equal(await h.client.waitIdle('dead-1', 0), true, 'a failed request leaves no in-flight count');
});

test('an idempotent request without body is retried once on another endpoint; a POST with a body is not', async () => {
  const live = await backend('retry-live');
  const dead = await freePort();
  const { listen, port } = await listenAddr();
  const endpoints = [{ id: 'retry-dead', host: '127.0.0.1', port: dead }, live.endpoint()];
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', endpoints] }, { 1: 100 })));
  for (let i = 0; i < 6; i++) {
    const a = await request(port);
    assert.equal(a.status, 200);
    assert.equal(a.body, 'retry-live');
  }
  const posts = [];
  for (let i = 0; i < 4; i++) posts.push(await request(port, { method: 'POST', path: '/', body: 'payload' }));
  assert.deepEqual(posts.map((p) => p.status).sort(), [200, 200, 502, 502]);
});

test('504 when the endpoint does not answer within the upstream timeout', async () => {
  const hang = await backend('hang');
  const quick = await startRouter({ upstreamTimeoutMs: 400 });
  try {
    const { listen, port } = await listenAddr();
    await quick.client.apply(table(1, listener(listen, { 1: ['v1', [hang.endpoint()]] }, { 1: 100 })));
    const started = performance.now();
    const a = await request(port, { path: '/hang' });
    assert.equal(a.status, 504);
    assert.match(a.body, /Gateway Timeout: web revision 1 instance hang .* sent nothing for 0.4s/);
    assert.ok(performance.now() - started >= 350);
  } finally {
    await quick.close();
  }
});

test('an older generation is refused with 409 and the current generation', async () => {
  const b = await backend('gen');
  const { listen } = await listenAddr();
  const current = generation++;
  await h.client.apply(table(current, listener(listen, { 1: ['v1', [b.endpoint()]] }, { 1: 100 })));
  const res = await request(h.adminPort, {
    method: 'PUT',
    path: '/routes',
    headers: h.adminHeaders,
    body: JSON.stringify(table(current - 1, listener(listen, { 1: ['v1', []] }, { 1: 100 }))),
  });
  assert.equal(res.status, 409);
  const body = JSON.parse(res.body) as { error: string; generation: number };
  assert.equal(body.generation, current);
  assert.match(body.error, /older than generation/);
  await assert.rejects(h.client.apply(table(current - 1, listener(listen, { 1: ['v1', []] }, { 1: 100 }))), (e: UserError) => e.status === 409);
  assert.equal((await h.client.routes()).generation, current);
  // The same generation again is accepted: a restarted control plane re-sends what it had.
  await h.client.apply(table(current, listener(listen, { 1: ['v1', [b.endpoint()]] }, { 1: 100 })));
});

test('an invalid table is refused with 400 and changes nothing', async () => {
  const b = await backend('valid');
  const { listen, port } = await listenAddr();
  const good = table(generation++, listener(listen, { 1: ['v1', [b.endpoint()]] }, { 1: 100 }));
  await h.client.apply(good);
  const persisted = readFileSync(join(h.stateDir, 'router', 'routes.json'), 'utf8');
  const other = await listenAddr();
  const bad = [
    [table(generation + 1, listener(listen, { 1: ['v1', [b.endpoint()]], 2: ['v2', []] }, { 1: 80, 2: 10 })), /weights sum to 90, must sum to 100/],
    [
      table(generation + 1, listener(listen, { 1: ['v1', []] }, { 1: 100 }), listener(listen, { 1: ['v1', []] }, { 1: 100 })),
      /listeners\[1\]\.listen: .* is used by another listener/,
    ],
    [table(generation + 1, listener(other.listen, { 1: ['v1', []] }, { 3: 100 })), /split\[0\]\.revision: revision 3 has no backend/],
    [
      table(generation + 1, listener(listen, { 1: ['v1', []] }, { 1: 100 }, { rules: [{ name: 'r', header: { name: 'x', regex: '(' }, revision: 1 }] })),
      /rules\[0\]\.header\.regex/,
    ],
  ] as const;
  for (const [t, why] of bad) {
    const res = await request(h.adminPort, { method: 'PUT', path: '/routes', headers: h.adminHeaders, body: JSON.stringify(t) });
    assert.equal(res.status, 400, res.body);
    assert.match((JSON.parse(res.body) as { error: string }).error, why);
  }
  const notJson = await request(h.adminPort, { method: 'PUT', path: '/routes', headers: h.adminHeaders, body: '{nope' });
  assert.equal(notJson.status, 400);
  assert.deepEqual(await h.client.routes(), good);
  assert.equal(readFileSync(join(h.stateDir, 'router', 'routes.json'), 'utf8'), persisted);
  assert.equal((await request(port)).body, 'valid');
  await assert.rejects(request(other.port), /ECONNREFUSED/, 'no listener opened for a refused table');
});

test('a listener that cannot be opened is left out and reported; the rest of the table takes effect; the next apply retries it', async () => {
  const b = await backend('applies');
  const taken = await backend('holder');
  const good = await listenAddr();
  const g = generation++;
  const outcome = await h.client.apply(
    table(
      g,
      listener(good.listen, { 1: ['v1', [b.endpoint()]] }, { 1: 100 }, { rollout: 'good' }),
      listener(`127.0.0.1:${taken.port}`, { 1: ['v1', [b.endpoint()]] }, { 1: 100 }, { rollout: 'in-use' }),
      listener(`999.1.1.1:${good.port}`, { 1: ['v1', [b.endpoint()]] }, { 1: 100 }, { rollout: 'bad-host', role: 'canary' }),
    ),
  );
  assert.deepEqual(
    outcome.failed.map((f) => [f.rollout, f.listen, f.role]),
    [
      ['in-use', `127.0.0.1:${taken.port}`, 'main'],
      ['bad-host', `999.1.1.1:${good.port}`, 'canary'],
    ],
  );
  assert.match(outcome.failed[0].error, /^cannot listen on 127\.0\.0\.1:\d+: address already in use \(EADDRINUSE\)$/);
  assert.match(outcome.failed[1].error, /ENOTFOUND|EAI_AGAIN/);
  assert.equal((await request(good.port)).body, 'applies', 'the other listener serves');
  assert.equal(await h.client.generationInEffect(), g, 'the table is in effect');
  assert.equal((await request(taken.port)).body, 'holder', 'the address stays with its owner');
  // Freed: the next table opens it.
  await taken.close();
  const next = await h.client.apply(
    table(
      generation++,
      listener(good.listen, { 1: ['v1', [b.endpoint()]] }, { 1: 100 }, { rollout: 'good' }),
      listener(`127.0.0.1:${taken.port}`, { 1: ['v1', [b.endpoint()]] }, { 1: 100 }, { rollout: 'in-use' }),
    ),
  );
  assert.deepEqual(next.failed, []);
  assert.equal((await request(taken.port)).body, 'applies');
});

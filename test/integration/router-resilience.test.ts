import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/ports.js';
import { listenAddr, listener, request, startRouter, table, type Answer, type RouterHarness } from '../helpers/router-fixtures.js';
import type { Endpoint, ListenerRoutes, Resilience } from '../../src/core/route-table.js';
import { sleep, waitFor } from '../helpers/wait.js';

const appJs = fileURLToPath(new URL('../helpers/resil-app.js', import.meta.url));

interface App {
  name: string;
  port: number;
  child: ChildProcess;
  endpoint(): Endpoint;
  fail(on: boolean): Promise<void>;
  hits(): Promise<number>;
}

let h: RouterHarness;
const children: ChildProcess[] = [];
const sockets: net.Socket[] = [];
const logs: string[] = [];
let generation = 1;

async function app(name: string): Promise<App> {
  const child = spawn(process.execPath, [appJs, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  return {
    name,
    port,
    child,
    endpoint: () => ({ id: name, host: '127.0.0.1', port }),
    fail: async (on) => {
      assert.equal((await request(port, { path: `/__fail?on=${on ? 1 : 0}` })).body, 'ok');
    },
    hits: async () => Number((await request(port, { path: '/__hits' })).body),
  };
}

/**
 * A process whose listening socket never accepts (its event loop is blocked), with its
 * accept queue filled: a new connection to it hangs in SYN_SENT, as to a dead host.
 */
async function blackhole(): Promise<Endpoint> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s=require('net').createServer().listen({port:0,host:'127.0.0.1',backlog:1},()=>{process.stdout.write(s.address().port+'\\n');Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0)})`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  // Fill the accept queue (backlog 1 holds 2): these complete in the kernel.
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    sockets.push(s);
    await new Promise<void>((r) => s.once('connect', () => r()));
  }
  return { id: 'blackhole', host: '127.0.0.1', port };
}

async function apply(l: ListenerRoutes): Promise<void> {
  await h.client.apply(table(generation++, l));
}

function routes(listen: string, endpoints: Endpoint[], resilience?: Resilience, extra: Partial<ListenerRoutes> = {}): ListenerRoutes {
  return listener(listen, { 1: ['v1', endpoints] }, { 1: 100 }, { ...(resilience === undefined ? {} : { resilience }), ...extra });
}

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

before(async () => {
  h = await startRouter({ drainTimeoutMs: 2000 });
  // The router's outlier log lines (startRouter gives the router no log).
  (h.router as unknown as { resilience: { log: (l: string) => void } }).resilience.log = (l) => logs.push(l);
});
after(async () => {
  for (const s of sockets) s.destroy();
  await h.close();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

test('an instance that fails every request is ejected: at most consecutiveFailures 5xx reach clients, and it stays ejected across a table swap', async () => {
  const a = await app('ej-a');
  const b = await app('ej-b');
  const { listen, port } = await listenAddr();
  const resilience: Resilience = { outlier: { consecutiveFailures: 3, baseEjectionMs: 60_000, maxEjectedPercent: 50 } };
  await apply(routes(listen, [a.endpoint(), b.endpoint()], resilience));
  assert.equal((await request(port)).status, 200);
  await a.fail(true);
  let failures = 0;
  for (let i = 0; i < 200; i++) {
    const r = await request(port);
    if (r.status >= 500) {
      failures++;
      assert.equal(r.body, 'ej-a');
    } else assert.equal(r.body, 'ej-b');
  }
  assert.equal(failures, 3, 'exactly consecutiveFailures 5xx, then the instance is out');
  const text = await h.client.metrics();
  assert.equal(metric(text, 'sluice_router_ejections_total', 'endpoint="ej-a"'), 1);
  assert.equal(metric(text, 'sluice_router_ejected', 'endpoint="ej-a"'), 1);
  assert.ok(
    logs.some((l) => /outlier: ejected web revision 1 instance ej-a .* for 60000 ms/.test(l)),
    logs.join('\n'),
  );
  // A new table with the same endpoint keeps the ejection (state is by endpoint id).
  await apply(routes(listen, [a.endpoint(), b.endpoint()], resilience));
  const hitsBefore = await a.hits();
  for (let i = 0; i < 20; i++) assert.equal((await request(port)).status, 200);
  assert.equal(await a.hits(), hitsBefore, 'the ejected instance got no request after the swap');
});

test('an ejected instance returns after baseEjectionMs on its own', async () => {
  const a = await app('ret-a');
  const b = await app('ret-b');
  const { listen, port } = await listenAddr();
  await apply(routes(listen, [a.endpoint(), b.endpoint()], { outlier: { consecutiveFailures: 2, baseEjectionMs: 300, maxEjectedPercent: 50 } }));
  await a.fail(true);
  let failures = 0;
  for (let i = 0; i < 10; i++) if ((await request(port)).status >= 500) failures++;
  assert.equal(failures, 2);
  await a.fail(false);
  const hitsEjected = await a.hits();
  for (let i = 0; i < 6; i++) await request(port);
  const quickly = await a.hits();
  await waitFor(() => logs.some((l) => /instance ret-a at .* is back in rotation/.test(l)), { timeoutMs: 5000, intervalMs: 10, what: 'ret-a to return' });
  for (let i = 0; i < 10; i++) assert.equal((await request(port)).status, 200);
  const later = await a.hits();
  assert.ok(quickly - hitsEjected <= 1, `while ejected it got ${quickly - hitsEjected} requests (≤ 1 if the 300 ms ran out meanwhile)`);
  assert.ok(later - quickly >= 4, `back in rotation it got ${later - quickly} of 10 requests`);
});

test('maxEjectedPercent: with 2 instances and 50 %, at most one is ejected even when both fail', async () => {
  const a = await app('pct-a');
  const b = await app('pct-b');
  const { listen, port } = await listenAddr();
  await apply(routes(listen, [a.endpoint(), b.endpoint()], { outlier: { consecutiveFailures: 2, baseEjectionMs: 60_000, maxEjectedPercent: 50 } }));
  await a.fail(true);
  await b.fail(true);
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await request(port)).status);
  assert.ok(
    statuses.every((s) => s === 500),
    'the instance left in rotation still answers (with its 500s)',
  );
  const text = await h.client.metrics();
  const ejected = metric(text, 'sluice_router_ejected', 'endpoint="pct-a"') + metric(text, 'sluice_router_ejected', 'endpoint="pct-b"');
  assert.equal(ejected, 1);
  const total = metric(text, 'sluice_router_ejections_total', 'endpoint="pct-a"') || 0;
  const totalB = metric(text, 'sluice_router_ejections_total', 'endpoint="pct-b"') || 0;
  assert.equal(total + totalB, 1);
});

function concurrent(port: number, n: number, path: string): Promise<Answer[]> {
  return Promise.all(Array.from({ length: n }, () => request(port, { path })));
}

test('connection limits: beyond maxConnections + maxPending, requests get 503 with Retry-After; the queued ones are served', async () => {
  const a = await app('lim');
  const { listen, port } = await listenAddr();
  await apply(routes(listen, [a.endpoint()], { limits: { maxConnections: 1, maxPending: 2, queueTimeoutMs: 20_000 } }));
  const answers = await concurrent(port, 6, '/slow?ms=700');
  const ok = answers.filter((r) => r.status === 200);
  const refused = answers.filter((r) => r.status === 503);
  assert.equal(ok.length, 3, answers.map((r) => `${r.status} ${r.body}`).join('\n'));
  assert.equal(refused.length, 3);
  for (const r of refused) {
    assert.equal(r.headers['retry-after'], '1');
    assert.match(
      r.body,
      /^503 Service Unavailable: every instance of web revision 1 has 1 request\(s\) in flight and 2 more are waiting \(resilience\.limits\)/,
    );
  }
  const text = await h.client.metrics();
  assert.equal(metric(text, 'sluice_router_overflow_total', `listener="${listen}",rollout="web",revision="1",reason="queue_full"`), 3);
  assert.equal(await h.client.waitIdle('lim', 3000), true);
});

test('connection limits: a request that waits longer than queueTimeoutMs gets 503', async () => {
  const a = await app('lim-t');
  const { listen, port } = await listenAddr();
  await apply(routes(listen, [a.endpoint()], { limits: { maxConnections: 1, maxPending: 5, queueTimeoutMs: 300 } }));
  const first = request(port, { path: '/slow?ms=2000' });
  await sleep(100);
  const t0 = Date.now();
  const second = await request(port, { path: '/slow?ms=10' });
  assert.equal(second.status, 503);
  assert.match(second.body, /waited 300 ms for a free instance/);
  assert.ok(Date.now() - t0 < 1800, 'refused when the queue time ran out, not when the slot freed');
  assert.equal((await first).status, 200);
});

test('a response body that stalls past the response timeout is cut, not left hanging', async () => {
  // Head and half the body, then silence (the router's timeout sweep, not undici's timers).
  const stall = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': '10' });
    res.write('12345');
  });
  await new Promise<void>((r) => stall.listen(0, '127.0.0.1', () => r()));
  try {
    const { listen, port } = await listenAddr();
    const upstream = (stall.address() as net.AddressInfo).port;
    await apply(routes(listen, [{ id: 'stall', host: '127.0.0.1', port: upstream }], { timeouts: { responseMs: 300 } }));
    const t0 = Date.now();
    const outcome = await new Promise<string>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          assert.equal(res.statusCode, 200);
          res.on('data', () => {});
          res.on('error', () => {});
          res.on('close', () => resolve(res.complete ? 'complete' : 'cut'));
        })
        .on('error', () => resolve('cut'));
    });
    const ms = Date.now() - t0;
    assert.equal(outcome, 'cut');
    assert.ok(ms >= 250 && ms < 2500, `cut after ${ms} ms (timeout 300 ms, sweep every 250 ms)`);
  } finally {
    stall.closeAllConnections();
    stall.close();
  }
});

test('response timeout → 504; a refused connection and a connect timeout are retried on the other instance', async () => {
  const a = await app('to-a');
  const { listen, port } = await listenAddr();
  await apply(routes(listen, [a.endpoint()], { timeouts: { responseMs: 300 } }));
  const t0 = Date.now();
  const slow = await request(port, { path: '/slow?ms=3000' });
  assert.equal(slow.status, 504);
  assert.match(slow.body, /^504 Gateway Timeout: web revision 1 instance to-a .* sent nothing for 0\.3s/);
  assert.ok(Date.now() - t0 < 2500);
  assert.equal((await request(port, { path: '/slow?ms=50' })).status, 200, 'faster than the timeout passes');

  const closed = { id: 'closed', host: '127.0.0.1', port: await freePort() };
  await apply(routes(listen, [closed, a.endpoint()]));
  for (let i = 0; i < 6; i++) {
    const r = await request(port);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'to-a');
  }

  const hole = await blackhole();
  await apply(routes(listen, [hole, a.endpoint()], { timeouts: { connectMs: 300 } }));
  let slowest = 0;
  for (let i = 0; i < 4; i++) {
    const s = Date.now();
    const r = await request(port);
    slowest = Math.max(slowest, Date.now() - s);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'to-a');
  }
  assert.ok(slowest >= 250, `a request went to the black hole first and waited for the connect timeout (slowest ${slowest} ms)`);
  assert.ok(slowest < 5000, `the connect timeout (300 ms) applied, not undici's 10 s (slowest ${slowest} ms)`);
});

test('SIGKILL of an instance under load loses no GET', async () => {
  const a = await app('kill-a');
  const b = await app('kill-b');
  const { listen, port } = await listenAddr();
  await apply(routes(listen, [a.endpoint(), b.endpoint()], { outlier: { consecutiveFailures: 3, baseEjectionMs: 60_000, maxEjectedPercent: 50 } }));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const results: Answer[] = [];
  const errors: string[] = [];
  let stop = false;
  const loop = async (path: string): Promise<void> => {
    while (!stop) {
      try {
        results.push(await request(port, { path, agent }));
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  };
  // Sequential requests, plus 4 concurrent loops of slower ones (in flight at the kill).
  const loops = [loop('/'), loop('/slow?ms=20'), loop('/slow?ms=20'), loop('/slow?ms=50'), loop('/slow?ms=50')];
  await sleep(800);
  const before = results.length;
  a.child.kill('SIGKILL');
  await sleep(1200);
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  const bad = results.filter((r) => r.status !== 200);
  assert.deepEqual(errors, []);
  assert.deepEqual(
    bad.map((r) => `${r.status} ${r.body}`),
    [],
  );
  assert.ok(before > 20 && results.length - before > 20, `load before (${before}) and after (${results.length - before}) the kill`);
  assert.ok(results.slice(-10).every((r) => r.body === 'kill-b'));
});

function slowUpload(port: number, path: string, chunks: number, chunkBytes: number, gapMs: number, chunked: boolean): Promise<Answer & { ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const headers: http.OutgoingHttpHeaders = chunked ? {} : { 'content-length': chunks * chunkBytes };
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent: false, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString(), ms: Date.now() - t0 }));
    });
    req.on('error', reject);
    let sent = 0;
    const next = (): void => {
      if (req.destroyed) return;
      if (sent === chunks) {
        req.end();
        return;
      }
      sent++;
      req.write(Buffer.alloc(chunkBytes, 120));
      setTimeout(next, gapMs);
    };
    next();
  });
}

test('request buffering: a slow upload reaches the app only once complete; bodies over maxBytes get 413', async () => {
  const a = await app('buf');
  const { listen, port } = await listenAddr();
  await apply(routes(listen, [a.endpoint()], { bufferRequests: { maxBytes: 64 * 1024 } }));
  const r = await slowUpload(port, '/upload', 10, 1000, 100, false);
  assert.equal(r.status, 200);
  const seen = JSON.parse(r.body) as { bytes: number; waitedMs: number };
  assert.equal(seen.bytes, 10_000);
  assert.ok(r.ms >= 900, `the upload took ${r.ms} ms`);
  assert.ok(seen.waitedMs < 300, `the app saw the body arrive over ${seen.waitedMs} ms: it was not buffered`);
  const chunked = await slowUpload(port, '/upload', 5, 1000, 50, true);
  assert.equal(JSON.parse(chunked.body).bytes, 5000);

  const big = await request(port, { method: 'POST', path: '/upload', body: Buffer.alloc(100 * 1024) });
  assert.equal(big.status, 413);
  assert.match(big.body, /^413 Content Too Large: request bodies on .* are limited to 65536 bytes \(resilience\.bufferRequests\.maxBytes\)/);
  const bigChunked = await slowUpload(port, '/upload', 100, 1024, 1, true).catch((e: Error) => ({ status: -1, body: e.message }));
  assert.equal(bigChunked.status, 413, bigChunked.body);
  const hits = await a.hits();
  assert.equal(hits, 2, 'the refused uploads never reached the app');

  // Without buffering the same upload streams: the app sees it arrive over the second.
  await apply(routes(listen, [a.endpoint()]));
  const streamed = JSON.parse((await slowUpload(port, '/upload', 10, 1000, 100, false)).body) as { waitedMs: number };
  assert.ok(streamed.waitedMs >= 700, `unbuffered, the app waited ${streamed.waitedMs} ms for the body`);
});

test('hold stopped: the maintenance answer with Retry-After', async () => {
  const a = await app('stop');
  const { listen, port } = await listenAddr();
  await apply(routes(listen, [a.endpoint()], undefined, { hold: { mode: 'stopped' } }));
  const r = await request(port);
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.match(r.body, /traffic to web behind .* is stopped by the operator/);
  await apply(
    routes(listen, [a.endpoint()], undefined, { hold: { mode: 'stopped' }, maintenance: { status: 503, body: '<h1>back soon</h1>', retryAfterSeconds: 30 } }),
  );
  const m = await request(port);
  assert.equal(m.status, 503);
  assert.equal(m.headers['retry-after'], '30');
  assert.equal(m.body, '<h1>back soon</h1>');
  assert.equal(await a.hits(), 0);
  await apply(routes(listen, [a.endpoint()]));
  assert.equal((await request(port)).status, 200);
});

test('hold paused: new requests wait until the hold is lifted, requests in flight finish, a short pauseTimeoutMs gives the maintenance answer', async () => {
  const a = await app('pause');
  const { listen, port } = await listenAddr();
  await apply(routes(listen, [a.endpoint()]));
  const inflight = request(port, { path: '/slow?ms=600' });
  await waitFor(() => h.router.inflight === 1, { timeoutMs: 3000, intervalMs: 10, what: 'the slow request in flight' });
  await apply(routes(listen, [a.endpoint()], undefined, { hold: { mode: 'paused' } }));
  let answered = false;
  const t0 = Date.now();
  const waiting = request(port).then((r) => {
    answered = true;
    return r;
  });
  const first = await inflight;
  assert.equal(first.status, 200, 'the request in flight at the pause finished normally');
  await sleep(500);
  assert.equal(answered, false, 'a request sent during the pause waits');
  assert.equal(await a.hits(), 1, 'and is not dispatched');
  // A client that gives up while paused is dropped from the wait list.
  const gone = http.get({ host: '127.0.0.1', port, path: '/', agent: false });
  gone.on('error', () => {});
  await sleep(100);
  gone.destroy();
  await sleep(100);
  await apply(routes(listen, [a.endpoint()]));
  const r = await waiting;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'pause');
  assert.ok(Date.now() - t0 >= 500);
  assert.equal(await a.hits(), 2, 'the abandoned request was never sent');

  await apply(routes(listen, [a.endpoint()], undefined, { hold: { mode: 'paused', pauseTimeoutMs: 300 } }));
  const t1 = Date.now();
  const late = await request(port);
  assert.equal(late.status, 503);
  assert.equal(late.headers['retry-after'], '1');
  assert.match(late.body, /is paused by the operator/);
  assert.ok(Date.now() - t1 >= 250);
  await apply(routes(listen, [a.endpoint()]));
});

test('resume after a pause releases held requests a few at a time over the pool: an app with a small backlog answers all of them', async () => {
  // Issue 9 defect 13: every held request was sent at once, each on a new connection.
  let active = 0;
  let most = 0;
  let served = 0;
  const server = http.createServer((_req, res) => {
    active++;
    most = Math.max(most, active);
    setTimeout(() => {
      active--;
      served++;
      res.end('small');
    }, 20);
  });
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', backlog: 8 }, r));
  const endpoint = { id: 'small-backlog', host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  const { listen, port } = await listenAddr();
  await apply(routes(listen, [endpoint], undefined, { hold: { mode: 'paused', pauseTimeoutMs: 60_000 } }));
  const n = 300;
  const answers = Array.from({ length: n }, () => request(port).catch((e: Error) => ({ status: 0, headers: {}, body: e.message }) as Answer));
  const held = async (): Promise<number> => Number(/^sluice_router_held_requests (\d+)$/m.exec(await h.client.metrics())?.[1]);
  await waitFor(async () => (await held()) >= n, { timeoutMs: 15_000, intervalMs: 50, what: 'all requests held' });
  assert.equal(served, 0);
  await apply(routes(listen, [endpoint]));
  const got = await Promise.all(answers);
  server.close();
  server.closeAllConnections();
  assert.deepEqual(
    got.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.body}`),
    [],
    'every held request is answered by the app',
  );
  assert.equal(served, n);
  assert.ok(most <= 8, `at most RELEASE_PER_ENDPOINT (8) requests at the app at once, saw ${most}`);
  assert.ok(most >= 2, `released in parallel, not one by one (saw ${most})`);
});

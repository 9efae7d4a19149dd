/**
 * Acceptance (Task A): a router process restarted under load (POST /handover, what
 * `sluice router restart` calls) loses no request: every listener and the admin API keep
 * an accepting socket throughout; the pid changes, the routes are the same, the old process
 * drains and exits. A successor that cannot start leaves the old router serving, and the
 * error is one line.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadGenerator, describe, type LoadReport } from '../helpers/load.js';
import { listenAddr, listener, request, startBackend, table, type Backend } from '../helpers/router-fixtures.js';
import { freePort } from '../helpers/ports.js';
import { HttpTrafficRouter, isRouterUp, startRouterProcess } from '../../src/router/http-client.js';
import { adminTokenPath } from '../../src/router/credential.js';
import { isProcessAlive } from '../../src/util/process-control.js';
import { sleep, waitFor } from '../helpers/wait.js';

const pids = new Set<number>();
const dirs: string[] = [];
const backends: Backend[] = [];
const clients: HttpTrafficRouter[] = [];

after(async () => {
  for (const c of clients) c.close();
  for (const pid of pids) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  await Promise.all(backends.map((b) => b.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function lost(r: LoadReport): string {
  const bad = r.samples.filter((s) => s.error !== undefined || s.status < 200 || s.status >= 300);
  return `${describe(r)}; first failures: ${bad
    .slice(0, 5)
    .map((s) => `${s.sentAt.toFixed(0)}ms ${s.error ?? s.status}`)
    .join(', ')}`;
}

async function setup(): Promise<{ dir: string; admin: string; token: string; client: HttpTrafficRouter; pid: number; ports: number[]; logFile: string }> {
  const b = await startBackend('app');
  backends.push(b);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-handover-'));
  dirs.push(dir);
  const admin = `127.0.0.1:${await freePort()}`;
  const logFile = join(dir, 'router.log');
  const { pid, token } = await startRouterProcess({ stateDir: dir, admin, logFile, extraArgs: ['--drain-timeout-ms', '10000'] });
  pids.add(pid);
  const client = new HttpTrafficRouter(admin, token);
  clients.push(client);
  const a = await listenAddr();
  const c = await listenAddr();
  await client.apply(
    table(5, listener(a.listen, { 1: ['v1', [b.endpoint()]] }, { 1: 100 }), listener(c.listen, { 1: ['v1', [b.endpoint()]] }, { 1: 100 }, { role: 'canary' })),
  );
  return { dir, admin, token, client, pid, ports: [a.port, c.port], logFile };
}

test('router restart under load: zero failed requests, new pid, same routes, old process drains and exits', async () => {
  const { dir, admin, token, client, pid: firstPid, ports, logFile } = await setup();
  const routes = await client.routes();
  // Fast requests on both listeners, slow ones in flight at every handover, and a client of
  // the admin API polling through it (the control plane does).
  const fast = new LoadGenerator(ports[0], 200, 60);
  const canary = new LoadGenerator(ports[1], 50, 60);
  const slow = new LoadGenerator(ports[0], 20, 60, '/slow?ms=400');
  let adminErrors = 0;
  let polling = true;
  const poller = (async () => {
    const c = new HttpTrafficRouter(admin, token);
    while (polling) {
      await c.traffic().catch(() => adminErrors++);
      await sleep(20);
    }
    c.close();
  })();
  await sleep(800);
  let pid = firstPid;
  for (let i = 0; i < 3; i++) {
    const r = await client.restart();
    pids.add(r.newPid);
    assert.equal(r.oldPid, pid);
    assert.notEqual(r.newPid, pid);
    assert.equal(r.generation, 5);
    assert.equal(r.listeners, 2);
    assert.deepEqual(await client.routes(), routes, 'the same routes after the restart');
    const old = pid;
    await waitFor(() => !isProcessAlive(old), { timeoutMs: 15_000, intervalMs: 10, what: `the old router (pid ${old}) to drain and exit` });
    pid = r.newPid;
    assert.equal(readFileSync(join(dir, 'router', 'router.pid'), 'utf8').trim(), String(pid), 'the pid file names the new router');
    await sleep(300);
  }
  polling = false;
  await poller;
  const reports = [await fast.stop(), await canary.stop(), await slow.stop()];
  for (const r of reports) assert.equal(r.ok2xx, r.sent, lost(r));
  assert.ok(reports[0].sent > 500 && reports[2].sent > 40, `load ran: ${reports.map(describe).join(' | ')}`);
  assert.equal(adminErrors, 0, 'the admin API answered throughout');
  // The admin socket was handed over too: the new router takes route updates.
  const b2 = await startBackend('app-2');
  backends.push(b2);
  await client.apply(table(6, listener(`127.0.0.1:${ports[0]}`, { 2: ['v2', [b2.endpoint()]] }, { 2: 100 })));
  assert.equal((await request(ports[0])).body, 'app-2');
  const log = readFileSync(logFile, 'utf8');
  assert.match(
    log,
    new RegExp(`sluice-router\\[${pid}\\] took over from pid \\d+: admin API on http://${admin.replace(/\./g, '\\.')}, 2 listener\\(s\\), routes generation 5`),
  );
  assert.match(log, /stopped after handover to pid \d+ \(0 request\(s\) cut\)/);
  console.log(`router restart ×3: ${reports.map(describe).join(' | ')}`);
  await client.shutdown();
  await waitFor(() => !isProcessAlive(pid), { timeoutMs: 10_000, intervalMs: 10, what: 'the router to exit' });
});

test('a successor that fails to start: one-line error, the old router keeps serving and taking routes', async () => {
  const { dir, token, client, pid, ports } = await setup();
  const load = new LoadGenerator(ports[0], 100, 30);
  await sleep(300);
  // The successor reads the admin token at start and refuses one others could read.
  chmodSync(adminTokenPath(dir), 0o644);
  await assert.rejects(client.restart(), (e: Error) => {
    assert.match(
      e.message,
      new RegExp(
        `^router restart failed: the new router \\(pid \\d+\\) failed: router admin token file .*admin-token is readable by group or others \\(mode 0644\\) and may have leaked — delete it and start sluice again \\(\`sluice up\`\\) to make a new one; this router \\(pid ${pid}\\) keeps serving$`,
      ),
    );
    return true;
  });
  chmodSync(adminTokenPath(dir), 0o600);
  assert.equal(await isRouterUp(client.admin, { stateDir: dir, token }), true);
  assert.equal(readFileSync(join(dir, 'router', 'router.pid'), 'utf8').trim(), String(pid));
  await sleep(300);
  const r = await load.stop();
  assert.equal(r.ok2xx, r.sent, lost(r));
  // Applies were refused only while the successor was starting.
  await client.apply({ ...(await client.routes()), generation: 9 });
  assert.equal((await client.routes()).generation, 9);
  // And a good restart still works afterwards.
  const ok = await client.restart();
  pids.add(ok.newPid);
  assert.equal(ok.oldPid, pid);
  await client.shutdown();
  await waitFor(() => !isProcessAlive(ok.newPid) && !isProcessAlive(pid), { timeoutMs: 15_000, intervalMs: 10, what: 'both routers to exit' });
});

test('keep-alive clients: the old router answers on open connections with Connection: close, closes idle ones only after the grace', async () => {
  const { client, pid, ports } = await setup();
  const http = await import('node:http');
  const net = await import('node:net');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const first = await request(ports[0], { agent });
  assert.equal(first.headers.connection, 'keep-alive');
  // An idle keep-alive connection that nobody uses again.
  const idle = net.connect(ports[0], '127.0.0.1');
  await new Promise<void>((r) => idle.once('connect', () => r()));
  idle.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise<void>((r) => idle.once('data', () => r()));
  let idleClosedAt = 0;
  idle.on('close', () => (idleClosedAt = Date.now()));
  idle.on('error', () => {});

  const r = await client.restart();
  pids.add(r.newPid);
  const handedAt = Date.now();
  // The pooled connection still reaches the old process: answered, and told to close.
  const second = await request(ports[0], { agent });
  assert.equal(second.status, 200);
  assert.equal(second.headers.connection, 'close');
  const third = await request(ports[0], { agent });
  assert.equal(third.status, 200);
  assert.equal(third.headers.connection, 'keep-alive', 'a new connection reaches the new router');
  agent.destroy();
  await waitFor(() => !isProcessAlive(pid), { timeoutMs: 15_000, intervalMs: 10, what: 'the old router to exit' });
  assert.ok(idleClosedAt > 0, 'the idle connection was closed');
  assert.ok(idleClosedAt - handedAt >= 800, `the idle connection was kept through the grace (closed after ${idleClosedAt - handedAt} ms)`);
  await client.shutdown();
  await waitFor(() => !isProcessAlive(r.newPid), { timeoutMs: 10_000, intervalMs: 10, what: 'the new router to exit' });
});

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/ports.js';
import { listenAddr, listener, request, startBackend, table, type Backend } from '../helpers/router-fixtures.js';
import { HttpTrafficRouter, isRouterUp, startRouterProcess } from '../../src/router/http-client.js';
import { readAdminToken } from '../../src/router/credential.js';
import { isProcessAlive } from '../../src/util/process-control.js';
import { sleep, waitFor } from '../helpers/wait.js';

const mainJs = fileURLToPath(new URL('../../src/router/main.js', import.meta.url));
const httpClientJs = fileURLToPath(new URL('../../src/router/http-client.js', import.meta.url));
const pids = new Set<number>();
const dirs: string[] = [];
const backends: Backend[] = [];
const clients: HttpTrafficRouter[] = [];

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-router-proc-'));
  dirs.push(d);
  return d;
}
/** A client of the router of `dir` (its admin token). */
function client(admin: string, dir: string): HttpTrafficRouter {
  const c = new HttpTrafficRouter(admin, readAdminToken(dir));
  clients.push(c);
  return c;
}

after(async () => {
  for (const c of clients) c.close();
  for (const pid of pids) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  await Promise.all(backends.map((b) => b.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('a router killed with SIGKILL serves its persisted routes as soon as it is restarted', async () => {
  const b = await startBackend('persisted');
  backends.push(b);
  const dir = stateDir();
  const admin = `127.0.0.1:${await freePort()}`;
  const logFile = join(dir, 'router.log');
  const first = await startRouterProcess({ stateDir: dir, admin, logFile });
  pids.add(first.pid);
  assert.equal(readFileSync(join(dir, 'router', 'router.pid'), 'utf8').trim(), String(first.pid));
  const { listen, port } = await listenAddr();
  const routes = table(7, listener(listen, { 1: ['v1', [b.endpoint()]] }, { 1: 100 }));
  await client(admin, dir).apply(routes);
  assert.equal((await request(port)).body, 'persisted');

  process.kill(first.pid, 'SIGKILL');
  await waitFor(() => !isProcessAlive(first.pid), { timeoutMs: 5000, intervalMs: 10, what: 'the router to die' });
  assert.equal(await isRouterUp(admin, { stateDir: dir, token: readAdminToken(dir) }), false);

  const second = await startRouterProcess({ stateDir: dir, admin, logFile });
  pids.add(second.pid);
  const a = await request(port);
  assert.equal(a.status, 200);
  assert.equal(a.body, 'persisted');
  assert.deepEqual(await client(admin, dir).routes(), routes);
  assert.match(readFileSync(logFile, 'utf8'), /loaded routes generation 7 \(1 listener\(s\)\)/);
  process.kill(second.pid, 'SIGTERM');
  await waitFor(() => !isProcessAlive(second.pid), { timeoutMs: 5000, intervalMs: 10, what: 'the router to stop' });
});

test('SIGTERM: stops accepting, lets the request in flight finish, exits 0', async () => {
  const b = await startBackend('draining');
  backends.push(b);
  const dir = stateDir();
  const adminPort = await freePort();
  const admin = `127.0.0.1:${adminPort}`;
  const child = spawn(process.execPath, [mainJs, '--state-dir', dir, '--admin', admin], { stdio: ['ignore', 'ignore', 'pipe'] });
  pids.add(child.pid!);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await waitFor(() => stderr.includes('admin API on'), { timeoutMs: 5000, intervalMs: 10, what: 'the router to start' });
  const { listen, port } = await listenAddr();
  await client(admin, dir).apply(table(1, listener(listen, { 1: ['v1', [b.endpoint()]] }, { 1: 100 })));
  const slow = request(port, { path: '/slow?ms=700' });
  await waitFor(() => b.active.get('/slow') === 1, { timeoutMs: 3000, intervalMs: 10, what: 'the slow request at the app' });
  child.kill('SIGTERM');
  await sleep(100);
  await assert.rejects(request(port), /ECONNREFUSED/, 'no new connections while draining');
  const a = await slow;
  assert.equal(a.status, 200);
  assert.equal(a.body, 'draining');
  assert.equal(await exited, 0);
  assert.match(stderr, /SIGTERM: no longer accepting; draining 1 request\(s\) in flight/);
});

test('the router started by a control plane outlives it, even when it is SIGKILLed', async () => {
  const dir = stateDir();
  const admin = `127.0.0.1:${await freePort()}`;
  const script = `
    import { startRouterProcess } from ${JSON.stringify(httpClientJs)};
    const { pid } = await startRouterProcess({ stateDir: ${JSON.stringify(dir)}, admin: ${JSON.stringify(admin)}, logFile: ${JSON.stringify(join(dir, 'router.log'))} });
    console.log(pid);
    setInterval(() => {}, 1000);
  `;
  const controlPlane = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  pids.add(controlPlane.pid!);
  const routerPid = await new Promise<number>((resolve, reject) => {
    controlPlane.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    controlPlane.once('exit', (code) => reject(new Error(`control plane exited with ${code}`)));
  });
  pids.add(routerPid);
  const gone = new Promise((r) => controlPlane.once('exit', r));
  controlPlane.kill('SIGKILL');
  await gone;
  await sleep(100);
  assert.equal(await isRouterUp(admin, { stateDir: dir, token: readAdminToken(dir) }), true);
  await client(admin, dir).shutdown();
  await waitFor(() => !isProcessAlive(routerPid), { timeoutMs: 5000, intervalMs: 10, what: 'the router to exit after POST /shutdown' });
});

test('an unreachable router gives a clear error', async () => {
  const admin = `127.0.0.1:${await freePort()}`;
  const c = new HttpTrafficRouter(admin, 'x'.repeat(64));
  clients.push(c);
  await assert.rejects(c.apply(table(1)), (e: Error) => {
    assert.equal(e.message, `router admin ${admin} unreachable: ECONNREFUSED — is \`sluice up\` running?`);
    return true;
  });
  assert.equal(await isRouterUp(admin, { stateDir: stateDir(), token: 'x'.repeat(64) }), false);
});

test('an admin address held by another server is reported at once, and no router is started', async () => {
  const dir = stateDir();
  const taken = await startBackend('taken');
  backends.push(taken);
  const started = Date.now();
  await assert.rejects(
    startRouterProcess({ stateDir: dir, admin: `127.0.0.1:${taken.port}`, logFile: join(dir, 'router.log'), readyTimeoutMs: 5000 }),
    /^UserError: address 127\.0\.0\.1:\d+ is held by something that is not this state directory's router \(GET \/identity answered 200 "taken", not a router's identity\) — stop it or pass --router-admin HOST:PORT$/,
  );
  assert.ok(Date.now() - started < 2000, 'reported at once');
  assert.equal(taken.hits, 1, 'only the identity probe reached it');
});

test('a router that cannot take its admin address says so and exits 1', async () => {
  const dir = stateDir();
  // main.js run directly (no probe first): its own bind fails on an address another router holds.
  const adminPort = await freePort();
  const child = spawn(process.execPath, [mainJs, '--state-dir', dir, '--admin', `127.0.0.1:${adminPort}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  pids.add(child.pid!);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await waitFor(() => stderr.includes('admin API on'), { timeoutMs: 5000, intervalMs: 10, what: 'the first router to start' });
  const second = spawn(process.execPath, [mainJs, '--state-dir', stateDir(), '--admin', `127.0.0.1:${adminPort}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let secondErr = '';
  second.stderr.on('data', (d: Buffer) => (secondErr += d.toString()));
  assert.equal(await new Promise<number | null>((r) => second.on('exit', (code) => r(code))), 1);
  assert.match(secondErr, /cannot listen for admin on 127\.0\.0\.1:\d+: address in use/);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

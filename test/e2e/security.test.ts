/**
 * Issue 10 (findings 1, 2, 3, 8, 9) and issue 9 defect 7, tried as an attacker on the same
 * machine would, against a real `sluice up` (control plane and router processes): the
 * router's admin API takes only its state directory's credential, refuses browsers and
 * foreign Host headers, caller-chosen handover arguments and generation jumps; `sluice up`
 * refuses an admin address held by something else (a fake router, another state directory's
 * router) at once and leaves nothing running; modes are corrected on every start.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SluiceUnderTest, killLeftovers, runCli } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { readAdminToken } from '../../src/router/credential.js';
import { isProcessAlive } from '../../src/util/process-control.js';
import { request } from '../helpers/router-fixtures.js';
import { sleep, waitFor } from '../helpers/wait.js';

let sluice: SluiceUnderTest;
let appPort = 0;
before(async () => {
  sluice = await SluiceUnderTest.start();
  appPort = await freePort();
  const strategy = `    rolling:
      maxSurge: 1
      maxUnavailable: 0
`;
  await sluice.apply('web.yaml', rolloutManifest({ version: 'v1', listen: appPort, strategy, replicas: 1 }));
  await waitFor(
    sluice.rollout('web', (v) => v.status.phase === 'Healthy' && v.instances.some((i) => i.phase === 'Ready')),
    { timeoutMs: 60_000, what: 'v1 healthy' },
  );
});
after(async () => {
  await sluice?.down();
});

function admin(opts: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}) {
  return request(sluice.routerAdminPort, opts);
}
function auth(extra: http.OutgoingHttpHeaders = {}): http.OutgoingHttpHeaders {
  return { authorization: `Bearer ${readAdminToken(sluice.stateDir)}`, ...extra };
}
function routerPid(stateDir = sluice.stateDir): number {
  return Number(readFileSync(join(stateDir, 'router', 'router.pid'), 'utf8').trim());
}
async function generation(): Promise<number> {
  return (JSON.parse((await admin({ path: '/routes', headers: auth() })).body) as { generation: number }).generation;
}

test('admin calls without the credential or with a wrong one get 401; /healthz stays open for liveness', async () => {
  for (const path of ['/routes', '/samples?rollout=web&revision=1&sinceMs=0', '/metrics', '/identity']) {
    assert.equal((await admin({ path })).status, 401, `GET ${path} without a token`);
    assert.equal((await admin({ path, headers: { authorization: `Bearer ${'0'.repeat(64)}` } })).status, 401, `GET ${path} with a wrong token`);
  }
  const put = await admin({
    method: 'PUT',
    path: '/routes',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ generation: 1e6, listeners: [] }),
  });
  assert.equal(put.status, 401);
  assert.match(put.headers['www-authenticate'] ?? '', /^Bearer/);
  for (const path of ['/shutdown', '/handover']) assert.equal((await admin({ method: 'POST', path })).status, 401, `POST ${path}`);
  const health = await admin({ path: '/healthz' });
  assert.deepEqual([health.status, health.body], [200, 'ok']);
  // The right token works, and the identity names this state directory.
  const id = JSON.parse((await admin({ path: '/identity', headers: auth() })).body) as { stateDir: string; pid: number };
  assert.equal(id.stateDir, realpathSync(sluice.stateDir));
  assert.equal(id.pid, routerPid());
  assert.equal((await request(appPort)).status, 200, 'traffic unaffected');
});

test('a cross-origin text/plain POST and a foreign Host get 403, even with the token; a non-JSON body gets 415', async () => {
  const pid = routerPid();
  // What a web page can send without a CORS preflight.
  const csrf = await admin({ method: 'POST', path: '/shutdown', headers: { origin: 'http://evil.example', 'content-type': 'text/plain' }, body: '{}' });
  assert.equal(csrf.status, 403);
  const withToken = await admin({
    method: 'POST',
    path: '/handover',
    headers: auth({ origin: 'http://evil.example', 'content-type': 'text/plain' }),
    body: '{}',
  });
  assert.equal(withToken.status, 403);
  // DNS rebinding: the page's own host name resolving to 127.0.0.1.
  const rebound = await admin({ path: '/routes', headers: auth({ host: `evil.example:${sluice.routerAdminPort}` }) });
  assert.equal(rebound.status, 403);
  assert.match(JSON.parse(rebound.body).error, /Host "evil\.example:\d+" is not this router's admin address/);
  const plain = await admin({
    method: 'PUT',
    path: '/routes',
    headers: auth({ 'content-type': 'text/plain' }),
    body: JSON.stringify({ generation: 1, listeners: [] }),
  });
  assert.equal(plain.status, 415);
  await sleep(300);
  assert.equal(routerPid(), pid, 'the router was neither stopped nor replaced');
  assert.ok(isProcessAlive(pid));
  assert.equal((await request(appPort)).status, 200);
});

test('a handover with caller-chosen arguments is refused; the router stays as it is', async () => {
  const pid = routerPid();
  for (const body of [{ args: ['--admin', '0.0.0.0:1'] }, { drainTimeoutMs: '5' }, { drainTimeoutMs: 5, extra: 1 }, ['--takeover']]) {
    const r = await admin({ method: 'POST', path: '/handover', headers: auth({ 'content-type': 'application/json' }), body: JSON.stringify(body) });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(JSON.parse(r.body).error, /^POST \/handover: /);
  }
  await sleep(300);
  assert.equal(routerPid(), pid);
});

test('a generation jump (or 2^53−1) is refused with 409 and the current generation; the table stays', async () => {
  const current = await generation();
  const routes = (await admin({ path: '/routes', headers: auth() })).body;
  for (const g of [current + 1001, Number.MAX_SAFE_INTEGER]) {
    const r = await admin({
      method: 'PUT',
      path: '/routes',
      headers: auth({ 'content-type': 'application/json' }),
      body: JSON.stringify({ generation: g, listeners: [] }),
    });
    assert.equal(r.status, 409, `generation ${g}`);
    const body = JSON.parse(r.body) as { error: string; generation: number };
    assert.equal(body.generation, current);
    assert.match(body.error, /jumps more than 1000 past generation/);
  }
  const unsafe = await admin({
    method: 'PUT',
    path: '/routes',
    headers: auth({ 'content-type': 'application/json' }),
    body: `{"generation": 9007199254740993, "listeners": []}`,
  });
  assert.equal(unsafe.status, 400);
  assert.equal((await admin({ path: '/routes', headers: auth() })).body, routes);
  assert.equal((await request(appPort)).status, 200);
});

/** A state directory of its own, with `sluice` run in it. */
function freshDir(): { dir: string; stateDir: string; cli(args: string[]): ReturnType<typeof runCli> } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-sec-'));
  const stateDir = join(dir, '.sluice');
  return { dir, stateDir, cli: (args) => runCli(['--state-dir', stateDir, ...args], dir) };
}

test('sluice up refuses a fake router (a server answering "ok" on /healthz) on the admin address, at once, and sends it nothing', async () => {
  const seen: string[] = [];
  const fake = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const port = (fake.address() as { port: number }).port;
  const s = freshDir();
  try {
    const started = Date.now();
    const r = await s.cli(['up', '-d', '--api', `127.0.0.1:${await freePort()}`, '--router-admin', `127.0.0.1:${port}`]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `address 127\\.0\\.0\\.1:${port} is held by something that is not this state directory's router \\(GET /identity answered 200 "ok", not a router's identity\\) — stop it or pass --router-admin`,
      ),
    );
    assert.ok(Date.now() - started < 10_000, `reported at once (${Date.now() - started} ms)`);
    assert.deepEqual(seen, ['GET /identity'], 'no route table, no shutdown, no second look');
    assert.equal(existsSync(join(s.stateDir, 'router', 'router.pid')), false, 'no router started');
    assert.equal(existsSync(join(s.stateDir, 'api.json')), false, 'no control plane left');
  } finally {
    fake.close();
    killLeftovers(s.stateDir);
  }
});

test('a second `sluice up -d` with another state directory on the same admin address is refused and leaves the first untouched', async () => {
  const pid = routerPid();
  const before = await generation();
  const routesBefore = (await admin({ path: '/routes', headers: auth() })).body;
  const s = freshDir();
  try {
    const r = await s.cli(['up', '-d', '--api', `127.0.0.1:${await freePort()}`, '--router-admin', `127.0.0.1:${sluice.routerAdminPort}`]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /is held by something that is not this state directory's router \(a router that refuses this state directory's admin token, likely another state directory's\)/,
    );
    // `up -d` reports only once its control plane process has exited.
    assert.match(r.stderr, /^error: the control plane exited with code 1: /);
    assert.equal(existsSync(join(s.stateDir, 'api.json')), false, 'its control plane is gone');
    assert.equal(existsSync(join(s.stateDir, 'router', 'router.pid')), false, 'and it started no router');
    await sleep(500);
    assert.equal(routerPid(), pid);
    assert.equal(await generation(), before);
    assert.equal((await admin({ path: '/routes', headers: auth() })).body, routesBefore, "the first one's table is untouched");
    assert.equal((await request(appPort)).status, 200, 'and it serves');
  } finally {
    killLeftovers(s.stateDir);
  }
});

test('modes are corrected on start (0755 dir, 0644 db); a short or world-readable token is refused with one line', async () => {
  const s = freshDir();
  const api = `127.0.0.1:${await freePort()}`;
  const routerAdmin = `127.0.0.1:${await freePort()}`;
  try {
    let r = await s.cli(['up', '-d', '--api', api, '--router-admin', routerAdmin]);
    assert.equal(r.code, 0, r.stderr);
    r = await s.cli(['down']);
    assert.equal(r.code, 0, r.stderr);
    chmodSync(s.stateDir, 0o755);
    chmodSync(join(s.stateDir, 'sluice.db'), 0o644);
    chmodSync(join(s.stateDir, 'router'), 0o755);
    const routesFile = join(s.stateDir, 'router', 'routes.json');
    if (existsSync(routesFile)) chmodSync(routesFile, 0o644);
    r = await s.cli(['up', '-d', '--api', api, '--router-admin', routerAdmin]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(s.stateDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(s.stateDir, 'router')).mode & 0o777, 0o700);
    for (const f of ['sluice.db', 'sluice.db-wal', 'token', join('router', 'admin-token'), join('router', 'routes.json')]) {
      if (existsSync(join(s.stateDir, f))) assert.equal(statSync(join(s.stateDir, f)).mode & 0o777, 0o600, f);
    }
    r = await s.cli(['down']);
    assert.equal(r.code, 0, r.stderr);

    writeFileSync(join(s.stateDir, 'token'), 'abc\n', { mode: 0o600 });
    r = await s.cli(['up', '-d', '--api', api, '--router-admin', routerAdmin]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /API token file .*token is too short \(3 characters, at least 32\) — delete it and start sluice again/);
    writeFileSync(join(s.stateDir, 'token'), 'f'.repeat(64) + '\n');
    chmodSync(join(s.stateDir, 'token'), 0o644);
    r = await s.cli(['up', '-d', '--api', api, '--router-admin', routerAdmin]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /API token file .*token is readable by group or others \(mode 0644\) and may have leaked/);
    assert.equal(existsSync(join(s.stateDir, 'router', 'router.pid')), false, 'nothing was started');
  } finally {
    killLeftovers(s.stateDir);
  }
});

test('--api and --router-admin off loopback are refused without --allow-remote', async () => {
  const s = freshDir();
  mkdirSync(s.stateDir, { recursive: true });
  for (const args of [
    ['--api', `0.0.0.0:${await freePort()}`],
    ['--router-admin', `0.0.0.0:${await freePort()}`],
  ]) {
    const r = await s.cli(['up', '-d', ...args]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `${args[0]} 0\\.0\\.0\\.0:\\d+: not a loopback address; it serves plain HTTP with a bearer token — keep it on 127\\.0\\.0\\.1, or pass --allow-remote`,
      ),
    );
  }
  assert.equal(existsSync(join(s.stateDir, 'router', 'router.pid')), false);
});

test('`sluice down` with nothing running says so and starts nothing', async () => {
  const s = freshDir();
  const routerAdmin = `127.0.0.1:${await freePort()}`;
  try {
    let r = await s.cli(['up', '-d', '--api', `127.0.0.1:${await freePort()}`, '--router-admin', routerAdmin]);
    assert.equal(r.code, 0, r.stderr);
    r = await s.cli(['down']);
    assert.equal(r.code, 0, r.stderr);
    const logBefore = readFileSync(join(s.stateDir, 'router', 'router.log'), 'utf8');
    r = await s.cli(['down', '--router-admin', routerAdmin]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sluice is not running \(no control plane, router or instance of .*\); nothing to stop\n$/);
    assert.equal(readFileSync(join(s.stateDir, 'router', 'router.log'), 'utf8'), logBefore, 'no router was started');
  } finally {
    killLeftovers(s.stateDir);
  }
});

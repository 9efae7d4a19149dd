/**
 * Users and roles on the real API server (127.0.0.1) over a real SQLite file: named tokens
 * with roles, refusals (401 revoked/expired, 403 naming the role needed), the admin token,
 * no plain token on disk, and an audit row for every state-changing call.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { TokenService } from '../../src/api/tokens.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { canaryView, FakeActions, TEST_TOKEN } from '../helpers/cli-fakes.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-api-auth-'));
const dbFile = join(dir, 'state.db');
const store = new SqliteStore(dbFile);
let now = 1_800_000_000_000;
const clock = { now: () => now };
const service = new TokenService(store, clock, TEST_TOKEN);
const actions = new FakeActions([canaryView('web')]);
let server: RunningApiServer;
after(async () => {
  await server?.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<string> {
  server ??= await startApiServer({
    listen: '127.0.0.1:0',
    authenticate: (b) => service.authenticate(b),
    tokens: { service, now: clock.now, listAudit: (o) => store.listAudit(o) },
    audit: (r) => store.appendAudit(r),
    now: clock.now,
    actions,
  });
  return server.address;
}

async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`http://${await start()}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

async function make(name: string, roles: string[], expiresInSeconds?: number): Promise<string> {
  const r = await call(TEST_TOKEN, 'POST', '/v1/tokens', { name, roles, ...(expiresInSeconds ? { expiresInSeconds } : {}) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal((r.body.record as Record<string, unknown>).hash, undefined, 'the API never shows a hash');
  return r.body.token as string;
}

test('roles decide every route; refusals say what is needed; the audit log lists every change', async () => {
  const viewer = await make('vera', ['viewer']);
  const deployer = await make('dan', ['deployer']);
  const qa = await make('quinn', ['approver:qa']);
  const short = await make('tmp', ['deployer'], 60);
  const gone = await make('bob', ['deployer']);

  // The admin token still works, and names itself admin.
  assert.deepEqual((await call(TEST_TOKEN, 'GET', '/v1/whoami')).body, { user: 'admin', roles: ['admin'] });
  // Reads: any role, approver:qa included.
  for (const t of [viewer, deployer, qa]) assert.equal((await call(t, 'GET', '/v1/rollouts')).status, 200);
  assert.equal((await call(qa, 'GET', '/v1/whoami')).body.user, 'quinn');

  // A viewer cannot change anything: 403 naming deployer.
  for (const [method, path, body] of [
    ['POST', '/v1/rollouts/web/promote', {}],
    ['POST', '/v1/apply', { yaml: 'x' }],
  ] as const) {
    const r = await call(viewer, method, path, body);
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.match(r.body.error as string, /needs role deployer \(or admin\); token "vera" has viewer — ask an admin/);
  }
  // A deployer promotes (recorded as dan), but cannot make tokens: 403 naming admin.
  assert.equal((await call(deployer, 'POST', '/v1/rollouts/web/promote', {})).status, 200);
  assert.deepEqual(actions.calls.at(-1)!.args.at(-1), { actor: 'dan' });
  const denied = await call(deployer, 'POST', '/v1/tokens', { name: 'eve', roles: ['admin'] });
  assert.equal(denied.status, 403);
  assert.match(denied.body.error as string, /needs role admin; token "dan" has deployer/);
  assert.equal((await call(deployer, 'POST', '/v1/shutdown', {})).status, 403);

  // Revoked: 401 saying when and by whom.
  const id = service.list().find((t) => t.name === 'bob')!.id;
  assert.equal((await call(TEST_TOKEN, 'DELETE', `/v1/tokens/${id}`)).status, 200);
  const revoked = await call(gone, 'POST', '/v1/rollouts/web/promote', {});
  assert.equal(revoked.status, 401);
  assert.equal(revoked.headers.get('www-authenticate'), 'Bearer');
  assert.match(revoked.body.error as string, /^token "bob" was revoked at \S+ by admin/);
  // Expired, by the injected clock.
  assert.equal((await call(short, 'GET', '/v1/rollouts')).status, 200);
  now += 61_000;
  const expired = await call(short, 'GET', '/v1/rollouts');
  assert.equal(expired.status, 401);
  assert.match(expired.body.error as string, /^token "tmp" expired at /);
  // Unknown and wrong tokens.
  assert.equal((await call('sl_000000000000_nope', 'GET', '/v1/rollouts')).status, 401);
  assert.equal((await call('nope', 'POST', '/v1/apply', { yaml: 'x' })).status, 401);

  // The audit log: every non-GET call above, answered and refused, with user, status and remote.
  const audit = await call(TEST_TOKEN, 'GET', '/v1/audit?limit=1000');
  const rows = audit.body.records as { user: string; method: string; path: string; status: number; remote: string; detail?: string; roles: string[] }[];
  const brief = rows.map((r) => `${r.user} ${r.method} ${r.path} ${r.status}`);
  assert.deepEqual(brief, [
    'admin POST /v1/tokens 201',
    'admin POST /v1/tokens 201',
    'admin POST /v1/tokens 201',
    'admin POST /v1/tokens 201',
    'admin POST /v1/tokens 201',
    'vera POST /v1/rollouts/web/promote 403',
    'vera POST /v1/apply 403',
    'dan POST /v1/rollouts/web/promote 200',
    'dan POST /v1/tokens 403',
    'dan POST /v1/shutdown 403',
    `admin DELETE /v1/tokens/${id} 200`,
    '- POST /v1/rollouts/web/promote 401',
    '- POST /v1/apply 401',
  ]);
  for (const r of rows) assert.match(r.remote, /^127\.0\.0\.1:\d+$/);
  assert.match(rows[5]!.detail!, /needs role deployer/);
  assert.deepEqual(rows[5]!.roles, ['viewer']);
  assert.match(rows[11]!.detail!, /revoked/);
  const dans = (await call(TEST_TOKEN, 'GET', '/v1/audit?user=dan')).body.records as unknown[];
  assert.equal(dans.length, 3);

  // No plain named token anywhere under the state dir (the database, its WAL, anything else).
  const files: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(dir);
  assert.ok(files.some((f) => f.endsWith('-wal')) || files.includes(dbFile));
  for (const f of files) {
    const bytes = readFileSync(f);
    for (const t of [viewer, deployer, qa, short, gone]) {
      assert.equal(bytes.includes(Buffer.from(t)), false, `${f} holds a plain token`);
      assert.equal(bytes.includes(Buffer.from(t.split('_').slice(2).join('_'))), false, `${f} holds a token's secret`);
    }
  }
});

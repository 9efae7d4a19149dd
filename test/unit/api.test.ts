import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../src/api/client.js';
import { hostAllowed } from '../../src/api/same-origin.js';
import { ensureToken, readApiInfo, readToken, writeApiInfo } from '../../src/api/token.js';
import { UserError } from '../../src/util/errors.js';
import { canaryView, startFakeApi, TEST_TOKEN, type FakeApi } from '../helpers/cli-fakes.js';
import { sleep } from '../helpers/wait.js';

async function call(api: FakeApi, method: string, path: string, options: { body?: string; token?: string | null; actor?: string } = {}) {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? TEST_TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.actor) headers['x-sluice-actor'] = options.actor;
  const res = await fetch(`http://${api.server.address}${path}`, { method, headers, body: options.body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & unknown[] };
}

describe('API server', () => {
  let api: FakeApi;
  let shutdowns: { everything: boolean }[];
  before(async () => {
    shutdowns = [];
    api = await startFakeApi([canaryView('web')], (o) => void shutdowns.push(o));
  });
  after(() => api.server.close());

  test('healthz needs no token', async () => {
    const r = await call(api, 'GET', '/v1/healthz', { token: null });
    assert.equal(r.status, 200);
    assert.equal(r.body.ok, true);
  });

  test('401 without a token and with a wrong one', async () => {
    for (const token of [null, 'b'.repeat(64), 'short']) {
      const r = await call(api, 'GET', '/v1/rollouts', { token });
      assert.equal(r.status, 401);
      assert.equal(r.body.code, 'unauthorized');
      assert.match(String(r.body.error), /token/);
    }
  });

  test('GET /v1/rollouts and /v1/rollouts/:name', async () => {
    const list = await call(api, 'GET', '/v1/rollouts');
    assert.equal(list.status, 200);
    assert.deepEqual(
      (list.body as unknown as { name: string }[]).map((v) => v.name),
      ['web'],
    );
    const one = await call(api, 'GET', '/v1/rollouts/web');
    assert.equal(one.status, 200);
    assert.equal(one.body.name, 'web');
  });

  test('POST /v1/apply passes yaml, file and the actor', async () => {
    const r = await call(api, 'POST', '/v1/apply', {
      body: JSON.stringify({ yaml: 'metadata:\n  name: api\n', file: '/tmp/api.yaml' }),
      actor: 'alice@box',
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, [{ name: 'api', result: 'created', revision: 3 }]);
    const c = api.actions.calls.at(-1)!;
    assert.equal(c.method, 'apply');
    assert.deepEqual(c.args, ['metadata:\n  name: api\n', '/tmp/api.yaml', { actor: 'alice@box' }]);
  });

  test('POST /v1/rollouts/:name/promote maps the body onto promote()', async () => {
    const r = await call(api, 'POST', '/v1/rollouts/web/promote', { body: JSON.stringify({ full: true }), actor: 'bob' });
    assert.equal(r.status, 200);
    assert.deepEqual(api.actions.calls.at(-1), { method: 'promote', args: ['web', { full: true }, { actor: 'bob' }] });
  });

  test('undo, set, events query and delete map one to one', async () => {
    await call(api, 'POST', '/v1/rollouts/web/undo', { body: JSON.stringify({ toRevision: 1 }) });
    assert.deepEqual(api.actions.calls.at(-1), { method: 'undo', args: ['web', { toRevision: 1 }, { actor: 'api' }] });
    await call(api, 'POST', '/v1/rollouts/web/set', { body: JSON.stringify({ version: 'v3', env: { A: '1', B: null } }) });
    assert.deepEqual(api.actions.calls.at(-1)!.args.slice(0, 2), ['web', { version: 'v3', env: { A: '1', B: null } }]);
    const ev = await call(api, 'GET', '/v1/rollouts/web/events?afterId=1&limit=1');
    assert.deepEqual(
      (ev.body as unknown as { id: number }[]).map((e) => e.id),
      [2],
    );
    assert.deepEqual(api.actions.calls.at(-1), { method: 'events', args: ['web', { afterId: 1, limit: 1 }] });
  });

  test('a NotFoundError becomes 404 with its message', async () => {
    const r = await call(api, 'GET', '/v1/rollouts/nope');
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 'not-found');
    assert.match(String(r.body.error), /rollout "nope" not found/);
    const p = await call(api, 'POST', '/v1/rollouts/nope/abort', { body: '{}' });
    assert.equal(p.status, 404);
  });

  test('a UserError keeps its status and code', async () => {
    const r = await call(api, 'POST', '/v1/apply', { body: JSON.stringify({ yaml: 'kind: Rollout\n', file: 'x.yaml' }) });
    assert.equal(r.status, 400);
    assert.match(String(r.body.error), /^x\.yaml:1:1: metadata\.name/);
  });

  test('invalid JSON, wrong field types and unknown routes', async () => {
    const bad = await call(api, 'POST', '/v1/rollouts/web/promote', { body: '{"full": tru' });
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /invalid JSON/);
    const notObject = await call(api, 'POST', '/v1/apply', { body: '[1]' });
    assert.equal(notObject.status, 400);
    const wrongType = await call(api, 'POST', '/v1/rollouts/web/undo', { body: '{"toRevision": "two"}' });
    assert.equal(wrongType.status, 400);
    assert.match(String(wrongType.body.error), /toRevision/);
    const badQuery = await call(api, 'GET', '/v1/rollouts/web/events?afterId=x');
    assert.equal(badQuery.status, 400);
    const unknown = await call(api, 'GET', '/v1/nothing');
    assert.equal(unknown.status, 404);
    const method = await call(api, 'PUT', '/v1/rollouts/web');
    assert.equal(method.status, 405);
  });

  test('bodies over 1 MiB are refused', async () => {
    const r = await call(api, 'POST', '/v1/apply', { body: JSON.stringify({ yaml: 'x'.repeat(1024 * 1024 + 10), file: 'big.yaml' }) });
    assert.equal(r.status, 413);
  });

  test('a thrown non-user error is a 500 with its message', async () => {
    const original = api.actions.list;
    api.actions.list = async () => {
      throw new Error('database is locked');
    };
    const errors: unknown[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => void errors.push(args);
    try {
      const r = await call(api, 'GET', '/v1/rollouts');
      assert.equal(r.status, 500);
      assert.equal(r.body.error, 'database is locked');
    } finally {
      api.actions.list = original;
      console.error = consoleError;
    }
    assert.equal(errors.length, 1);
  });

  test('POST /v1/shutdown answers, then calls the shutdown callback', async () => {
    const r = await call(api, 'POST', '/v1/shutdown', { body: JSON.stringify({ everything: true }) });
    assert.equal(r.status, 202);
    await sleep(20);
    assert.deepEqual(shutdowns, [{ everything: true }]);
  });
});

describe('API client', () => {
  let api: FakeApi;
  before(async () => {
    api = await startFakeApi([canaryView('web')]);
  });
  after(() => api.server.close());

  test('calls every route through fromStateDir, with its actor', async () => {
    const client = ApiClient.fromStateDir(api.stateDir, 'carol@host');
    assert.equal((await client.get('web')).name, 'web');
    assert.equal((await client.list()).length, 1);
    assert.equal((await client.history('web')).length, 2);
    assert.deepEqual(
      (await client.events('web', { afterId: 2 })).map((e) => e.id),
      [3],
    );
    await client.promote('web', { full: false });
    assert.deepEqual(api.actions.calls.at(-1), { method: 'promote', args: ['web', { full: false }, { actor: 'carol@host' }] });
    await client.pause('web', { actor: 'override' });
    assert.deepEqual(api.actions.calls.at(-1), { method: 'pause', args: ['web', { actor: 'override' }] });
    assert.deepEqual(await client.set('web', { version: 'v9' }), { name: 'web', result: 'configured', revision: 3 });
    assert.equal(await client.healthy(), true);
  });

  test('server errors come back as UserError with the server message and status', async () => {
    const client = ApiClient.fromStateDir(api.stateDir);
    await assert.rejects(client.get('ghost'), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.status, 404);
      assert.equal(err.message, 'rollout "ghost" not found — see `sluice get rollouts`');
      return true;
    });
    const wrong = new ApiClient({ address: api.server.address, token: 'nope' });
    await assert.rejects(wrong.list(), /wrong API token — send/);
  });

  test('connection refused says how to start sluice', async () => {
    const dead = await startFakeApi();
    const address = dead.server.address;
    await dead.server.close();
    const client = new ApiClient({ address, token: TEST_TOKEN });
    await assert.rejects(client.list(), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.message, `sluice is not running: nothing answers at ${address} (ECONNREFUSED) — start it with \`sluice up -d\``);
      return true;
    });
    assert.equal(await client.healthy(), false);
  });
});

describe('token and api.json', () => {
  test('ensureToken creates a 0600 token in a 0700 directory once', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sluice-token-')), 'state');
    const token = ensureToken(dir);
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.equal(statSync(join(dir, 'token')).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(ensureToken(dir), token);
    assert.equal(readToken(dir), token);
  });

  test('readToken without a token says to run sluice up', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-token-'));
    assert.throws(() => readToken(dir), /no token in .*token — start sluice with `sluice up` first/);
  });

  test('api.json round trip', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-token-'));
    assert.throws(() => readApiInfo(dir), /sluice up/);
    writeApiInfo(dir, { address: '127.0.0.1:7070', pid: 42 });
    assert.deepEqual(readApiInfo(dir), { address: '127.0.0.1:7070', pid: 42 });
  });
});

describe('a request cut off by a control-plane crash (issue 9, defect 9)', () => {
  /** A server that reads the whole request, then drops the connection without answering, as a crash would. */
  async function crashingServer(): Promise<{ address: string; close: () => void; got: string[] }> {
    const got: string[] = [];
    const server = createServer((req) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        got.push(`${req.method} ${req.url} ${body}`);
        req.socket.destroy();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { address: `127.0.0.1:${(server.address() as { port: number }).port}`, close: () => server.close(), got };
  }

  test('an apply says it may have been applied and how to check, not a bare ECONNRESET', async () => {
    const s = await crashingServer();
    try {
      const client = new ApiClient({ address: s.address, token: TEST_TOKEN });
      await assert.rejects(client.apply('kind: Rollout', 'web.yaml'), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(
          err.message,
          /broke \((ECONNRESET|socket hang up)\) before it answered POST \/v1\/apply: the change may have been applied — check with `sluice get rollouts`/,
        );
        return true;
      });
      await assert.rejects(client.set('web', { version: 'v2' }), /may have been applied — check with `sluice history web`/);
      assert.equal(s.got.length, 2, 'the requests did reach the server');
    } finally {
      s.close();
    }
  });

  test('a read cut off the same way is not called a possible change', async () => {
    const s = await crashingServer();
    try {
      await assert.rejects(new ApiClient({ address: s.address, token: TEST_TOKEN }).list(), (err: unknown) => {
        assert.doesNotMatch((err as Error).message, /may have been applied/);
        return true;
      });
    } finally {
      s.close();
    }
  });
});

describe('same-origin rules of the API', () => {
  test('Host must be loopback or the bound address, with the bound port', () => {
    const bound = { host: '127.0.0.1', port: 7070 };
    for (const ok of ['127.0.0.1:7070', 'localhost:7070', 'LOCALHOST:7070', '[::1]:7070']) assert.equal(hostAllowed(ok, bound), true, ok);
    for (const bad of ['evil.example:7070', '127.0.0.1:7071', '127.0.0.1', '10.0.0.5:7070', 'localhost.evil:7070', '[::1', undefined]) {
      assert.equal(hostAllowed(bad, bound), false, String(bad));
    }
  });

  test('bound to a specific address, that address is accepted too; bound to every interface, any IP literal but no name', () => {
    assert.equal(hostAllowed('10.0.0.5:7070', { host: '10.0.0.5', port: 7070 }), true);
    assert.equal(hostAllowed('10.0.0.6:7070', { host: '10.0.0.5', port: 7070 }), false);
    assert.equal(hostAllowed('10.0.0.6:7070', { host: '0.0.0.0', port: 7070 }), true);
    assert.equal(hostAllowed('[fe80::1]:7070', { host: '::', port: 7070 }), true);
    assert.equal(hostAllowed('rebind.example:7070', { host: '0.0.0.0', port: 7070 }), false);
  });
});

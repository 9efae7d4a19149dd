import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { HttpError, hostAllowed, jsonHandler, Routes, singleTokenAuth, type JsonServerOptions } from '../../src/http/server.js';
import { UserError } from '../../src/util/errors.js';

const TOKEN = 't'.repeat(64);
const LIMIT = 1024;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown> & { error?: string; code?: string };
  text: string;
}

/** One request with exactly these headers (Host too: setHost is off), over a new connection. */
function call(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers }, agent: false, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        const json = (res.headers['content-type'] ?? '').startsWith('application/json');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: json && text ? JSON.parse(text) : {}, text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const auth = { authorization: `Bearer ${TOKEN}` };
const json = { ...auth, 'content-type': 'application/json' };

async function serve(options: Partial<JsonServerOptions> = {}): Promise<{ server: Server; port: number; internal: unknown[] }> {
  const internal: unknown[] = [];
  const routes = new Routes()
    .add(['GET', 'HEAD'], '/healthz', () => ({ text: 'ok', type: 'text/plain' }), { public: true })
    .add('GET', '/items', () => ({ body: [1, 2] }))
    .add('PUT', '/items', async (ctx) => ({ body: { got: await ctx.json() } }))
    .add('POST', '/objects', async (ctx) => ({ status: 201, body: await ctx.jsonObject() }))
    .add('GET', '/items/:id', (ctx) => ({ body: { id: ctx.params.id } }))
    .add('DELETE', '/items/:id', () => ({ body: { deleted: true } }))
    .add('GET', '/items/:id/parts/:part', (ctx) => ({ body: ctx.params }))
    .add('GET', '/conflict', () => {
      throw new HttpError(409, 'stale\ngeneration', 'conflict', { generation: 7 }, { 'x-extra': 'yes' });
    })
    .add('GET', '/user-error', () => {
      throw new UserError('rollout "x" not found', 'not-found', 404);
    })
    .add('GET', '/bug', () => {
      throw new Error('secret-value leaked\nin a stack');
    });
  const server = createServer(
    jsonHandler({
      routes,
      name: 'test API',
      self: 'this test server',
      host: (req) => ({ port: req.socket.localPort ?? 0, names: ['myhost.internal'] }),
      origin: 'same',
      auth: singleTokenAuth(TOKEN, (why) => `test API: ${why} token`),
      bodyLimit: LIMIT,
      notFound: (method, path) => `nothing at ${method} ${path}`,
      redact: (s) => s.replaceAll('secret-value', '***'),
      onInternalError: (_req, err) => internal.push(err),
      ...options,
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, internal };
}

describe('JSON server over 127.0.0.1', () => {
  let s: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    s = await serve();
  });
  after(() => new Promise<void>((r) => s.server.close(() => r())));

  test('routes: exact paths, :params decoded, a trailing slash, a text reply; JSON replies are no-store', async () => {
    const list = await call(s.port, 'GET', '/items', auth);
    assert.deepEqual(
      [list.status, list.body, list.headers['content-type'], list.headers['cache-control']],
      [200, [1, 2], 'application/json; charset=utf-8', 'no-store'],
    );
    assert.deepEqual((await call(s.port, 'GET', '/items/a%20b', auth)).body, { id: 'a b' });
    assert.deepEqual((await call(s.port, 'GET', '/items/7/parts/x?q=1', auth)).body, { id: '7', part: 'x' });
    assert.deepEqual((await call(s.port, 'GET', '/items/', auth)).body, [1, 2]);
    const health = await call(s.port, 'GET', '/healthz');
    assert.deepEqual([health.status, health.text], [200, 'ok']);
    const put = await call(s.port, 'PUT', '/items', json, '{"a":[1]}');
    assert.deepEqual([put.status, put.body], [200, { got: { a: [1] } }]);
    const created = await call(s.port, 'POST', '/objects', json, '{"k":"v"}');
    assert.deepEqual([created.status, created.body], [201, { k: 'v' }]);
    assert.deepEqual((await call(s.port, 'POST', '/objects', auth)).body, {}, 'a blank body is the empty object');
  });

  test('404 and 405 (with Allow) have the error shape', async () => {
    const missing = await call(s.port, 'GET', '/nope', auth);
    assert.deepEqual([missing.status, missing.body], [404, { error: 'nothing at GET /nope', code: 'no-route' }]);
    assert.equal((await call(s.port, 'GET', '/items/1/other', auth)).status, 404);
    const wrong = await call(s.port, 'POST', '/items/1', auth);
    assert.deepEqual(
      [wrong.status, wrong.body, wrong.headers.allow],
      [405, { error: 'POST is not allowed on /items/1; use GET, DELETE', code: 'method-not-allowed' }, 'GET, DELETE'],
    );
    assert.equal((await call(s.port, 'DELETE', '/items', auth)).headers.allow, 'GET, PUT');
  });

  test('a body over the limit is 413, and the answer reaches the client', async () => {
    const big = await call(s.port, 'PUT', '/items', json, JSON.stringify({ x: 'y'.repeat(LIMIT) }));
    assert.deepEqual([big.status, big.body.code], [413, 'too-large']);
    assert.equal(big.body.error, `PUT /items: request body larger than ${LIMIT} bytes`);
    const justFits = await call(s.port, 'PUT', '/items', json, JSON.stringify('y'.repeat(LIMIT - 2)));
    assert.equal(justFits.status, 200);
    const chunked = await call(s.port, 'PUT', '/items', { ...json, 'transfer-encoding': 'chunked' }, Buffer.alloc(10 * LIMIT, 0x20));
    assert.equal(chunked.status, 413);
  });

  test('JSON that does not parse is a 400 with one line; a non-object where an object is needed too', async () => {
    const bad = await call(s.port, 'PUT', '/items', json, '{"a":\n tru');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'bad-json');
    assert.match(bad.body.error!, /^PUT \/items: invalid JSON body: [^\n]+$/);
    const blank = await call(s.port, 'PUT', '/items', json, '  ');
    assert.deepEqual([blank.status, blank.body.code], [400, 'bad-json']);
    const array = await call(s.port, 'POST', '/objects', json, '[1]');
    assert.deepEqual([array.status, array.body], [400, { error: 'POST /objects: the JSON body must be an object', code: 'bad-request' }]);
    const badPath = await call(s.port, 'GET', '/items/%E0%A4%A', auth);
    assert.deepEqual([badPath.status, badPath.body.code], [400, 'bad-path']);
    assert.equal((await call(s.port, 'GET', '/items/%E0%A4%A')).status, 401, 'but only after the token');
  });

  test('401 without or with a wrong token (WWW-Authenticate: Bearer), also for unknown paths; public routes need none', async () => {
    for (const [headers, why] of [
      [{}, 'missing'],
      [{ authorization: 'Bearer wrong' }, 'wrong'],
      [{ authorization: `Basic ${TOKEN}` }, 'missing'],
      [{ authorization: `Bearer ${TOKEN}x` }, 'wrong'],
    ] as const) {
      for (const path of ['/items', '/nope']) {
        const r = await call(s.port, 'GET', path, headers);
        assert.deepEqual(
          [r.status, r.body, r.headers['www-authenticate']],
          [401, { error: `test API: ${why} token`, code: 'unauthorized' }, 'Bearer'],
          `${path} ${JSON.stringify(headers)}`,
        );
      }
    }
    assert.equal((await call(s.port, 'GET', '/items', { authorization: `bearer  ${TOKEN} ` })).status, 200, 'the scheme is case-insensitive');
  });

  test('a foreign Host or Origin is refused before the token is looked at; our own names pass', async () => {
    for (const host of ['evil.example:' + s.port, `127.0.0.1:${s.port + 1}`, '127.0.0.1', `127.0.0.1.evil:${s.port}`, '[::1']) {
      const r = await call(s.port, 'GET', '/healthz', { host });
      assert.deepEqual([r.status, r.body.code], [403, 'forbidden-host'], host);
      assert.match(r.body.error!, /^test API: Host ".*" is not this test server; use 127\.0\.0\.1:\d+ or localhost:\d+$/);
    }
    for (const host of [`localhost:${s.port}`, `LOCALHOST:${s.port}`, `[::1]:${s.port}`, `myhost.internal:${s.port}`]) {
      assert.equal((await call(s.port, 'GET', '/items', { ...auth, host })).status, 200, host);
    }
    for (const origin of ['http://evil.example', 'null', `https://127.0.0.1:${s.port}`, `http://localhost:${s.port + 1}`]) {
      const r = await call(s.port, 'PUT', '/items', { ...json, origin }, '{}');
      assert.deepEqual([r.status, r.body.code], [403, 'forbidden-origin'], origin);
    }
    assert.equal((await call(s.port, 'PUT', '/items', { ...json, origin: `http://localhost:${s.port}` }, '{}')).status, 200, 'our own origin');
  });

  test('a body that is not application/json is 415 (what a cross-site form could send)', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      const headers: Record<string, string> = { ...auth };
      if (type !== undefined) headers['content-type'] = type;
      const r = await call(s.port, 'PUT', '/items', headers, '{}');
      assert.deepEqual([r.status, r.body.code], [415, 'unsupported-media-type'], String(type));
      assert.match(r.body.error!, /application\/json/);
    }
    assert.equal((await call(s.port, 'PUT', '/items', { ...auth, 'content-type': 'Application/JSON; charset=utf-8' }, '{}')).status, 200);
  });

  test('errors: an HttpError keeps its status, fields and headers; a UserError its status and code; anything else is a redacted 500 and is reported', async () => {
    const conflict = await call(s.port, 'GET', '/conflict', auth);
    assert.deepEqual(
      [conflict.status, conflict.body, conflict.headers['x-extra']],
      [409, { generation: 7, error: 'stale generation', code: 'conflict' }, 'yes'],
    );
    const notFound = await call(s.port, 'GET', '/user-error', auth);
    assert.deepEqual([notFound.status, notFound.body], [404, { error: 'rollout "x" not found', code: 'not-found' }]);
    const bug = await call(s.port, 'GET', '/bug', auth);
    assert.deepEqual([bug.status, bug.body], [500, { error: '*** leaked in a stack', code: 'internal' }]);
    assert.equal(s.internal.length, 1);
  });
});

test('origin "refuse": any Origin header is refused, even our own; the guard answers after the checks', async () => {
  let handedOver = false;
  const s = await serve({ origin: 'refuse', guard: () => (handedOver ? new HttpError(503, 'gone', 'handed-over', {}, { 'x-successor': '42' }) : undefined) });
  try {
    const own = await call(s.port, 'GET', '/items', { ...auth, origin: `http://127.0.0.1:${s.port}` });
    assert.deepEqual([own.status, own.body], [403, { error: 'test API: requests from a web page (Origin header) are refused', code: 'forbidden-origin' }]);
    handedOver = true;
    assert.equal((await call(s.port, 'GET', '/items')).status, 401, 'the token is still checked first');
    const gone = await call(s.port, 'GET', '/healthz');
    assert.deepEqual([gone.status, gone.body.code, gone.headers['x-successor']], [503, 'handed-over', '42']);
  } finally {
    await new Promise<void>((r) => s.server.close(() => r()));
  }
});

test('hostAllowed: loopback and the given names on the port; with anyIpLiteral any IP but no name', () => {
  const policy = { port: 7070, names: ['10.0.0.5', undefined, '::ffff:10.0.0.9'] };
  for (const ok of ['127.0.0.1:7070', 'localhost:7070', '[::1]:7070', '10.0.0.5:7070', '10.0.0.9:7070']) assert.equal(hostAllowed(ok, policy), true, ok);
  for (const bad of ['10.0.0.6:7070', '127.0.0.1:7071', 'localhost', undefined, '']) assert.equal(hostAllowed(bad, policy), false, String(bad));
  assert.equal(hostAllowed('localhost', { port: 80, names: [] }), true, 'no port: the default port');
  assert.equal(hostAllowed('[fe80::1]:80', { port: 80, names: [], anyIpLiteral: true }), true);
  assert.equal(hostAllowed('rebind.example:80', { port: 80, names: [], anyIpLiteral: true }), false);
});

test('Routes: a route defined twice is a programming error', () => {
  const r = new Routes().add('GET', '/a/:x', () => ({ body: 1 }));
  assert.throws(() => r.add(['POST', 'GET'], '/a/:x', () => ({ body: 2 })), /route GET \/a\/:x is defined twice/);
});

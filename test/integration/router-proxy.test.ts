import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { listenAddr, listener, request, startBackend, startRouter, table, type Backend, type RouterHarness } from '../helpers/router-fixtures.js';
import { waitFor } from '../helpers/wait.js';

let h: RouterHarness;
const backends: Backend[] = [];
let generation = 1;
async function backend(name: string): Promise<Backend> {
  const b = await startBackend(name);
  backends.push(b);
  return b;
}
async function oneBackend(name: string, extra = {}): Promise<{ b: Backend; port: number; listen: string }> {
  const b = await backend(name);
  const { listen, port } = await listenAddr();
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', [b.endpoint()]] }, { 1: 100 }, extra)));
  return { b, port, listen };
}

before(async () => {
  h = await startRouter();
});
after(async () => {
  await h.close();
  await Promise.all(backends.map((b) => b.close()));
});

test('a large chunked upload streams through and back unchanged', async () => {
  const { port } = await oneBackend('echo');
  const payload = randomBytes(8 * 1024 * 1024);
  const digest = await new Promise<{ size: number; sha: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/echo', agent: false }, (res) => {
      const sha = createHash('sha256');
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        sha.update(c);
      });
      res.on('end', () => resolve({ size, sha: sha.digest('hex') }));
    });
    req.on('error', reject);
    for (let off = 0; off < payload.length; off += 64 * 1024) req.write(payload.subarray(off, off + 64 * 1024));
    req.end();
  });
  assert.equal(digest.size, payload.length);
  assert.equal(digest.sha, createHash('sha256').update(payload).digest('hex'));
});

test('a response streamed in chunks reaches the client progressively', async () => {
  const { b, port } = await oneBackend('streamer');
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/stream', agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          // The app holds the second chunk until the first has arrived here: a buffering proxy
          // would deliver nothing until the app's 3 s fallback ends the response with "late".
          if (text === '') b.releaseStream();
          text += c.toString();
        });
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
  assert.equal(body, 'first\nsecond\n');
});

test('X-Forwarded-* are set, Host is kept, hop-by-hop headers are dropped both ways', async () => {
  const { port } = await oneBackend('hdr');
  const a = await request(port, {
    path: '/headers',
    headers: {
      host: 'shop.example',
      'x-forwarded-for': '10.1.2.3',
      connection: 'keep-alive, x-private',
      'x-private': '1',
      'keep-alive': 'timeout=9',
      'x-custom': 'kept',
    },
  });
  const seen = JSON.parse(a.body) as Record<string, string>;
  assert.equal(seen['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen['x-forwarded-host'], 'shop.example');
  assert.equal(seen.host, 'shop.example');
  assert.equal(seen['x-custom'], 'kept');
  assert.equal(seen['x-private'], undefined);
  assert.equal(seen['keep-alive'], undefined);
  assert.equal(a.headers['x-app'], 'hdr', 'end-to-end response headers pass');
  assert.equal(a.headers['x-hop'], undefined, 'a header the app named in Connection is dropped');
  assert.equal(a.headers['x-sluice-revision'], undefined, 'no headers of our own');
});

test('a client that goes away aborts the upstream request, and an app that dies mid-body breaks the response', async () => {
  const { b, port } = await oneBackend('abort');
  const req = http.get({ host: '127.0.0.1', port, path: '/hang', agent: false });
  req.on('error', () => {});
  await waitFor(() => b.active.get('/hang') === 1, { timeoutMs: 3000, intervalMs: 10, what: 'request at the app' });
  req.destroy();
  await waitFor(() => b.active.get('/hang') === 0, { timeoutMs: 3000, intervalMs: 10, what: 'the app to see the abort' });
  assert.equal(await h.client.waitIdle('abort', 1000), true);

  const dying = net.createServer((s: Socket) => {
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part'));
  });
  await new Promise<void>((r) => dying.listen(0, '127.0.0.1', r));
  const { listen, port: p2 } = await listenAddr();
  await h.client.apply(
    table(generation++, listener(listen, { 1: ['v1', [{ id: 'dying', host: '127.0.0.1', port: (dying.address() as net.AddressInfo).port }]] }, { 1: 100 })),
  );
  await assert.rejects(request(p2), /aborted|socket hang up|ECONNRESET/);
  dying.close();
});

test('WebSocket upgrades pass through and count as in flight until closed', async () => {
  const { port } = await oneBackend('ws');
  const { socket, res } = await new Promise<{ socket: Socket; res: http.IncomingMessage }>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/chat',
      agent: false,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
    });
    req.on('upgrade', (res, socket) => resolve({ socket, res }));
    req.on('response', (r) => reject(new Error(`expected 101, got ${r.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
  assert.equal(res.statusCode, 101);
  assert.equal(res.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.equal(res.headers['x-app'], 'ws');
  const reply = new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
  socket.write('hello');
  assert.equal(await reply, 'echo:hello');
  assert.equal(await h.client.waitIdle('ws', 50), false, 'an open WebSocket keeps its endpoint busy');
  socket.end();
  assert.equal(await h.client.waitIdle('ws', 3000), true);
});

test('/metrics has per-revision counters and a latency histogram; /traffic the cumulative totals', async () => {
  const s = await backend('m-stable');
  const c = await backend('m-canary');
  const { listen, port } = await listenAddr();
  await h.client.apply(
    table(generation++, listener(listen, { 3: ['v3', [s.endpoint()]], 4: ['v4', [c.endpoint()]] }, { 3: 50, 4: 50 }, { rollout: 'shop', role: 'canary' })),
  );
  for (let i = 0; i < 10; i++) await request(port);
  await request(port, { path: '/nope-404' });
  const text = await h.client.metrics();
  const labels = `listener="${listen}",rollout="shop",role="canary",revision="4",version="v4"`;
  const counter = (cls: string, rev = 4, v = 'v4') =>
    Number(
      new RegExp(
        `sluice_requests_total\\{listener="${listen}",rollout="shop",role="canary",revision="${rev}",version="${v}",code_class="${cls}"\\} (\\d+)`,
      ).exec(text)?.[1],
    );
  assert.equal(counter('2xx', 3, 'v3') + counter('2xx', 4, 'v4'), 11, 'all answers were 2xx (the backend answers any path)');
  assert.ok(counter('2xx') >= 5);
  assert.equal(counter('error'), 0);
  assert.match(text, new RegExp(`sluice_request_duration_seconds_bucket\\{${labels.replace(/[.]/g, '\\.')},le="0\\.005"\\} \\d+`));
  assert.match(text, new RegExp(`sluice_request_duration_seconds_bucket\\{${labels.replace(/[.]/g, '\\.')},le="\\+Inf"\\} ${counter('2xx')}`));
  assert.match(text, new RegExp(`sluice_request_duration_seconds_count\\{${labels.replace(/[.]/g, '\\.')}\\} ${counter('2xx')}`));
  assert.match(text, new RegExp(`sluice_inflight_requests\\{${labels.replace(/[.]/g, '\\.')}\\} 0`));
  assert.match(text, /# TYPE sluice_request_duration_seconds histogram/);
  const traffic = (await h.client.traffic()).filter((t) => t.listen === listen);
  assert.deepEqual(traffic.map((t) => [t.rollout, t.revision, t.errors5xx]).sort(), [
    ['shop', 3, 0],
    ['shop', 4, 0],
  ]);
  assert.equal(
    traffic.reduce((n, t) => n + t.requests, 0),
    11,
  );
});

test('match rules pick a revision before the split: header, cookie, query, path, source', async () => {
  const s = await backend('r-stable');
  const c = await backend('r-canary');
  const { listen, port } = await listenAddr();
  const rules = [
    { name: 'beta-header', header: { name: 'X-Beta', exact: 'yes' }, revision: 2 },
    { name: 'ua', header: { name: 'user-agent', regex: 'Canary/[0-9]+' }, revision: 2 },
    { name: 'cookie', cookie: { name: 'track', exact: 'canary' }, revision: 2 },
    { name: 'query', query: { name: 'v', exact: '2' }, revision: 2 },
    { name: 'path', pathPrefix: '/new', revision: 2 },
    { name: 'nobody', sourceCidr: '10.0.0.0/8', revision: 2 },
  ];
  await h.client.apply(table(generation++, listener(listen, { 1: ['v1', [s.endpoint()]], 2: ['v2', [c.endpoint()]] }, { 1: 100 }, { rules })));
  const via = async (opts: Parameters<typeof request>[1]) => (await request(port, opts)).body;
  assert.equal(await via({}), 'r-stable');
  assert.equal(await via({ headers: { 'x-beta': 'yes' } }), 'r-canary');
  assert.equal(await via({ headers: { 'x-beta': 'no' } }), 'r-stable');
  assert.equal(await via({ headers: { 'user-agent': 'Canary/12' } }), 'r-canary');
  assert.equal(await via({ headers: { 'user-agent': 'NotCanary/12 x' } }), 'r-stable', 'regexes match the whole value');
  assert.equal(await via({ headers: { cookie: 'a=1; track=canary' } }), 'r-canary');
  assert.equal(await via({ headers: { cookie: 'xtrack=canary' } }), 'r-stable');
  assert.equal(await via({ path: '/?a=1&v=2' }), 'r-canary');
  assert.equal(await via({ path: '/new/page' }), 'r-canary');
  assert.equal(await via({ path: '/newer' }), 'r-stable', 'prefixes match whole segments');
  // The 127.0.0.1 client is not in 10.0.0.0/8, and a matching rule whose revision has no
  // instance falls back to the split.
  await h.client.apply(
    table(
      generation++,
      listener(listen, { 1: ['v1', [s.endpoint()]], 2: ['v2', []] }, { 1: 100 }, { rules: [{ name: 'local', sourceCidr: '127.0.0.0/8', revision: 2 }] }),
    ),
  );
  assert.equal(await via({}), 'r-stable');
  await h.client.apply(
    table(
      generation++,
      listener(
        listen,
        { 1: ['v1', [s.endpoint()]], 2: ['v2', [c.endpoint()]] },
        { 1: 100 },
        { rules: [{ name: 'local', sourceCidr: '127.0.0.0/8', revision: 2 }] },
      ),
    ),
  );
  assert.equal(await via({}), 'r-canary');
});

test('a removed listener stops accepting; admin answers 404 on unknown paths', async () => {
  const { port } = await oneBackend('gone');
  assert.equal((await request(port)).status, 200);
  await h.client.apply(table(generation++));
  await assert.rejects(request(port), /ECONNREFUSED/);
  const r = await request(h.adminPort, { path: '/nope', headers: h.adminHeaders });
  assert.equal(r.status, 404);
  assert.match((JSON.parse(r.body) as { error: string }).error, /no admin endpoint GET \/nope/);
});

/**
 * An app that refuses a large upload at once (413 + Connection: close, body unread) and
 * closes. Issue 9 defect 3: through the router 5 of 6 got a 502 (EPIPE) with keep-alive,
 * and the next request on that connection hung until the server's 60 s header timeout.
 */
async function earlyAnswerApp(): Promise<{ port: number; close(): void }> {
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/upload') {
      res.writeHead(413, { connection: 'close', 'content-type': 'text/plain' });
      res.end('too large\n');
      return;
    }
    if (req.method === 'POST' && req.url === '/die') {
      req.socket.destroy();
      return;
    }
    res.end('ok\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    // A server left listening keeps the test process alive after its last test.
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}

/** Sends `body` and resolves with the answer (or the error code) and how long it took. */
function timed(
  port: number,
  agent: http.Agent,
  method: string,
  path: string,
  body?: Buffer,
): Promise<{ status: number | string; connection?: string; body: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: body === undefined ? {} : { 'content-length': body.length } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text.trim(), ms: Date.now() - t0 }));
    });
    req.setTimeout(15_000, () => req.destroy(Object.assign(new Error('no answer in 15 s'), { code: 'TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: e.code ?? e.message, body: '', ms: Date.now() - t0 }));
    req.end(body);
  });
}

test('an app that answers 413 before reading a large upload: the client gets that 413, then its next request at once', async () => {
  const app = await earlyAnswerApp();
  const { listen, port } = await listenAddr();
  await h.client.apply(
    table(generation++, listener(listen, { 1: ['v1', [{ id: 'early', host: '127.0.0.1', port: app.port }]] }, { 1: 100 }, { rollout: 'early' })),
  );
  const upload = randomBytes(8 * 1024 * 1024);
  try {
    for (const [via, p] of [
      ['direct', app.port],
      ['router', port],
    ] as const) {
      for (let i = 0; i < 6; i++) {
        // One socket at a time: the next request goes on the same connection if it stays open.
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const refused = await timed(p, agent, 'POST', '/upload', upload);
        const next = await timed(p, agent, 'GET', '/');
        agent.destroy();
        assert.deepEqual([refused.status, refused.body, refused.connection], [413, 'too large', 'close'], `${via} #${i}: the app's own answer`);
        assert.equal(next.status, 200, `${via} #${i}: the next request is answered`);
        assert.ok(next.ms < 5000, `${via} #${i}: the next request took ${next.ms} ms`);
      }
    }
    // An app that dies mid-upload: a 502 that closes the connection, and the next request is answered.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const died = await timed(port, agent, 'POST', '/die', upload);
    const next = await timed(port, agent, 'GET', '/');
    agent.destroy();
    assert.ok(died.status === 502 || died.status === 'ECONNRESET' || died.status === 'EPIPE', `got ${died.status}`);
    if (died.status === 502) assert.equal(died.connection, 'close');
    assert.equal(next.status, 200);
    assert.ok(next.ms < 5000, `the request after a 502 took ${next.ms} ms`);
  } finally {
    app.close();
  }
});

test('a raw client still sending its body gets the early 413 with Connection: close, and the router ends the connection', async () => {
  const app = await earlyAnswerApp();
  const { listen, port } = await listenAddr();
  await h.client.apply(
    table(generation++, listener(listen, { 1: ['v1', [{ id: 'early-raw', host: '127.0.0.1', port: app.port }]] }, { 1: 100 }, { rollout: 'early-raw' })),
  );
  try {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    // Declares 100 MB, sends 64 KB and stops: only an answer that does not wait for the body can come.
    s.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`);
    s.write(Buffer.alloc(64 * 1024, 'x'));
    const t0 = Date.now();
    const text = await new Promise<string>((resolve, reject) => {
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString('latin1')));
      s.on('close', () => resolve(got));
      setTimeout(() => reject(new Error(`the router did not end the connection in 10 s; got ${JSON.stringify(got)}`)), 10_000).unref();
    });
    assert.match(text, /^HTTP\/1\.1 413 /);
    assert.match(text, /\r\nConnection: close\r\n/i);
    assert.match(text, /too large\n/);
    assert.ok(Date.now() - t0 < 5000);
  } finally {
    app.close();
  }
});

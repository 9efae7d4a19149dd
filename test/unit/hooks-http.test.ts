/**
 * src/hooks/http.ts directly, against real HTTP servers on 127.0.0.1: what a hook's one
 * exchange promises — headers and body as given, a deadline over the whole exchange,
 * a capped body, a caller abort, and failures told apart by kind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { HttpFailure, formatMs, httpExchange, sleep, snippet } from '../../src/hooks/http.js';
import { systemClock } from '../../src/core/clock.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let base: string;
let handler: Handler = (_req, res) => res.end('ok');

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => handler(req, res, body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

async function failure(p: Promise<unknown>): Promise<HttpFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof HttpFailure, `an HttpFailure, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the exchange to fail');
}

/** A port that refuses connections: bound, then closed. */
async function refusedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('httpExchange', () => {
  test('sends method, every header (Host included) and the body with its length; returns status, headers and body', async () => {
    let seen: { method?: string; host?: string; custom?: string; length?: string; body?: string } = {};
    handler = (req, res, body) => {
      seen = { method: req.method, host: req.headers.host, custom: req.headers['x-custom'] as string, length: req.headers['content-length'], body };
      res.writeHead(201, { 'x-answer': 'yes' });
      res.end('créé');
    };
    const a = await httpExchange({ method: 'PUT', url: `${base}/p?q=1`, headers: { host: 'app.example', 'x-custom': 'v' }, body: 'héllo', timeoutMs: 5000 });
    assert.deepEqual(seen, { method: 'PUT', host: 'app.example', custom: 'v', length: String(Buffer.byteLength('héllo')), body: 'héllo' });
    assert.equal(a.status, 201);
    assert.equal(a.headers['x-answer'], 'yes');
    assert.equal(a.body.toString('utf8'), 'créé');
    assert.equal(a.truncated, false);
  });

  test('a non-2xx answer is an answer, not a failure', async () => {
    handler = (_req, res) => {
      res.statusCode = 503;
      res.end('busy');
    };
    const a = await httpExchange({ method: 'GET', url: base, timeoutMs: 5000 });
    assert.equal(a.status, 503);
    assert.equal(a.body.toString(), 'busy');
  });

  test('the body is capped at maxBodyBytes and reading stops there, even for an endless answer', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(16 * 1024, 'x');
      // Never ends on its own: only the cap can finish this exchange.
      const timer = setInterval(() => res.write(chunk), 1);
      res.on('close', () => clearInterval(timer));
    };
    const started = Date.now();
    const a = await httpExchange({ method: 'GET', url: base, timeoutMs: 10_000, maxBodyBytes: 100_000 });
    assert.equal(a.truncated, true);
    assert.equal(a.body.length, 100_000);
    assert.ok(Date.now() - started < 5000, 'finished at the cap, not at the deadline');
  });

  test('the deadline covers the whole exchange: a server that sends headers and then stalls times out', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.write('partial');
    };
    const f = await failure(httpExchange({ method: 'GET', url: base, timeoutMs: 300 }));
    assert.equal(f.kind, 'timeout');
    assert.equal(f.message, 'no answer within 300ms');
  });

  test('a caller abort ends the exchange at once, and an already aborted signal sends nothing', async () => {
    let requests = 0;
    handler = () => void requests++;
    const ac = new AbortController();
    const p = httpExchange({ method: 'GET', url: base, timeoutMs: 10_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const f = await failure(p);
    assert.equal(f.kind, 'aborted');
    const before = requests;
    const f2 = await failure(httpExchange({ method: 'GET', url: base, timeoutMs: 10_000, signal: AbortSignal.abort() }));
    assert.equal(f2.kind, 'aborted');
    await sleep(100, systemClock);
    assert.equal(requests, before, 'no request for an aborted signal');
  });

  test('failures are told apart: refused connection, unknown host, reset mid-answer, bad URL, wrong scheme', async () => {
    const port = await refusedPort();
    const refused = await failure(httpExchange({ method: 'GET', url: `http://127.0.0.1:${port}/`, timeoutMs: 5000 }));
    assert.equal(refused.kind, 'connect');
    assert.equal(refused.message, `cannot connect to 127.0.0.1:${port} (connection refused)`);

    const unknown = await failure(httpExchange({ method: 'GET', url: 'http://no-such-host.invalid/', timeoutMs: 5000 }));
    assert.equal(unknown.kind, 'connect');
    assert.match(unknown.message, /cannot resolve host no-such-host\.invalid/);

    handler = (req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('only part');
      setTimeout(() => req.socket.destroy(), 20);
    };
    const cut = await failure(httpExchange({ method: 'GET', url: base, timeoutMs: 5000 }));
    assert.equal(cut.kind, 'network');

    assert.equal((await failure(httpExchange({ method: 'GET', url: 'not a url', timeoutMs: 1000 }))).kind, 'invalid');
    const ftp = await failure(httpExchange({ method: 'GET', url: 'ftp://127.0.0.1/x', timeoutMs: 1000 }));
    assert.equal(ftp.kind, 'invalid');
    assert.match(ftp.message, /only http:\/\/ and https:\/\/ URLs are supported, not ftp:/);
  });
});

describe('http helpers', () => {
  test('formatMs prints whole seconds as seconds, the rest as ms', () => {
    assert.equal(formatMs(10_000), '10s');
    assert.equal(formatMs(1500), '1500ms');
  });

  test('snippet collapses whitespace and cuts at n characters with an ellipsis', () => {
    assert.equal(snippet('  a\n\tb  c ', 10), 'a b c');
    assert.equal(snippet('abcdefghij', 4), 'abcd…');
  });

  test('sleep resolves after the time, or early on abort', async () => {
    const t0 = Date.now();
    await sleep(50, systemClock);
    assert.ok(Date.now() - t0 >= 45);
    const ac = new AbortController();
    const t1 = Date.now();
    const p = sleep(10_000, systemClock, ac.signal);
    ac.abort();
    await p;
    assert.ok(Date.now() - t1 < 1000);
  });
});

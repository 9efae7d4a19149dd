/**
 * src/analysis/providers/web.ts directly, against a real HTTP server on 127.0.0.1: the
 * request it sends (method, headers, body, substitution), what becomes the value
 * (JSON paths), and each way a measurement fails with a message naming the target.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { MeasurementError, WebProvider, httpRequest } from '../../src/analysis/providers/web.js';
import type { MeasurementContext, WebProviderConfig } from '../../src/core/analysis.js';

interface Seen {
  method?: string;
  url?: string;
  headers: IncomingMessage['headers'];
  body: string;
}
let server: Server;
let base: string;
let seen: Seen[] = [];
let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('{}');

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      handler(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const ctx: MeasurementContext = {
  rollout: 'shop',
  canaryRevision: 4,
  stableRevision: 3,
  args: { rollout: 'shop', canaryRevision: '4', service: 'checkout' },
  addresses: { main: '127.0.0.1:1' },
  runStartedAt: 0,
  now: 0,
};
const never = new AbortController().signal;
const web = new WebProvider();
const config = (over: Partial<WebProviderConfig> = {}): WebProviderConfig => ({ url: `${base}/m`, method: 'GET', headers: {}, timeoutSeconds: 5, ...over });
const json =
  (value: unknown, status = 200) =>
  (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected a rejection');
}

test('GET never sends a body, even when one is configured; POST keeps a content-type the user set', async () => {
  handler = json({ ok: true });
  seen = [];
  await web.measure(config({ body: { a: 1 } }), ctx, never);
  assert.equal(seen[0]!.method, 'GET');
  assert.equal(seen[0]!.body, '');
  await web.measure(config({ method: 'POST', body: { who: '{{args.service}}' }, headers: { 'Content-Type': 'application/vnd.api+json' } }), ctx, never);
  assert.equal(seen[1]!.method, 'POST');
  assert.equal(seen[1]!.headers['content-type'], 'application/vnd.api+json');
  assert.deepEqual(JSON.parse(seen[1]!.body), { who: 'checkout' });
});

test('args are substituted in the URL and header values; details name the URL, status and path', async () => {
  handler = json({ data: { rate: 0.02 } });
  seen = [];
  const r = await web.measure(
    config({ url: `${base}/q/{{args.rollout}}?rev={{args.canaryRevision}}`, headers: { 'x-service': '{{args.service}}' }, jsonPath: '$.data.rate' }),
    ctx,
    never,
  );
  assert.equal(seen[0]!.url, '/q/shop?rev=4');
  assert.equal(seen[0]!.headers['x-service'], 'checkout');
  assert.equal(r.value, 0.02);
  assert.deepEqual(r.details, { url: `${base}/q/shop?rev=4`, status: 200, jsonPath: '$.data.rate' });
});

test('a blank jsonPath means the whole answer; a JSON path may pick null, false or 0 (they are values, not "nothing")', async () => {
  handler = json({ n: null, f: false, z: 0 });
  assert.deepEqual((await web.measure(config({ jsonPath: '  ' }), ctx, never)).value, { n: null, f: false, z: 0 });
  assert.equal((await web.measure(config({ jsonPath: '$.f' }), ctx, never)).value, false);
  assert.equal((await web.measure(config({ jsonPath: '$.z' }), ctx, never)).value, 0);
});

test('redirects are followed to the answer', async () => {
  handler = (req, res) => {
    if (req.url === '/m') {
      res.writeHead(302, { location: '/final' });
      res.end();
    } else json({ at: req.url })(req, res);
  };
  assert.deepEqual((await web.measure(config(), ctx, never)).value, { at: '/final' });
});

test('failures are MeasurementErrors naming the request: 404 with its body, an empty body, a JSON path into nothing', async () => {
  handler = json({ error: 'no such metric' }, 404);
  const e404 = await rejection(web.measure(config(), ctx, never));
  assert.ok(e404 instanceof MeasurementError);
  assert.equal(e404.message, `web metric GET ${base}/m answered 404 Not Found: {"error":"no such metric"}`);

  handler = (_req, res) => res.end('');
  const empty = await rejection(web.measure(config(), ctx, never));
  assert.equal(empty.message, `web metric GET ${base}/m answered with a body that is not JSON`);

  handler = json({ a: [] });
  const none = await rejection(web.measure(config({ jsonPath: '$.a[0].v' }), ctx, never));
  assert.match(none.message, /^jsonPath \$\.a\[0\]\.v matched nothing in the answer from .*: \{"a":\[\]\}$/);
});

test('a long error body is cut to 200 characters in the message', async () => {
  handler = (_req, res) => {
    res.statusCode = 500;
    res.end('e'.repeat(1000));
  };
  const err = await rejection(web.measure(config(), ctx, never));
  assert.ok(err.message.endsWith(`: ${'e'.repeat(200)}…`), err.message);
});

test('httpRequest: the caller signal wins over the timeout and its reason is kept; no timeout given means the 10 s default, not none', async () => {
  handler = () => undefined; // never answers
  const ac = new AbortController();
  const why = new Error('analysis run stopped');
  setTimeout(() => ac.abort(why), 50);
  const stopped = await rejection(
    httpRequest({ what: 'probe', url: `${base}/slow`, method: 'GET', headers: {}, timeoutSeconds: undefined, signal: ac.signal }),
  );
  assert.equal(stopped, why);
  const started = Date.now();
  const timedOut = await rejection(httpRequest({ what: 'probe', url: `${base}/slow`, method: 'GET', headers: {}, timeoutSeconds: 0.2, signal: never }));
  assert.equal(timedOut.message, 'probe did not answer within 0.2s — raise timeoutSeconds or check the server');
  assert.ok(Date.now() - started < 3000);
});

// The OFREP service over real HTTP on 127.0.0.1: single and bulk evaluation, errors and
// statuses as the protocol (open-feature/protocol service/openapi.yaml) defines them, tokens,
// ETag / 304, bad bodies and keys, CORS, the SSE change stream, and the official server
// provider (@openfeature/ofrep-provider) evaluating against it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { OpenFeature } from '@openfeature/server-sdk';
import { OpenFeature as WebOpenFeature } from '@openfeature/web-sdk';
import type { FlagPush } from '../../src/core/flags.js';
import { FlagEvaluator, isFailure } from '../../src/flags/evaluator.js';
import { createOfrepService, OFREP_BODY_LIMIT, type OfrepService } from '../../src/flags/ofrep.js';

const TOKEN = 'client-token-all';
const LIMITED = 'client-token-limited';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function push(generation: number, overrides: Partial<FlagPush['document']['flags']> = {}): FlagPush {
  return {
    generation,
    listen: '127.0.0.1:0',
    tokens: [
      { name: 'all', sha256: sha(TOKEN) },
      { name: 'limited', sha256: sha(LIMITED), flags: ['bool-flag'] },
    ],
    document: {
      metadata: { flagSetId: 'test' },
      flags: {
        'bool-flag': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', metadata: { owner: 'web' } },
        'string-flag': {
          state: 'ENABLED',
          variants: { red: 'red', blue: 'blue' },
          defaultVariant: 'red',
          targeting: { if: [{ '==': [{ var: 'plan' }, 'premium'] }, 'blue', null] },
        },
        'number-flag': { state: 'ENABLED', variants: { one: 1, two: 2.5 }, defaultVariant: 'two' },
        'object-flag': { state: 'ENABLED', variants: { a: { limit: 3, tags: ['x'] } }, defaultVariant: 'a' },
        'split-flag': {
          state: 'ENABLED',
          variants: { on: true, off: false },
          defaultVariant: 'off',
          targeting: {
            fractional: [
              ['on', 50],
              ['off', 50],
            ],
          },
        },
        'key-flag': {
          state: 'ENABLED',
          variants: { yes: true, no: false },
          defaultVariant: 'no',
          targeting: { if: [{ and: [{ '==': [{ var: '$flagd.flagKey' }, 'key-flag'] }, { '>': [{ var: '$flagd.timestamp' }, 1_600_000_000] }] }, 'yes', 'no'] },
        },
        'disabled-flag': { state: 'DISABLED', variants: { on: true }, defaultVariant: 'on' },
        'bad-targeting': { state: 'ENABLED', variants: { on: true }, defaultVariant: 'on', targeting: { no_such_op: [1] } },
        ...overrides,
      } as FlagPush['document']['flags'],
    },
  };
}

let service: OfrepService;
let server: http.Server;
let base: string;
let port: number;
/** Status of every answer, in order (the web provider's polls show up here). */
const statuses: number[] = [];

before(async () => {
  service = createOfrepService({ heartbeatMs: 200 });
  server = http.createServer((req, res) => {
    res.on('finish', () => statuses.push(res.statusCode));
    service.handle(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
after(async () => {
  service.close();
  await OpenFeature.close();
  await WebOpenFeature.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}, token = TOKEN) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token !== '' && { authorization: `Bearer ${token}` }), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}

/** A request with the path exactly as given (fetch would normalise `..`). */
function raw(method: string, path: string, body = '{"context":{}}', headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('before the first push: 503 with a clear message', async () => {
  const r = await post('/ofrep/v1/evaluate/flags/bool-flag', { context: {} });
  assert.equal(r.status, 503);
  assert.match(String(r.body?.errorDetails), /no flags yet/);
  assert.equal(service.current(), undefined);
  service.update(push(1));
  assert.equal(service.current()?.generation, 1);
});

test('single flag: every type, reason, variant, metadata', async () => {
  const b = await post('/ofrep/v1/evaluate/flags/bool-flag', { context: { targetingKey: 'u1' } });
  assert.equal(b.status, 200);
  assert.deepEqual(b.body, { key: 'bool-flag', value: false, variant: 'off', reason: 'STATIC', metadata: { flagSetId: 'test', owner: 'web' } });
  const s = await post('/ofrep/v1/evaluate/flags/string-flag', { context: { targetingKey: 'u1', plan: 'premium' } });
  assert.deepEqual([s.body?.value, s.body?.variant, s.body?.reason], ['blue', 'blue', 'TARGETING_MATCH']);
  const s2 = await post('/ofrep/v1/evaluate/flags/string-flag', { context: { targetingKey: 'u1', plan: 'free' } });
  assert.deepEqual([s2.body?.value, s2.body?.reason], ['red', 'DEFAULT']);
  const n = await post('/ofrep/v1/evaluate/flags/number-flag', { context: {} });
  assert.equal(n.body?.value, 2.5);
  const o = await post('/ofrep/v1/evaluate/flags/object-flag', { context: {} });
  assert.deepEqual(o.body?.value, { limit: 3, tags: ['x'] });
  const k = await post('/ofrep/v1/evaluate/flags/key-flag', { context: {} });
  assert.equal(k.body?.value, true, '$flagd.flagKey and $flagd.timestamp are in the context');
});

test('fractional split: about half, the same user always the same', async () => {
  let on = 0;
  for (let i = 0; i < 200; i++) {
    const r = await post('/ofrep/v1/evaluate/flags/split-flag', { context: { targetingKey: `user-${i}` } });
    if (r.body?.value === true) on++;
  }
  assert.ok(on > 70 && on < 130, `${on} of 200 on`);
  const a = await post('/ofrep/v1/evaluate/flags/split-flag', { context: { targetingKey: 'user-7' } });
  const b = await post('/ofrep/v1/evaluate/flags/split-flag', { context: { targetingKey: 'user-7' } });
  assert.equal(a.body?.value, b.body?.value);
});

test('errors: FLAG_NOT_FOUND 404, PARSE_ERROR 400, DISABLED is a code default', async () => {
  const nf = await post('/ofrep/v1/evaluate/flags/nope', { context: {} });
  assert.equal(nf.status, 404);
  assert.equal(nf.body?.errorCode, 'FLAG_NOT_FOUND');
  assert.equal(nf.body?.key, 'nope');
  const pe = await post('/ofrep/v1/evaluate/flags/bad-targeting', { context: {} });
  assert.equal(pe.status, 400);
  assert.equal(pe.body?.errorCode, 'PARSE_ERROR');
  const d = await post('/ofrep/v1/evaluate/flags/disabled-flag', { context: {} });
  assert.equal(d.status, 200);
  assert.equal(d.body?.reason, 'DISABLED');
  assert.equal('value' in (d.body ?? {}), false);
});

test('bad bodies: invalid JSON, non-object body or context, bad targetingKey, 1 MB context', async () => {
  const j = await post('/ofrep/v1/evaluate/flags/bool-flag', '{"context": ');
  assert.equal(j.status, 400);
  assert.equal(j.body?.errorCode, 'PARSE_ERROR');
  assert.match(String(j.body?.errorDetails), /not JSON/);
  for (const body of ['[1]', '"x"', 'null']) {
    const r = await post('/ofrep/v1/evaluate/flags/bool-flag', body);
    assert.equal(r.status, 400, body);
    assert.equal(r.body?.errorCode, 'INVALID_CONTEXT');
  }
  for (const context of [[1], 'user', 5, null]) {
    const r = await post('/ofrep/v1/evaluate/flags/bool-flag', { context });
    assert.equal(r.status, 400, JSON.stringify(context));
    assert.equal(r.body?.errorCode, 'INVALID_CONTEXT');
    assert.match(String(r.body?.errorDetails), /must be a JSON object/);
  }
  const tk = await post('/ofrep/v1/evaluate/flags', { context: { targetingKey: 42 } });
  assert.equal(tk.status, 400);
  assert.match(String(tk.body?.errorDetails), /targetingKey must be a string/);
  const big = { context: { targetingKey: 'u', blob: 'x'.repeat(1024 * 1024) } };
  for (const path of ['/ofrep/v1/evaluate/flags/bool-flag', '/ofrep/v1/evaluate/flags']) {
    const r = await post(path, big);
    assert.equal(r.status, 400, path);
    assert.equal(r.body?.errorCode, 'INVALID_CONTEXT');
    assert.match(String(r.body?.errorDetails), new RegExp(`larger than ${OFREP_BODY_LIMIT} bytes`));
  }
  // The service still answers after refusing.
  assert.equal((await post('/ofrep/v1/evaluate/flags/bool-flag', { context: {} })).status, 200);
});

test('a chunked body over the limit (no Content-Length) is refused too', async () => {
  const r = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/ofrep/v1/evaluate/flags',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.write('{"context":{"x":"');
    req.write('y'.repeat(OFREP_BODY_LIMIT));
    req.end('"}}');
  });
  assert.equal(r, 400);
});

test('flag keys with /, .., or outside the pattern (raw and percent-encoded)', async () => {
  for (const path of [
    '/ofrep/v1/evaluate/flags/a/b',
    '/ofrep/v1/evaluate/flags/a%2Fb',
    '/ofrep/v1/evaluate/flags/..',
    '/ofrep/v1/evaluate/flags/%2E%2E',
    '/ofrep/v1/evaluate/flags/../bool-flag',
    '/ofrep/v1/evaluate/flags/a..b',
    '/ofrep/v1/evaluate/flags/sp%20ace',
    '/ofrep/v1/evaluate/flags/%E0%A4%A',
    '/ofrep/v1/evaluate/flags/',
  ]) {
    const r = await raw('POST', path);
    assert.equal(r.status, 404, path);
    assert.equal(r.body.errorCode, 'FLAG_NOT_FOUND', path);
    assert.match(String(r.body.errorDetails), /no flag has it|empty/, path);
  }
  const slash = await raw('POST', '/ofrep/v1/evaluate/flags/a%2Fb');
  assert.match(String(slash.body.errorDetails), /contains '\/'/);
  const dots = await raw('POST', '/ofrep/v1/evaluate/flags/%2E%2E');
  assert.match(String(dots.body.errorDetails), /contains '\.\.'/);
});

test('tokens: 401 missing or unknown, X-API-Key accepted, 403 for a flag the token may not read', async () => {
  const none = await post('/ofrep/v1/evaluate/flags/bool-flag', { context: {} }, {}, '');
  assert.equal(none.status, 401);
  assert.match(String(none.body?.errorDetails), /no client token/);
  const wrong = await post('/ofrep/v1/evaluate/flags/bool-flag', { context: {} }, {}, 'nope');
  assert.equal(wrong.status, 401);
  assert.match(String(wrong.body?.errorDetails), /unknown client token/);
  assert.equal((await post('/ofrep/v1/evaluate/flags', { context: {} }, {}, 'nope')).status, 401);
  const apiKey = await post('/ofrep/v1/evaluate/flags/bool-flag', { context: {} }, { 'x-api-key': TOKEN }, '');
  assert.equal(apiKey.status, 200);
  assert.equal((await post('/ofrep/v1/evaluate/flags/bool-flag', { context: {} }, {}, LIMITED)).status, 200);
  const forbidden = await post('/ofrep/v1/evaluate/flags/string-flag', { context: {} }, {}, LIMITED);
  assert.equal(forbidden.status, 403);
  assert.match(String(forbidden.body?.errorDetails), /'limited' may not read flag 'string-flag'/);
  // Not even whether a flag exists is told to a token that may not read it.
  assert.equal((await post('/ofrep/v1/evaluate/flags/nope', { context: {} }, {}, LIMITED)).status, 403);
  const bulk = await post('/ofrep/v1/evaluate/flags', { context: {} }, {}, LIMITED);
  assert.deepEqual(
    ((bulk.body?.flags ?? []) as { key: string }[]).map((f) => f.key),
    ['bool-flag'],
  );
});

test('bulk: every flag, errors inline, ETag; If-None-Match → 304 until the flags or the context change', async () => {
  const r = await post('/ofrep/v1/evaluate/flags', { context: { targetingKey: 'u1', plan: 'premium' } });
  assert.equal(r.status, 200);
  const flags = r.body?.flags as Record<string, unknown>[];
  assert.equal(flags.length, 8);
  assert.deepEqual(
    flags.find((f) => f.key === 'string-flag'),
    { key: 'string-flag', value: 'blue', variant: 'blue', reason: 'TARGETING_MATCH', metadata: { flagSetId: 'test' } },
  );
  assert.equal(flags.find((f) => f.key === 'bad-targeting')?.errorCode, 'PARSE_ERROR');
  assert.deepEqual(r.body?.metadata, { flagSetId: 'test' });
  assert.deepEqual(r.body?.eventStreams, [{ type: 'sse', endpoint: { requestUri: '/ofrep/v1/flags/changes' } }]);
  const etag = r.headers.get('etag');
  assert.match(String(etag), /^"[0-9a-f]{32}"$/);
  const same = await post('/ofrep/v1/evaluate/flags', { context: { targetingKey: 'u1', plan: 'premium' } }, { 'if-none-match': etag! });
  assert.equal(same.status, 304);
  assert.equal(same.body, undefined);
  assert.equal(same.headers.get('etag'), etag);
  const otherContext = await post('/ofrep/v1/evaluate/flags', { context: { targetingKey: 'u1', plan: 'free' } }, { 'if-none-match': etag! });
  assert.equal(otherContext.status, 200);
  service.update(push(2, { 'number-flag': { state: 'ENABLED', variants: { one: 1 }, defaultVariant: 'one' } }));
  const changed = await post('/ofrep/v1/evaluate/flags', { context: { targetingKey: 'u1', plan: 'premium' } }, { 'if-none-match': etag! });
  assert.equal(changed.status, 200);
  assert.notEqual(changed.headers.get('etag'), etag);
  service.update(push(3));
});

test('CORS: preflight answered, any origin, ETag exposed', async () => {
  const pre = await fetch(`${base}/ofrep/v1/evaluate/flags`, {
    method: 'OPTIONS',
    headers: {
      origin: 'https://app.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type, if-none-match',
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  assert.match(String(pre.headers.get('access-control-allow-headers')), /Authorization.*Content-Type.*If-None-Match/);
  const r = await post('/ofrep/v1/evaluate/flags', { context: {} }, { origin: 'https://app.example' });
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  assert.equal(r.headers.get('access-control-expose-headers'), 'ETag');
});

test('other paths and methods: 404 and 405 with what to use', async () => {
  const nf = await raw('POST', '/ofrep/v2/whatever');
  assert.equal(nf.status, 404);
  assert.match(String(nf.body.errorDetails), /POST \/ofrep\/v1\/evaluate\/flags/);
  const m = await raw('GET', '/ofrep/v1/evaluate/flags/bool-flag', '');
  assert.equal(m.status, 405);
});

test('SSE change stream: a client sees a push within 1 s, heartbeats, no event for an unchanged push', async () => {
  const events: string[] = [];
  let buffer = '';
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/ofrep/v1/flags/changes' }, resolve).on('error', reject);
  });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /text\/event-stream/);
  res.setEncoding('utf8');
  res.on('data', (c: string) => {
    buffer += c;
    let i = buffer.indexOf('\n\n');
    while (i !== -1) {
      events.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 2);
      i = buffer.indexOf('\n\n');
    }
  });
  const waitFor = async (pred: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return pred();
  };
  assert.ok(await waitFor(() => events.length >= 1, 1000), 'the opening comment');
  service.update(push(4)); // same flags as generation 3: nothing to announce
  const t0 = Date.now();
  service.update(push(5, { 'bool-flag': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' } }));
  assert.ok(await waitFor(() => events.some((e) => e.includes('refetchEvaluation')), 1000), `events: ${JSON.stringify(events)}`);
  assert.ok(Date.now() - t0 < 1000);
  const ev = events.filter((e) => e.includes('refetchEvaluation'));
  assert.equal(ev.length, 1, 'one event: generation 4 changed nothing');
  assert.match(ev[0]!, /^event: message\nid: 5\ndata: \{"type":"refetchEvaluation","etag":"[0-9a-f]{32}","lastModified":\d+\}$/);
  assert.ok(await waitFor(() => events.some((e) => e === ': heartbeat'), 1000), 'a heartbeat (every 200 ms here)');
  const ended = new Promise((r) => res.on('end', r));
  service.close();
  await ended;
  const again = await raw('GET', '/ofrep/v1/flags/changes', '');
  assert.equal(again.status, 503);
});

test('usage: counts per flag and variant with the last time', () => {
  const u = service.usage();
  const bool = u.filter((x) => x.flag === 'bool-flag');
  assert.ok(
    bool.some((x) => x.variant === 'off' && x.count >= 3),
    JSON.stringify(bool),
  );
  assert.ok(u.every((x) => x.lastEvaluatedAt > 0));
  assert.ok(u.some((x) => x.flag === 'bad-targeting' && x.variant === ''));
});

test('the official server provider evaluates against it', async () => {
  await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: base, headers: [['Authorization', `Bearer ${TOKEN}`]] }));
  const client = OpenFeature.getClient();
  assert.equal(await client.getBooleanValue('bool-flag', false), true);
  assert.equal(await client.getStringValue('string-flag', 'x', { targetingKey: 'u', plan: 'premium' }), 'blue');
  assert.equal(await client.getNumberValue('number-flag', 0), 2.5);
  assert.deepEqual(await client.getObjectValue('object-flag', {}), { limit: 3, tags: ['x'] });
  const missing = await client.getBooleanDetails('nope', true);
  assert.equal(missing.value, true);
  assert.equal(missing.errorCode, 'FLAG_NOT_FOUND');
  const typed = await client.getNumberDetails('bool-flag', 7);
  assert.equal(typed.value, 7);
  assert.equal(typed.errorCode, 'TYPE_MISMATCH');
});

test('update() refuses an unusable push with a one-line error and keeps serving the last one', async () => {
  const before = service.current();
  const badToken = push(90);
  badToken.tokens[0]!.sha256 = 'not-hex';
  assert.throws(() => service.update(badToken), /client token 'all' has sha256 'not-hex', not 64 hex digits; nothing changed/);
  const badDoc = push(91, { 'broken-flag': { state: 'ENABLED', variants: 'nope', defaultVariant: 'x' } as never });
  assert.throws(
    () => service.update(badDoc),
    (e: Error) => /flag document: flagd cannot read it .*nothing changed/.test(e.message) && !e.message.includes('\n'),
  );
  assert.equal(service.current(), before);
  const r = await post('/ofrep/v1/evaluate/flags/bool-flag', { context: {} });
  assert.equal(r.body?.value, true);
});

test('the official web provider: bulk evaluation, 304 polls while nothing changes, a push seen at the next poll', async () => {
  await WebOpenFeature.setContext({ targetingKey: 'web-user', plan: 'premium' });
  await WebOpenFeature.setProviderAndWait(
    new OFREPWebProvider({
      baseUrl: base,
      headers: [['Authorization', `Bearer ${TOKEN}`]],
      pollInterval: 100,
      changeDetection: 'polling',
      cacheMode: 'disabled',
    }),
  );
  const client = WebOpenFeature.getClient();
  assert.equal(client.getBooleanValue('bool-flag', false), true);
  assert.equal(client.getStringValue('string-flag', 'x'), 'blue');
  assert.equal(client.getNumberValue('number-flag', 0), 2.5);
  assert.deepEqual(client.getObjectValue('object-flag', {}), { limit: 3, tags: ['x'] });
  assert.equal(client.getBooleanDetails('nope', true).errorCode, 'FLAG_NOT_FOUND');
  const seen = statuses.length;
  await new Promise((r) => setTimeout(r, 350));
  assert.ok(statuses.slice(seen).includes(304), `polls answered ${JSON.stringify(statuses.slice(seen))}`);
  service.update(push(100, { 'bool-flag': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' } }));
  const end = Date.now() + 1000;
  while (client.getBooleanValue('bool-flag', true) !== false && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.equal(client.getBooleanValue('bool-flag', true), false, 'the kill reached the web client within 1 s');
});

test('evaluator: typed calls answer TYPE_MISMATCH, usage uses the clock given, $flagd cannot be forged', () => {
  let t = 1000;
  const ev = new FlagEvaluator({ now: () => t });
  ev.load(push(1).document);
  const r = ev.evaluate('bool-flag', {}, 'string');
  assert.ok(isFailure(r) && r.errorCode === 'TYPE_MISMATCH', JSON.stringify(r));
  assert.match((r as { errorDetails: string }).errorDetails, /flag 'bool-flag' is of type boolean, not string/);
  const ok = ev.evaluate('object-flag', {}, 'object');
  assert.ok(!isFailure(ok) && ok.variant === 'a');
  t = 5000;
  ev.evaluate('bool-flag', {});
  assert.deepEqual(
    ev.usage().filter((u) => u.flag === 'bool-flag'),
    [
      { flag: 'bool-flag', variant: '', count: 1, lastEvaluatedAt: 1000 },
      { flag: 'bool-flag', variant: 'off', count: 1, lastEvaluatedAt: 5000 },
    ],
  );
  const forged = ev.evaluate('key-flag', { $flagd: { flagKey: 'other', timestamp: 0 } });
  assert.ok(!isFailure(forged) && forged.value === true, 'flagd sets $flagd itself');
  assert.deepEqual(ev.keys().slice(0, 2), ['bool-flag', 'string-flag']);
  assert.ok(isFailure(ev.evaluate('nope', {})));
});

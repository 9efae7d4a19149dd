/**
 * Issue 10, finding 2, against a real control plane (`sluice up`): a web page open on the
 * machine must not drive the API — not by DNS rebinding (foreign Host), not by a
 * cross-origin request, not by a `text/plain` body a browser sends without a preflight —
 * even when the request somehow carries the token. Each refusal changes nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceUnderTest } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';

let sluice: SluiceUnderTest;
let token: string;
let manifest: string;

before(async () => {
  sluice = await SluiceUnderTest.start();
  token = readFileSync(join(sluice.stateDir, 'token'), 'utf8').trim();
  const port = await freePort();
  manifest = `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: evil}
spec:
  replicas: 1
  template:
    version: v1
    command: ${JSON.stringify(process.execPath)}
    args: ["-e", "setInterval(() => {}, 1000)"]
  traffic: {listen: "127.0.0.1:${port}"}
  strategy: {rolling: {}}
`;
});
after(async () => {
  await sluice?.down();
});

interface Answer {
  status: number;
  body: { error?: string; code?: string };
}

/** One raw HTTP exchange with exactly the headers given (no Host unless given). */
function raw(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: sluice.apiPort, method, path, headers, agent: false, setHost: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Answer['body']) : {} }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const applyBody = () => JSON.stringify({ yaml: manifest, file: 'evil.yaml' });

async function stillEmptyAndUp(): Promise<void> {
  assert.deepEqual(
    (await sluice.client().list()).map((r) => r.name),
    [],
    'nothing was applied',
  );
  assert.equal(await sluice.client().healthy(), true, 'the control plane still runs');
}

test('a foreign Host (DNS rebinding) gets 403, even with the token and for healthz', async () => {
  for (const host of [`evil.example:${sluice.apiPort}`, `127.0.0.1.evil.example:${sluice.apiPort}`, `127.0.0.1:${sluice.apiPort + 1}`]) {
    const h = await raw('GET', '/v1/healthz', { host });
    assert.equal(h.status, 403, host);
    assert.equal(h.body.code, 'forbidden-host');
    const a = await raw('POST', '/v1/apply', { host, authorization: `Bearer ${token}`, 'content-type': 'application/json' }, applyBody());
    assert.equal(a.status, 403, host);
  }
  // node's HTTP server itself refuses an HTTP/1.1 request without Host (400).
  assert.ok([400, 403].includes((await raw('GET', '/v1/healthz', {})).status), 'no Host at all');
  await stillEmptyAndUp();
});

test('a cross-origin text/plain POST (no preflight in a browser) gets 403 and changes nothing', async () => {
  const host = `127.0.0.1:${sluice.apiPort}`;
  for (const origin of ['http://evil.example', 'null', `https://127.0.0.1:${sluice.apiPort}`, `http://localhost:${sluice.apiPort + 1}`]) {
    const apply = await raw('POST', '/v1/apply', { host, origin, 'content-type': 'text/plain' }, applyBody());
    assert.equal(apply.status, 403, origin);
    assert.equal(apply.body.code, 'forbidden-origin');
    const withToken = await raw('POST', '/v1/apply', { host, origin, authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, applyBody());
    assert.equal(withToken.status, 403, `${origin} with the token`);
    const down = await raw('POST', '/v1/shutdown', { host, origin, authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, '{"everything":true}');
    assert.equal(down.status, 403, `${origin} shutdown`);
  }
  await stillEmptyAndUp();
});

test('a body that is not application/json gets 415, even same-origin with the token', async () => {
  const host = `localhost:${sluice.apiPort}`;
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
    const headers: Record<string, string> = { host, origin: `http://${host}`, authorization: `Bearer ${token}` };
    if (type) headers['content-type'] = type;
    const a = await raw('POST', '/v1/apply', headers, applyBody());
    assert.equal(a.status, 415, String(type));
    assert.equal(a.body.code, 'unsupported-media-type');
    assert.match(a.body.error ?? '', /application\/json/);
  }
  await stillEmptyAndUp();
});

test('the same request with JSON, our own Host and Origin works (so the refusals above are the checks, not a broken route)', async () => {
  for (const host of [`127.0.0.1:${sluice.apiPort}`, `localhost:${sluice.apiPort}`]) {
    const list = await raw('GET', '/v1/rollouts', { host, origin: `http://${host}`, authorization: `Bearer ${token}` });
    assert.equal(list.status, 200, host);
  }
  const a = await raw(
    'POST',
    '/v1/apply',
    { host: `127.0.0.1:${sluice.apiPort}`, authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
    applyBody(),
  );
  assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.deepEqual(
    (await sluice.client().list()).map((r) => r.name),
    ['evil'],
  );
  const r = await sluice.cli(['delete', 'evil']);
  assert.equal(r.code, 0, r.stderr);
});

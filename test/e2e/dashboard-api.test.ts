/**
 * Issue 16, the dashboard's side of the API against a real control plane (`sluice up`):
 * sign-in gives an HttpOnly SameSite=Strict cookie; with it the API's own routes answer and
 * its own roles apply; a change without the CSRF token is refused and changes nothing;
 * sign-out ends the session for good (a restart does not bring it back) while another
 * session survives a kill -9; a revoked token's session ends; the event stream shows a
 * rollout's status, events and traffic split as they happen.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, SluiceUnderTest } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { waitFor } from '../helpers/wait.js';
import type { SessionInfo } from '../../src/core/live.js';

let sluice: SluiceUnderTest;
let adminToken: string;

before(async () => {
  sluice = await SluiceUnderTest.start();
  adminToken = readFileSync(join(sluice.stateDir, 'token'), 'utf8').trim();
});
after(async () => {
  await sluice?.down();
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: Record<string, unknown>;
}

function call(method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: sluice.apiPort,
        method,
        path,
        agent: false,
        headers: { ...(text !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      },
      (res) => {
        let t = '';
        res.on('data', (d) => (t += d));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(t) as Record<string, unknown>;
          } catch {}
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: t, json });
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

async function signIn(token: string): Promise<{ cookie: string; info: SessionInfo; setCookie: string }> {
  const r = await call('POST', '/v1/session', {}, { token });
  assert.equal(r.status, 200, r.text);
  const setCookie = (r.headers['set-cookie'] ?? [])[0] ?? '';
  return { cookie: setCookie.split(';')[0]!, info: r.json as unknown as SessionInfo, setCookie };
}

async function namedToken(name: string, roles: string[]): Promise<{ token: string; id: string }> {
  const r = await call('POST', '/v1/tokens', { authorization: `Bearer ${adminToken}` }, { name, roles });
  assert.equal(r.status, 201, r.text);
  return { token: r.json.token as string, id: (r.json.record as { id: string }).id };
}

const web = (port: number, name = 'web') =>
  rolloutManifest({
    name,
    version: 'v1',
    listen: port,
    replicas: 1,
    strategy: '    canary:\n      steps:\n        - setWeight: 20\n        - pause: {}\n',
  });

test('sign-in: a bad token is refused; a good one gives an HttpOnly SameSite=Strict session cookie and what the roles allow', async () => {
  const wrong = await call('POST', '/v1/session', {}, { token: 'not-a-token' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers['set-cookie'], undefined);
  assert.match(String(wrong.json.error), /token/);
  const { cookie, info, setCookie } = await signIn(adminToken);
  assert.match(setCookie, /^sluice_session=v1\./);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  assert.match(setCookie, /Path=\//);
  assert.doesNotMatch(setCookie, new RegExp(adminToken), 'the cookie never carries the token');
  assert.equal(info.user, 'admin');
  assert.deepEqual(info.can, { deploy: true, admin: true, approverRoles: [] });
  assert.ok(info.expiresAt > Date.now() + 11 * 3600_000, 'a 12 h session by default');
  const again = await call('GET', '/v1/session', { cookie });
  assert.equal(again.status, 200);
  assert.equal(again.json.csrf, info.csrf);
  // The API's ordinary routes answer to the cookie.
  assert.equal((await call('GET', '/v1/rollouts', { cookie })).status, 200);
  assert.equal((await call('GET', '/v1/rollouts')).status, 401, 'no cookie, no token: refused');
  assert.equal((await call('GET', '/v1/session')).status, 401);
});

test('a change by cookie without the CSRF token is 403 and changes nothing; with it, it goes through as the signed-in user', async () => {
  const { cookie, info } = await signIn(adminToken);
  const port = await freePort();
  const body = { yaml: web(port, 'csrf'), file: 'csrf.yaml' };
  const refused = await call('POST', '/v1/apply', { cookie }, body);
  assert.equal(refused.status, 403);
  assert.equal(refused.json.code, 'csrf');
  const wrongCsrf = await call('POST', '/v1/apply', { cookie, 'x-csrf-token': `${info.csrf.slice(0, -2)}AA` }, body);
  assert.equal(wrongCsrf.status, 403);
  assert.equal((await call('GET', '/v1/rollouts/csrf', { cookie })).status, 404, 'nothing was applied');
  // Another site's page: the Origin check stands before the session.
  const crossSite = await call('POST', '/v1/apply', { cookie, 'x-csrf-token': info.csrf, origin: 'http://evil.example' }, body);
  assert.equal(crossSite.status, 403);
  assert.equal(crossSite.json.code, 'forbidden-origin');
  const ok = await call('POST', '/v1/apply', { cookie, 'x-csrf-token': info.csrf, origin: `http://127.0.0.1:${sluice.apiPort}` }, body);
  assert.equal(ok.status, 200, ok.text);
  const del = await call('DELETE', '/v1/rollouts/csrf', { cookie, 'x-csrf-token': info.csrf });
  assert.equal(del.status, 200, del.text);
  const audit = await call('GET', '/v1/audit?limit=1000', { authorization: `Bearer ${adminToken}` });
  const records = audit.json.records as { path: string; status: number; user: string }[];
  assert.ok(
    records.some((r) => r.path === '/v1/apply' && r.status === 403),
    'the refusal is audited',
  );
  assert.ok(
    records.some((r) => r.path === '/v1/apply' && r.status === 200 && r.user === 'admin'),
    'the change by session is audited as its user',
  );
});

test('a viewer session reads everything and changes nothing, even with its CSRF token', async () => {
  const viewer = await namedToken('vera', ['viewer']);
  const { cookie, info } = await signIn(viewer.token);
  assert.equal(info.user, 'vera');
  assert.deepEqual(info.can, { deploy: false, admin: false, approverRoles: [] });
  assert.equal((await call('GET', '/v1/overview', { cookie })).status, 200);
  const port = await freePort();
  const r = await call('POST', '/v1/apply', { cookie, 'x-csrf-token': info.csrf }, { yaml: web(port, 'nope'), file: 'x.yaml' });
  assert.equal(r.status, 403);
  assert.equal(r.json.code, 'forbidden');
  assert.match(String(r.json.error), /deployer/);
  assert.equal((await call('GET', '/v1/rollouts/nope', { cookie })).status, 404);
  const approver = await signIn((await namedToken('quinn', ['approver:qa'])).token);
  assert.deepEqual(approver.info.can.approverRoles, ['qa']);
});

test('sign-out ends the session for good; another survives a kill -9 and restart; a revoked token ends its session', async () => {
  const kept = await signIn(adminToken);
  const gone = await signIn(adminToken);
  const named = await namedToken('dana', ['deployer']);
  const revoked = await signIn(named.token);
  const noCsrf = await call('DELETE', '/v1/session', { cookie: gone.cookie });
  assert.equal(noCsrf.status, 403, 'sign-out needs the CSRF token too');
  const out = await call('DELETE', '/v1/session', { cookie: gone.cookie, 'x-csrf-token': gone.info.csrf });
  assert.equal(out.status, 200);
  assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
  assert.equal((await call('GET', '/v1/session', { cookie: gone.cookie })).status, 401);
  await sluice.kill9();
  await sluice.up();
  assert.equal((await call('GET', '/v1/session', { cookie: kept.cookie })).status, 200, 'a session survives a restart');
  assert.equal((await call('GET', '/v1/session', { cookie: gone.cookie })).status, 401, 'a signed-out one stays out');
  assert.equal((await call('GET', '/v1/rollouts', { cookie: revoked.cookie })).status, 200);
  assert.equal((await call('DELETE', `/v1/tokens/${named.id}`, { authorization: `Bearer ${adminToken}` })).status, 200);
  const after = await call('GET', '/v1/rollouts', { cookie: revoked.cookie });
  assert.equal(after.status, 401);
  assert.match(String(after.json.error), /revoked or expired/);
  // A forged cookie (payload changed, mac kept) is nobody.
  const [v, payload, mac] = kept.cookie.split('=')[1]!.split('.');
  const forged = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { r: string[] };
  forged.r = ['admin', 'deployer'];
  const forgedCookie = `sluice_session=${v}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${mac}`;
  assert.equal((await call('GET', '/v1/rollouts', { cookie: forgedCookie })).status, 401);
});

test('the page is served with a strict CSP, and the stream shows a rollout moving: status, events, the traffic split', async () => {
  const page = await call('GET', '/');
  assert.ok(page.status === 200 || page.status === 503, `GET / → ${page.status}`);
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  assert.match(page.text, /<html/);
  assert.equal((await call('GET', '/assets/..%2Ftoken')).status, 404);

  const { cookie, info } = await signIn(adminToken);
  const messages: { event: string; data: Record<string, unknown> }[] = [];
  const stream = request({ host: '127.0.0.1', port: sluice.apiPort, path: '/v1/stream', headers: { cookie }, agent: false });
  const opened = new Promise<void>((resolve, reject) => {
    stream.on('response', (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /text\/event-stream/);
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event !== undefined && data !== undefined) messages.push({ event, data: JSON.parse(data) as Record<string, unknown> });
        }
      });
      resolve();
    });
    stream.on('error', reject);
  });
  stream.end();
  await opened;
  try {
    await waitFor(() => messages.some((m) => m.event === 'hello'), { timeoutMs: 5000, what: 'hello' });
    const port = await freePort();
    const r = await call('POST', '/v1/apply', { cookie, 'x-csrf-token': info.csrf }, { yaml: web(port), file: 'web.yaml' });
    assert.equal(r.status, 200, r.text);
    await waitFor(() => messages.some((m) => m.event === 'rollout' && m.data.name === 'web' && m.data.phase === 'Healthy'), {
      timeoutMs: 30_000,
      what: 'the stream to show web Healthy',
      detail: () => JSON.stringify(messages.slice(-5)),
    });
    assert.ok(messages.some((m) => m.event === 'event' && m.data.rollout === 'web'));
    const v2 = await call('POST', '/v1/rollouts/web/set', { cookie, 'x-csrf-token': info.csrf }, { version: 'v2' });
    assert.equal(v2.status, 200, v2.text);
    await waitFor(
      () =>
        messages.some(
          (m) => m.event === 'weights' && m.data.name === 'web' && (m.data.point as { weights: { weight: number }[] }).weights.some((w) => w.weight === 20),
        ),
      { timeoutMs: 30_000, what: 'a weights message with the 20 % step', detail: () => JSON.stringify(messages.slice(-5)) },
    );
    const paused = await waitFor(() => messages.find((m) => m.event === 'rollout' && m.data.name === 'web' && m.data.awaiting === 'promotion'), {
      timeoutMs: 30_000,
      what: 'the rollout to wait for promotion',
    });
    assert.equal(paused.data.steps, 2);
    const overview = await call('GET', '/v1/overview', { cookie });
    const row = (overview.json.rollouts as { name: string; awaiting?: string; version: string }[]).find((x) => x.name === 'web');
    assert.equal(row?.awaiting, 'promotion');
    assert.equal(row?.version, 'v2');
    const weights = await call('GET', '/v1/rollouts/web/weights', { cookie });
    const points = weights.json.points as { weights: { revision: number; weight: number }[] }[];
    assert.ok(points.length >= 2, JSON.stringify(points));
    assert.equal((await call('GET', '/v1/rollouts/none/weights', { cookie })).status, 404);
    stream.destroy();
    // The timeline outlives the control plane.
    await sluice.kill9();
    await sluice.up();
    const kept = (await call('GET', '/v1/rollouts/web/weights', { cookie })).json.points as typeof points;
    assert.deepEqual(kept.slice(0, points.length), points);
  } finally {
    stream.destroy();
  }
});

test('bad input: a sign-in without a token string is 400; `up --session-ttl` that is not a duration is one line and starts nothing', async () => {
  for (const body of [{}, { token: 5 }, { token: '  ' }]) {
    const r = await call('POST', '/v1/session', {}, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(String(r.json.error), /"token" must be an API token/);
    assert.equal(r.headers['set-cookie'], undefined);
  }
  for (const [ttl, why] of [
    ['soon', /--session-ttl soon: not a duration — write e\.g\. 30m, 8h or 7d/],
    ['10s', /--session-ttl 10s: a dashboard session must last at least 1m/],
  ] as const) {
    const r = await runCli(['--state-dir', join(sluice.dir, 'other'), 'up', '--api', '127.0.0.1:0', '--session-ttl', ttl], sluice.dir);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, why);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

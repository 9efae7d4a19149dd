import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { listenAddr, listener, request, startBackend, startRouter, table, type Answer, type Backend, type RouterHarness } from '../helpers/router-fixtures.js';
import type { ListenerRoutes, Stickiness } from '../../src/core/route-table.js';
import { BucketSplit } from '../../src/router/split.js';
import { hashBucket, stickySeed } from '../../src/router/sticky.js';
import { validateRouteTable } from '../../src/router/validate.js';

let h: RouterHarness;
let stable: Backend;
let canary: Backend;
let generation = 1;
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

before(async () => {
  h = await startRouter();
  stable = await startBackend('stable');
  canary = await startBackend('canary');
});
after(async () => {
  agent.destroy();
  await h.close();
  await Promise.all([stable.close(), canary.close()]);
});

/** Revision 1 is stable, revision 2 the canary at `weight` %. */
function canaryRoutes(listen: string, weight: number, extra: Partial<ListenerRoutes> = {}): ListenerRoutes {
  return listener(listen, { 1: ['v1', [stable.endpoint()]], 2: ['v2', [canary.endpoint()]] }, { 1: 100 - weight, 2: weight }, extra);
}

/** Sends requests 0..n-1 over the keep-alive pool, 16 at a time; answers in request order. */
async function send(port: number, n: number, headers: (i: number) => http.OutgoingHttpHeaders | undefined = () => undefined): Promise<Answer[]> {
  const answers: Answer[] = new Array(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      answers[i] = await request(port, { agent, headers: headers(i) });
      assert.equal(answers[i].status, 200, answers[i].body);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return answers;
}

/** For each user, the set of revisions (backend names) it saw. */
function seenBy(users: string[], answers: Answer[]): Map<string, Set<string>> {
  const seen = new Map<string, Set<string>>(users.map((u) => [u, new Set<string>()]));
  answers.forEach((a, i) => seen.get(users[i % users.length])!.add(a.body));
  return seen;
}

function onCanary(seen: Map<string, Set<string>>): Set<string> {
  const out = new Set<string>();
  for (const [user, revisions] of seen) {
    assert.equal(revisions.size, 1, `${user} saw ${[...revisions].join(' and ')}`);
    if (revisions.has('canary')) out.add(user);
  }
  return out;
}

test('bucket rule: newest revision first from bucket 0; a revision without instances lends its range to the next, wrapping', () => {
  const owners = (s: BucketSplit<string>) => [0, 999, 1000, 1249, 1250, 2499, 2500, 9999].map((b) => s.at(b));
  const three = new BucketSplit([
    { revision: 1, weight: 75, item: 'r1' },
    { revision: 3, weight: 12.5, item: 'r3' },
    { revision: 2, weight: 12.5, item: 'r2' },
  ]);
  assert.deepEqual(owners(three), ['r3', 'r3', 'r3', 'r3', 'r2', 'r2', 'r1', 'r1']);
  const r2Down = new BucketSplit([
    { revision: 1, weight: 75, item: 'r1' },
    { revision: 3, weight: 12.5, item: 'r3' },
    { revision: 2, weight: 12.5, item: undefined },
  ]);
  assert.deepEqual(owners(r2Down), ['r3', 'r3', 'r3', 'r3', 'r1', 'r1', 'r1', 'r1']);
  const oldestDown = new BucketSplit([
    { revision: 1, weight: 75, item: undefined },
    { revision: 2, weight: 25, item: 'r2' },
  ]);
  assert.deepEqual(owners(oldestDown), Array(8).fill('r2'));
  assert.equal(new BucketSplit([{ revision: 1, weight: 100, item: undefined }]).at(0), undefined);
  for (let i = 0; i < 200; i++) {
    const b = three.draw('r2')!;
    assert.ok(b >= 1250 && b < 2500, `r2 drew bucket ${b}`);
  }
});

test('split accuracy: without stickiness, 10,000 requests at 1, 5, 10, 25 and 50 % are within 1 point (exact)', async () => {
  for (const weight of [1, 5, 10, 25, 50]) {
    const { listen, port } = await listenAddr();
    await h.client.apply(table(generation++, canaryRoutes(listen, weight)));
    const answers = await send(port, 10_000);
    const got = answers.filter((a) => a.body === 'canary').length;
    const share = (got / 10_000) * 100;
    assert.ok(Math.abs(share - weight) <= 1, `weight ${weight}: canary got ${share}%`);
    assert.ok(Math.abs(got - weight * 100) <= 1, `weight ${weight}: smooth WRR should be exact, canary got ${got} of 10000`);
  }
});

test('header stickiness: 1,000 users × 10 requests see one revision each; 10 % → 25 % moves users onto the canary only', async () => {
  const { listen, port } = await listenAddr();
  const sticky: Stickiness = { header: 'x-user' };
  const users = Array.from({ length: 1000 }, (_, i) => `user-${i}@example.com`);
  const byUser = (i: number) => ({ 'x-user': users[i % users.length] });

  await h.client.apply(table(generation++, canaryRoutes(listen, 10, { sticky })));
  const at10 = onCanary(seenBy(users, await send(port, 10_000, byUser)));
  assert.ok(at10.size >= 70 && at10.size <= 130, `${at10.size} of 1000 users on the canary at 10 %`);
  // The documented rule: the canary (highest revision) owns buckets 0..weight×100-1.
  const seed = stickySeed('web');
  for (const u of users) assert.equal(at10.has(u), hashBucket(seed, u) < 1000, u);

  await h.client.apply(table(generation++, canaryRoutes(listen, 25, { sticky })));
  const at25 = onCanary(seenBy(users, await send(port, 3000, byUser)));
  const movedBack = [...at10].filter((u) => !at25.has(u));
  assert.deepEqual(movedBack, [], 'users on the canary at 10 % are still on it at 25 %');
  assert.ok(at25.size >= 210 && at25.size <= 290, `${at25.size} of 1000 users on the canary at 25 %`);

  // Without the header: the plain smooth split, and no cookie.
  const anonymous = await send(port, 100);
  assert.equal(anonymous.filter((a) => a.body === 'canary').length, 25);
  assert.equal(anonymous[0].headers['set-cookie'], undefined);
});

test('the hash is salted with the rollout name: two rollouts pick unrelated 10 % of users', () => {
  const web = stickySeed('web');
  const api = stickySeed('api');
  let both = 0;
  let inWeb = 0;
  for (let i = 0; i < 10_000; i++) {
    const u = `user-${i}`;
    const w = hashBucket(web, u) < 1000;
    if (w) inWeb++;
    if (w && hashBucket(api, u) < 1000) both++;
  }
  assert.ok(inWeb > 900 && inWeb < 1100, `${inWeb} of 10000 in web's 10 %`);
  assert.ok(both > 60 && both < 140, `${both} users in both canaries (independent: about 100)`);
});

test('cookie stickiness: a new client gets a bucket cookie and keeps its revision; raising the weight never moves it back', async () => {
  const { listen, port } = await listenAddr();
  const sticky: Stickiness = { cookie: { name: 'sluice-web', maxAgeSeconds: 3600 } };
  await h.client.apply(table(generation++, canaryRoutes(listen, 10, { sticky })));

  const first = await request(port, { agent });
  const setCookie = first.headers['set-cookie'];
  assert.ok(setCookie !== undefined && setCookie.length === 1, 'one Set-Cookie');
  assert.match(setCookie[0], /^sluice-web=\d{1,4}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=3600$/);
  const cookie = setCookie[0].split(';')[0];
  const again = await send(port, 20, () => ({ cookie: `theme=dark; ${cookie}; other=1` }));
  for (const a of again) {
    assert.equal(a.body, first.body);
    assert.equal(a.headers['set-cookie'], undefined, 'a client with its bucket gets no new cookie');
  }

  // 400 new clients: the first request of each is the smooth split (exactly 10 %), and the
  // bucket drawn keeps it there.
  const clients = 400;
  const firsts = await send(port, clients);
  const cookies = firsts.map((a) => a.headers['set-cookie']![0].split(';')[0]);
  assert.equal(firsts.filter((a) => a.body === 'canary').length, 40);
  const clientIds = cookies.map((_, i) => String(i));
  const withCookie = (i: number) => ({ cookie: cookies[i % clients] });
  const at10 = onCanary(seenBy(clientIds, [...firsts, ...(await send(port, clients * 3, withCookie))]));
  assert.equal(at10.size, 40);

  await h.client.apply(table(generation++, canaryRoutes(listen, 25, { sticky })));
  const at25 = onCanary(seenBy(clientIds, await send(port, clients * 3, withCookie)));
  assert.deepEqual(
    [...at10].filter((c) => !at25.has(c)),
    [],
    'canary clients at 10 % are still on it at 25 %',
  );
  // Expected 25 %: 40 + 360 × 1500/9000 = 100.
  assert.ok(at25.size >= 76 && at25.size <= 124, `${at25.size} of 400 clients on the canary at 25 %`);

  // A cookie that is not a bucket is replaced.
  const bad = await request(port, { agent, headers: { cookie: 'sluice-web=banana' } });
  assert.match(String(bad.headers['set-cookie']), /^sluice-web=\d{1,4};/);
});

test("cookie stickiness keeps the app's own Set-Cookie and works on WebSocket upgrades", async () => {
  const app = http.createServer((req, res) => {
    res.setHeader('set-cookie', ['session=abc; Path=/', 'pref=1']);
    res.end('app');
  });
  app.on('upgrade', (_req, socket: Socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  try {
    const appPort = (app.address() as { port: number }).port;
    const { listen, port } = await listenAddr();
    const routes = listener(listen, { 1: ['v1', [{ id: 'app', host: '127.0.0.1', port: appPort }]] }, { 1: 100 }, { sticky: { cookie: { name: 'bucket' } } });
    await h.client.apply(table(generation++, routes));
    const a = await request(port, { agent });
    const cookies = a.headers['set-cookie']!;
    assert.equal(cookies.length, 3);
    assert.deepEqual(cookies.slice(0, 2), ['session=abc; Path=/', 'pref=1']);
    assert.match(cookies[2], /^bucket=\d{1,4}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=86400$/);

    const upgraded = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, agent: false, headers: { connection: 'Upgrade', upgrade: 'websocket' } });
      req.on('upgrade', (res, socket: Socket) => {
        socket.destroy();
        resolve(res);
      });
      req.on('response', (r) => reject(new Error(`expected 101, got ${r.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    assert.match(String(upgraded.headers['set-cookie']), /^bucket=\d{1,4}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=86400$/);
  } finally {
    app.closeAllConnections();
    await new Promise((r) => app.close(r));
  }
});

test('hashCookie stickiness: the hash of a session cookie keeps each session on one revision, onto the canary only', async () => {
  const { listen, port } = await listenAddr();
  const sticky: Stickiness = { hashCookie: 'sid' };
  const sessions = Array.from({ length: 500 }, (_, i) => `s${(i * 7919).toString(36)}x${i}`);
  const bySession = (i: number) => ({ cookie: `a=1; sid=${sessions[i % sessions.length]}; z=2` });
  await h.client.apply(table(generation++, canaryRoutes(listen, 10, { sticky })));
  const at10 = onCanary(seenBy(sessions, await send(port, sessions.length * 5, bySession)));
  const seed = stickySeed('web');
  for (const s of sessions) assert.equal(at10.has(s), hashBucket(seed, s) < 1000, s);
  assert.ok(at10.size >= 25 && at10.size <= 75, `${at10.size} of 500 sessions on the canary at 10 %`);

  await h.client.apply(table(generation++, canaryRoutes(listen, 25, { sticky })));
  const at25 = onCanary(seenBy(sessions, await send(port, sessions.length * 2, bySession)));
  assert.deepEqual(
    [...at10].filter((s) => !at25.has(s)),
    [],
  );
  assert.ok(at25.size >= 90 && at25.size <= 160, `${at25.size} of 500 sessions on the canary at 25 %`);

  const noSession = await send(port, 8, () => ({ cookie: 'sidx=1; other=sid' }));
  assert.equal(noSession.filter((a) => a.body === 'canary').length, 2, 'no sid cookie: the smooth split');
  assert.equal(noSession[0].headers['set-cookie'], undefined, 'hashCookie never sets a cookie');
});

test('a revision without instances lends its buckets to the next one; match rules still come first', async () => {
  const { listen, port } = await listenAddr();
  const sticky: Stickiness = { header: 'x-user' };
  const users = Array.from({ length: 300 }, (_, i) => `u${i}`);
  const byUser = (i: number) => ({ 'x-user': users[i % users.length] });
  await h.client.apply(table(generation++, canaryRoutes(listen, 25, { sticky })));
  const before = onCanary(seenBy(users, await send(port, 600, byUser)));

  const noCanary = listener(listen, { 1: ['v1', [stable.endpoint()]], 2: ['v2', []] }, { 1: 75, 2: 25 }, { sticky });
  await h.client.apply(table(generation++, noCanary));
  const answers = await send(port, 300, byUser);
  assert.ok(answers.every((a) => a.body === 'stable'));

  await h.client.apply(table(generation++, canaryRoutes(listen, 25, { sticky })));
  assert.deepEqual(onCanary(seenBy(users, await send(port, 600, byUser))), before, 'the same users are back on the canary');

  const rule = { name: 'testers', header: { name: 'x-canary', exact: 'true' }, revision: 2 };
  await h.client.apply(table(generation++, canaryRoutes(listen, 25, { sticky, rules: [rule] })));
  const stableUser = users.find((u) => !before.has(u))!;
  assert.equal((await request(port, { agent, headers: { 'x-user': stableUser, 'x-canary': 'true' } })).body, 'canary');
  assert.equal((await request(port, { agent, headers: { 'x-user': stableUser } })).body, 'stable');
});

test('invalid stickiness is refused with a message naming the field', async () => {
  const { listen } = await listenAddr();
  const bad: [unknown, RegExp][] = [
    [{}, /listeners\[0\]\.sticky: needs exactly one of cookie/],
    [{ header: 'x-user', hashCookie: 'sid' }, /sticky: has header and hashCookie: it needs exactly one of/],
    [{ header: '' }, /sticky\.header: "" is not a valid header name/],
    [{ header: 'x user' }, /sticky\.header: "x user" is not a valid header name/],
    [{ hashCookie: 'a=b' }, /sticky\.hashCookie: "a=b" is not a valid cookie name/],
    [{ cookie: 'sluice' }, /sticky\.cookie: must be an object \{name, maxAgeSeconds\?\}/],
    [{ cookie: { name: 'a;b' } }, /sticky\.cookie\.name: "a;b" is not a valid cookie name/],
    [{ cookie: { name: 'ok', maxAgeSeconds: 0 } }, /sticky\.cookie\.maxAgeSeconds: must be a positive whole number/],
    ['cookie', /sticky: must be an object/],
  ];
  for (const [sticky, why] of bad) {
    const t = table(generation + 1, canaryRoutes(listen, 10, { sticky: sticky as Stickiness }));
    assert.throws(() => validateRouteTable(t), why);
  }
  const res = await request(h.adminPort, {
    method: 'PUT',
    path: '/routes',
    headers: h.adminHeaders,
    body: JSON.stringify(table(generation + 1, canaryRoutes(listen, 10, { sticky: {} }))),
  });
  assert.equal(res.status, 400);
  assert.match((JSON.parse(res.body) as { error: string }).error, /sticky: needs exactly one of/);
  for (const sticky of [{ header: 'x-user' }, { hashCookie: 'sid' }, { cookie: { name: 'sluice-web' } }, { cookie: { name: 'b', maxAgeSeconds: 60 } }]) {
    assert.doesNotThrow(() => validateRouteTable(table(generation + 1, canaryRoutes(listen, 10, { sticky }))));
  }
});

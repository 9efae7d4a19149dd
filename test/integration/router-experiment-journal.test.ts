/**
 * The experiment journal's durability (src/router/experiments/journal.ts): records survive a
 * graceful restart and a kill -9 after a flush, seq continues, `after` pages, an ack drops
 * records and deletes fully acknowledged segments, a handover loses and repeats nothing.
 * Real router processes, real HTTP on 127.0.0.1.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../helpers/ports.js';
import { sleep } from '../helpers/wait.js';
import {
  allRecords,
  CLIENT_TOKEN,
  experimentListener,
  experimentRoutes,
  flagPush,
  inParallel,
  RouterProcs,
  send,
  startVariantApp,
  table,
  type RouterProc,
  type VariantApp,
} from '../helpers/router-experiment.js';

const procs = new RouterProcs();
let apps: VariantApp[];
let router: RouterProc;
let appPort: number;
let apiPort: number;
let nextUser = 0;

before(async () => {
  apps = await Promise.all(['a', 'b'].map(startVariantApp));
  appPort = await freePort();
  apiPort = await freePort();
  router = await procs.start();
  await router.client.apply(table(1, experimentListener(`127.0.0.1:${appPort}`, apps, [50, 50], experimentRoutes())));
  await router.client.pushFlags(flagPush(`127.0.0.1:${apiPort}`));
});
after(async () => {
  procs.cleanup();
  await Promise.all(apps.map((a) => a.close()));
});

/** n new users, one request each: n exposure records. */
async function expose(n: number): Promise<string[]> {
  const users = Array.from({ length: n }, () => `j-${nextUser++}`);
  await inParallel(n, 16, async (i) => assert.equal((await send(appPort, { headers: { 'x-user': users[i] } })).status, 200));
  return users;
}

/** `lines` signup events of `users` in one POST. */
async function events(users: string[], lines: number): Promise<void> {
  const body = Array.from({ length: lines }, (_, i) => JSON.stringify({ user: users[i % users.length], event: 'signup' })).join('\n');
  const r = await send(apiPort, { method: 'POST', path: '/experiments/v1/events', headers: { authorization: `Bearer ${CLIENT_TOKEN}` }, body });
  assert.equal(r.status, 200, r.body.slice(0, 300));
  assert.equal(JSON.parse(r.body).accepted, lines);
}

const segments = (): string[] => readdirSync(join(router.dir, 'router', 'experiments', 'journal')).filter((f) => f.startsWith('seg-'));

test('records survive a graceful restart; seq continues and the journal id stays', async () => {
  await expose(50);
  const before = await allRecords(router.client);
  assert.equal(before.records.length, 50);
  assert.deepEqual(
    before.records.map((r) => r.seq),
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
  await procs.stop(router);
  router = await procs.start(router.dir);
  const again = await allRecords(router.client);
  assert.equal(again.journal, before.journal);
  assert.deepEqual(again.records, before.records);
  await expose(5);
  const more = await router.client.experimentRecords(50);
  assert.deepEqual(
    more.records.map((r) => r.seq),
    [51, 52, 53, 54, 55],
  );
});

test('a kill -9 after a flush loses nothing; seq continues after it', async () => {
  await expose(30);
  await sleep(200); // flushes run within 50 ms
  const before = await allRecords(router.client);
  await procs.kill9(router);
  router = await procs.start(router.dir);
  const again = await allRecords(router.client);
  assert.deepEqual(again.records, before.records);
  await expose(1);
  assert.equal((await router.client.experimentRecords(before.last)).records[0].seq, before.last + 1);
});

test('`after` and `max` page through the journal', async () => {
  const page = await router.client.experimentRecords(10, 7);
  assert.deepEqual(
    page.records.map((r) => r.seq),
    [11, 12, 13, 14, 15, 16, 17],
  );
  assert.ok(page.last > 17);
  assert.equal((await router.client.experimentRecords(page.last)).records.length, 0);
  await assert.rejects(router.client.experimentRecords(0, 50_001), /max=50001: must be a whole number from 1 to 50000/);
});

test('ack drops acknowledged records and deletes fully acknowledged segments', async () => {
  const users = await expose(100);
  // About 3.7 MB of records per 30,000 events: past the 4 MiB segment size.
  for (let k = 0; k < 4; k++) await events(users, 10_000);
  const all = await allRecords(router.client);
  assert.ok(segments().length >= 2, `segments: ${segments().join(', ')}`);
  const mid = all.records[all.records.length >> 1].seq;
  await router.client.ackExperimentRecords(all.journal, mid);
  const rest = await allRecords(router.client);
  assert.equal(rest.records[0].seq, mid + 1, 'records ≤ upTo are gone');
  await assert.rejects(router.client.ackExperimentRecords('not-this-journal', mid), /is not this router's/);
  await assert.rejects(router.client.ackExperimentRecords(all.journal, all.last + 10), /past the last record/);
  await router.client.ackExperimentRecords(all.journal, all.last);
  assert.deepEqual(segments(), [], 'every segment deleted once acknowledged');
  assert.equal((await router.client.experimentRecords(0)).records.length, 0);
  // Seq continues after everything was acknowledged, across a restart too.
  await procs.stop(router);
  router = await procs.start(router.dir);
  await expose(1);
  const next = await router.client.experimentRecords(0);
  assert.deepEqual(
    next.records.map((r) => r.seq),
    [all.last + 1],
  );
});

test('a handover under load: no record lost, none repeated, seq contiguous', async () => {
  const start = (await router.client.experimentRecords(0)).last;
  let stop = false;
  const sent: string[] = [];
  const load = (async () => {
    while (!stop) {
      const u = `h-${nextUser++}`;
      const r = await send(appPort, { headers: { 'x-user': u } });
      if (r.status === 200) sent.push(u);
    }
  })();
  await sleep(300);
  const handed = await router.client.restart({ drainTimeoutMs: 2000 });
  procs.track(handed.newPid);
  router.pid = handed.newPid;
  await sleep(300);
  stop = true;
  await load;
  await sleep(2500); // the old process drains and forwards what it recorded
  const { records } = await allRecords(router.client, start);
  const exposed = records.filter((r) => r.type === 'exposure').map((r) => r.user);
  assert.deepEqual(new Set(exposed), new Set(sent), 'every served user exposed once');
  assert.equal(exposed.length, sent.length);
  assert.deepEqual(
    records.map((r) => r.seq),
    Array.from({ length: records.length }, (_, i) => start + 1 + i),
  );
});

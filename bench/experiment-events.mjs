// The router's experiment events endpoint (POST /experiments/v1/events on the client API):
// a few concurrent clients post 500-line batches for a bounded time, then the journal is
// pulled and its event conversions counted against the lines accepted (they must be equal).
// Also the memory of an exposed-user set at 1M users. Prints the figures and writes them to
// bench/results/experiment-events.txt. Run: npm run build && node bench/experiment-events.mjs
// 127.0.0.1 only, about 30 s, stops every process it started (also on Ctrl-C).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchScratch, freePort, rssMiB, sleep, which } from './lib/procs.mjs';
import { runWrk } from './lib/wrk.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results', 'experiment-events.txt');
const QUICK = process.env.SLUICE_BENCH_QUICK === '1';
const DURATION_S = QUICK ? 3 : 10;
const CLIENTS = 4;
const LINES = 500;
const USERS = 5000;
const TOKEN = 'bench-client-token';

const dist = (p) => import(pathToFileURL(join(ROOT, 'dist', 'src', p)).href);
const { HttpTrafficRouter, startRouterProcess } = await dist('router/http-client.js');
const { ExposedSet, userHash } = await dist('router/experiments/exposed-set.js');
const { tmp, cleanup } = benchScratch('experiment-events', 4 * 60_000);
const log = (line) => console.error(`[bench:experiment-events ${new Date().toISOString().slice(11, 19)}] ${line}`);

const app = http.createServer((req, res) => {
  req.resume();
  res.end('ok');
});
await new Promise((r) => app.listen(0, '127.0.0.1', r));
const appPort = app.address().port;
const listenPort = await freePort();
const apiPort = await freePort();
const plainPort = await freePort();
const cookiePort = await freePort();
const admin = `127.0.0.1:${await freePort()}`;
const { pid, token } = await startRouterProcess({ stateDir: tmp, admin, logFile: join(tmp, 'router.log') });
const client = new HttpTrafficRouter(admin, token);
let failed;
try {
  const backends = [1, 2].map((revision) => ({
    revision,
    version: `v${revision}`,
    variant: revision === 1 ? 'a' : 'b',
    endpoints: [{ id: `app-${revision}`, host: '127.0.0.1', port: appPort }],
  }));
  const split = [
    { revision: 1, weight: 50 },
    { revision: 2, weight: 50 },
  ];
  const experiment = (userKey) => ({
    experiment: 'r2a1',
    salt: 'shop/r2a1',
    userKey,
    cookie: { name: 'sluice-uid', maxAgeSeconds: 31_536_000 },
    goals: [{ metric: 'checkout', kind: 'binomial', goal: { methods: ['POST'], path: '/checkout' } }],
    events: [{ event: 'purchase', metric: 'revenue', kind: 'continuous', allowNegative: false }],
  });
  const base = (listen, rollout) => ({ listen, rollout, role: 'main', balancer: 'round-robin', rules: [], variantHeader: 'x-variant', split, backends });
  await client.apply({
    generation: 1,
    listeners: [
      { ...base(`127.0.0.1:${listenPort}`, 'shop'), experiment: experiment({ header: 'x-user' }) },
      base(`127.0.0.1:${plainPort}`, 'plain'),
      { ...base(`127.0.0.1:${cookiePort}`, 'cookies'), experiment: { ...experiment({}), salt: 'cookies/r2a1' } },
    ],
  });
  await client.pushFlags({
    generation: 1,
    listen: `127.0.0.1:${apiPort}`,
    document: { flags: { on: { state: 'ENABLED', variants: { on: true }, defaultVariant: 'on' } } },
    tokens: [{ name: 'bench', sha256: createHash('sha256').update(TOKEN).digest('hex') }],
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const post = (port, path, headers, body) =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: body === undefined ? 'GET' : 'POST', path, headers, agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end(body);
    });
  log(`exposing ${USERS} users through the router`);
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < USERS) await post(listenPort, '/', { 'x-user': `user-${next++}` });
    }),
  );
  const batches = Array.from({ length: 8 }, (_, b) =>
    Array.from({ length: LINES }, (_, i) => JSON.stringify({ user: `user-${(b * LINES + i) % USERS}`, event: 'purchase', value: (i % 50) + 0.5 })).join('\n'),
  );
  log(`${CLIENTS} clients posting ${LINES}-line batches for ${DURATION_S} s`);
  let accepted = 0;
  let posts = 0;
  let refused = 0;
  const started = performance.now();
  const until = started + DURATION_S * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      let k = c;
      while (performance.now() < until) {
        const r = await post(
          apiPort,
          '/experiments/v1/events',
          { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' },
          batches[k++ % batches.length],
        );
        posts++;
        if (r.status !== 200) refused++;
        else accepted += JSON.parse(r.body).accepted;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const routerRss = rssMiB(pid);
  log('pulling the journal');
  const pullStart = performance.now();
  let after = 0;
  let journaled = 0;
  let exposures = 0;
  for (;;) {
    const batch = await client.experimentRecords(after, 50_000);
    if (batch.records.length === 0) break;
    for (const r of batch.records) {
      if (r.type === 'conversion' && r.source === 'event') journaled++;
      else if (r.type === 'exposure') exposures++;
    }
    after = batch.records.at(-1).seq;
  }
  const pullSeconds = (performance.now() - pullStart) / 1000;
  agent.destroy();
  // The request path: a listener without an experiment beside one assigning by header (one
  // user: exposed once) and one where every request is a new user (a signed cookie minted).
  const path = [];
  if ((await which('wrk')) !== undefined) {
    const targets = [
      ['50/50 split, no experiment', plainPort, []],
      ['50/50 experiment, user key header', listenPort, ['x-user: bench-user']],
      ['50/50 experiment, no key: a new signed cookie per request', cookiePort, []],
    ];
    const runs = targets.map(() => []);
    for (let round = 0; round < (QUICK ? 1 : 2); round++) {
      for (const [i, [name, port, headers]] of targets.entries()) {
        const r = await runWrk(port, QUICK ? 2 : 6, headers);
        runs[i].push(r);
        log(`round ${round + 1} ${name}: ${Math.round(r.rps)} req/s, p99 ${r.p99Ms.toFixed(2)} ms`);
      }
    }
    for (const [i, [name]] of targets.entries()) {
      const best = runs[i].sort((a, b) => b.rps - a.rps)[0];
      path.push(
        `  ${name}: ${Math.round(best.rps)} req/s, p50 ${best.p50Ms.toFixed(2)} ms, p99 ${best.p99Ms.toFixed(2)} ms (best of ${runs[i].length}, wrk 1 thread, 50 connections)`,
      );
    }
  } else path.push('  (wrk not installed: request path not measured)');
  // An exposed-user set at 1M users, in this process.
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().arrayBuffers;
  const set = new ExposedSet();
  const t0 = performance.now();
  for (let i = 0; i < 1_000_000; i++) set.add(userHash(`user-${i}`));
  const addMs = performance.now() - t0;
  const setBytes = set.bytes;
  const arrayBuffers = process.memoryUsage().arrayBuffers - heapBefore;
  const rate = accepted / seconds;
  const lines = [
    `sluice bench:experiment-events — ${new Date().toISOString()}`,
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, load at end ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}, node ${process.version}`,
    `events endpoint: ${CLIENTS} clients × ${LINES}-line batches over ${seconds.toFixed(1)} s: ${posts} POSTs (${refused} refused), ${accepted} events accepted`,
    `  ${Math.round(rate)} events/s sustained (target ≥ 20,000/s: ${rate >= 20_000 ? 'met' : 'NOT met'})`,
    `journal: ${journaled} event conversions journaled for ${accepted} accepted (${journaled === accepted ? 'equal' : 'MISMATCH'}), ${exposures} exposures for ${USERS} users; pulled in ${pullSeconds.toFixed(1)} s (${Math.round((journaled + exposures) / pullSeconds)} records/s, pages of 50,000)`,
    'request path through the router (same process, same app):',
    ...path,
    `router RSS after the run: ${routerRss?.toFixed?.(1) ?? routerRss} MiB`,
    `exposed-user set at 1M users: ${set.size} hashes in ${(setBytes / 1048576).toFixed(1)} MiB (Float64Array, ${(setBytes / set.size).toFixed(1)} bytes/user; ${(arrayBuffers / 1048576).toFixed(1)} MiB of array buffers held), ${(addMs / 1000).toFixed(2)} s to add 1M`,
  ];
  const text = `${lines.join('\n')}\n`;
  process.stdout.write(text);
  if (!QUICK) {
    mkdirSync(dirname(RESULTS), { recursive: true });
    writeFileSync(RESULTS, text);
  }
  if (journaled !== accepted) failed = 'journaled != accepted';
} finally {
  client.close();
  app.close();
  app.closeAllConnections();
  await cleanup();
}
await sleep(10);
if (failed !== undefined) {
  console.error(`bench:experiment-events: ${failed}`);
  process.exit(1);
}

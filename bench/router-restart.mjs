// `sluice router restart` (POST /handover) under steady load: how many requests are delayed
// by more than 200 ms around each restart, against windows of the same length with no
// restart. Prints a table and writes bench/results/router-restart.md.
// Run after `npm run build`:  node bench/router-restart.mjs [RATE] [RESTARTS]   (default 300 req/s, 5)
// Real processes and HTTP on 127.0.0.1 only (the demo app ×3, the router); about a minute.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchScratch, freePort, sleep, startProcess, waitForHttp } from './lib/procs.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEMO_APP = join(ROOT, 'examples', 'demo-app', 'server.js');
const dist = (p) => import(pathToFileURL(join(ROOT, 'dist', p)).href);
const { HttpTrafficRouter, startRouterProcess } = await dist('src/router/http-client.js');
const { LoadGenerator } = await dist('test/helpers/load.js');

const rate = Number(process.argv[2] ?? 300);
const restarts = Number(process.argv[3] ?? 5);
if (!(rate >= 1 && rate <= 2000) || !(restarts >= 1 && restarts <= 20)) {
  console.error('usage: node bench/router-restart.mjs [RATE 1..2000] [RESTARTS 1..20]');
  process.exit(2);
}
const WINDOW_MS = 4000;
const SLOW_MS = 200;

const { tmp, cleanup } = benchScratch('router-restart', 5 * 60_000);
const log = (line) => console.error(`[bench:router-restart ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** Requests sent in [from, from + WINDOW_MS): count, > SLOW_MS, max and p99 latency, failures. */
function windowStats(samples, from) {
  const xs = samples.filter((s) => s.sentAt >= from && s.sentAt < from + WINDOW_MS);
  const lat = xs.map((s) => s.doneAt - s.sentAt).sort((a, b) => a - b);
  return {
    requests: xs.length,
    slow: lat.filter((l) => l > SLOW_MS).length,
    p99: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] ?? 0,
    max: lat[lat.length - 1] ?? 0,
    failed: xs.filter((s) => s.error !== undefined || s.status < 200 || s.status >= 300).length,
  };
}

let client;
const rows = [];
try {
  const apps = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const child = startProcess('node', [DEMO_APP], { env: { PORT: String(port), VERSION: 'v1' }, logFile: join(tmp, `app-${i}.log`) });
    apps.push({ port, child });
  }
  for (const a of apps) await waitForHttp(a.port, '/healthz', 10_000, a.child);
  const stateDir = join(tmp, 'state');
  const admin = `127.0.0.1:${await freePort()}`;
  const { pid, token } = await startRouterProcess({ stateDir, admin, logFile: join(tmp, 'router.log'), extraArgs: ['--drain-timeout-ms', '10000'] });
  log(`router pid ${pid} (admin ${admin})`);
  client = new HttpTrafficRouter(admin, token);
  const port = await freePort();
  await client.apply({
    generation: 1,
    listeners: [
      {
        listen: `127.0.0.1:${port}`,
        rollout: 'web',
        role: 'main',
        balancer: 'round-robin',
        rules: [],
        split: [{ revision: 1, weight: 100 }],
        backends: [{ revision: 1, version: 'v1', endpoints: apps.map((a, i) => ({ id: `v1-${i}`, host: '127.0.0.1', port: a.port })) }],
      },
    ],
  });

  const load = new LoadGenerator(port, rate, 30 + restarts * (WINDOW_MS / 1000) * 2 + 30);
  await sleep(3000); // warm-up, not counted
  for (let i = 0; i < restarts; i++) {
    const quietAt = load.now();
    await sleep(WINDOW_MS);
    const restartAt = load.now();
    const r = await client.restart();
    const servedAt = load.now();
    log(`restart ${i + 1}: pid ${r.oldPid} → ${r.newPid} in ${(servedAt - restartAt).toFixed(0)} ms`);
    await sleep(WINDOW_MS);
    rows.push({ i: i + 1, quietAt, restartAt, servedAt });
  }
  await sleep(1000);
  const report = await load.stop();
  const table = rows.map((r) => ({ i: r.i, quiet: windowStats(report.samples, r.quietAt), restart: windowStats(report.samples, r.restartAt) }));
  // Where the slow requests of each restart fall: while the successor starts (the old router
  // alone serves), or after it took over, by 250 ms bucket from the takeover.
  for (const r of rows) {
    const slow = report.samples.filter((s) => s.sentAt >= r.restartAt && s.sentAt < r.restartAt + WINDOW_MS && s.doneAt - s.sentAt > SLOW_MS);
    const during = slow.filter((s) => s.sentAt < r.servedAt).length;
    const buckets = new Map();
    for (const s of slow.filter((x) => x.sentAt >= r.servedAt)) {
      const b = Math.floor((s.sentAt - r.servedAt) / 250) * 250;
      buckets.set(b, (buckets.get(b) ?? 0) + 1);
    }
    log(
      `restart ${r.i}: handover took ${(r.servedAt - r.restartAt).toFixed(0)} ms; slow while starting ${during}; after takeover by 250 ms: ${[...buckets]
        .sort((a, b) => a[0] - b[0])
        .map(([b, n]) => `+${b}:${n}`)
        .join(' ')}`,
    );
  }

  const cell = (s) => `${s.requests} | ${s.slow} | ${s.p99.toFixed(0)} | ${s.max.toFixed(0)} | ${s.failed}`;
  const lines = [
    '# Router restart under load',
    '',
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; Node ${process.version}; load average at the end ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; ${new Date().toISOString()}.`,
    `Command: \`node bench/router-restart.mjs ${rate} ${restarts}\`. Open-loop ${rate} req/s (test/helpers/load.ts, keep-alive) through the router`,
    `to the demo app ×3. Each row: ${WINDOW_MS / 1000} s with no restart, then the ${WINDOW_MS / 1000} s from POST /handover on. Latencies in ms; "> ${SLOW_MS}" counts requests slower than that.`,
    '',
    `| # | quiet: requests | > ${SLOW_MS} | p99 | max | failed | restart: requests | > ${SLOW_MS} | p99 | max | failed |`,
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...table.map((t) => `| ${t.i} | ${cell(t.quiet)} | ${cell(t.restart)} |`),
    '',
  ];
  const text = lines.join('\n');
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'router-restart.md'), text);
  console.log(text);
} finally {
  await client?.shutdown().catch(() => undefined);
  client?.close();
  await cleanup();
}
process.exit(0);

// The router's admin API on its hot paths — what the control plane calls on every resync and
// analysis tick: GET /traffic, GET /window, GET /identity, PUT /routes of a realistic table.
// Requests/s and p50/p99 latency at a fixed number of keep-alive connections.
//
// Run: npm run build && node bench/admin-http.mjs [LABEL=CHECKOUT ...]
//   With no argument it measures this checkout. With several (e.g. `before=/tmp/http-before
//   after=.`), each CHECKOUT's dist/src/router/main.js runs at once and they are measured in
//   short alternating slices, RUNS times with fresh processes, so that the machine's drift
//   falls on every label alike.
// 127.0.0.1 only; bounded: CONCURRENCY requests in flight, RUN_S seconds per endpoint, and the
// whole bench stops by itself after HARD_LIMIT_MS. Writes bench/results/admin-http.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchScratch, freePort, request, startProcess, stopAll, waitForHttp } from './lib/procs.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results', 'admin-http.md');

// SLUICE_BENCH_QUICK=1 shortens every run, to check the harness itself (figures meaningless).
const QUICK = process.env.SLUICE_BENCH_QUICK === '1';
const RUNS = QUICK ? 1 : 3;
const WARMUP_S = QUICK ? 0.3 : 1;
const RUN_S = QUICK ? 1 : 4;
/** RUN_S is measured in this many slices per label, alternating labels. */
const SLICES = QUICK ? 2 : 8;
/** The engine's HttpTrafficRouter keeps up to 8 sockets; a resync sends a handful at once. */
const CONCURRENCY = 4;
/** Requests sent through the router before measuring, so /window and /traffic aggregate real samples. */
const TRAFFIC_REQUESTS = QUICK ? 500 : 5000;
/** Rollouts in the route table: each a canary (main + canary listener, two revisions, rules). */
const ROLLOUTS = 8;
const HARD_LIMIT_MS = 15 * 60_000;
const ENDPOINTS = ['GET /traffic', 'GET /window', 'GET /identity', 'PUT /routes'];

const targets = (process.argv.slice(2).length > 0 ? process.argv.slice(2) : [`this=${ROOT}`]).map((arg) => {
  const m = /^([A-Za-z0-9_-]+)=(.+)$/.exec(arg);
  if (m === null) throw new Error(`argument ${arg}: use LABEL=CHECKOUT_DIR, e.g. before=/tmp/http-before`);
  const dir = resolve(m[2]);
  const main = join(dir, 'dist', 'src', 'router', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build that checkout first (npx tsc -p tsconfig.json)`);
  return { label: m[1], dir, main };
});

const { ROUTER_NODE_FLAGS } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'router', 'http-client.js')).href);
const { tmp, cleanup } = benchScratch('admin-http', HARD_LIMIT_MS);
const log = (line) => console.error(`[bench:admin-http ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** Two app instances per revision, answering from this process (cheap; the admin API is what is measured). */
async function startApps() {
  const servers = [];
  const ports = { 1: [], 2: [] };
  for (const rev of [1, 2]) {
    for (let i = 0; i < 2; i++) {
      const s = http.createServer((req, res) => {
        req.resume();
        res.end(`v${rev}`);
      });
      await new Promise((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
      ports[rev].push(s.address().port);
    }
  }
  return { ports, close: () => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))) };
}

/** A table like the engine's for ROLLOUTS canaries at 10 %: main and canary listener, header rule, sticky cookie. */
function routeTable(generation, listens, appPorts) {
  const backend = (rollout, rev) => ({
    revision: rev,
    version: `v${rev}`,
    endpoints: appPorts[rev].map((port, i) => ({ id: `${rollout}-v${rev}-${i}`, host: '127.0.0.1', port })),
  });
  const listeners = [];
  for (let i = 0; i < ROLLOUTS; i++) {
    const rollout = `bench-${i}`;
    const common = { rollout, balancer: 'round-robin', backends: [backend(rollout, 1), backend(rollout, 2)] };
    listeners.push({
      ...common,
      listen: `127.0.0.1:${listens[i].main}`,
      role: 'main',
      rules: [{ name: 'beta', header: { name: 'x-beta', exact: 'yes' }, revision: 2 }],
      split: [
        { revision: 1, weight: 90 },
        { revision: 2, weight: 10 },
      ],
      sticky: { cookie: { name: `sluice-${rollout}`, maxAgeSeconds: 3600 } },
    });
    listeners.push({ ...common, listen: `127.0.0.1:${listens[i].canary}`, role: 'canary', rules: [], split: [{ revision: 2, weight: 100 }] });
  }
  return { generation, listeners };
}

/** utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * Closed loop: CONCURRENCY keep-alive connections, each sending the next request when its
 * answer is in, for `seconds`. Also the router's CPU time over the slice: on a busy machine
 * the CPU a request costs varies far less than the wall-clock rate.
 */
async function measure(router, make, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies = [];
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  const one = ({ method, path, body }) =>
    new Promise((resolveOne, reject) => {
      const headers = { authorization: `Bearer ${router.token}` };
      if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      const req = http.request({ host: '127.0.0.1', port: router.adminPort, method, path, agent, headers, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => resolveOne(res.statusCode));
      });
      req.on('timeout', () => req.destroy(new Error(`timeout on ${method} ${path}`)));
      req.on('error', reject);
      req.end(body);
    });
  const worker = async () => {
    while (performance.now() < until) {
      const t0 = performance.now();
      const status = await one(make());
      latencies.push(performance.now() - t0);
      if (status !== 200) errors++;
    }
  };
  const ticks0 = cpuTicks(router.pid);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  const ticks = cpuTicks(router.pid) - ticks0;
  agent.destroy();
  if (errors > 0) throw new Error(`${router.label}: ${errors} answers were not 200`);
  return { latencies, elapsed, ticks };
}

/** One router process from `target`, loaded with the table and some traffic, and the requests to measure on it. */
async function startRouter(target, run, appPorts) {
  const stateDir = join(tmp, `${target.label}-${run}`);
  const adminPort = await freePort();
  const child = startProcess('node', [...ROUTER_NODE_FLAGS, target.main, '--state-dir', stateDir, '--admin', `127.0.0.1:${adminPort}`], {
    cwd: target.dir,
    logFile: join(tmp, `${target.label}-${run}.log`),
  });
  await waitForHttp(adminPort, '/healthz', 10_000, child);
  const token = readFileSync(join(stateDir, 'router', 'admin-token'), 'utf8').trim();
  const listens = [];
  for (let i = 0; i < ROLLOUTS; i++) listens.push({ main: await freePort(), canary: await freePort() });
  let generation = 1;
  const first = JSON.stringify(routeTable(generation, listens, appPorts));
  const applied = await request(adminPort, '/routes', {
    method: 'PUT',
    body: first,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  });
  if (applied.status !== 200) throw new Error(`${target.label}: PUT /routes answered ${applied.status}: ${applied.body}`);
  await waitForHttp(listens[0].main, '/', 5000);
  // Traffic through the first rollout, so /window and /traffic have samples of both revisions.
  await sendTraffic(listens[0].main, TRAFFIC_REQUESTS);
  const sinceMs = Date.now() - 60_000;
  const requests = {
    'GET /traffic': () => ({ method: 'GET', path: '/traffic' }),
    'GET /window': () => ({ method: 'GET', path: `/window?rollout=bench-0&revision=2&sinceMs=${sinceMs}&role=main` }),
    'GET /identity': () => ({ method: 'GET', path: '/identity' }),
    // The engine sends the next generation each time; the listeners stay, so this is the
    // steady-state resync (parse, validate, compare, persist), not opening sockets.
    'PUT /routes': () => ({ method: 'PUT', path: '/routes', body: JSON.stringify(routeTable(++generation, listens, appPorts)) }),
  };
  return { label: target.label, adminPort, token, pid: child.pid, requests, tableBytes: Buffer.byteLength(first) };
}

async function sendTraffic(port, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let sent = 0;
  const worker = async () => {
    while (sent < n) {
      sent++;
      await new Promise((r, reject) => http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => res.resume().on('end', r)).on('error', reject));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  agent.destroy();
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const apps = await startApps();
/** label → one summary per run: endpoint → {rps, p50, p99, cpuUs}. */
const results = Object.fromEntries(targets.map((t) => [t.label, []]));
let tableBytes = 0;
try {
  for (let run = 1; run <= RUNS; run++) {
    const routers = [];
    for (const target of targets) routers.push(await startRouter(target, run, apps.ports));
    tableBytes = routers[0].tableBytes;
    const summary = Object.fromEntries(targets.map((t) => [t.label, {}]));
    for (const e of ENDPOINTS) {
      for (const r of routers) await measure(r, r.requests[e], WARMUP_S);
      const acc = Object.fromEntries(routers.map((r) => [r.label, { latencies: [], elapsed: 0, ticks: 0 }]));
      // Short slices, alternating labels (and their order), so that the machine's drift falls on each alike.
      for (let slice = 0; slice < SLICES; slice++) {
        for (const r of slice % 2 === 0 ? routers : [...routers].reverse()) {
          const m = await measure(r, r.requests[e], RUN_S / SLICES);
          const a = acc[r.label];
          for (const l of m.latencies) a.latencies.push(l);
          a.elapsed += m.elapsed;
          a.ticks += m.ticks;
        }
      }
      for (const [label, a] of Object.entries(acc)) {
        a.latencies.sort((x, y) => x - y);
        const q = (p) => a.latencies[Math.min(a.latencies.length - 1, Math.floor(p * a.latencies.length))];
        summary[label][e] = { rps: a.latencies.length / a.elapsed, p50: q(0.5), p99: q(0.99), cpuUs: (a.ticks * 1e6) / CLK_TCK / a.latencies.length };
      }
      log(
        `run ${run}/${RUNS} ${e}: ${Object.entries(summary)
          .map(([l, x]) => `${l} ${Math.round(x[e].rps)}/s p99 ${x[e].p99.toFixed(2)} ms ${x[e].cpuUs.toFixed(0)} µs CPU`)
          .join(' | ')}`,
      );
    }
    for (const t of targets) results[t.label].push(summary[t.label]);
    await stopAll();
  }
} finally {
  await apps.close();
  await cleanup();
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const lines = [
  '# Router admin API: hot paths',
  '',
  `Written by \`node bench/admin-http.mjs ${process.argv.slice(2).join(' ')}\`${QUICK ? ' with SLUICE_BENCH_QUICK=1 (a harness check: figures meaningless)' : ''} on ${new Date().toISOString().slice(0, 10)}.`,
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${os.platform()} ${os.release()}.`,
  '',
  `The router runs as its own process (\`node ${ROUTER_NODE_FLAGS.join(' ')} dist/src/router/main.js\`) with a table of ${ROLLOUTS} canary rollouts`,
  `(${ROLLOUTS * 2} listeners, two revisions of two instances each, a header rule, a sticky cookie; ${(tableBytes / 1024).toFixed(1)} KiB of JSON) and ${TRAFFIC_REQUESTS} requests`,
  `of traffic already through one of them. Each endpoint: ${CONCURRENCY} keep-alive connections in a closed loop, ${WARMUP_S} s warm-up, ${RUN_S} s measured`,
  `in ${SLICES} slices per label, the labels alternating slice by slice (every label's router runs at once), so that the machine's drift falls on each alike.`,
  `\`PUT /routes\` sends the next generation of the same table each time (the engine's resync: parse, validate, compare, persist).`,
  `CPU µs/req is the router process's user + system time over the slices divided by the requests answered: on a busy machine it varies far less than req/s.`,
  `${RUNS} run(s), fresh router processes each; the table shows the median of the runs, then every run.`,
  '',
  '| endpoint | ' + targets.map((t) => `${t.label}: req/s | p50 ms | p99 ms | CPU µs/req`).join(' | ') + ' |',
  '|---|' + targets.map(() => '---:|---:|---:|---:').join('|') + '|',
];
for (const e of ENDPOINTS) {
  const cells = targets.map((t) => {
    const rs = results[t.label].map((r) => r[e]);
    return `${Math.round(median(rs.map((r) => r.rps)))} | ${median(rs.map((r) => r.p50)).toFixed(2)} | ${median(rs.map((r) => r.p99)).toFixed(2)} | ${Math.round(median(rs.map((r) => r.cpuUs)))}`;
  });
  lines.push(`| ${e} | ${cells.join(' | ')} |`);
}
lines.push('', 'Every run (req/s, p99 ms, CPU µs/req):', '');
for (let i = 0; i < RUNS; i++) {
  for (const t of targets) {
    const r = results[t.label][i];
    lines.push(
      `- run ${i + 1}, ${t.label}: ${ENDPOINTS.map((e) => `${e} ${Math.round(r[e].rps)}/s, ${r[e].p99.toFixed(2)}, ${Math.round(r[e].cpuUs)}`).join('; ')}`,
    );
  }
}
const text = lines.join('\n') + '\n';
mkdirSync(dirname(RESULTS), { recursive: true });
writeFileSync(RESULTS, text);
console.log(text);
console.error(`written to ${relative(process.cwd(), RESULTS)}`);

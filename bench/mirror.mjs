// Latency isolation of request mirroring: the primary's latency through the builtin router
// with 100 % of requests copied to a shadow revision 5× slower than the primary (10 ms vs
// 50 ms), against the same without mirroring. Interleaved runs (plain, mirrored, mirrored,
// plain…), open-loop at a fixed rate, median of the runs; prints a markdown table and
// writes bench/results/mirror.md. Run: npm run bench:mirror (builds first).
// 127.0.0.1 only, bounded in rate and time (about 2 minutes), stops every process it
// started (also on Ctrl-C). SLUICE_BENCH_QUICK=1 shortens it (figures meaningless).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchScratch, freePort, request, run, sleep, startProcess, waitForHttp } from './lib/procs.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results', 'mirror.md');
const ROUTER_MAIN = join(ROOT, 'dist', 'src', 'router', 'main.js');
const DEMO_APP = join(ROOT, 'examples', 'demo-app', 'server.js');
const OPEN_LOOP = join(ROOT, 'bench', 'lib', 'open-loop.mjs');

const QUICK = process.env.SLUICE_BENCH_QUICK === '1';
/** Rounds; each runs both targets once, in alternating order. */
const ROUNDS = QUICK ? 1 : 5;
const WARMUP_S = QUICK ? 1 : 2;
const RUN_S = QUICK ? 2 : 8;
const RATE = Number(process.env.SLUICE_BENCH_MIRROR_RATE ?? 500);
const PRIMARY_MS = 10;
const SHADOW_MS = 50;
const HARD_LIMIT_MS = 10 * 60_000;

if (!existsSync(ROUTER_MAIN)) {
  console.error(`${relative(process.cwd(), ROUTER_MAIN)} is missing: run \`npm run build\` first (or \`npm run bench:mirror\`).`);
  process.exit(1);
}
if (!(RATE > 0 && RATE <= 5000)) throw new Error('SLUICE_BENCH_MIRROR_RATE must be in 1..5000');

const { tmp, cleanup } = benchScratch('mirror', HARD_LIMIT_MS);

async function startApp(version, latencyMs) {
  const port = await freePort();
  const child = startProcess('node', [DEMO_APP], {
    env: { PORT: String(port), VERSION: version, LATENCY_MS: String(latencyMs) },
    logFile: join(tmp, `${version}.log`),
  });
  await waitForHttp(port, '/healthz', 10_000, child);
  return { id: version, host: '127.0.0.1', port };
}

function openLoop(port) {
  const args = [OPEN_LOOP, '--port', String(port), '--rate', String(RATE), '--seconds', String(RUN_S), '--warmup', String(WARMUP_S), '--path', '/item'];
  return run('node', args, (RUN_S + WARMUP_S + 30) * 1000).then((r) => {
    if (r.code !== 0) throw new Error(`open-loop generator failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  });
}

/** The router's admin token (src/router/credential.ts), created before it answered /healthz. */
let adminAuth = {};

async function metric(adminPort, name, labels) {
  const { body } = await request(adminPort, '/metrics', { headers: adminAuth });
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of body.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.indexOf('}');
    const set = line.slice(name.length + 1, close).split(',');
    if (want.every((w) => set.includes(w))) return Number(line.slice(close + 2));
  }
  return 0;
}

/** CPU time (user + system) a process has used, in ms, from /proc/PID/stat (clock ticks of 10 ms). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '—');

async function main() {
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
  const primary = await startApp('v1', PRIMARY_MS);
  const shadow = await startApp('v2', SHADOW_MS);
  const adminPort = await freePort();
  const router = startProcess('node', [ROUTER_MAIN, '--state-dir', join(tmp, 'router-state'), '--admin', `127.0.0.1:${adminPort}`], {
    logFile: join(tmp, 'router.log'),
  });
  await waitForHttp(adminPort, '/healthz', 10_000, router);
  const plainPort = await freePort();
  const mirroredPort = await freePort();
  const backends = [
    { revision: 1, version: 'v1', endpoints: [primary] },
    { revision: 2, version: 'v2', endpoints: [shadow] },
  ];
  const base = { rollout: 'bench', role: 'main', balancer: 'round-robin', rules: [], split: [{ revision: 1, weight: 100 }], backends };
  const routes = {
    generation: 1,
    listeners: [
      { ...base, listen: `127.0.0.1:${plainPort}` },
      {
        ...base,
        listen: `127.0.0.1:${mirroredPort}`,
        mirrors: [{ name: 'shadow', revision: 2, percent: 100, queueLimit: 10_000, maxBodyBytes: 65_536, compare: { ignorePaths: ['$.pid', '$.version'] } }],
      },
    ],
  };
  adminAuth = { authorization: `Bearer ${readFileSync(join(tmp, 'router-state', 'router', 'admin-token'), 'utf8').trim()}` };
  const put = await request(adminPort, '/routes', {
    method: 'PUT',
    body: JSON.stringify(routes),
    headers: { 'content-type': 'application/json', ...adminAuth },
  });
  if (put.status !== 200) throw new Error(`PUT /routes: ${put.status} ${put.body}`);

  const targets = [
    { key: 'plain', label: 'router, no mirroring', port: plainPort, runs: [] },
    { key: 'mirrored', label: `router, 100 % mirrored to a ${SHADOW_MS} ms shadow (compared)`, port: mirroredPort, runs: [] },
  ];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const t of order) {
      const cpu0 = cpuMs(router.pid);
      const r = await openLoop(t.port);
      // Router CPU per client request (warm-up included): robust to noise from other work.
      r.routerCpuMsPerRequest = (cpuMs(router.pid) - cpu0) / r.sent;
      t.runs.push(r);
      console.error(
        `round ${round}/${ROUNDS} ${t.key}: sent ${r.sent}, p50 ${f(r.p50Ms)} ms, p99 ${f(r.p99Ms)} ms, router CPU ${f(r.routerCpuMsPerRequest * 1000, 0)} µs/request, failed ${r.errors + r.non2xx}`,
      );
    }
    await sleep(200);
  }
  const labels = { rollout: 'bench', revision: 2, route: 'shadow' };
  const copies = await metric(adminPort, 'sluice_mirror_requests_total', labels);
  const dropped = await metric(adminPort, 'sluice_mirror_dropped_total', labels);
  const compared = await metric(adminPort, 'sluice_mirror_compared_total', labels);
  const mismatches = await metric(adminPort, 'sluice_mirror_mismatches_total', labels);

  const agg = (t) => ({
    p50: median(t.runs.map((r) => r.p50Ms)),
    p90: median(t.runs.map((r) => r.p90Ms)),
    p99: median(t.runs.map((r) => r.p99Ms)),
    sendRate: median(t.runs.map((r) => r.sendRate)),
    cpuUs: median(t.runs.map((r) => r.routerCpuMsPerRequest * 1000)),
    failed: t.runs.reduce((s, r) => s + r.errors + r.non2xx, 0),
    p99s: t.runs.map((r) => f(r.p99Ms)).join(', '),
  });
  const plain = agg(targets[0]);
  const mirrored = agg(targets[1]);
  const ratio = mirrored.p99 / plain.p99;
  const bound = plain.p99 + Math.max(0.1 * plain.p99, 3);
  const out = [
    '# Mirroring: latency isolation of the primary',
    '',
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.split(' ').slice(0, 2).join(' ') ?? 'CPU'}, Node ${process.version}; ${new Date().toISOString()}.`,
    `Load average when the benchmark started: ${load} (other work on the machine shows up as noise).`,
    `Command: \`node bench/mirror.mjs\` (\`npm run bench:mirror\`)${QUICK ? ' with SLUICE_BENCH_QUICK=1 (figures meaningless)' : ''}.`,
    '',
    `Primary: \`examples/demo-app\` answering after ${PRIMARY_MS} ms; shadow: the same after ${SHADOW_MS} ms (5× slower), each its own process. ` +
      `Router (its own process) with two listeners on the same primary: one plain, one copying 100 % of requests to the shadow and comparing the answers ` +
      `(ignoring \`$.pid\`, \`$.version\`). Load: \`bench/lib/open-loop.mjs\` at ${RATE} req/s, ${WARMUP_S} s warm-up then ${RUN_S} s measured per run; ` +
      `${ROUNDS} rounds, each running both listeners, order alternating; figures are medians of the per-run values.`,
    '',
    '| target | sent (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | p99 of each run (ms) | router CPU per request (µs) | failed |',
    '|---|---:|---:|---:|---:|---|---:|---:|',
    `| ${targets[0].label} | ${f(plain.sendRate, 0)} | ${f(plain.p50)} | ${f(plain.p90)} | ${f(plain.p99)} | ${plain.p99s} | ${f(plain.cpuUs, 0)} | ${plain.failed} |`,
    `| ${targets[1].label} | ${f(mirrored.sendRate, 0)} | ${f(mirrored.p50)} | ${f(mirrored.p90)} | ${f(mirrored.p99)} | ${mirrored.p99s} | ${f(mirrored.cpuUs, 0)} | ${mirrored.failed} |`,
    '',
    `| p99 mirrored / plain | goal: p99 within max(10 %, 3 ms) of plain | copies sent | dropped | compared | mismatches |`,
    '|---:|---|---:|---:|---:|---:|',
    `| ${f(ratio, 3)} | ${mirrored.p99 <= bound ? 'met' : '**NOT met**'} (${f(mirrored.p99)} vs bound ${f(bound)} ms) | ${copies} | ${dropped} | ${compared} | ${mismatches} |`,
    '',
    'A copy costs the router about what proxying a request costs (it is one more upstream request, plus the comparison), so at 100 % the router does about twice the work: ' +
      'the primary never waits for the copy, but on a machine with no idle CPU the extra work shows in its tail. The CPU column measures that cost independently of the noise.',
    '',
  ].join('\n');
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, out);
  console.log(out);
  console.log(`written to ${relative(process.cwd(), RESULTS)}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => cleanup());

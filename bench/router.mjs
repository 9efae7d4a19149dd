// The builtin router beside a direct connection and nginx: throughput and latency at 50
// connections, added latency at a fixed rate, and the router's memory. Writes
// bench/results/router.md and prints it. Run: npm run build && node bench/router.mjs
// 127.0.0.1 only, bounded in rate and time (about 7 minutes), stops by itself, and stops
// every process it started (also on Ctrl-C).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { nginxConfig } from './lib/nginx.mjs';
import { benchScratch, freePort, request, rssMiB, run, sleep, startProcess, waitForHttp, which } from './lib/procs.mjs';
import { runWrk, wrkArgs, wrkCommandLine, WRK_CONNECTIONS } from './lib/wrk.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results', 'router.md');
const ROUTER_MAIN = join(ROOT, 'dist', 'src', 'router', 'main.js');
const DEMO_APP = join(ROOT, 'examples', 'demo-app', 'server.js');
const OPEN_LOOP = join(ROOT, 'bench', 'lib', 'open-loop.mjs');

// SLUICE_BENCH_QUICK=1 shortens every run, to check the harness itself (figures meaningless).
const QUICK = process.env.SLUICE_BENCH_QUICK === '1';
const RUNS = QUICK ? 1 : 3;
const WARMUP_S = QUICK ? 1 : 2;
const RUN_S = QUICK ? 2 : 10;
/** Fixed rates tried in order for the added-latency runs; the first one the machine keeps is used. */
const RATES = [2000, 1000, 500];
const MANY_LISTENERS = 100;
const REQUESTS_PER_MANY_LISTENER = 200;
/** The whole benchmark stops by itself after this, whatever happens. */
const HARD_LIMIT_MS = 20 * 60_000;
/**
 * SLUICE_BENCH_ONLY=throughput|latency|memory (comma-separated) runs only those sections, to
 * look at one figure quickly; the results file then says so and is not a full run. Unset:
 * every section (the default, what `npm run bench:router` records).
 */
const ONLY = new Set(
  (process.env.SLUICE_BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
for (const s of ONLY)
  if (!['throughput', 'latency', 'memory'].includes(s)) throw new Error(`SLUICE_BENCH_ONLY: unknown section ${s} (throughput, latency, memory)`);
const runs = (section) => ONLY.size === 0 || ONLY.has(section);

/** Three header rules ahead of the split; the load never matches them (it sends other values). */
const RULES = [
  { name: 'exact', header: 'x-rule-a', exact: 'exact-a' },
  { name: 'prefix', header: 'x-rule-b', prefix: 'beta' },
  { name: 'regex', header: 'x-rule-c', regex: 'nomatch-[a-z]+' },
];
const RULE_HEADERS = ['x-rule-a: none', 'x-rule-b: none', 'x-rule-c: none'];

if (!existsSync(ROUTER_MAIN)) {
  console.error(`${relative(process.cwd(), ROUTER_MAIN)} is missing: run \`npm run build\` first (or \`npm run bench:router\`).`);
  process.exit(1);
}

/** The router runs with the options the engine gives it (startRouterProcess). */
const { ROUTER_NODE_FLAGS } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'router', 'http-client.js')).href);

const { tmp, cleanup } = benchScratch('router', HARD_LIMIT_MS);

const log = (line) => console.error(`[bench:router ${new Date().toISOString().slice(11, 19)}] ${line}`);
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const loadAtStart = os.loadavg();
const wrkPath = await which('wrk');
const nginxPath = await which('nginx');
const nginxVersion = nginxPath === undefined ? undefined : /nginx version: (\S+)/.exec((await run(nginxPath, ['-v'], 5000)).stderr)?.[1];
const missing = [];
if (wrkPath === undefined) missing.push('wrk');
if (nginxPath === undefined) missing.push('nginx');
if (missing.length > 0) {
  console.error(
    `\n*** ${missing.join(' and ')} not found: ${missing.includes('wrk') ? 'the throughput rows' : ''}${missing.length === 2 ? ' and ' : ''}${missing.includes('nginx') ? 'the nginx rows' : ''} will be skipped.\n` +
      `*** Install them from Debian with:  sudo apt-get install wrk nginx-light\n`,
  );
}

const results = { throughput: new Map(), fixed: new Map(), rss: {}, fixedRate: undefined, fixedNote: '' };
const commands = { wrk: [], openLoop: [] };
let nginxText = '';
let routerCommand = '';
let table;

try {
  // App instances: two per revision, like a canary's stable and canary sets.
  const apps = { 1: [], 2: [] };
  for (const rev of [1, 2]) {
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const child = startProcess('node', [DEMO_APP], { env: { PORT: String(port), VERSION: `v${rev}` }, logFile: join(tmp, `app-v${rev}-${i}.log`) });
      apps[rev].push({ port, child, id: `v${rev}-${i}` });
    }
  }
  for (const a of [...apps[1], ...apps[2]]) await waitForHttp(a.port, '/healthz', 10_000, a.child);
  log(`demo app: v1 on ${apps[1].map((a) => a.port).join(', ')}, v2 on ${apps[2].map((a) => a.port).join(', ')}`);

  // The router, as its own process, driven through its admin API like the engine does.
  const adminPort = await freePort();
  const routerArgs = [...ROUTER_NODE_FLAGS, ROUTER_MAIN, '--state-dir', join(tmp, 'router-state'), '--admin', `127.0.0.1:${adminPort}`];
  routerCommand = `node ${[...ROUTER_NODE_FLAGS, ''].join(' ')}${relative(ROOT, ROUTER_MAIN)} --state-dir TMP/router-state --admin 127.0.0.1:${adminPort}`;
  const router = startProcess('node', routerArgs, { cwd: ROOT, logFile: join(tmp, 'router.log') });
  await waitForHttp(adminPort, '/healthz', 10_000, router);

  const listen = { one: await freePort(), split: await freePort(), rules: await freePort() };
  const backend = (rev, prefix = '') => ({
    revision: rev,
    version: `v${rev}`,
    endpoints: apps[rev].map((a) => ({ id: `${prefix}${a.id}`, host: '127.0.0.1', port: a.port })),
  });
  const split = [
    { revision: 1, weight: 90 },
    { revision: 2, weight: 10 },
  ];
  const listener = (port, rollout, rules, withSplit) => ({
    listen: `127.0.0.1:${port}`,
    rollout,
    role: 'main',
    balancer: 'round-robin',
    rules,
    split: withSplit ? split : [{ revision: 1, weight: 100 }],
    backends: withSplit ? [backend(1), backend(2)] : [backend(1)],
  });
  const routerRules = RULES.map((r) => ({
    name: r.name,
    header: { name: r.header, ...(r.exact !== undefined ? { exact: r.exact } : r.prefix !== undefined ? { prefix: r.prefix } : { regex: r.regex }) },
    revision: 2,
  }));
  await putRoutes(adminPort, {
    generation: 1,
    listeners: [
      listener(listen.one, 'bench-one', [], false),
      listener(listen.split, 'bench-split', [], true),
      listener(listen.rules, 'bench-rules', routerRules, true),
    ],
  });
  for (const p of Object.values(listen)) await waitForHttp(p, '/', 5000);
  log(`router pid ${router.pid}: one revision on ${listen.one}, 90/10 on ${listen.split}, 3 rules + 90/10 on ${listen.rules}`);

  // nginx with its own config in the temp dir, one worker process like the router.
  let nginxListen;
  if (nginxPath !== undefined) {
    nginxListen = { one: await freePort(), split: await freePort(), rules: await freePort() };
    const dir = join(tmp, 'nginx');
    mkdirSync(dir, { recursive: true });
    const conf = nginxConfig(dir, { rev1: apps[1].map((a) => a.port), rev2: apps[2].map((a) => a.port), listen: nginxListen, rules: RULES });
    nginxText = conf.text.replaceAll(tmp, 'TMP');
    const check = await run(nginxPath, ['-t', ...conf.args], 10_000);
    if (check.code !== 0) throw new Error(`nginx -t refused the generated config:\n${check.stderr}`);
    const nginx = startProcess(nginxPath, conf.args, { logFile: join(dir, 'stdout.log') });
    for (const p of Object.values(nginxListen)) await waitForHttp(p, '/', 5000, nginx);
    log(`nginx pid ${nginx.pid}: one revision on ${nginxListen.one}, 90/10 on ${nginxListen.split}, 3 rules + 90/10 on ${nginxListen.rules}`);
  }

  await sleep(1000);
  results.rss.idle = rssMiB(router.pid);

  // Closed loop at 50 connections, interleaved: every target once per round.
  const targets = [
    { key: 'direct', label: 'direct to one app instance', port: apps[1][0].port },
    { key: 'router-one', label: 'sluice router, one revision', port: listen.one, router: true, nginxKey: 'nginx-one' },
    { key: 'router-split', label: 'sluice router, 90/10 split', port: listen.split, router: true, nginxKey: 'nginx-split' },
    { key: 'router-rules', label: 'sluice router, 3 header rules + 90/10', port: listen.rules, router: true, headers: RULE_HEADERS, nginxKey: 'nginx-rules' },
  ];
  if (nginxListen !== undefined) {
    targets.push(
      { key: 'nginx-one', label: 'nginx, one revision', port: nginxListen.one },
      { key: 'nginx-split', label: 'nginx, 90/10 split', port: nginxListen.split },
      { key: 'nginx-rules', label: 'nginx, 3 header rules + 90/10', port: nginxListen.rules, headers: RULE_HEADERS },
    );
  }
  const underLoad = [];
  if (wrkPath !== undefined && runs('throughput')) {
    for (const t of targets) {
      commands.wrk.push(
        `${t.label}: \`${wrkCommandLine(wrkArgs(t.port, WARMUP_S, t.headers))}\` (warm-up, discarded), then \`${wrkCommandLine(wrkArgs(t.port, RUN_S, t.headers))}\``,
      );
      results.throughput.set(t.key, { target: t, runs: [] });
    }
    for (let round = 1; round <= RUNS; round++) {
      for (const t of targets) {
        await runWrk(t.port, WARMUP_S, t.headers);
        let peak = 0;
        const sampler = t.router ? setInterval(() => (peak = Math.max(peak, rssMiB(router.pid))), 250) : undefined;
        const r = await runWrk(t.port, RUN_S, t.headers);
        if (sampler !== undefined) {
          clearInterval(sampler);
          peak = Math.max(peak, rssMiB(router.pid));
          underLoad.push(peak);
        }
        results.throughput.get(t.key).runs.push(r);
        log(
          `round ${round}/${RUNS} ${t.label}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms${r.errors + r.non2xx > 0 ? `, ${r.errors} socket errors, ${r.non2xx} non-2xx` : ''}`,
        );
        await sleep(500);
      }
    }
  }

  // Open loop at a fixed rate: the router's added latency over a direct connection.
  const fixedTargets = targets.filter((t) => t.key === 'direct' || t.key === 'router-one' || t.key === 'nginx-one');
  for (const rate of runs('latency') ? RATES : []) {
    const probes = [];
    for (const t of fixedTargets) probes.push(await openLoop(t.port, rate, 3, 1));
    const kept = probes.every((p) => keeps(p, rate));
    if (kept) {
      results.fixedRate = rate;
      break;
    }
    results.fixedNote += `${rate} req/s was not kept in a 3 s probe (${probes.map((p, i) => `${fixedTargets[i].key}: sent ${p.sendRate.toFixed(0)}/s, ${p.errors} errors, p99 ${p.p99Ms?.toFixed(1)} ms`).join('; ')}). `;
    log(`fixed rate ${rate} req/s not kept; trying a lower one`);
  }
  if (results.fixedRate !== undefined) {
    for (const t of fixedTargets) {
      commands.openLoop.push(
        `${t.label}: \`node bench/lib/open-loop.mjs --port ${t.port} --rate ${results.fixedRate} --seconds ${RUN_S} --warmup ${WARMUP_S}\``,
      );
      results.fixed.set(t.key, { target: t, runs: [] });
    }
    for (let round = 1; round <= RUNS; round++) {
      for (const t of fixedTargets) {
        let peak = 0;
        const sampler = t.router ? setInterval(() => (peak = Math.max(peak, rssMiB(router.pid))), 250) : undefined;
        const r = await openLoop(t.port, results.fixedRate, RUN_S, WARMUP_S);
        if (sampler !== undefined) {
          clearInterval(sampler);
          underLoad.push(peak);
        }
        results.fixed.get(t.key).runs.push(r);
        log(
          `round ${round}/${RUNS} ${t.label} at ${results.fixedRate} req/s: p50 ${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms (sent ${r.sendRate.toFixed(0)}/s, generator lag ≤ ${r.maxLagMs.toFixed(1)} ms, ${r.errors} errors, ${r.non2xx} non-2xx)`,
        );
        await sleep(500);
      }
    }
  }
  results.rss.loadPeak = underLoad.length > 0 ? Math.max(...underLoad) : NaN;
  results.rss.loadMedianPeak = median(underLoad);

  // 100 rollouts: one listener each (one revision, two instances), replacing the table.
  const many = [];
  const taken = new Set(Object.values(listen));
  for (let i = 0; i < (runs('memory') ? MANY_LISTENERS : 0); i++) {
    // The kernel may hand out a port twice in a row once it is closed again: skip repeats.
    let port = await freePort();
    while (taken.has(port)) port = await freePort();
    taken.add(port);
    const name = `bench-${String(i).padStart(3, '0')}`;
    many.push({ port, l: { ...listener(port, name, [], false), backends: [backend(1, `${name}-`)] } });
  }
  if (runs('memory')) {
    await putRoutes(adminPort, { generation: 2, listeners: many.map((m) => m.l) });
    await sleep(3000);
    results.rss.manyIdle = rssMiB(router.pid);
    for (const m of many) await burst(m.port, REQUESTS_PER_MANY_LISTENER, 10);
    await sleep(3000);
    results.rss.manyServed = rssMiB(router.pid);
  }
  const mib = (x) => (Number.isFinite(x) ? x.toFixed(1) : '—');
  log(
    `router RSS: idle ${mib(results.rss.idle)} MiB, peak under load ${mib(results.rss.loadPeak)} MiB, ${MANY_LISTENERS} listeners ${mib(results.rss.manyIdle)} MiB idle, ${mib(results.rss.manyServed)} MiB after ${REQUESTS_PER_MANY_LISTENER} requests each`,
  );
  const routerLog = readFileSync(join(tmp, 'router.log'), 'utf8');
  if (/error/i.test(routerLog)) log(`router log mentions errors:\n${routerLog}`);

  if (ONLY.size > 0) log(`SLUICE_BENCH_ONLY=${[...ONLY].join(',')}: the other sections were skipped`);
  table = render({ wrkMissing: wrkPath === undefined, nginxMissing: nginxPath === undefined });
} finally {
  await cleanup();
}

mkdirSync(dirname(RESULTS), { recursive: true });
writeFileSync(RESULTS, table);
console.log(table);
console.error(`written to ${relative(process.cwd(), RESULTS)}`);

async function putRoutes(adminPort, routes) {
  // The router created its admin token (src/router/credential.ts) before it answered /healthz.
  const token = readFileSync(join(tmp, 'router-state', 'router', 'admin-token'), 'utf8').trim();
  const r = await request(adminPort, '/routes', {
    method: 'PUT',
    body: JSON.stringify(routes),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  });
  if (r.status !== 200) throw new Error(`PUT /routes answered ${r.status}: ${r.body}`);
}

function openLoop(port, rate, seconds, warmup) {
  const args = [OPEN_LOOP, '--port', String(port), '--rate', String(rate), '--seconds', String(seconds), '--warmup', String(warmup)];
  return run('node', args, (seconds + warmup + 30) * 1000).then((r) => {
    if (r.code !== 0) throw new Error(`open-loop generator failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  });
}

/**
 * The generator sent on schedule and every request got a 2xx. A slow tail is not a reason
 * to lower the rate: it is what the added-latency rows are there to show.
 */
function keeps(p, rate) {
  return p.sendRate >= rate * 0.97 && p.errors === 0 && p.non2xx === 0 && p.done === p.sent;
}

/** n keep-alive GETs to one port, `concurrency` at a time. */
async function burst(port, n, concurrency) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const one = () =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`127.0.0.1:${port} answered ${res.statusCode}`))));
      });
      req.on('timeout', () => req.destroy(new Error(`timeout on 127.0.0.1:${port}`)));
      req.on('error', reject);
    });
  const worker = async () => {
    while (next++ < n) await one();
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
}

function render({ wrkMissing, nginxMissing }) {
  const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '—');
  const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '—');
  const pct = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${((100 * a) / b).toFixed(0)} %` : '—');
  const tp = (key) => {
    const e = results.throughput.get(key);
    if (e === undefined) return undefined;
    return {
      rps: median(e.runs.map((r) => r.rps)),
      p50: median(e.runs.map((r) => r.p50Ms)),
      p99: median(e.runs.map((r) => r.p99Ms)),
      runs: e.runs.map((r) => r.rps.toFixed(0)).join(' / '),
      bad: e.runs.reduce((s, r) => s + r.errors + r.non2xx, 0),
      label: e.target.label,
      nginxKey: e.target.nginxKey,
    };
  };
  const fx = (key) => {
    const e = results.fixed.get(key);
    if (e === undefined) return undefined;
    return {
      p50: median(e.runs.map((r) => r.p50Ms)),
      p90: median(e.runs.map((r) => r.p90Ms)),
      p99: median(e.runs.map((r) => r.p99Ms)),
      sent: median(e.runs.map((r) => r.sendRate)),
      lag: Math.max(...e.runs.map((r) => r.maxLagMs)),
      bad: e.runs.reduce((s, r) => s + r.errors + r.non2xx, 0),
      label: e.target.label,
    };
  };
  const cpus = os.cpus();
  const out = [
    '# Router benchmark: direct, sluice router, nginx',
    '',
    `Machine: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}; Node ${process.version}; ${nginxVersion ? `${nginxVersion}; ` : ''}wrk ${wrkPath ? 'from Debian' : 'missing'}; ${new Date().toISOString()}.`,
    ...(ONLY.size > 0 ? [`**Partial run: SLUICE_BENCH_ONLY=${[...ONLY].join(',')}; the other sections were skipped (their rows show —).**`, ''] : []),
    `Load average when the benchmark started: ${loadAtStart.map((x) => x.toFixed(2)).join(', ')} (other work on the machine shows up as noise).`,
    `Command: \`node bench/router.mjs\` (\`npm run bench:router\`). Every figure is the median of ${RUNS} runs; the targets are run interleaved (each round runs every target once), ${WARMUP_S} s warm-up (discarded) then ${RUN_S} s measured.`,
    'App: `examples/demo-app/server.js` (≈60-byte JSON answers), two instances per revision. The proxies balance over two instances; "direct" is one instance, so on two cores it is not an upper bound for a proxy in front of two.',
    '',
  ];
  if (wrkMissing) out.push('**Throughput rows skipped: `wrk` is not installed (`sudo apt-get install wrk nginx-light`).**', '');
  if (nginxMissing) out.push('**nginx rows skipped: `nginx` is not installed (`sudo apt-get install wrk nginx-light`).**', '');

  if (!wrkMissing) {
    const keys = ['direct', 'router-one', 'router-split', 'router-rules', 'nginx-one', 'nginx-split', 'nginx-rules'].filter((k) => results.throughput.has(k));
    const direct = tp('direct');
    out.push(
      `## Throughput and latency at ${WRK_CONNECTIONS} connections (closed loop, keep-alive, wrk, 1 thread)`,
      '',
      '| target | req/s | p50 (ms) | p99 (ms) | req/s of the 3 runs | failed | req/s vs direct | req/s vs nginx (same routing) | p50 vs nginx | p99 vs nginx |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const k of keys) {
      const r = tp(k);
      const n = r.nginxKey !== undefined ? tp(r.nginxKey) : k.startsWith('nginx') ? r : undefined;
      out.push(
        `| ${r.label} | ${f(r.rps)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${r.runs} | ${r.bad} | ${pct(r.rps, direct.rps)} | ${n ? pct(r.rps, n.rps) : '—'} | ${n ? ratio(r.p50, n.p50) : '—'} | ${n ? ratio(r.p99, n.p99) : '—'} |`,
      );
    }
    out.push('');
  }

  out.push(`## Added latency at a fixed rate (open loop)`, '');
  if (results.fixedRate === undefined) out.push(`Not measured: ${results.fixedNote}`, '');
  else {
    if (results.fixedRate !== RATES[0])
      out.push(`**The machine could not keep ${RATES[0]} req/s; measured at ${results.fixedRate} req/s.** ${results.fixedNote}`, '');
    const d = fx('direct');
    out.push(
      `${results.fixedRate} req/s for ${RUN_S} s after a ${WARMUP_S} s warm-up, from \`bench/lib/open-loop.mjs\` (a small open-loop generator on node:http in its own process; requests leave on schedule whatever the answers take, over keep-alive connections; latency from hand-off to the socket pool to the end of the response).`,
      '',
      '| target | sent (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | added p50 vs direct (ms) | added p99 vs direct (ms) | failed | generator max lag (ms) |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const k of ['direct', 'router-one', 'nginx-one']) {
      const r = fx(k);
      if (r === undefined) continue;
      const added = (a, b) => (k === 'direct' ? '—' : f(a - b, 3));
      out.push(
        `| ${r.label} | ${f(r.sent)} | ${f(r.p50, 3)} | ${f(r.p90, 3)} | ${f(r.p99, 3)} | ${added(r.p50, d.p50)} | ${added(r.p99, d.p99)} | ${r.bad} | ${f(r.lag, 1)} |`,
      );
    }
    out.push('');
  }

  const rss = results.rss;
  out.push(
    '## Router memory (RSS, /proc/PID/status VmRSS)',
    '',
    '| state | RSS (MiB) |',
    '|---|---:|',
    `| idle, 3 listeners, before any load | ${f(rss.idle, 1)} |`,
    `| under load: highest sample (every 250 ms) over all runs through the router | ${f(rss.loadPeak, 1)} |`,
    `| under load: median of the per-run highest samples | ${f(rss.loadMedianPeak, 1)} |`,
    `| ${MANY_LISTENERS} rollouts configured (${MANY_LISTENERS} listeners, one revision and two instances each), idle | ${f(rss.manyIdle, 1)} |`,
    `| the same after ${REQUESTS_PER_MANY_LISTENER} requests through each listener | ${f(rss.manyServed, 1)} |`,
    '',
  );

  const one = tp('router-one');
  const rules = tp('router-rules');
  const nOne = tp('nginx-one');
  const nRules = tp('nginx-rules');
  const addedP50 = results.fixedRate === undefined ? NaN : fx('router-one').p50 - fx('direct').p50;
  const verdict = (ok) => (ok === undefined ? 'not measured' : ok ? 'met' : '**NOT met**');
  const has = (...xs) => xs.every((x) => x !== undefined && Number.isFinite(x.rps));
  out.push(
    '## Goals (issue 5)',
    '',
    '| goal | measured | verdict |',
    '|---|---|---|',
    `| router ≥ 50 % of nginx's throughput, one revision, 1 worker each | ${has(one, nOne) ? `${pct(one.rps, nOne.rps)} (${f(one.rps)} vs ${f(nOne.rps)} req/s)` : '—'} | ${verdict(has(one, nOne) ? one.rps >= 0.5 * nOne.rps : undefined)} |`,
    `| router ≥ 45 % of nginx's throughput with 3 rules and a 90/10 split (nginx configured the same) | ${has(rules, nRules) ? `${pct(rules.rps, nRules.rps)} (${f(rules.rps)} vs ${f(nRules.rps)} req/s); vs nginx with one revision: ${pct(rules.rps, nOne.rps)}` : '—'} | ${verdict(has(rules, nRules) ? rules.rps >= 0.45 * nRules.rps : undefined)} |`,
    `| added p50 latency at ${results.fixedRate ?? RATES[0]} req/s < 1 ms | ${Number.isFinite(addedP50) ? `${f(addedP50, 3)} ms` : '—'}${results.fixedRate !== undefined && results.fixedRate !== RATES[0] ? ` (at ${results.fixedRate}, not ${RATES[0]} req/s)` : ''} | ${verdict(Number.isFinite(addedP50) ? addedP50 < 1 && results.fixedRate === RATES[0] : undefined)} |`,
    `| router RSS under load < 150 MB | ${f(rss.loadPeak * 1.048576, 1)} MB (${f(rss.loadPeak, 1)} MiB), highest sample | ${verdict(Number.isFinite(rss.loadPeak) ? rss.loadPeak * 1.048576 < 150 : undefined)} |`,
    '',
    '## How it was run',
    '',
    `- App instances: \`PORT=<port> VERSION=v1 node examples/demo-app/server.js\` (×2), the same with \`VERSION=v2\` (×2).`,
    `- Router: \`${routerCommand}\`, then \`PUT /routes\` on the admin API with three listeners (one revision; a 90/10 split over v1 and v2; the header rules ${RULES.map((r) => `\`${r.header}\` ${r.exact !== undefined ? `exact \`${r.exact}\`` : r.prefix !== undefined ? `prefix \`${r.prefix}\`` : `regex \`${r.regex}\``}`).join(', ')} → v2 ahead of the same split), round-robin balancing. For the memory row: a second table with ${MANY_LISTENERS} listeners.`,
    ...(nginxPath ? ["- nginx: `nginx -p TMP/nginx -c TMP/nginx/nginx.conf -g 'daemon off;'` with the configuration below (access log off)."] : []),
    `- Rule rows: the load sends \`${RULE_HEADERS.join('`, `')}\`, so every rule is evaluated and none matches.`,
    ...commands.wrk.map((c) => `- ${c}`),
    ...commands.openLoop.map((c) => `- ${c}`),
    '',
  );
  if (nginxText) out.push('<details><summary>nginx.conf</summary>', '', '```nginx', nginxText.trimEnd(), '```', '', '</details>', '');
  return out.join('\n');
}

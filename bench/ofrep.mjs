// OFREP single-flag evaluations: sluice's data plane beside flagd (built from its Go module
// where it can be, see bench/lib/flagd.mjs) and beside a bare node:http server calling
// @openfeature/flagd-core directly; plus flagd-core's in-process evaluations per second.
// One flag without targeting, one with an attribute rule ahead of a fractional split.
// Max throughput (wrk, closed loop) and p50/p99 at a fixed 2,000 req/s (open loop).
// Writes bench/results/ofrep.md and prints it. Run: npm run build && node bench/ofrep.mjs
// 127.0.0.1 only, bounded in rate and time (about 8 minutes with flagd), stops by itself,
// and stops every process it started (also on Ctrl-C).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findFlagd, FLAGD_MODULE, FLAGD_VERSION, ofrepEvaluate, startFlagd, waitForOfrep } from './lib/flagd.mjs';
import { benchScratch, freePort, request, rssMiB, run, sleep, startProcess, waitForHttp, which } from './lib/procs.mjs';
import { parseWrk, WRK_CONNECTIONS } from './lib/wrk.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results', 'ofrep.md');
const ROUTER_MAIN = join(ROOT, 'dist', 'src', 'router', 'main.js');
const OPEN_LOOP = join(ROOT, 'bench', 'lib', 'open-loop.mjs');
const FLAGD_LIB = join(ROOT, 'bench', 'lib', 'flagd.mjs');

// SLUICE_BENCH_QUICK=1 shortens every run, to check the harness itself (figures meaningless).
const QUICK = process.env.SLUICE_BENCH_QUICK === '1';
const RUNS = Number(process.env.SLUICE_BENCH_RUNS ?? (QUICK ? 1 : 3));
const WARMUP_S = QUICK ? 1 : 2;
const RUN_S = QUICK ? 2 : 10;
const RATE = 2000;
/** wrk threads: 1 like bench/router.mjs, leaving the other core to the server (SLUICE_BENCH_WRK_THREADS to change). */
const WRK_THREADS = Number(process.env.SLUICE_BENCH_WRK_THREADS ?? 1);
const IN_PROCESS_S = QUICK ? 0.5 : 3;
const HARD_LIMIT_MS = 25 * 60_000;
if (!(RUNS >= 1 && RUNS <= 5)) throw new Error('SLUICE_BENCH_RUNS: 1..5');
if (!(WRK_THREADS >= 1 && WRK_THREADS <= 4)) throw new Error('SLUICE_BENCH_WRK_THREADS: 1..4');

/** The flag document every target serves (flagd's flag-definition JSON). */
const DOCUMENT = {
  $schema: 'https://flagd.dev/schema/v0/flags.json',
  flags: {
    'plain-bool': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
    'rule-fractional': {
      state: 'ENABLED',
      variants: { red: 'red', blue: 'blue', green: 'green' },
      defaultVariant: 'red',
      // An attribute rule the load's context does not match, so every evaluation goes on to the split.
      targeting: {
        if: [
          { in: [{ var: 'plan' }, ['enterprise', 'internal']] },
          'green',
          {
            fractional: [
              ['red', 50],
              ['blue', 50],
            ],
          },
        ],
      },
    },
  },
};
const FLAGS = [
  { key: 'plain-bool', label: 'no targeting (boolean)' },
  { key: 'rule-fractional', label: 'attribute rule + fractional 50/50 (string)' },
];
const CONTEXT = { targetingKey: 'user-4711', plan: 'free' };
const BODY = JSON.stringify({ context: CONTEXT });

const log = (line) => console.error(`[bench:ofrep ${new Date().toISOString().slice(11, 19)}] ${line}`);
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const loadAtStart = os.loadavg();
/** Which sluice was measured: the commit, and whether the work tree differed from it. */
const head = await run('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], 5000);
const dirty = await run('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no', '--', 'src'], 5000);
const sluiceBuild = head.code === 0 ? `${head.stdout.trim()}${dirty.stdout.trim() ? ' with local changes in src/' : ''}` : 'not a git checkout';
const wrkPath = await which('wrk');
if (wrkPath === undefined) console.error('\n*** wrk not found: the throughput columns will be empty. Install it from Debian with:  sudo apt-get install wrk\n');

const { tmp, cleanup } = benchScratch('ofrep', HARD_LIMIT_MS);
const flagFile = join(tmp, 'flags.json');
writeFileSync(flagFile, JSON.stringify(DOCUMENT, null, 2));

/** key → {label, port, token?, pid, notes, throughput: Map(flag → runs), fixed: Map(flag → runs), answers} */
const targets = [];
const skipped = [];
const inProcess = [];
let flagd = { attempts: [] };
let routerCommand = '';
let table;

try {
  // In process: flagd-core, the evaluator sluice's data plane runs, without any HTTP.
  const { FlagdCore } = await import('@openfeature/flagd-core');
  const quiet = { error() {}, warn() {}, info() {}, debug() {} };
  const core = new FlagdCore(undefined, quiet);
  core.setConfigurations(JSON.stringify(DOCUMENT));
  const contexts = Array.from({ length: 1024 }, (_, i) => ({ targetingKey: `user-${i}`, plan: 'free' }));
  for (const f of FLAGS) {
    const flag = core.getFlag(f.key);
    const loop = (seconds) => {
      let n = 0;
      const end = performance.now() + seconds * 1000;
      while (performance.now() < end) {
        for (let i = 0; i < 1024; i++) flag.evaluate(contexts[i], quiet);
        n += 1024;
      }
      return n / seconds;
    };
    loop(Math.min(1, IN_PROCESS_S));
    const perSecond = loop(IN_PROCESS_S);
    inProcess.push({ flag: f, perSecond });
    log(`in process, flagd-core getFlag().evaluate(), ${f.key}: ${(perSecond / 1e6).toFixed(2)} M evaluations/s`);
  }

  // (a) flagd, if it is here or can be built.
  flagd = await findFlagd({ log });
  if (flagd.bin !== undefined) {
    log(`flagd: ${flagd.bin} (${flagd.version}; ${flagd.how})`);
    const started = await startFlagd(flagd.bin, flagFile, FLAGS[0].key, join(tmp, 'flagd.log'));
    targets.push({ key: 'flagd', label: `flagd ${FLAGD_VERSION} (Go), OFREP`, port: started.ofrepPort, pid: started.child.pid });
    flagd.command = `flagd ${started.args.join(' ').replaceAll(tmp, 'TMP')}`;
  } else {
    for (const a of flagd.attempts) log(`flagd: ${a}`);
    skipped.push({ label: 'flagd', why: 'could not be found or built here (see "flagd" below)' });
  }

  // (b) sluice's data plane: the router process, flags pushed through its admin API.
  const sluice = await startSluice();
  if (sluice.target) targets.push(sluice.target);
  else skipped.push({ label: 'sluice data plane', why: sluice.why });

  // (c) the reference: flagd-core behind a bare node:http server (no auth, no counters).
  const corePort = await freePort();
  const coreChild = startProcess('node', [FLAGD_LIB, 'serve-core', '--port', String(corePort), '--file', flagFile], {
    cwd: ROOT,
    logFile: join(tmp, 'core.log'),
  });
  await waitForOfrep(corePort, FLAGS[0].key, { child: coreChild });
  targets.push({ key: 'core', label: 'node:http + flagd-core (direct call, reference)', port: corePort, pid: coreChild.pid });

  // Every target must give the same answer for the load's context before it is measured.
  for (const t of targets) {
    t.answers = {};
    t.throughput = new Map(FLAGS.map((f) => [f.key, []]));
    t.fixed = new Map(FLAGS.map((f) => [f.key, []]));
    for (const f of FLAGS) {
      const r = await ofrepEvaluate(t.port, f.key, CONTEXT, t.token);
      if (r.status !== 200) throw new Error(`${t.label}: evaluating ${f.key} answered ${r.status}: ${r.body}`);
      const b = JSON.parse(r.body);
      t.answers[f.key] = `${JSON.stringify(b.value)} (${b.variant}, ${b.reason})`;
    }
    log(`${t.label} on 127.0.0.1:${t.port}: ${FLAGS.map((f) => `${f.key} → ${t.answers[f.key]}`).join(', ')}`);
  }
  for (const f of FLAGS) {
    const values = new Set(targets.map((t) => t.answers[f.key].split(' ')[0]));
    if (values.size > 1) throw new Error(`the targets disagree on ${f.key}: ${targets.map((t) => `${t.key} ${t.answers[f.key]}`).join('; ')}`);
  }

  // Closed loop (wrk), interleaved: every target and flag once per round.
  if (wrkPath !== undefined) {
    for (let round = 1; round <= RUNS; round++) {
      for (const f of FLAGS) {
        for (const t of targets) {
          await wrk(t, f, WARMUP_S);
          let peak = 0;
          const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(t.pid))), 250);
          const r = await wrk(t, f, RUN_S);
          clearInterval(sampler);
          r.rssPeak = peak;
          t.throughput.get(f.key).push(r);
          log(
            `round ${round}/${RUNS} ${t.key} ${f.key}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms${r.errors + r.non2xx > 0 ? `, ${r.errors} socket errors, ${r.non2xx} non-2xx` : ''}`,
          );
          await sleep(500);
        }
      }
    }
  }

  // Open loop at a fixed 2,000 req/s.
  for (let round = 1; round <= RUNS; round++) {
    for (const f of FLAGS) {
      for (const t of targets) {
        const r = await openLoop(t, f);
        t.fixed.get(f.key).push(r);
        log(
          `round ${round}/${RUNS} ${t.key} ${f.key} at ${RATE} req/s: p50 ${r.p50Ms?.toFixed(3)} ms, p99 ${r.p99Ms?.toFixed(3)} ms (sent ${r.sendRate.toFixed(0)}/s, generator lag ≤ ${r.maxLagMs.toFixed(1)} ms, ${r.errors} errors, ${r.non2xx} non-2xx)`,
        );
        await sleep(500);
      }
    }
  }
  for (const t of targets) t.rssAfter = rssMiB(t.pid);
  table = render(wrkPath === undefined);
} finally {
  await cleanup();
}

mkdirSync(dirname(RESULTS), { recursive: true });
writeFileSync(RESULTS, table);
console.log(table);
console.error(`written to ${relative(process.cwd(), RESULTS)}`);

/**
 * Starts the router, pushes the flag document with one client token, and waits for OFREP on
 * `listen`. Resolves {target} or {why} (a build whose data plane does not serve flags yet).
 */
async function startSluice() {
  if (!existsSync(ROUTER_MAIN)) return { why: `${relative(ROOT, ROUTER_MAIN)} is missing (run \`npm run build\`)` };
  const { ROUTER_NODE_FLAGS } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'router', 'http-client.js')).href);
  const adminPort = await freePort();
  const stateDir = join(tmp, 'router-state');
  const args = [...ROUTER_NODE_FLAGS, ROUTER_MAIN, '--state-dir', stateDir, '--admin', `127.0.0.1:${adminPort}`];
  routerCommand = `node ${[...ROUTER_NODE_FLAGS, ''].join(' ')}${relative(ROOT, ROUTER_MAIN)} --state-dir TMP/router-state --admin 127.0.0.1:${adminPort}`;
  const router = startProcess('node', args, { cwd: ROOT, logFile: join(tmp, 'router.log') });
  await waitForHttp(adminPort, '/healthz', 10_000, router);
  const adminToken = readFileSync(join(stateDir, 'router', 'admin-token'), 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  const listenPort = await freePort();
  /** @type {import('../src/core/flags.js').FlagPush} */
  const push = {
    generation: 1,
    listen: `127.0.0.1:${listenPort}`,
    document: DOCUMENT,
    tokens: [{ name: 'bench', sha256: createHash('sha256').update(token).digest('hex') }],
  };
  const r = await request(adminPort, '/flags', {
    method: 'PUT',
    body: JSON.stringify(push),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
  });
  if (r.status !== 200 && r.status !== 204) {
    const why = `\`PUT /flags\` on the router's admin API answered ${r.status}${r.body ? `: ${r.body.trim().slice(0, 200)}` : ''} (this build's data plane does not serve flags)`;
    log(`sluice: ${why}`);
    return { why };
  }
  try {
    await waitForOfrep(listenPort, FLAGS[0].key, { token, child: router, timeoutMs: 10_000 });
  } catch (err) {
    return { why: `the router took \`PUT /flags\` but ${err.message}` };
  }
  const denied = await ofrepEvaluate(listenPort, FLAGS[0].key, CONTEXT, undefined);
  log(`sluice: router pid ${router.pid}, OFREP on 127.0.0.1:${listenPort}; without a token it answers ${denied.status}`);
  return {
    target: {
      key: 'sluice',
      label: 'sluice data plane (router process), OFREP + bearer token',
      port: listenPort,
      token,
      pid: router.pid,
      unauthenticated: denied.status,
    },
  };
}

function wrkScript(t) {
  const file = join(tmp, `wrk-${t.key}.lua`);
  const lines = ['wrk.method = "POST"', `wrk.body = [==[${BODY}]==]`, 'wrk.headers["Content-Type"] = "application/json"'];
  if (t.token !== undefined) lines.push(`wrk.headers["Authorization"] = "Bearer ${t.token}"`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function wrkArgs(t, f, seconds) {
  return [
    `-t${WRK_THREADS}`,
    `-c${WRK_CONNECTIONS}`,
    `-d${seconds}s`,
    '--latency',
    '--timeout',
    '5s',
    '-s',
    wrkScript(t),
    `http://127.0.0.1:${t.port}/ofrep/v1/evaluate/flags/${f.key}`,
  ];
}

async function wrk(t, f, seconds) {
  const args = wrkArgs(t, f, seconds);
  const r = await run('wrk', args, (seconds + 20) * 1000);
  if (r.code !== 0) throw new Error(`wrk ${args.join(' ')} failed (${r.killed ? 'timed out' : `exit ${r.code}`}): ${r.stderr || r.stdout}`);
  return parseWrk(r.stdout);
}

function openLoop(t, f) {
  const args = [OPEN_LOOP, '--port', String(t.port), '--rate', String(RATE), '--seconds', String(RUN_S), '--warmup', String(WARMUP_S)];
  args.push('--method', 'POST', '--path', `/ofrep/v1/evaluate/flags/${f.key}`, '--body', BODY, '--header', 'Content-Type: application/json');
  if (t.token !== undefined) args.push('--header', `Authorization: Bearer ${t.token}`);
  return run('node', args, (RUN_S + WARMUP_S + 30) * 1000).then((r) => {
    if (r.code !== 0) throw new Error(`open-loop generator failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  });
}

function render(wrkMissing) {
  const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '—');
  const cpus = os.cpus();
  const tp = (t, k) => {
    const runs = t.throughput.get(k);
    return {
      rps: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50Ms)),
      p99: median(runs.map((r) => r.p99Ms)),
      all: runs.map((r) => r.rps.toFixed(0)).join(' / '),
      bad: runs.reduce((s, r) => s + r.errors + r.non2xx, 0),
      rss: Math.max(0, ...runs.map((r) => r.rssPeak)),
    };
  };
  const fx = (t, k) => {
    const runs = t.fixed.get(k);
    return {
      sent: median(runs.map((r) => r.sendRate)),
      p50: median(runs.map((r) => r.p50Ms)),
      p90: median(runs.map((r) => r.p90Ms)),
      p99: median(runs.map((r) => r.p99Ms)),
      max: Math.max(...runs.map((r) => r.maxMs ?? NaN)),
      lag: Math.max(...runs.map((r) => r.maxLagMs)),
      bad: runs.reduce((s, r) => s + r.errors + r.non2xx + (r.sent - r.done), 0),
      kept: runs.every((r) => r.sendRate >= RATE * 0.97),
    };
  };
  const out = [
    '# OFREP benchmark: sluice data plane, flagd, flagd-core direct',
    '',
    `Machine: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}; Node ${process.version}; ${flagd.bin ? `${flagd.version}; ` : ''}wrk ${wrkMissing ? 'missing' : 'from Debian'}; ${new Date().toISOString()}.`,
    `sluice: commit ${sluiceBuild} (dist/ as built from it).`,
    `Load average when the benchmark started: ${loadAtStart.map((x) => x.toFixed(2)).join(', ')} (other work on the machine shows up as noise).`,
    `Command: \`node bench/ofrep.mjs\` (\`npm run bench:ofrep\`). Every figure is the median of ${RUNS} run${RUNS > 1 ? 's' : ''}; targets and flags interleaved (each round runs every pair once), ${WARMUP_S} s warm-up (discarded) then ${RUN_S} s measured.${QUICK ? ' **SLUICE_BENCH_QUICK=1: harness check, figures meaningless.**' : ''}`,
    `Load: \`POST /ofrep/v1/evaluate/flags/{key}\` with the body \`${BODY}\` (${Buffer.byteLength(BODY)} bytes), keep-alive. Flags: \`plain-bool\` (no targeting) and \`rule-fractional\` (\`plan\` in [enterprise, internal] → green, else fractional 50/50 red/blue on the targeting key; the load's \`plan\` does not match, so every evaluation runs both).`,
    '',
  ];
  if (skipped.length > 0) {
    out.push('**Not measured:**', '');
    for (const s of skipped) out.push(`- ${s.label}: ${s.why}`);
    out.push('');
  }
  if (targets.length > 0) {
    out.push(
      `## OFREP over HTTP`,
      '',
      `Throughput: wrk closed loop, ${WRK_THREADS} thread${WRK_THREADS > 1 ? 's' : ''}, ${WRK_CONNECTIONS} connections${wrkMissing ? ' (**skipped: wrk is not installed**)' : ''}. Fixed rate: ${RATE} req/s open loop from \`bench/lib/open-loop.mjs\` (node:http keep-alive pool in its own process; requests leave on schedule whatever the answers take; latency from hand-off to the socket pool to the end of the response).`,
      '',
      '| target | flag | max req/s | p50 (ms) | p99 (ms) | req/s of the runs | failed | p50 @ 2,000/s (ms) | p90 (ms) | p99 (ms) | max (ms) | sent (req/s) | failed | RSS peak (MiB) |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const fl of FLAGS)
      for (const t of targets) {
        const a = tp(t, fl.key);
        const b = fx(t, fl.key);
        out.push(
          `| ${t.label} | \`${fl.key}\` | ${f(a.rps)} | ${f(a.p50, 2)} | ${f(a.p99, 2)} | ${a.all || '—'} | ${wrkMissing ? '—' : a.bad} | ${f(b.p50, 3)} | ${f(b.p90, 3)} | ${f(b.p99, 3)} | ${f(b.max, 1)} | ${f(b.sent)}${b.kept ? '' : ' (**not kept**)'} | ${b.bad} | ${f(a.rss, 1)} |`,
        );
      }
    out.push('');
    const lag = Math.max(...targets.flatMap((t) => [...t.fixed.values()].flat().map((r) => r.maxLagMs)));
    if (lag > 2)
      out.push(
        `**The open-loop generator itself fell up to ${f(lag, 1)} ms behind its schedule** (load average ${loadAtStart.map((x) => x.toFixed(2)).join(', ')} at the start, ${os
          .loadavg()
          .map((x) => x.toFixed(2))
          .join(
            ', ',
          )} at the end): the machine was busy with other work, and the p99/max columns at 2,000/s carry that noise; the p50s and the ratios between targets measured in the same rounds are the steadier figures.`,
        '',
      );
    out.push('Answers for the load context (checked equal across targets before the load):', '');
    for (const t of targets) out.push(`- ${t.label}: ${FLAGS.map((fl) => `\`${fl.key}\` → ${t.answers[fl.key]}`).join('; ')}`);
    const s = targets.find((t) => t.key === 'sluice');
    if (s) out.push(`- sluice without a bearer token: ${s.unauthenticated}`);
    out.push('');
  }

  out.push(
    '## In process: @openfeature/flagd-core (the evaluator the data plane runs), no HTTP',
    '',
    `\`core.getFlag(key).evaluate(context)\` in a tight loop over 1,024 contexts (distinct targeting keys, \`plan: free\`), ${IN_PROCESS_S} s after a warm-up, in the bench process.`,
    '',
    '| flag | evaluations/s | goal | |',
    '|---|---:|---:|---|',
  );
  const goalsIn = { 'plain-bool': 1e6, 'rule-fractional': 3e5 };
  for (const r of inProcess)
    out.push(
      `| \`${r.flag.key}\` (${r.flag.label}) | ${f(r.perSecond)} | ≥ ${goalsIn[r.flag.key].toLocaleString('en')} | ${r.perSecond >= goalsIn[r.flag.key] ? 'met' : '**NOT met**'} |`,
    );
  out.push(
    '',
    'A flag without targeting is a constant for flagd-core (no JsonLogic runs), hence its large figure; the data plane’s own wrapper around flagd-core (src/flags/) is not in this table.',
    '',
  );

  const s = targets.find((t) => t.key === 'sluice');
  out.push('## Goals (issue 12) for the sluice data plane', '', '| goal | measured | |', '|---|---|---|');
  for (const fl of FLAGS) {
    const a = s ? tp(s, fl.key) : undefined;
    const b = s ? fx(s, fl.key) : undefined;
    const v = (ok) => (s === undefined || ok === undefined ? 'not measured' : ok ? 'met' : '**NOT met**');
    out.push(
      `| ≥ 10,000 req/s, \`${fl.key}\` | ${a ? `${f(a.rps)} req/s` : '—'} | ${v(a && Number.isFinite(a.rps) ? a.rps >= 10_000 && a.bad === 0 : undefined)} |`,
    );
    out.push(
      `| p99 < 2 ms at 2,000 req/s, \`${fl.key}\` | ${b ? `${f(b.p99, 3)} ms` : '—'} | ${v(b && Number.isFinite(b.p99) ? b.p99 < 2 && b.kept && b.bad === 0 : undefined)} |`,
    );
  }
  out.push('');

  out.push('## flagd', '');
  if (flagd.bin) out.push(`- Used: \`${flagd.version}\`, ${flagd.how}.`);
  else out.push(`- **Not available here**, so the comparison is against the direct flagd-core call only.`);
  for (const a of flagd.attempts) out.push(`- Tried: ${a}`);
  if (flagd.bin && /from the source in/.test(flagd.how))
    out.push(
      "- A build from a source tree is this machine's alone (the cache above): elsewhere, without a module proxy that serves flagd, nor `SLUICE_FLAGD`/`SLUICE_FLAGD_SRC`, the bench runs without the flagd rows and says why.",
    );
  out.push(
    `- To build it elsewhere: \`GOFLAGS=-mod=mod go install ${FLAGD_MODULE}@${FLAGD_VERSION}\` (the bench does this itself into ~/.cache/sluice-bench/flagd/${FLAGD_VERSION}/ when Go is there), or point \`SLUICE_FLAGD\` at a flagd binary, or \`SLUICE_FLAGD_SRC\` at flagd's source (see bench/lib/flagd.mjs).`,
    '',
  );

  out.push('## How it was run', '');
  if (flagd.command) out.push(`- flagd: \`${flagd.command}\` (the flag file is the document above).`);
  if (routerCommand)
    out.push(
      `- sluice: \`${routerCommand}\`, then \`PUT /flags\` on the admin API with a \`FlagPush\` (generation 1, \`listen\` a free 127.0.0.1 port, the document, one client token by its sha256).`,
    );
  out.push('- reference: `node bench/lib/flagd.mjs serve-core --port P --file TMP/flags.json`.');
  if (!wrkMissing && targets.length > 0)
    out.push(
      `- wrk: \`wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} -d${RUN_S}s --latency --timeout 5s -s TMP/wrk-TARGET.lua http://127.0.0.1:PORT/ofrep/v1/evaluate/flags/KEY\` (after a ${WARMUP_S} s run, discarded); the script sets method POST, the body, Content-Type and (sluice) Authorization.`,
    );
  out.push(
    `- open loop: \`node bench/lib/open-loop.mjs --port PORT --rate ${RATE} --seconds ${RUN_S} --warmup ${WARMUP_S} --method POST --path /ofrep/v1/evaluate/flags/KEY --body '${BODY}' --header 'Content-Type: application/json' [--header 'Authorization: Bearer …']\`.`,
    '',
    '<details><summary>flag document</summary>',
    '',
    '```json',
    JSON.stringify(DOCUMENT, null, 2),
    '```',
    '',
    '</details>',
    '',
  );
  return out.join('\n');
}

// How fast a decision reaches the traffic: the time from `promote` to the new revision
// being served on the main address, and from an abort decision (by a user, or by a
// failing analysis) to the last request that reaches the canary. Real `sluice up`, router
// and demo-app instances; open-loop load at a fixed rate whose answers carry x-version.
// Writes bench/results/release-timing.md and prints it.
// Run: npm run build && node bench/release-timing.mjs   (RUNS=n to change the repetitions)
// 127.0.0.1 only, bounded in rate and time (about 2–3 minutes), stops by itself.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadGenerator } from '../dist/test/helpers/load.js';
import { SluiceUnderTest } from '../dist/test/helpers/sluice.js';
import { rolloutManifest } from '../dist/test/helpers/manifest.js';
import { freePort } from '../dist/test/helpers/ports.js';
import { sleep, waitFor } from '../dist/test/helpers/wait.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results', 'release-timing.md');
const RUNS = Number(process.env.RUNS ?? 5);
const RATE = 200;
const REPLICAS = 2;
/** Load runs at most this long per run, whatever happens. */
const LOAD_MAX_S = 60;
/** The whole benchmark stops by itself after this. */
const HARD_LIMIT_MS = 8 * 60_000;

if (!(RUNS >= 1 && RUNS <= 20)) throw new Error(`RUNS=${RUNS}: use 1..20`);

let sluice;
const hardLimit = setTimeout(async () => {
  console.error('release-timing: hard time limit reached, stopping');
  await sluice?.down().catch(() => undefined);
  process.exit(2);
}, HARD_LIMIT_MS);
hardLimit.unref();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    await sluice?.down().catch(() => undefined);
    process.exit(130);
  });
}

/** rolloutManifest with a shorter drain, so replaced instances do not pile up on a small machine. */
const manifest = (o) => rolloutManifest({ replicas: REPLICAS, ...o }).replace('drainSeconds: 10', 'drainSeconds: 2');

const revisionOf = (v, version) => v.revisions.find((r) => r.template.version === version)?.number;
const isCurrent = (version) => (v) => revisionOf(v, version) !== undefined && v.status.currentRevision === revisionOf(v, version);
const servesOnly = (version) => (v) => isCurrent(version)(v) && v.status.phase === 'Healthy' && v.status.stableRevision === v.status.currentRevision;
const ok = (s) => !s.error && s.status >= 200 && s.status < 300;

/** ms from load-generator time (performance clock since its start) to epoch ms, right now. */
const epochOffset = (load) => Date.now() - load.now();

/** Send time of the first request after which every request sent was answered 2xx by `version`. */
function allFrom(samples, version) {
  const sorted = [...samples].sort((a, b) => a.sentAt - b.sentAt);
  let last = -1;
  sorted.forEach((s, i) => {
    if (!(ok(s) && s.version === version)) last = i;
  });
  return sorted[last + 1]?.sentAt ?? NaN;
}

const minOf = (xs) => (xs.length ? Math.min(...xs) : NaN);
const maxOf = (xs) => (xs.length ? Math.max(...xs) : NaN);

/** Gaps between consecutive sends: the load generator's actual resolution. */
const sendGaps = [];
function recordGaps(samples) {
  const t = samples.map((s) => s.sentAt).sort((a, b) => a - b);
  for (let i = 1; i < t.length; i++) sendGaps.push(t[i] - t[i - 1]);
}

/** Results: metric key → list of ms values, one per run. */
const results = new Map();
const put = (key, value) => {
  if (!results.has(key)) results.set(key, []);
  results.get(key).push(value);
};
const notes = [];

// ---------------------------------------------------------------------------------------
// promote → served. `steps` selects the strategy; v1 is stable, each run releases the
// next version, waits until it is paused before promotion, then promotes over the API.
async function promoteScenario(key, strategy, pausedReason) {
  const name = key;
  const port = await freePort();
  const strat = typeof strategy === 'function' ? await strategy() : strategy;
  await sluice.apply(`${name}.yaml`, manifest({ name, version: 'v1', listen: port, strategy: strat }));
  await waitFor(sluice.rollout(name, servesOnly('v1')), { timeoutMs: 60_000, what: 'v1 healthy' });
  const client = sluice.client();
  for (let run = 0; run < RUNS; run++) {
    const from = `v${run + 1}`;
    const to = `v${run + 2}`;
    await sluice.apply(`${name}.yaml`, manifest({ name, version: to, listen: port, strategy: strat }));
    await waitFor(
      sluice.rollout(name, (v) => isCurrent(to)(v) && v.status.reason === pausedReason),
      { timeoutMs: 60_000, what: `${to} paused before promotion` },
    );
    const load = new LoadGenerator(port, RATE, LOAD_MAX_S);
    await sleep(700);
    const t = load.now();
    await client.promote(name);
    const returned = load.now();
    await waitFor(sluice.rollout(name, servesOnly(to)), { timeoutMs: 60_000, what: `${to} serves all` });
    await sleep(800);
    const offset = epochOffset(load);
    const report = await load.stop();
    recordGaps(report.samples);
    const after = report.samples.filter((s) => s.sentAt >= t);
    const firstNew = minOf(after.filter((s) => ok(s) && s.version === to).map((s) => s.doneAt));
    const lastOld = maxOf(after.filter((s) => s.version === from).map((s) => s.sentAt));
    const rev = revisionOf(await sluice.get(name), to);
    const promoted = (await client.events(name)).filter((e) => e.reason.startsWith('Promoted') && e.revision === rev).at(-1);
    put(`${key}.api`, returned - t);
    if (promoted) put(`${key}.event`, promoted.at - offset - t);
    put(`${key}.firstNew`, firstNew - t);
    // No old answer sent after the call: the last one was before it; count it as 0.
    put(`${key}.lastOld`, Number.isFinite(lastOld) ? lastOld - t : 0);
    put(`${key}.allNew`, allFrom(after, to) - t);
    const failed = after.filter((s) => !ok(s)).length;
    if (failed) notes.push(`${key} run ${run + 1}: ${failed} non-2xx / failed request(s) after the promote`);
    console.log(
      `${key} run ${run + 1}: ${from}→${to}: API ${(returned - t).toFixed(0)} ms, first ${to} ${(firstNew - t).toFixed(0)} ms, last ${from} sent ${(lastOld - t).toFixed(0)} ms after the call; ${report.sent} requests, ${failed} failed`,
    );
  }
  await sluice.cli(['delete', name]);
}

// ---------------------------------------------------------------------------------------
// abort (by a user, over the API) → last request reaching the canary.
async function manualAbortScenario() {
  const name = 'abort';
  const key = 'abort';
  const port = await freePort();
  const strategy = `    canary:
      steps:
        - setWeight: 50
        - pause: {}
`;
  await sluice.apply(`${name}.yaml`, manifest({ name, version: 'v1', listen: port, strategy }));
  await waitFor(sluice.rollout(name, servesOnly('v1')), { timeoutMs: 60_000, what: 'v1 healthy' });
  const client = sluice.client();
  for (let run = 0; run < RUNS; run++) {
    const to = `v${run + 2}`;
    await sluice.apply(`${name}.yaml`, manifest({ name, version: to, listen: port, strategy }));
    await waitFor(
      sluice.rollout(
        name,
        (v) =>
          isCurrent(to)(v) && v.status.reason === 'CanaryPauseStep' && v.status.weights.some((w) => w.revision === v.status.currentRevision && w.weight === 50),
      ),
      { timeoutMs: 60_000, what: `${to} at 50 %, paused` },
    );
    const load = new LoadGenerator(port, RATE, LOAD_MAX_S);
    await sleep(1000);
    const t = load.now();
    await client.abort(name);
    const returned = load.now();
    await waitFor(
      sluice.rollout(name, (v) => v.status.phase === 'Degraded' && v.status.weights.every((w) => w.revision !== v.status.currentRevision || w.weight === 0)),
      { timeoutMs: 60_000, what: 'aborted' },
    );
    await sleep(1000);
    const offset = epochOffset(load);
    const report = await load.stop();
    recordGaps(report.samples);
    const rev = revisionOf(await sluice.get(name), to);
    const ev = (await client.events(name)).filter((e) => e.reason === 'RolloutAborted' && e.revision === rev).at(-1);
    const before = report.samples.filter((s) => s.sentAt < t && ok(s));
    const share = before.filter((s) => s.version === to).length / Math.max(1, before.length);
    const lastCanary = maxOf(report.samples.filter((s) => s.version === to).map((s) => s.sentAt));
    const after = report.samples.filter((s) => s.sentAt >= t);
    put(`${key}.api`, returned - t);
    if (ev) put(`${key}.event`, ev.at - offset - t);
    put(`${key}.lastCanary`, lastCanary - t);
    put(`${key}.allStable`, allFrom(after, 'v1') - t);
    const failed = after.filter((s) => !ok(s)).length;
    if (failed) notes.push(`${key} run ${run + 1}: ${failed} non-2xx / failed request(s) after the abort`);
    console.log(
      `${key} run ${run + 1}: canary ${to} had ${(share * 100).toFixed(0)} % before; API ${(returned - t).toFixed(0)} ms, last request to the canary sent ${(lastCanary - t).toFixed(0)} ms after the call; ${failed} failed`,
    );
  }
  await sluice.cli(['delete', name]);
}

// ---------------------------------------------------------------------------------------
// automatic abort (error-rate analysis fails) → last request reaching the canary.
async function autoAbortScenario() {
  const name = 'autoabort';
  const key = 'auto';
  const port = await freePort();
  const strategy = `    canary:
      analysis:
        metrics:
          - name: error-rate
            interval: 1s
            successCondition: result <= 0.02
            provider: {builtin: {metric: error-rate, windowSeconds: 5, minRequests: 20}}
      steps:
        - setWeight: 50
        - pause: {duration: 60s}
`;
  await sluice.apply(`${name}.yaml`, manifest({ name, version: 'v1', listen: port, strategy }));
  await waitFor(sluice.rollout(name, servesOnly('v1')), { timeoutMs: 60_000, what: 'v1 healthy' });
  const client = sluice.client();
  for (let run = 0; run < RUNS; run++) {
    const to = `v${run + 2}`;
    const load = new LoadGenerator(port, RATE, LOAD_MAX_S);
    await sleep(500);
    await sluice.apply(`${name}.yaml`, manifest({ name, version: to, listen: port, strategy, env: { ERROR_RATE: '0.2' } }));
    const v = await waitFor(
      sluice.rollout(name, (x) => isCurrent(to)(x) && x.status.phase === 'Degraded'),
      { timeoutMs: 40_000, what: 'aborted by the analysis' },
    );
    await waitFor(
      sluice.rollout(name, (x) => x.status.weights.every((w) => w.revision !== x.status.currentRevision || w.weight === 0)),
      { timeoutMs: 60_000, what: 'canary out of the split' },
    );
    await sleep(1000);
    const offset = epochOffset(load);
    const report = await load.stop();
    recordGaps(report.samples);
    const rev = revisionOf(v, to);
    const ev = (await client.events(name)).filter((e) => e.reason === 'RolloutAborted' && e.revision === rev).at(-1);
    if (!ev) throw new Error(`no RolloutAborted event for revision ${rev}: ${v.status.message}`);
    const decision = ev.at - offset;
    const toCanary = report.samples.filter((s) => s.version === to);
    const firstCanary = minOf(toCanary.map((s) => s.sentAt));
    const lastCanary = maxOf(toCanary.map((s) => s.sentAt));
    const after = report.samples.filter((s) => s.sentAt >= decision);
    put(`${key}.detect`, decision - firstCanary);
    put(`${key}.lastCanary`, lastCanary - decision);
    put(`${key}.allStable`, allFrom(after, 'v1') - decision);
    const bad = toCanary.filter((s) => s.status >= 500).length;
    const failedAfter = after.filter((s) => !ok(s)).length;
    const canary5xxAfter = after.filter((s) => !ok(s) && s.version === to).length;
    if (failedAfter)
      notes.push(
        `${key} run ${run + 1}: ${failedAfter} non-2xx / failed request(s) sent after the decision, ${canary5xxAfter} of them the canary's injected 5xx (x-version ${to})`,
      );
    console.log(
      `${key} run ${run + 1}: ${to} aborted ${(decision - firstCanary).toFixed(0)} ms after its first request (${ev.message.slice(0, 80)}…); last request to it sent ${(lastCanary - decision).toFixed(0)} ms after the decision; ${bad} canary 5xx in all`,
    );
  }
  await sluice.cli(['delete', name]);
}

// ---------------------------------------------------------------------------------------
const started = Date.now();
sluice = await SluiceUnderTest.start();
const preview = await freePort();
try {
  await promoteScenario(
    'bg',
    `    blueGreen:
      previewListen: 127.0.0.1:${preview}
      autoPromotionEnabled: false
      scaleDownDelaySeconds: 2
`,
    'BlueGreenPause',
  );
  await promoteScenario(
    'c0',
    `    canary:
      steps:
        - setWeight: 0
        - pause: {}
`,
    'CanaryPauseStep',
  );
  await promoteScenario(
    'c0warm',
    `    canary:
      steps:
        - setCanaryScale: {replicas: ${REPLICAS}}
        - setWeight: 0
        - pause: {}
`,
    'CanaryPauseStep',
  );
  await manualAbortScenario();
  await autoAbortScenario();
} finally {
  await sluice.down();
}
const elapsedS = (Date.now() - started) / 1000;

// ---------------------------------------------------------------------------------------
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x) => (Number.isFinite(x) ? x.toFixed(0) : '—');
const row = (what, from, to, key) => {
  const xs = results.get(key) ?? [];
  return `| ${what} | ${from} | ${to} | ${xs.length} | ${fmt(median(xs))} | ${fmt(maxOf(xs))} |`;
};
const gaps = [...sendGaps].sort((a, b) => a - b);
const gapP = (p) => gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * p))] ?? NaN;

const lines = [
  '# Release timing: promote → served, abort → last canary request',
  '',
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, shared with other work (load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')} at the end); Node ${process.version}; ${new Date().toISOString()}.`,
  `Command: \`npm run bench:release-timing\` (= \`npm run build && node bench/release-timing.mjs\`), ${RUNS} runs per scenario, ${elapsedS.toFixed(0)} s in all.`,
  `Real \`sluice up\` (own state dir), router and demo-app instances (examples/demo-app/server.js, ${REPLICAS} per revision); open-loop load at ${RATE} req/s to the`,
  'main address on 127.0.0.1 from this process (test/helpers/load.ts), each answer tagged with its x-version.',
  'Promote and abort are issued with the HTTP API (`POST /v1/rollouts/:name/promote|abort`, the call `sluice promote|abort` makes, without the CLI',
  "process start); times count from just before the call. The automatic abort counts from the `RolloutAborted` event's `at`",
  "(`GET /v1/rollouts/:name/events`, control-plane clock = this machine's clock).",
  '',
  `Resolution: at ${RATE} req/s a request leaves every ${(1000 / RATE).toFixed(0)} ms, so "last/first request" figures are ±${(1000 / RATE).toFixed(0)} ms nominally.`,
  `Measured gap between consecutive sends (this busy machine): median ${gapP(0.5).toFixed(1)} ms, p99 ${gapP(0.99).toFixed(1)} ms, max ${gapP(1).toFixed(1)} ms,`,
  'so a single figure can be off by up to that max where the generator stalled. "First answer" rows use the time the answer arrived; "last request" rows the time it was sent.',
  '',
  '| scenario | from | to | runs | median (ms) | max (ms) |',
  '|---|---|---|---:|---:|---:|',
  row('blue-green, preview ready, paused', 'promote call', 'API call returned', 'bg.api'),
  row('', 'promote call', '`PromotedFull` event recorded', 'bg.event'),
  row('', 'promote call', 'first v2 answer on the main address', 'bg.firstNew'),
  row('', 'promote call', 'last request answered by v1 (sent time)', 'bg.lastOld'),
  row('', 'promote call', 'every request from then on answered by v2', 'bg.allNew'),
  row('canary `setWeight: 0` + `pause: {}` (no canary instance runs)', 'promote call', '`Promoted` event recorded', 'c0.event'),
  row('', 'promote call', 'first v2 answer (includes starting 2 instances)', 'c0.firstNew'),
  row('', 'promote call', 'last request answered by v1 (sent time)', 'c0.lastOld'),
  row('canary `setCanaryScale: {replicas: 2}`, `setWeight: 0`, `pause: {}`', 'promote call', '`Promoted` event recorded', 'c0warm.event'),
  row('', 'promote call', 'first v2 answer on the main address', 'c0warm.firstNew'),
  row('', 'promote call', 'last request answered by v1 (sent time)', 'c0warm.lastOld'),
  row('canary at `setWeight: 50`, paused; user abort', 'abort call', 'API call returned', 'abort.api'),
  row('', 'abort call', '`RolloutAborted` event recorded', 'abort.event'),
  row('', 'abort call', 'last request that reached the canary (sent time)', 'abort.lastCanary'),
  row('', 'abort call', 'every request from then on answered 2xx by v1', 'abort.allStable'),
  row('canary at 50 %, v2 with 20 % 5xx; error-rate analysis aborts', 'first request to v2', 'abort decision (`RolloutAborted` `at`)', 'auto.detect'),
  row('', 'abort decision', 'last request that reached the canary (sent time)', 'auto.lastCanary'),
  row('', 'abort decision', 'every request from then on answered 2xx by v1', 'auto.allStable'),
  '',
  'Analysis in the automatic case: builtin error-rate every 1 s over a 5 s window, `result <= 0.02`, minRequests 20 (as test/e2e/analysis.test.ts).',
  'The "event recorded" rows split each time in two: call → decision stored (API + controller), and decision stored → traffic moved.',
  'The second part (reconciler pass up to the router using the new table) was not split further, so this file does not say which step in it',
  'bounds the times. The canary `setWeight: 0` row includes starting both v2 instances and their readiness probes (every 0.2 s), as no',
  'canary instance runs at weight 0; the `setCanaryScale` row is the same release with the instances already running.',
  'Rows about requests reaching the canary at 50 % weight are ±10 ms: the canary gets one request in two, about one every 10 ms. A negative figure means the last request the canary got was sent a few ms before the decision was stored, and none after it.',
  '',
  ...(notes.length
    ? ['Requests that did not get a 2xx answer:', '', ...notes.map((n) => `- ${n}`), '']
    : ['Every request sent after a promote, a user abort or an automatic abort decision got a 2xx answer.', '']),
];
const table = lines.join('\n');
mkdirSync(dirname(RESULTS), { recursive: true });
writeFileSync(RESULTS, table);
console.log(`\n${table}`);
process.exit(0);

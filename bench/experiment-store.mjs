// The experiment store on a real SQLite file: (a) how fast journal batches apply — one A/B
// test with 1M users over 14 days, 3 metrics (signup binomial with a 7-day window, revenue
// continuous with refunds and a pre-exposure covariate, sessions continuous), about 2.1M
// records in time order in batches of 5,000 as the control plane pulls the router's journal:
// each record is a new user's exposure or a conversion of a user exposed earlier (picked at
// random, so lookups land all over the tables); (b) how long the reads the analysis makes
// take once it is full: experimentTotals (running totals, no scan of users: milliseconds),
// listExperiments, snapshots, and a prune of the first week's raw conversions.
// Run: npm run bench:experiment-store (2–3 minutes; BENCH_USERS=100000 for a quick look).
// Writes bench/results/experiment-store.txt (full size only).
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../dist/src/store/sqlite.js';
import { analyzeExperiment } from '../dist/src/experiments/analyze.js';
import { renderExperimentStatus } from '../dist/src/cli/render-experiment.js';

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const BATCH = 5000;
const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);
const METRICS = new Map([
  ['signup', { kind: 'binomial', windowMs: 7 * DAY }],
  ['revenue', { kind: 'continuous' }],
  ['sessions', { kind: 'continuous' }],
]);
const lookup = (_rollout, _experiment, metric) => METRICS.get(metric);

/** Deterministic pseudo-random numbers (Park–Miller), so runs compare. */
let seed = 42;
const random = () => ((seed = (seed * 48271) % 2147483647), seed / 2147483647);
/** User keys as the router's cookie would make them: random-looking, so rows land all over the B-tree. */
const userKey = (i) => `${((i * 2654435761) >>> 0).toString(16).padStart(8, '0')}-${i.toString(36)}`;

const dir = mkdtempSync(join(os.tmpdir(), 'sluice-bench-experiments-'));
const file = join(dir, 'sluice.db');
const store = new SqliteStore(file);
const lines = [];
const say = (line = '') => {
  lines.push(line);
  console.log(line);
};

try {
  // (a) apply
  /** Conversions per user, by metric: [metric, share of users, value]. */
  const CONVERSIONS = [
    ['signup', 0.25, () => 1],
    ['revenue', 0.12, () => (random() < 0.05 ? -20 : Math.round(random() * 10000) / 100)],
    ['revenue-pre', 0.1, () => Math.round(random() * 5000) / 100],
    ['sessions', 0.6, () => 1 + Math.floor(random() * 20)],
  ];
  const perUser = CONVERSIONS.reduce((s, [, share]) => s + share, 0);
  const total = Math.round(USERS * (1 + perUser));
  const variants = [];
  let exposed = 0;
  let seq = 0;
  let records = 0;
  let slowest = 0;
  /** Time inside applyExperimentRecords only (not making the records). */
  let applySeconds = 0;
  const pick = () => {
    let r = random() * perUser;
    for (const c of CONVERSIONS) if ((r -= c[1]) < 0) return c;
    return CONVERSIONS[0];
  };
  const applyStart = process.hrtime.bigint();
  while (seq < total) {
    const batch = [];
    while (batch.length < BATCH && seq < total) {
      const at = START + Math.floor((seq / total) * 14 * DAY);
      const exposure = exposed === 0 || (exposed < USERS && random() < (USERS - exposed) / (total - seq));
      const i = exposure ? exposed++ : Math.floor(random() * exposed);
      if (exposure) {
        variants[i] = random() < 0.5 ? 'control' : 'treatment';
      }
      const base = { rollout: 'web', experiment: 'r2a1', user: userKey(i), variant: variants[i], at, seq: ++seq };
      if (exposure) batch.push({ ...base, type: 'exposure' });
      else {
        const [metric, , value] = pick();
        const pre = metric === 'revenue-pre';
        batch.push({ ...base, type: 'conversion', metric: pre ? 'revenue' : metric, value: value(), source: 'event', ...(pre ? { pre: true } : {}) });
      }
    }
    const t0 = process.hrtime.bigint();
    store.applyExperimentRecords('journal-1', batch, lookup);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    applySeconds += ms / 1000;
    slowest = Math.max(slowest, ms);
    records += batch.length;
  }
  const wallSeconds = Number(process.hrtime.bigint() - applyStart) / 1e9;

  // (b) reads
  const time = (runs, fn) => {
    const samples = [];
    let result;
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      result = fn();
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    samples.sort((a, b) => a - b);
    return { median: samples[Math.floor(runs / 2)], max: samples.at(-1), result };
  };
  const totals = time(200, () => store.experimentTotals('web', 'r2a1'));
  // What `sluice experiment status` costs the control plane and the CLI: the totals, the
  // statistics of 3 metrics (z, Welch, sequential, Holm, CUPED where reported, SRM) and the table.
  const spec = {
    userKey: {},
    cookie: { name: 'sluice-uid', maxAgeSeconds: 86_400 },
    metrics: [...METRICS].map(([name, m], i) => ({
      name,
      kind: m.kind,
      direction: 'higher',
      primary: i === 0,
      event: name,
      allowNegative: true,
      ...(m.windowMs ? { windowMs: m.windowMs } : {}),
    })),
    guardrails: { minRequests: 100, maxErrorRate: 0.05 },
    conclusion: { minimumUsers: 1000, minimumDurationMs: 0, alpha: 0.05, minimumEffect: 0.05, srmAlpha: 0.001, auto: false, sequentialTuning: 500_000 },
  };
  const statusPath = time(50, () => {
    const t = store.experimentTotals('web', 'r2a1');
    const arms = t.variants.map((v, i) => ({ variant: v.variant, revision: i + 1, weight: 50 }));
    const guardrails = arms.map((a) => ({ variant: a.variant, requests: 1e6, errorRate: 0.001, p95LatencyMs: 20 }));
    const rep = analyzeExperiment({ rollout: 'web', experiment: 'r2a1', now: START + 14 * DAY, spec, arms, totals: t, guardrails });
    return renderExperimentStatus(rep, START + 14 * DAY);
  });
  const experiments = time(200, () => store.listExperiments('web'));
  const totalsTemplate = totals.result;
  const report = (at) => ({
    rollout: 'web',
    experiment: 'r2a1',
    at,
    startedAt: START,
    variants: totalsTemplate.variants.map((v) => ({ variant: v.variant, revision: 2, weight: 50, users: v.users, share: 0.5 })),
    srm: { statistic: 0.4, df: 1, pValue: 0.52, mismatch: false },
    metrics: [...METRICS].map(([name, m]) => ({
      name,
      kind: m.kind,
      direction: 'higher',
      primary: name === 'signup',
      variants: totalsTemplate.variants.map((v) => ({ variant: v.variant, users: v.users, converted: v.users, mean: 1.5, sd: 0.7 })),
      comparisons: [],
    })),
    guardrails: [],
    recommendation: { verdict: 'CONTINUE', reason: 'not enough users yet', final: false },
    ignored: { outsideWindow: 0, unexposed: 0 },
  });
  const SNAPSHOTS = 2000;
  const puts = time(
    SNAPSHOTS,
    (() => {
      let at = START;
      return () => store.putExperimentSnapshot(report((at += 60_000)));
    })(),
  );
  const allSnapshots = time(20, () => store.listExperimentSnapshots('web', 'r2a1'));
  const newest = time(200, () => store.listExperimentSnapshots('web', 'r2a1', 100));
  const fileMb = statSync(file).size / 1e6;
  const prune = time(1, () => store.pruneExperimentEvents(START + 7 * DAY));

  const t = totals.result;
  const signup = t.metrics.filter((m) => m.metric === 'signup');
  say(
    `experiment store on SQLite (WAL, synchronous=FULL), ${os.cpus()[0].model}, ${os.cpus().length} cores, node ${process.version}, ${new Date().toISOString()}`,
  );
  say(
    `${USERS.toLocaleString('en')} users, 3 metrics: ${records.toLocaleString('en')} records (${USERS.toLocaleString('en')} exposures, ${(records - USERS).toLocaleString('en')} conversions and covariates) in batches of ${BATCH}`,
  );
  say();
  const table = [
    ['apply: records/s', Math.round(records / applySeconds).toLocaleString('en')],
    ['apply: time in the store (with making the records)', `${applySeconds.toFixed(1)} s (${wallSeconds.toFixed(1)} s)`],
    ['apply: slowest batch', `${slowest.toFixed(0)} ms`],
    ['experimentTotals (median / max of 200)', `${totals.median.toFixed(3)} / ${totals.max.toFixed(3)} ms`],
    ['experiment status: totals + statistics + table (median / max of 50)', `${statusPath.median.toFixed(3)} / ${statusPath.max.toFixed(3)} ms`],
    ['listExperiments (median / max of 200)', `${experiments.median.toFixed(3)} / ${experiments.max.toFixed(3)} ms`],
    [`putExperimentSnapshot (median / max of ${SNAPSHOTS})`, `${puts.median.toFixed(2)} / ${puts.max.toFixed(1)} ms`],
    [`listExperimentSnapshots, all ${allSnapshots.result.length} (median of 20)`, `${allSnapshots.median.toFixed(1)} ms`],
    ['listExperimentSnapshots, newest 100 (median of 200)', `${newest.median.toFixed(2)} ms`],
    [`pruneExperimentEvents: the first week, ${prune.result.toLocaleString('en')} raw rows`, `${prune.median.toFixed(0)} ms`],
    ['database file before the prune', `${fileMb.toFixed(0)} MB`],
  ];
  const width = Math.max(...table.map(([name]) => name.length));
  const valueWidth = Math.max(...table.map(([, value]) => value.length));
  say(`| ${'measurement'.padEnd(width)} | ${'result'.padStart(valueWidth)} |`);
  say(`|${'-'.repeat(width + 2)}|${'-'.repeat(valueWidth + 1)}:|`);
  for (const [name, value] of table) say(`| ${name.padEnd(width)} | ${value.padStart(valueWidth)} |`);
  say();
  say(
    `totals: ${t.variants.map((v) => `${v.variant} ${v.users.toLocaleString('en')} users`).join(', ')}; signup converted ${signup.map((m) => m.converted.toLocaleString('en')).join(' / ')}; ignored outside window ${t.ignored.outsideWindow.toLocaleString('en')}`,
  );
  if (totals.max >= 1000) throw new Error(`experimentTotals took ${totals.max} ms (must be < 1 s)`);
  if (statusPath.max >= 1000) throw new Error(`experiment status took ${statusPath.max} ms (must be < 1 s)`);
} finally {
  store.close();
  rmSync(dir, { recursive: true, force: true });
}

if (USERS === 1_000_000) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/experiment-store.txt', `${lines.join('\n')}\n`);
}

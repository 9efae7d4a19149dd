// A/A and A/B simulations of the experiment statistics (src/experiments/stats): does the
// always-valid sequential test keep its false-positive promise under daily peeking, how
// often does the sample-ratio check cry wolf, and does sampleSize() deliver its power?
// Run: npm run bench:experiments (builds, then node bench/experiments-aa.mjs). Pure CPU,
// seeded (same numbers every run), about half a minute on one core. Writes
// bench/results/experiments-aa.txt and exits 1 when a bound is violated, so it doubles
// as a check: sequential FPR > 5 %, SRM false alarms > 0.2 %, power off 80 % by > 5 pp.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import {
  meanSampleOf,
  proportionAsMean,
  sampleRatioMismatch,
  sampleSize,
  sequentialTest,
  twoProportionZTest,
  welchTTest,
} from '../dist/src/experiments/stats/index.js';
import { lnGamma } from '../dist/src/experiments/stats/special.js';

const SEED = 20261202;
const AA_RUNS = 4000;
const SRM_RUNS = 20000;
const POWER_RUNS = 4000;
const DAYS = 30;
const PER_DAY = 1000; // users per variant per day
const BASELINE = 0.05;
const ALPHA = 0.05;

// ---- seeded randomness: sfc32 seeded by splitmix32; 53-bit uniforms ----
function rng(seed) {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const next32 = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next32();
  const uniform = () => ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992;
  let spare = null;
  const normal = () => {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * uniform();
    spare = r * Math.sin(th);
    return r * Math.cos(th);
  };
  /** Exact Binomial(n, p) by inversion, outcomes enumerated outward from the mode (O(√npq)). */
  const binomial = (n, p) => {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    const q = 1 - p;
    const m = Math.floor((n + 1) * p);
    const lnPm = lnGamma(n + 1) - lnGamma(m + 1) - lnGamma(n - m + 1) + m * Math.log(p) + (n - m) * Math.log(q);
    const u = uniform();
    let acc = Math.exp(lnPm);
    if (u < acc) return m;
    let up = m;
    let down = m;
    let pUp = acc;
    let pDown = acc;
    const ratio = p / q;
    for (;;) {
      const canUp = up < n;
      const canDown = down > 0;
      if (!canUp && !canDown) return m;
      if (canUp) {
        pUp *= ((n - up) / (up + 1)) * ratio;
        up++;
        acc += pUp;
        if (u < acc) return up;
      }
      if (canDown) {
        pDown *= down / (n - down + 1) / ratio;
        down--;
        acc += pDown;
        if (u < acc) return down;
      }
      if (pUp < 1e-300 && pDown < 1e-300) return m;
    }
  };
  return { uniform, normal, binomial };
}

const pct = (x) => `${(100 * x).toFixed(2)} %`;
const lines = [];
const out = (s = '') => {
  lines.push(s);
  console.log(s);
};
const failures = [];
const t0 = performance.now();

out('# Experiment statistics: A/A false positives, SRM false alarms, power');
out('');
out(`Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; Node ${process.version}; seed ${SEED}.`);
out('Command: `npm run bench:experiments`. Aggregates are simulated with exact binomial draws (and per-purchase');
out('lognormal amounts for revenue), then analysed with the same functions the report uses (dist/src/experiments/stats).');
out('');

// ---- (1) A/A with daily looks ----
const N_END = DAYS * PER_DAY;
const TUNINGS = [5000, N_END];

function aaBinomial(r) {
  const hits = { seqAny: TUNINGS.map(() => 0), zAny: 0, zEnd: 0, seqEnd: TUNINGS.map(() => 0) };
  for (let run = 0; run < AA_RUNS; run++) {
    let nc = 0;
    let cc = 0;
    let nt = 0;
    let ct = 0;
    const seqHit = TUNINGS.map(() => false);
    let zHit = false;
    for (let day = 1; day <= DAYS; day++) {
      nc += PER_DAY;
      nt += PER_DAY;
      cc += r.binomial(PER_DAY, BASELINE);
      ct += r.binomial(PER_DAY, BASELINE);
      const control = { n: nc, conversions: cc };
      const treatment = { n: nt, conversions: ct };
      const z = twoProportionZTest(control, treatment, ALPHA);
      if (z.pValue < ALPHA) zHit = true;
      TUNINGS.forEach((tuning, i) => {
        const s = sequentialTest(proportionAsMean(control), proportionAsMean(treatment), { alpha: ALPHA, tuning });
        if (s.pValue < ALPHA) {
          seqHit[i] = true;
          if (day === DAYS) hits.seqEnd[i]++;
        }
      });
      if (day === DAYS && z.pValue < ALPHA) hits.zEnd++;
    }
    if (zHit) hits.zAny++;
    seqHit.forEach((h, i) => {
      if (h) hits.seqAny[i]++;
    });
  }
  return hits;
}

/** Revenue per user: a purchase with probability 5 %, then a lognormal amount (median 30, σ = 1). */
function aaRevenue(r) {
  const hits = { seqAny: TUNINGS.map(() => 0), tAny: 0, tEnd: 0, seqEnd: TUNINGS.map(() => 0) };
  const arm = () => ({ n: 0, sum: 0, sumSquares: 0 });
  const addDay = (a) => {
    a.n += PER_DAY;
    const buyers = r.binomial(PER_DAY, BASELINE);
    for (let i = 0; i < buyers; i++) {
      const v = 30 * Math.exp(r.normal());
      a.sum += v;
      a.sumSquares += v * v;
    }
  };
  for (let run = 0; run < AA_RUNS; run++) {
    const c = arm();
    const t = arm();
    const seqHit = TUNINGS.map(() => false);
    let tHit = false;
    for (let day = 1; day <= DAYS; day++) {
      addDay(c);
      addDay(t);
      const control = meanSampleOf(c.n, c.sum, c.sumSquares);
      const treatment = meanSampleOf(t.n, t.sum, t.sumSquares);
      const w = welchTTest(control, treatment, ALPHA);
      if (w.pValue < ALPHA) tHit = true;
      if (day === DAYS && w.pValue < ALPHA) hits.tEnd++;
      TUNINGS.forEach((tuning, i) => {
        const s = sequentialTest(control, treatment, { alpha: ALPHA, tuning });
        if (s.pValue < ALPHA) {
          seqHit[i] = true;
          if (day === DAYS) hits.seqEnd[i]++;
        }
      });
    }
    if (tHit) hits.tAny++;
    seqHit.forEach((h, i) => {
      if (h) hits.seqAny[i]++;
    });
  }
  return hits;
}

out(`## 1. A/A false-positive rate: ${AA_RUNS} experiments, ${PER_DAY} users/variant/day for ${DAYS} days, a look every day`);
out('');
out(`Significance ${ALPHA}. "Any look": the experiment is called at the first of the ${DAYS} daily looks with p < ${ALPHA}.`);
out(`Sequential tuning N* in users per variant (${TUNINGS.join(' and ')}: the default, and the planned final sample).`);
out('');
out('| metric | test | false positives, any daily look | at day 30 only | bound |');
out('|---|---|---:|---:|---|');
const rb = rng(SEED);
const bin = aaBinomial(rb);
const rr = rng(SEED + 1);
const rev = aaRevenue(rr);
const rowsAA = [
  ['conversion (5 %)', 'z-test (fixed horizon)', bin.zAny, bin.zEnd, 'none (peeking breaks it)'],
  ...TUNINGS.map((tn, i) => [`conversion (5 %)`, `sequential, N* = ${tn}`, bin.seqAny[i], bin.seqEnd[i], '≤ 5 % at any look']),
  ['revenue (lognormal)', "Welch's t (fixed horizon)", rev.tAny, rev.tEnd, 'none (peeking breaks it)'],
  ...TUNINGS.map((tn, i) => ['revenue (lognormal)', `sequential, N* = ${tn}`, rev.seqAny[i], rev.seqEnd[i], '≤ 5 % at any look']),
];
for (const [metric, test, any, end, bound] of rowsAA) {
  out(`| ${metric} | ${test} | ${pct(any / AA_RUNS)} | ${pct(end / AA_RUNS)} | ${bound} |`);
  if (test.startsWith('sequential') && any / AA_RUNS > 0.05) failures.push(`${metric} ${test}: FPR ${pct(any / AA_RUNS)} > 5 %`);
}
out('');

// ---- (2) SRM false alarms ----
out(`## 2. Sample-ratio mismatch false alarms: ${SRM_RUNS} A/A runs per split, ${PER_DAY} users/variant/day for ${DAYS} days, alarm at p < 0.001`);
out('');
out('Users assigned at random in the configured proportions (a correct splitter); the check at the end is the bounded one.');
out(`The last column checks the running counts at each of the ${DAYS} daily looks: a fixed-level test repeated, so it`);
out('alarms more often than 0.1 % (informational; it is why a mismatch blocks SHIP rather than stopping the test).');
out('');
out('| weights | false alarms at the end | bound | at any of 30 daily looks |');
out('|---|---:|---|---:|');
function srmRuns(weights, seed) {
  const r = rng(seed);
  const total = weights.reduce((a, b) => a + b, 0);
  let endAlarms = 0;
  let anyAlarms = 0;
  const perDay = PER_DAY * weights.length;
  for (let run = 0; run < SRM_RUNS; run++) {
    const counts = weights.map(() => 0);
    let alarmed = false;
    for (let day = 1; day <= DAYS; day++) {
      let left = perDay;
      let wLeft = total;
      weights.forEach((w, i) => {
        const k = i === weights.length - 1 ? left : r.binomial(left, w / wLeft);
        counts[i] += k;
        left -= k;
        wLeft -= w;
      });
      const { pValue } = sampleRatioMismatch(counts, weights);
      if (pValue < 0.001) {
        alarmed = true;
        if (day === DAYS) endAlarms++;
      }
    }
    if (alarmed) anyAlarms++;
  }
  return { endAlarms, anyAlarms };
}
for (const [weights, seed] of [
  [[50, 50], SEED + 2],
  [[34, 33, 33], SEED + 3],
]) {
  const { endAlarms, anyAlarms } = srmRuns(weights, seed);
  out(`| ${weights.join('/')} | ${pct(endAlarms / SRM_RUNS)} (${endAlarms}) | ≤ 0.2 % | ${pct(anyAlarms / SRM_RUNS)} |`);
  if (endAlarms / SRM_RUNS > 0.002) failures.push(`SRM ${weights.join('/')}: ${pct(endAlarms / SRM_RUNS)} > 0.2 %`);
}
out('');

// ---- (3) power ----
const MDE = 0.1;
const n = sampleSize({ baseline: BASELINE, mde: MDE, power: 0.8 });
out(`## 3. Power: A/B with a true +${MDE * 100} % relative lift at ${BASELINE * 100} % baseline, ${POWER_RUNS} runs`);
out('');
out(`sampleSize({ baseline: ${BASELINE}, mde: ${MDE}, power: 0.8 }) = ${n} users per variant. The sequential test is tuned`);
out(`at N* = ${n} (the planned sample); "30 looks" calls it at the first of 30 equally spaced looks up to that sample.`);
out('');
out('| test | users per variant | detection rate (p < 0.05) | bound |');
out('|---|---:|---:|---|');
{
  const r = rng(SEED + 4);
  let zAt = 0;
  let seqAt = 0;
  let seqLooks = 0;
  let seqAt2 = 0;
  let zAt2 = 0;
  const pt = BASELINE * (1 + MDE);
  const step = Math.ceil(n / 30);
  for (let run = 0; run < POWER_RUNS; run++) {
    let nc = 0;
    let cc = 0;
    let ct = 0;
    let looked = false;
    while (nc < n) {
      const k = Math.min(step, n - nc);
      nc += k;
      cc += r.binomial(k, BASELINE);
      ct += r.binomial(k, pt);
      const s = sequentialTest(proportionAsMean({ n: nc, conversions: cc }), proportionAsMean({ n: nc, conversions: ct }), {
        alpha: ALPHA,
        tuning: n,
      });
      if (s.pValue < ALPHA) looked = true;
    }
    if (looked) seqLooks++;
    const c1 = { n, conversions: cc };
    const t1 = { n, conversions: ct };
    if (twoProportionZTest(c1, t1, ALPHA).pValue < ALPHA) zAt++;
    if (sequentialTest(proportionAsMean(c1), proportionAsMean(t1), { alpha: ALPHA, tuning: n }).pValue < ALPHA) seqAt++;
    const c2 = { n: 2 * n, conversions: cc + r.binomial(n, BASELINE) };
    const t2 = { n: 2 * n, conversions: ct + r.binomial(n, pt) };
    if (twoProportionZTest(c2, t2, ALPHA).pValue < ALPHA) zAt2++;
    if (sequentialTest(proportionAsMean(c2), proportionAsMean(t2), { alpha: ALPHA, tuning: n }).pValue < ALPHA) seqAt2++;
  }
  const zRate = zAt / POWER_RUNS;
  out(`| z-test, one look at the end | ${n} | ${pct(zRate)} | 80 % ± 5 pp |`);
  out(`| sequential, one look | ${n} | ${pct(seqAt / POWER_RUNS)} | (the price of always-valid) |`);
  out(`| sequential, 30 looks up to n | ${n} | ${pct(seqLooks / POWER_RUNS)} | |`);
  out(`| z-test, one look | ${2 * n} | ${pct(zAt2 / POWER_RUNS)} | |`);
  out(`| sequential, one look | ${2 * n} | ${pct(seqAt2 / POWER_RUNS)} | |`);
  if (Math.abs(zRate - 0.8) > 0.05) failures.push(`power ${pct(zRate)} is more than 5 pp from 80 %`);
}
out('');
out(`Elapsed ${((performance.now() - t0) / 1000).toFixed(1)} s.`);
out(failures.length === 0 ? 'All bounds hold.' : `BOUNDS VIOLATED:\n${failures.map((f) => `- ${f}`).join('\n')}`);

mkdirSync(join('bench', 'results'), { recursive: true });
writeFileSync(join('bench', 'results', 'experiments-aa.txt'), `${lines.join('\n')}\n`);
process.exit(failures.length === 0 ? 0 : 1);

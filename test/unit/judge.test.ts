import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mannWhitney, type Alternative } from '../../src/analysis/judge/mann-whitney.js';
import { hodgesLehmann, PairwiseDifferences } from '../../src/analysis/judge/pairwise.js';
import { WilcoxonDistribution } from '../../src/analysis/judge/wilcoxon-exact.js';
import { normalTails, qnorm } from '../../src/analysis/judge/normal.js';
import { classifyMetric } from '../../src/analysis/judge/classify.js';
import { judge } from '../../src/analysis/judge/score.js';
import type { JudgeMetricConfig, JudgeProviderConfig } from '../../src/core/analysis.js';

interface WilcoxCase {
  name: string;
  dataset: string;
  alternative: Alternative;
  confidence: number;
  exact: boolean | 'auto';
  correct: boolean;
  expected: { W: number; pValue: number; estimate: number; confInt: [number | null, number | null]; method: 'exact' | 'normal' };
}
interface WilcoxFixtures {
  generator: string;
  datasets: Record<string, { x: number[]; y: number[] }>;
  cases: WilcoxCase[];
}

const FIXTURES: WilcoxFixtures = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/judge/wilcox-cases.json', import.meta.url)), 'utf8'));

/** Within 1e-6 relative to R's value (absolute 1e-300 for p-values that underflow to 0). */
function near(actual: number, expected: number | null, what: string, end?: 'lower' | 'upper'): void {
  if (expected === null) {
    assert.equal(actual, end === 'lower' ? -Infinity : Infinity, `${what}: R has an infinite end`);
    return;
  }
  const tolerance = Math.max(1e-6 * Math.abs(expected), 1e-300);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: got ${actual}, R ${expected}`);
}

test('fixtures cover the required kinds of case', () => {
  assert.ok(FIXTURES.cases.length >= 12);
  const methods = new Set(FIXTURES.cases.map((c) => c.expected.method));
  assert.deepEqual([...methods].sort(), ['exact', 'normal']);
  const sizes = FIXTURES.cases.map((c) => FIXTURES.datasets[c.dataset]!.x.length);
  assert.ok(sizes.includes(200) && sizes.includes(1000));
});

for (const c of FIXTURES.cases) {
  test(`mannWhitney matches R's wilcox.test: ${c.name}`, () => {
    const data = FIXTURES.datasets[c.dataset]!;
    const r = mannWhitney(data.x, data.y, { alternative: c.alternative, confidence: c.confidence, exact: c.exact, correct: c.correct });
    assert.equal(r.method, c.expected.method);
    near(r.u, c.expected.W, 'W');
    near(r.pValue, c.expected.pValue, 'p-value');
    near(r.estimate, c.expected.estimate, 'estimate');
    near(r.confInt[0], c.expected.confInt[0], 'interval lower end', 'lower');
    near(r.confInt[1], c.expected.confInt[1], 'interval upper end', 'upper');
  });
}

/** Deterministic uniform generator (mulberry32). */
function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Log-normal latencies (seconds) around `median`, Box–Muller. */
function latencies(n: number, median: number, seed: number, sigma = 0.3): number[] {
  const u = uniform(seed);
  return Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
    return median * Math.exp(sigma * z);
  });
}

function bernoulli(n: number, rate: number, seed: number): number[] {
  const u = uniform(seed);
  return Array.from({ length: n }, () => (u() < rate ? 1 : 0));
}

test('k-th pairwise difference agrees with sorting all of them, ties included', () => {
  for (const [m, n, grid, seed] of [
    [200, 300, 0, 1],
    [150, 170, 100, 2],
    [97, 333, 3, 3],
    [1, 5000, 0, 4],
    [4000, 2, 10, 5],
  ] as const) {
    const u = uniform(seed);
    const draw = (): number => (grid ? Math.round(u() * grid) / grid : u());
    const x = Array.from({ length: m }, draw);
    const y = Array.from({ length: n }, draw);
    const all: number[] = [];
    for (const a of x) for (const b of y) all.push(a - b);
    all.sort((a, b) => a - b);
    const diffs = new PairwiseDifferences(Float64Array.from(x).sort(), Float64Array.from(y).sort());
    for (const k of [1, 2, 17, Math.floor(all.length / 3), Math.floor(all.length / 2) + 1, all.length - 1, all.length]) {
      assert.equal(diffs.kth(k), all[k - 1], `${m}×${n}, k=${k}`);
    }
    const h = all.length / 2;
    const median = all.length % 2 ? all[(all.length - 1) / 2]! : (all[h - 1]! + all[h]!) / 2;
    assert.equal(hodgesLehmann(x, y), median);
  }
});

test('exact distribution of U matches exact integer counts', () => {
  for (const [m, n] of [
    [7, 9],
    [30, 40],
    [120, 150],
  ] as const) {
    const counts: bigint[] = new Array(m * n + 1).fill(0n);
    counts[0] = 1n;
    let degree = 0;
    for (let i = 1; i <= m; i++) {
      const next = degree + n;
      for (let k = next; k >= n + i; k--) counts[k] = counts[k]! - counts[k - n - i]!;
      for (let k = i; k <= next; k++) counts[k] = counts[k]! + counts[k - i]!;
      degree = next;
    }
    const total = counts.reduce((a, b) => a + b, 0n);
    const dist = new WilcoxonDistribution(m, n);
    let cumulative = 0n;
    for (let q = 0; q <= (m * n) / 2; q++) {
      cumulative += counts[q]!;
      if (q % 5 !== 0) continue;
      const shift = total.toString(2).length - cumulative.toString(2).length + 64;
      let expected = Number((cumulative << BigInt(shift)) / total);
      for (let e = shift; e > 0; e -= 1000) expected /= 2 ** Math.min(e, 1000);
      assert.ok(Math.abs(dist.cdf(q) - expected) <= 1e-13 * expected, `${m}×${n}: P(U ≤ ${q}) = ${dist.cdf(q)}, exactly ${expected}`);
    }
  }
});

test('normal tails and quantiles', () => {
  assert.equal(normalTails(0).lower, 0.5);
  assert.ok(Math.abs(normalTails(-1.959963984540054).lower - 0.025) < 1e-16);
  // R: pnorm(-30) = 4.906713927148187e-198, pnorm(8, lower.tail = FALSE) = 6.22096057427178e-16
  assert.ok(Math.abs(normalTails(-30).lower / 4.906713927148187e-198 - 1) < 1e-13);
  assert.ok(Math.abs(normalTails(8).upper / 6.22096057427178e-16 - 1) < 1e-13);
  assert.equal(normalTails(-40).lower, 0);
  // R: qnorm(c(1e-300, 0.025)) = -37.047096299361201, -1.9599639845400538
  assert.ok(Math.abs(qnorm(1e-300) / -37.047096299361201 - 1) < 1e-15);
  assert.ok(Math.abs(qnorm(0.025) / -1.9599639845400538 - 1) < 1e-15);
  for (const p of [1e-300, 1e-12, 0.001, 0.025, 0.3, 0.5, 0.8, 0.975]) {
    const x = qnorm(p);
    const back = x <= 0 ? normalTails(x).lower : 1 - normalTails(x).upper;
    assert.ok(Math.abs(back - p) <= 1e-12 * p, `qnorm(${p}) = ${x}`);
  }
});

test('large samples: thousands per side stay fast and agree with the exact Hodges–Lehmann median', () => {
  const baseline = latencies(20000, 0.011, 11);
  const canary = latencies(20000, 0.0115, 12);
  const started = performance.now();
  const r = mannWhitney(canary, baseline, { tolRoot: 1e-10 });
  const elapsed = performance.now() - started;
  assert.equal(r.method, 'normal');
  assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  assert.ok(Math.abs(r.estimate - hodgesLehmann(canary, baseline)) < 1e-9);
  assert.ok(r.confInt[0] < r.estimate && r.estimate < r.confInt[1]);
  assert.ok(r.pValue < 1e-10);
});

test('degenerate samples get answers where R gives NaN or stops', () => {
  const allSame = mannWhitney([3, 3, 3, 3], [3, 3, 3]);
  assert.deepEqual(allSame, { u: 6, pValue: 1, estimate: 0, confInt: [0, 0], method: 'normal' });
  const constants = mannWhitney([1, 1, 1], [0, 0, 0, 0]);
  assert.equal(constants.estimate, 1);
  assert.deepEqual(constants.confInt, [1, 1]);
  assert.ok(constants.pValue < 0.05);
  assert.equal(mannWhitney([1, NaN, 2], [0.5, NaN]).u, 2, 'NaN is dropped like R drops NA');
  assert.throws(() => mannWhitney([1, Infinity], [1]), /finite/);
  assert.throws(() => mannWhitney([NaN], [1]), /no values/);
  assert.throws(() => mannWhitney([1], [2], { confidence: 1 }), /confidence/);
  const forced = mannWhitney(latencies(300, 1, 1), latencies(300, 1, 2), { exact: true });
  assert.equal(forced.method, 'normal', 'exact is refused beyond min(m, n) = 200');
});

const LATENCY: JudgeMetricConfig = {
  name: 'latency',
  source: 'latency',
  direction: 'increase',
  tolerance: 0.1,
  weight: 1,
  critical: false,
  minSamples: 50,
};
const ERRORS: JudgeMetricConfig = {
  name: 'errors',
  source: 'error',
  direction: 'increase',
  tolerance: 0.1,
  weight: 1,
  critical: false,
  minSamples: 50,
};

function config(metrics: JudgeMetricConfig[], thresholds = { pass: 95, marginal: 75 }): JudgeProviderConfig {
  return { metrics, thresholds, confidence: 0.95, windowSeconds: 60 };
}

test('a +200 ms latency shift over 500 samples per side is High and fails the judgement', () => {
  const baseline = latencies(500, 0.011, 21);
  const canary = latencies(500, 0.011, 22).map((v) => v + 0.2);
  const m = classifyMetric(canary, baseline, LATENCY, 0.05);
  assert.equal(m.classification, 'High');
  assert.equal(m.failed, true);
  assert.equal(m.effect, 'hodges-lehmann');
  assert.ok(Math.abs(m.estimate! - 0.2) < 0.005);
  assert.ok(m.confInt![0] > m.allowedShift!);
  assert.ok(m.pValue! < 1e-100);
  assert.match(
    m.reason,
    /^latency: canary median 0\.21\d*s vs baseline 0\.011\d*s, shift \+0\.2\d*s \[\+0\.\d+s, \+0\.\d+s\], p=\d\.\de-\d+ < 0\.05; above the 10 % tolerance \(±0\.001\d*s\): High$/,
  );
  const result = judge({ latency: { canary, baseline } }, config([LATENCY]));
  assert.equal(result.verdict, 'Fail');
  assert.equal(result.score, 0);
  assert.match(result.reason, /failed: latency/);
});

test('equal distributions pass', () => {
  const result = judge(
    {
      latency: { canary: latencies(500, 0.011, 31), baseline: latencies(500, 0.011, 32) },
      errors: { canary: bernoulli(500, 0.01, 33), baseline: bernoulli(500, 0.01, 34) },
    },
    config([LATENCY, ERRORS]),
  );
  assert.deepEqual(
    result.metrics.map((m) => m.classification),
    ['Pass', 'Pass'],
  );
  assert.equal(result.score, 100);
  assert.equal(result.verdict, 'Pass');
});

test('a significant shift within tolerance passes', () => {
  const baseline = latencies(2000, 0.1, 41, 0.05);
  const canary = baseline.map((v) => v * 1.03);
  const m = classifyMetric(canary, baseline, LATENCY, 0.05);
  assert.ok(m.pValue! < 0.05);
  assert.equal(m.classification, 'Pass');
  assert.match(m.reason, /within the 10 % tolerance/);
});

test('too few samples on either side is NoData, and all NoData is a NoData verdict', () => {
  const m = classifyMetric(latencies(49, 0.011, 1), latencies(500, 0.011, 2), LATENCY, 0.05);
  assert.equal(m.classification, 'NoData');
  assert.equal(m.failed, false);
  assert.equal(m.pValue, null);
  assert.equal(m.reason, 'latency: 49 canary and 500 baseline samples; at least 50 needed on each side: NoData');
  const result = judge({ latency: { canary: latencies(10, 0.011, 1), baseline: [] } }, config([LATENCY, ERRORS]));
  assert.equal(result.verdict, 'NoData');
  assert.equal(result.score, null);
});

test('NoData metrics are left out of the score', () => {
  const result = judge(
    {
      latency: { canary: latencies(500, 0.011, 51), baseline: latencies(500, 0.011, 52) },
      errors: { canary: bernoulli(10, 0.5, 53), baseline: bernoulli(500, 0.01, 54) },
    },
    config([LATENCY, ERRORS]),
  );
  assert.deepEqual(
    result.metrics.map((m) => m.classification),
    ['Pass', 'NoData'],
  );
  assert.equal(result.score, 100);
  assert.equal(result.verdict, 'Pass');
});

test('error rates: 5 % against 1 % is High; against a baseline without errors any significant increase is', () => {
  const m = classifyMetric(bernoulli(500, 0.05, 61), bernoulli(500, 0.01, 62), ERRORS, 0.05);
  assert.equal(m.classification, 'High');
  assert.equal(m.effect, 'rate-difference');
  assert.ok(m.failed);
  assert.match(m.reason, /^errors: canary error rate [\d.]+ % \(\d+\/500\) vs baseline [\d.]+ % \(\d+\/500\), difference \+[\d.]+ pp/);
  const fromZero = classifyMetric(bernoulli(500, 0.03, 63), new Array(500).fill(0), ERRORS, 0.05);
  assert.equal(fromZero.allowedShift, 0);
  assert.equal(fromZero.classification, 'High');
  const both = classifyMetric(new Array(500).fill(0), new Array(500).fill(0), ERRORS, 0.05);
  assert.equal(both.classification, 'Pass');
  assert.equal(both.pValue, 1);
});

test('direction decides which shift fails', () => {
  const baseline = latencies(500, 0.1, 71);
  const faster = baseline.map((v) => v * 0.5);
  const slower = baseline.map((v) => v * 1.5);
  const decrease = { ...LATENCY, direction: 'decrease' as const };
  const either = { ...LATENCY, direction: 'either' as const };
  assert.deepEqual(pick(classifyMetric(faster, baseline, LATENCY, 0.05)), ['Low', false]);
  assert.deepEqual(pick(classifyMetric(slower, baseline, LATENCY, 0.05)), ['High', true]);
  assert.deepEqual(pick(classifyMetric(faster, baseline, decrease, 0.05)), ['Low', true]);
  assert.deepEqual(pick(classifyMetric(slower, baseline, decrease, 0.05)), ['High', false]);
  assert.deepEqual(pick(classifyMetric(faster, baseline, either, 0.05)), ['Low', true]);
  assert.deepEqual(pick(classifyMetric(slower, baseline, either, 0.05)), ['High', true]);
  assert.match(classifyMetric(faster, baseline, LATENCY, 0.05).reason, /Low, allowed by direction increase$/);
});

function pick(m: { classification: string; failed: boolean }): [string, boolean] {
  return [m.classification, m.failed];
}

test('weights set the score and the thresholds the verdict', () => {
  const baseline = latencies(500, 0.011, 81);
  const slow = { canary: baseline.map((v) => v + 0.05), baseline };
  const fine = { canary: latencies(500, 0.011, 82), baseline: latencies(500, 0.011, 83) };
  const metrics: JudgeMetricConfig[] = [
    { ...LATENCY, name: 'p-latency', weight: 1 },
    { ...LATENCY, name: 'q-latency', weight: 3 },
  ];
  const samples = { 'p-latency': slow, 'q-latency': fine };
  const marginal = judge(samples, config(metrics, { pass: 95, marginal: 75 }));
  assert.equal(marginal.score, 75);
  assert.equal(marginal.verdict, 'Marginal');
  assert.equal(marginal.reason, 'score 75 (weight 3 of 4 passed; failed: p-latency) < pass 95, ≥ marginal 75: Marginal');
  assert.equal(judge(samples, config(metrics, { pass: 75, marginal: 50 })).verdict, 'Pass');
  assert.equal(judge(samples, config(metrics, { pass: 95, marginal: 80 })).verdict, 'Fail');
  const swapped = judge({ 'p-latency': fine, 'q-latency': slow }, config(metrics));
  assert.equal(swapped.score, 25);
  assert.equal(swapped.verdict, 'Fail');
});

test('a critical metric that fails makes the score 0', () => {
  const baseline = latencies(500, 0.011, 91);
  const metrics: JudgeMetricConfig[] = [
    { ...LATENCY, name: 'latency', weight: 1, critical: true },
    { ...ERRORS, weight: 10 },
  ];
  const result = judge(
    {
      latency: { canary: baseline.map((v) => v * 2), baseline },
      errors: { canary: bernoulli(500, 0.01, 92), baseline: bernoulli(500, 0.01, 93) },
    },
    config(metrics),
  );
  assert.equal(result.score, 0);
  assert.equal(result.verdict, 'Fail');
  assert.equal(result.reason, 'critical metric latency failed: score 0, Fail');
});

test('configuration mistakes are refused with the metric named', () => {
  assert.throws(() => judge({}, config([LATENCY, LATENCY])), /latency is listed twice/);
  assert.throws(() => judge({ latency: { canary: [1], baseline: [1] } }, config([{ ...LATENCY, weight: -1 }])), /latency: weight/);
  assert.throws(() => judge({}, { ...config([LATENCY]), confidence: 95 }), /confidence/);
});

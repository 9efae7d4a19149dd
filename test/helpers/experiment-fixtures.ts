/**
 * Realistic ExperimentReport series for the CLI and report tests: a test of N days where
 * users arrive every day, B converts 10 % better than A (C, when there is one, 2 % worse),
 * and the statistics are computed the way the analysis does (z test, delta-method relative
 * interval, a normal-mixture confidence sequence and the mSPRT p-value, Holm over the
 * primary metric's comparisons, a chi² sample-ratio check). Deterministic (seeded): the
 * numbers only need to look like a real test's, not to be checked against SciPy here.
 */
import type { Comparison, ExperimentReport, MetricReport, Verdict } from '../../src/core/experiment.js';

export const DAY = 86_400_000;
export const START = Date.UTC(2025, 0, 1, 9, 0, 0);

export interface FixtureOptions {
  /** 2 (A, B) or 3 (A, B, C). */
  variants?: 2 | 3;
  days?: number;
  /** Snapshots over the test (evenly spaced, the last at the end). */
  snapshots?: number;
  /** B's relative lift on the primary metric (default 0.1). */
  lift?: number;
  /** Users per variant per day (default 4000). */
  dailyUsers?: number;
  baseline?: number;
  /** B gets 8 % more users than its weight says: the sample-ratio check alarms. */
  srmAlarm?: boolean;
  /** B's error rate is over the guardrail. */
  guardrailViolation?: boolean;
  /** The test ended: B promoted (verdict SHIP when the analysis said so, else `manual`). */
  concluded?: boolean;
  /** Replace the rollout's and the first metric's names (escaping tests). */
  rollout?: string;
  metricName?: string;
  seed?: number;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
}

function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const v =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? v : 2 - v;
}
const twoSidedP = (z: number) => Math.min(1, erfc(Math.abs(z) / Math.SQRT2));

/** χ² survival function: exact for df 1 and 2, Wilson–Hilferty otherwise. */
function chi2Sf(x: number, df: number): number {
  if (df === 1) return erfc(Math.sqrt(x / 2));
  if (df === 2) return Math.exp(-x / 2);
  const z = (Math.cbrt(x / df) - (1 - 2 / (9 * df))) / Math.sqrt(2 / (9 * df));
  return 0.5 * erfc(z / Math.SQRT2);
}

const ALPHA = 0.05;
const TUNING = 5000;
const RHO2 = (-2 * Math.log(ALPHA) + Math.log(-2 * Math.log(ALPHA) + 1)) / TUNING;

/** Half-width multiplier of the normal-mixture confidence sequence at n users per variant. */
function sequentialZ(n: number): number {
  const v = n * RHO2;
  return Math.sqrt(((1 + v) / v) * (Math.log(1 + v) - 2 * Math.log(ALPHA)));
}
function msprtP(z: number, n: number): number {
  const v = n * RHO2;
  return Math.min(1, 1 / (Math.sqrt(1 / (1 + v)) * Math.exp(((v / (1 + v)) * (z * z)) / 2)));
}

interface Cum {
  users: number;
  converted: number;
  sum: number;
  sumSquares: number;
}

function compare(variant: string, c: Cum, t: Cum): Comparison {
  const mc = c.sum / c.users;
  const mt = t.sum / t.users;
  const vc = Math.max(0, c.sumSquares / c.users - mc * mc) / c.users;
  const vt = Math.max(0, t.sumSquares / t.users - mt * mt) / t.users;
  const d = mt - mc;
  const se = Math.sqrt(vc + vt);
  const z = d / se;
  const rel = d / mc;
  const seRel = Math.sqrt(vt / (mc * mc) + (mt * mt * vc) / mc ** 4);
  const k = sequentialZ(Math.min(c.users, t.users));
  const p = msprtP(z, Math.min(c.users, t.users));
  return {
    variant,
    absolute: { estimate: d, lower: d - 1.96 * se, upper: d + 1.96 * se },
    relative: { estimate: rel, lower: rel - 1.96 * seRel, upper: rel + 1.96 * seRel },
    fixed: { statistic: z, pValue: twoSidedP(z) },
    sequential: {
      pValue: p,
      absolute: { estimate: d, lower: d - k * se, upper: d + k * se },
      relative: { estimate: rel, lower: rel - k * seRel, upper: rel + k * seRel },
    },
    adjustedPValue: p,
    cuped: false,
  };
}

/** Holm over the comparisons (in place). */
function holm(comparisons: Comparison[]): void {
  const order = [...comparisons].sort((a, b) => a.sequential.pValue - b.sequential.pValue);
  let running = 0;
  order.forEach((c, i) => {
    running = Math.max(running, Math.min(1, (order.length - i) * c.sequential.pValue));
    c.adjustedPValue = running;
  });
}

/** The series (oldest first); the last is the report. */
export function experimentSeries(o: FixtureOptions = {}): { report: ExperimentReport; snapshots: ExperimentReport[] } {
  const names = (o.variants ?? 2) === 3 ? ['A', 'B', 'C'] : ['A', 'B'];
  const days = o.days ?? 14;
  const count = o.snapshots ?? days * 4;
  const lifts: Record<string, number> = { A: 0, B: o.lift ?? 0.1, C: -0.02 };
  const baseline = o.baseline ?? 0.05;
  const daily = o.dailyUsers ?? 4000;
  const r = rng(o.seed ?? 42);
  const rollout = o.rollout ?? 'checkout';
  const primaryName = o.metricName ?? 'purchase';
  const weight = Math.floor(100 / names.length);
  const weights = names.map((_, i) => (i === 0 ? 100 - weight * (names.length - 1) : weight));
  const conv = new Map(names.map((n) => [n, { users: 0, converted: 0, sum: 0, sumSquares: 0 } as Cum]));
  const rev = new Map(names.map((n) => [n, { users: 0, converted: 0, sum: 0, sumSquares: 0 } as Cum]));
  const snapshots: ExperimentReport[] = [];
  for (let s = 1; s <= count; s++) {
    const at = START + Math.round((s / count) * days * DAY);
    const step = (days * daily) / count;
    for (const [i, n] of names.entries()) {
      const skew = o.srmAlarm && n === 'B' ? 1.08 : 1;
      // Users split by the weights (daily is per variant at equal weights).
      const users = Math.max(1, Math.round(((step * names.length * weights[i]!) / 100) * skew * (1 + 0.03 * gauss(r))));
      const p = baseline * (1 + lifts[n]!);
      const k = Math.max(0, Math.round(users * p + Math.sqrt(users * p * (1 - p)) * gauss(r)));
      const c = conv.get(n)!;
      c.users += users;
      c.converted += k;
      c.sum += k;
      c.sumSquares += k;
      // Revenue: buyers spend about 60 (sd 35); everyone else 0.
      const v = rev.get(n)!;
      v.users += users;
      v.converted += k;
      const spend = k * (60 + 2 * gauss(r)) * (n === 'C' ? 0.97 : 1);
      v.sum += spend;
      v.sumSquares += k * (60 * 60 + 35 * 35);
    }
    const metric = (name: string, kind: 'binomial' | 'continuous', primary: boolean, totals: Map<string, Cum>): MetricReport => {
      const control = totals.get('A')!;
      return {
        name,
        kind,
        direction: 'higher',
        primary,
        variants: names.map((n) => {
          const t = totals.get(n)!;
          const mean = t.sum / t.users;
          return { variant: n, users: t.users, converted: t.converted, mean, sd: Math.sqrt(Math.max(0, t.sumSquares / t.users - mean * mean)) };
        }),
        comparisons: names.slice(1).map((n) => compare(n, control, totals.get(n)!)),
      };
    };
    const primary = metric(primaryName, 'binomial', true, conv);
    holm(primary.comparisons);
    const revenue = metric('revenue', 'continuous', false, rev);
    const total = names.reduce((x, n) => x + conv.get(n)!.users, 0);
    const chi2 = names.reduce((x, n, i) => {
      const e = (total * weights[i]!) / 100;
      return x + (conv.get(n)!.users - e) ** 2 / e;
    }, 0);
    const srmP = chi2Sf(chi2, names.length - 1);
    const srm = { statistic: chi2, df: names.length - 1, pValue: srmP, mismatch: srmP < 0.001 };
    const b = primary.comparisons[0]!;
    const minUsers = Math.min(...names.map((n) => conv.get(n)!.users));
    const elapsed = at - START;
    let verdict: Verdict = 'CONTINUE';
    let reason = `B ${(b.relative.estimate * 100).toFixed(2)}% [${(b.sequential.relative.lower * 100).toFixed(2)}%, ${(b.sequential.relative.upper * 100).toFixed(2)}%] on ${primaryName}: not significant yet (p ${b.adjustedPValue.toFixed(4)})`;
    if (o.guardrailViolation && s >= count / 4) {
      verdict = 'STOP';
      reason = 'B: error rate 7.90% over the guardrail maxErrorRate 5.00% (2,345 requests)';
    } else if (srm.mismatch) {
      reason = `sample ratio mismatch (p ${srm.pValue.toExponential(1)}): no SHIP until the assignment is fixed`;
    } else if (minUsers >= 1000 && elapsed >= 7 * DAY && b.adjustedPValue < ALPHA && b.sequential.relative.lower > 0) {
      verdict = 'SHIP';
      reason = `B lifts ${primaryName} by ${(b.relative.estimate * 100).toFixed(2)}% [${(b.sequential.relative.lower * 100).toFixed(2)}%, ${(b.sequential.relative.upper * 100).toFixed(2)}%], p ${b.adjustedPValue.toFixed(4)} (Holm)`;
    }
    snapshots.push({
      rollout,
      experiment: 'r2a0',
      at,
      startedAt: START,
      variants: names.map((n, i) => ({ variant: n, revision: i + 1, weight: weights[i]!, users: conv.get(n)!.users, share: conv.get(n)!.users / total })),
      srm,
      metrics: [primary, revenue],
      guardrails: names.slice(1).map((n) => {
        const bad = o.guardrailViolation && n === 'B' && s >= count / 4;
        const requests = conv.get(n)!.users * 9;
        return {
          variant: n,
          requests,
          errorRate: bad ? 0.079 : 0.004,
          p95LatencyMs: bad ? 412 : 118,
          ...(bad ? { violated: 'error rate 7.90% > maxErrorRate 5.00%' } : {}),
        };
      }),
      recommendation: { verdict, ...(verdict === 'SHIP' || verdict === 'STOP' ? { variant: 'B' } : {}), reason, final: verdict !== 'CONTINUE' },
      ignored: { outsideWindow: s > 2 ? 17 * s : 0, unexposed: s > 2 ? 3 : 0 },
    });
  }
  const report = snapshots.at(-1)!;
  if (o.concluded)
    report.concluded = {
      at: report.at + 60_000,
      // Promoted by hand (`sluice promote --variant B`) when the analysis had not said SHIP.
      verdict: report.recommendation.verdict === 'SHIP' ? 'SHIP' : 'manual',
      variant: 'B',
      by: 'alice@laptop',
    };
  return { report, snapshots };
}

/**
 * The first analysis of a test nobody has reached yet, as it comes over the API: no users,
 * and the NaN rates and intervals JSON turned into null.
 */
export function freshReport(rollout = 'checkout'): ExperimentReport {
  const nan = Number.NaN;
  const interval = { estimate: nan, lower: nan, upper: nan };
  const report: ExperimentReport = {
    rollout,
    experiment: 'r3a0',
    at: START,
    startedAt: null,
    variants: [
      { variant: 'A', revision: 2, weight: 50, users: 0, share: nan },
      { variant: 'B', revision: 3, weight: 50, users: 0, share: nan },
    ],
    srm: { statistic: nan, df: 1, pValue: nan, mismatch: false },
    metrics: [
      {
        name: 'purchase',
        kind: 'binomial',
        direction: 'higher',
        primary: true,
        variants: ['A', 'B'].map((variant) => ({ variant, users: 0, converted: 0, mean: nan, sd: nan })),
        comparisons: [
          {
            variant: 'B',
            absolute: interval,
            relative: interval,
            fixed: { statistic: nan, pValue: nan },
            sequential: { pValue: nan, absolute: interval, relative: interval },
            adjustedPValue: nan,
            cuped: false,
          },
        ],
      },
    ],
    guardrails: [{ variant: 'B', requests: 0, errorRate: nan, p95LatencyMs: null }],
    recommendation: { verdict: 'CONTINUE', reason: 'waiting for users: 0 of 1000 per variant', final: false },
    ignored: { outsideWindow: 0, unexposed: 0 },
  };
  return JSON.parse(JSON.stringify(report)) as ExperimentReport;
}

/**
 * The recommendation rules (src/experiments/recommend.ts) on hand-made reports: each rule's
 * verdict, its order (guardrail before SRM before sample size before the primary metric),
 * and the numbers in its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Comparison, ExperimentReport, ExperimentSpec } from '../../src/core/experiment.js';
import { recommend } from '../../src/experiments/recommend.js';

const HOUR = 3_600_000;

function spec(over: Partial<ExperimentSpec['conclusion']> = {}): ExperimentSpec {
  return {
    userKey: {},
    cookie: { name: 'sluice-uid', maxAgeSeconds: 86_400 },
    metrics: [{ name: 'checkout', kind: 'binomial', direction: 'higher', primary: true, goal: { path: '/checkout', statusClass: 2 }, allowNegative: false }],
    guardrails: { minRequests: 100, maxErrorRate: 0.05 },
    conclusion: { minimumUsers: 1000, minimumDurationMs: 0, alpha: 0.05, minimumEffect: 0.05, srmAlpha: 0.001, auto: true, sequentialTuning: 5000, ...over },
  };
}

function cmp(variant: string, lift: number, lower: number, upper: number, p: number): Comparison {
  const iv = { estimate: lift, lower, upper };
  return {
    variant,
    absolute: iv,
    relative: iv,
    fixed: { statistic: 3, pValue: p / 2 },
    sequential: { pValue: p, absolute: iv, relative: iv },
    adjustedPValue: p,
    cuped: false,
  };
}

function report(
  comparisons: Comparison[],
  o: { users?: number[]; srm?: number; violated?: string; direction?: 'higher' | 'lower'; startedAt?: number } = {},
): Omit<ExperimentReport, 'recommendation'> {
  const names = ['a', ...comparisons.map((c) => c.variant)];
  const users = o.users ?? names.map(() => 5000);
  const total = users.reduce((a, b) => a + b, 0);
  return {
    rollout: 'shop',
    experiment: 'r2a0',
    at: 10 * HOUR,
    startedAt: o.startedAt ?? 0,
    variants: names.map((v, i) => ({ variant: v, revision: i + 1, weight: 100 / names.length, users: users[i]!, share: users[i]! / total })),
    srm: { statistic: 1, df: names.length - 1, pValue: o.srm ?? 0.5, mismatch: (o.srm ?? 0.5) < 0.001 },
    metrics: [{ name: 'checkout', kind: 'binomial', direction: o.direction ?? 'higher', primary: true, variants: [], comparisons }],
    guardrails: names.map((v, i) => ({
      variant: v,
      requests: 1000,
      errorRate: 0,
      p95LatencyMs: 10,
      ...(i === 1 && o.violated ? { violated: o.violated } : {}),
    })),
    ignored: { outsideWindow: 0, unexposed: 0 },
  };
}

test('a significant lift above the minimum effect ships the best winner', () => {
  const r = recommend(report([cmp('b', 0.1, 0.04, 0.16, 0.001), cmp('c', 0.2, 0.1, 0.3, 0.0001)]), spec(), 10 * HOUR);
  assert.equal(r.verdict, 'SHIP');
  assert.equal(r.variant, 'c');
  assert.equal(r.final, true);
  assert.match(r.reason, /variant c: checkout \+20\.0 % \[\+10\.0 %, \+30\.0 %\], always-valid p = 0\.0001, 5,000\+ users per variant/);
});

test('a significant lift below the minimum effect does not ship', () => {
  const r = recommend(report([cmp('b', 0.02, 0.01, 0.03, 0.001)]), spec(), 10 * HOUR);
  assert.equal(r.verdict, 'NEUTRAL', r.reason);
});

test('every treatment significantly worse: STOP; lower-is-better flips the sign', () => {
  assert.equal(recommend(report([cmp('b', -0.1, -0.16, -0.04, 0.001)]), spec(), 10 * HOUR).verdict, 'STOP');
  const lower = recommend(report([cmp('b', -0.1, -0.16, -0.04, 0.001)], { direction: 'lower' }), spec(), 10 * HOUR);
  assert.equal(lower.verdict, 'SHIP');
  assert.equal(lower.variant, 'b');
});

test('an interval inside ±minimumEffect is NEUTRAL; an open one CONTINUEs until maximumDuration', () => {
  assert.equal(recommend(report([cmp('b', 0.0, -0.03, 0.04, 0.6)]), spec(), 10 * HOUR).verdict, 'NEUTRAL');
  const open = recommend(report([cmp('b', 0.03, -0.05, 0.11, 0.3)]), spec(), 10 * HOUR);
  assert.equal(open.verdict, 'CONTINUE');
  assert.equal(open.final, false);
  const late = recommend(report([cmp('b', 0.03, -0.05, 0.11, 0.3)]), spec({ maximumDurationMs: 5 * HOUR }), 10 * HOUR);
  assert.equal(late.verdict, 'NEUTRAL');
  assert.equal(late.final, true);
});

test('rules in order: guardrail, then SRM (blocks SHIP), then sample size and duration', () => {
  const winning = [cmp('b', 0.3, 0.2, 0.4, 1e-9)];
  const g = recommend(report(winning, { violated: 'error rate 20.00 % over 500 requests' }), spec(), 10 * HOUR);
  assert.deepEqual([g.verdict, g.variant, g.final], ['STOP', 'b', true]);
  const srm = recommend(report(winning, { srm: 1e-6 }), spec(), 10 * HOUR);
  assert.deepEqual([srm.verdict, srm.final], ['CONTINUE', false]);
  assert.match(srm.reason, /sample ratio mismatch/);
  const few = recommend(report(winning, { users: [400, 420] }), spec(), 10 * HOUR);
  assert.deepEqual([few.verdict, few.final], ['CONTINUE', false]);
  assert.match(few.reason, /400 of the 1000 users per variant/);
  const early = recommend(report(winning, { startedAt: 9 * HOUR }), spec({ minimumDurationMs: 24 * HOUR }), 10 * HOUR);
  assert.equal(early.verdict, 'CONTINUE');
  assert.match(early.reason, /running 1\.0 h of the 24\.0 h minimum/);
});

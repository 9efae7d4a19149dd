import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { BuiltinProvider } from '../../src/analysis/providers/builtin.js';
import { JudgeProvider } from '../../src/analysis/providers/judge.js';
import type { BuiltinProviderConfig, JudgeMetricConfig, JudgeProviderConfig, MeasurementContext } from '../../src/core/analysis.js';
import type { Endpoint } from '../../src/core/route-table.js';
import { listenAddr, listener, request, startCountingApp, startRouter, table, type CountingApp, type RouterHarness } from '../helpers/router-fixtures.js';
import { sleep } from '../helpers/wait.js';
import type { TrafficWindows } from '../../src/core/traffic-router.js';

/** An app where every `failEvery`-th request answers 500 and `/?ms=N` answers after N ms. */
/** `count` GETs with at most `concurrency` in flight. */
async function send(port: number, count: number, concurrency: number, path = '/'): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      await request(port, { path, agent });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  agent.destroy();
}

let h: RouterHarness;
let windows: TrafficWindows;
const apps: CountingApp[] = [];
let generation = 1;
const signal = new AbortController().signal;

before(async () => {
  h = await startRouter();
  windows = h.client;
});
after(async () => {
  await h.close();
  await Promise.all(apps.map((a) => a.close()));
});

/**
 * A rollout mid-release: stable revision 1 behind a main listener, canary revision 2
 * behind a canary listener. Returns the two ports and when traffic may start.
 */
async function release(rollout: string, stableFailEvery = 0, canaryFailEvery = 0): Promise<{ stable: number; canary: number; t0: number }> {
  const s = await startCountingApp(`${rollout}-v1`, stableFailEvery);
  const c = await startCountingApp(`${rollout}-v2`, canaryFailEvery);
  apps.push(s, c);
  const main = await listenAddr();
  const side = await listenAddr();
  const backends = { 1: ['v1', [s.endpoint]], 2: ['v2', [c.endpoint]] } as Record<number, [string, Endpoint[]]>;
  await h.client.apply(
    table(generation++, listener(main.listen, backends, { 1: 100 }, { rollout }), listener(side.listen, backends, { 2: 100 }, { rollout, role: 'canary' })),
  );
  return { stable: main.port, canary: side.port, t0: Date.now() };
}

function context(rollout: string, runStartedAt: number, extra: Partial<MeasurementContext> = {}): MeasurementContext {
  return {
    rollout,
    canaryRevision: 2,
    stableRevision: 1,
    args: {},
    addresses: { main: '127.0.0.1:1' },
    runStartedAt,
    now: Date.now(),
    ...extra,
  };
}

function builtin(metric: BuiltinProviderConfig['metric'], extra: Partial<BuiltinProviderConfig> = {}): BuiltinProviderConfig {
  return { metric, revision: 'canary', windowSeconds: 30, minRequests: 20, ...extra };
}

test('error-rate of a revision failing every 10th request is 0.1; stable measured on request', async () => {
  const r = await release('errors', 0, 10);
  await Promise.all([send(r.canary, 200, 8), send(r.stable, 50, 4)]);
  const p = new BuiltinProvider(windows);
  const canary = await p.measure(builtin('error-rate'), context('errors', r.t0), signal);
  assert.equal(canary.value, 0.1);
  assert.equal(canary.details?.requests, 200);
  assert.equal(canary.details?.revision, 2);
  assert.ok(typeof canary.details?.window === 'number' && canary.details.window > 0 && canary.details.window < 30, `window ${canary.details?.window}`);
  assert.equal((await p.measure(builtin('success-rate'), context('errors', r.t0), signal)).value, 0.9);
  const stable = await p.measure(builtin('error-rate', { revision: 'stable' }), context('errors', r.t0), signal);
  assert.deepEqual([stable.value, stable.details?.requests, stable.details?.revision], [0, 50, 1]);
  const rate = await p.measure(builtin('request-rate'), context('errors', r.t0), signal);
  assert.ok((rate.value as number) > 200 / 30 && (rate.value as number) < 200 / 0.01, `request-rate ${rate.value}`);
});

test('latency p95 of a revision 200 ms slower: compare difference ≈ 0.2 s', async () => {
  const r = await release('slow');
  await Promise.all([send(r.canary, 40, 10, '/?ms=210'), send(r.stable, 40, 10, '/?ms=10')]);
  const p = new BuiltinProvider(windows);
  const alone = await p.measure(builtin('latency-p95'), context('slow', r.t0), signal);
  assert.ok((alone.value as number) >= 0.209 && (alone.value as number) < 0.6, `canary p95 ${alone.value}`);
  const diff = await p.measure(builtin('latency-p95', { compare: 'difference' }), context('slow', r.t0), signal);
  const d = diff.details as { canary: number; stable: number; requests: number; stableRequests: number };
  assert.ok((diff.value as number) > 0.15 && (diff.value as number) < 0.45, `difference ${diff.value}`);
  assert.equal(diff.value, d.canary - d.stable);
  assert.ok(d.stable >= 0.009 && d.stable < 0.2, `stable p95 ${d.stable}`);
  assert.deepEqual([d.requests, d.stableRequests], [40, 40]);
  const ratio = await p.measure(builtin('latency-p50', { compare: 'ratio' }), context('slow', r.t0), signal);
  assert.ok((ratio.value as number) > 2, `p50 ratio ${ratio.value}`);
});

test('too few requests: inconclusive with the count, on either side; counts are measured anyway', async () => {
  const r = await release('quiet');
  await Promise.all([send(r.canary, 5, 1), send(r.stable, 30, 3)]);
  const p = new BuiltinProvider(windows);
  const few = await p.measure(builtin('error-rate'), context('quiet', r.t0), signal);
  assert.equal(few.value, null);
  assert.equal(few.details?.inconclusive, true);
  assert.equal(few.details?.requests, 5);
  assert.equal(few.details?.reason, 'only 5 requests in the window (need 20)');
  assert.equal((await p.measure(builtin('latency-p99', { minRequests: 5 }), context('quiet', r.t0), signal)).details?.inconclusive, undefined);
  assert.equal((await p.measure(builtin('requests'), context('quiet', r.t0), signal)).value, 5);
  const compared = await p.measure(builtin('latency-p90', { compare: 'difference', minRequests: 10 }), context('quiet', r.t0), signal);
  assert.equal(compared.value, null);
  assert.match(String(compared.details?.reason), /only 5 requests in the window \(need 10\) on the canary revision 2/);
  const empty = await p.measure(builtin('latency-p50', { minRequests: 0 }), context('quiet', r.t0, { canaryRevision: 7 }), signal);
  assert.deepEqual([empty.value, empty.details?.inconclusive], [null, true]);
});

test('ratio with stable: 10 % against 5 % errors is 2; over a stable 0 it is Infinity, or 1 when both are 0', async () => {
  const r = await release('ratio', 20, 10);
  await Promise.all([send(r.canary, 200, 8), send(r.stable, 200, 8)]);
  const p = new BuiltinProvider(windows);
  const ratio = await p.measure(builtin('error-rate', { compare: 'ratio' }), context('ratio', r.t0), signal);
  assert.equal(ratio.value, 2);
  assert.deepEqual([ratio.details?.canary, ratio.details?.stable, ratio.details?.stableRevision], [0.1, 0.05, 1]);
  const diff = await p.measure(builtin('error-rate', { compare: 'difference' }), context('ratio', r.t0), signal);
  assert.ok(Math.abs((diff.value as number) - 0.05) < 1e-12);

  const clean = await release('ratio-zero', 0, 10);
  await Promise.all([send(clean.canary, 100, 8), send(clean.stable, 100, 8)]);
  assert.equal((await p.measure(builtin('error-rate', { compare: 'ratio' }), context('ratio-zero', clean.t0), signal)).value, Infinity);
  assert.equal((await p.measure(builtin('error-rate', { compare: 'ratio' }), context('ratio-zero', clean.t0, { canaryRevision: 1 }), signal)).value, 1);
});

test('the window never reaches before the run started, nor further back than windowSeconds', async () => {
  const r = await release('window');
  await send(r.canary, 30, 3);
  await sleep(600);
  const started = Date.now();
  await send(r.canary, 25, 5);
  const p = new BuiltinProvider(windows);
  assert.equal((await p.measure(builtin('requests'), context('window', r.t0), signal)).value, 55);
  assert.equal((await p.measure(builtin('requests'), context('window', started), signal)).value, 25);
  assert.equal((await p.measure(builtin('requests', { windowSeconds: 0.5 }), context('window', r.t0), signal)).value, 25);
});

test('no stable revision: measuring stable, or comparing, is an error that says so', async () => {
  const p = new BuiltinProvider(windows);
  const first = context('first', Date.now(), { stableRevision: null });
  await assert.rejects(p.measure(builtin('error-rate', { revision: 'stable' }), first, signal), /no stable revision to measure/);
  await assert.rejects(p.measure(builtin('error-rate', { compare: 'ratio' }), first, signal), /no stable revision to measure/);
  await assert.rejects(new JudgeProvider(windows).measure(judgeConfig(), first, signal), /no stable revision/);
});

function judgeConfig(minSamples = 20): JudgeProviderConfig {
  const metric = (name: string, source: JudgeMetricConfig['source']): JudgeMetricConfig => ({
    name,
    source,
    direction: 'increase',
    tolerance: 0.1,
    weight: 1,
    critical: false,
    minSamples,
  });
  return { metrics: [metric('latency', 'latency'), metric('errors', 'error')], thresholds: { pass: 95, marginal: 75 }, confidence: 0.95, windowSeconds: 60 };
}

test('judge: a canary 200 ms slower fails (score < 75); an equal one passes', async () => {
  const judge = new JudgeProvider(windows);
  const slow = await release('judge-slow');
  await Promise.all([send(slow.canary, 60, 10, '/?ms=210'), send(slow.stable, 60, 10, '/?ms=10')]);
  const bad = await judge.measure(judgeConfig(), context('judge-slow', slow.t0), signal);
  const badDetails = bad.details as { verdict: string; metrics: { name: string; classification: string }[]; samples: { canary: number; baseline: number } };
  assert.equal(badDetails.verdict, 'Fail');
  assert.ok((bad.value as number) < 75, `score ${bad.value}`);
  assert.equal(badDetails.metrics.find((m) => m.name === 'latency')?.classification, 'High');
  assert.deepEqual(badDetails.samples, { canary: 60, baseline: 60 });

  const same = await release('judge-same');
  await Promise.all([send(same.canary, 100, 10, '/?ms=20'), send(same.stable, 100, 10, '/?ms=20')]);
  const good = await judge.measure(judgeConfig(), context('judge-same', same.t0), signal);
  assert.equal((good.details as { verdict: string }).verdict, 'Pass', JSON.stringify(good.details));
  assert.equal(good.value, 100);
});

test('judge: too few samples is NoData, an inconclusive measurement', async () => {
  const r = await release('judge-quiet');
  await Promise.all([send(r.canary, 5, 1), send(r.stable, 5, 1)]);
  const m = await new JudgeProvider(windows).measure(judgeConfig(), context('judge-quiet', r.t0), signal);
  assert.equal(m.value, null);
  assert.equal(m.details?.inconclusive, true);
  assert.equal(m.details?.verdict, 'NoData');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BuiltinProvider } from '../../src/analysis/providers/builtin.js';
import type { BuiltinProviderConfig, MeasurementContext } from '../../src/core/analysis.js';
import { loadResources } from '../../src/spec/load.js';
import type { TrafficWindows, WindowStats } from '../../src/core/traffic-router.js';

function stats(revision: number, requests: number, compared: number, mismatches: number): WindowStats {
  return {
    rollout: 'web',
    revision,
    from: 0,
    to: 30_000,
    requests,
    errors5xx: 0,
    requestRate: requests / 30,
    errorRate: 0,
    successRate: 1,
    latency: { p50: 0.01, p90: 0.01, p95: 0.01, p99: 0.01, mean: 0.01 },
    truncated: false,
    mirrored: compared,
    compared,
    mismatches,
    mismatchRate: compared > 0 ? mismatches / compared : 0,
  };
}

function windows(byRevision: Record<number, WindowStats>): TrafficWindows {
  return {
    window: async (_r, revision) => byRevision[revision],
    samples: async () => ({ latencies: [], errors: [], truncated: false }),
  };
}

const ctx: MeasurementContext = {
  rollout: 'web',
  canaryRevision: 2,
  stableRevision: 1,
  args: {},
  addresses: { main: '127.0.0.1:1' },
  runStartedAt: 0,
  now: 30_000,
};
const config = (extra: Partial<BuiltinProviderConfig> = {}): BuiltinProviderConfig => ({
  metric: 'mismatch-rate',
  revision: 'canary',
  windowSeconds: 30,
  minRequests: 20,
  ...extra,
});
const signal = new AbortController().signal;

test('mismatch-rate: the shadow revision’s mismatches over the copies compared', async () => {
  const p = new BuiltinProvider(windows({ 2: stats(2, 120, 100, 7) }));
  const r = await p.measure(config(), ctx, signal);
  assert.equal(r.value, 0.07);
  assert.equal(r.details?.compared, 100);
  assert.equal(r.details?.mismatches, 7);
});

test('mismatch-rate: inconclusive below minRequests compared copies, even with many requests', async () => {
  const p = new BuiltinProvider(windows({ 2: stats(2, 500, 19, 19) }));
  const r = await p.measure(config(), ctx, signal);
  assert.equal(r.value, null);
  assert.equal(r.details?.inconclusive, true);
  assert.match(String(r.details?.reason), /only 19 mirrored copies compared/);
  // No copy compared at all (mirroring without compare): never a 0 that would pass.
  const none = await new BuiltinProvider(windows({ 2: stats(2, 500, 0, 0) })).measure(config({ minRequests: 0 }), ctx, signal);
  assert.equal(none.value, null);
});

test('mismatch-rate: compare with stable gates on both sides', async () => {
  const p = new BuiltinProvider(windows({ 2: stats(2, 100, 100, 10), 1: stats(1, 100, 5, 0) }));
  const r = await p.measure(config({ compare: 'difference' }), ctx, signal);
  assert.equal(r.value, null);
  assert.match(String(r.details?.reason), /stable revision 1/);
  const ok = await new BuiltinProvider(windows({ 2: stats(2, 100, 100, 10), 1: stats(1, 100, 50, 1) })).measure(config({ compare: 'difference' }), ctx, signal);
  assert.ok(Math.abs((ok.value as number) - 0.08) < 1e-12);
});

test('mismatch-rate is a builtin metric name the AnalysisTemplate decoder accepts', () => {
  const text = `apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: shadow
spec:
  metrics:
    - name: shadow-mismatches
      provider: {builtin: {metric: mismatch-rate, minRequests: 50}}
      successCondition: result <= 0.01
`;
  const [doc] = loadResources(text, 'shadow.yaml');
  assert.equal(doc.kind, 'AnalysisTemplate');
  const metric = (doc.value as { metrics: { provider: { builtin: BuiltinProviderConfig } }[] }).metrics[0];
  assert.equal(metric.provider.builtin.metric, 'mismatch-rate');
  assert.throws(() => loadResources(text.replace('mismatch-rate', 'mismatch-rat'), 'shadow.yaml'), /mismatch-rate/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';
import type { MeasurementContext, MetricProvider, ProviderResult } from '../../src/core/analysis.js';

/** A builtin provider whose answers the test scripts: value per canary revision. */
class ScriptedProvider implements MetricProvider<{ metric: string }> {
  readonly kind = 'builtin' as const;
  calls = 0;
  constructor(private readonly answer: (ctx: MeasurementContext) => ProviderResult | Error) {}
  async measure(_config: { metric: string }, ctx: MeasurementContext): Promise<ProviderResult> {
    this.calls++;
    const a = this.answer(ctx);
    if (a instanceof Error) throw a;
    return a;
  }
}

const stepAnalysis = (extra = '') => `    canary:
      steps:
        - setWeight: 20
        - analysis:
            metrics:
              - name: error-rate
                interval: 1s
                count: 3
                successCondition: result <= 0.01
                provider: {builtin: {metric: error-rate, windowSeconds: 2}}
${extra}        - setWeight: 60
        - pause: {duration: 2s}
`;

async function start(provider: ScriptedProvider, strategy: string) {
  const sim = makeSim(500, { builtin: provider as never });
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  assert.equal((await sim.status('web')).phase, 'Healthy');
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy }), '/tmp/web.yaml', sim.by);
  return sim;
}

test('a passing step analysis lets the canary go on and promote', async () => {
  const provider = new ScriptedProvider(() => ({ value: 0.001 }));
  const sim = await start(provider, stepAnalysis());
  await sim.run(10_000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.stableRevision, 2);
  assert.equal(provider.calls, 3);
  const [run] = await sim.controller.analysis('web');
  assert.equal(run.status.phase, 'Successful');
  assert.equal(run.measurements.length, 3);
});

test('a failing measurement aborts the canary; the reason names the metric, the value and the condition', async () => {
  const provider = new ScriptedProvider(() => ({ value: 0.1 }));
  const sim = await start(provider, stepAnalysis());
  await sim.run(5000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.reason, 'AnalysisFailed');
  assert.match(s.message, /error-rate/);
  assert.match(s.message, /0\.1/);
  assert.match(s.message, /result <= 0\.01/);
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
  assert.deepEqual(sim.versions('web'), { v1: 3 });
  assert.equal(provider.calls, 1, 'failureLimit 0: the first failure decides');
});

test('inconclusive (too little data) pauses instead of promoting; promote continues', async () => {
  const provider = new ScriptedProvider(() => ({ value: null, details: { inconclusive: true, reason: 'only 3 requests in the window (need 20)' } }));
  const sim = await start(provider, stepAnalysis());
  await sim.run(10_000);
  let s = await sim.status('web');
  assert.equal(s.phase, 'Paused');
  assert.equal(s.reason, 'AnalysisInconclusive');
  assert.match(s.message, /only 3 requests/);
  assert.deepEqual(sim.router.split('web'), { v1: 80, v2: 20 }, 'weight stays where it was');
  await sim.run(60_000, 1000);
  assert.equal((await sim.status('web')).phase, 'Paused', 'stays paused, never promotes, no deadline');
  await sim.controller.promote('web', {}, sim.by);
  await sim.run(10_000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
});

test('provider errors abort after consecutiveErrorLimit, never promote', async () => {
  const provider = new ScriptedProvider(() => new Error('prometheus at http://127.0.0.1:9 is unreachable'));
  const strategy = stepAnalysis().replace('                count: 3\n', '                count: 3\n                consecutiveErrorLimit: 2\n');
  const sim = await start(provider, strategy);
  await sim.run(10_000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.reason, 'AnalysisError');
  assert.match(s.message, /3 consecutive measurement errors \(limit 2\)/);
  assert.equal(provider.calls, 3);
});

test('background analysis aborts the release during a pause', async () => {
  let bad = false;
  const provider = new ScriptedProvider(() => ({ value: bad ? 0.5 : 0 }));
  const strategy = `    canary:
      analysis:
        startingStep: 1
        metrics:
          - name: errors
            interval: 1s
            successCondition: result < 0.05
            provider: {builtin: {metric: error-rate}}
      steps:
        - setWeight: 30
        - pause: {}
`;
  const sim = await start(provider, strategy);
  await sim.run(6000);
  assert.equal((await sim.status('web')).reason, 'CanaryPauseStep');
  assert.ok(provider.calls >= 3, 'measuring in the background');
  bad = true;
  await sim.run(3000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.match(s.message, /background analysis failed/);
  assert.deepEqual(sim.versions('web'), { v1: 3 });
});

test('blue-green: a failing pre-promotion analysis keeps the switch from happening', async () => {
  const provider = new ScriptedProvider(() => ({ value: 0.2 }));
  const strategy = `    blueGreen:
      prePromotionAnalysis:
        metrics:
          - name: errors
            successCondition: result < 0.05
            provider: {builtin: {metric: error-rate}}
`;
  const sim = await start(provider, strategy);
  await sim.run(10_000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.match(s.message, /pre-promotion analysis failed/);
  assert.ok(
    sim.router.tables.every((t) => (t.listeners.find((l) => l.role === 'main')?.split ?? []).every((x) => x.revision === 1)),
    'main never pointed at v2',
  );
});

test('an analysis naming a template that does not exist is refused at apply', async () => {
  const sim = makeSim();
  const strategy = `    canary:\n      steps:\n        - analysis: {templates: [{templateName: nope}]}\n`;
  await assert.rejects(
    sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy }), '/tmp/web.yaml', sim.by),
    /AnalysisTemplate "nope" not found/,
  );
  assert.equal((await sim.controller.list()).length, 0);
});

test('an approval step waits for `sluice approve`, recording who approved', async () => {
  const sim = makeSim(500);
  const strategy = `    canary:\n      steps:\n        - setWeight: 50\n        - approval: {}\n`;
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(60_000, 1000);
  let s = await sim.status('web');
  assert.equal(s.reason, 'WaitingForApproval');
  assert.equal(s.phase, 'Paused', 'waits without tripping the progress deadline');
  await sim.controller.approve('web', { actor: 'alice@example' });
  await sim.run(5000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  const approved = sim.store.listEvents('web').find((e) => e.reason === 'Approved');
  assert.equal(approved?.actor, 'alice@example');
  await assert.rejects(sim.controller.approve('web', sim.by), /no approval waiting/);
});

test('blue-green: a failing post-promotion analysis switches traffic back to the old revision', async () => {
  let value = 0;
  const provider = new ScriptedProvider(() => ({ value }));
  const strategy = `    blueGreen:
      scaleDownDelaySeconds: 30
      postPromotionAnalysis:
        metrics:
          - name: errors
            interval: 1s
            count: 5
            successCondition: result < 0.05
            provider: {builtin: {metric: error-rate}}
`;
  const sim = await start(provider, strategy);
  await sim.run(3000);
  assert.deepEqual(sim.router.split('web'), { v2: 100 }, 'switched');
  assert.equal((await sim.status('web')).stableRevision, 1, 'not stable until post-promotion analysis passes');
  value = 0.3;
  await sim.run(3000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.match(s.message, /post-promotion analysis failed/);
  assert.deepEqual(sim.router.split('web'), { v1: 100 }, 'switched back');
});

test('a template with onFailure: pause pauses instead of aborting; promote waives the run', async () => {
  const provider = new ScriptedProvider(() => ({ value: 0.5 }));
  const sim = makeSim(500, { builtin: provider as never });
  const template = `apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: soft}
spec:
  onFailure: pause
  metrics:
    - {name: errors, interval: 1s, count: 2, successCondition: result < 0.05, provider: {builtin: {metric: error-rate}}}
---
`;
  const strategy = `    canary:\n      steps:\n        - setWeight: 20\n        - analysis: {templates: [{templateName: soft}]}\n`;
  await sim.controller.apply(template + rolloutManifest({ ...SIM_APP, version: 'v1', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(5000);
  let s = await sim.status('web');
  assert.equal(s.phase, 'Paused');
  assert.equal(s.reason, 'AnalysisFailed');
  await sim.controller.promote('web', {}, sim.by);
  await sim.run(5000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
});

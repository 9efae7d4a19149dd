import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';
import type { MetricProvider, ProviderResult } from '../../src/core/analysis.js';

/** A builtin provider that always answers `value`. */
class FixedProvider implements MetricProvider<{ metric: string }> {
  readonly kind = 'builtin' as const;
  calls = 0;
  constructor(private readonly value: number) {}
  async measure(): Promise<ProviderResult> {
    this.calls++;
    return { value: this.value };
  }
}

const shadow = (opts: { extra?: string; dryRun?: boolean } = {}) => `    shadow:
      shadowReplicas: 1
${opts.extra ?? ''}      analysis:
        metrics:
          - name: mismatches
            interval: 1s
            count: 3
            dryRun: ${opts.dryRun ?? false}
            successCondition: result <= 0.01
            provider: {builtin: {metric: mismatch-rate, windowSeconds: 2}}
`;

async function shadowing(value: number, strategy: string) {
  const provider = new FixedProvider(value);
  const sim = makeSim(500, { builtin: provider as never });
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  assert.equal((await sim.status('web')).phase, 'Healthy');
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy }), '/tmp/web.yaml', sim.by);
  return { sim, provider };
}

test('shadow without a duration: an analysis that passed does not switch traffic; it waits for promote', async () => {
  const { sim, provider } = await shadowing(0.001, shadow());
  await sim.run(30_000, 500);
  const s = await sim.status('web');
  assert.equal(provider.calls, 3, 'the analysis ran to its end');
  assert.equal((await sim.controller.analysis('web'))[0].status.phase, 'Successful');
  assert.equal(s.phase, 'Paused', s.message);
  assert.equal(s.reason, 'Shadowing');
  assert.equal(s.stableRevision, 1);
  assert.deepEqual(sim.router.split('web'), { v1: 100 }, 'clients still only reach stable');

  await sim.controller.promote('web', {}, sim.by);
  await sim.run(5000);
  assert.equal((await sim.status('web')).stableRevision, 2);
});

test('promoteOnAnalysisSuccess: true: a passed analysis switches traffic', async () => {
  const { sim } = await shadowing(0.001, shadow({ extra: '      promoteOnAnalysisSuccess: true\n' }));
  await sim.run(15_000, 500);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.stableRevision, 2);
  assert.deepEqual(sim.router.split('web'), { v2: 100 });
  assert.ok(sim.store.listEvents('web').some((e) => e.reason === 'ShadowAnalysisPassed'));
});

test('a dry-run metric decides nothing: failing, it neither aborts nor, with promoteOnAnalysisSuccess, promotes', async () => {
  const { sim, provider } = await shadowing(0.047, shadow({ extra: '      promoteOnAnalysisSuccess: true\n', dryRun: true }));
  await sim.run(30_000, 500);
  const s = await sim.status('web');
  assert.equal(provider.calls, 1, 'failureLimit 0: the first failure ends the metric');
  const [run] = await sim.controller.analysis('web');
  assert.equal(run.status.metrics?.[0].phase, 'Failed', 'the dry-run metric itself failed');
  assert.match(run.status.message, /only dry-run metrics \(mismatches Failed\): shown for information, they decide nothing/);
  assert.equal(s.phase, 'Paused', s.message);
  assert.equal(s.reason, 'Shadowing');
  assert.equal(s.stableRevision, 1);
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
});

test('a new revision becoming the shadow starts its own clock: its duration and "copied … for" count from then', async () => {
  const strategy = `    shadow:
      durationSeconds: 20
`;
  const sim = makeSim(500);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(15_000);
  assert.equal((await sim.status('web')).reason, 'Shadowing');
  const v3At = sim.clock.now();
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v3', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(8000);
  let s = await sim.status('web');
  assert.equal(s.currentRevision, 3);
  assert.equal(s.reason, 'Shadowing', `v3 shadows its own 20 s, not what was left of v2's: ${s.message}`);
  assert.equal(s.stableRevision, 1);
  assert.ok(s.shadowSince! >= v3At, 'shadowSince is when v3 started receiving copies');
  await sim.run(20_000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.stableRevision, 3);
});

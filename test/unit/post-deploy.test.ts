import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_WATCH, judgeWatch, type WatchSample } from '../../src/analysis/watch.js';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';
import type { MeasurementContext, ProviderResult } from '../../src/core/analysis.js';

const sample = (errorRate: number, p95: number, requests = 100): WatchSample => ({ at: 0, requests, errorRate, p95 });

test('the playbook rules: immediate thresholds per sample, averages and bad-sample share at the end', () => {
  const w = DEFAULT_WATCH;
  assert.equal(judgeWatch(w, [sample(0.11, 0.1)], false).phase, 'Failed', 'error rate > 10 % in one sample');
  assert.equal(judgeWatch(w, [sample(0, 5.5)], false).phase, 'Failed', 'p95 > 5 s in one sample');
  assert.equal(judgeWatch(w, [sample(0.01, 0.2)], false).phase, 'Running');
  assert.equal(judgeWatch(w, [sample(0.01, 0.2), sample(0.015, 0.3)], true).phase, 'Successful');
  assert.match(judgeWatch(w, [sample(0.03, 0.2), sample(0.03, 0.2)], true).message, /average error rate 3\.00 % ≥ 2\.00 %/);
  assert.match(judgeWatch(w, [sample(0, 1.2), sample(0, 1.1)], true).message, /average p95 1\.150s ≥ 1s/);
  const someBad = [sample(0.06, 0.1), sample(0, 0.1), sample(0, 0.1), sample(0, 0.1)];
  assert.match(judgeWatch(w, someBad, true).message, /25\.0 % of samples had error rate > 5\.00 %/);
  assert.equal(judgeWatch(w, [sample(0.5, 9, 3)], true).phase, 'Inconclusive', 'samples under minRequests do not count');
});

test('rolling with a post-deploy watch rolls back to the previous revision when the new one goes bad after taking over', async () => {
  let errorRate = 0;
  const provider = {
    kind: 'builtin' as const,
    async measure(config: { metric: string }, _ctx: MeasurementContext): Promise<ProviderResult> {
      return config.metric === 'error-rate' ? { value: errorRate, details: { requests: 100 } } : { value: 0.05, details: { requests: 100 } };
    },
  };
  const sim = makeSim(500, { builtin: provider as never });
  const strategy = `    rolling:\n      maxSurge: 1\n      maxUnavailable: 0\n      postDeploy: {interval: 1s, duration: 20s}\n`;
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(6000);
  let s = await sim.status('web');
  assert.equal(s.reason, 'PostDeployWatch', s.message);
  assert.deepEqual(sim.versions('web'), { v2: 3 });
  assert.equal(s.stableRevision, 1, 'not stable until the watch passes');
  errorRate = 0.2;
  await sim.run(2000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.match(s.message, /post-deploy watch failed: error rate 20\.0 % in one sample is over the immediate rollback threshold 10\.0 %/);
  // Rolling back: v2 keeps serving beside v1 until v1 is back at full strength.
  for (let k = 0; k < 20; k++) {
    await sim.run(250, 250);
    const ready = sim.platform.list('web').filter((i) => i.phase === 'Ready').length;
    assert.ok(ready >= 3 || k === 0, `never fewer than 3 ready instances while rolling back (${ready})`);
  }
  assert.deepEqual(sim.versions('web'), { v1: 3 });
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
});

test('a post-deploy watch that passes makes the new revision stable', async () => {
  const provider = { kind: 'builtin' as const, measure: async () => ({ value: 0.001, details: { requests: 100 } }) };
  const sim = makeSim(500, { builtin: provider as never });
  const strategy = `    recreate:\n      postDeploy: {interval: 1s, duration: 3s}\n`;
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(8000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.stableRevision, 2);
});

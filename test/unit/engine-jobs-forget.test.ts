import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { engineOn } from '../helpers/engine-on-store.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { MetricProvider, ProviderResult } from '../../src/core/analysis.js';

/** A builtin provider whose answer the test changes. */
class SettableProvider implements MetricProvider<{ metric: string }> {
  readonly kind = 'builtin' as const;
  value = 0.001;
  async measure(): Promise<ProviderResult> {
    return { value: this.value };
  }
}

const CANARY = `    canary:
      steps:
        - setWeight: 50
        - analysis:
            metrics:
              - name: error-rate
                interval: 1s
                count: 2
                successCondition: result <= 0.01
                provider: {builtin: {metric: error-rate, windowSeconds: 2}}
`;
const web = (version: string) => rolloutManifest({ ...SIM_APP, version, strategy: CANARY, extra: '  revisionHistoryLimit: 1\n' });

function withSqlite(fn: (store: SqliteStore) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-jobs-'));
    const store = new SqliteStore(join(dir, 'sluice.db'));
    try {
      await fn(store);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'the job runner forgets the jobs of revisions pruned from history',
  withSqlite(async (store) => {
    const sim = engineOn(store, { builtin: new SettableProvider() as never });
    sim.reconciler.start(0);
    await sim.controller.apply(web('v1'), '/tmp/web.yaml', sim.by);
    await sim.run(2000);
    for (const v of ['v2', 'v3', 'v4', 'v5', 'v6']) {
      await sim.controller.apply(web(v), '/tmp/web.yaml', sim.by);
      await sim.run(8000);
      assert.equal((await sim.controller.get('web')).status.phase, 'Healthy', v);
    }
    const revisions = new Set(store.listRevisions('web').map((r) => r.number));
    assert.ok(!revisions.has(2) && !revisions.has(3), `revisions 2 and 3 were pruned (kept: ${[...revisions]})`);
    const kept = [...sim.jobs.statusFor('web').keys()];
    assert.ok(kept.length > 0);
    for (const key of kept) assert.ok(revisions.has(Number(/^web\/r(\d+)\//.exec(key)?.[1])), `${key} belongs to a pruned revision`);
    await sim.close();
  }),
);

test(
  'a rollout deleted and created again under the same name runs its analysis again (its old results are forgotten)',
  withSqlite(async (store) => {
    const provider = new SettableProvider();
    const sim = engineOn(store, { builtin: provider as never });
    sim.reconciler.start(0);
    await sim.controller.apply(web('v1'), '/tmp/web.yaml', sim.by);
    await sim.run(2000);
    await sim.controller.apply(web('v2'), '/tmp/web.yaml', sim.by);
    await sim.run(8000);
    assert.equal((await sim.controller.get('web')).status.stableRevision, 2);

    await sim.controller.delete('web', sim.by);
    await sim.run(2000);
    assert.equal(sim.jobs.statusFor('web').size, 0, 'nothing of the deleted rollout is kept');

    provider.value = 0.5;
    await sim.controller.apply(web('v1'), '/tmp/web.yaml', sim.by);
    await sim.run(2000);
    await sim.controller.apply(web('v2'), '/tmp/web.yaml', sim.by);
    await sim.run(8000);
    const s = (await sim.controller.get('web')).status;
    assert.equal(s.reason, 'AnalysisFailed', `the new revision 2 is measured, not waved through by the old one's run: ${s.message}`);
    assert.equal(s.stableRevision, 1);
    await sim.close();
  }),
);

// revisionHistoryLimit prunes a revision's stored jobs and measurements with it, on both
// stores; the rows are counted where they are kept, not asked of the engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { engineOn } from '../helpers/engine-on-store.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/core/store.js';
import type { MetricProvider, ProviderResult } from '../../src/core/analysis.js';

class PassingProvider implements MetricProvider<{ metric: string }> {
  readonly kind = 'builtin' as const;
  async measure(): Promise<ProviderResult> {
    return { value: 0.001 };
  }
}

const MEASUREMENTS = 2;
const CANARY = `    canary:
      steps:
        - setWeight: 50
        - analysis:
            metrics:
              - name: error-rate
                interval: 1s
                count: ${MEASUREMENTS}
                successCondition: result <= 0.01
                provider: {builtin: {metric: error-rate, windowSeconds: 2}}
        - setWeight: 100
`;
/**
 * Pruning runs at apply: v6's apply keeps its current revision 6, the stable 5 and the two
 * older 3 and 4 (1 and 2 go); nothing is pruned when the release completes.
 */
const RETAINED = [3, 4, 5, 6];
const web = (version: string, limit: number) => rolloutManifest({ ...SIM_APP, version, strategy: CANARY, extra: `  revisionHistoryLimit: ${limit}\n` });

/** Each stored job's revision (from its key) → its stored measurements. */
function rows(store: Store): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const { job } of store.listJobs('web')) {
    const revision = Number(/^web\/r(\d+)\//.exec(job.key)?.[1]);
    out.set(revision, [...(out.get(revision) ?? []), store.listMeasurements(job.key).length]);
  }
  return out;
}

interface Engine {
  store: Store;
  controller: ReturnType<typeof makeSim>['controller'];
  by: { actor: string };
  run(ms: number): Promise<void>;
}

async function sixReleases(sim: Engine): Promise<void> {
  for (const v of ['v1', 'v2', 'v3', 'v4', 'v5', 'v6']) {
    await sim.controller.apply(web(v, 2), '/tmp/web.yaml', sim.by);
    await sim.run(10_000);
    const s = (await sim.controller.get('web')).status;
    assert.equal(s.phase, 'Healthy', `${v}: ${s.message}`);
  }
}

test('revisionHistoryLimit 2 over 6 releases with analysis: only the retained revisions keep jobs and measurements (MemoryStore)', async () => {
  const sim = makeSim(500, { builtin: new PassingProvider() as never });
  await sixReleases(sim);
  assert.deepEqual(
    sim.store.listRevisions('web').map((r) => r.number),
    RETAINED,
  );
  assert.deepEqual(
    [...rows(sim.store)].sort(([a], [b]) => a - b),
    RETAINED.map((n) => [n, [MEASUREMENTS]]),
    'one run of 2 measurements per retained revision',
  );
});

test("revisionHistoryLimit 2 over 6 releases with analysis: the SQLite file keeps only the retained revisions' rows, no stray measurement", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-prune-'));
  const file = join(dir, 'sluice.db');
  const store = new SqliteStore(file);
  const sim = engineOn(store, { builtin: new PassingProvider() as never });
  try {
    sim.reconciler.start(0);
    await sixReleases(sim);
    const db = new Database(file, { readonly: true });
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    assert.deepEqual(
      db.prepare('SELECT revision, count(*) AS jobs FROM jobs GROUP BY revision ORDER BY revision').all(),
      RETAINED.map((revision) => ({ revision, jobs: 1 })),
    );
    assert.equal(count('SELECT count(*) AS n FROM measurements'), RETAINED.length * MEASUREMENTS);
    assert.equal(count('SELECT count(*) AS n FROM measurements WHERE job NOT IN (SELECT key FROM jobs)'), 0);
    db.close();
  } finally {
    await sim.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('revisionHistoryLimit 0: a revision pruned while its analysis runs leaves no job or measurement behind when the run stops', async () => {
  const sim = makeSim(500, { builtin: new PassingProvider() as never });
  await sim.controller.apply(web('v1', 0), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  await sim.controller.apply(web('v2', 0), '/tmp/web.yaml', sim.by);
  await sim.run(1500);
  assert.ok(
    sim.store.listJobs('web').some(({ job, status }) => job.key.startsWith('web/r2/') && status.phase === 'Running'),
    'revision 2 is being measured',
  );
  await sim.controller.apply(web('v3', 0), '/tmp/web.yaml', sim.by);
  assert.deepEqual(
    sim.store.listRevisions('web').map((r) => r.number),
    [1, 3],
    'revision 2 (never stable) is pruned at once',
  );
  await sim.run(10_000);
  assert.equal((await sim.status('web')).phase, 'Healthy');
  assert.deepEqual([...rows(sim.store).keys()], [3], 'the stopped run of revision 2 did not save itself back');
});

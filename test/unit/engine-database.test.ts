import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { FakeMigrations } from '../helpers/fake-migrations.js';
import { rolloutManifest } from '../helpers/manifest.js';

type Sim = ReturnType<typeof makeSim>;

const CANARY = `    canary:
      steps:
        - setWeight: 50
        - pause: {duration: 2}
`;

function manifest(version: string, contractAfter = 'next-release'): string {
  const db = `  database:
    engine: sqlite
    path: /tmp/sluice-engine-database-test.db
    migrations: /tmp/sluice-engine-database-migrations
    contractAfter: ${contractAfter === 'next-release' ? 'next-release' : `{duration: ${contractAfter}}`}
`;
  return rolloutManifest({ ...SIM_APP, version, strategy: CANARY, extra: db });
}

function setup() {
  const migrations = new FakeMigrations();
  const sim = makeSim(500, {}, { migrations });
  // What the platform runs when a phase starts: instances per version.
  migrations.observe = () => sim.versions('web');
  return { sim, migrations };
}

async function apply(sim: Sim, version: string, contractAfter?: string) {
  return sim.controller.apply(manifest(version, contractAfter), '/tmp/web.yaml', sim.by);
}

test('first deploy: expand and backfill run before any instance starts; the template records the migrations', async () => {
  const { sim, migrations } = setup();
  migrations.refs = [{ id: '001_people', checksum: 'a', contract: true }];
  await apply(sim, 'v1');
  await sim.run(3000);
  assert.equal((await sim.status('web')).phase, 'Healthy');
  assert.deepEqual(
    migrations.runs.map((r) => [r.phase, r.seen]),
    [
      ['expand', {}],
      ['migrate', {}],
    ],
  );
  assert.deepEqual(sim.store.listRevisions('web')[0]!.template.migrations, migrations.refs);
});

test('a release with a new migration: contract of nothing, expand and backfill while stable serves alone, then the canary', async () => {
  const { sim, migrations } = setup();
  migrations.refs = [{ id: '001_people', checksum: 'a' }];
  await apply(sim, 'v1');
  await sim.run(3000);
  migrations.runs.length = 0;
  migrations.refs = [...migrations.refs, { id: '002_full_name', checksum: 'b', contract: true }];
  await apply(sim, 'v2');
  await sim.run(8000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Healthy');
  assert.equal(s.stableRevision, 2);
  const phases = migrations.runs.map((r) => r.phase);
  assert.deepEqual(phases, ['contract', 'expand', 'migrate'], 'the previous release is contracted first, then this one expands and backfills');
  for (const r of migrations.runs) assert.deepEqual(r.seen, { v1: 3 }, `${r.phase} ran while only v1 ran`);
  assert.deepEqual(migrations.runs[1]!.applied, ['002_full_name']);
  assert.equal(migrations.applied_.get('002_full_name')?.phases.contract, undefined, 'its contract waits for the next release');
});

test('a failing expand aborts the release before any new instance starts; stable keeps all traffic', async () => {
  const { sim, migrations } = setup();
  migrations.refs = [{ id: '001_people', checksum: 'a' }];
  await apply(sim, 'v1');
  await sim.run(3000);
  migrations.refs = [...migrations.refs, { id: '002_bad', checksum: 'b' }];
  migrations.fail.expand = '002_bad.sql:3:1: column "x" does not exist';
  const started: number[] = [];
  const start = sim.platform.start.bind(sim.platform);
  sim.platform.start = async (ref, template) => {
    started.push(ref.revision);
    return start(ref, template);
  };
  await apply(sim, 'v2');
  await sim.run(4000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.aborted, true);
  assert.match(s.message, /database expand failed: 002_bad\.sql:3:1/);
  assert.deepEqual(sim.versions('web'), { v1: 3 });
  assert.deepEqual(started, [], 'no instance of revision 2 was ever started');
});

test('undo inside the rollback window works; after the contract ran, undo to the older revision is refused and says why', async () => {
  const { sim, migrations } = setup();
  migrations.refs = [{ id: '001_people', checksum: 'a' }];
  await apply(sim, 'v1');
  await sim.run(3000);
  migrations.refs = [...migrations.refs, { id: '002_full_name', checksum: 'b', contract: true }];
  await apply(sim, 'v2');
  await sim.run(8000);
  assert.equal((await sim.status('web')).stableRevision, 2);
  // Inside the window: back to v1, nothing contracted.
  await sim.controller.undo('web', {}, sim.by);
  await sim.run(8000);
  assert.deepEqual(sim.versions('web'), { v1: 3 }, 'v1 serves again');
  assert.equal((await sim.status('web')).phase, 'Healthy');
  assert.equal(migrations.applied_.get('002_full_name')?.phases.contract, undefined, 'undo to v1 never contracts what v1 reads');
  // Forward again, then a third release contracts 002.
  await apply(sim, 'v2');
  await sim.run(8000);
  await apply(sim, 'v3');
  await sim.run(8000);
  const after = await sim.status('web');
  assert.deepEqual(sim.versions('web'), { v3: 3 });
  const contracted = migrations.applied_.get('002_full_name')?.phases.contract;
  assert.equal(contracted?.revision, after.stableRevision, 'the next release (v3) contracted 002');
  await assert.rejects(sim.controller.undo('web', { toRevision: 1 }, sim.by), (err: Error) => {
    assert.match(
      err.message,
      new RegExp(`revision 1 cannot come back: it was built before migration 002_full_name \\(contracted by revision ${after.stableRevision}\\)`),
    );
    assert.match(err.message, /release a new revision/);
    return true;
  });
  assert.equal((await sim.status('web')).currentRevision, after.currentRevision, 'nothing changed');
  // Undo to v2 (built with 002) is still allowed.
  await sim.controller.undo('web', {}, sim.by);
  await sim.run(8000);
  assert.deepEqual(sim.versions('web'), { v2: 3 });
});

test('contractAfter as a duration: the contract runs once the stable revision served alone that long', async () => {
  const { sim, migrations } = setup();
  migrations.refs = [{ id: '001_people', checksum: 'a' }];
  await apply(sim, 'v1', '30s');
  await sim.run(3000);
  migrations.refs = [...migrations.refs, { id: '002_full_name', checksum: 'b', contract: true }];
  await apply(sim, 'v2', '30s');
  await sim.run(8000);
  assert.equal((await sim.status('web')).stableRevision, 2);
  assert.equal(migrations.applied_.get('002_full_name')?.phases.contract, undefined);
  await sim.run(20_000, 500);
  assert.equal(migrations.applied_.get('002_full_name')?.phases.contract, undefined, 'not before 30 s');
  await sim.run(15_000, 500);
  assert.equal(migrations.applied_.get('002_full_name')?.phases.contract?.revision, 2);
});

test('blue-green: while the previous revision is still warm (an undo would switch back to it), its schema is not contracted', async () => {
  const migrations = new FakeMigrations();
  const sim = makeSim(500, {}, { migrations });
  const bg = `    blueGreen:\n      autoPromotionEnabled: true\n      scaleDownDelaySeconds: 60\n`;
  const db = `  database:\n    engine: sqlite\n    path: /tmp/sluice-engine-database-test.db\n    migrations: /tmp/sluice-engine-database-migrations\n`;
  const doc = (version: string) => rolloutManifest({ ...SIM_APP, version, strategy: bg, extra: db });
  migrations.refs = [{ id: '001_people', checksum: 'a' }];
  await sim.controller.apply(doc('v1'), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  migrations.refs = [...migrations.refs, { id: '002_full_name', checksum: 'b', contract: true }];
  await sim.controller.apply(doc('v2'), '/tmp/web.yaml', sim.by);
  await sim.run(5000);
  assert.equal((await sim.status('web')).stableRevision, 2);
  assert.ok(
    sim.platform.list('web').some((i) => i.revision === 1),
    'revision 1 is still warm',
  );
  await sim.controller.apply(doc('v3'), '/tmp/web.yaml', sim.by);
  await sim.run(70_000, 500);
  assert.equal((await sim.status('web')).stableRevision, 3);
  assert.equal(migrations.applied_.get('002_full_name')?.phases.contract, undefined, 'v1 was warm when v3 started: 002 waits for the next release');
  assert.ok(!migrations.runs.some((r) => r.phase === 'contract' && r.applied.includes('002_full_name')));
  await sim.controller.apply(doc('v4'), '/tmp/web.yaml', sim.by);
  await sim.run(5000);
  assert.equal(migrations.applied_.get('002_full_name')?.phases.contract?.revision, 4);
});

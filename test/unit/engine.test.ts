import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';

const CANARY = `    canary:
      canaryListen: 127.0.0.1:18082
      steps:
        - setWeight: 20
        - pause: {duration: 10s}
        - setWeight: 50
        - pause: {}
        - setWeight: 80
`;

async function deployV1(sim: ReturnType<typeof makeSim>, strategy: string, extra = '') {
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy, extra }), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.deepEqual(sim.versions('web'), { v1: 3 });
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
}

test('canary walks its steps: exact weights, timed pause, indefinite pause, promotion', async () => {
  const sim = makeSim();
  await deployV1(sim, CANARY);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: CANARY }), '/tmp/web.yaml', sim.by);
  await sim.run(1500);
  let s = await sim.status('web');
  assert.equal(s.phase, 'Paused');
  assert.equal(s.reason, 'CanaryPauseStep');
  assert.deepEqual(sim.router.split('web'), { v1: 80, v2: 20 });
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 1 }, 'canary scaled to ceil(3 × 20%)');
  assert.deepEqual(sim.router.split('web', 'canary'), { v2: 100 });

  await sim.run(5000);
  assert.deepEqual(sim.router.split('web'), { v1: 80, v2: 20 }, 'still paused at 5s of 10s');
  await sim.run(7000);
  s = await sim.status('web');
  assert.equal(s.stepIndex, 3, 'waits at the indefinite pause');
  assert.equal(s.phase, 'Paused');
  assert.match(
    s.message,
    /^step 4\/5 \(pause until promoted\), canary weight 50%/,
    'the step reads cleanly (issue 9: no "pause (until promoted)" in parentheses)',
  );
  assert.deepEqual(sim.router.split('web'), { v1: 50, v2: 50 });
  await sim.run(60_000, 1000);
  assert.equal((await sim.status('web')).stepIndex, 3, 'an indefinite pause never times out, nor hits the deadline');

  await sim.controller.promote('web', {}, sim.by);
  await sim.run(5000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.stableRevision, 2);
  assert.deepEqual(sim.router.split('web'), { v2: 100 });
  assert.deepEqual(sim.versions('web'), { v2: 3 });
  const reasons = sim.store.listEvents('web').map((e) => e.reason);
  for (const r of ['NewRevision', 'StepCompleted', 'Promoted', 'RolloutCompleted']) assert.ok(reasons.includes(r), `event ${r} recorded`);
  const promoted = sim.store.listEvents('web').find((e) => e.reason === 'Promoted');
  assert.equal(promoted?.actor, 'test');
});

test('canary: a revision that never becomes ready gets no traffic and the progress deadline aborts it', async () => {
  const sim = makeSim();
  await deployV1(sim, CANARY);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: CANARY, env: { READY: 'false' } }), '/tmp/web.yaml', sim.by);
  await sim.run(30_000, 500);
  // A weight step holds the previous weight until the canary has its instances.
  assert.deepEqual(sim.router.split('web'), { v1: 100 }, 'no traffic to a canary that is not ready');
  assert.equal((await sim.status('web')).phase, 'Progressing');
  await sim.run(35_000, 500);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.reason, 'ProgressDeadlineExceeded');
  assert.match(s.message, /revision 2 made no progress for 60s/);
  assert.deepEqual(sim.versions('web'), { v1: 3 }, 'the canary was scaled down');
  for (const t of sim.router.tables) {
    for (const l of t.listeners.filter((x) => x.role === 'main')) {
      const v2 = l.backends.find((b) => b.version === 'v2');
      assert.ok(!v2 || v2.endpoints.length === 0);
    }
  }
});

test('abort sends traffic back to stable; retry starts again; undo during a canary goes straight back', async () => {
  const sim = makeSim();
  await deployV1(sim, CANARY);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: CANARY }), '/tmp/web.yaml', sim.by);
  await sim.run(1500);
  assert.deepEqual(sim.router.split('web'), { v1: 80, v2: 20 });
  await sim.controller.abort('web', sim.by);
  await sim.run(1000);
  let s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.reason, 'RolloutAborted');
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
  assert.deepEqual(sim.versions('web'), { v1: 3 });
  await assert.rejects(sim.controller.promote('web', {}, sim.by), /was aborted/);

  await sim.controller.retry('web', sim.by);
  await sim.run(1500);
  assert.deepEqual(sim.router.split('web'), { v1: 80, v2: 20 });

  const undo = await sim.controller.undo('web', {}, sim.by);
  assert.equal(undo.revision, 1, 'the stable revision is reused');
  await sim.run(1000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Healthy');
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
  assert.deepEqual(sim.versions('web'), { v1: 3 });
});

test('undo after a completed release rolls forward to the old template through the strategy', async () => {
  const sim = makeSim();
  const steps = `    canary:\n      steps:\n        - setWeight: 50\n        - pause: {duration: 2s}\n`;
  await deployV1(sim, steps);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: steps }), '/tmp/web.yaml', sim.by);
  await sim.run(8000);
  assert.equal((await sim.status('web')).stableRevision, 2);
  const r = await sim.controller.undo('web', {}, sim.by);
  assert.equal(r.revision, 3);
  assert.equal((await sim.controller.history('web')).at(-1)?.cause, 'undo to revision 1');
  await sim.run(1500);
  assert.deepEqual(sim.router.split('web'), { v2: 50, v1: 50 }, 'undo goes through the canary steps');
  await sim.run(8000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Healthy');
  assert.deepEqual(sim.versions('web'), { v1: 3 });
  await assert.rejects(sim.controller.undo('web', { toRevision: 9 }, sim.by), /no revision 9/);
});

test('blue-green: preview only, manual promotion, one-step switch, delayed scale-down', async () => {
  const sim = makeSim();
  const bg = `    blueGreen:\n      previewListen: 127.0.0.1:18081\n      autoPromotionEnabled: false\n      previewReplicaCount: 1\n      scaleDownDelaySeconds: 5\n`;
  await deployV1(sim, bg);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: bg }), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  let s = await sim.status('web');
  assert.equal(s.reason, 'BlueGreenPause');
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
  assert.deepEqual(sim.router.split('web', 'preview'), { v2: 100 });
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 1 });
  const before = sim.router.tables.length;
  await sim.controller.promote('web', {}, sim.by);
  await sim.run(3000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Healthy');
  assert.deepEqual(sim.router.split('web'), { v2: 100 });
  const mains = sim.router.tables.slice(before).map((t) =>
    t.listeners
      .find((l) => l.role === 'main')!
      .split.map((x) => x.revision)
      .join(','),
  );
  assert.ok(!mains.some((m) => m.includes(',')), `main never split between revisions: ${mains}`);
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 3 }, 'old kept for the scale-down delay');
  await sim.run(6000);
  assert.deepEqual(sim.versions('web'), { v2: 3 });
});

test('rolling: stays within maxSurge and maxUnavailable, weights follow ready instances', async () => {
  const sim = makeSim();
  const rolling = `    rolling:\n      maxSurge: 1\n      maxUnavailable: 0\n`;
  await deployV1(sim, rolling);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: rolling }), '/tmp/web.yaml', sim.by);
  for (let k = 0; k < 40; k++) {
    await sim.run(250, 250);
    const live = sim.platform.list('web').filter((i) => i.phase !== 'Terminating');
    assert.ok(live.length <= 4, `at most replicas + maxSurge: ${live.length}`);
    const ready = live.filter((i) => i.phase === 'Ready').length;
    assert.ok(ready >= 3, `never fewer than replicas - maxUnavailable ready: ${ready}`);
  }
  assert.equal((await sim.status('web')).phase, 'Healthy');
  assert.deepEqual(sim.versions('web'), { v2: 3 });
  assert.ok(
    sim.router.tables.some((t) => t.listeners.find((l) => l.role === 'main')?.split.length === 2),
    'traffic was shared while rolling',
  );
});

test('recreate: every old instance is gone before a new one starts', async () => {
  const sim = makeSim();
  const recreate = `    recreate: {}\n`;
  await deployV1(sim, recreate);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: recreate }), '/tmp/web.yaml', sim.by);
  await sim.run(4000);
  assert.equal((await sim.status('web')).phase, 'Healthy');
  const firstV2 = sim.platform.started.findIndex((s) => s.revision === 2);
  assert.equal(sim.platform.stopped.length, 3);
  assert.ok(firstV2 >= 3, 'v2 started after the three v1 instances');
  const main = sim.router.current!.listeners[0];
  assert.equal(main.maintenance?.status, 503);
});

test('restart replaces instances one at a time', async () => {
  const sim = makeSim();
  await deployV1(sim, `    rolling: {}\n`);
  const before = sim.platform.list('web').map((i) => i.id);
  await sim.controller.restart('web', sim.by);
  for (let k = 0; k < 30; k++) {
    await sim.run(200, 200);
    const ready = sim.platform.list('web').filter((i) => i.phase === 'Ready').length;
    assert.ok(ready >= 3, `ready ${ready}`);
  }
  const after = sim.platform.list('web').map((i) => i.id);
  assert.equal(after.length, 3);
  assert.ok(after.every((id) => !before.includes(id)));
});

test('set changes the version without a file and makes a new revision; an unknown name is a clear error', async () => {
  const sim = makeSim();
  await deployV1(sim, `    rolling: {}\n`);
  const r = await sim.controller.set('web', { version: 'v9', env: { VERSION: 'v9' } }, sim.by);
  assert.equal(r.revision, 2);
  await sim.run(6000);
  assert.deepEqual(sim.versions('web'), { v9: 3 });
  const view = await sim.controller.get('web');
  assert.match(view.source, /version: v9/);
  await assert.rejects(sim.controller.promote('nope', {}, sim.by), /rollout "nope" not found/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';

type Sim = ReturnType<typeof makeSim>;

async function deployV1(sim: Sim, strategy: string, opts: { env?: Record<string, string> } = {}) {
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy, env: opts.env }), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  assert.equal((await sim.status('web')).phase, 'Healthy');
}

/** Ready instances the platform runs that are not being stopped. */
function readyLive(sim: Sim): number {
  return sim.platform.list('web').filter((i) => i.phase === 'Ready').length;
}

test('rolling maxUnavailable 0: a crash-looping revision replaced by a working one never takes stable below replicas', async () => {
  const sim = makeSim();
  const rolling = `    rolling:\n      maxSurge: 1\n      maxUnavailable: 0\n`;
  await deployV1(sim, rolling);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: rolling, env: { READY: 'false' } }), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 1 }, 'the broken v2 got its one surge instance');
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v3', strategy: rolling }), '/tmp/web.yaml', sim.by);
  let least = Infinity;
  for (let k = 0; k < 80; k++) {
    await sim.run(100, 50);
    least = Math.min(least, readyLive(sim));
  }
  assert.equal(least, 3, 'available never dropped below replicas − maxUnavailable');
  assert.equal((await sim.status('web')).phase, 'Healthy');
  assert.deepEqual(sim.versions('web'), { v3: 3 });
});

test('recreate: no new instance starts while an old process is still exiting (1 s after SIGTERM)', async () => {
  const sim = makeSim(1000, {}, { stopMs: 1000 });
  const recreate = `    recreate: {}\n`;
  await deployV1(sim, recreate);
  const overlaps: string[] = [];
  const start = sim.platform.start.bind(sim.platform);
  sim.platform.start = async (ref, template) => {
    const others = sim.platform.list('web').filter((i) => i.revision !== ref.revision);
    if (others.length > 0)
      overlaps.push(`revision ${ref.revision} started at +${sim.clock.now()} beside ${others.map((i) => `${i.revision}:${i.phase}`).join(', ')}`);
    return start(ref, template);
  };
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: recreate }), '/tmp/web.yaml', sim.by);
  await sim.run(500, 50);
  assert.ok(
    sim.platform.list('web').some((i) => i.phase === 'Terminating'),
    'old instances are still exiting',
  );
  assert.deepEqual(
    sim.platform.started.filter((r) => r.revision === 2),
    [],
    'v2 waits',
  );
  assert.equal((await sim.status('web')).reason, 'StoppingOld');
  await sim.run(4000, 50);
  assert.deepEqual(overlaps, []);
  assert.equal((await sim.status('web')).phase, 'Healthy');
  assert.deepEqual(sim.versions('web'), { v2: 3 });
});

test('undo goes to the last revision that was stable, never to one that only failed', async () => {
  const sim = makeSim();
  const rolling = `    rolling:\n      maxSurge: 1\n      maxUnavailable: 0\n`;
  const v1 = rolloutManifest({ ...SIM_APP, version: 'v1', strategy: rolling, deadline: 10 });
  await sim.controller.apply(v1, '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: rolling, deadline: 10, env: { READY: 'false' } }), '/tmp/web.yaml', sim.by);
  await sim.run(15_000, 500);
  assert.equal((await sim.status('web')).phase, 'Degraded', 'the broken v2 was aborted by the deadline');
  assert.deepEqual(await sim.controller.apply(v1, '/tmp/web.yaml', sim.by), [{ name: 'web', result: 'configured', revision: 1 }]);
  await sim.run(2000);
  assert.equal((await sim.controller.set('web', { version: 'v3' }, sim.by)).revision, 3);
  await sim.run(500);
  const undo = await sim.controller.undo('web', {}, sim.by);
  assert.equal(undo.revision, 1, 'back to v1 (stable before), not the broken revision 2');
  await sim.run(5000);
  assert.equal((await sim.status('web')).phase, 'Healthy');
  assert.deepEqual(sim.versions('web'), { v1: 3 });
});

test('undo with no revision that was ever stable says so and changes nothing', async () => {
  const sim = makeSim();
  const rolling = `    rolling: {}\n`;
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy: rolling, env: { READY: 'false' } }), '/tmp/web.yaml', sim.by);
  await sim.run(1000);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: rolling }), '/tmp/web.yaml', sim.by);
  await sim.run(100);
  const before = await sim.status('web');
  await assert.rejects(sim.controller.undo('web', {}, sim.by), /no earlier revision that was ever stable.*--to-revision/);
  assert.deepEqual(await sim.status('web'), before);
  assert.equal((await sim.controller.history('web')).length, 2);
});

test('blue-green: undo within scaleDownDelaySeconds switches straight back to the warm revision in one table swap', async () => {
  const sim = makeSim();
  const bg = `    blueGreen:\n      previewListen: 127.0.0.1:18081\n      autoPromotionEnabled: false\n      scaleDownDelaySeconds: 30\n`;
  await deployV1(sim, bg);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: bg }), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  await sim.controller.promote('web', {}, sim.by);
  await sim.run(3000);
  assert.equal((await sim.status('web')).stableRevision, 2);
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 3 }, 'v1 still warm');

  await assert.rejects(sim.controller.abort('web', sim.by), /revision 1 is still warm.*sluice undo web/);
  const started = sim.platform.started.length;
  const tables = sim.router.tables.length;
  const undo = await sim.controller.undo('web', {}, sim.by);
  assert.equal(undo.revision, 1, 'the warm revision itself, not a new one');
  await sim.run(500);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.stableRevision, 1);
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
  assert.equal(sim.platform.started.length, started, 'no instance started');
  const mains = sim.router.tables.slice(tables).map((t) =>
    t.listeners
      .find((l) => l.role === 'main')!
      .split.map((x) => x.revision)
      .join(','),
  );
  assert.deepEqual(mains, ['1'], 'one swap, straight to revision 1');
  assert.ok(sim.store.listEvents('web').some((e) => e.reason === 'SwitchedBack' && e.actor === 'test'));
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 3 }, 'v2 now kept warm in turn');
  await sim.run(31_000, 1000);
  assert.deepEqual(sim.versions('web'), { v1: 3 });
});

test("a user's abort fires the rollback hook once per release attempt, like an automatic abort", async () => {
  const sim = makeSim();
  const canary = `    canary:\n      steps:\n        - setWeight: 20\n        - pause: {}\n`;
  const hooks = `  hooks:\n    exec:\n      - name: page\n        kind: rollback\n        command: [node, -e, ""]\n`;
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy: canary, extra: hooks }), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: canary, extra: hooks }), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  const rollbacks = () =>
    sim.store
      .listJobs('web')
      .filter(({ job }) => job.key.includes('/rollback/hook.page'))
      .map(({ job }) => job.key);
  assert.deepEqual(rollbacks(), []);
  await sim.controller.abort('web', sim.by);
  await sim.run(3000);
  assert.deepEqual(rollbacks(), ['web/r2/a1/rollback/hook.page'], 'fired once for attempt 1');
  await sim.controller.retry('web', sim.by);
  await sim.run(2000);
  await sim.controller.abort('web', sim.by);
  await sim.run(3000);
  await sim.restartControlPlane();
  await sim.run(3000);
  assert.deepEqual(rollbacks(), ['web/r2/a1/rollback/hook.page', 'web/r2/a2/rollback/hook.page'], 'once per attempt, not again after a control-plane restart');
});

test('promote says what it does per strategy (a blue-green promote has no steps to skip)', async () => {
  const cases: [string, RegExp][] = [
    [`    blueGreen:\n      autoPromotionEnabled: false\n`, /^promoted by test: revision 2 is scaled to full, then takes all traffic in one switch$/],
    [`    rolling:\n      pauseSeconds: 30\n`, /^promoted by test: revision 2 rolls on without batch pauses$/],
    [`    canary:\n      steps:\n        - setWeight: 20\n        - pause: {}\n`, /^promote --full by test: revision 2 skips the remaining steps and pauses$/],
  ];
  for (const [strategy, message] of cases) {
    const sim = makeSim();
    await deployV1(sim, strategy);
    await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy }), '/tmp/web.yaml', sim.by);
    await sim.run(1500);
    await sim.controller.promote('web', { full: true }, sim.by);
    const e = sim.store.listEvents('web').find((x) => x.reason === 'PromotedFull');
    assert.match(e?.message ?? '', message);
  }
});

test('recreate: an abort stops the new revision before stable starts again (found by engine-model)', async () => {
  const sim = makeSim(200, {}, { stopMs: 150 });
  const recreate = `    recreate: {}\n`;
  await deployV1(sim, recreate);
  const overlaps: string[] = [];
  const start = sim.platform.start.bind(sim.platform);
  sim.platform.start = async (ref, template) => {
    const others = sim.platform.list('web').filter((i) => i.revision !== ref.revision);
    if (others.length > 0) overlaps.push(`revision ${ref.revision} started beside ${others.map((i) => `${i.revision}:${i.phase}`).join(', ')}`);
    return start(ref, template);
  };
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: recreate, env: { CRASH: 'true' } }), '/tmp/web.yaml', sim.by);
  await sim.run(1000, 50);
  assert.ok(
    sim.platform.list('web').some((i) => i.revision === 2),
    'v2 is running (crash-looping)',
  );
  await sim.controller.abort('web', sim.by);
  await sim.run(3000, 50);
  assert.deepEqual(overlaps, []);
  assert.equal((await sim.status('web')).reason, 'RolloutAborted');
  assert.deepEqual(sim.versions('web'), { v1: 3 });
});

test('rolling maxUnavailable 0: going back to stable mid-rollout keeps the new ready instances until stable is full (found by engine-model)', async () => {
  const sim = makeSim(200, {}, { stopMs: 150 });
  const rolling = `    rolling:\n      maxSurge: 1\n      maxUnavailable: 0\n`;
  await deployV1(sim, rolling);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: rolling }), '/tmp/web.yaml', sim.by);
  await sim.run(300, 50);
  assert.ok(sim.platform.list('web').some((i) => i.revision === 2 && i.phase === 'Ready'));
  await sim.controller.undo('web', {}, sim.by);
  let least = Infinity;
  for (let k = 0; k < 40; k++) {
    await sim.run(50, 50);
    least = Math.min(least, readyLive(sim));
  }
  assert.equal(least, 3);
  assert.deepEqual(sim.versions('web'), { v1: 3 });
});

test('a retry or a new revision starts without the previous attempt header route (issue 11 bug 2, found by engine-model)', async () => {
  const sim = makeSim(1000, {}, { fakeHooks: true });
  const canary = `    canary:\n      steps:\n        - setWeight: 20\n        - pause: {}\n        - setHeaderRoute: {name: testers, match: [{headerName: X-Canary, headerValue: {exact: "1"}}]}\n        - setWeight: 50\n        - pause: {}\n`;
  const hooks = `  hooks:\n    exec:\n      - name: page\n        kind: rollback\n        command: [./page.sh]\n`;
  const rules = () => sim.router.current!.listeners.find((l) => l.role === 'main')!.rules ?? [];
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy: canary, extra: hooks }), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy: canary, extra: hooks }), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  await sim.controller.promote('web', {}, sim.by);
  await sim.run(2000);
  assert.equal((await sim.status('web')).stepIndex, 4);
  assert.equal(rules().length, 1, 'the header route is live at step 5');
  await sim.controller.abort('web', sim.by);
  await sim.run(1000);
  await sim.controller.retry('web', sim.by);
  await sim.run(2000);
  assert.equal((await sim.status('web')).stepIndex, 1);
  assert.deepEqual(rules(), [], 'no header route at step 2 of the retry');
  assert.deepEqual(sim.hookRuns, ['web/r2/a1/rollback/hook.page']);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest, type ManifestOptions } from '../helpers/manifest.js';
import { engineOn } from '../helpers/engine-on-store.js';
import { MemoryStore } from '../../src/store/memory.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/core/store.js';
import type { RolloutSpec } from '../../src/core/spec.js';

const ROLLING = `    rolling: {maxSurge: 1, maxUnavailable: 0}
`;
const on = (port: number, text: string) => text.replace('127.0.0.1:18080', `127.0.0.1:${port}`);
const web = (version: string, extra: Partial<ManifestOptions> = {}) => rolloutManifest({ ...SIM_APP, name: 'web', version, strategy: ROLLING, ...extra });
const api = (version: string, port = 18081) => on(port, rolloutManifest({ ...SIM_APP, name: 'api', version, strategy: ROLLING }));

/** A store holding a healthy `api` and a `web` whose stored spec says `spec`. */
async function storeWith(store: Store, spoil: (spec: RolloutSpec) => void): Promise<void> {
  const first = engineOn(store);
  first.reconciler.start(0);
  await first.controller.apply(web('v1'), '/tmp/web.yaml', first.by);
  await first.controller.apply(api('v1'), '/tmp/api.yaml', first.by);
  await first.run(3000);
  assert.equal((await first.controller.get('web')).status.phase, 'Healthy');
  await first.close();
  const record = store.getRollout('web')!;
  spoil(record.spec);
  store.putRollout(record);
}

const warnings = (store: Store, name: string, reason: string) => store.listEvents(name).filter((e) => e.type === 'Warning' && e.reason === reason);

test('a stored spec with replicas: 1e9 does not crash a starting control plane: that rollout is Degraded once, the others run, apply fixes it', async () => {
  const store = new MemoryStore();
  await storeWith(store, (spec) => (spec.replicas = 1e9));
  const sim = engineOn(store);
  sim.reconciler.start(0);
  await sim.run(20_000, 500);

  const bad = (await sim.controller.get('web')).status;
  assert.equal(bad.phase, 'Degraded');
  assert.equal(bad.reason, 'SpecNotPlannable');
  assert.match(bad.message, /spec\.replicas is 1000000000/);
  assert.match(bad.message, /sluice delete web/);
  assert.equal(warnings(store, 'web', 'SpecNotPlannable').length, 1, 'one Warning event, not one per pass');
  assert.equal(sim.platform.list('web').length, 0, 'nothing started for it');
  assert.equal((await sim.controller.get('api')).status.phase, 'Healthy', 'the other rollout runs');
  assert.ok(sim.platform.started.length <= 3, `only api's instances started (${sim.platform.started.length})`);

  // The user's ordinary fix works: apply a sane spec.
  await sim.controller.apply(web('v1'), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  const fixed = (await sim.controller.get('web')).status;
  assert.equal(fixed.phase, 'Healthy', fixed.message);
  assert.equal(fixed.releasePhase, undefined);
  assert.equal(sim.platform.list('web').length, 3);
  assert.ok(store.listEvents('web').some((e) => e.reason === 'SpecPlannable'));
  await sim.close();
});

test('a stored spec the planner throws on is Degraded with the reason; its instances keep serving; delete removes it', async () => {
  const store = new MemoryStore();
  await storeWith(store, (spec) => ((spec.strategy as unknown as { type: string }).type = 'zigzag'));
  const sim = engineOn(store);
  const adopted = { ...store.getRollout('web')! };
  sim.reconciler.start(0);
  // A control plane that restarts adopts running instances: give web its three back.
  for (let k = 0; k < 3; k++) await sim.platform.start({ id: `web-${k}`, rollout: 'web', revision: 1, generation: 0 }, store.listRevisions('web')[0].template);
  await sim.run(10_000, 500);
  const s = (await sim.controller.get('web')).status;
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.reason, 'SpecNotPlannable');
  assert.match(s.message, /planning failed/);
  assert.equal(s.releasePhase?.phase, adopted.status.phase, 'the release phase is kept under the problem');
  assert.equal(warnings(store, 'web', 'SpecNotPlannable').length, 1);
  assert.equal(sim.platform.list('web').length, 3, 'its instances are neither stopped nor multiplied');
  assert.equal((await sim.controller.get('api')).status.phase, 'Healthy');

  // Its listener keeps serving from the last table it had... this control plane has none yet:
  // what matters is that api's listener is in every table pushed.
  assert.ok(sim.router.current?.listeners.some((l) => l.rollout === 'api'));

  await sim.controller.delete('web', sim.by);
  await sim.run(3000);
  assert.equal(sim.store.getRollout('web'), undefined);
  assert.equal(sim.platform.list('web').length, 0, 'delete drains and stops its instances');
  await sim.close();
});

test('an unplannable rollout keeps the listeners it had in the table while the others change', async () => {
  const sim = makeSim(500);
  await sim.controller.apply(web('v1'), '/tmp/web.yaml', sim.by);
  await sim.controller.apply(api('v1'), '/tmp/api.yaml', sim.by);
  await sim.run(3000);
  const record = sim.store.getRollout('web')!;
  (record.spec.strategy as unknown as { type: string }).type = 'zigzag';
  sim.store.putRollout(record);
  await sim.controller.set('api', { version: 'v2' }, sim.by);
  await sim.run(10_000);
  assert.equal((await sim.status('api')).stableRevision, 2);
  assert.deepEqual(sim.router.split('web'), { v1: 100 }, 'web still routed to its ready instances');
  assert.equal(sim.router.current?.listeners.find((l) => l.rollout === 'web')?.backends[0].endpoints.length, 3);
});

test('a stored spec with replicas: 1e9 in a real SQLite file: a control plane on it starts, runs the others, and apply fixes it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-robust-'));
  try {
    const file = join(dir, 'sluice.db');
    const writer = new SqliteStore(file);
    await storeWith(writer, (spec) => (spec.replicas = 1e9));
    writer.close();

    const store = new SqliteStore(file);
    const sim = engineOn(store);
    sim.reconciler.start(0);
    await sim.run(6000, 500);
    assert.equal((await sim.controller.get('web')).status.reason, 'SpecNotPlannable');
    assert.equal((await sim.controller.get('api')).status.phase, 'Healthy');
    await sim.controller.apply(web('v1'), '/tmp/web.yaml', sim.by);
    await sim.run(3000);
    assert.equal((await sim.controller.get('web')).status.phase, 'Healthy');
    await sim.close();
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('instance starts per pass are bounded: a large scale-up is spread over passes', async () => {
  const sim = makeSim(500);
  await sim.controller.apply(web('v1', { replicas: 300 }), '/tmp/web.yaml', sim.by);
  await sim.run(5000);
  const ups = sim.store.listEvents('web').filter((e) => e.reason === 'ScalingUp');
  assert.ok(ups.length >= 5, `${ups.length} ScalingUp events`);
  for (const e of ups) assert.ok(Number(/starting (\d+)/.exec(e.message)?.[1]) <= 64, e.message);
  assert.equal(sim.platform.list('web').length, 300);
  assert.equal((await sim.status('web')).phase, 'Healthy');
});

test('a listener the router cannot open degrades only its own rollout, with one Warning; the others release; it is retried at the resync', async () => {
  const sim = makeSim(500);
  await sim.controller.apply(web('v1'), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  sim.router.unbindable.set('127.0.0.1:18081', 'listen EADDRINUSE: address already in use 127.0.0.1:18081');
  await sim.controller.apply(api('v1'), '/tmp/api.yaml', sim.by);
  await sim.run(3000);

  let s = await sim.status('api');
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.reason, 'ListenerFailed');
  assert.match(s.message, /listener 127\.0\.0\.1:18081 could not be opened: listen EADDRINUSE/);
  assert.equal(s.releasePhase?.phase, 'Healthy', 'the release itself went on');

  // An unrelated release goes through while the failure lasts.
  const before = sim.router.tables.length;
  await sim.controller.set('web', { version: 'v2' }, sim.by);
  await sim.run(20_000);
  const w = await sim.status('web');
  assert.equal(w.phase, 'Healthy', w.message);
  assert.equal(w.stableRevision, 2);
  assert.deepEqual(sim.router.split('web'), { v2: 100 });
  const scaleDowns = sim.store.listEvents('web').filter((e) => e.reason === 'ScalingDown').length;
  assert.ok(scaleDowns <= 3, `one ScalingDown per stopped instance, not per retry (${scaleDowns})`);
  // 20 s: the release's own changes plus one retry per 2 s resync, not one per 0.5 s.
  assert.ok(sim.router.tables.length - before <= 10 + 10, `${sim.router.tables.length - before} tables in 20 s`);
  assert.equal(warnings(sim.store, 'api', 'ListenerFailed').length, 1, 'one Warning per change, not per retry');

  // Freed: the next resync opens it and the rollout is Healthy again.
  sim.router.unbindable.clear();
  await sim.run(3000);
  s = await sim.status('api');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.listenerFailures, undefined);
  assert.ok(sim.store.listEvents('api').some((e) => e.reason === 'ListenerOpened'));
});

test('a route table replaced behind the engine (another control plane, a restarted router) is pushed again at the next resync', async () => {
  const sim = makeSim(500);
  await sim.controller.apply(web('v1'), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  const ours = sim.router.current!.generation;

  sim.router.replaceBehindEngine({ generation: 1, listeners: [] });
  await sim.run(2500);
  assert.deepEqual(sim.router.split('web'), { v1: 100 }, 'our listener is back');
  assert.ok(sim.router.current!.generation > ours);

  sim.router.replaceBehindEngine({ generation: 500, listeners: [] });
  await sim.run(2500);
  assert.deepEqual(sim.router.split('web'), { v1: 100 });
  assert.equal(sim.router.current!.generation, 501, 'continues from the higher generation, so the router does not ignore it as older');

  const pushes = sim.router.tables.length;
  await sim.run(10_000);
  assert.equal(sim.router.tables.length, pushes, 'an unchanged table in effect is not pushed again');
});

test('restart records when it finishes: one RestartCompleted once every instance is of the new generation', async () => {
  const sim = makeSim(500);
  await sim.controller.apply(web('v1'), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  await sim.controller.restart('web', sim.by);
  await sim.run(500);
  const done = () => sim.store.listEvents('web').filter((e) => e.reason === 'RestartCompleted');
  assert.equal(done().length, 0, 'not finished while old instances remain');
  await sim.run(10_000);
  assert.equal(done().length, 1);
  assert.match(done()[0].message, /rolling restart of revision 1 finished: all 3 instance\(s\) are of generation 1/);
  assert.ok(sim.platform.list('web').every((i) => i.generation === 1));
  const reasons = sim.store.listEvents('web').map((e) => e.reason);
  assert.ok(reasons.indexOf('Restart') < reasons.indexOf('RestartCompleted'));
});

test('a user action during a listener failure keeps its own phase under the failure (abort says who aborted)', async () => {
  const sim = makeSim(500);
  sim.router.unbindable.set('127.0.0.1:18081', 'listen EADDRINUSE: address already in use 127.0.0.1:18081');
  await sim.controller.apply(api('v1'), '/tmp/api.yaml', sim.by);
  await sim.run(2000);
  await sim.controller.set('api', { env: { READY: 'false' } }, sim.by);
  await sim.run(2000);
  await sim.controller.abort('api', sim.by);
  await sim.run(3000);
  const s = await sim.status('api');
  assert.equal(s.reason, 'ListenerFailed');
  assert.equal(s.releasePhase?.reason, 'RolloutAborted');
  assert.match(s.releasePhase?.message ?? '', /aborted by test/);
  sim.router.unbindable.clear();
  await sim.run(3000);
  const after = await sim.status('api');
  assert.equal(after.phase, 'Degraded');
  assert.equal(after.reason, 'RolloutAborted');
  assert.match(after.message, /aborted by test/);
});

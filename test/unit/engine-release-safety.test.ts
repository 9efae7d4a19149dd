import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSim, manifest } from '../helpers/engine-sim.js';

type Sim = ReturnType<typeof makeSim>;

async function deployV1(sim: Sim, strategy: string, opts: { env?: Record<string, string> } = {}) {
  await sim.controller.apply(manifest({ version: 'v1', strategy, env: opts.env }), '/tmp/web.yaml', sim.by);
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
  await sim.controller.apply(manifest({ version: 'v2', strategy: rolling, env: { READY: 'false' } }), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  assert.deepEqual(sim.versions('web'), { v1: 3, v2: 1 }, 'the broken v2 got its one surge instance');
  await sim.controller.apply(manifest({ version: 'v3', strategy: rolling }), '/tmp/web.yaml', sim.by);
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
    if (others.length > 0) overlaps.push(`revision ${ref.revision} started at +${sim.clock.now()} beside ${others.map((i) => `${i.revision}:${i.phase}`).join(', ')}`);
    return start(ref, template);
  };
  await sim.controller.apply(manifest({ version: 'v2', strategy: recreate }), '/tmp/web.yaml', sim.by);
  await sim.run(500, 50);
  assert.ok(sim.platform.list('web').some((i) => i.phase === 'Terminating'), 'old instances are still exiting');
  assert.deepEqual(sim.platform.started.filter((r) => r.revision === 2), [], 'v2 waits');
  assert.equal((await sim.status('web')).reason, 'StoppingOld');
  await sim.run(4000, 50);
  assert.deepEqual(overlaps, []);
  assert.equal((await sim.status('web')).phase, 'Healthy');
  assert.deepEqual(sim.versions('web'), { v2: 3 });
});

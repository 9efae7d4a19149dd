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

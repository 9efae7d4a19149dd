/** Controller.logs: only a rollout's own instances, read through the platform. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';

const manifest = (name: string, port: number) =>
  rolloutManifest({ ...SIM_APP, name, version: 'v1', listen: port, strategy: '    rolling: {maxSurge: 1, maxUnavailable: 0}\n' });

test("logs reads the platform for the rollout's own instances and refuses another rollout's, naming both", async () => {
  const sim = makeSim(500);
  await sim.controller.apply(manifest('web', 18080), '/tmp/web.yaml', sim.by);
  await sim.controller.apply(manifest('api', 18081), '/tmp/api.yaml', sim.by);
  await sim.run(2000);
  const [mine] = sim.platform.list('web');
  const [theirs] = sim.platform.list('api');
  assert.ok(mine && theirs);
  assert.deepEqual(await sim.controller.logs('web', mine.id, 42, 1000), { text: '', offset: 42 });
  await assert.rejects(sim.controller.logs('web', theirs.id, 0, 1000), (err: Error & { status?: number }) => {
    assert.equal(err.status, 404);
    assert.equal(err.message, `rollout web has no instance ${theirs.id} — \`sluice get rollout web\` lists its instances`);
    return true;
  });
  await assert.rejects(sim.controller.logs('nope', mine.id, 0, 1000), /rollout "nope" not found/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';

const ROLLING = `    rolling: {maxSurge: 1, maxUnavailable: 0}
`;
const on = (port: number, text: string) => text.replace('127.0.0.1:18080', `127.0.0.1:${port}`);
const web = (version: string) => rolloutManifest({ ...SIM_APP, name: 'web', version, strategy: ROLLING });
const api = (version: string, port = 18081) => on(port, rolloutManifest({ ...SIM_APP, name: 'api', version, strategy: ROLLING }));

test('apply refuses a wildcard and a specific address on the same port across rollouts, and addresses this machine cannot open', async () => {
  const sim = makeSim(500);
  await sim.controller.apply(web('v1'), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  const refused = async (listen: string, pattern: RegExp) => {
    await assert.rejects(sim.controller.apply(api('v1').replace('127.0.0.1:18081', listen), '/tmp/api.yaml', sim.by), (err: Error) => {
      assert.match(err.message, /^\/tmp\/api\.yaml:\d+: rollout api: /);
      assert.match(err.message, pattern);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    assert.equal(sim.store.getRollout('api'), undefined, 'nothing stored');
  };
  await refused('0.0.0.0:18080', /listen address 0\.0\.0\.0:18080 is on the same port as 127\.0\.0\.1:18080 of rollout web .* — pick another port/);
  await refused('"[::]:18080"', /\[::\]:18080 is on the same port as 127\.0\.0\.1:18080 of rollout web/);
  await refused('localhost:18080', /localhost:18080 is on the same port as 127\.0\.0\.1:18080/);
  await refused(
    '999.1.1.1:18090',
    /999\.1\.1\.1:18090 cannot be opened: 999\.1\.1\.1 is not a valid IPv4 address — use an address of this machine, e\.g\. 127\.0\.0\.1:18090/,
  );
  await refused('192.0.2.7:18090', /192\.0\.2\.7 is not an address of this machine/);
  await refused('no-such-host.invalid:18090', /host no-such-host\.invalid does not resolve/);

  await sim.controller.apply(api('v1').replace('127.0.0.1:18081', '0.0.0.0:18091'), '/tmp/api.yaml', sim.by);
  await assert.rejects(
    sim.controller.apply(on(18091, web('v1')), '/tmp/web.yaml', sim.by),
    /\/tmp\/web\.yaml:\d+: rollout web: listen address 127\.0\.0\.1:18091 is on the same port as 0\.0\.0\.0:18091 of rollout api/,
  );
  assert.equal(sim.store.getRollout('web')!.spec.traffic.listen, '127.0.0.1:18080', 'web unchanged');
  // Any loopback address is this machine's; a rollout may move within its own addresses.
  await sim.controller.apply(api('v1').replace('127.0.0.1:18081', '127.0.0.2:18091'), '/tmp/api.yaml', sim.by);
  assert.equal(sim.store.getRollout('api')!.spec.traffic.listen, '127.0.0.2:18091');
});

test('pause with no release in progress is refused and says what pause does', async () => {
  const sim = makeSim(500);
  await sim.controller.apply(web('v1'), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  await assert.rejects(
    sim.controller.pause('web', sim.by),
    /rollout web has no release in progress — pause holds a release between its steps.*pause-traffic web/,
  );
  assert.equal((await sim.status('web')).pauses.length, 0);
  await sim.controller.set('web', { version: 'v2' }, sim.by);
  await sim.controller.pause('web', sim.by);
  assert.equal((await sim.status('web')).pauses[0]?.reason, 'Manual');
});

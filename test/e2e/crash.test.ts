/**
 * Acceptance: `kill -9` of the control plane during a canary pause loses no request; after
 * a restart the rollout is at the same step and weight, the pause ends on time, and no
 * instance was restarted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadGenerator, describe } from '../helpers/load.js';
import { SluiceUnderTest } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { sleep, waitFor } from '../helpers/wait.js';

let sluice: SluiceUnderTest;
before(async () => {
  sluice = await SluiceUnderTest.start();
});
after(async () => {
  await sluice?.down();
});

test('kill -9 of the control plane during a canary pause', async () => {
  const port = await freePort();
  const strategy = `    canary:
      steps:
        - setWeight: 30
        - pause: {duration: 20s}
        - setWeight: 100
`;
  await sluice.apply('web.yaml', rolloutManifest({ version: 'v1', listen: port, strategy }));
  await waitFor(
    sluice.rollout('web', (v) => v.status.phase === 'Healthy' && v.instances.filter((i) => i.phase === 'Ready').length === 3),
    { timeoutMs: 60_000, what: 'v1 healthy' },
  );
  const load = new LoadGenerator(port, 200, 120);
  await sluice.apply('web.yaml', rolloutManifest({ version: 'v2', listen: port, strategy }));
  const paused = await waitFor(
    sluice.rollout('web', (v) => v.status.reason === 'CanaryPauseStep'),
    { timeoutMs: 60_000, what: 'timed pause' },
  );
  const pause = paused.status.pauses.find((p) => p.reason === 'CanaryPauseStep')!;
  assert.ok(pause.until, 'a timed pause has an end');
  const before = new Map(paused.instances.map((i) => [i.id, i.pid]));
  assert.equal(before.size, 4, '3 stable + 1 canary');

  await sleep(3000);
  await sluice.kill9();
  const killedAt = load.now();
  await sleep(4000);
  const whileDown = load.samples.filter((s) => s.sentAt > killedAt);
  assert.ok(whileDown.length > 500, 'traffic kept flowing while the control plane was down');
  await sluice.up();

  const resumed = await sluice.get('web');
  assert.equal(resumed.status.stepIndex, paused.status.stepIndex, 'same step');
  assert.deepEqual(resumed.status.weights, paused.status.weights, 'same weights');
  assert.equal(resumed.status.pauses.find((p) => p.reason === 'CanaryPauseStep')?.until, pause.until, 'pause keeps its end');
  for (const i of resumed.instances) {
    assert.equal(before.get(i.id), i.pid, `instance ${i.id} kept its process`);
    assert.equal(i.restarts, 0);
  }

  const done = await waitFor(
    sluice.rollout('web', (v) => v.status.stepIndex >= 2),
    { timeoutMs: 30_000, what: 'pause over' },
  );
  const endedAt = Date.now();
  assert.ok(endedAt >= pause.until! - 100, 'the pause did not end early');
  assert.ok(endedAt <= pause.until! + 4000, `the pause ended on time (${endedAt - pause.until!} ms late)`);
  assert.ok(done.events.some((e) => e.reason === 'StepCompleted' && /pause 20s/.test(e.message)));
  await waitFor(
    sluice.rollout('web', (v) => v.status.phase === 'Healthy' && v.status.stableRevision === 2 && v.instances.every((i) => i.revision === 2)),
    { timeoutMs: 60_000, what: 'v2 healthy' },
  );
  await sleep(500);
  const report = await load.stop();
  assert.equal(report.ok2xx, report.sent, describe(report));
  console.log(`kill -9: ${describe(report)}`);
});

/**
 * Acceptance: a v2 whose readiness never passes gets no traffic (rolling, blue-green,
 * canary) and the progress deadline aborts it while v1 serves with zero errors; abort and
 * undo bring v1 back with zero failed requests.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadGenerator, describe } from '../helpers/load.js';
import { SluiceUnderTest, healthyOn } from '../helpers/sluice.js';
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

const strategies: Record<string, (extra: number) => string> = {
  rolling: () => `    rolling: {maxSurge: 1, maxUnavailable: 0}\n`,
  'blue-green': (p) => `    blueGreen: {previewListen: "127.0.0.1:${p}", scaleDownDelaySeconds: 0}\n`,
  canary: (p) => `    canary:\n      canaryListen: 127.0.0.1:${p}\n      steps: [{setWeight: 20}, {pause: {}}]\n`,
};

for (const [kind, strategy] of Object.entries(strategies)) {
  test(`${kind}: a v2 that never becomes ready gets no traffic; the progress deadline aborts it; v1 serves throughout`, async () => {
    const name = `never-${kind}`;
    const port = await freePort();
    const s = strategy(await freePort());
    await sluice.apply(`${name}.yaml`, rolloutManifest({ name, version: 'v1', listen: port, strategy: s, deadline: 6 }));
    await waitFor(sluice.rollout(name, healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
    const load = new LoadGenerator(port, 100, 60);
    await sleep(500);
    await sluice.apply(`${name}.yaml`, rolloutManifest({ name, version: 'v2', listen: port, strategy: s, deadline: 6, env: { READY: 'false' } }));
    const v = await waitFor(
      sluice.rollout(name, (x) => x.status.phase === 'Degraded'),
      { timeoutMs: 30_000, what: 'aborted by the deadline' },
    );
    assert.equal(v.status.reason, 'ProgressDeadlineExceeded');
    assert.match(v.status.message, /revision 2 made no progress for 6s/);
    await waitFor(
      sluice.rollout(name, (x) => x.instances.every((i) => i.revision === 1)),
      { timeoutMs: 60_000, what: 'v2 scaled down' },
    );
    await sleep(500);
    const report = await load.stop();
    assert.equal(report.ok2xx, report.sent, describe(report));
    assert.deepEqual(Object.keys(report.byVersion), ['v1'], 'v2 never answered');
    const status = await sluice.cli(['status', name]);
    assert.equal(status.code, 1, 'status exits non-zero when Degraded');
  });
}

test('abort and undo bring v1 back with zero failed requests', async () => {
  const name = 'undo';
  const port = await freePort();
  const strategy = `    canary:\n      steps: [{setWeight: 50}, {pause: {}}]\n`;
  const v1 = rolloutManifest({ name, version: 'v1', listen: port, strategy });
  const v2 = rolloutManifest({ name, version: 'v2', listen: port, strategy });
  await sluice.apply(`${name}.yaml`, v1);
  await waitFor(sluice.rollout(name, healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
  const load = new LoadGenerator(port, 200, 120);

  // abort during the canary
  await sluice.apply(`${name}.yaml`, v2);
  await waitFor(
    sluice.rollout(name, (v) => v.status.reason === 'CanaryPauseStep'),
    { timeoutMs: 60_000, what: 'canary paused at 50%' },
  );
  await sleep(1500);
  let r = await sluice.cli(['abort', name]);
  assert.equal(r.code, 0, r.stderr);
  const abortedAt = load.now();
  await waitFor(
    sluice.rollout(name, (v) => v.status.phase === 'Degraded' && v.instances.every((i) => i.revision === 1)),
    { timeoutMs: 60_000, what: 'aborted, v2 gone' },
  );
  await sleep(1000);
  const afterAbort = load.samples.filter((s) => s.sentAt > abortedAt + 200);
  assert.ok(afterAbort.length > 100 && afterAbort.every((s) => s.version === 'v1'), 'only v1 after the abort');

  // undo during a canary: straight back to stable
  r = await sluice.cli(['retry', name]);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(
    sluice.rollout(name, (v) => v.status.reason === 'CanaryPauseStep' && !v.status.aborted),
    { timeoutMs: 60_000, what: 'canary paused again' },
  );
  r = await sluice.cli(['undo', name]);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(sluice.rollout(name, healthyOn(1)), { timeoutMs: 60_000, what: 'back on v1' });

  // undo after a full promotion: rolls forward to v1's template through the steps
  await sluice.apply(`${name}.yaml`, v2);
  await waitFor(
    sluice.rollout(name, (v) => v.status.reason === 'CanaryPauseStep'),
    { timeoutMs: 60_000, what: 'canary paused' },
  );
  r = await sluice.cli(['promote', name, '--full']);
  assert.equal(r.code, 0, r.stderr);
  const promoted = await waitFor(
    sluice.rollout(
      name,
      (v) => v.status.phase === 'Healthy' && v.instances.every((i) => i.revision === v.status.stableRevision) && v.status.stableRevision !== 1,
    ),
    { timeoutMs: 60_000, what: 'v2 healthy' },
  );
  r = await sluice.cli(['undo', name]);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(
    sluice.rollout(name, (v) => v.status.reason === 'CanaryPauseStep' && v.status.currentRevision > promoted.status.stableRevision!),
    { timeoutMs: 60_000, what: 'undo paused at 50%' },
  );
  r = await sluice.cli(['promote', name]);
  assert.equal(r.code, 0, r.stderr);
  const done = await waitFor(
    sluice.rollout(
      name,
      (v) =>
        v.status.phase === 'Healthy' &&
        v.status.stableRevision === v.status.currentRevision &&
        v.instances.filter((i) => i.phase === 'Ready').length === 3 &&
        v.instances.every((i) => i.revision === v.status.stableRevision),
    ),
    { timeoutMs: 60_000, what: 'v1 template healthy' },
  );
  const stable = done.revisions.find((x) => x.number === done.status.stableRevision)!;
  assert.equal(stable.template.version, 'v1');
  assert.match(stable.cause, /^undo to revision 1/);
  await sleep(1000);
  const report = await load.stop();
  assert.equal(report.ok2xx, report.sent, describe(report));
  const tail = report.samples.slice(-100);
  assert.ok(tail.every((s) => s.version === 'v1'));
  console.log(`abort/undo: ${describe(report)}`);
});

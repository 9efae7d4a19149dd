/**
 * Acceptance: each strategy ships v1 → v2 (3 instances) under 200 requests/s through the
 * router with no failed request, the versions seen follow the strategy, and the rollout
 * ends Healthy with only v2 running.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadGenerator, describe, type Sample } from '../helpers/load.js';
import { SluiceUnderTest, healthyOn } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { sleep, waitFor } from '../helpers/wait.js';

const RATE = 200;
let sluice: SluiceUnderTest;

before(async () => {
  sluice = await SluiceUnderTest.start();
});
after(async () => {
  await sluice?.down();
});

async function deployV1(name: string, port: number, strategy: string) {
  await sluice.apply(`${name}.yaml`, rolloutManifest({ name, version: 'v1', listen: port, strategy }));
  await waitFor(sluice.rollout(name, healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
}

function failures(samples: Sample[]): string {
  return samples
    .filter((s) => s.error || s.status < 200 || s.status >= 300)
    .slice(0, 5)
    .map((s) => `${s.sentAt.toFixed(0)}ms: ${s.error ?? s.status}`)
    .join('; ');
}

test('canary: setWeight 20 sends 20 ± 3 % to v2, promotion ends on v2, no request fails', async () => {
  const port = await freePort();
  const canaryPort = await freePort();
  const strategy = `    canary:
      canaryListen: 127.0.0.1:${canaryPort}
      steps:
        - setWeight: 20
        - pause: {}
        - setWeight: 60
        - pause: {duration: 3s}
`;
  await deployV1('canary', port, strategy);
  const load = new LoadGenerator(port, RATE, 120);
  await sleep(1000);
  await sluice.apply('canary.yaml', rolloutManifest({ name: 'canary', version: 'v2', listen: port, strategy }));
  await waitFor(
    sluice.rollout('canary', (v) => v.status.reason === 'CanaryPauseStep' && v.status.stepIndex === 1),
    { timeoutMs: 60_000, what: 'paused at 20%' },
  );
  const windowStart = load.now();
  await sleep(12_000);
  const windowEnd = load.now();
  const r = await sluice.cli(['promote', 'canary']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(sluice.rollout('canary', healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy' });
  await sleep(1000);
  const report = await load.stop();
  assert.equal(report.ok2xx, report.sent, `every request 2xx: ${describe(report)} ${failures(report.samples)}`);
  const inWindow = report.samples.filter((s) => s.sentAt >= windowStart && s.sentAt <= windowEnd);
  assert.ok(inWindow.length >= 2000, `at least 2,000 responses at weight 20 (${inWindow.length})`);
  const share = inWindow.filter((s) => s.version === 'v2').length / inWindow.length;
  assert.ok(Math.abs(share - 0.2) <= 0.03, `v2 share at setWeight 20: ${(share * 100).toFixed(2)} %`);
  const last = report.samples.filter((s) => s.sentAt > report.samples.at(-1)!.sentAt - 500);
  assert.ok(
    last.every((s) => s.version === 'v2'),
    'only v2 at the end',
  );
  console.log(`canary: ${describe(report)}; v2 share at 20 %: ${(share * 100).toFixed(2)} % of ${inWindow.length}`);
});

test('blue-green: no v2 before promotion, no v1 after the switch, no request fails', async () => {
  const port = await freePort();
  const previewPort = await freePort();
  const strategy = `    blueGreen:
      previewListen: 127.0.0.1:${previewPort}
      autoPromotionEnabled: false
      scaleDownDelaySeconds: 2
`;
  await deployV1('bluegreen', port, strategy);
  const load = new LoadGenerator(port, RATE, 120);
  await sleep(1000);
  await sluice.apply('bluegreen.yaml', rolloutManifest({ name: 'bluegreen', version: 'v2', listen: port, strategy }));
  await waitFor(
    sluice.rollout('bluegreen', (v) => v.status.reason === 'BlueGreenPause'),
    { timeoutMs: 60_000, what: 'preview ready' },
  );
  const preview = await fetch(`http://127.0.0.1:${previewPort}/`);
  assert.equal(preview.headers.get('x-version'), 'v2', 'the preview listener reaches v2');
  await sleep(2000);
  const promoteAt = load.now();
  const r = await sluice.cli(['promote', 'bluegreen']);
  assert.equal(r.code, 0, r.stderr);
  const switched = await waitFor(
    sluice.rollout('bluegreen', (v) => v.status.stableRevision === 2),
    { timeoutMs: 30_000, what: 'switched' },
  );
  const switchSeenAt = load.now();
  assert.equal(switched.status.activeRevision, 2);
  await waitFor(sluice.rollout('bluegreen', healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy alone' });
  await sleep(1000);
  const report = await load.stop();
  assert.equal(report.ok2xx, report.sent, `every request 2xx: ${describe(report)} ${failures(report.samples)}`);
  const early = report.samples.filter((s) => s.sentAt < promoteAt);
  assert.ok(early.length > 500 && early.every((s) => s.version === 'v1'), 'no response from v2 before promotion');
  const late = report.samples.filter((s) => s.sentAt > switchSeenAt);
  assert.ok(late.length > 200 && late.every((s) => s.version === 'v2'), 'no response from v1 after the switch');
  console.log(`blue-green: ${describe(report)}`);
});

test('rolling: versions mix while rolling, then only v2; no request fails', async () => {
  const port = await freePort();
  const strategy = `    rolling:
      maxSurge: 1
      maxUnavailable: 0
`;
  await deployV1('rolling', port, strategy);
  const load = new LoadGenerator(port, RATE, 120);
  await sleep(1000);
  await sluice.apply('rolling.yaml', rolloutManifest({ name: 'rolling', version: 'v2', listen: port, strategy }));
  await waitFor(sluice.rollout('rolling', healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy alone' });
  await sleep(1000);
  const report = await load.stop();
  assert.equal(report.ok2xx, report.sent, `every request 2xx: ${describe(report)} ${failures(report.samples)}`);
  assert.ok(report.byVersion.v1 > 0 && report.byVersion.v2 > 0);
  const tail = report.samples.slice(-100);
  assert.ok(
    tail.every((s) => s.version === 'v2'),
    'only v2 at the end',
  );
  console.log(`rolling: ${describe(report)}`);
});

test('recreate: the gap is served only by the 503 maintenance page; everything else 2xx', async () => {
  const port = await freePort();
  const strategy = `    recreate:
      maintenance: {body: "down for a moment", retryAfterSeconds: 3}
`;
  await deployV1('recreate', port, strategy);
  const load = new LoadGenerator(port, RATE, 120);
  await sleep(1000);
  await sluice.apply('recreate.yaml', rolloutManifest({ name: 'recreate', version: 'v2', listen: port, strategy }));
  await waitFor(sluice.rollout('recreate', healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy alone' });
  await sleep(1000);
  const report = await load.stop();
  assert.equal(report.errors, 0, `no connection error: ${failures(report.samples)}`);
  assert.equal(report.otherStatus, 0, `only 2xx and the maintenance 503: ${failures(report.samples)}`);
  assert.ok(report.status503 > 0, 'recreate has a gap');
  const gap = report.samples.filter((s) => s.status === 503);
  const firstV2 = report.samples.findIndex((s) => s.version === 'v2');
  assert.ok(
    report.samples.slice(firstV2).every((s) => s.version === 'v2'),
    'no v1 once v2 answered',
  );
  assert.ok(
    gap.every((s) => s.body === 'down for a moment' && s.retryAfter === '3'),
    `every 503 is the maintenance page: ${gap[0].body}`,
  );
  console.log(`recreate: ${describe(report)}; gap ${gap.length} requests (${(gap.at(-1)!.sentAt - gap[0].sentAt).toFixed(0)} ms)`);
});

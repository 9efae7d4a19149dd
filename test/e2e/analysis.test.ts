/**
 * Acceptance (analysis issue): a canary answering 5xx on 10 % of requests at 200 req/s is
 * aborted by itself with the reason naming metric and values, no 5xx reaches clients
 * after the abort, and the same spec with a healthy version promotes; a +200 ms latency
 * regression is caught by the builtin provider and by the judge; at 1 req/s the analysis
 * is Inconclusive and the rollout pauses instead of promoting.
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

const errorRateCanary = `    canary:
      analysis:
        metrics:
          - name: error-rate
            interval: 1s
            successCondition: result <= 0.02
            provider: {builtin: {metric: error-rate, windowSeconds: 5, minRequests: 20}}
      steps:
        - setWeight: 20
        - pause: {duration: 8s}
        - setWeight: 50
        - pause: {duration: 4s}
`;

async function release(name: string, strategy: string, v2env: Record<string, string>, rate: number) {
  const port = await freePort();
  await sluice.apply(`${name}.yaml`, rolloutManifest({ name, version: 'v1', listen: port, strategy }));
  await waitFor(sluice.rollout(name, healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
  const load = new LoadGenerator(port, rate, 120);
  await sleep(500);
  await sluice.apply(`${name}.yaml`, rolloutManifest({ name, version: 'v2', listen: port, strategy, env: v2env }));
  return load;
}

test('canary with 10 % 5xx at 200 req/s is aborted by itself, explained, and no 5xx follows the abort', async () => {
  const load = await release('bad', errorRateCanary, { ERROR_RATE: '0.1' }, 200);
  const firstBad = Date.now();
  const v = await waitFor(
    sluice.rollout('bad', (x) => x.status.phase === 'Degraded'),
    { timeoutMs: 30_000, what: 'aborted' },
  );
  const abortSeen = load.now();
  console.log(`bad canary aborted ${Date.now() - firstBad} ms after the new revision was applied: ${v.status.message}`);
  assert.equal(v.status.reason, 'AnalysisFailed');
  assert.match(v.status.message, /error-rate/);
  assert.match(v.status.message, /result <= 0\.02/);
  assert.match(v.status.message, /false for 0\.\d+/, 'the measured value is in the reason');
  await waitFor(
    sluice.rollout('bad', (x) => x.instances.every((i) => i.revision === 1)),
    { timeoutMs: 60_000, what: 'canary gone' },
  );
  await sleep(2000);
  const report = await load.stop();
  const late5xx = report.samples.filter((s) => s.status >= 500 && s.sentAt > abortSeen + 100);
  assert.equal(late5xx.length, 0, `no 5xx after the abort (${describe(report)})`);
  assert.equal(report.errors, 0);
  const analysis = await sluice.cli(['get', 'analysis', 'bad']);
  assert.equal(analysis.code, 0, analysis.stderr);
  assert.match(analysis.stdout, /error-rate \(builtin, every 1s; success: result <= 0\.02\): Failed/);
  console.log(`bad canary: ${describe(report)}`);
});

test('the same spec with a healthy version promotes to 100 %', async () => {
  const load = await release('good', errorRateCanary, {}, 200);
  const v = await waitFor(sluice.rollout('good', healthyOn(2)), { timeoutMs: 60_000, what: 'promoted' });
  const report = await load.stop();
  assert.equal(report.ok2xx, report.sent, describe(report));
  const runs = await sluice.client().analysis('good');
  const bg = runs.find((r) => r.job.key.includes('/background.'));
  const phases = bg?.measurements.map((m) => `${m.phase}${m.message ? ` (${m.message})` : ''}`) ?? [];
  // Too little data while the window fills is no verdict by design (docs/analysis.md); on a busy
  // machine the first measurement can land there. Anything else but Successful is a failure.
  const verdicts = bg?.measurements.filter((m) => !(m.phase === 'Inconclusive' && m.details?.windowFilling)) ?? [];
  assert.ok(
    bg && verdicts.length >= 5 && verdicts.every((m) => m.phase === 'Successful'),
    `measured all along, all good: ${bg ? phases.join('; ') : `no background run among ${runs.map((r) => r.job.key).join(', ')}`}`,
  );
  assert.deepEqual(v.status.weights, [{ revision: 2, weight: 100 }]);
});

test('a +200 ms latency regression is caught by the builtin provider (p95 against stable)', async () => {
  const strategy = `    canary:
      steps:
        - setWeight: 30
        - analysis:
            metrics:
              - name: p95-vs-stable
                interval: 1s
                count: 5
                successCondition: result < 0.1
                provider: {builtin: {metric: latency-p95, compare: difference, windowSeconds: 5, minRequests: 20}}
        - setWeight: 100
`;
  const load = await release('slow', strategy, { LATENCY_MS: '200' }, 100);
  const v = await waitFor(
    sluice.rollout('slow', (x) => x.status.phase === 'Degraded'),
    { timeoutMs: 30_000, what: 'aborted' },
  );
  await load.stop();
  assert.equal(v.status.reason, 'AnalysisFailed');
  assert.match(v.status.message, /p95-vs-stable/);
  const value = Number(/false for ([\d.]+)/.exec(v.status.message)?.[1]);
  assert.ok(value > 0.15 && value < 0.5, `p95 difference ≈ 0.2 s, got ${value}`);
});

test('a +200 ms latency regression is caught by the Mann-Whitney judge', async () => {
  const strategy = `    canary:
      steps:
        - setWeight: 30
        - analysis:
            metrics:
              - name: judge
                interval: 3s
                count: 2
                provider:
                  judge:
                    windowSeconds: 10
                    metrics:
                      - {name: latency, source: latency, direction: increase, tolerance: 0.2, minSamples: 30}
                      - {name: errors, source: error, direction: increase, tolerance: 0, minSamples: 30}
        - setWeight: 100
`;
  const load = await release('judged', strategy, { LATENCY_MS: '200' }, 100);
  const v = await waitFor(
    sluice.rollout('judged', (x) => x.status.phase === 'Degraded'),
    { timeoutMs: 30_000, what: 'aborted' },
  );
  await load.stop();
  assert.equal(v.status.reason, 'AnalysisFailed');
  assert.match(v.status.message, /judge/);
  const runs = await sluice.client().analysis('judged');
  const m = runs.flatMap((r) => r.measurements).find((x) => x.metric === 'judge' && x.phase === 'Failed');
  const details = m?.details as { verdict: string; metrics: { name: string; classification: string }[] };
  assert.equal(details.verdict, 'Fail');
  assert.equal(details.metrics.find((x) => x.name === 'latency')?.classification, 'High');
});

test('at 1 request/s the analysis is Inconclusive and the rollout pauses instead of promoting', async () => {
  const load = await release('quiet', errorRateCanary, {}, 1);
  const v = await waitFor(
    sluice.rollout('quiet', (x) => x.status.reason === 'AnalysisInconclusive'),
    { timeoutMs: 30_000, what: 'paused' },
  );
  assert.equal(v.status.phase, 'Paused');
  assert.match(v.status.message, /requests in the window/);
  await sleep(3000);
  const still = await sluice.get('quiet');
  assert.equal(still.status.phase, 'Paused', 'never promotes on its own');
  assert.notEqual(still.status.stableRevision, 2);
  await load.stop();
  await sluice.cli(['abort', 'quiet']);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRollouts } from '../../src/spec/load.js';
import { runCli } from '../helpers/sluice.js';

const doc = (analysis: string, steps = '') => `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  template: {version: v1, command: node}
  traffic: {listen: "127.0.0.1:8080"}
  strategy:
    canary:
${steps}      analysis:
${analysis}
`;

const FLAGGER = `        interval: 10s
        threshold: 2
        stepWeight: 20
        maxWeight: 60
        metrics:
          - {name: request-success-rate, min: 99}
          - {name: request-duration, max: 500}`;

test("Flagger's analysis shorthand expands into steps and a background analysis", () => {
  const [r] = loadRollouts(doc(FLAGGER), '/tmp/web.yaml');
  const st = r.spec.strategy;
  assert.equal(st.type, 'canary');
  if (st.type !== 'canary') return;
  assert.equal(st.expandedFrom, 'flagger');
  assert.deepEqual(st.steps, [
    { setWeight: 20 },
    { pause: { duration: 10 } },
    { setWeight: 40 },
    { pause: { duration: 10 } },
    { setWeight: 60 },
    { pause: { duration: 10 } },
  ]);
  const [success, duration] = st.analysis!.metrics;
  assert.equal(success.successCondition, 'result >= 0.99');
  assert.deepEqual(success.provider, { builtin: { metric: 'success-rate', revision: 'canary', windowSeconds: 10, minRequests: 20 } });
  assert.equal(duration.successCondition, 'result <= 0.5');
  assert.equal(success.failureLimit, 1, 'threshold 2: the second failed check rolls back');
  assert.equal(success.interval, 10);
  assert.equal(success.count, 0, 'runs until promotion');
});

test('stepWeights, and the errors a Flagger user can make', () => {
  const [r] = loadRollouts(doc(FLAGGER.replace('stepWeight: 20\n        maxWeight: 60', 'stepWeights: [1, 10, 50]')), '/tmp/web.yaml');
  const st = r.spec.strategy;
  if (st.type !== 'canary') return assert.fail();
  assert.deepEqual(
    st.steps.filter((s) => 'setWeight' in s),
    [{ setWeight: 1 }, { setWeight: 10 }, { setWeight: 50 }],
  );
  assert.throws(() => loadRollouts(doc(FLAGGER, '      steps: [{setWeight: 5}]\n'), '/tmp/web.yaml'), /steps: sets both steps and a Flagger-style analysis/);
  assert.throws(
    () => loadRollouts(doc(FLAGGER.replace('{name: request-duration, max: 500}', '{name: request-duration}')), '/tmp/web.yaml'),
    /request-duration needs max/,
  );
  assert.throws(
    () => loadRollouts(doc(FLAGGER.replace('stepWeight: 20\n        maxWeight: 60', 'stepWeights: [50, 10]')), '/tmp/web.yaml'),
    /stepWeights must increase/,
  );
});

test('sluice lint prints the expansion', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-lint-'));
  const file = join(dir, 'web.yaml');
  writeFileSync(file, doc(FLAGGER));
  const r = await runCli(['lint', '-f', file], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /web: the Flagger-style analysis expands to:/);
  assert.match(r.stdout, /- setWeight: 40/);
  assert.match(r.stdout, /successCondition: result >= 0\.99/);
});

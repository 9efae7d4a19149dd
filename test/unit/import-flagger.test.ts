// Flagger documents read as sluice's own (src/spec/import/flagger.ts): each fixture lints
// with only its documented warnings and converts to its expected sluice YAML; the analysis
// expands the way Flagger runs it; bad imports fail with one line naming file, line and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadResources } from '../../src/spec/load.js';
import type { RolloutSpec } from '../../src/core/spec.js';
import { assertImportError, checkFixture } from '../helpers/import-fixtures.js';

for (const name of ['canary-v1beta1', 'canary-v1alpha3', 'metric-template']) {
  test(`flagger fixture ${name}: lints with its warnings, converts to expected/${name}.yaml`, () => checkFixture('flagger', name));
}

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: web, image: "ghcr.io/acme/web:1.2.3", ports: [{containerPort: 9000}]}]
---
`;

function canary(analysis: string, version = 'v1beta1'): RolloutSpec {
  const key = version === 'v1beta1' ? 'analysis' : 'canaryAnalysis';
  const resources = loadResources(
    `${DEPLOYMENT}apiVersion: flagger.app/${version}
kind: Canary
metadata: {name: web}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  service: {port: 9000}
  ${key}:
${analysis}`,
    'web.yaml',
  );
  assert.equal(resources.length, 1);
  const [r] = resources;
  assert.ok(r && r.kind === 'Rollout');
  return r.value;
}

test('stepWeight up to maxWeight: one setWeight and one interval pause per weight, metrics in the background', () => {
  const spec = canary(`    interval: 30s
    threshold: 3
    stepWeight: 20
    maxWeight: 60
    metrics:
      - name: request-success-rate
        thresholdRange: {min: 99.5}
`);
  assert.equal(spec.strategy.type, 'canary');
  if (spec.strategy.type !== 'canary') return;
  assert.deepEqual(spec.strategy.steps, [
    { setWeight: 20 },
    { pause: { duration: 30 } },
    { setWeight: 40 },
    { pause: { duration: 30 } },
    { setWeight: 60 },
    { pause: { duration: 30 } },
  ]);
  const [m] = spec.strategy.analysis?.metrics ?? [];
  assert.equal(m?.successCondition, 'result >= 0.995');
  assert.equal(m?.failureLimit, 2);
  assert.equal(m?.count, 0);
  assert.deepEqual(m?.provider, { builtin: { metric: 'success-rate', revision: 'canary', windowSeconds: 30, minRequests: 20 } });
  assert.equal(spec.template.version, '1.2.3');
  assert.equal(spec.traffic.listen, '127.0.0.1:9000');
});

test('stepWeights as listed; iterations with match is a header route held for interval × iterations', () => {
  const weights = canary(`    stepWeights: [1, 5, 25]
`);
  assert.deepEqual(weights.strategy.type === 'canary' && weights.strategy.steps.filter((s) => 'setWeight' in s), [
    { setWeight: 1 },
    { setWeight: 5 },
    { setWeight: 25 },
  ]);
  const ab = canary(`    interval: 1m
    iterations: 3
    match:
      - headers:
          x-canary: {exact: insider}
`);
  assert.deepEqual(ab.strategy.type === 'canary' && ab.strategy.steps, [
    { setHeaderRoute: { name: 'ab-test', match: { headerName: 'x-canary', headerValue: { exact: 'insider' } } } },
    { pause: { duration: 180 } },
  ]);
});

test('iterations alone is blue-green; with mirror it is a shadow release', () => {
  const bg = canary(`    interval: 10s
    iterations: 4
    metrics: [{name: request-duration, thresholdRange: {max: 200}}]
`);
  assert.equal(bg.strategy.type, 'blueGreen');
  if (bg.strategy.type === 'blueGreen') {
    assert.equal(bg.strategy.autoPromotionEnabled, true);
    assert.equal(bg.strategy.prePromotionAnalysis?.metrics[0]?.count, 4);
    assert.equal(bg.strategy.prePromotionAnalysis?.metrics[0]?.successCondition, 'result <= 0.2');
  }
  const shadow = canary(`    interval: 10s
    iterations: 4
    mirror: true
    mirrorWeight: 25
`);
  assert.equal(shadow.strategy.type, 'shadow');
  if (shadow.strategy.type === 'shadow') {
    assert.equal(shadow.strategy.mirror.percentage, 25);
    assert.equal(shadow.strategy.durationSeconds, 40);
  }
});

test('v1alpha3 canaryAnalysis: threshold is the success rate minimum and any other maximum', () => {
  const spec = canary(
    `    stepWeight: 50
    maxWeight: 50
    metrics:
      - {name: request-success-rate, threshold: 98}
      - {name: request-duration, threshold: 300}
`,
    'v1alpha3',
  );
  const metrics = spec.strategy.type === 'canary' ? spec.strategy.analysis?.metrics : [];
  assert.deepEqual(
    metrics?.map((m) => m.successCondition),
    ['result >= 0.98', 'result <= 0.3'],
  );
});

test('webhooks become hooks of the same kind (rollout when no type)', () => {
  const spec = canary(`    stepWeight: 50
    webhooks:
      - {name: gate, type: confirm-rollout, url: "http://127.0.0.1:9/gate"}
      - {name: load, url: "http://127.0.0.1:9/load", timeout: 15s, metadata: {cmd: hey}}
`);
  assert.deepEqual(
    spec.hooks.webhooks.map((w) => [w.name, w.kind, w.timeoutSeconds, w.metadata]),
    [
      ['gate', 'confirm-rollout', 10, {}],
      ['load', 'rollout', 15, { cmd: 'hey' }],
    ],
  );
});

test('bad Flagger imports fail with file:line:col and the field', () => {
  const doc = (spec: string, version = 'v1beta1') => `apiVersion: flagger.app/${version}
kind: Canary
metadata: {name: web}
spec:
${spec}`;
  assertImportError(
    doc(`  service: {port: 80}
  analysis: {stepWeight: 10}
`),
    /^bad\.yaml:5:3: spec\.targetRef: missing required field — add targetRef$/,
  );
  assertImportError(
    doc(`  targetRef: {kind: Deployment, name: web}
  service: {port: 80}
  analysis: {stepWeight: 10}
`),
    /^bad\.yaml:5:14: spec\.targetRef: names Deployment web, which is not in this file — put the Deployment in the same file as the Canary$/,
  );
  assertImportError(
    DEPLOYMENT +
      doc(`  targetRef: {kind: Deployment, name: web}
  service: {port: eighty}
  analysis: {stepWeight: 10}
`),
    /^bad\.yaml:14:19: spec\.service\.port: must be a number, got /,
  );
  assertImportError(
    DEPLOYMENT +
      doc(`  targetRef: {kind: Deployment, name: web}
  service: {port: 80}
  analysis: {interval: 1m}
`),
    /^bad\.yaml:15:13: spec\.analysis: gives no weights and no iterations — /,
  );
  assertImportError(
    DEPLOYMENT +
      doc(`  targetRef: {kind: Deployment, name: web}
  service: {port: 80}
  analysis:
    stepWeight: 10
    metrics:
      - name: error-rate
        thresholdRange: {max: 1}
`),
    /^bad\.yaml:18:15: spec\.analysis\.metrics\[0\]\.name: error-rate is not a builtin metric — /,
  );
  assertImportError(
    DEPLOYMENT +
      doc(`  targetRef: {kind: Deployment, name: web}
  service: {port: 80}
  analysis:
    stepWeight: 10
    metrics:
      - name: errors
        templateRef: {name: missing}
`),
    /^bad\.yaml:19:22: spec\.analysis\.metrics\[0\]\.templateRef: names MetricTemplate missing, which is not in this file/,
  );
  assertImportError(
    `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: dd}
spec:
  provider: {type: datadog, address: "https://api.datadoghq.com"}
  query: avg:errors
`,
    /^bad\.yaml:5:20: spec\.provider\.type: datadog is not a provider sluice can query — use type: prometheus$/,
  );
  assertImportError(
    DEPLOYMENT +
      doc(
        `  targetRef: {kind: Deployment, name: web}
  service: {port: 80}
  analysis: {stepWeight: 10}
`,
        'v1alpha3',
      ),
    /^bad\.yaml:13:3: spec\.canaryAnalysis: missing required field/,
  );
});

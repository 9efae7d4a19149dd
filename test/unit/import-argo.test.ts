// Argo Rollouts documents read as sluice's own (src/spec/import/argo-rollouts.ts): each
// fixture lints with only its documented warnings and converts to its expected sluice YAML;
// bad imports fail with one line naming file, line and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadResources } from '../../src/spec/load.js';
import { makeSim } from '../helpers/engine-sim.js';
import { REPO } from '../helpers/templates.js';
import { assertImportError, checkFixture } from '../helpers/import-fixtures.js';

for (const name of ['canary', 'blue-green', 'istio-subset', 'analysis-prometheus', 'analysis-job', 'analysis-web']) {
  test(`argo fixture ${name}: lints with its warnings, converts to expected/${name}.yaml`, () => checkFixture('argo', name));
}

const POD = `  template:
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:v3
`;

test('argo canary maps steps, analysis and the pod template onto a sluice canary on Kubernetes', () => {
  const [r] = loadResources(
    `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
${POD}  strategy:
    canary:
      steps:
        - setWeight: 25
        - pause: {duration: 1m}
        - analysis: {templates: [{templateName: rate}]}
`,
    'web.yaml',
  );
  assert.ok(r && r.kind === 'Rollout');
  const spec = r.value;
  assert.equal(spec.platform, 'kubernetes');
  assert.equal(spec.template.version, 'v3');
  assert.equal(spec.template.podTemplate?.spec.containers[0]?.image, 'ghcr.io/acme/web:v3');
  assert.equal(spec.traffic.listen, '127.0.0.1:8080');
  assert.equal(spec.replicas, 2);
  assert.equal(spec.strategy.type, 'canary');
  assert.deepEqual(spec.strategy.type === 'canary' && spec.strategy.steps.slice(0, 2), [{ setWeight: 25 }, { pause: { duration: 60 } }]);
  assert.deepEqual(r.warnings, []);
  // What the control plane stores is the sluice document, not Argo's.
  assert.match(r.source, /^apiVersion: sluice\.dev\/v1alpha1\nkind: Rollout\n/);
});

test("the version label is the image tag, a digest's first 12 hex digits, or latest", () => {
  for (const [image, version] of [
    ['ghcr.io/acme/web:v3', 'v3'],
    ['registry.local:5000/web', 'latest'],
    ['registry.local:5000/web:1.2', '1.2'],
    [`ghcr.io/acme/web@sha256:${'0123456789abcdef'.repeat(4)}`, '0123456789ab'],
  ]) {
    const [r] = loadResources(
      POD.replace('ghcr.io/acme/web:v3', image!).replace(/^/, 'apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n') +
        '  strategy: {canary: {steps: [{pause: {}}]}}\n',
      'web.yaml',
    );
    assert.ok(r && r.kind === 'Rollout');
    assert.equal(r.value.template.version, version, image);
  }
});

test('an unknown Argo field is a warning naming file, line and field, never dropped silently', () => {
  const [r] = loadResources(
    `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
${POD}  strategy:
    canary:
      steps: [{setWeight: 10}, {pause: {}}]
      somethingNew: true
`,
    'web.yaml',
  );
  assert.deepEqual(r?.warnings, ['web.yaml:13: Rollout web: spec.strategy.canary.somethingNew is not supported by sluice: it is ignored']);
});

test('bad Argo imports fail with file:line:col and the field', () => {
  assertImportError(
    `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  strategy: {canary: {steps: []}}
`,
    /^bad\.yaml:5:3: spec\.template: missing required field — add template: \(a PodTemplateSpec\) or workloadRef$/,
  );
  assertImportError(
    `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
${POD}  strategy:
    canary:
      steps:
        - setWeight: lots
`,
    /^bad\.yaml:13:22: spec\.strategy\.canary\.steps\[0\]\.setWeight: /,
  );
  assertImportError(
    `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: 7}
spec: {}
`,
    /^bad\.yaml:3:18: metadata\.name: must be a string, got /,
  );
  assertImportError(
    `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  strategy: {canary: {}}
`,
    /^bad\.yaml:5:16: spec\.workloadRef: names Deployment web, which is not in this file — put the Deployment in the same file, or write spec\.template$/,
  );
  assertImportError(
    `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
${POD}  strategy:
    canary: {}
    blueGreen: {}
`,
    /^bad\.yaml:11:5: spec\.strategy: must set exactly one of canary, blueGreen, got 2/,
  );
  assertImportError(
    `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: dd}
spec:
  metrics:
    - name: errors
      provider:
        datadog: {query: "avg:errors"}
`,
    /^bad\.yaml:8:9: spec\.metrics\[0\]\.provider\.datadog: is not a provider sluice can query — /,
  );
  assertImportError(
    `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  metrics:
    - name: errors
      interval: often
      provider:
        prometheus: {address: "http://p:9090", query: up}
`,
    /^bad\.yaml:7:17: spec\.metrics\[0\]\.interval: must be a duration/,
  );
  assertImportError(
    `apiVersion: apps/v1
kind: Deployment
metadata: {name: orphan}
spec:
${POD}`,
    /^bad\.yaml:1:1: kind: Deployment "orphan" is not named by a Flagger Canary's targetRef or an Argo Rollout's workloadRef in this file/,
  );
});

test('a peer kind sluice does not import is an error naming it', () => {
  assertImportError(
    `apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: e}
spec: {}
`,
    /^bad\.yaml:2:7: kind: argoproj\.io\/v1alpha1 Experiment is not a kind sluice imports — sluice imports argoproj\.io\/v1alpha1 Rollout, /,
  );
  assertImportError(
    `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  template: {version: v1, command: node}
  strategy: {canary: {}}
`,
    /^bad\.yaml:1:13: apiVersion: is argoproj\.io\/v1alpha1, but spec\.template is sluice's/,
  );
});

test("the file's other traffic resources are left out with a warning on the first resource", () => {
  const resources = loadResources(
    `apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
${POD}  strategy: {canary: {steps: [{setWeight: 10}, {pause: {}}]}}
`,
    'web.yaml',
  );
  assert.equal(resources.length, 1);
  assert.deepEqual(resources[0]?.warnings, [
    "web.yaml:1: Service web: the document is not supported by sluice: sluice's own router serves the rollouts' traffic; it is left out",
  ]);
});

test('apply through a Controller stores imported templates; a local-only control plane refuses the Kubernetes rollouts whole', async () => {
  const templates = readFileSync(join(REPO, 'test/fixtures/import/argo/analysis-prometheus.yaml'), 'utf8');
  const sim = makeSim();
  await sim.controller.apply(templates, '/tmp/analysis-prometheus.yaml', sim.by);
  assert.deepEqual(
    sim.store
      .listTemplates()
      .map((t) => t.name)
      .sort(),
    ['cluster-success-rate', 'success-rate'],
  );
  const stored = sim.store.listTemplates().find((t) => t.name === 'success-rate');
  assert.equal(stored?.spec.metrics.find((m) => m.name === 'error-ratio')?.dryRun, true);

  // Imported Rollouts run on Kubernetes (platform: kubernetes), which this control plane does not have.
  const rollouts = readFileSync(join(REPO, 'test/fixtures/import/argo/canary.yaml'), 'utf8');
  await assert.rejects(sim.controller.apply(rollouts, '/tmp/canary.yaml', sim.by), (err: Error) => err.name === 'UserError' && /kubernetes/i.test(err.message));
  assert.equal(sim.store.listRollouts().length, 0);
});

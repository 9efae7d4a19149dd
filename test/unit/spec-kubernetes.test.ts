/**
 * The Kubernetes side of the Rollout spec (issue 17): spec.platform, template.image,
 * template.container, template.podTemplate, spec.kubernetes and secretEnv's secretKeyRef.
 * Every refusal is the exact one-line error, position included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRollouts, type LoadOptions } from '../../src/spec/load.js';
import { templateHash } from '../../src/engine/controller.js';
import { UserError } from '../../src/util/errors.js';
import type { RolloutSpec } from '../../src/core/spec.js';
import { platformOf } from '../../src/core/spec.js';
import { makeSim } from '../helpers/engine-sim.js';

const FILE = 'deploy/web.yaml';

/**
 * A Rollout whose template (4-space lines) starts at line 7, or at 8 with a platform;
 * `spec` lines (2-space) come after the platform line and before the template.
 */
function manifest(o: { platform?: string; template: string; spec?: string }): string {
  return `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
${o.platform ? `  platform: ${o.platform}\n` : ''}${o.spec ?? ''}  template:
    version: v2
${o.template}  traffic:
    listen: 127.0.0.1:8080
  strategy:
    rolling: {}
`;
}

function load(text: string, options?: LoadOptions): RolloutSpec {
  const loaded = loadRollouts(text, FILE, options);
  assert.equal(loaded.length, 1);
  return loaded[0]!.spec;
}

/** Asserts the exact one-line error. */
function fails(text: string, message: string, options?: LoadOptions): void {
  assert.throws(
    () => loadRollouts(text, FILE, options),
    (err: unknown) => {
      assert.ok(err instanceof UserError, `expected UserError, got ${String(err)}`);
      assert.equal(err.message, message);
      assert.ok(!err.message.includes('\n'), 'message is one line');
      return true;
    },
  );
}

const IMAGE = '    image: ghcr.io/acme/web:v2\n';
const COMMAND = '    command: node\n';

test('local platform: needs a command; an image alone asks for spec.platform: kubernetes', () => {
  fails(
    manifest({ template: IMAGE }),
    `${FILE}:8:12: spec.template.image: needs spec.platform: kubernetes (this control plane's default platform is local) — or give template.command to run it here`,
  );
  fails(
    manifest({ platform: 'local', template: IMAGE }),
    `${FILE}:9:12: spec.template.image: needs spec.platform: kubernetes (spec.platform is local) — or give template.command to run it here`,
  );
  fails(
    manifest({ template: '    podTemplate: {spec: {containers: [{name: web, image: "web:v2"}]}}\n' }),
    `${FILE}:8:18: spec.template.podTemplate: needs spec.platform: kubernetes (this control plane's default platform is local) — or give template.command to run it here`,
  );
  // Neither: the message it always had, at the template mapping.
  fails(manifest({ template: '' }), `${FILE}:7:5: spec.template.command: missing required field — add command: the program to run, e.g. node`);
});

test('kubernetes platform: needs an image or a podTemplate; a command alone is refused', () => {
  fails(
    manifest({ platform: 'kubernetes', template: COMMAND }),
    `${FILE}:9:14: spec.template.command: runs a local process, but spec.platform is kubernetes, which runs containers — add template.image (or a podTemplate); keep command to run the same spec on the local platform`,
  );
  fails(
    manifest({ platform: 'kubernetes', template: '' }),
    `${FILE}:8:5: spec.template.image: missing required field (spec.platform is kubernetes) — add image: REGISTRY/NAME:TAG, or a podTemplate`,
  );
  const spec = load(manifest({ platform: 'kubernetes', template: IMAGE }));
  assert.equal(spec.platform, 'kubernetes');
  assert.equal(spec.template.image, 'ghcr.io/acme/web:v2');
  assert.equal(spec.template.command, undefined);
  fails(
    manifest({ platform: 'cloud', template: COMMAND }),
    `${FILE}:6:13: spec.platform: must be one of local, kubernetes, got "cloud" — write local (processes of this machine) or kubernetes (pods of a cluster)`,
  );
});

test('both command and image: one spec for the laptop and the cluster, on either platform', () => {
  const both = manifest({ template: COMMAND + IMAGE });
  const local = load(both);
  assert.equal(local.platform, undefined, 'absent stays absent: the control plane default decides');
  assert.equal(platformOf(local), 'local');
  assert.equal(local.template.command, 'node');
  assert.equal(local.template.image, 'ghcr.io/acme/web:v2');
  assert.deepEqual(load(both, { defaultPlatform: 'kubernetes' }), local, 'the default platform changes the rules, not the result');
  assert.equal(platformOf(local, 'kubernetes'), 'kubernetes');
  assert.equal(load(manifest({ platform: 'kubernetes', template: COMMAND + IMAGE })).platform, 'kubernetes');
});

test('a template without a command has no working directory: moving its manifest makes no new revision', () => {
  const text = manifest({ platform: 'kubernetes', template: IMAGE });
  const here = loadRollouts(text, '/srv/a/web.yaml')[0]!.spec.template;
  const there = loadRollouts(text, '/srv/b/web.yaml')[0]!.spec.template;
  assert.equal(here.cwd, undefined);
  assert.equal(templateHash(here), templateHash(there));
  // With a command the directory is the process's, as before.
  assert.equal(loadRollouts(manifest({ template: COMMAND + IMAGE }), '/srv/a/web.yaml')[0]!.spec.template.cwd, '/srv/a');
  assert.equal(load(manifest({ platform: 'kubernetes', template: `${IMAGE}    cwd: /app\n` })).template.cwd, '/app', 'written: kept');
});

test('defaultPlatform: a control plane defaulting to kubernetes takes an image alone and refuses a command alone', () => {
  const spec = load(manifest({ template: IMAGE }), { defaultPlatform: 'kubernetes' });
  assert.equal(spec.platform, undefined);
  assert.equal(platformOf(spec, 'kubernetes'), 'kubernetes');
  fails(
    manifest({ template: COMMAND }),
    `${FILE}:8:14: spec.template.command: runs a local process, but this control plane's default platform is kubernetes, which runs containers — add template.image (or a podTemplate); keep command to run the same spec on the local platform`,
    { defaultPlatform: 'kubernetes' },
  );
  // spec.platform wins over the default.
  assert.equal(load(manifest({ platform: 'local', template: COMMAND }), { defaultPlatform: 'kubernetes' }).platform, 'local');
});

test('spec.kubernetes: kept beside a portable spec, refused with spec.platform: local', () => {
  const k8s =
    '  kubernetes:\n    namespace: shop\n    serviceAccountName: web.runner\n    nodeSelector: {kubernetes.io/arch: amd64}\n    labels: {team: payments}\n    annotations: {example.com/owner: "Team Payments <pay@example.com>"}\n';
  const spec = load(manifest({ spec: k8s, template: COMMAND + IMAGE }));
  assert.deepEqual(spec.kubernetes, {
    namespace: 'shop',
    serviceAccountName: 'web.runner',
    nodeSelector: { 'kubernetes.io/arch': 'amd64' },
    labels: { team: 'payments' },
    annotations: { 'example.com/owner': 'Team Payments <pay@example.com>' },
  });
  fails(
    manifest({ platform: 'local', spec: k8s, template: COMMAND + IMAGE }),
    `${FILE}:8:5: spec.kubernetes: has no effect with spec.platform: local — remove it, or set spec.platform: kubernetes`,
  );
  const bad = (line: string, message: string) => fails(manifest({ platform: 'kubernetes', spec: `  kubernetes:\n${line}`, template: IMAGE }), message);
  bad(
    '    namespace: Shop\n',
    `${FILE}:8:16: spec.kubernetes.namespace: must be a lowercase DNS label, got "Shop" — use a lowercase DNS label: a-z, 0-9 and "-", starting and ending with a letter or digit, at most 63 characters`,
  );
  bad(
    '    labels: {team: "payments team"}\n',
    `${FILE}:8:20: spec.kubernetes.labels.team: "payments team" is not a valid label value — use at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit (or an empty value)`,
  );
  bad(
    '    labels: {sluice.dev/revision: "1"}\n',
    `${FILE}:8:35: spec.kubernetes.labels.sluice.dev/revision: sluice.dev/revision is a label sluice sets on every pod (and selects by) — leave it out, or use another prefix`,
  );
  bad(
    '    labels: {app.kubernetes.io/name: shop}\n',
    `${FILE}:8:38: spec.kubernetes.labels.app.kubernetes.io/name: app.kubernetes.io/name is a label sluice sets on every pod (and selects by) — leave it out; set metadata.service to name the app`,
  );
  bad(
    '    nodeSelector: {"bad key!": x}\n',
    `${FILE}:8:20: spec.kubernetes.nodeSelector.bad key!: "bad key!" is not a valid node label name — write the node labels to match as key: value lines, e.g. kubernetes.io/arch: amd64`,
  );
  bad(
    '    zone: a\n',
    `${FILE}:8:5: spec.kubernetes.zone: unknown field "zone" — remove it; known fields here: namespace, serviceAccountName, nodeSelector, labels, annotations`,
  );
});

test('template.image: Docker image references; uppercase and spaces refused', () => {
  for (const ref of [
    'web',
    'web:v2',
    'ghcr.io/acme/web:v2',
    'localhost:5000/web',
    'registry.example.com:443/a/b/c:1.2.3-rc_1',
    `web@sha256:${'a'.repeat(64)}`,
    `acme/web:v2@sha256:${'0'.repeat(64)}`,
  ]) {
    assert.equal(load(manifest({ template: COMMAND + `    image: "${ref}"\n` })).template.image, ref);
  }
  for (const ref of ['Acme/web', 'web:', 'web v2', 'web@sha256:abc', '-web', 'web:-v2']) {
    fails(
      manifest({ template: `${COMMAND}    image: "${ref}"\n` }),
      `${FILE}:9:12: spec.template.image: is not an image reference, got ${JSON.stringify(ref)} — write an image reference, e.g. ghcr.io/acme/web:v2 (lowercase repository, optional :tag and @sha256:digest)`,
    );
  }
  fails(
    manifest({ template: `${COMMAND}${IMAGE}    podTemplate: {spec: {containers: [{name: web, image: "web:v2"}]}}\n` }),
    `${FILE}:10:18: spec.template.podTemplate: sets both image and podTemplate, whose containers name their own images — keep one of them`,
  );
  fails(
    manifest({ template: `${COMMAND}    container: {imagePullPolicy: Always}\n` }),
    `${FILE}:9:16: spec.template.container: describes how template.image runs, but there is no image — add image: REGISTRY/NAME:TAG`,
  );
});

test('template.container: ports, resources, pull policy, command, args, envFrom as written; bad values refused', () => {
  const container = `    container:
      ports: [{containerPort: 8080, name: http}, {containerPort: 9090, name: metrics, protocol: TCP}]
      resources:
        requests: {cpu: 250m, memory: 256Mi}
        limits: {cpu: 1, memory: 1Gi}
      imagePullPolicy: IfNotPresent
      command: [/app/server]
      args: [--port, 8080]
      envFrom: [{configMapRef: {name: web-config}}, {secretRef: {name: web-secrets, optional: true}, prefix: S_}]
`;
  const spec = load(manifest({ platform: 'kubernetes', template: IMAGE + container }));
  assert.deepEqual(spec.template.container, {
    ports: [
      { containerPort: 8080, name: 'http' },
      { containerPort: 9090, name: 'metrics', protocol: 'TCP' },
    ],
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
    imagePullPolicy: 'IfNotPresent',
    command: ['/app/server'],
    args: ['--port', '8080'],
    envFrom: [{ configMapRef: { name: 'web-config' } }, { secretRef: { name: 'web-secrets', optional: true }, prefix: 'S_' }],
  });
  assert.deepEqual(
    load(manifest({ platform: 'kubernetes', template: `${IMAGE}    container: {resources: {limits: {cpu: 0.5, memory: 1e9}}}\n` })).template.container,
    {
      resources: { limits: { cpu: '0.5', memory: '1e9' } },
    },
  );

  const bad = (lines: string, message: string) => fails(manifest({ platform: 'kubernetes', template: `${IMAGE}    container:\n${lines}` }), message);
  bad(
    '      resources: {requests: {cpu: 250 m}}\n',
    `${FILE}:11:35: spec.template.container.resources.requests.cpu: must be a quantity like 250m or 2, got "250 m" — write CPU as cores or millicores, e.g. 250m or 0.5`,
  );
  bad(
    '      resources: {limits: {memory: -1Gi}}\n',
    `${FILE}:11:36: spec.template.container.resources.limits.memory: must be a quantity like 512Mi, got "-1Gi" — write memory in bytes with a unit, e.g. 512Mi or 1Gi`,
  );
  bad(
    '      resources: {limits: {memory: 512m}}\n',
    `${FILE}:11:36: spec.template.container.resources.limits.memory: 512m is 512 thousandths of a byte — write 512Mi (mebibytes) or 512M`,
  );
  bad(
    '      resources: {requests: {cpu: "2"}, limits: {cpu: 500m}}\n',
    `${FILE}:11:29: spec.template.container.resources.requests: requests.cpu 2 is more than limits.cpu 500m — lower the request or raise the limit (Kubernetes refuses a request above its limit)`,
  );
  bad('      resources: {requests: {gpu: 1}}\n', `${FILE}:11:30: spec.template.container.resources.requests.gpu: unknown field "gpu" — did you mean "cpu"?`);
  bad(
    '      ports: []\n',
    `${FILE}:11:14: spec.template.container.ports: is empty — list the port the app serves on, e.g. [{containerPort: 8080}], or leave ports out for 8080`,
  );
  bad(
    '      ports: [{containerPort: 53, protocol: UDP}]\n',
    `${FILE}:11:14: spec.template.container.ports: starts with a UDP or SCTP port; the first port is the one sluice sends HTTP to — put the HTTP port first`,
  );
  bad('      ports: [{containerPort: 80}, {containerPort: 80}]\n', `${FILE}:11:14: spec.template.container.ports: lists 80/TCP twice — list each port once`);
  bad(
    '      ports: [{containerPort: 80, name: HTTP}]\n',
    `${FILE}:11:41: spec.template.container.ports[0].name: is not a port name, got "HTTP" — write at most 15 lowercase letters, digits and "-", with a letter, e.g. http`,
  );
  bad(
    '      ports: [{containerPort: 70000}]\n',
    `${FILE}:11:31: spec.template.container.ports[0].containerPort: must be between 1 and 65535, got 70000 — use a TCP port from 1 to 65535`,
  );
  bad(
    '      imagePullPolicy: always\n',
    `${FILE}:11:24: spec.template.container.imagePullPolicy: must be one of Always, IfNotPresent, Never, got "always" — did you mean "Always"?`,
  );
  bad(
    '      command: []\n',
    `${FILE}:11:16: spec.template.container.command: must not be empty — give the program and its arguments, or leave command out to run the image entrypoint`,
  );
  bad(
    '      envFrom: [{configMapRef: {name: a}, secretRef: {name: b}}]\n',
    `${FILE}:11:17: spec.template.container.envFrom[0]: sets both configMapRef and secretRef — set exactly one of configMapRef, secretRef`,
  );
});

test('template.podTemplate: checked where sluice reads it, passed on as written elsewhere', () => {
  const pod = `    podTemplate:
      metadata:
        labels: {tier: web}
        annotations: {prometheus.io/scrape: "true"}
      spec:
        containers:
          - name: web
            image: ghcr.io/acme/web:v2
            ports: [{containerPort: 3000}]
            volumeMounts: [{name: cache, mountPath: /cache}]
          - name: proxy
            image: envoyproxy/envoy:v1.30.1
        volumes: [{name: cache, emptyDir: {}}]
        priorityClassName: high
`;
  const spec = load(manifest({ platform: 'kubernetes', template: pod }));
  assert.deepEqual(spec.template.podTemplate, {
    metadata: { labels: { tier: 'web' }, annotations: { 'prometheus.io/scrape': 'true' } },
    spec: {
      containers: [
        { name: 'web', image: 'ghcr.io/acme/web:v2', ports: [{ containerPort: 3000 }], volumeMounts: [{ name: 'cache', mountPath: '/cache' }] },
        { name: 'proxy', image: 'envoyproxy/envoy:v1.30.1' },
      ],
      volumes: [{ name: 'cache', emptyDir: {} }],
      priorityClassName: 'high',
    },
  });

  const bad = (lines: string, message: string) => fails(manifest({ platform: 'kubernetes', template: `    podTemplate:\n${lines}` }), message);
  bad(
    '      metadata: {labels: {a: b}}\n',
    `${FILE}:10:7: spec.template.podTemplate.spec: missing required field — add spec: {containers: [{name: web, image: ghcr.io/acme/web:v2}]}`,
  );
  bad(
    '      spec: {containers: []}\n',
    `${FILE}:10:26: spec.template.podTemplate.spec.containers: is empty — list the app container first, e.g. [{name: web, image: ghcr.io/acme/web:v2}]`,
  );
  bad(
    '      spec: {containers: [{name: web}]}\n',
    `${FILE}:10:27: spec.template.podTemplate.spec.containers[0].image: missing required field — add image: ghcr.io/acme/web:v2`,
  );
  bad(
    '      spec: {containers: [{name: web, image: a}, {name: web, image: b}]}\n',
    `${FILE}:10:26: spec.template.podTemplate.spec.containers: names container web twice — give each container its own name`,
  );
  bad(
    '      spec: {containers: [{name: Web, image: a}]}\n',
    `${FILE}:10:34: spec.template.podTemplate.spec.containers[0].name: must be a lowercase DNS label, got "Web" — use a lowercase DNS label: a-z, 0-9 and "-", starting and ending with a letter or digit, at most 63 characters`,
  );
  bad(
    '      kind: Pod\n      spec: {containers: [{name: web, image: a}]}\n',
    `${FILE}:10:7: spec.template.podTemplate.kind: unknown field "kind" — remove it; known fields here: metadata, spec`,
  );
  bad(
    '      metadata: {name: web}\n      spec: {containers: [{name: web, image: a}]}\n',
    `${FILE}:10:18: spec.template.podTemplate.metadata.name: unknown field "name" — remove it; known fields here: labels, annotations`,
  );
  bad(
    '      metadata: {labels: {sluice.dev/rollout: x}}\n      spec: {containers: [{name: web, image: a}]}\n',
    `${FILE}:10:47: spec.template.podTemplate.metadata.labels.sluice.dev/rollout: sluice.dev/rollout is a label sluice sets on every pod (and selects by) — leave it out, or use another prefix`,
  );
  bad(
    '      spec: {containers: [{name: web, image: a}], activeDeadlineSeconds: .inf}\n',
    `${FILE}:10:74: spec.template.podTemplate.spec.activeDeadlineSeconds: holds Infinity, which is not a finite number — write a finite number, or quote it as text`,
  );
  bad(
    '      spec: {containers: [{name: web, image: a, ports: [{containerPort: 0}]}]}\n',
    `${FILE}:10:73: spec.template.podTemplate.spec.containers[0].ports[0].containerPort: must be between 1 and 65535, got 0 — use a TCP port from 1 to 65535`,
  );
  fails(
    manifest({
      platform: 'kubernetes',
      template: '    env: {A: "1"}\n    podTemplate: {spec: {containers: [{name: web, image: a, env: [{name: A, value: "2"}]}]}}\n',
    }),
    `${FILE}:10:18: spec.template.podTemplate: A is set in the app container's env (the first of podTemplate.spec.containers) and in template.env — keep it in one of them`,
  );
  fails(
    manifest({
      platform: 'kubernetes',
      spec: '  kubernetes: {serviceAccountName: web}\n',
      template: '    podTemplate: {spec: {serviceAccountName: other, containers: [{name: web, image: a}]}}\n',
    }),
    `${FILE}:7:36: spec.kubernetes.serviceAccountName: is set in template.podTemplate.spec.serviceAccountName too — keep one of them`,
  );
  fails(
    manifest({
      platform: 'kubernetes',
      spec: '  kubernetes: {labels: {tier: a}}\n',
      template: '    podTemplate: {metadata: {labels: {tier: b}}, spec: {containers: [{name: web, image: a}]}}\n',
    }),
    `${FILE}:7:31: spec.kubernetes.labels.tier: is set in template.podTemplate.metadata.labels too — keep one of them`,
  );
});

test('secretEnv: secretKeyRef for pods, file/env for processes; each platform needs its own', () => {
  const secrets = (refs: string) => `    secretEnv:\n      DB: ${refs}\n`;
  const both = load(manifest({ template: COMMAND + IMAGE + secrets('{file: /srv/db, secretKeyRef: {name: web-secrets, key: db-password}}') }));
  assert.deepEqual(both.template.secretEnv, { DB: { file: '/srv/db', secretKeyRef: { name: 'web-secrets', key: 'db-password' } } });
  const k8s = load(manifest({ platform: 'kubernetes', template: IMAGE + secrets('{secretKeyRef: {name: web-secrets, key: db, optional: true}}') }));
  assert.deepEqual(k8s.template.secretEnv, { DB: { secretKeyRef: { name: 'web-secrets', key: 'db', optional: true } } });
  fails(
    manifest({ template: COMMAND + secrets('{secretKeyRef: {name: web-secrets, key: db}}') }),
    `${FILE}:10:11: spec.template.secretEnv.DB: names only a Kubernetes Secret, which the local platform cannot read (this control plane's default platform is local) — add file: PATH or env: VAR beside secretKeyRef, or set spec.platform: kubernetes`,
  );
  fails(
    manifest({ platform: 'kubernetes', template: IMAGE + secrets('{env: DB_PASSWORD}') }),
    `${FILE}:11:11: spec.template.secretEnv.DB: is read on the control plane's machine (env), which a pod cannot see (spec.platform is kubernetes) — add secretKeyRef: {name: SECRET, key: KEY} beside it (a Kubernetes Secret in the namespace)`,
  );
  fails(
    manifest({ template: COMMAND + secrets('{}') }),
    `${FILE}:10:11: spec.template.secretEnv.DB: must set one secret source — add file: PATH or env: VAR (this machine), and/or secretKeyRef: {name: SECRET, key: KEY} (a Kubernetes Secret)`,
  );
  fails(
    manifest({ template: COMMAND + secrets('{secretKeyRef: {name: Web, key: db}}') }),
    `${FILE}:10:33: spec.template.secretEnv.DB.secretKeyRef.name: is not a Kubernetes object name, got "Web" — write the name of a Kubernetes object: lowercase letters, digits, "-" and ".", e.g. web-config`,
  );
});

// Computed with the code before issue 17 (commit ae67cfd): what a template hashes to is
// its revision's identity, so a spec that uses none of the new fields keeps its revision.
const BEFORE = {
  minimal: {
    hash: '728c083b4c0cdfd8',
    text: manifest({ template: '    command: node\n    cwd: /srv/app\n' }).replace('    version: v2\n', '    version: v1\n'),
  },
  full: {
    hash: 'd31a40bf42324730',
    text: `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: 3
  template:
    version: v2.1
    command: node
    args: [server.js, --port, "8080"]
    env: {LOG_LEVEL: info, A: 1.10}
    secretEnv:
      DB_PASSWORD: {file: /srv/secrets/db}
      TOKEN: {env: WEB_TOKEN}
    cwd: /srv/app
    probes:
      readiness: {httpGet: {path: /healthz, headers: {X-Probe: "1"}}, periodSeconds: 0.5}
      liveness: {tcpSocket: {port: 9000}, failureThreshold: 5}
      startup: {exec: {command: [sh, -c, "test -f ready"]}}
    shutdown: {drainSeconds: 10s, preStopDelaySeconds: 2, terminationGracePeriodSeconds: 1m}
  traffic:
    listen: 127.0.0.1:8080
  strategy:
    canary:
      steps: [{setWeight: 20}, {pause: {}}]
`,
  },
};

test('revision hash: a template without the new fields hashes as before; the new fields make their own revision', () => {
  for (const [name, { hash, text }] of Object.entries(BEFORE)) {
    const t = load(text).template;
    assert.equal(templateHash(t), hash, `${name}: template hash unchanged`);
    for (const key of ['image', 'container', 'podTemplate']) assert.ok(!(key in t), `${name}: no ${key} key`);
    for (const ref of Object.values(t.secretEnv ?? {})) assert.ok(!('secretKeyRef' in ref), `${name}: no secretKeyRef key`);
    // spec.platform and spec.kubernetes are outside the template: same revision.
    const pinned = load(text.replace('spec:\n', 'spec:\n  platform: local\n')).template;
    assert.equal(templateHash(pinned), hash, `${name}: spec.platform does not change the revision`);
  }
  const base = BEFORE.minimal.text;
  const withImage = load(base.replace('    cwd: /srv/app\n', `    cwd: /srv/app\n${IMAGE}`)).template;
  assert.notEqual(templateHash(withImage), BEFORE.minimal.hash, 'an image is part of the revision');
  const otherImage = load(base.replace('    cwd: /srv/app\n', '    cwd: /srv/app\n    image: ghcr.io/acme/web:v3\n')).template;
  assert.notEqual(templateHash(otherImage), templateHash(withImage), 'a new image is a new revision');
});

test('apply: a rollout for kubernetes is refused on a control plane without it, and changes nothing', async () => {
  const sim = makeSim();
  const k8s = manifest({ platform: 'kubernetes', template: IMAGE });
  await assert.rejects(sim.controller.apply(k8s, '/tmp/web.yaml', sim.by), (err: Error) => {
    assert.ok(err instanceof UserError);
    assert.equal(
      err.message,
      '/tmp/web.yaml:1: rollout web: spec.platform: kubernetes is not configured on this control plane — start it with sluice up --kubeconfig FILE, or run the rollout here with spec.platform: local and a template.command',
    );
    return true;
  });
  assert.equal(sim.store.listRollouts().length, 0, 'nothing stored');

  // An existing local rollout stays as it was: spec, revisions and events.
  const portable = manifest({ template: `    command: ${process.execPath}\n${IMAGE}` });
  await sim.controller.apply(portable, '/tmp/web.yaml', sim.by);
  await sim.reconciler.settle();
  const before = { spec: sim.store.getRollout('web')!.spec, revisions: sim.store.listRevisions('web').length, events: sim.store.listEvents('web').length };
  await assert.rejects(
    sim.controller.apply(portable.replace('spec:\n', 'spec:\n  platform: kubernetes\n').replace('version: v2', 'version: v3'), '/tmp/web.yaml', sim.by),
    /rollout web: spec\.platform: kubernetes is not configured on this control plane/,
  );
  await sim.reconciler.settle();
  assert.deepEqual(sim.store.getRollout('web')!.spec, before.spec);
  assert.equal(sim.store.listRevisions('web').length, before.revisions);
  assert.equal(sim.store.listEvents('web').length, before.events);
});

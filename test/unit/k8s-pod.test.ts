/**
 * podTemplateOf (src/platform/kubernetes/pod.ts): the PodTemplateSpec of a revision,
 * golden — each expected object is the whole output, key for key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRollouts } from '../../src/spec/load.js';
import { LABELS, podTemplateOf } from '../../src/platform/kubernetes/pod.js';
import type { RolloutSpec } from '../../src/core/spec.js';

function load(spec: string, template: string, name = 'web'): RolloutSpec {
  const text = `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: ${name}
spec:
  platform: kubernetes
${spec}  template:
${template}  traffic:
    listen: 127.0.0.1:8080
  strategy:
    rolling: {}
`;
  return loadRollouts(text, '/srv/app/web.yaml')[0]!.spec;
}

const sluiceEnv = (port: number, revision: number, version: string) => [
  { name: 'PORT', value: String(port) },
  { name: 'SLUICE_ROLLOUT', value: 'web' },
  { name: 'SLUICE_REVISION', value: String(revision) },
  { name: 'SLUICE_VERSION', value: version },
  { name: 'SLUICE_INSTANCE', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
];

test('an image alone: one container on 8080, the default readiness probe, labels and hash', () => {
  const spec = load('', '    version: v1\n    image: ghcr.io/acme/web:v1\n');
  assert.deepEqual(podTemplateOf(spec, { number: 1, template: spec.template }), {
    metadata: {
      labels: {
        'app.kubernetes.io/name': 'web',
        'sluice.dev/rollout': 'web',
        'sluice.dev/revision': '1',
        'sluice.dev/pod-template-hash': '3d3602b572',
      },
      annotations: { 'sluice.dev/version': 'v1' },
    },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'ghcr.io/acme/web:v1',
          ports: [{ name: 'http', containerPort: 8080 }],
          env: sluiceEnv(8080, 1, 'v1'),
          readinessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
        },
      ],
      terminationGracePeriodSeconds: 30,
    },
  });
});

test('image, container settings, env and secrets, probes, shutdown and spec.kubernetes', () => {
  const spec = load(
    `  kubernetes:
    namespace: shop
    serviceAccountName: web-runner
    nodeSelector: {kubernetes.io/arch: amd64}
    labels: {team: payments}
    annotations: {example.com/owner: pay}
`,
    `    version: v2.1
    command: node
    args: [server.js]
    image: ghcr.io/acme/web:v2.1
    container:
      ports: [{containerPort: 3000, name: http}, {containerPort: 9090, name: metrics}]
      resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {memory: 512Mi}}
      imagePullPolicy: IfNotPresent
      args: [--color=false]
      envFrom: [{configMapRef: {name: web-config}}]
    env: {LOG_LEVEL: info, PRICE: "$5 $(HOME) $$", PORT: "1"}
    secretEnv:
      DB_PASSWORD: {file: secrets/db, secretKeyRef: {name: web-secrets, key: db-password}}
      TOKEN: {secretKeyRef: {name: web-secrets, key: token, optional: true}}
    probes:
      readiness: {httpGet: {path: /healthz, headers: {X-Probe: "1"}}, periodSeconds: 500ms, timeoutSeconds: 1.5}
      liveness: {tcpSocket: {port: 9090}, periodSeconds: 10, failureThreshold: 5}
      startup: {exec: {command: [sh, -c, "test -f /tmp/ready"]}, initialDelaySeconds: 2.1}
    shutdown: {drainSeconds: 10, preStopDelaySeconds: 2.5, terminationGracePeriodSeconds: 20}
`,
  );
  spec.service = 'shop-web';
  assert.deepEqual(podTemplateOf(spec, { number: 7, template: spec.template }), {
    metadata: {
      labels: {
        team: 'payments',
        'app.kubernetes.io/name': 'shop-web',
        'sluice.dev/rollout': 'web',
        'sluice.dev/revision': '7',
        'sluice.dev/pod-template-hash': 'e2570d7190',
      },
      annotations: { 'example.com/owner': 'pay', 'sluice.dev/version': 'v2.1' },
    },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'ghcr.io/acme/web:v2.1',
          imagePullPolicy: 'IfNotPresent',
          // The local process's command and args are not the container's.
          args: ['--color=false'],
          ports: [
            { containerPort: 3000, name: 'http' },
            { containerPort: 9090, name: 'metrics' },
          ],
          envFrom: [{ configMapRef: { name: 'web-config' } }],
          resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
          env: [
            { name: 'LOG_LEVEL', value: 'info' },
            // Literal, as for a local process: Kubernetes would expand $(HOME).
            { name: 'PRICE', value: '$$5 $$(HOME) $$$$' },
            { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'web-secrets', key: 'db-password' } } },
            { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'web-secrets', key: 'token', optional: true } } },
            ...sluiceEnv(3000, 7, 'v2.1'),
          ],
          readinessProbe: {
            httpGet: { path: '/healthz', port: 3000, scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: '1' }] },
            initialDelaySeconds: 0,
            periodSeconds: 1,
            timeoutSeconds: 2,
            successThreshold: 1,
            failureThreshold: 3,
          },
          livenessProbe: { tcpSocket: { port: 9090 }, initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 5 },
          startupProbe: {
            exec: { command: ['sh', '-c', 'test -f /tmp/ready'] },
            initialDelaySeconds: 3,
            periodSeconds: 10,
            timeoutSeconds: 1,
            successThreshold: 1,
            failureThreshold: 3,
          },
          lifecycle: { preStop: { sleep: { seconds: 3 } } },
        },
      ],
      // The preStop sleep counts inside Kubernetes' grace period: 2.5 + 20, rounded up.
      terminationGracePeriodSeconds: 23,
      serviceAccountName: 'web-runner',
      nodeSelector: { 'kubernetes.io/arch': 'amd64' },
    },
  });
});

test('a podTemplate: taken as written; the first container gets what it does not set itself', () => {
  const spec = load(
    '  kubernetes: {labels: {team: payments}}\n',
    `    version: v3
    env: {MODE: web}
    probes:
      readiness: {httpGet: {path: /ready}}
      liveness: {httpGet: {path: /live}}
    podTemplate:
      metadata:
        labels: {tier: front}
        annotations: {prometheus.io/scrape: "true"}
      spec:
        terminationGracePeriodSeconds: 90
        containers:
          - name: app
            image: ghcr.io/acme/web:v3
            ports: [{containerPort: 5000, name: web}]
            env: [{name: REGION, value: eu}, {name: PORT, value: "9"}]
            livenessProbe: {httpGet: {path: /own-live, port: 5000}}
            volumeMounts: [{name: cache, mountPath: /cache}]
          - name: proxy
            image: envoyproxy/envoy:v1.30.1
            env: [{name: PORT, value: "10000"}]
        volumes: [{name: cache, emptyDir: {}}]
`,
  );
  const before = structuredClone(spec.template.podTemplate);
  assert.deepEqual(podTemplateOf(spec, { number: 2, template: spec.template }), {
    metadata: {
      labels: {
        team: 'payments',
        tier: 'front',
        'app.kubernetes.io/name': 'web',
        'sluice.dev/rollout': 'web',
        'sluice.dev/revision': '2',
        'sluice.dev/pod-template-hash': 'af18281084',
      },
      annotations: { 'prometheus.io/scrape': 'true', 'sluice.dev/version': 'v3' },
    },
    spec: {
      terminationGracePeriodSeconds: 90,
      containers: [
        {
          name: 'app',
          image: 'ghcr.io/acme/web:v3',
          ports: [{ containerPort: 5000, name: 'web' }],
          env: [{ name: 'REGION', value: 'eu' }, { name: 'MODE', value: 'web' }, ...sluiceEnv(5000, 2, 'v3')],
          livenessProbe: { httpGet: { path: '/own-live', port: 5000 } },
          volumeMounts: [{ name: 'cache', mountPath: '/cache' }],
          readinessProbe: {
            httpGet: { path: '/ready', port: 5000, scheme: 'HTTP' },
            initialDelaySeconds: 0,
            periodSeconds: 1,
            timeoutSeconds: 1,
            successThreshold: 1,
            failureThreshold: 3,
          },
        },
        // A sidecar is the pod's business: untouched.
        { name: 'proxy', image: 'envoyproxy/envoy:v1.30.1', env: [{ name: 'PORT', value: '10000' }] },
      ],
      volumes: [{ name: 'cache', emptyDir: {} }],
    },
  });
  assert.deepEqual(spec.template.podTemplate, before, 'the revision template is not modified');
  // env added after loading (an Environment's) may meet a name of the container's: the template's wins, once.
  spec.template.env.REGION = 'us';
  const env = podTemplateOf(spec, { number: 2, template: spec.template }).spec.containers[0]!.env as Array<{ name: string; value?: string }>;
  assert.deepEqual(
    env.filter((e) => e.name === 'REGION'),
    [{ name: 'REGION', value: 'us' }],
  );
});

test('a podTemplate without ports serves on 8080 and says so', () => {
  const spec = load('', '    version: v1\n    podTemplate: {spec: {containers: [{name: web, image: "web:v1"}]}}\n');
  const pod = podTemplateOf(spec, { number: 1, template: spec.template });
  assert.deepEqual(pod.spec.containers[0]!.ports, [{ name: 'http', containerPort: 8080 }]);
  assert.deepEqual(pod.spec.containers[0]!.readinessProbe, {
    tcpSocket: { port: 8080 },
    initialDelaySeconds: 0,
    periodSeconds: 1,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
  });
});

test('the hash label: the same input gives the same pod; any change to the pod changes it', () => {
  const spec = load('', '    version: v1\n    image: ghcr.io/acme/web:v1\n');
  const hash = (s: RolloutSpec, number = 1) => podTemplateOf(s, { number, template: s.template }).metadata.labels[LABELS.hash];
  assert.equal(hash(spec), hash(structuredClone(spec)));
  const changes: Array<(s: RolloutSpec) => void> = [
    (s) => (s.template.image = 'ghcr.io/acme/web:v2'),
    (s) => (s.template.env = { A: '1' }),
    (s) => (s.kubernetes = { labels: { team: 'a' } }),
    (s) => (s.kubernetes = { nodeSelector: { zone: 'a' } }),
    (s) => (s.template.shutdown.terminationGracePeriodSeconds = 31),
    (s) => (s.service = 'other'),
  ];
  const seen = new Set([hash(spec)]);
  for (const change of changes) {
    const s = structuredClone(spec);
    change(s);
    seen.add(hash(s));
  }
  seen.add(hash(spec, 2));
  assert.equal(seen.size, changes.length + 2, 'every change its own hash');
  // Namespace is where the pods go, not what they are.
  assert.equal(hash({ ...structuredClone(spec), kubernetes: { namespace: 'shop' } }), hash(spec));
});

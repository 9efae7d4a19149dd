/**
 * Spec fuzzing (issue 9): valid-looking and hostile manifests — huge numbers, deep
 * nesting, long strings, wrong types, unicode, duplicate names, clashing addresses,
 * aliases, truncation. For every case: loading throws nothing but a UserError and ends
 * in bounded time; applying through a Controller (memory store) stores nothing that
 * loading refused; every stored rollout can be planned.
 *
 * Seeded: the seed is printed; replay a failure with SLUICE_FUZZ_SEED=<seed> (and
 * SLUICE_FUZZ_RUNS to change the number of cases, default 1000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadResources } from '../../src/spec/load.js';
import { UserError } from '../../src/util/errors.js';
import { initialStatus } from '../../src/engine/controller.js';
import { plannerFor } from '../../src/engine/strategies/index.js';
import { makeSim } from '../helpers/engine-sim.js';
import { validateRouteTable } from '../../src/router/validate.js';
import { renderRoutes } from '../../src/dataplane/nginx/render.js';
import { FlagdCore } from '@openfeature/flagd-core';
import { flagRecords, type LoadedFlagSet } from '../../src/spec/flags.js';
import { compileFlags } from '../../src/flags/compile.js';
import { platformOf, type RolloutSpec } from '../../src/core/spec.js';
import { podTemplateOf } from '../../src/platform/kubernetes/pod.js';
import { IMAGE, LABEL_KEY, LABEL_VALUE } from '../../src/spec/kubernetes.js';

const SEED = Number(process.env.SLUICE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.SLUICE_FUZZ_RUNS ?? 1000);
/** Generous: a case is a few KB; loading one takes milliseconds. */
const CASE_MS = 2000;

const hostileNumber = fc.oneof(
  fc.constantFrom(1e9, 1e308, -1, -0, 0, 1, 2 ** 53, 2 ** 31, 0.5, 1001, 100, 101, 65536),
  fc.double({ noNaN: false }),
  fc.integer(),
);
const hostileString = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom(
    '',
    ' ',
    '1e9',
    '25%',
    '500%',
    '1h',
    '200h',
    '.inf',
    '-.inf',
    '.nan',
    'null',
    '~',
    '__proto__',
    'constructor',
    'x'.repeat(5000),
    '🙂'.repeat(3000),
    'a\u0000b',
    'é',
    '\ufeff',
    '127.0.0.1:0',
    '0.0.0.0:8080',
    '[::]:8080',
    'localhost:8080',
    '999.1.1.1:8080',
  ),
);
const leaf: fc.Arbitrary<unknown> = fc.oneof(hostileNumber, hostileString, fc.boolean(), fc.constant(null));
const junk: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;
/** Nesting deeper than any limit. */
const deep = fc.integer({ min: 1, max: 200 }).map((n) => {
  let v: unknown = 'x';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { k: v };
  return v;
});
const anyValue = fc.oneof(leaf, junk, deep);

/** Mostly the valid value, sometimes a hostile one: enough cases load to exercise apply and planning. */
const mostly = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown> = anyValue) =>
  fc.oneof({ weight: 60, arbitrary: good as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: bad });
const num = (min: number, max: number) => mostly(fc.integer({ min, max }), hostileNumber);
const dur = mostly(fc.constantFrom('1s', '30s', 2, '500ms'), fc.oneof(hostileNumber, hostileString));
const pct = mostly(fc.constantFrom(0, 10, 50, 100, '25%', 12.5), fc.oneof(hostileNumber, hostileString));
const opt = { requiredKeys: [] as never[] };

/** Match-rule regexes: RE2 accepts the first ones; the rest backtrack, are invalid, or are huge. */
const regex = mostly(
  fc.constantFrom('.*@example\\.com', 'beta|gamma', '[a-z]{1,8}', 'ü+'),
  fc.oneof(
    fc.constantFrom('(a+)+$', '(?=x)y', '(?<!a)b', '(a)\\1', 'a++', '(?>a)', '[', '\\', '(?P<n>x)(?P=n)'),
    fc.string({ maxLength: 5000 }),
    hostileString,
  ),
);
/** Header and cookie names: the last ones are what an nginx config must never take (issue 10). */
const headerName = mostly(fc.constantFrom('x-a', 'X-Canary', 'x_b'), fc.constantFrom('x$host', 'a;b', 'a b', 'a{b', 'x#', "x'y", 'x\ny', ''));

const step = fc.oneof(
  fc.record({ setWeight: pct }),
  fc.record({ pause: mostly(fc.oneof(fc.constant({}), fc.record({ duration: dur }))) }),
  fc.record({ setCanaryScale: mostly(fc.oneof(fc.record({ replicas: num(0, 5) }), fc.record({ weight: pct }), fc.constant({ matchTrafficWeight: true }))) }),
  fc.record({
    setHeaderRoute: fc.record({
      name: fc.constant('t'),
      match: mostly(
        fc
          .tuple(headerName, fc.oneof(fc.record({ exact: fc.constant('y') }), fc.record({ regex })))
          .map(([headerName, headerValue]) => [{ headerName, headerValue }]),
      ),
    }),
  }),
  fc.record({
    setMirrorRoute: fc.record({ name: fc.constant('m'), percentage: pct, maxBodyBytes: num(0, 1 << 20), queueLimit: num(1, 100) }, { requiredKeys: ['name'] }),
  }),
  fc.record({ approval: fc.constant({}) }),
  anyValue,
);

const strategy = mostly(
  fc.oneof(
    fc.constant({ recreate: {} }),
    fc.record({
      rolling: fc.record(
        {
          maxSurge: mostly(fc.constantFrom(0, 1, 2, '25%', '100%'), fc.oneof(hostileNumber, hostileString)),
          maxUnavailable: mostly(fc.constantFrom(1, '25%', 0), fc.oneof(hostileNumber, hostileString)),
          pauseSeconds: dur,
        },
        opt,
      ),
    }),
    fc.record({
      blueGreen: fc.record(
        {
          previewListen: mostly(fc.constantFrom('127.0.0.1:18010', '127.0.0.1:18000', '0.0.0.0:18010')),
          previewReplicaCount: num(1, 5),
          autoPromotionEnabled: fc.boolean(),
          scaleDownDelaySeconds: dur,
        },
        opt,
      ),
    }),
    fc.record({
      canary: fc.record(
        {
          canaryListen: mostly(fc.constantFrom('127.0.0.1:18020', '127.0.0.1:18001')),
          maxSurge: mostly(fc.constantFrom(1, '25%')),
          steps: fc.array(step, { maxLength: 8 }),
        },
        opt,
      ),
    }),
    fc.record({ shadow: fc.record({ shadowReplicas: num(1, 5), durationSeconds: dur, promoteOnAnalysisSuccess: mostly(fc.boolean()) }, opt) }),
    fc.record({
      abTest: fc.record(
        {
          variants: mostly(
            fc.constant([
              { name: 'a', weight: 50 },
              { name: 'b', weight: 50 },
            ]),
            fc.array(fc.record({ name: fc.constantFrom('a', 'b', 'c', 'stable'), weight: hostileNumber }), { maxLength: 4 }),
          ),
          // Experiments (issue 13): metrics from the three sources, guardrails, conclusion.
          metrics: mostly(
            fc.array(
              fc.record(
                {
                  name: mostly(fc.constantFrom('checkout', 'revenue', 'signup'), hostileString),
                  kind: mostly(fc.constantFrom('binomial', 'continuous'), hostileString),
                  direction: mostly(fc.constantFrom('higher', 'lower'), hostileString),
                  primary: mostly(fc.boolean(), anyValue),
                  goal: mostly(
                    fc.record(
                      {
                        path: mostly(fc.constantFrom('/checkout', '/x?y'), hostileString),
                        pathPrefix: fc.constant('/orders/'),
                        methods: mostly(fc.constant(['POST']), anyValue),
                        status: mostly(fc.constantFrom('2xx', '5xx', '6xx'), hostileNumber),
                        valueHeader: mostly(fc.constant('x-sluice-value'), hostileString),
                      },
                      opt,
                    ),
                  ),
                  event: mostly(fc.constantFrom('purchase', 'bad name'), hostileString),
                  prometheus: mostly(fc.record({ address: fc.constant('http://127.0.0.1:9090'), query: fc.constant('sum by (variant) (x)') }), anyValue),
                  window: dur,
                  allowNegative: mostly(fc.boolean(), anyValue),
                },
                opt,
              ),
              { maxLength: 3 },
            ),
          ),
          userKey: mostly(fc.record({ header: mostly(headerName), cookie: mostly(fc.constant('uid'), hostileString) }, opt)),
          guardrails: mostly(fc.record({ maxErrorRate: pct, maxP95Latency: dur, minRequests: num(0, 1000) }, opt)),
          conclusion: mostly(
            fc.record(
              {
                minimumUsers: num(0, 5000),
                minimumDuration: dur,
                maximumDuration: dur,
                alpha: mostly(fc.constantFrom(0.05, 0.01), hostileNumber),
                minimumEffect: pct,
                auto: mostly(fc.boolean()),
                sequentialTuning: num(0, 10000),
              },
              opt,
            ),
          ),
        },
        { requiredKeys: ['variants'] },
      ),
    }),
  ),
);

// The Kubernetes side (issue 17): images, container settings, pod templates, spec.kubernetes.
const rare = <T>(value: fc.Arbitrary<T>, weight = 1) =>
  fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: weight * 2, arbitrary: value as fc.Arbitrary<unknown> });
const k8sImage = mostly(
  fc.constantFrom('ghcr.io/acme/web:v2', 'web', 'localhost:5000/a/b', `web@sha256:${'a'.repeat(64)}`),
  fc.oneof(hostileString, fc.constantFrom('Web', 'web:', 'a b', 'Acme/web', `web:${'x'.repeat(200)}`)),
);
const quantityArb = mostly(
  fc.constantFrom('250m', '1', 0.5, '512Mi', '1Gi', '1e3', 2),
  fc.oneof(hostileString, hostileNumber, fc.constantFrom('512m', '-1', '1.5.5', '0x10', '1e999', '9Ei')),
);
const labelKey = mostly(
  fc.constantFrom('team', 'example.com/owner', 'tier'),
  fc.constantFrom('sluice.dev/x', 'app.kubernetes.io/name', 'bad key', 'a/b/c', '', 'x'.repeat(64)),
);
const labelValue = mostly(fc.constantFrom('payments', '', 'a.b-c_d', 7), fc.oneof(hostileString, hostileNumber));
const labelsArb = fc.dictionary(labelKey as fc.Arbitrary<string>, labelValue, { maxKeys: 3 });
const k8sName = mostly(fc.constantFrom('web-config', 'web-secrets', 'a.b'), fc.oneof(hostileString, fc.constantFrom('Bad', '-x')));
const containerArb = fc.record(
  {
    ports: mostly(
      fc.constantFrom(
        [{ containerPort: 3000 }],
        [
          { containerPort: 8080, name: 'http' },
          { containerPort: 9090, name: 'metrics', protocol: 'TCP' },
        ],
      ),
      fc.array(
        fc.record(
          {
            containerPort: num(1, 65535),
            name: mostly(fc.constantFrom('http', 'metrics'), hostileString),
            protocol: mostly(fc.constantFrom('TCP', 'UDP'), hostileString),
          },
          { requiredKeys: ['containerPort'] },
        ),
        { maxLength: 3 },
      ),
    ),
    resources: mostly(
      fc.record(
        { requests: fc.record({ cpu: quantityArb, memory: quantityArb }, opt), limits: fc.record({ cpu: quantityArb, memory: quantityArb }, opt) },
        opt,
      ),
    ),
    imagePullPolicy: mostly(fc.constantFrom('Always', 'IfNotPresent', 'Never'), hostileString),
    command: mostly(fc.array(fc.constantFrom('/app', '-v', '$(PORT)'), { maxLength: 3 })),
    args: mostly(fc.array(fc.constantFrom('--x', '1', 2), { maxLength: 3 })),
    envFrom: mostly(
      fc.array(
        fc.oneof(
          fc.record({ configMapRef: fc.record({ name: k8sName }) }),
          fc.record(
            { secretRef: fc.record({ name: k8sName, optional: mostly(fc.boolean()) }), prefix: mostly(fc.constantFrom('S_', 'db.'), hostileString) },
            opt,
          ),
        ),
        { maxLength: 2 },
      ),
    ),
  },
  opt,
);
const podTemplateArb = fc.record(
  {
    metadata: mostly(
      fc.record({ labels: labelsArb, annotations: fc.dictionary(labelKey as fc.Arbitrary<string>, fc.string({ maxLength: 20 }), { maxKeys: 2 }) }, opt),
    ),
    spec: mostly(
      fc.record(
        {
          containers: mostly(
            fc.array(
              fc.record(
                {
                  name: mostly(fc.constantFrom('web', 'proxy'), hostileString),
                  image: k8sImage,
                  ports: mostly(fc.constantFrom([{ containerPort: 3000 }], [], [{ containerPort: 3000, name: 'http' }, { containerPort: 9000 }])),
                  env: mostly(
                    fc.constantFrom(
                      [{ name: 'REGION', value: 'eu' }],
                      [{ name: 'PORT', value: '1' }],
                      [
                        { name: 'A', value: '1' },
                        { name: 'A', value: '2' },
                      ],
                    ),
                  ),
                  readinessProbe: rare(fc.constant({ httpGet: { path: '/own', port: 3000 } })),
                  opaque: rare(anyValue),
                },
                { requiredKeys: ['name', 'image'] },
              ),
              { maxLength: 3 },
            ),
          ),
          volumes: mostly(fc.constant([{ name: 'c', emptyDir: {} }]), anyValue),
          serviceAccountName: rare(mostly(fc.constantFrom('web', 'Bad'), hostileString)),
          terminationGracePeriodSeconds: rare(mostly(fc.constant(5))),
        },
        { requiredKeys: ['containers'] },
      ),
    ),
  },
  { requiredKeys: ['spec'] },
);
const kubernetesArb = fc.record(
  {
    namespace: mostly(fc.constantFrom('shop', 'default'), hostileString),
    serviceAccountName: mostly(fc.constantFrom('web', 'web.runner'), hostileString),
    nodeSelector: mostly(fc.dictionary(labelKey as fc.Arbitrary<string>, labelValue, { maxKeys: 2 })),
    labels: mostly(labelsArb),
    annotations: mostly(fc.dictionary(labelKey as fc.Arbitrary<string>, fc.string({ maxLength: 20 }), { maxKeys: 2 })),
  },
  opt,
);
const platformArb = fc.oneof(
  { weight: 60, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constantFrom('local', 'kubernetes') },
  { weight: 1, arbitrary: hostileString },
);

const ports = fc.integer({ min: 18000, max: 18003 });
const listen = mostly(
  ports.map((p) => `127.0.0.1:${p}`),
  fc.oneof(
    ports.map((p) => `0.0.0.0:${p}`),
    hostileString,
  ),
);

const rollout = fc.record(
  {
    apiVersion: mostly(fc.constant('sluice.dev/v1alpha1'), hostileString),
    kind: mostly(fc.constant('Rollout'), fc.oneof(fc.constant('AnalysisTemplate'), hostileString)),
    metadata: fc.record(
      { name: mostly(fc.constantFrom('web', 'api', 'db'), hostileString), labels: mostly(fc.constant(undefined)) },
      { requiredKeys: ['name'] },
    ),
    spec: fc.record(
      {
        platform: platformArb,
        kubernetes: rare(kubernetesArb),
        replicas: num(0, 5),
        minReadySeconds: mostly(fc.constantFrom(0, '1s'), fc.oneof(hostileNumber, hostileString)),
        progressDeadlineSeconds: mostly(fc.constantFrom(60, '10m'), fc.oneof(hostileNumber, hostileString)),
        revisionHistoryLimit: num(0, 10),
        template: fc
          .tuple(
            fc.record(
              {
                version: mostly(fc.constantFrom('v1', 'v2', 'v3'), fc.oneof(hostileString, hostileNumber)),
                // Absent sometimes: a template for Kubernetes only (or a mistake on the local platform).
                command: fc.oneof(
                  { weight: 30, arbitrary: fc.constant('node') },
                  { weight: 1, arbitrary: fc.constant(undefined) },
                  { weight: 1, arbitrary: hostileString },
                ),
                args: mostly(fc.array(fc.constantFrom('server.js', '--x', '1'), { maxLength: 3 })),
                env: mostly(fc.dictionary(fc.constantFrom('A', 'B', 'LOG'), fc.oneof(fc.string({ maxLength: 10 }), fc.integer()), { maxKeys: 3 })),
                secretEnv: mostly(
                  fc.constantFrom(
                    { S: { file: 'x' } },
                    { S: { env: 'HOME' } },
                    { S: { env: 'HOME', secretKeyRef: { name: 'web-secrets', key: 'db', optional: true } } },
                  ),
                ),
                probes: mostly(fc.constant({ readiness: { httpGet: { path: '/healthz' }, periodSeconds: 1 } })),
                shutdown: mostly(fc.record({ drainSeconds: dur, terminationGracePeriodSeconds: dur }, opt)),
              },
              { requiredKeys: ['version', 'command'] },
            ),
            // What the Kubernetes platform runs, beside the command (or instead of it).
            fc.oneof(
              { weight: 40, arbitrary: fc.constant({}) },
              { weight: 3, arbitrary: fc.record({ image: k8sImage }) },
              { weight: 1, arbitrary: fc.record({ image: k8sImage, container: containerArb }) },
              { weight: 1, arbitrary: fc.record({ podTemplate: podTemplateArb }) },
              {
                weight: 1,
                arbitrary: fc.record({ image: fc.constant(undefined), container: containerArb, podTemplate: mostly(fc.constant(undefined), podTemplateArb) }),
              },
            ),
          )
          .map(([t, k8s]) => ({ ...t, ...k8s })),
        traffic: fc.record(
          {
            listen,
            routes: mostly(
              fc.oneof(
                fc.constant([{ name: 'r', match: { header: { name: 'x', exact: 'y' } }, to: 'canary' }]),
                fc.tuple(headerName, regex).map(([name, re]) => [{ name: 'r', match: { header: { name, regex: re } }, to: 'canary' }]),
                fc.tuple(headerName, regex).map(([name, re]) => [{ name: 'c', match: { cookie: { name, regex: re } }, to: 'stable' }]),
              ),
            ),
            // Every registered data plane by name, an unregistered one, and the map spelling (router: {nginx: {...}}).
            router: mostly(
              fc.oneof(
                fc.constantFrom(undefined, 'builtin', 'nginx', 'envoy', '../nginx'),
                fc.constantFrom({ nginx: { manage: true } }, { nginx: { manage: false, configFile: 'rel.conf' } }, { builtin: {} }, { nginx: {}, envoy: {} }),
              ),
            ),
            nginx: mostly(
              fc.constant(undefined),
              fc.record(
                {
                  accessLog: fc.constantFrom('/tmp/a.log', '/tmp/a.log; server { }', '/tmp/$host', '/tmp/a\nb'),
                  statusListen: fc.constantFrom('127.0.0.1:18591', '18591;stub_status;#:9902', 'x y:1'),
                },
                opt,
              ),
            ),
            bufferRequests: mostly(fc.record({ maxBytes: num(1, 1 << 20) })),
            timeouts: mostly(fc.record({ connectSeconds: dur, responseSeconds: dur }, opt)),
          },
          { requiredKeys: ['listen'] },
        ),
        strategy,
        smokeTests: mostly(
          fc.constant(undefined),
          fc.array(
            fc.record({ name: fc.constant('s'), checks: fc.array(fc.record({ path: fc.constant('/x'), jsonBody: anyValue }), { minLength: 1, maxLength: 2 }) }),
            { maxLength: 2 },
          ),
        ),
        database: mostly(
          fc.constant(undefined),
          fc.record(
            {
              engine: mostly(fc.constantFrom('postgres', 'sqlite'), hostileString),
              url: mostly(fc.constantFrom({ env: 'DATABASE_URL' }, { file: 'db-url' }, { env: 'A', file: 'b' }, {}), fc.oneof(hostileString, anyValue)),
              path: mostly(fc.constantFrom('app.db', '/tmp/app.db'), hostileString),
              migrations: mostly(fc.constantFrom('migrations', '/tmp/m'), hostileString),
              tool: mostly(fc.constantFrom({ expand: { command: ['python', 'manage.py', 'migrate'] } }, { contract: { command: [] } }), anyValue),
              lockTimeout: dur,
              statementTimeout: dur,
              lockRetries: num(0, 100),
              retryBackoff: dur,
              backfill: mostly(fc.record({ batchSize: num(1, 100_000), pause: dur, maxReplicationLag: dur, maxActiveSessions: num(1, 100) }, opt)),
              backups: mostly(fc.record({ enabled: mostly(fc.boolean()), keep: num(1, 10) }, opt)),
              contractAfter: mostly(fc.constantFrom('next-release', { duration: '1h' }, { duration: 30 }), fc.oneof(hostileString, anyValue)),
              verifyStable: mostly(fc.boolean(), hostileString),
            },
            opt,
          ),
        ),
        extra: mostly(fc.constant(undefined)),
      },
      { requiredKeys: ['template', 'traffic', 'strategy'] },
    ),
  },
  { requiredKeys: ['apiVersion', 'kind', 'metadata', 'spec'] },
);

/**
 * What a pod template built from a loaded spec must be, whatever the spec: plain JSON, the
 * same every time, the input untouched, names and values the API server takes, whole
 * seconds, and sluice's labels and variables in place. Only for specs that run on
 * Kubernetes somewhere: those with an image or a pod template.
 */
function checkPod(spec: RolloutSpec): void {
  const t = spec.template;
  if (t.image === undefined && t.podTemplate === undefined) return;
  if (Object.values(t.secretEnv ?? {}).some((ref) => !ref.secretKeyRef)) return; // refused for pods (a loader rule)
  const input = JSON.stringify(spec);
  const pod = podTemplateOf(spec, { number: 3, template: t });
  assert.equal(JSON.stringify(spec), input, 'podTemplateOf changed its input');
  assert.deepEqual(JSON.parse(JSON.stringify(pod)), pod, 'the pod template is plain JSON');
  assert.deepEqual(podTemplateOf(spec, { number: 3, template: t }), pod, 'the same pod every time');
  for (const [key, value] of Object.entries(pod.metadata.labels)) {
    assert.match(key, LABEL_KEY, `label key ${key}`);
    assert.match(value, LABEL_VALUE, `label ${key} value ${value}`);
  }
  assert.equal(pod.metadata.labels['sluice.dev/rollout'], spec.name);
  assert.equal(pod.metadata.labels['sluice.dev/revision'], '3');
  assert.match(pod.metadata.labels['sluice.dev/pod-template-hash']!, /^[0-9a-f]{10}$/);
  const names = pod.spec.containers.map((c) => c.name);
  assert.ok(names.length > 0 && new Set(names).size === names.length, `container names ${names}`);
  for (const c of pod.spec.containers) assert.match(c.image, IMAGE);
  const app = pod.spec.containers[0]! as Record<string, unknown>;
  const port = (app.ports as Array<{ containerPort: number }>)[0]!.containerPort;
  assert.ok(Number.isInteger(port) && port >= 1 && port <= 65535, `port ${port}`);
  const env = app.env as Array<{ name: string; value?: string }>;
  assert.equal(new Set(env.map((e) => e.name)).size, env.length, `env names twice: ${env.map((e) => e.name)}`);
  assert.equal(env.find((e) => e.name === 'PORT')?.value, String(port));
  for (const field of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    const probe = app[field] as Record<string, number> | undefined;
    if (!probe || (t.podTemplate && t.podTemplate.spec.containers[0]![field] !== undefined)) continue;
    for (const k of ['periodSeconds', 'timeoutSeconds']) assert.ok(Number.isInteger(probe[k]) && probe[k]! >= 1, `${field}.${k} ${probe[k]}`);
    assert.ok(Number.isInteger(probe.initialDelaySeconds) && probe.initialDelaySeconds! >= 0);
  }
  assert.ok(app.readinessProbe !== undefined, 'the app container has a readiness probe');
  const grace = pod.spec.terminationGracePeriodSeconds as number;
  assert.ok(Number.isInteger(grace) && grace >= 0, `grace ${grace}`);
}

/** The mutation that leaves the text alone. */
const identity = (t: string) => t;
/** Text-level mutations yaml.stringify cannot make: aliases, truncation, raw bytes, duplicate keys. */
const mutation = fc.oneof(
  { weight: 40, arbitrary: fc.constant(identity) },
  fc.nat().map((n) => (t: string) => t.slice(0, n % (t.length + 1))),
  fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 5 })).map(
    ([n, s]) =>
      (t: string) =>
        t.slice(0, n % (t.length + 1)) + s + t.slice(n % (t.length + 1)),
  ),
  fc
    .integer({ min: 1, max: 3000 })
    .map((n) => (t: string) => `${t.replace(/^kind: (.*)$/m, 'kind: &k $1')}x: [${Array.from({ length: n }, () => '*k').join(', ')}]\n`),
  fc.constant((t: string) => t.replace(/^spec:$/m, 'spec:\n  replicas: 1\n  replicas: 2')),
  fc.constant((t: string) => t.replace(/^(\s+)listen: (.*)$/m, '$1listen: &l $2\n$1x: *l')),
  fc.constant((t: string) => t.replace(/^metadata:$/m, 'metadata: &self\n  self: *self')),
);

const fileText = fc
  .tuple(fc.array(fc.tuple(rollout, mutation), { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([docs, trailing]) => docs.map(([d, m]) => m(stringify(d, { aliasDuplicateObjects: false }))).join('---\n') + (trailing ? '---\n' : ''));

test(`spec fuzzing: ${RUNS} manifests, seed ${SEED} (replay: SLUICE_FUZZ_SEED=${SEED})`, { timeout: 600_000 }, async () => {
  console.log(`spec fuzz seed ${SEED}, ${RUNS} cases — replay with SLUICE_FUZZ_SEED=${SEED}`);
  const stats = { accepted: 0, refused: 0, applied: 0 };
  await fc.assert(
    fc.asyncProperty(fileText, async (text) => {
      const started = performance.now();
      let loaded: ReturnType<typeof loadResources> | undefined;
      try {
        loaded = loadResources(text, 'fuzz.yaml');
      } catch (err) {
        if (!(err instanceof UserError)) throw new Error(`loadResources threw ${String(err)} (not a UserError)`);
        assert.ok(!err.message.includes('\n'), `a one-line error: ${err.message}`);
      }
      const ms = performance.now() - started;
      assert.ok(ms < CASE_MS, `loading took ${ms} ms`);
      loaded ? stats.accepted++ : stats.refused++;

      const sim = makeSim();
      try {
        await sim.controller.apply(text, '/tmp/fuzz.yaml', sim.by);
        stats.applied++;
      } catch (err) {
        if (!(err instanceof UserError)) throw new Error(`apply threw ${String(err)} (not a UserError)`);
      }
      const stored = sim.store.listRollouts();
      if (!loaded) assert.equal(stored.length, 0, 'apply stored what loading refused');
      // This control plane runs the local platform only: a rollout for kubernetes is refused whole.
      for (const r of stored) assert.equal(platformOf(r.spec), 'local', `rollout ${r.name} for kubernetes was stored`);
      for (const r of loaded ?? []) if (r.kind === 'Rollout') checkPod(r.value);
      // What the spec accepted, the data plane must accept too: the engine's first table validates.
      if (stored.length > 0) {
        await sim.reconciler.settle();
        if (sim.router.current) validateRouteTable(sim.router.current);
        // nginx may still refuse a name the spec let through (one line, at apply), but never crash or render it.
        const onNginx = sim.router.current?.listeners.filter((l) => l.dataPlane === 'nginx') ?? [];
        if (onNginx.length > 0) {
          try {
            renderRoutes(onNginx, { generation: 1, statusListen: '127.0.0.1:18591', accessLog: '/tmp/access.log', keepaliveSeconds: 4 });
          } catch (err) {
            if (!(err instanceof UserError)) throw new Error(`renderRoutes threw ${String(err)} (not a UserError)`);
          }
        }
      }
      for (const record of stored) {
        const plan = plannerFor(record.spec.strategy.type);
        plan({
          spec: record.spec,
          status: initialStatus(1, 0),
          observed: new Map(),
          now: 0,
          jobs: new Map(),
          templates: new Map(),
          version: record.spec.template.version,
        });
      }
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  console.log(`spec fuzz: ${stats.accepted} loaded, ${stats.refused} refused, ${stats.applied} applied`);
  // A generator that only ever produces refused input would test nothing about apply.
  assert.ok(stats.accepted > RUNS / 50, `only ${stats.accepted} of ${RUNS} cases loaded`);
});

// Rollouts for Kubernetes (issue 17): mostly valid images, containers and pod templates,
// loaded on a control plane whose default platform is local or kubernetes. Each loads or
// throws one positioned line; what loads makes a pod template checkPod accepts; apply on
// this (local) control plane stores only rollouts for the local platform.
const k8sRollout = fc
  .record({
    template: fc.record(
      {
        version: fc.constantFrom('v1', 'v2'),
        command: rare(fc.constant('node'), 2),
        image: fc.oneof({ weight: 5, arbitrary: k8sImage }, { weight: 1, arbitrary: fc.constant(undefined) }),
        container: rare(containerArb, 3),
        podTemplate: rare(podTemplateArb),
        env: mostly(fc.constantFrom({ A: '1', PRICE: '$(X) $$' }, { PORT: '1' }, {})),
        secretEnv: rare(
          fc.constantFrom(
            { S: { secretKeyRef: { name: 'web-secrets', key: 'db' } } },
            { S: { file: 'x', secretKeyRef: { name: 'a', key: 'b' } } },
            { S: { env: 'HOME' } },
            { S: { secretKeyRef: { name: 'Bad', key: 'db' } } },
          ),
        ),
        probes: mostly(
          fc.constantFrom(
            { readiness: { httpGet: { path: '/h', headers: { 'X-A': 1 } }, periodSeconds: '500ms' } },
            { readiness: { tcpSocket: { port: 9000 } }, liveness: { exec: { command: ['true'] }, periodSeconds: 2.5, timeoutSeconds: 0.1 } },
            { startup: { httpGet: { path: '/s', port: 3000 }, initialDelaySeconds: '1.5s' } },
          ),
        ),
        shutdown: mostly(fc.record({ preStopDelaySeconds: dur, terminationGracePeriodSeconds: dur }, opt)),
      },
      { requiredKeys: ['version', 'command', 'image'] },
    ),
    platform: fc.constantFrom(undefined, 'kubernetes', 'local'),
    kubernetes: rare(kubernetesArb, 2),
    service: rare(fc.constantFrom('shop', 'Bad')),
    defaultPlatform: fc.constantFrom('local' as const, 'kubernetes' as const),
  })
  .map(({ template, platform, kubernetes, service, defaultPlatform }) => ({
    defaultPlatform,
    text: stringify({
      apiVersion: 'sluice.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'web', service },
      spec: { platform, kubernetes, template, traffic: { listen: '127.0.0.1:18000' }, strategy: { canary: { steps: [{ setWeight: 50 }] } } },
    }),
  }));

test(`spec fuzzing, rollouts for Kubernetes: ${RUNS} manifests, seed ${SEED} (replay: SLUICE_FUZZ_SEED=${SEED})`, { timeout: 600_000 }, async () => {
  const stats = { local: 0, kubernetes: 0, refused: 0 };
  await fc.assert(
    fc.asyncProperty(k8sRollout, async ({ text, defaultPlatform }) => {
      let loaded: ReturnType<typeof loadResources> | undefined;
      try {
        loaded = loadResources(text, 'fuzz.yaml', { defaultPlatform });
      } catch (err) {
        if (!(err instanceof UserError)) throw new Error(`loadResources threw ${String(err)} (not a UserError)`);
        assert.ok(!err.message.includes('\n'), `a one-line error: ${err.message}`);
        assert.match(err.message, /^fuzz\.yaml:\d+:\d+: (metadata|spec)[.[]/, 'the error names file:line:col and the field');
      }
      const spec = loaded?.[0]?.value as RolloutSpec | undefined;
      if (!spec) return void stats.refused++;
      const platform = platformOf(spec, defaultPlatform);
      stats[platform]++;
      if (platform === 'kubernetes') {
        assert.ok(spec.template.image !== undefined || spec.template.podTemplate !== undefined, 'a rollout for kubernetes has something to run');
        checkPod(spec);
      } else {
        assert.ok(spec.template.command !== undefined, 'a rollout for the local platform has a command');
      }
      const sim = makeSim();
      try {
        await sim.controller.apply(text, '/tmp/fuzz.yaml', sim.by);
      } catch (err) {
        if (!(err instanceof UserError)) throw new Error(`apply threw ${String(err)} (not a UserError)`);
      }
      for (const r of sim.store.listRollouts()) assert.equal(platformOf(r.spec), 'local', 'apply stored a rollout for kubernetes');
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  console.log(`kubernetes fuzz: ${stats.kubernetes} loaded for kubernetes, ${stats.local} for local, ${stats.refused} refused`);
  assert.ok(stats.kubernetes > RUNS / 10, `only ${stats.kubernetes} of ${RUNS} cases loaded for kubernetes`);
});

// Feature-flag documents (issue 12): FeatureFlag, FeatureFlags and flagd's JSON, plausible
// and hostile. Each loads, or throws one line `fuzz.yaml:LINE…` (a UserError); what loads
// compiles to a flagd document the real evaluator (flagd-core) takes whole.
const variantNames = fc.constantFrom('on', 'off', 'red', 'blue', 'a', 'b', '', 'x'.repeat(200), '__proto__');
const { rule: logic } = fc.letrec((tie) => ({
  rule: fc.oneof(
    { weight: 3, arbitrary: fc.oneof(variantNames, hostileNumber, fc.boolean(), fc.constant(null)) },
    fc.record({ var: fc.constantFrom('plan', 'segment', '$flagd.flagKey', 'targetingKey', 'email') }),
    fc
      .tuple(
        fc.constantFrom('if', 'and', 'or', '==', 'in', '!', 'cat', 'starts_with', 'ends_with', 'regex', 'nope', '$ref', 'missing'),
        fc.array(tie('rule'), { maxLength: 4 }),
      )
      .map(([op, args]) => ({ [op]: op === '$ref' ? 'pros' : args })),
    fc.tuple(tie('rule'), fc.constantFrom('=', '>=', '^', '=>', 7)).map(([v, op]) => ({ sem_ver: [v, op, '1.2.0'] })),
    fc
      .array(fc.tuple(variantNames, fc.oneof(fc.constantFrom(0, 25, 50, 75, 100), hostileNumber)), { minLength: 0, maxLength: 4 })
      .map((buckets) => ({ fractional: buckets })),
    fc.tuple(tie('rule'), tie('rule')).map(([a, b]) => ({ '==': [a, b], extra: b })),
  ) as fc.Arbitrary<unknown>,
}));
const percentage = fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constantFrom('25%', '12.5%', '100%', '0%', '150%', '-5%'), hostileNumber, hostileString);
const enable = fc.record(
  {
    variant: variantNames,
    percentage,
    segments: fc.oneof(fc.constant(['premium', 'beta_testers']), anyValue),
    attributes: fc.oneof(fc.constant({ plan: 'pro', seats: 3 }), anyValue),
    countries: fc.oneof(fc.constant(['DE', 'FR']), fc.constant(['de']), anyValue),
    minAccountAgeDays: fc.oneof(fc.constantFrom(0, 30, 1e9), hostileNumber),
    from: fc.oneof(fc.constantFrom('2026-03-01T09:00:00Z', '2026-03-01', 'yesterday', '2026-13-45'), hostileString),
    until: fc.oneof(fc.constantFrom('2027-03-01T09:00:00Z', '2020-01-01'), hostileString),
  },
  { requiredKeys: [] },
);
const variants = fc.oneof(
  fc.constant({ on: true, off: false }),
  fc.constant({ red: '#f00', blue: '#00f' }),
  fc.constant({ a: 1, b: 2.5 }),
  fc.constant({ a: { cols: 2 }, b: { cols: 3 } }),
  fc.constant({ a: 1, b: 'two' }),
  fc.dictionary(variantNames, leaf, { maxKeys: 3 }),
);
const hostileFlagBody = fc.record(
  {
    type: fc.constantFrom('boolean', 'string', 'number', 'object', 'json'),
    state: fc.constantFrom('ENABLED', 'DISABLED', 'enabled'),
    variants,
    defaultVariant: variantNames,
    offVariant: variantNames,
    enable,
    targeting: logic,
    metadata: fc.oneof(fc.constant({ team: 'web', tier: 2 }), anyValue),
    owner: hostileString,
    expires: fc.constantFrom('2027-01-01', '2020-01-01', 'never'),
    permanent: fc.oneof(fc.boolean(), anyValue),
    rollout: fc.record({ steps: fc.array(fc.oneof(fc.record({ setPercentage: percentage }), fc.constant({ pause: {} }), anyValue), { maxLength: 3 }) }),
  },
  { requiredKeys: [] },
);
/** Mostly valid bodies (so that compiling and flagd-core are exercised), with one field at a time from the hostile ones. */
const saneFlagBody = fc.oneof(
  fc.record(
    {
      enable: fc.record(
        { percentage: fc.integer({ min: 0, max: 100 }), segments: fc.constant(['premium']), countries: fc.constant(['DE']) },
        { requiredKeys: [] },
      ),
      owner: fc.constant('team'),
    },
    { requiredKeys: [] },
  ),
  fc.constant({
    variants: { red: '#f00', blue: '#00f' },
    defaultVariant: 'red',
    targeting: {
      if: [
        { $ref: 'pros' },
        'blue',
        {
          fractional: [
            ['red', 50],
            ['blue', 50],
          ],
        },
      ],
    },
  }),
  fc.constant({ state: 'DISABLED', variants: { a: 1, b: 2 }, defaultVariant: 'a' }),
  fc.constant({ variants: { on: true, off: false }, defaultVariant: 'off', targeting: { if: [{ sem_ver: [{ var: 'version' }, '>=', '1.2.0'] }, 'on', null] } }),
);
const flagBody = fc.oneof(
  { weight: 3, arbitrary: saneFlagBody },
  {
    weight: 1,
    arbitrary: fc.tuple(saneFlagBody, hostileFlagBody).map(([sane, hostile]) => ({ ...sane, ...Object.fromEntries(Object.entries(hostile).slice(0, 1)) })),
  },
  { weight: 1, arbitrary: hostileFlagBody },
);
const flagKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('new-checkout', 'dark.mode', 'f_1') },
  fc.constantFrom('a/b', 'a..b', '../x', '', '-x'),
  hostileString,
);
const flagDocument = fc.oneof(
  fc.tuple(flagKey, flagBody).map(([name, spec]) => ({ apiVersion: 'sluice.dev/v1alpha1', kind: 'FeatureFlag', metadata: { name }, spec })),
  fc.tuple(fc.dictionary(flagKey, flagBody, { minKeys: 1, maxKeys: 3 }), fc.boolean()).map(([flags, withEvaluators]) => ({
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'FeatureFlags',
    metadata: { name: 'set' },
    spec: { flags, $evaluators: withEvaluators ? { pros: { '==': [{ var: 'plan' }, 'pro'] } } : { other: true } },
  })),
  fc.tuple(fc.dictionary(flagKey, flagBody, { minKeys: 1, maxKeys: 3 }), fc.boolean()).map(([flags, withEvaluators]) => ({
    flags,
    $evaluators: withEvaluators ? { pros: { in: [{ var: 'plan' }, ['pro']] } } : { other: true },
  })),
);
const flagFile = fc
  .array(fc.tuple(flagDocument, mutation, fc.boolean()), { minLength: 1, maxLength: 3 })
  .map((docs) => docs.map(([d, m, json]) => m(json ? `${JSON.stringify(d, null, 2)}\n` : stringify(d, { aliasDuplicateObjects: false }))).join('---\n'));

test(`spec fuzzing, flag documents: ${RUNS} files, seed ${SEED} (replay: SLUICE_FUZZ_SEED=${SEED})`, { timeout: 600_000 }, () => {
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const stats = { accepted: 0, refused: 0 };
  fc.assert(
    fc.property(flagFile, (text) => {
      const started = performance.now();
      let loaded: ReturnType<typeof loadResources> | undefined;
      try {
        loaded = loadResources(text, 'fuzz.yaml');
      } catch (err) {
        if (!(err instanceof UserError)) throw new Error(`loadResources threw ${String(err)} (not a UserError)`);
        assert.ok(!err.message.includes('\n'), `a one-line error: ${err.message}`);
        assert.match(err.message, /^fuzz\.yaml(:\d+(:\d+)?)?: /, 'the error names the file (and line)');
      }
      assert.ok(performance.now() - started < CASE_MS, 'loading took too long');
      if (!loaded) return void stats.refused++;
      stats.accepted++;
      const records = loaded.flatMap((r) => (r.kind === 'FeatureFlag' || r.kind === 'FeatureFlags' ? flagRecords(r.value as LoadedFlagSet, r.source, 0) : []));
      const core = new FlagdCore(undefined, quiet);
      const keys = core.setConfigurations(JSON.stringify(compileFlags(records)));
      assert.deepEqual([...keys].sort(), records.map((r) => r.name).sort(), 'flagd-core takes every flag that loaded');
      // Evaluating every flag must not throw either.
      core.resolveAll({ targetingKey: 'user-1', plan: 'pro' }, quiet);
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  console.log(`flag fuzz: ${stats.accepted} loaded, ${stats.refused} refused`);
  assert.ok(stats.accepted > RUNS / 50, `only ${stats.accepted} of ${RUNS} flag files loaded`);
});

// Environments and pipelines (issue 15). Valid documents are built so they must load (stage
// names unique, every `after` an earlier stage, one rule per role, real dates and zones);
// the hostile ones swap in a hostile value here and there and go through the text mutations.
// Either way: only a one-line UserError naming the file, in bounded time.
const dnsName = fc.constantFrom('dev', 'staging', 'production', 'qa', 'eu-1', 'a');
const clock = fc
  .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
  .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
const zone = fc.constantFrom('UTC', 'Europe/Madrid', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe');
const validWindow = fc
  .record({
    days: fc.subarray(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], { minLength: 1 }),
    start: clock,
    end: clock,
    timeZone: zone,
  })
  .filter((w) => w.start !== w.end)
  .chain((w) => fc.constantFrom(w, { start: w.start, end: w.end, timeZone: w.timeZone }));
const day = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));
const validFreeze = fc
  .record({ a: day, b: day, timeZone: zone, reason: fc.constantFrom('year-end', 'audit') }, { requiredKeys: ['a', 'b'] })
  .map(({ a, b, ...rest }) => {
    const [from, to] = [a, b].sort();
    return { from, to, ...rest };
  });
const validApprovals = fc
  .uniqueArray(fc.constantFrom('qa', 'tech-lead', 'sre', 'release-1'), { maxLength: 3 })
  .chain((roles) =>
    fc.tuple(
      ...roles.map((role) =>
        fc.record({ role: fc.constant(role), count: fc.integer({ min: 1, max: 20 }), blocking: fc.boolean() }, { requiredKeys: ['role'] }),
      ),
    ),
  );
const validStages = fc.uniqueArray(dnsName, { minLength: 1, maxLength: 5 }).chain((names) =>
  fc.tuple(
    ...names.map((name, i) =>
      fc.record(
        {
          name: fc.constant(name),
          environment: dnsName,
          // Only an earlier stage: following after always ends at the first one.
          after: i === 0 ? fc.constant(undefined) : fc.constantFrom(...names.slice(0, i)),
          entry: fc.constantFrom('auto', 'manual'),
          requiredSoakTime: fc.constantFrom('0s', '30m', '2h', 90, '24h'),
          approvals: validApprovals,
          selfApproval: fc.boolean(),
          windows: fc.array(validWindow, { maxLength: 2 }),
          freezes: fc.array(validFreeze, { maxLength: 2 }),
          checklist: fc
            .uniqueArray(fc.constantFrom('backup', 'standby', 'notes'), { maxLength: 3 })
            .map((items) => items.map((name, k) => (k === 0 ? { name, check: 'database-backup' } : { name }))),
        },
        { requiredKeys: ['name', 'environment'] },
      ),
    ),
  ),
);
const validPipeline = fc.record({
  apiVersion: fc.constant('sluice.dev/v1alpha1'),
  kind: fc.constant('Pipeline'),
  metadata: fc.record({ name: dnsName }),
  spec: fc.record({ services: fc.uniqueArray(dnsName, { minLength: 1, maxLength: 4 }), stages: validStages }),
});
const validEnvironment = fc.record({
  apiVersion: fc.constant('sluice.dev/v1alpha1'),
  kind: fc.constant('Environment'),
  metadata: fc.record({ name: dnsName }),
  spec: fc.record(
    {
      description: fc.constantFrom('the last stop', 'é 🙂'),
      env: fc.dictionary(fc.constantFrom('A', 'LOG_LEVEL', '_X'), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
    },
    { requiredKeys: [] },
  ),
});
/** Replaces one field somewhere in the document (path chosen by the indexes) with a hostile value. */
const spoil = fc
  .tuple(
    fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
    fc.oneof(anyValue, fc.constantFrom('25:00', '9:00', '2026-02-30', 'Mars/Olympus', 'QA', 0, 'Prod_1', [], {}, 'auto ', '-1s')),
  )
  .map(([path, bad]) => (doc: unknown): unknown => {
    const root = structuredClone(doc);
    let at = root as Record<string, unknown>;
    for (const [depth, n] of path.entries()) {
      const keys = Object.keys(at);
      if (keys.length === 0) break;
      const key = keys[n % keys.length]!;
      const next = at[key];
      if (depth === path.length - 1 || next === null || typeof next !== 'object') {
        at[key] = bad;
        break;
      }
      at = next as Record<string, unknown>;
    }
    return root;
  });
const pipelineDocumentArb = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.oneof(validPipeline, validEnvironment), fc.constant(true)) },
  { weight: 2, arbitrary: fc.tuple(fc.oneof(validPipeline, validEnvironment), spoil).map(([d, s]) => [s(d), false] as const) },
);
const pipelineFile = fc.array(fc.tuple(pipelineDocumentArb, mutation), { minLength: 1, maxLength: 3 }).map((docs) => {
  // Valid as a whole only when every document is valid, unmutated, and no kind/name repeats.
  const keys = docs.map(([[d]]) => JSON.stringify([(d as { kind?: unknown }).kind, (d as { metadata?: { name?: unknown } }).metadata?.name]));
  const valid = docs.every(([[, ok], m]) => ok && m === identity) && new Set(keys).size === keys.length;
  return { text: docs.map(([[d], m]) => m(stringify(d, { aliasDuplicateObjects: false }))).join('---\n'), valid, count: docs.length };
});

/** A quarter of the cases: the loader's paths these reach are fewer, and the whole file stays within a few seconds more. */
const PIPELINE_RUNS = Math.max(1, Math.round(RUNS / 4));
test(`spec fuzzing, environments and pipelines: ${PIPELINE_RUNS} files, seed ${SEED} (replay: SLUICE_FUZZ_SEED=${SEED})`, { timeout: 600_000 }, () => {
  const stats = { valid: 0, accepted: 0, refused: 0 };
  fc.assert(
    fc.property(pipelineFile, ({ text, valid, count }) => {
      const started = performance.now();
      let loaded: ReturnType<typeof loadResources> | undefined;
      try {
        loaded = loadResources(text, 'fuzz.yaml');
      } catch (err) {
        if (!(err instanceof UserError)) throw new Error(`loadResources threw ${String(err)} (not a UserError)`);
        assert.ok(!err.message.includes('\n'), `a one-line error: ${err.message}`);
        assert.match(err.message, /^fuzz\.yaml(:\d+(:\d+)?)?: /, 'the error names the file (and line)');
        assert.ok(!valid, `a valid file was refused: ${err.message}\n${text}`);
      }
      assert.ok(performance.now() - started < CASE_MS, 'loading took too long');
      if (valid) stats.valid++;
      if (!loaded) return void stats.refused++;
      stats.accepted++;
      if (valid) assert.equal(loaded.length, count, 'every document of a valid file loads');
      for (const r of loaded) {
        if (r.kind !== 'Pipeline') continue;
        // What loads keeps the promises the runner relies on: unique stages, every after a stage, no cycle.
        const names = r.value.stages.map((s) => s.name);
        assert.equal(new Set(names).size, names.length);
        for (const [i, s] of r.value.stages.entries()) {
          if (i === 0 && s.after === undefined) continue;
          assert.ok(s.after !== undefined && names.includes(s.after), `stage ${s.name} comes after a stage`);
        }
      }
    }),
    { seed: SEED, numRuns: PIPELINE_RUNS, endOnFailure: true },
  );
  console.log(`pipeline fuzz: ${stats.valid} valid, ${stats.accepted} loaded, ${stats.refused} refused`);
  assert.ok(stats.valid > PIPELINE_RUNS / 10, `only ${stats.valid} of ${PIPELINE_RUNS} pipeline files were valid`);
});

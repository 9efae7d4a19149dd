/**
 * The JSON Schemas in schemas/ (issue 11): made by src/spec/json-schema.ts from the
 * loader's own decoders, committed, and in agreement with the loader — every example
 * validates, bad documents are refused by both, and no document the loader accepts is
 * refused by the schema (seeded property: SLUICE_SCHEMA_SEED=<seed> replays).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { parseAllDocuments, stringify } from 'yaml';
import { loadResources } from '../../src/spec/load.js';
import { documentSchema, kindSchema, schemaFileName, schemaFiles } from '../../src/spec/json-schema.js';
import type { JsonSchema } from '../../src/spec/schema.js';
import { UserError } from '../../src/util/errors.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SEED = Number(process.env.SLUICE_SCHEMA_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.SLUICE_SCHEMA_RUNS ?? 500);

/**
 * strict: an unknown or misplaced keyword in a generated schema is an error, not ignored.
 * strictRequired is off: `anyOf: [{required: [threshold]}, …]` (which Flagger key is set)
 * names properties defined beside it, which that rule does not look for.
 */
const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true });
const validateDocument = ajv.compile(documentSchema());

/** The documents of a YAML text as JSON values, as an editor's YAML language server sees them. */
function documents(text: string): unknown[] {
  return parseAllDocuments(text, { uniqueKeys: false }).map((d) => d.toJS({ maxAliasCount: -1 }) as unknown);
}

function why(v: ValidateFunction): string {
  return ajv.errorsText(v.errors, { separator: '; ' });
}

function loads(text: string): string | undefined {
  try {
    loadResources(text, 'doc.yaml');
    return undefined;
  } catch (err) {
    if (err instanceof UserError) return err.message;
    throw err;
  }
}

test('the committed schemas/ are what the generator makes now', () => {
  const dir = join(ROOT, 'schemas');
  const expected = schemaFiles();
  const committed = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const fix = 'run `npm run schemas` and commit schemas/';
  assert.deepEqual(committed, expected.map((f) => f.file).sort(), `schemas/ holds other files than the generator makes — ${fix}`);
  for (const { file, text } of expected) {
    assert.ok(readFileSync(join(dir, file), 'utf8') === text, `schemas/${file} differs from what src/spec/json-schema.ts makes — ${fix}`);
  }
});

test('every example validates against sluice.schema.json and its kind schema, and names it on line 1', () => {
  const dir = join(ROOT, 'examples');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 6, `found ${files.join(', ')}`);
  const byKind = new Map<string, ValidateFunction>();
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    assert.equal(text.split('\n')[0], '# yaml-language-server: $schema=../schemas/sluice.schema.json', `${f}: first line`);
    assert.equal(loads(text), undefined, `${f} loads`);
    for (const doc of documents(text)) {
      assert.ok(validateDocument(doc), `examples/${f}: ${why(validateDocument)}`);
      const kind = (doc as { kind: 'Rollout' | 'AnalysisTemplate' }).kind;
      const v = byKind.get(kind) ?? ajv.compile(kindSchema(kind));
      byKind.set(kind, v);
      assert.ok(v(doc), `examples/${f} against schemas/${schemaFileName(kind)}: ${why(v)}`);
    }
  }
});

test('every full manifest in docs/ that loads validates too', () => {
  let checked = 0;
  for (const f of readdirSync(join(ROOT, 'docs')).filter((n) => n.endsWith('.md'))) {
    const md = readFileSync(join(ROOT, 'docs', f), 'utf8');
    for (const [, block] of md.matchAll(/```yaml\n([\s\S]*?)```/g)) {
      if (!/^apiVersion:/m.test(block!) || loads(block!) !== undefined) continue;
      for (const doc of documents(block!)) assert.ok(validateDocument(doc), `docs/${f}: ${why(validateDocument)}\n${block}`);
      checked++;
    }
  }
  assert.ok(checked >= 2, `only ${checked} manifests in docs/`);
});

test('every default in the schemas is valid where it stands', () => {
  const schema = documentSchema();
  let defaults = 0;
  const walk = (node: unknown, path: string) => {
    if (!node || typeof node !== 'object') return;
    const s = node as JsonSchema;
    if ('default' in s && path.includes('/properties/')) {
      const { default: value, ...rest } = s;
      const v = ajv.compile({ ...rest, $defs: schema.$defs });
      assert.ok(v(value), `${path}: default ${JSON.stringify(value)} is refused by its own schema: ${why(v)}`);
      defaults++;
    }
    for (const [k, child] of Object.entries(s)) if (k !== 'default' && k !== 'enum' && k !== 'const') walk(child, `${path}/${k}`);
  };
  walk(schema, '#');
  assert.ok(defaults > 50, `only ${defaults} defaults`);
});

const GOOD = `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: 3
  template:
    version: v2
    command: node
    args: [server.js]
  traffic:
    listen: 127.0.0.1:8080
  strategy:
    canary:
      steps:
        - setWeight: 20
        - pause: {duration: 1m}
`;

const GOOD_TEMPLATE = `apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
spec:
  metrics:
    - name: error-rate
      interval: 10s
      successCondition: result <= 0.01
      provider:
        builtin: {metric: error-rate}
`;

/** [what is wrong, the document]: each one the loader and the schema must both refuse. */
const BAD: Array<[string, string]> = [
  ['replicas as a string', GOOD.replace('replicas: 3', 'replicas: "3"')],
  ['negative replicas', GOOD.replace('replicas: 3', 'replicas: -1')],
  ['replicas over the limit', GOOD.replace('replicas: 3', 'replicas: 1001')],
  ['fractional replicas', GOOD.replace('replicas: 3', 'replicas: 1.5')],
  ['unknown strategy', GOOD.replace('    canary:\n', '    linear:\n')],
  ['two strategies', `${GOOD}    rolling: {}\n`],
  ['missing template', GOOD.replace(/ {2}template:\n( {4}.*\n)+/, '')],
  ['missing command', GOOD.replace('    command: node\n', '')],
  ['unknown top-level field', `${GOOD}status: {}\n`],
  ['unknown spec field (a typo)', GOOD.replace('replicas: 3', 'replcas: 3')],
  ['bad enum (balancer)', GOOD.replace('listen: 127.0.0.1:8080', 'listen: 127.0.0.1:8080\n    balancer: random')],
  ['wrong kind', GOOD.replace('kind: Rollout', 'kind: Deployment')],
  ['wrong apiVersion', GOOD.replace('sluice.dev/v1alpha1', 'argoproj.io/v1alpha1')],
  ['name not a DNS label', GOOD.replace('name: web', 'name: Web_App')],
  ['listen without a port', GOOD.replace('listen: 127.0.0.1:8080', 'listen: 127.0.0.1')],
  ['port 0', GOOD.replace('listen: 127.0.0.1:8080', 'listen: 127.0.0.1:0')],
  ['weight over 100', GOOD.replace('setWeight: 20', 'setWeight: 120%')],
  ['duration in words', GOOD.replace('duration: 1m', 'duration: 1 minute')],
  ['duration over 7 days as a number', GOOD.replace('duration: 1m', 'duration: 700000')],
  ['maxSurge a fraction of a percent', GOOD.replace('    canary:\n', '    canary:\n      maxSurge: 2.5%\n')],
  ['unknown canary step', GOOD.replace('- setWeight: 20', '- setWieght: 20')],
  ['step with two keys', GOOD.replace('- setWeight: 20', '- {setWeight: 20, pause: {}}')],
  ['version with a space', GOOD.replace('version: v2', 'version: v 2')],
  ['empty command', GOOD.replace('command: node', 'command: ""')],
  ['too many labels', GOOD.replace('  name: web\n', `  name: web\n  labels: {${Array.from({ length: 65 }, (_, i) => `l${i}: x`).join(', ')}}\n`)],
  ['analysis template without metrics', GOOD_TEMPLATE.replace(/ {2}metrics:\n( {4}.*\n)+/, '  onFailure: abort\n')],
  ['unknown provider', GOOD_TEMPLATE.replace('builtin: {metric: error-rate}', 'datadog: {query: x}')],
  ['unknown builtin metric', GOOD_TEMPLATE.replace('metric: error-rate', 'metric: error-ratio')],
  ['judge confidence over 0.9999', GOOD_TEMPLATE.replace('builtin: {metric: error-rate}', 'judge: {confidence: 1}')],
  ['a document that is a list', '- apiVersion: sluice.dev/v1alpha1\n'],
  // Issue 17: the Kubernetes side. Without spec.platform the control plane's default decides, which a schema cannot.
  ['platform kubernetes with only a command', GOOD.replace('spec:\n', 'spec:\n  platform: kubernetes\n')],
  ['platform local with only an image', GOOD.replace('spec:\n', 'spec:\n  platform: local\n').replace('    command: node\n', '    image: web:v2\n')],
  ['spec.kubernetes with platform local', GOOD.replace('spec:\n', 'spec:\n  platform: local\n  kubernetes: {namespace: shop}\n')],
  ['unknown platform', GOOD.replace('spec:\n', 'spec:\n  platform: nomad\n')],
  ['image with capitals', GOOD.replace('    command: node\n', '    command: node\n    image: Acme/Web:v2\n')],
  [
    'cpu quantity with a space',
    GOOD.replace('    command: node\n', '    command: node\n    image: web:v2\n    container: {resources: {limits: {cpu: 1 m}}}\n'),
  ],
  ['negative memory', GOOD.replace('    command: node\n', '    command: node\n    image: web:v2\n    container: {resources: {requests: {memory: -1Gi}}}\n')],
  ['unknown pull policy', GOOD.replace('    command: node\n', '    command: node\n    image: web:v2\n    container: {imagePullPolicy: Sometimes}\n')],
  ['pod template without containers', GOOD.replace('    command: node\n', '    command: node\n    podTemplate: {spec: {volumes: []}}\n')],
  ['pod container without an image', GOOD.replace('    command: node\n', '    command: node\n    podTemplate: {spec: {containers: [{name: web}]}}\n')],
  ['secretKeyRef without a key', GOOD.replace('    command: node\n', '    command: node\n    secretEnv: {A: {file: a, secretKeyRef: {name: s}}}\n')],
];

/** A Rollout for both platforms with every Kubernetes field (issue 17). */
const GOOD_K8S = GOOD.replace(
  'spec:\n',
  'spec:\n  kubernetes: {namespace: shop, serviceAccountName: web, nodeSelector: {kubernetes.io/arch: amd64}, labels: {team: a}}\n',
).replace(
  '    command: node\n',
  `    command: node
    image: ghcr.io/acme/web:v2
    container:
      ports: [{containerPort: 3000, name: http}]
      resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: 1, memory: 1Gi}}
      imagePullPolicy: IfNotPresent
      args: [--x]
      envFrom: [{configMapRef: {name: web-config}, prefix: C_}]
    secretEnv: {DB: {file: db, secretKeyRef: {name: web-secrets, key: db}}}
`,
);
const GOOD_POD = GOOD.replace('spec:\n', 'spec:\n  platform: kubernetes\n').replace(
  '    command: node\n',
  '    podTemplate: {metadata: {labels: {tier: web}}, spec: {containers: [{name: web, image: "web:v2", ports: [{containerPort: 80}], volumeMounts: []}], volumes: []}}\n',
);

test('schema and loader agree: both accept the good documents and refuse each bad one', () => {
  for (const good of [GOOD, GOOD_TEMPLATE, GOOD_K8S, GOOD_POD]) {
    assert.equal(loads(good), undefined);
    assert.ok(validateDocument(documents(good)[0]), why(validateDocument));
  }
  for (const [what, text] of BAD) {
    assert.notEqual(text, GOOD, `${what}: the mutation changed nothing`);
    const error = loads(text);
    assert.ok(error !== undefined, `${what}: the loader accepts it`);
    const doc = documents(text)[0];
    assert.ok(!validateDocument(doc), `${what}: the schema accepts it (loader: ${error})`);
  }
});

/**
 * Values in every written form the loader takes (numbers and text for durations and
 * percentages, spaces, leading zeros, null for an empty list or mapping) and now and
 * then one it refuses. Non-finite numbers (.inf, .nan) are left out: JSON has none, so a
 * JSON Schema cannot accept them where the loader reads any scalar as text.
 */
const junk = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1.5, 1e9, '', ' ', 'x', '25%', '1h', '200h', '0.0.0.0:1', [], {}, { k: 1 }, ['a']),
  fc.string({ maxLength: 6 }),
  fc.integer(),
);
const mostly = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 40, arbitrary: good as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: junk });
const opt = { requiredKeys: [] as never[] };
const spaced = (s: fc.Arbitrary<string>) => fc.tuple(fc.constantFrom('', ' ', '  '), s, fc.constantFrom('', ' ')).map(([a, b, c]) => a + b + c);
const numberText = fc.oneof(fc.nat({ max: 300 }).map(String), fc.constantFrom('0', '007', '1.', '.5', '2.25', '0.001'));
const dur = mostly(
  fc.oneof(
    fc.double({ min: 0.001, max: 600, noNaN: true }),
    fc.nat({ max: 3600 }),
    spaced(fc.tuple(numberText, fc.constantFrom('', 's', 'm', 'ms', 'h')).map(([n, u]) => n + u)),
    fc.constantFrom('1h30m', '1m30s', '5m500ms', '1.5s', '2h', '45'),
  ),
);
const pct = mostly(
  fc.oneof(
    fc.double({ min: 0, max: 100, noNaN: true }),
    fc.nat({ max: 100 }),
    spaced(fc.tuple(numberText, fc.constantFrom('', '%', ' %')).map(([n, u]) => n + u)),
    fc.constantFrom('100%', '100.0', '0100', '099.9%'),
  ),
);
const intOrPct = mostly(
  fc.oneof(
    fc.nat({ max: 1000 }),
    spaced(fc.tuple(fc.nat({ max: 120 }).map(String), fc.constantFrom('', '%', ' %')).map(([n, u]) => n + u)),
    fc.constantFrom('0', '0010', '1000', '100%', '0100%'),
  ),
);
const count = (max: number, min = 0) => mostly(fc.integer({ min, max }));
const scalarText = mostly(
  fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null)),
);
const listenAt = (port: number) =>
  mostly(fc.constantFrom(`127.0.0.1:${port}`, ` localhost:${port} `, `[::1]:${port}`, `0.0.0.0:0${port}`, `web-1.local:${port}`));
const nothing = fc.constant(null);
const headers = mostly(
  fc.oneof(
    fc.dictionary(fc.constantFrom('X-A', 'Accept', 'x_b'), scalarText, { maxKeys: 2 }),
    scalarText.map((v) => [{ name: 'X-A', value: v }, { name: 'B' }]),
    nothing,
  ),
);
const env = mostly(
  fc.oneof(
    fc.dictionary(fc.constantFrom('A', 'B', 'LOG_LEVEL', 'é'), scalarText, { maxKeys: 3 }),
    fc.tuple(scalarText, scalarText).map(([a, b]) => [
      { name: 'A', value: a },
      { name: 'B', value: b },
    ]),
    nothing,
  ),
);
const probe = fc
  .tuple(
    fc.oneof(
      fc.record({
        httpGet: mostly(fc.record({ path: fc.constantFrom('/', '/healthz'), port: count(65535, 1), scheme: fc.constantFrom('http', 'HTTP'), headers }, opt)),
      }),
      fc.record({ tcpSocket: mostly(fc.oneof(nothing, fc.record({ port: count(65535, 1) }, opt))) }),
      fc.record({ exec: mostly(fc.record({ command: fc.constant(['true']) })) }),
    ),
    fc.record({ initialDelaySeconds: dur, periodSeconds: dur, timeoutSeconds: dur, failureThreshold: count(10, 1) }, opt),
  )
  .map(([check, timings]) => ({ ...check, ...timings }));
const metric = fc.record(
  {
    name: fc.constantFrom('errors', 'latency'),
    provider: fc.oneof(
      fc.record({
        builtin: fc.record(
          {
            metric: fc.constantFrom('error-rate', 'latency-p99'),
            revision: fc.constantFrom('canary', 'stable'),
            windowSeconds: dur,
            compare: fc.constantFrom('difference', 'ratio'),
            minRequests: count(100),
          },
          { requiredKeys: ['metric'] },
        ),
      }),
      fc.record({
        prometheus: fc.record(
          {
            address: fc.constant('http://127.0.0.1:9090'),
            query: scalarText,
            timeoutSeconds: dur,
            onEmpty: fc.oneof(
              fc.constant({ error: null }),
              fc.constant({ inconclusive: {} }),
              fc.record({ value: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
            ),
            headers,
          },
          { requiredKeys: ['address', 'query'] },
        ),
      }),
      fc.record({
        web: fc.record(
          { url: fc.constant('https://x.test/check'), method: fc.constantFrom('GET', 'POST'), body: junk, jsonPath: fc.constant('$.ok'), timeoutSeconds: dur },
          { requiredKeys: ['url'] },
        ),
      }),
      fc.record({
        job: fc.record({ command: fc.constant(['./check.sh', 1]), cwd: fc.constant('.'), env, timeoutSeconds: dur }, { requiredKeys: ['command'] }),
      }),
      fc.record({
        judge: fc.record(
          {
            metrics: fc.array(
              fc.record(
                {
                  name: fc.constant('lat'),
                  source: fc.constantFrom('latency', 'error'),
                  direction: fc.constantFrom('increase', 'either'),
                  tolerance: fc.double({ min: 0, max: 2, noNaN: true }),
                  minSamples: count(100),
                },
                { requiredKeys: ['name', 'source'] },
              ),
              { maxLength: 2 },
            ),
            thresholds: fc.record({ pass: fc.nat({ max: 100 }), marginal: fc.nat({ max: 100 }) }, opt),
            confidence: fc.double({ min: 0.5, max: 0.9999, noNaN: true }),
            windowSeconds: dur,
          },
          opt,
        ),
      }),
    ),
    interval: dur,
    count: count(10),
    initialDelay: dur,
    successCondition: mostly(fc.constantFrom('result <= 0.01', 'result > 1')),
    failureLimit: count(3),
    dryRun: fc.boolean(),
  },
  { requiredKeys: ['name', 'provider'] },
);
const analysisRef = fc.record(
  {
    templates: fc.constant([{ templateName: 'error-rate' }]),
    metrics: fc.array(metric, { maxLength: 2 }),
    args: fc.array(fc.record({ name: fc.constant('svc'), value: junk }, { requiredKeys: ['name'] }), { maxLength: 2 }),
  },
  opt,
);
const mirror = fc.record(
  {
    name: fc.constant('m'),
    percentage: pct,
    match: fc.record(
      {
        methods: fc.constant(['get', 'HEAD']),
        header: fc.constant({ name: 'x-a', prefix: 'b' }),
        pathPrefix: fc.constant('/api'),
        source: fc.constantFrom('10.0.0.1', '10.0.0.0/8'),
      },
      opt,
    ),
    compare: fc.record({ ignorePaths: fc.constant(['$.ts', '$.items[*].id']) }, opt),
    queueLimit: count(1000),
    maxBodyBytes: count(1 << 20),
  },
  { requiredKeys: ['name'] },
);
const step = fc.oneof(
  fc.record({ setWeight: pct }),
  fc.record({ pause: fc.oneof(nothing, fc.record({ duration: dur }, opt)) }),
  fc.record({ setCanaryScale: fc.oneof(fc.record({ replicas: count(5) }), fc.record({ weight: pct }), fc.constant({ matchTrafficWeight: true })) }),
  fc.record({ analysis: analysisRef }),
  fc.record({ approval: fc.oneof(nothing, fc.constant({})) }),
  fc.record({
    setHeaderRoute: fc.record(
      { name: fc.constant('t'), match: fc.constant([{ headerName: 'X-Canary', headerValue: { exact: 'yes' } }]) },
      { requiredKeys: ['name'] },
    ),
  }),
  fc.record({ setMirrorRoute: mirror }),
);
const maintenance = fc.record({ status: count(599, 200), body: scalarText, retryAfterSeconds: dur }, opt);
const postDeploy = fc.record(
  { interval: dur, duration: dur, minRequests: count(50), immediate: fc.record({ errorRate: fc.double({ min: 0, max: 1, noNaN: true }), p95: dur }, opt) },
  opt,
);
const strategy = fc.oneof(
  fc.record({ recreate: fc.oneof(nothing, fc.record({ maintenance, postDeploy }, opt)) }),
  fc.record({ rolling: fc.oneof(nothing, fc.record({ maxSurge: intOrPct, maxUnavailable: intOrPct, pauseSeconds: dur, postDeploy }, opt)) }),
  fc.record({
    blueGreen: fc.record(
      {
        previewListen: listenAt(8011),
        autoPromotionEnabled: fc.boolean(),
        autoPromotionSeconds: dur,
        previewReplicaCount: count(5),
        scaleDownDelaySeconds: dur,
        prePromotionAnalysis: analysisRef,
      },
      opt,
    ),
  }),
  fc.record({
    canary: fc.record(
      {
        canaryListen: listenAt(8012),
        maxSurge: intOrPct,
        maxUnavailable: intOrPct,
        steps: fc.oneof(nothing, fc.array(step, { maxLength: 5 })),
        analysis: fc.oneof(
          fc.record({ templates: fc.constant([{ templateName: 'e' }]), startingStep: count(3) }, { requiredKeys: ['templates'] }),
          fc.record(
            {
              interval: dur,
              threshold: count(5),
              stepWeight: fc.constantFrom(10, 25, 50),
              maxWeight: fc.constantFrom(50, 100),
              metrics: fc.constant([{ name: 'request-success-rate', min: 99 }]),
            },
            { requiredKeys: ['stepWeight'] },
          ),
        ),
      },
      opt,
    ),
  }),
  fc.record({
    shadow: fc.record(
      {
        mirror: fc.record({ name: fc.constant('s'), percentage: pct, queueLimit: count(500) }, { requiredKeys: ['name'] }),
        shadowReplicas: count(3, 1),
        durationSeconds: dur,
        analysis: analysisRef,
        promoteOnAnalysisSuccess: fc.boolean(),
      },
      opt,
    ),
  }),
  fc.record({
    abTest: fc.record(
      {
        variants: fc.constantFrom(
          [
            { name: 'a', weight: 50 },
            { name: 'b', weight: '50%' },
          ],
          [
            { name: 'a', weight: 40 },
            { name: 'b', weight: 30 },
            { name: 'c', weight: 30, version: 'v2-c', env: { X: 1 } },
          ],
        ),
        variantHeader: fc.constant('x-variant'),
        replicas: count(3, 1),
      },
      { requiredKeys: ['variants'] },
    ),
  }),
);
/** Quantities in every form the loader takes: numbers, text, spaces, exponents. */
const quantity = mostly(
  fc.oneof(fc.nat({ max: 64 }), fc.double({ min: 0, max: 64, noNaN: true }), spaced(fc.constantFrom('250m', '1', '0.5', '.5', '+1', '1e3', '2E-1', '1k'))),
);
const memory = mostly(fc.oneof(fc.nat({ max: 1 << 30 }), spaced(fc.constantFrom('512Mi', '1Gi', '1G', '128974848', '129e6', '1Ei'))));
/** The Kubernetes side of a template (issue 17): added beside the command, as a portable spec has it. */
const kubernetesSide = fc.oneof(
  { weight: 3, arbitrary: fc.constant({}) },
  fc.record(
    {
      image: mostly(fc.constantFrom('web', 'ghcr.io/acme/web:v2', 'localhost:5000/a/b_c:1.0', `web@sha256:${'f'.repeat(64)}`)),
      container: mostly(
        fc.record(
          {
            ports: fc.constantFrom(
              [{ containerPort: 8080 }],
              [
                { containerPort: 80, name: 'http', protocol: 'TCP' },
                { containerPort: 53, protocol: 'UDP' },
              ],
            ),
            resources: fc.record({ requests: fc.record({ cpu: quantity, memory }, opt), limits: fc.record({ cpu: quantity, memory }, opt) }, opt),
            imagePullPolicy: fc.constantFrom('Always', 'IfNotPresent', 'Never'),
            command: fc.constant(['/app', 1]),
            args: mostly(fc.oneof(nothing, fc.array(scalarText, { maxLength: 2 }))),
            envFrom: fc.constant([{ configMapRef: { name: 'a.b', optional: true } }, { secretRef: { name: 'c' }, prefix: 'S_' }]),
          },
          opt,
        ),
      ),
    },
    { requiredKeys: ['image'] },
  ),
  fc.record({
    podTemplate: mostly(
      fc.record(
        {
          metadata: fc.record({ labels: fc.constant({ tier: 'web', 'example.com/x': '' }), annotations: fc.constant({ 'a/b': 'any text' }) }, opt),
          spec: fc.record(
            {
              containers: fc.constant([
                { name: 'web', image: 'web:v1', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '1' }], x: { y: [1, null] } },
              ]),
              volumes: fc.constant([{ name: 'c', emptyDir: {} }]),
              priority: fc.integer(),
            },
            { requiredKeys: ['containers'] },
          ),
        },
        { requiredKeys: ['spec'] },
      ),
    ),
  }),
);
const rollout = fc.record(
  {
    apiVersion: fc.constant('sluice.dev/v1alpha1'),
    kind: fc.constant('Rollout'),
    metadata: fc.record(
      {
        name: mostly(fc.constantFrom('web', 'a-1', '0x')),
        labels: mostly(fc.oneof(nothing, fc.dictionary(fc.constantFrom('app', 'tier'), scalarText, { maxKeys: 2 }))),
      },
      { requiredKeys: ['name'] },
    ),
    spec: fc.record(
      {
        // A rollout for Kubernetes only runs something with an image or a pod template: the loader's rule, and the schema's.
        platform: fc.constantFrom(undefined, 'local'),
        kubernetes: mostly(fc.constant(undefined)),
        replicas: count(1000),
        // progressDeadlineSeconds must exceed it (a rule of the loader's alone).
        minReadySeconds: mostly(fc.constantFrom(0, '1s', 2.5, ' 500ms')),
        revisionHistoryLimit: count(100),
        progressDeadlineSeconds: mostly(fc.constantFrom(600, '10m', '1h30m', 3600.5, ' 45 ')),
        template: fc
          .record(
            {
              version: mostly(fc.constantFrom('v1', '1.10', 'v2-rc.1')),
              command: fc.constant('node'),
              args: mostly(fc.oneof(nothing, fc.array(scalarText, { maxLength: 3 }))),
              env,
              secretEnv: mostly(fc.oneof(nothing, fc.constantFrom({ TOKEN: { file: 'token.txt' } }, { KEY: { env: 'HOME' } }))),
              cwd: fc.constant('.'),
              probes: mostly(fc.oneof(nothing, fc.record({ readiness: probe, liveness: probe, startup: probe }, opt))),
              shutdown: mostly(fc.oneof(nothing, fc.record({ drainSeconds: dur, preStopDelaySeconds: dur, terminationGracePeriodSeconds: dur }, opt))),
            },
            { requiredKeys: ['version', 'command'] },
          )
          .chain((t) => kubernetesSide.map((k8s) => ({ ...t, ...k8s }))),
        traffic: fc.record(
          {
            listen: listenAt(8010),
            router: mostly(fc.constantFrom('builtin', 'nginx', { nginx: { manage: false } }, { nginx: null })),
            balancer: mostly(fc.constantFrom('round-robin', 'least-requests')),
            routes: mostly(
              fc.oneof(
                nothing,
                fc.constant([{ name: 'beta', match: { header: { name: 'x-beta', regex: 'yes|true' }, pathPrefix: '/' }, to: { canary: 50, stable: '50%' } }]),
              ),
            ),
            maintenance: mostly(maintenance),
            outlierDetection: mostly(fc.record({ consecutiveErrors: count(10, 1), baseEjectionSeconds: dur, maxEjectionPercent: pct }, opt)),
            connectionLimits: mostly(
              fc.record({ maxConnections: count(100), maxPending: count(100), queueTimeoutSeconds: dur }, { requiredKeys: ['maxConnections'] }),
            ),
            timeouts: mostly(fc.record({ connectSeconds: dur, responseSeconds: dur }, opt)),
            bufferRequests: mostly(fc.oneof(nothing, fc.record({ maxBytes: count(1 << 20) }, opt))),
            sticky: mostly(
              fc.constantFrom({ cookie: null }, { cookie: { name: 'sid', maxAgeSeconds: '1h' } }, { header: 'x-user' }, { hashCookie: 'session' }),
            ),
          },
          { requiredKeys: ['listen'] },
        ),
        strategy,
        hooks: mostly(
          fc.record(
            {
              webhooks: fc.constant([{ name: 'n', kind: 'pre-rollout', url: 'http://127.0.0.1:9000/h', retries: 2, metadata: { a: 1 } }]),
              exec: fc.constant([{ name: 'm', kind: 'pre-rollout', command: ['./m.sh'], timeoutSeconds: '30s' }]),
            },
            opt,
          ),
        ),
        smokeTests: mostly(
          fc.array(
            fc.record({
              name: fc.constant('api'),
              target: fc.constantFrom('preview', 'main'),
              checks: fc.array(
                fc.record(
                  {
                    path: fc.constant('/x'),
                    method: fc.constantFrom('GET', 'POST'),
                    jsonBody: junk,
                    expectStatus: fc.constantFrom(200, [200, 204], 599),
                    expectJson: fc.constant({ ok: true }),
                    maxLatencyMs: fc.nat(),
                    headers,
                  },
                  { requiredKeys: ['path'] },
                ),
                { minLength: 1, maxLength: 2 },
              ),
            }),
            { maxLength: 2 },
          ),
        ),
        notifications: mostly(fc.constant([{ name: 'team', type: 'slack', url: 'https://hooks.slack.test/x', events: ['RolloutCompleted'] }])),
      },
      { requiredKeys: ['template', 'traffic', 'strategy'] },
    ),
  },
  { requiredKeys: ['apiVersion', 'kind', 'metadata', 'spec'] },
);
const analysisTemplate = fc.record({
  apiVersion: fc.constant('sluice.dev/v1alpha1'),
  kind: fc.constant('AnalysisTemplate'),
  metadata: fc.record({ name: fc.constant('error-rate') }),
  spec: fc.record(
    { args: fc.constant([{ name: 'svc' }]), metrics: fc.array(metric, { minLength: 1, maxLength: 3 }), onFailure: mostly(fc.constantFrom('abort', 'pause')) },
    { requiredKeys: ['metrics'] },
  ),
});

test(`no document the loader accepts is refused by the schema: ${RUNS} documents, seed ${SEED} (replay: SLUICE_SCHEMA_SEED=${SEED})`, () => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.oneof({ weight: 4, arbitrary: rollout }, { weight: 1, arbitrary: analysisTemplate }), (doc) => {
      const text = stringify(doc);
      if (loads(text) !== undefined) return;
      accepted++;
      const json = documents(text)[0];
      assert.ok(validateDocument(json), `the loader accepts this document, the schema refuses it: ${why(validateDocument)}\n${text}`);
    }),
    { seed: SEED, numRuns: RUNS },
  );
  console.log(`json schema property: ${accepted} of ${RUNS} documents loaded and validated`);
  // A generator that mostly makes refused documents would check next to nothing.
  assert.ok(accepted > RUNS / 4, `only ${accepted} of ${RUNS} documents loaded`);
});

/**
 * Import fuzzing (issue 17, beside spec-fuzz.test.ts): Argo Rollouts and Flagger documents
 * with mostly-valid and hostile fields. For every case: loading throws nothing but a
 * one-line UserError naming the file and a line, in bounded time; every warning has the
 * documented shape; a loaded document's stored source (the sluice YAML) loads again to
 * the same value, with no import warning.
 *
 * Seeded: the seed is printed; replay with SLUICE_FUZZ_SEED=<seed> (SLUICE_FUZZ_RUNS, default 300).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadResources } from '../../src/spec/load.js';
import { UserError } from '../../src/util/errors.js';

const SEED = Number(process.env.SLUICE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.SLUICE_FUZZ_RUNS ?? 300);
const CASE_MS = 2000;

const hostile = fc.oneof(
  fc.constantFrom('', ' ', '1e9', '25%', '1h', 'null', '__proto__', 'x'.repeat(3000), '{{ target }}', -1, 0, 1e308, 2 ** 53, 0.5, true, null),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.constant({ a: [1, { b: 2 }] }),
  fc.constant([]),
);
const mostly = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 40, arbitrary: good as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: hostile });
const opt = { requiredKeys: [] as never[] };
const dur = mostly(fc.constantFrom('30s', '1m', 10, '500ms'));
const num = (min: number, max: number) => mostly(fc.integer({ min, max }));

const pod = mostly(
  fc.record({
    metadata: mostly(fc.record({ labels: mostly(fc.constant({ app: 'web' })) }, opt)),
    spec: mostly(
      fc.record({
        containers: mostly(
          fc.array(
            fc.record(
              {
                name: mostly(fc.constantFrom('web', 'side')),
                image: mostly(fc.constantFrom('ghcr.io/a/web:v1', 'nginx', `x@sha256:${'0123456789abcdef'.repeat(4)}`)),
                ports: mostly(fc.constant([{ containerPort: 9000 }])),
                readinessProbe: mostly(
                  fc.constantFrom(
                    { httpGet: { path: '/h', port: 9000 }, periodSeconds: 2 },
                    { tcpSocket: { port: 'http' } },
                    { exec: { command: [] } },
                    { grpc: { port: 1 } },
                    { httpGet: { path: 'x' } },
                  ),
                ),
              },
              { requiredKeys: ['name', 'image'] },
            ),
            { minLength: 1, maxLength: 2 },
          ),
        ),
      }),
    ),
  }),
);

const analysisRef = mostly(
  fc.record(
    {
      templates: mostly(fc.array(fc.record({ templateName: mostly(fc.constant('rate')), clusterScope: mostly(fc.boolean()) }, opt), { maxLength: 2 })),
      args: mostly(fc.array(fc.record({ name: mostly(fc.constant('svc')), value: mostly(fc.constant('web')) }, opt), { maxLength: 2 })),
      startingStep: num(0, 3),
    },
    opt,
  ),
);
const argoStep = fc.oneof(
  fc.record({ setWeight: num(0, 100) }),
  fc.record({ pause: mostly(fc.record({ duration: dur }, opt)) }),
  fc.record({ setCanaryScale: mostly(fc.oneof(fc.record({ replicas: num(0, 3) }), fc.constant({ matchTrafficWeight: true }))) }),
  fc.record({ analysis: analysisRef }),
  fc.record({
    setHeaderRoute: mostly(
      fc.record({ name: fc.constant('h'), match: mostly(fc.constant([{ headerName: 'X-A', headerValue: { exact: 'y' } }])) }, { requiredKeys: ['name'] }),
    ),
  }),
  fc.record({
    setMirrorRoute: mostly(
      fc.record({ name: fc.constant('m'), percentage: num(0, 100), match: fc.constant([{ method: { exact: 'GET' } }]) }, { requiredKeys: ['name'] }),
    ),
  }),
  fc.record({ experiment: fc.constant({ templates: [] }) }),
);
const argoRollout = fc.record({
  apiVersion: fc.constant('argoproj.io/v1alpha1'),
  kind: fc.constant('Rollout'),
  metadata: mostly(
    fc.record(
      { name: mostly(fc.constantFrom('web', 'api')), namespace: mostly(fc.constant('shop')), annotations: fc.constant({ a: 'b' }) },
      { requiredKeys: ['name'] },
    ),
  ),
  spec: mostly(
    fc.record(
      {
        replicas: num(0, 5),
        minReadySeconds: num(0, 30),
        selector: fc.constant({ matchLabels: { app: 'web' } }),
        template: pod,
        paused: mostly(fc.boolean()),
        strategy: mostly(
          fc.oneof(
            fc.record({
              canary: mostly(
                fc.record(
                  {
                    steps: mostly(fc.array(argoStep, { maxLength: 6 })),
                    maxSurge: mostly(fc.constantFrom('25%', 1)),
                    analysis: analysisRef,
                    canaryService: fc.constant('c'),
                    trafficRouting: mostly(fc.constantFrom({ nginx: { stableIngress: 'x' } }, { istio: {} }, { plugins: { 'argoproj-labs/gatewayAPI': {} } })),
                  },
                  opt,
                ),
              ),
            }),
            fc.record({
              blueGreen: mostly(
                fc.record(
                  {
                    activeService: fc.constant('a'),
                    previewService: fc.constant('p'),
                    autoPromotionEnabled: mostly(fc.boolean()),
                    scaleDownDelaySeconds: num(0, 60),
                    prePromotionAnalysis: analysisRef,
                    postPromotionAnalysis: analysisRef,
                  },
                  opt,
                ),
              ),
            }),
          ),
        ),
      },
      { requiredKeys: ['template', 'strategy'] },
    ),
  ),
});
const argoTemplate = fc.record({
  apiVersion: fc.constant('argoproj.io/v1alpha1'),
  kind: fc.constantFrom('AnalysisTemplate', 'ClusterAnalysisTemplate'),
  metadata: fc.record({ name: mostly(fc.constant('rate')) }),
  spec: mostly(
    fc.record(
      {
        args: mostly(fc.constant([{ name: 'svc', value: 'web' }])),
        metrics: mostly(
          fc.array(
            fc.record(
              {
                name: mostly(fc.constantFrom('m', 'n')),
                interval: dur,
                count: num(0, 5),
                failureLimit: num(0, 3),
                successCondition: mostly(fc.constantFrom('result[0] >= 0.9', 'result.ok == true', 'result >')),
                provider: mostly(
                  fc.oneof(
                    fc.constant({ prometheus: { address: 'http://p:9090', query: 'up', headers: [{ key: 'A', value: 'b' }] } }),
                    fc.constant({ web: { url: 'http://w/x', jsonPath: '{$.ok}' } }),
                    fc.constant({ job: { spec: { template: { spec: { containers: [{ name: 'c', image: 'i', command: ['true'] }] } } } } }),
                    fc.constant({ datadog: { query: 'x' } }),
                  ),
                ),
              },
              { requiredKeys: ['name', 'provider'] },
            ),
            { minLength: 1, maxLength: 3 },
          ),
        ),
      },
      opt,
    ),
  ),
});
const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web' },
  spec: { replicas: 2, template: { spec: { containers: [{ name: 'web', image: 'ghcr.io/a/web:v1' }] } } },
};
const flaggerCanary = fc
  .record({
    apiVersion: fc.constantFrom('flagger.app/v1beta1', 'flagger.app/v1alpha3'),
    kind: fc.constant('Canary'),
    metadata: fc.record({ name: mostly(fc.constant('web')), namespace: mostly(fc.constant('test')) }, opt),
    spec: mostly(
      fc.record(
        {
          targetRef: mostly(fc.constant({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' })),
          service: mostly(fc.record({ port: num(1, 65000), gateways: fc.constant(['g']) }, { requiredKeys: ['port'] })),
          provider: fc.constant('istio'),
          analysis: mostly(
            fc.record(
              {
                interval: dur,
                threshold: num(1, 10),
                stepWeight: num(1, 50),
                maxWeight: num(1, 100),
                stepWeights: mostly(fc.array(fc.integer({ min: 1, max: 100 }), { maxLength: 4 })),
                iterations: num(1, 10),
                mirror: mostly(fc.boolean()),
                mirrorWeight: num(0, 100),
                match: mostly(fc.constant([{ headers: { 'x-canary': { exact: 'y' } } }])),
                metrics: mostly(
                  fc.array(
                    fc.oneof(
                      fc.record(
                        { name: fc.constant('request-success-rate'), thresholdRange: mostly(fc.record({ min: num(0, 100) }, opt)), threshold: num(0, 100) },
                        { requiredKeys: ['name'] },
                      ),
                      fc.record(
                        { name: fc.constant('request-duration'), thresholdRange: mostly(fc.record({ max: num(0, 1000) }, opt)), interval: dur },
                        { requiredKeys: ['name'] },
                      ),
                      fc.record({ name: fc.constant('custom'), templateRef: mostly(fc.constant({ name: 'tpl' })), thresholdRange: fc.constant({ max: 1 }) }),
                    ),
                    { maxLength: 3 },
                  ),
                ),
                webhooks: mostly(
                  fc.array(
                    fc.record(
                      { name: fc.constant('w'), type: mostly(fc.constantFrom('pre-rollout', 'rollout', 'nope')), url: mostly(fc.constant('http://h/')) },
                      opt,
                    ),
                    { maxLength: 2 },
                  ),
                ),
              },
              opt,
            ),
          ),
        },
        { requiredKeys: ['targetRef', 'service', 'analysis'] },
      ),
    ),
  })
  .map((c) => {
    // v1alpha3 names the analysis canaryAnalysis.
    const spec = c.spec as { analysis?: unknown } | null;
    if (c.apiVersion !== 'flagger.app/v1alpha3' || !spec || typeof spec !== 'object' || Array.isArray(spec)) return c;
    const { analysis, ...rest } = spec;
    return { ...c, spec: { ...rest, canaryAnalysis: analysis } };
  });
const metricTemplate = fc.record({
  apiVersion: fc.constant('flagger.app/v1beta1'),
  kind: fc.constant('MetricTemplate'),
  metadata: fc.record({ name: fc.constant('tpl') }),
  spec: mostly(
    fc.record({
      provider: mostly(fc.record({ type: mostly(fc.constant('prometheus')), address: mostly(fc.constant('http://p:9090')) })),
      query: mostly(fc.constant('sum(x{a="{{ target }}"})')),
    }),
  ),
});

const file = fc.oneof(
  // Sometimes with a Deployment nothing names, which must be refused.
  fc.tuple(argoRollout, fc.boolean()).map(([r, orphan]) => (orphan ? [r, { ...deployment, metadata: { name: 'orphan' } }] : [r])),
  argoTemplate.map((t) => [t]),
  fc.tuple(flaggerCanary, metricTemplate).map(([c, t]) => [deployment, t, c]),
);

const WARNING = /^f\.yaml:\d+: [A-Za-z]+ \S*: .+ is not supported by sluice: .+$/;

test(`import fuzz (seed ${SEED}, ${RUNS} runs): only positioned UserErrors, well-formed warnings, sources that reload`, () => {
  console.log(`import fuzz seed: ${SEED}`);
  const outcomes = { loaded: 0, refused: 0 };
  fc.assert(
    fc.property(file, (docs) => {
      const text = docs.map((d) => stringify(d)).join('---\n');
      const started = performance.now();
      let loaded: ReturnType<typeof loadResources> | undefined;
      try {
        loaded = loadResources(text, 'f.yaml');
        outcomes.loaded++;
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        outcomes.refused++;
        if (process.env.SLUICE_FUZZ_SHOW) console.log(err.message);
        assert.match(err.message, /^f\.yaml:\d+(:\d+)?: /);
        assert.doesNotMatch(err.message, /\n/);
      }
      assert.ok(performance.now() - started < CASE_MS, 'loading took too long');
      for (const r of loaded ?? []) {
        for (const w of r.warnings ?? []) assert.match(w, WARNING);
        const again = loadResources(r.source, 'f.yaml');
        assert.equal(again.length, 1);
        assert.equal(again[0]?.warnings, undefined);
        assert.deepEqual(again[0]?.value, r.value);
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
  console.log(`import fuzz: ${outcomes.loaded} loaded, ${outcomes.refused} refused`);
  // Not vacuous: a good share of the cases get through the translation and sluice's decoders.
  assert.ok(outcomes.loaded >= RUNS / 10, `only ${outcomes.loaded} of ${RUNS} cases loaded`);
  assert.ok(outcomes.refused >= RUNS / 10, `only ${outcomes.refused} of ${RUNS} cases were refused`);
});

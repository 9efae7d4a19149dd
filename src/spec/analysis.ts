import { isMap, isScalar, type Node } from 'yaml';
import { checkCondition } from '../analysis/condition.js';
import { LIMITS } from './limits.js';
import type { PostDeployWatch } from '../core/analysis.js';
import { DEFAULT_WATCH } from '../analysis/watch.js';
import type { AnalysisRef, AnalysisTemplateSpec, BuiltinMetric, JudgeMetricConfig, MetricSpec, ProviderConfig } from '../core/analysis.js';
import {
  DEFAULT_EXEC_TIMEOUT_SECONDS,
  DEFAULT_SMOKE_TIMEOUT_SECONDS,
  DEFAULT_WEBHOOK_RETRIES,
  DEFAULT_WEBHOOK_TIMEOUT_SECONDS,
  WEBHOOK_KINDS,
  type ExecHookSpec,
  type NotificationSpec,
  type SmokeTestSpec,
  type WebhookSpec,
} from '../core/hooks.js';
import {
  boolean,
  describe,
  duration,
  integer,
  listOf,
  map,
  nameValueMap,
  object,
  oneKey,
  oneOf,
  optional,
  refine,
  required,
  string,
  text,
  withDefault,
  documentHeader,
  plainValue,
  schemaOf,
  withSchema,
  type Ctx,
  type Decoder,
} from './schema.js';

/**
 * AnalysisTemplate documents, the places a Rollout asks for analysis, and hooks. Defaults
 * follow Argo Rollouts (failureLimit 0, inconclusiveLimit 0, consecutiveErrorLimit 4) and
 * Flagger (webhook kinds); docs/analysis.md is the reference.
 */

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAME_FIX = 'use a lowercase name: a-z, 0-9 and "-"';
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A finite YAML number within bounds. */
export function number(b: { min?: number; max?: number; fix: string }): Decoder<number> {
  return withSchema(
    (node: Node, ctx: Ctx) => {
      const v = isScalar(node) ? node.value : undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) ctx.fail(node, `must be a finite number, got ${describe(node)}`, b.fix);
      if ((b.min !== undefined && v < b.min) || (b.max !== undefined && v > b.max)) {
        ctx.fail(node, `must be between ${b.min ?? '-∞'} and ${b.max ?? '∞'}, got ${v}`, b.fix);
      }
      return v;
    },
    () => ({ type: 'number', ...(b.min === undefined ? {} : { minimum: b.min }), ...(b.max === undefined ? {} : { maximum: b.max }), description: b.fix }),
  );
}

/** Any YAML value as plain JSON (bodies, expected JSON); its nesting limit is the loader's. */
const anyValue: Decoder<unknown> = withSchema(
  (node: Node, ctx: Ctx) => plainValue(node, ctx),
  () => ({}),
);

const url = string({ fix: 'write an http:// URL', pattern: /^https?:\/\/\S+$/, patternProblem: 'must be an http:// or https:// URL' });

function condition(label: string): Decoder<string> {
  return refine(text(`write an expression over result, e.g. result <= 0.01`), (v, fail) => {
    const problem = checkCondition(v, label);
    if (problem) fail(problem, 'fix the expression (see docs/analysis.md)');
  });
}

const BUILTIN_METRICS: readonly BuiltinMetric[] = [
  'request-rate',
  'requests',
  'error-rate',
  'success-rate',
  'latency-p50',
  'latency-p90',
  'latency-p95',
  'latency-p99',
  'mismatch-rate',
];

const headers = withDefault(nameValueMap('header', HEADER_NAME, 'write headers as Name: value'), {});
const timeout = (seconds: number) => withDefault(duration({ min: 0, above: true }), seconds);

const judgeMetric: Decoder<JudgeMetricConfig> = object({
  name: required(text('write a metric name'), 'latency'),
  source: required(oneOf(['latency', 'error'] as const), 'latency (or error)'),
  direction: withDefault(oneOf(['increase', 'decrease', 'either'] as const), 'increase' as const),
  tolerance: withDefault(number({ min: 0, fix: 'write a fraction, e.g. 0.1 for 10 %' }), 0.1),
  weight: withDefault(number({ min: 0, fix: 'write a weight ≥ 0' }), 1),
  critical: withDefault(boolean('write true or false'), false),
  minSamples: withDefault(integer({ min: 1, fix: 'write a whole number ≥ 1' }), 50),
});

const DEFAULT_JUDGE_METRICS: JudgeMetricConfig[] = [
  { name: 'latency', source: 'latency', direction: 'increase', tolerance: 0.1, weight: 1, critical: false, minSamples: 50 },
  { name: 'errors', source: 'error', direction: 'increase', tolerance: 0, weight: 1, critical: true, minSamples: 50 },
];

const provider: Decoder<ProviderConfig> = map(
  oneKey(
    {
      builtin: object({
        metric: required(oneOf(BUILTIN_METRICS), 'error-rate'),
        revision: withDefault(oneOf(['canary', 'stable'] as const), 'canary' as const),
        windowSeconds: withDefault(duration({ min: 0, above: true }), 30),
        compare: optional(oneOf(['difference', 'ratio'] as const)),
        minRequests: withDefault(integer({ min: 0, fix: 'write a whole number of requests' }), 20),
      }),
      prometheus: object({
        address: required(url, 'http://127.0.0.1:9090'),
        query: required(text('write a PromQL query'), 'sum(rate(sluice_requests_total[1m]))'),
        timeoutSeconds: timeout(10),
        onEmpty: withDefault(
          map(
            oneKey(
              {
                error: object({}),
                inconclusive: object({}),
                value: number({ fix: 'write the number an empty result stands for' }),
              },
              'onEmpty choice',
            ),
            ({ key, value }) => (key === 'value' ? { value: value as number } : key),
          ),
          'error' as const,
        ),
        headers,
      }),
      web: object({
        url: required(url, 'http://127.0.0.1:9000/check'),
        method: withDefault(oneOf(['GET', 'POST'] as const), 'GET' as const),
        headers,
        body: optional(anyValue),
        jsonPath: optional(text('write a JSONPath, e.g. $.data.ok')),
        timeoutSeconds: timeout(10),
      }),
      job: object({
        command: required(listOf(text('write each argument as a string'), 'write the command as a list'), '[./check.sh]'),
        cwd: optional(text('write a directory')),
        env: withDefault(nameValueMap('environment variable', /^[^=\0]+$/, 'write env as NAME: value lines'), {}),
        timeoutSeconds: timeout(60),
      }),
      judge: object({
        metrics: withDefault(listOf(judgeMetric, 'write judge metrics as a list'), DEFAULT_JUDGE_METRICS),
        thresholds: withDefault(
          object({
            pass: withDefault(number({ min: 0, max: 100, fix: 'write a score from 0 to 100' }), 95),
            marginal: withDefault(number({ min: 0, max: 100, fix: 'write a score from 0 to 100' }), 75),
          }),
          { pass: 95, marginal: 75 },
        ),
        confidence: withDefault(number({ min: 0.5, max: 0.9999, fix: 'write a confidence level like 0.95' }), 0.95),
        windowSeconds: withDefault(duration({ min: 0, above: true }), 60),
      }),
    },
    'provider',
  ),
  ({ key, value }) => ({ [key]: value }) as ProviderConfig,
);

const metric: Decoder<MetricSpec> = map(
  object({
    name: required(string({ fix: NAME_FIX, pattern: NAME, patternProblem: 'must be a lowercase name' }), 'error-rate'),
    provider: required(provider, '{builtin: {metric: error-rate}}'),
    interval: optional(duration({ min: 0, above: true })),
    count: optional(integer({ min: 0, fix: 'write a whole number of measurements (0 = until stopped)' })),
    initialDelay: withDefault(duration(), 0),
    successCondition: optional(condition('successCondition')),
    failureCondition: optional(condition('failureCondition')),
    failureLimit: withDefault(integer({ min: 0, fix: 'write a whole number ≥ 0' }), 0),
    inconclusiveLimit: withDefault(integer({ min: 0, fix: 'write a whole number ≥ 0' }), 0),
    consecutiveErrorLimit: withDefault(integer({ min: 0, fix: 'write a whole number ≥ 0' }), 4),
    dryRun: withDefault(boolean('write true or false'), false),
  }),
  (m) => {
    // Argo: no interval means one measurement; an interval without count runs until stopped.
    const out: MetricSpec = { ...m, interval: m.interval ?? 5, count: m.count ?? (m.interval === undefined ? 1 : 0) };
    if ('judge' in m.provider && !m.successCondition && !m.failureCondition) {
      // Kayenta: Pass at or above `pass`, Fail below `marginal`; Marginal is Inconclusive.
      out.successCondition = `result >= ${m.provider.judge.thresholds.pass}`;
      out.failureCondition = `result < ${m.provider.judge.thresholds.marginal}`;
    }
    return out;
  },
);

const args = withDefault(
  listOf(
    object({
      name: required(text('write the argument name'), 'service'),
      value: optional(map(anyValue, (v) => String(v))),
    }),
    'write args as a list of {name, value}',
  ),
  [],
);

const metricsList = listOf(metric, 'write metrics as a list');

/** `analysis:` in a canary step, background analysis, blue-green pre/post promotion. */
export const analysisRef: Decoder<AnalysisRef> = refine(
  object({
    templates: withDefault(
      listOf(object({ templateName: required(text('write the AnalysisTemplate name'), 'error-rate') }), 'write templates as a list of {templateName}'),
      [],
    ),
    metrics: withDefault(metricsList, []),
    args,
  }),
  (v, fail) => {
    if (v.templates.length === 0 && v.metrics.length === 0) fail('names no template and no metric', 'add templates: [{templateName: NAME}] or metrics: [...]');
  },
);

const sluiceBackground = refine(
  object({
    templates: withDefault(
      listOf(object({ templateName: required(text('write the AnalysisTemplate name'), 'error-rate') }), 'write templates as a list of {templateName}'),
      [],
    ),
    metrics: withDefault(metricsList, []),
    args,
    startingStep: withDefault(integer({ min: 0, fix: 'write a step index from 0' }), 0),
  }),
  (v, fail) => {
    if (v.templates.length === 0 && v.metrics.length === 0) fail('names no template and no metric', 'add templates: [{templateName: NAME}] or metrics: [...]');
  },
);

/** The AnalysisTemplate document (apiVersion and kind checked by load.ts). */
export function analysisTemplateDocument(): Decoder<AnalysisTemplateSpec> {
  return map(
    object({
      ...documentHeader('error-rate'),
      spec: required(
        object({
          args,
          metrics: required(
            refine(metricsList, (v, fail) => {
              if (v.length === 0) fail('is empty', 'add at least one metric');
            }),
            '[{name: error-rate, provider: {builtin: {metric: error-rate}}, successCondition: result <= 0.01}]',
          ),
          onFailure: withDefault(oneOf(['abort', 'pause'] as const), 'abort' as const),
        }),
        '{metrics: [...]}',
      ),
    }),
    (d) => ({ name: d.metadata.name, ...d.spec }),
  );
}

const fraction = (what: string) => number({ min: 0, max: 1, fix: `write ${what} as a fraction, e.g. 0.05 for 5 %` });

/** `postDeploy` of rolling and recreate; defaults from the playbooks' rollback monitor. */
export const postDeployWatch: Decoder<PostDeployWatch> = object({
  interval: withDefault(duration({ min: 0, above: true }), DEFAULT_WATCH.interval),
  duration: withDefault(duration({ min: 0, above: true }), DEFAULT_WATCH.duration),
  minRequests: withDefault(integer({ min: 0, fix: 'write a whole number of requests' }), DEFAULT_WATCH.minRequests),
  immediate: withDefault(
    object({
      errorRate: withDefault(fraction('an error rate'), DEFAULT_WATCH.immediate.errorRate),
      p95: withDefault(duration({ min: 0, above: true }), DEFAULT_WATCH.immediate.p95),
    }),
    DEFAULT_WATCH.immediate,
  ),
  average: withDefault(
    object({
      errorRate: withDefault(fraction('an error rate'), DEFAULT_WATCH.average.errorRate),
      p95: withDefault(duration({ min: 0, above: true }), DEFAULT_WATCH.average.p95),
    }),
    DEFAULT_WATCH.average,
  ),
  badSample: withDefault(
    object({
      errorRate: withDefault(fraction('an error rate'), DEFAULT_WATCH.badSample.errorRate),
      maxShare: withDefault(fraction('a share of samples'), DEFAULT_WATCH.badSample.maxShare),
    }),
    DEFAULT_WATCH.badSample,
  ),
});

const hookKind = oneOf(WEBHOOK_KINDS);

const webhook: Decoder<WebhookSpec> = object({
  name: required(text('write a name'), 'notify'),
  kind: required(hookKind, 'pre-rollout'),
  url: required(url, 'http://127.0.0.1:9000/hook'),
  timeoutSeconds: timeout(DEFAULT_WEBHOOK_TIMEOUT_SECONDS),
  secret: optional(text('write the HMAC key (or use secretEnv)')),
  secretEnv: optional(text('write an environment variable name')),
  headers,
  metadata: withDefault(nameValueMap('metadata key', /^\S+$/, 'write metadata as key: value lines'), {}),
  retries: withDefault(integer({ min: 0, max: 10, fix: 'write 0 to 10' }), DEFAULT_WEBHOOK_RETRIES),
});

const execHook: Decoder<ExecHookSpec> = object({
  name: required(text('write a name'), 'migrate'),
  kind: required(hookKind, 'pre-rollout'),
  command: required(listOf(text('write each argument as a string'), 'write the command as a list'), '[./hook.sh]'),
  cwd: optional(text('write a directory')),
  env: withDefault(nameValueMap('environment variable', /^[^=\0]+$/, 'write env as NAME: value lines'), {}),
  timeoutSeconds: timeout(DEFAULT_EXEC_TIMEOUT_SECONDS),
});

const smokeCheck = object({
  name: optional(text('write a name')),
  method: withDefault(oneOf(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH'] as const), 'GET' as const),
  path: required(string({ fix: 'write a path starting with /', pattern: /^\//, patternProblem: 'must start with /' }), '/healthz'),
  headers,
  jsonBody: optional(anyValue),
  expectStatus: withDefault(
    withSchema(
      map(anyValue, (v, node, ctx) => {
        const ok = (x: unknown) => Number.isInteger(x) && (x as number) >= 100 && (x as number) <= 599;
        if (ok(v)) return v as number;
        if (Array.isArray(v) && v.length > 0 && v.every(ok)) return v as number[];
        return ctx.fail(node, `must be an HTTP status or a list of them, got ${describe(node)}`, 'write e.g. 200 or [200, 204]');
      }),
      () => {
        const status = { type: 'integer', minimum: 100, maximum: 599 };
        return { oneOf: [status, { type: 'array', items: status, minItems: 1 }], description: 'write e.g. 200 or [200, 204]' };
      },
    ),
    200 as number | number[],
  ),
  expectJson: optional(
    withSchema(
      map(anyValue, (v, node, ctx) =>
        v && typeof v === 'object' && !Array.isArray(v)
          ? (v as Record<string, unknown>)
          : ctx.fail(node, 'must be a mapping', 'write path: expected value lines'),
      ),
      () => ({ type: 'object', description: 'write path: expected value lines' }),
    ),
  ),
  expectBodyContains: optional(text('write the text the body must contain')),
  maxLatencyMs: optional(number({ min: 0, fix: 'write milliseconds' })),
  timeoutSeconds: timeout(DEFAULT_SMOKE_TIMEOUT_SECONDS),
});

const smokeTest: Decoder<SmokeTestSpec> = object({
  name: required(text('write a name'), 'api'),
  target: withDefault(oneOf(['preview', 'canary', 'main'] as const), 'preview' as const),
  checks: required(
    refine(listOf(smokeCheck, 'write checks as a list'), (v, fail) => {
      if (v.length === 0) fail('is empty', 'add at least one check');
    }),
    '[{path: /healthz}]',
  ),
});

const notification: Decoder<NotificationSpec> = object({
  name: required(text('write a name'), 'team-channel'),
  type: required(oneOf(['slack', 'webhook'] as const), 'slack'),
  url: required(url, 'https://hooks.slack.com/services/…'),
  events: optional(listOf(text('write event reasons'), 'write events as a list of reasons')),
  secret: optional(text('write the HMAC key')),
  secretEnv: optional(text('write an environment variable name')),
  headers: optional(nameValueMap('header', HEADER_NAME, 'write headers as Name: value')),
});

export const hooksField = withDefault(
  object({
    webhooks: withDefault(listOf(webhook, 'write webhooks as a list'), []),
    exec: withDefault(listOf(execHook, 'write exec hooks as a list'), []),
  }),
  { webhooks: [], exec: [] },
);
export const smokeTestsField = withDefault(listOf(smokeTest, 'write smoke tests as a list'), []);
export const notificationsField = withDefault(listOf(notification, 'write notifications as a list'), []);

/** Flagger's canary analysis, which sluice expands into steps plus a background analysis. */
export interface FlaggerAnalysis {
  interval: number;
  threshold: number;
  stepWeights: number[];
  metrics: { name: 'request-success-rate' | 'request-duration'; min?: number; max?: number }[];
}

const flaggerAnalysis: Decoder<FlaggerAnalysis> = refine(
  map(
    object({
      interval: withDefault(duration({ min: 0, above: true }), 60),
      threshold: withDefault(integer({ min: 1, fix: 'write how many failed checks roll back, e.g. 5' }), 5),
      stepWeight: optional(number({ min: 0.01, max: 100, fix: 'write a weight step, e.g. 10' })),
      stepWeights: optional(listOf(number({ min: 0.01, max: 100, fix: 'write weights from 0 to 100' }), 'write stepWeights as a list, e.g. [1, 10, 50]')),
      maxWeight: withDefault(number({ min: 0.01, max: 100, fix: 'write the last weight before promotion, e.g. 50' }), 50),
      metrics: withDefault(
        listOf(
          object({
            name: required(
              oneOf(
                ['request-success-rate', 'request-duration'] as const,
                'sluice knows request-success-rate and request-duration here; use a full analysis for others',
              ),
              'request-success-rate',
            ),
            min: optional(number({ fix: 'write the minimum, e.g. 99 (percent)' })),
            max: optional(number({ fix: 'write the maximum, e.g. 500 (ms)' })),
            interval: optional(duration({ min: 0, above: true })),
          }),
          'write metrics as a list',
        ),
        [],
      ),
    }),
    (v) => {
      const weights: number[] = v.stepWeights ?? [];
      if (!v.stepWeights) for (let w = v.stepWeight ?? 10; w <= v.maxWeight + 1e-9; w += v.stepWeight ?? 10) weights.push(Math.round(w * 100) / 100);
      return { interval: v.interval, threshold: v.threshold, stepWeights: weights, metrics: v.metrics.map(({ name, min, max }) => ({ name, min, max })) };
    },
  ),
  (v, fail) => {
    if (v.stepWeights.length === 0) fail('gives no weights', 'set stepWeight (with maxWeight) or stepWeights');
    // Each weight becomes two steps (setWeight, pause).
    if (v.stepWeights.length * 2 > LIMITS.steps)
      fail(`makes ${v.stepWeights.length} weights, more than the limit of ${LIMITS.steps / 2}`, 'raise stepWeight or list fewer stepWeights');
    if (v.stepWeights.some((w, i) => i > 0 && w <= v.stepWeights[i - 1]!)) fail('stepWeights must increase', 'list increasing weights, e.g. [5, 10, 50]');
    for (const m of v.metrics) {
      if (m.name === 'request-success-rate' && m.min === undefined) fail('request-success-rate needs min', 'add min: 99 (percent of non-5xx answers)');
      if (m.name === 'request-duration' && m.max === undefined) fail('request-duration needs max', 'add max: 500 (p99 in milliseconds)');
    }
  },
);

const FLAGGER_KEYS = ['threshold', 'stepWeight', 'stepWeights', 'maxWeight', 'interval'];

/**
 * `strategy.canary.analysis`: sluice's background analysis (templates/metrics/startingStep),
 * or Flagger's shorthand (interval, threshold, stepWeight(s), maxWeight, metrics by name),
 * told apart by Flagger's keys.
 */
export const backgroundAnalysis: Decoder<{ kind: 'sluice'; value: AnalysisRef & { startingStep: number } } | { kind: 'flagger'; value: FlaggerAnalysis }> =
  withSchema(
    (node, ctx) => {
      const keys = isMap(node) ? node.items.map((p) => (isScalar(p.key) ? String(p.key.value) : '')) : [];
      if (keys.some((k) => FLAGGER_KEYS.includes(k))) return { kind: 'flagger', value: flaggerAnalysis(node, ctx) };
      return { kind: 'sluice', value: sluiceBackground(node, ctx) };
    },
    () => ({
      anyOf: [
        // A Flagger key decides which one it is.
        { ...schemaOf(flaggerAnalysis), anyOf: FLAGGER_KEYS.map((k) => ({ required: [k] })) },
        schemaOf(sluiceBackground),
      ],
    }),
  );

/** Flagger's shorthand as sluice steps and a background analysis (what `sluice lint` prints). */
export function expandFlagger(f: FlaggerAnalysis): { steps: CanaryStepLike[]; analysis: AnalysisRef & { startingStep: number } } {
  const steps: CanaryStepLike[] = f.stepWeights.flatMap((w) => [{ setWeight: w }, { pause: { duration: f.interval } }]);
  const metrics: MetricSpec[] = f.metrics.map((m) => ({
    name: m.name,
    interval: f.interval,
    count: 0,
    initialDelay: 0,
    successCondition: m.name === 'request-success-rate' ? `result >= ${(m.min as number) / 100}` : `result <= ${(m.max as number) / 1000}`,
    failureLimit: f.threshold - 1,
    inconclusiveLimit: f.threshold - 1,
    consecutiveErrorLimit: 4,
    dryRun: false,
    provider: {
      builtin: {
        metric: m.name === 'request-success-rate' ? 'success-rate' : 'latency-p99',
        revision: 'canary',
        windowSeconds: f.interval,
        minRequests: 20,
      },
    },
  }));
  return { steps, analysis: { templates: [], metrics, args: [], startingStep: 0 } };
}

type CanaryStepLike = { setWeight: number } | { pause: { duration?: number } };

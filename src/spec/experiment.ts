/**
 * `strategy.abTest`'s experiment fields (metrics, userKey, userCookie, guardrails,
 * conclusion): what makes an A/B test an experiment with statistics (src/core/experiment.ts,
 * docs/experiments.md). Defaults follow the playbooks' A/B analyzer (1,000 users per
 * variant, ±5 % lift), with always-valid inference instead of a fixed-horizon p-value.
 */
import type { ConclusionSpec, ExperimentSpec, GuardrailSpec, MetricSpec } from '../core/experiment.js';
import { number } from './analysis.js';
import { LIMITS } from './limits.js';
import {
  boolean,
  duration,
  integer,
  listOf,
  map,
  object,
  oneOf,
  optional,
  percent,
  refine,
  required,
  string,
  text,
  withDefault,
  type Decoder,
  type Field,
} from './schema.js';

type Out<D> = D extends Decoder<infer T> ? T : never;

const NAME = /^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const COOKIE_NAME = HEADER_NAME;
const DAY = 86_400;
/** Experiments run for weeks: their durations may exceed the 7-day limit of other durations. */
const LONG = 365 * DAY;

const headerName = (fix: string) => string({ fix, pattern: HEADER_NAME, patternProblem: 'must be an HTTP header name' });
const cookieName = (fix: string) => string({ fix, pattern: COOKIE_NAME, patternProblem: 'must be a cookie name' });

const goal = refine(
  object({
    methods: optional(
      map(
        listOf(
          string({ fix: 'write an HTTP method, e.g. POST', pattern: /^[A-Za-z]+$/, patternProblem: 'must be an HTTP method' }),
          'write methods as a list, e.g. [POST]',
        ),
        (ms) => ms.map((m) => m.toUpperCase()),
      ),
    ),
    path: optional(
      string({ fix: 'write the exact path, e.g. /checkout', pattern: /^\/[^\s?#]*$/, patternProblem: 'must be a path starting with / (no query)' }),
    ),
    pathPrefix: optional(string({ fix: 'write a path prefix, e.g. /orders/', pattern: /^\/\S*$/, patternProblem: 'must start with /' })),
    status: withDefault(oneOf(['2xx', '3xx', '4xx', '5xx'] as const, 'write the status class that counts: 2xx, 3xx, 4xx or 5xx'), '2xx' as const),
    valueHeader: optional(headerName('write the response header that carries the value, e.g. x-sluice-value')),
  }),
  (g, fail) => {
    if ((g.path === undefined) === (g.pathPrefix === undefined)) fail('needs exactly one of path or pathPrefix', 'write e.g. path: /checkout');
  },
);

const metric = refine(
  object({
    name: required(
      string({
        fix: 'write a short lowercase name, e.g. checkout',
        pattern: NAME,
        patternProblem: 'must be a lowercase name (a-z, 0-9, - and _)',
        maxLength: 63,
      }),
      'checkout',
    ),
    kind: optional(oneOf(['binomial', 'continuous'] as const, 'write binomial (converted or not) or continuous (a value per user, e.g. revenue)')),
    direction: withDefault(oneOf(['higher', 'lower'] as const, 'write higher or lower: which way is better'), 'higher' as const),
    primary: optional(boolean('write true on the metric that decides the test (the first one by default)')),
    goal: optional(goal),
    event: optional(
      string({
        fix: 'write the event name the app posts, e.g. purchase',
        pattern: /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
        patternProblem: 'must be a name of letters, digits and . _ : -',
      }),
    ),
    prometheus: optional(
      object({
        address: required(
          string({ fix: 'write an http:// URL', pattern: /^https?:\/\/\S+$/, patternProblem: 'must be an http:// or https:// URL' }),
          'http://127.0.0.1:9090',
        ),
        query: required(text('write a PromQL query returning one sample per variant (label variant)'), 'sum by (variant) (app_checkouts_total)'),
      }),
    ),
    window: optional(duration({ min: 0, above: true, max: LONG, fix: 'write how long after exposure a conversion counts, e.g. 24h' })),
    allowNegative: withDefault(boolean('write true if a value may be negative (refunds)'), false),
  }),
  (m, fail) => {
    const sources = [m.goal, m.event, m.prometheus].filter((s) => s !== undefined).length;
    if (sources !== 1) fail(`has ${sources} sources`, 'give exactly one of goal (a request the router sees), event (the app posts it) or prometheus');
    if (m.prometheus && m.kind === 'continuous')
      fail('is continuous but reads Prometheus', 'Prometheus metrics are counts of converted users: use kind binomial, or a goal or event');
    if (m.goal?.valueHeader !== undefined && m.kind === 'binomial')
      fail('is binomial but reads a value header', 'use kind continuous for values, or drop valueHeader');
  },
);

const guardrails = object({
  maxErrorRate: optional(percent({ min: 0, max: 100, fix: 'write the largest 5xx share a variant may have, e.g. 5%' })),
  maxP95Latency: optional(duration({ min: 0, above: true, fix: 'write the largest p95 latency a variant may have, e.g. 500ms' })),
  minRequests: withDefault(integer({ min: 1, max: 1_000_000_000, fix: 'write the requests a variant serves before a guardrail can stop it' }), 100),
});

const conclusion = object({
  minimumUsers: withDefault(integer({ min: 1, max: 1_000_000_000, fix: 'write the users per variant before a verdict, e.g. 1000' }), 1000),
  minimumDuration: withDefault(duration({ min: 0, max: LONG, fix: 'write how long the test runs at least, e.g. 7d... as hours: 168h' }), 0),
  maximumDuration: optional(duration({ min: 0, above: true, max: LONG, fix: 'write how long the test runs at most, e.g. 336h' })),
  alpha: withDefault(number({ min: 1e-6, max: 0.5, fix: 'write a significance level, e.g. 0.05' }), 0.05),
  minimumEffect: withDefault(percent({ min: 0, max: 1000, fix: 'write the relative lift that matters, e.g. 5%' }), 5),
  srmAlpha: withDefault(number({ min: 1e-12, max: 0.1, fix: 'write the sample-ratio alarm level, e.g. 0.001' }), 0.001),
  auto: withDefault(boolean('write true to promote the winner or stop the test by itself once the verdict is final'), false),
  sequentialTuning: withDefault(integer({ min: 10, max: 1_000_000_000, fix: 'write the users per variant you expect to end with, e.g. 5000' }), 5000),
});

/** The experiment fields of `strategy.abTest`, decoded beside variants (see abTest in rollout.ts). */
export const experimentFields = {
  metrics: optional(listOf(metric, 'write metrics as a list of {name, goal | event | prometheus}', LIMITS.listItems)),
  userKey: optional(
    refine(
      object({
        header: optional(headerName('write the request header that identifies a user, e.g. x-user-id')),
        cookie: optional(cookieName('write the application cookie that identifies a user')),
      }),
      (k, fail) => {
        if (k.header === undefined && k.cookie === undefined)
          fail('names neither header nor cookie', 'write e.g. userKey: {header: x-user-id}, or leave userKey out to use the router’s signed cookie');
      },
    ),
  ),
  userCookie: withDefault(
    object({
      name: withDefault(cookieName('write a cookie name'), 'sluice-uid'),
      maxAge: withDefault(duration({ min: 0, above: true, max: LONG, fix: 'write how long the cookie lasts, e.g. 720h' }), LONG),
    }),
    () => ({ name: 'sluice-uid', maxAge: LONG }),
  ),
  guardrails: withDefault(guardrails, (): Out<typeof guardrails> => ({ maxErrorRate: undefined, maxP95Latency: undefined, minRequests: 100 })),
  conclusion: withDefault(
    conclusion,
    (): Out<typeof conclusion> => ({
      minimumUsers: 1000,
      minimumDuration: 0,
      maximumDuration: undefined,
      alpha: 0.05,
      minimumEffect: 5,
      srmAlpha: 0.001,
      auto: false,
      sequentialTuning: 5000,
    }),
  ),
};

/** The decoded experiment fields. */
export type ExperimentFields = { [K in keyof typeof experimentFields]: (typeof experimentFields)[K] extends Field<infer T> ? T : never };

/**
 * The ExperimentSpec of decoded abTest fields; undefined without metrics (an A/B test
 * without statistics, as before). Throws a [problem, fix] pair for the caller's fail().
 */
export function experimentSpec(f: ExperimentFields): ExperimentSpec | undefined {
  if (f.metrics === undefined || f.metrics.length === 0) return undefined;
  const names = f.metrics.map((m) => m.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new ExperimentSpecProblem(`names metric ${twice} twice`, 'give each metric its own name');
  const primaries = f.metrics.filter((m) => m.primary === true);
  if (primaries.length > 1)
    throw new ExperimentSpecProblem(`marks ${primaries.length} metrics primary`, 'mark one metric primary: true (the one that decides)');
  const primary = primaries[0]?.name ?? names[0];
  const metrics: MetricSpec[] = f.metrics.map((m) => ({
    name: m.name,
    kind: m.kind ?? (m.goal?.valueHeader !== undefined ? 'continuous' : 'binomial'),
    direction: m.direction,
    primary: m.name === primary,
    ...(m.goal
      ? {
          goal: {
            ...(m.goal.methods ? { methods: m.goal.methods } : {}),
            ...(m.goal.path !== undefined ? { path: m.goal.path } : {}),
            ...(m.goal.pathPrefix !== undefined ? { pathPrefix: m.goal.pathPrefix } : {}),
            statusClass: Number(m.goal.status[0]) as 2 | 3 | 4 | 5,
            ...(m.goal.valueHeader !== undefined ? { valueHeader: m.goal.valueHeader.toLowerCase() } : {}),
          },
        }
      : {}),
    ...(m.event !== undefined ? { event: m.event } : {}),
    ...(m.prometheus ? { prometheus: m.prometheus } : {}),
    ...(m.window !== undefined ? { windowMs: Math.round(m.window * 1000) } : {}),
    allowNegative: m.allowNegative,
  }));
  const continuousGoal = metrics.find((m) => m.kind === 'continuous' && m.goal !== undefined && m.goal.valueHeader === undefined);
  if (continuousGoal)
    throw new ExperimentSpecProblem(
      `metric ${continuousGoal.name} is continuous but its goal has no valueHeader`,
      'add goal.valueHeader: x-sluice-value (the response header with the value)',
    );
  const g: GuardrailSpec = {
    ...(f.guardrails.maxErrorRate !== undefined ? { maxErrorRate: f.guardrails.maxErrorRate / 100 } : {}),
    ...(f.guardrails.maxP95Latency !== undefined ? { maxP95LatencyMs: f.guardrails.maxP95Latency * 1000 } : {}),
    minRequests: f.guardrails.minRequests,
  };
  const c = f.conclusion;
  if (c.maximumDuration !== undefined && c.maximumDuration < c.minimumDuration) {
    throw new ExperimentSpecProblem('conclusion.maximumDuration is shorter than minimumDuration', 'make maximumDuration at least minimumDuration');
  }
  const conclusionSpec: ConclusionSpec = {
    minimumUsers: c.minimumUsers,
    minimumDurationMs: Math.round(c.minimumDuration * 1000),
    ...(c.maximumDuration !== undefined ? { maximumDurationMs: Math.round(c.maximumDuration * 1000) } : {}),
    alpha: c.alpha,
    minimumEffect: c.minimumEffect / 100,
    srmAlpha: c.srmAlpha,
    auto: c.auto,
    sequentialTuning: c.sequentialTuning,
  };
  return {
    userKey: {
      ...(f.userKey?.header !== undefined ? { header: f.userKey.header.toLowerCase() } : {}),
      ...(f.userKey?.cookie !== undefined ? { cookie: f.userKey.cookie } : {}),
    },
    cookie: { name: f.userCookie.name, maxAgeSeconds: Math.round(f.userCookie.maxAge) },
    metrics,
    guardrails: g,
    conclusion: conclusionSpec,
  };
}

/** A problem of the experiment fields as a whole (refine's fail() takes it). */
export class ExperimentSpecProblem extends Error {
  constructor(
    readonly problem: string,
    readonly fix: string,
  ) {
    super(problem);
  }
}

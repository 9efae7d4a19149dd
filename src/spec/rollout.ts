import { dirname, resolve as resolvePath } from 'node:path';
import {
  boolean,
  duration,
  integer,
  intOrPercent,
  listenAddress,
  listOf,
  map,
  nameValueMap,
  object,
  oneKey,
  oneOf,
  optional,
  percent,
  refine,
  required,
  string,
  text,
  withDefault,
  documentHeader,
  type Decoder,
} from './schema.js';
import type { CanaryStep, IntOrPercent, Probe, RolloutSpec, Strategy } from './types.js';
import type { Stickiness } from '../router/route-table.js';
import { dataPlaneRouter, nginxSettings, withDataPlane, type DataPlaneChoice } from '../dataplane/nginx/spec.js';
import { analysisRef, backgroundAnalysis, expandFlagger, hooksField, notificationsField, postDeployWatch, smokeTestsField } from './analysis.js';

/**
 * The Rollout resource's schema: field names, types, defaults and cross-field rules.
 * docs/spec.md is its reference; keep the two in step.
 */

const LISTEN_FIX = 'write host:port, e.g. 127.0.0.1:8080';
const PORT = integer({ min: 1, max: 65535, fix: 'use a TCP port from 1 to 65535' });
const COUNT = (what: string) => integer({ min: 0, fix: `write a whole number of ${what}, e.g. 3` });
const THRESHOLD = integer({ min: 1, fix: 'write a whole number ≥ 1' });
const ENV_NAME = /^[^=\0]+$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const INT_OR_PERCENT_FIX = 'write a whole count like 1 or a percentage like 25%';

function notBothZero(surge: IntOrPercent, unavailable: IntOrPercent): boolean {
  const zero = (v: IntOrPercent) => ('count' in v ? v.count : v.percent) === 0;
  return zero(surge) && zero(unavailable);
}

const probeActions = {
  httpGet: optional(
    object({
      path: withDefault(string({ fix: 'write an absolute URL path, e.g. /healthz', pattern: /^\//, patternProblem: 'must start with /' }), '/'),
      port: optional(PORT),
      scheme: withDefault(
        map(oneOf(['http', 'HTTP'], 'only plain HTTP is probed; leave scheme out'), () => 'http' as const),
        'http' as const,
      ),
      headers: withDefault(nameValueMap('header', HEADER_NAME, 'write headers as Name: value'), {}),
    }),
  ),
  tcpSocket: optional(object({ port: optional(PORT) })),
  exec: optional(
    object({
      command: required(
        refine(listOf(text('write the command as a list of strings'), 'write the command as a list, e.g. [sh, -c, "test -f ready"]'), (v, fail) => {
          if (v.length === 0) fail('must not be empty', 'give the program and its arguments, e.g. [sh, -c, "test -f ready"]');
        }),
        '[program, arg…]',
      ),
    }),
  ),
};

/** Probe timings follow Kubernetes except periodSeconds, whose default depends on the probe. */
function probe(kind: 'readiness' | 'liveness' | 'startup', periodSeconds: number): Decoder<Probe> {
  return refine(
    object({
      ...probeActions,
      initialDelaySeconds: withDefault(duration(), 0),
      periodSeconds: withDefault(duration({ min: 0, above: true }), periodSeconds),
      timeoutSeconds: withDefault(duration({ min: 0, above: true }), 1),
      successThreshold: withDefault(
        kind === 'readiness' ? THRESHOLD : integer({ min: 1, max: 1, fix: `a ${kind} probe succeeds on the first success, as in Kubernetes; leave it out` }),
        1,
      ),
      failureThreshold: withDefault(THRESHOLD, 3),
    }),
    (p, fail) => {
      const actions = (['httpGet', 'tcpSocket', 'exec'] as const).filter((a) => p[a] !== undefined);
      if (actions.length !== 1) {
        fail(
          actions.length === 0 ? 'needs a check' : `sets ${actions.join(' and ')}; only one check is allowed`,
          'use exactly one of httpGet, tcpSocket, exec',
        );
      }
    },
  );
}

/**
 * A port that is bound is the least a local process must show before it gets traffic;
 * Kubernetes' "ready as soon as started" would route to a process still starting up.
 */
function defaultReadiness(): Probe {
  return { tcpSocket: {}, initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 };
}

const template = (file: string) =>
  object({
    version: required(
      string({ fix: 'write the version label, e.g. version: v2', maxLength: 128, pattern: /^\S+$/, patternProblem: 'must not contain spaces' }),
      'v1 (the version label of what this template runs)',
    ),
    command: required(string({ fix: 'write the program to run, e.g. command: node' }), 'the program to run, e.g. node'),
    args: withDefault(listOf(text('write each argument as a string'), 'write args as a list, e.g. [server.js]'), []),
    env: withDefault(nameValueMap('environment variable', ENV_NAME, 'write env as NAME: value lines'), {}),
    cwd: withDefault(
      map(string({ fix: 'write a directory, relative to this file or absolute' }), (cwd) => resolvePath(dirname(resolvePath(file)), cwd)),
      () => dirname(resolvePath(file)),
    ),
    probes: withDefault(
      object({
        readiness: withDefault(probe('readiness', 1), defaultReadiness),
        liveness: optional(probe('liveness', 10)),
        startup: optional(probe('startup', 10)),
      }),
      () => ({ readiness: defaultReadiness() }),
    ),
    shutdown: withDefault(
      object({
        drainSeconds: withDefault(duration(), 30),
        preStopDelaySeconds: withDefault(duration(), 0),
        terminationGracePeriodSeconds: withDefault(duration(), 30),
      }),
      { drainSeconds: 30, preStopDelaySeconds: 0, terminationGracePeriodSeconds: 30 },
    ),
  });

const DEFAULT_MAINTENANCE = { status: 503, body: 'Service is being updated, please retry shortly.\n', retryAfterSeconds: 5 };

const recreate = object({
  maintenance: withDefault(
    object({
      status: withDefault(integer({ min: 200, max: 599, fix: 'use an HTTP status, e.g. 503' }), DEFAULT_MAINTENANCE.status),
      body: withDefault(text('write the response body as a string'), DEFAULT_MAINTENANCE.body),
      // Retry-After is whole seconds.
      retryAfterSeconds: withDefault(map(duration(), Math.ceil), DEFAULT_MAINTENANCE.retryAfterSeconds),
    }),
    DEFAULT_MAINTENANCE,
  ),
  postDeploy: optional(postDeployWatch),
});

const surgeFields = {
  maxSurge: withDefault(intOrPercent(INT_OR_PERCENT_FIX), { percent: 25 } as IntOrPercent),
  maxUnavailable: withDefault(intOrPercent(INT_OR_PERCENT_FIX), { percent: 25 } as IntOrPercent),
};

function surgeCheck<T extends { maxSurge: IntOrPercent; maxUnavailable: IntOrPercent }>(d: Decoder<T>): Decoder<T> {
  return refine(d, (v, fail) => {
    if (notBothZero(v.maxSurge, v.maxUnavailable)) {
      fail('maxSurge and maxUnavailable are both 0, so no instance could ever be replaced', 'set maxSurge or maxUnavailable above 0');
    }
  });
}

const rolling = surgeCheck(object({ ...surgeFields, pauseSeconds: withDefault(duration(), 0), postDeploy: optional(postDeployWatch) }));

const blueGreen = object({
  previewListen: optional(listenAddress(LISTEN_FIX)),
  autoPromotionEnabled: withDefault(boolean('write true or false'), true),
  autoPromotionSeconds: withDefault(duration(), 0),
  previewReplicaCount: optional(integer({ min: 1, fix: 'write a whole number ≥ 1, or leave it out to preview at full size' })),
  scaleDownDelaySeconds: withDefault(duration(), 30),
  prePromotionAnalysis: optional(analysisRef),
  postPromotionAnalysis: optional(analysisRef),
});

const WEIGHT = percent({ min: 0, max: 100, fix: 'use a percentage of traffic from 0 to 100' });

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function valueMatch<K extends 'exact' | 'prefix' | 'regex'>(kinds: readonly K[]) {
  const fields = {
    name: required(string({ fix: 'write the name to match', pattern: TOKEN, patternProblem: 'must be a header, cookie or parameter name' }), 'X-Canary'),
    exact: optional(text('write the value')),
    prefix: optional(text('write the prefix')),
    regex: optional(
      refine(text('write a regular expression'), (v, fail) => {
        try {
          new RegExp(v);
        } catch (err) {
          fail(`is not a valid regular expression: ${(err as Error).message}`, 'fix the pattern (it must match the whole value)');
        }
      }),
    ),
  };
  return refine(object(fields), (v, fail) => {
    const set = (['exact', 'prefix', 'regex'] as const).filter((k) => v[k] !== undefined);
    const allowed = set.filter((k) => (kinds as readonly string[]).includes(k));
    if (set.length !== 1 || allowed.length !== 1) fail(`must set exactly one of ${kinds.join(', ')}`, `e.g. {name: ${v.name}, exact: "true"}`);
  });
}

const trafficRoute = object({
  name: required(text('write a route name'), 'testers'),
  match: required(
    refine(
      object({
        header: optional(valueMatch(['exact', 'prefix', 'regex'] as const)),
        cookie: optional(valueMatch(['exact', 'regex'] as const)),
        query: optional(valueMatch(['exact', 'regex'] as const)),
        pathPrefix: optional(string({ fix: 'write a path starting with /', pattern: /^\//, patternProblem: 'must start with /' })),
        source: optional(
          string({ fix: 'write an IPv4 address or CIDR, e.g. 10.0.0.0/8', pattern: /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/, patternProblem: 'must be an IPv4 address or CIDR' }),
        ),
      }),
      (v, fail) => {
        if (Object.keys(v).length === 0) fail('matches nothing', 'add header, cookie, query, pathPrefix or source');
      },
    ),
    '{header: {name: X-Canary, exact: "true"}}',
  ),
  to: required(oneOf(['canary', 'stable'] as const), 'canary'),
});

const regexText = refine(text('write a regular expression'), (v, fail) => {
  try {
    new RegExp(v);
  } catch (err) {
    fail(`is not a valid regular expression: ${(err as Error).message}`, 'fix the pattern (JavaScript syntax; it must match the whole value)');
  }
});

const canaryStep: Decoder<CanaryStep> = map(
  oneKey(
    {
      setWeight: WEIGHT,
      pause: object({ duration: optional(duration()) }),
      setCanaryScale: refine(
        object({
          replicas: optional(COUNT('canary instances')),
          weight: optional(percent({ min: 0, max: 100, fix: 'use a percentage of replicas from 0 to 100' })),
          matchTrafficWeight: optional(
            refine(boolean('write matchTrafficWeight: true'), (v, fail) => {
              if (!v) fail('false has no meaning here', 'write matchTrafficWeight: true, or use replicas or weight');
            }),
          ),
        }),
        (v, fail) => {
          const set = Object.keys(v);
          if (set.length !== 1) {
            fail(set.length === 0 ? 'sets nothing' : `sets ${set.join(' and ')}`, 'set exactly one of replicas, weight, matchTrafficWeight');
          }
        },
      ),
      analysis: analysisRef,
      approval: object({}),
      setHeaderRoute: object({
        name: required(text('write a route name'), 'testers'),
        match: optional(
          map(
            refine(
              listOf(
                object({
                  headerName: required(string({ fix: 'write a header name', pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, patternProblem: 'must be an HTTP header name' }), 'X-Canary'),
                  headerValue: required(
                    refine(
                      object({ exact: optional(text('write the value')), prefix: optional(text('write the prefix')), regex: optional(regexText) }),
                      (v, fail) => {
                        if (Object.keys(v).length !== 1) fail('must set exactly one of exact, prefix, regex', 'e.g. headerValue: {exact: "true"}');
                      },
                    ),
                    '{exact: "true"}',
                  ),
                }),
                'write match as a list with one header condition',
              ),
              (v, fail) => {
                if (v.length !== 1) fail(`has ${v.length} conditions; sluice supports exactly one header per route`, 'keep one header condition, or use two routes');
              },
            ),
            (v) => v[0]!,
          ),
        ),
      }),
    },
    'step type',
  ),
  ({ key, value }) => ({ [key]: value }) as CanaryStep,
);

const canary = map(
  refine(
    surgeCheck(
      object({
        canaryListen: optional(listenAddress(LISTEN_FIX)),
        ...surgeFields,
        steps: optional(listOf(canaryStep, 'write steps as a list, e.g. [{setWeight: 20}, {pause: {}}]')),
        analysis: optional(backgroundAnalysis),
      }),
    ),
    (v, fail) => {
      if (v.analysis?.kind === 'flagger' && v.steps !== undefined) {
        fail('sets both steps and a Flagger-style analysis (stepWeight…), which makes its own steps', 'keep one of them', 'steps');
      }
    },
  ),
  ({ analysis, steps, ...rest }) => {
    if (analysis?.kind === 'flagger') {
      const expanded = expandFlagger(analysis.value);
      return { ...rest, steps: expanded.steps as CanaryStep[], analysis: expanded.analysis, expandedFrom: 'flagger' as const };
    }
    return { ...rest, steps: steps ?? [], ...(analysis ? { analysis: analysis.value } : {}) };
  },
);

const strategy: Decoder<Strategy> = map(
  oneKey({ recreate, rolling, blueGreen, canary }, 'strategy'),
  ({ key, value }) => ({ type: key, ...value }) as Strategy,
);

/** The whole Rollout document (apiVersion and kind already checked by load.ts). */
export function rolloutDocument(file: string): Decoder<RolloutSpec> {
  return map(
    object({
      ...documentHeader('web'),
      spec: required(
        refine(
          object({
            replicas: withDefault(COUNT('instances'), 1),
            minReadySeconds: withDefault(duration(), 0),
            revisionHistoryLimit: withDefault(COUNT('old revisions to keep'), 10),
            progressDeadlineSeconds: withDefault(duration({ min: 0, above: true }), 600),
            template: required(template(file), '{version: v1, command: node, args: [server.js]}'),
            traffic: required(
              withDataPlane(object({
                router: withDefault(dataPlaneRouter, { router: 'builtin' } as DataPlaneChoice),
                nginx: optional(nginxSettings),
                listen: required(listenAddress(LISTEN_FIX), '127.0.0.1:8080'),
                balancer: withDefault(oneOf(['round-robin', 'least-requests']), 'round-robin' as const),
                routes: withDefault(listOf(trafficRoute, 'write routes as a list of {name, match, to}'), []),
                sticky: optional(
                  map(
                    oneKey(
                      {
                        cookie: object({
                          name: optional(string({ fix: 'write a cookie name', pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, patternProblem: 'must be a cookie name' })),
                          maxAgeSeconds: optional(duration({ min: 0, above: true })),
                        }),
                        header: string({ fix: 'write the header that identifies a user, e.g. x-user-id', pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, patternProblem: 'must be a header name' }),
                        hashCookie: string({ fix: 'write the application cookie that identifies a session', pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, patternProblem: 'must be a cookie name' }),
                      },
                      'stickiness key',
                    ),
                    ({ key, value }) => ({ [key]: value }) as Stickiness,
                  ),
                ),
              })),
              '{listen: 127.0.0.1:8080}',
            ),
            strategy: required(strategy, '{rolling: {}} (or recreate, blueGreen, canary)'),
            hooks: hooksField,
            smokeTests: smokeTestsField,
            notifications: notificationsField,
          }),
          (s, fail) => {
            if (s.progressDeadlineSeconds <= s.minReadySeconds) {
              fail(
                `must be greater than minReadySeconds (${s.minReadySeconds}), got ${s.progressDeadlineSeconds}`,
                'raise progressDeadlineSeconds or lower minReadySeconds',
                'progressDeadlineSeconds',
              );
            }
          },
        ),
        '{template: …, traffic: …, strategy: …}',
      ),
    }),
    (d) => ({ name: d.metadata.name, labels: d.metadata.labels, ...d.spec }),
  );
}

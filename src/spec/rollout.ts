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
  type Field,
  withDefault,
  documentHeader,
  dnsLabel,
  scalarOrMap,
  mapOf,
  alsoSchema,
  type Ctx,
  type Decoder,
} from './schema.js';
import {
  DEFAULT_PLATFORM,
  PLATFORMS,
  platformOf,
  type CanaryStep,
  type IntOrPercent,
  type Maintenance,
  type MirrorRouteSpec,
  type PlatformName,
  type Probe,
  type RolloutSpec,
  type RouteTarget,
  type SecretRef,
  type Strategy,
} from '../core/spec.js';
import { isMap, isScalar, type Node } from 'yaml';
import { containerSettings, failAt, image, kubernetesSettings, podTemplate, secretKeyRef } from './kubernetes.js';
import { parsePercent } from './duration.js';
import { LIMITS } from './limits.js';
import type { RequestMatch, Stickiness } from '../core/route-table.js';
import { regexProblem } from '../util/regex.js';
import { dataPlaneFields, withDataPlane } from './data-plane.js';
import { FLAG_KEY_PATTERN } from '../core/flags.js';
import { ExperimentSpecProblem, experimentFields, experimentSpec } from './experiment.js';

/** The router counts these in whole milliseconds (at least 1): a smaller duration would round to a table it refuses. */
const AT_LEAST_1MS = { min: 0.001, fix: 'use at least 1ms, e.g. 5s' };
import { databaseField } from './database.js';
import { analysisRef, backgroundAnalysis, expandFlagger, hooksField, notificationsField, postDeployWatch, smokeTestsField } from './analysis.js';

/**
 * The Rollout resource's schema: field names, types, defaults and cross-field rules.
 * docs/spec.md is its reference; keep the two in step.
 */

const LISTEN_FIX = 'write host:port, e.g. 127.0.0.1:8080';
const PORT = integer({ min: 1, max: 65535, fix: 'use a TCP port from 1 to 65535' });
const ENV_NAME_PATTERN = /^[^=\0]+$/;
const COUNT = (what: string, max: number) => integer({ min: 0, max, fix: `write a whole number of ${what}, at most ${max}` });
const INSTANCES = (what: string, min = 0) => integer({ min, max: LIMITS.replicas, fix: `write a whole number of ${what} from ${min} to ${LIMITS.replicas}` });
const ENV = nameValueMap('environment variable', ENV_NAME_PATTERN, 'write env as NAME: value lines', {
  entries: LIMITS.envEntries,
  valueChars: LIMITS.envValueChars,
  totalChars: LIMITS.envTotalChars,
});
const ARGS = refine(
  listOf(text('write each argument as a string', LIMITS.envValueChars), 'write args as a list, e.g. [server.js]', LIMITS.envEntries),
  (v, fail) => {
    const total = v.reduce((n, a) => n + a.length, 0);
    if (total > LIMITS.envTotalChars) fail(`add up to ${total} characters, more than the limit of ${LIMITS.envTotalChars}`, 'pass fewer or shorter arguments');
  },
);
const THRESHOLD = integer({ min: 1, fix: 'write a whole number ≥ 1' });
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

/**
 * `{NAME: {file: PATH} | {env: VAR}}`, and/or `secretKeyRef: {name, key}` (a Kubernetes
 * Secret, for pods); a relative file is relative to the manifest, stored absolute. Which
 * sources a platform needs is checked with the platform (platformRules).
 */
function secretEnv(file: string): Decoder<Record<string, SecretRef>> {
  const ref = map(
    refine(
      object({
        file: optional(string({ fix: 'write the path of the file that holds the value, relative to this manifest or absolute' })),
        env: optional(
          string({
            fix: "write the name of a variable in the control plane's environment",
            pattern: ENV_NAME_PATTERN,
            patternProblem: 'must be an environment variable name',
          }),
        ),
        secretKeyRef: optional(secretKeyRef),
      }),
      (v, fail) => {
        if (v.file !== undefined && v.env !== undefined) fail('only one secret source may be set, but file is set too', 'keep one of file, env', 'env');
        if (v.file === undefined && v.env === undefined && v.secretKeyRef === undefined) {
          fail('must set one secret source', 'add file: PATH or env: VAR (this machine), and/or secretKeyRef: {name: SECRET, key: KEY} (a Kubernetes Secret)');
        }
      },
    ),
    ({ file: path, env, secretKeyRef: k8s }): SecretRef => {
      const local = path !== undefined ? { file: resolvePath(dirname(resolvePath(file)), path) } : env !== undefined ? { env } : {};
      return { ...local, ...(k8s ? { secretKeyRef: k8s } : {}) } as SecretRef;
    },
  );
  return mapOf(ref, {
    noun: 'secret environment variable',
    namePattern: ENV_NAME_PATTERN,
    fix: 'write secretEnv as NAME: {file: PATH}, NAME: {env: VAR} or NAME: {secretKeyRef: {name: SECRET, key: KEY}}',
    entries: LIMITS.envEntries,
  });
}

/** Whatever the platform, a template runs something: a command, an image or a pod (a rule a schema can state). */
const RUNS_SOMETHING = { anyOf: [{ required: ['command'] }, { required: ['image'] }, { required: ['podTemplate'] }] };

const template = (file: string) =>
  alsoSchema(
    map(
      refine(
        object({
          version: required(
            string({ fix: 'write the version label, e.g. version: v2', maxLength: 128, pattern: /^\S+$/, patternProblem: 'must not contain spaces' }),
            'v1 (the version label of what this template runs)',
          ),
          // Required on the local platform: checked with the platform (platformRules), like image.
          command: optional(string({ fix: 'write the program to run, e.g. command: node' })),
          args: withDefault(ARGS, []),
          env: withDefault(ENV, {}),
          secretEnv: optional(secretEnv(file)),
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
          // The Kubernetes platform's (src/spec/kubernetes.ts): absent when unused, so local templates keep their hash.
          image: optional(image),
          container: optional(containerSettings),
          podTemplate: optional(podTemplate),
        }),
        (t, fail) => {
          const both = Object.keys(t.secretEnv ?? {}).find((name) => Object.hasOwn(t.env, name));
          if (both !== undefined) fail(`${both} is set in both env and secretEnv`, 'keep it in one of them', 'secretEnv');
          if (t.image !== undefined && t.podTemplate !== undefined) {
            fail('sets both image and podTemplate, whose containers name their own images', 'keep one of them', 'podTemplate');
          }
          const podEnv = (t.podTemplate?.spec.containers[0]?.env as Array<{ name: string }> | undefined) ?? [];
          const twice = podEnv.find((e) => Object.hasOwn(t.env, e.name) || Object.hasOwn(t.secretEnv ?? {}, e.name));
          if (twice !== undefined) {
            fail(
              `${twice.name} is set in the app container's env (the first of podTemplate.spec.containers) and in template.${Object.hasOwn(t.env, twice.name) ? 'env' : 'secretEnv'}`,
              'keep it in one of them',
              'podTemplate',
            );
          }
          if (t.container !== undefined && t.image === undefined) {
            fail(
              'describes how template.image runs, but there is no image',
              t.podTemplate ? "put these settings in the podTemplate's container" : 'add image: REGISTRY/NAME:TAG',
              'container',
            );
          }
        },
      ),
      // Nothing runs in this directory without a command: no default cwd, so moving the manifest of a
      // template for Kubernetes makes no new revision.
      (t, node) => {
        if (t.command !== undefined || (isMap(node) && node.items.some((p) => isScalar(p.key) && p.key.value === 'cwd'))) return t;
        const { cwd: _, ...rest } = t;
        return rest;
      },
    ),
    () => RUNS_SOMETHING,
  );

/**
 * platformRules as far as a schema can tell them: with spec.platform written, what that
 * platform needs (without it, the control plane's default decides, which an editor cannot know).
 */
const PLATFORM_SCHEMA = () => ({
  allOf: [
    {
      if: { properties: { platform: { const: 'kubernetes' } }, required: ['platform'] },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable.
      then: { properties: { template: { type: 'object', anyOf: [{ required: ['image'] }, { required: ['podTemplate'] }] } } },
    },
    {
      if: { properties: { platform: { const: 'local' } }, required: ['platform'] },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable.
      then: { properties: { template: { type: 'object', required: ['command'] }, kubernetes: false } },
    },
  ],
});

/**
 * What each platform needs of a rollout, on the platform it runs on (`spec.platform`,
 * else the control plane's default): the local platform a command and secrets it can
 * read here, Kubernetes an image (or pod template) and secrets from Kubernetes Secrets.
 * A spec may carry both sides, so that one file runs on a laptop and on a cluster.
 */
function platformRules(s: Omit<RolloutSpec, 'name' | 'labels'>, node: Node, ctx: Ctx, defaultPlatform: PlatformName): void {
  const t = s.template;
  const pod = t.podTemplate;
  for (const field of ['serviceAccountName', 'nodeSelector'] as const) {
    if (s.kubernetes?.[field] !== undefined && pod?.spec[field] !== undefined) {
      failAt(node, ctx, ['kubernetes', field], `is set in template.podTemplate.spec.${field} too`, 'keep one of them');
    }
  }
  for (const field of ['labels', 'annotations'] as const) {
    const both = Object.keys(s.kubernetes?.[field] ?? {}).find((key) => Object.hasOwn(pod?.metadata?.[field] ?? {}, key));
    if (both !== undefined) failAt(node, ctx, ['kubernetes', field, both], `is set in template.podTemplate.metadata.${field} too`, 'keep one of them');
  }
  const platform = platformOf(s, defaultPlatform);
  const platformIs = s.platform === undefined ? `this control plane's default platform is ${platform}` : `spec.platform is ${platform}`;
  if (platform === 'local') {
    if (t.command === undefined) {
      const k8s = t.image !== undefined ? 'image' : t.podTemplate !== undefined ? 'podTemplate' : undefined;
      if (k8s === undefined) failAt(node, ctx, ['template', 'command'], 'missing required field', 'add command: the program to run, e.g. node');
      failAt(node, ctx, ['template', k8s], `needs spec.platform: kubernetes (${platformIs})`, 'or give template.command to run it here');
    }
    for (const [name, ref] of Object.entries(t.secretEnv ?? {})) {
      if (!('file' in ref) && !('env' in ref)) {
        failAt(
          node,
          ctx,
          ['template', 'secretEnv', name],
          `names only a Kubernetes Secret, which the local platform cannot read (${platformIs})`,
          'add file: PATH or env: VAR beside secretKeyRef, or set spec.platform: kubernetes',
        );
      }
    }
    if (s.kubernetes !== undefined && s.platform === 'local') {
      failAt(node, ctx, ['kubernetes'], 'has no effect with spec.platform: local', 'remove it, or set spec.platform: kubernetes');
    }
    return;
  }
  if (t.image === undefined && t.podTemplate === undefined) {
    if (t.command !== undefined) {
      failAt(
        node,
        ctx,
        ['template', 'command'],
        `runs a local process, but ${platformIs}, which runs containers`,
        'add template.image (or a podTemplate); keep command to run the same spec on the local platform',
      );
    }
    failAt(node, ctx, ['template', 'image'], `missing required field (${platformIs})`, 'add image: REGISTRY/NAME:TAG, or a podTemplate');
  }
  for (const [name, ref] of Object.entries(t.secretEnv ?? {})) {
    if (ref.secretKeyRef === undefined) {
      failAt(
        node,
        ctx,
        ['template', 'secretEnv', name],
        `is read on the control plane's machine (${'file' in ref ? 'file' : 'env'}), which a pod cannot see (${platformIs})`,
        'add secretKeyRef: {name: SECRET, key: KEY} beside it (a Kubernetes Secret in the namespace)',
      );
    }
  }
}

export const DEFAULT_MAINTENANCE: Maintenance = { status: 503, body: 'Service is being updated, please retry shortly.\n', retryAfterSeconds: 5 };

const maintenance: Decoder<Maintenance> = object({
  status: withDefault(integer({ min: 200, max: 599, fix: 'use an HTTP status, e.g. 503' }), DEFAULT_MAINTENANCE.status),
  body: withDefault(text('write the response body as a string', LIMITS.bodyChars), DEFAULT_MAINTENANCE.body),
  // Retry-After is whole seconds.
  retryAfterSeconds: withDefault(map(duration(), Math.ceil), DEFAULT_MAINTENANCE.retryAfterSeconds),
});

/** Recreate's own maintenance answer; absent, traffic.maintenance is used (filled in by rolloutDocument). */
const recreate = object({
  maintenance: optional(maintenance),
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
  previewReplicaCount: optional(
    integer({ min: 1, max: LIMITS.replicas, fix: `write a whole number from 1 to ${LIMITS.replicas}, or leave it out to preview at full size` }),
  ),
  scaleDownDelaySeconds: withDefault(duration(), 30),
  prePromotionAnalysis: optional(analysisRef),
  postPromotionAnalysis: optional(analysisRef),
});

const WEIGHT = percent({ min: 0, max: 100, fix: 'use a percentage of traffic from 0 to 100' });
const WEIGHT_OF_USERS = percent({ min: 0, max: 100, fix: 'use a percentage of users from 0 to 100' });

const FLAG_KEY = string({
  fix: 'write a flag key: letters, digits, _, . and - (no "/", no ".."), e.g. new-checkout',
  pattern: FLAG_KEY_PATTERN,
  patternProblem: 'is not a valid flag key',
  maxLength: 128,
});

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function valueMatch<K extends 'exact' | 'prefix' | 'regex'>(kinds: readonly K[]) {
  const fields = {
    name: required(string({ fix: 'write the name to match', pattern: TOKEN, patternProblem: 'must be a header, cookie or parameter name' }), 'X-Canary'),
    exact: optional(text('write the value')),
    prefix: optional(text('write the prefix')),
    regex: optional(
      refine(text('write a regular expression'), (v, fail) => {
        const bad = regexProblem(v);
        if (bad !== undefined) fail(bad.problem, bad.fix);
      }),
    ),
  };
  return refine(object(fields), (v, fail) => {
    const set = (['exact', 'prefix', 'regex'] as const).filter((k) => v[k] !== undefined);
    const allowed = set.filter((k) => (kinds as readonly string[]).includes(k));
    if (set.length !== 1 || allowed.length !== 1) fail(`must set exactly one of ${kinds.join(', ')}`, `e.g. {name: ${v.name}, exact: "true"}`);
  });
}

const PATH_PREFIX = string({ fix: 'write a path starting with /', pattern: /^\//, patternProblem: 'must start with /' });
const SOURCE = string({
  fix: 'write an IPv4 address or CIDR, e.g. 10.0.0.0/8',
  pattern: /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/,
  patternProblem: 'must be an IPv4 address or CIDR',
});
const METHODS = map(
  listOf(
    string({ fix: 'write an HTTP method, e.g. GET', pattern: /^[A-Za-z]+$/, patternProblem: 'must be an HTTP method' }),
    'write methods as a list, e.g. [GET, HEAD]',
  ),
  (ms) => ms.map((m) => m.toUpperCase()),
);
const TARGET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const TARGET_FIX = 'write canary, stable or an A/B variant name';

/** `to: canary` or `to: {canary: 50, stable: 50}` (weights summing to 100). */
const routeTarget: Decoder<RouteTarget> = scalarOrMap(
  string({ fix: TARGET_FIX, pattern: TARGET_NAME, patternProblem: 'must be canary, stable or a variant name' }),
  refine(
    map(nameValueMap('target', TARGET_NAME, 'write weights as target: percent lines, e.g. {canary: 50, stable: 50}'), (m) => {
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(m)) out[k] = parsePercent(v);
      return out;
    }),
    (v, fail) => {
      const sum = Object.values(v).reduce((a, b) => a + b, 0);
      if (Object.values(v).some((w) => !Number.isFinite(w) || w < 0 || w > 100))
        fail('has a weight outside 0..100', 'write each weight as a percentage from 0 to 100');
      if (Math.abs(sum - 100) > 1e-9) fail(`weights sum to ${sum}`, 'make the weights sum to 100, e.g. {canary: 50, stable: 50}');
    },
  ),
);

const trafficRoute = object({
  name: required(text('write a route name'), 'testers'),
  match: required(
    refine(
      object({
        header: optional(valueMatch(['exact', 'prefix', 'regex'] as const)),
        cookie: optional(valueMatch(['exact', 'regex'] as const)),
        query: optional(valueMatch(['exact', 'regex'] as const)),
        pathPrefix: optional(PATH_PREFIX),
        source: optional(SOURCE),
      }),
      (v, fail) => {
        if (Object.keys(v).length === 0) fail('matches nothing', 'add header, cookie, query, pathPrefix or source');
      },
    ),
    '{header: {name: X-Canary, exact: "true"}}',
  ),
  to: required(routeTarget, 'canary (or stable, a variant name, or {canary: 50, stable: 50})'),
});

/** Conditions of a mirror route; every one given must hold. */
const requestMatch: Decoder<RequestMatch> = map(
  object({
    methods: optional(METHODS),
    header: optional(valueMatch(['exact', 'prefix', 'regex'] as const)),
    pathPrefix: optional(PATH_PREFIX),
    source: optional(SOURCE),
  }),
  ({ source, ...rest }) => ({ ...rest, ...(source ? { sourceCidr: source.includes('/') ? source : `${source}/32` } : {}) }),
);

const IGNORE_PATH = string({
  fix: 'write a JSON path like $.timestamp or $.items[*].id',
  pattern: /^\$(\.[^.[\]]+|\[(\*|\d+|"[^"]*"|'[^']*')\])*$/,
  patternProblem: 'must be a JSON path starting with $',
});

function mirrorFields() {
  return {
    name: required(text('write a route name'), 'shadow'),
    percentage: withDefault(percent({ min: 0, max: 100, fix: 'use a percentage of requests from 0 to 100' }), 100),
    match: optional(requestMatch),
    compare: optional(object({ ignorePaths: withDefault(listOf(IGNORE_PATH, 'write ignorePaths as a list, e.g. [$.timestamp]'), []) })),
    queueLimit: withDefault(integer({ min: 1, max: 100000, fix: 'write how many copies may wait or be in flight, e.g. 100' }), 100),
    maxBodyBytes: withDefault(
      integer({ min: 0, max: LIMITS.bodyBytes, fix: `write the largest request body to copy, in bytes, e.g. 1048576 (at most ${LIMITS.bodyBytes})` }),
      1 << 20,
    ),
  };
}

const regexText = refine(text('write a regular expression'), (v, fail) => {
  const bad = regexProblem(v);
  if (bad !== undefined) fail(bad.problem, bad.fix);
});

const canaryStep: Decoder<CanaryStep> = map(
  oneKey(
    {
      setWeight: WEIGHT,
      pause: object({ duration: optional(duration()) }),
      setCanaryScale: refine(
        object({
          replicas: optional(INSTANCES('canary instances')),
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
                  headerName: required(
                    string({ fix: 'write a header name', pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, patternProblem: 'must be an HTTP header name' }),
                    'X-Canary',
                  ),
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
                if (v.length !== 1)
                  fail(`has ${v.length} conditions; sluice supports exactly one header per route`, 'keep one header condition, or use two routes');
              },
            ),
            (v) => v[0]!,
          ),
        ),
      }),
      setMirrorRoute: object(mirrorFields()) as Decoder<MirrorRouteSpec>,
      // Whether the flag exists is checked at apply (it may be in another file).
      setFlag: object({
        flag: required(FLAG_KEY, 'new-checkout (a FeatureFlag key)'),
        percentage: required(percent({ min: 0, max: 100, fix: 'use a percentage of users from 0 to 100, e.g. 25%' }), '25%'),
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
        steps: optional(listOf(canaryStep, 'write steps as a list, e.g. [{setWeight: 20}, {pause: {}}]', LIMITS.steps)),
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

const shadow = object({
  mirror: withDefault(object({ ...mirrorFields(), match: withDefault(requestMatch, {}) }), () => ({
    name: 'shadow',
    percentage: 100,
    match: {},
    queueLimit: 100,
    maxBodyBytes: 1 << 20,
  })),
  shadowReplicas: optional(INSTANCES('shadow instances', 1)),
  durationSeconds: optional(duration({ min: 0, above: true })),
  analysis: optional(analysisRef),
  promoteOnAnalysisSuccess: optional(boolean('write true to switch once the analysis passed, or leave it out to wait for `sluice promote` or durationSeconds')),
});

const VARIANT_NAME = string({
  fix: 'write a short lowercase name, e.g. a or checkout-v2',
  pattern: TARGET_NAME,
  patternProblem: 'must be a lowercase name (a-z, 0-9, -)',
});

const abTestFields = object({
  variants: required(
    refine(
      map(
        listOf(
          object({
            name: required(VARIANT_NAME, 'a'),
            weight: required(WEIGHT_OF_USERS, '50'),
            version: optional(
              string({
                fix: 'write the version label of this variant, e.g. v2-c',
                maxLength: 128,
                pattern: /^\S+$/,
                patternProblem: 'must not contain spaces',
              }),
            ),
            env: optional(ENV),
            args: optional(ARGS),
          }),
          'write variants as a list of {name, weight}',
          LIMITS.variants,
        ),
        (list) =>
          list.map(({ name, weight, version, env, args }, i) => ({
            name,
            weight,
            ...(i >= 2 ? { overrides: { version: version ?? '', env: env ?? {}, ...(args ? { args } : {}) } } : {}),
            ...(i < 2 && (version !== undefined || env !== undefined || args !== undefined) ? { invalidOverrides: true } : {}),
          })),
      ),
      (v, fail) => {
        if (v.length < 2)
          fail(
            `has ${v.length} variant(s); an A/B test needs two or more: the stable revision first, then this template`,
            'list e.g. [{name: a, weight: 50}, {name: b, weight: 50}]',
          );
        const names = v.map((x) => x.name);
        const twice = names.find((n, i) => names.indexOf(n) !== i);
        if (twice !== undefined) fail(`names variant ${twice} twice`, 'give each variant its own name');
        if (names.some((n) => n === 'canary' || n === 'stable')) fail('uses canary or stable as a variant name', 'pick other names, e.g. a and b');
        if (v.some((x) => 'invalidOverrides' in x))
          fail(
            'sets version, env or args on one of the first two variants (the stable revision and this template)',
            'change the template itself; overrides are for the third variant on',
          );
        const unversioned = v.find((x) => x.overrides !== undefined && x.overrides.version === '');
        if (unversioned !== undefined)
          fail(`variant ${unversioned.name} has no version`, `give it its own version label, e.g. version: v2-${unversioned.name}`);
        const sum = v.reduce((n, x) => n + x.weight, 0);
        if (Math.abs(sum - 100) > 1e-9) fail(`weights sum to ${sum}`, 'make the weights sum to 100');
      },
    ),
    '[{name: a, weight: 50}, {name: b, weight: 50}]',
  ),
  variantHeader: withDefault(string({ fix: 'write a header name', pattern: HEADER_NAME, patternProblem: 'must be an HTTP header name' }), 'x-sluice-variant'),
  replicas: optional(INSTANCES('instances of each variant', 1)),
  analysis: optional(analysisRef),
  ...experimentFields,
});

/** The A/B test; with metrics, an experiment with statistics (src/spec/experiment.ts). */
const abTest = map(
  refine(abTestFields, (v, fail) => {
    try {
      experimentSpec(v);
    } catch (err) {
      if (err instanceof ExperimentSpecProblem) fail(err.problem, err.fix);
      throw err;
    }
  }),
  ({ metrics, userKey, userCookie, guardrails, conclusion, ...rest }) => {
    const experiment = experimentSpec({ metrics, userKey, userCookie, guardrails, conclusion });
    return { ...rest, ...(experiment ? { experiment } : {}) };
  },
);

const strategy: Decoder<Strategy> = map(
  oneKey({ recreate, rolling, blueGreen, canary, shadow, abTest }, 'strategy'),
  ({ key, value }) => ({ type: key, ...value }) as Strategy,
);

/** The whole Rollout document (apiVersion and kind already checked by load.ts). */
export interface RolloutOptions {
  /**
   * The platform of a rollout without `spec.platform`: the control plane's (`sluice up
   * --platform`, later); DEFAULT_PLATFORM when not given. Only the rules use it: the spec
   * keeps `platform` absent, as written.
   */
  defaultPlatform?: PlatformName;
}

export function rolloutDocument(file: string, options: RolloutOptions = {}): Decoder<RolloutSpec> {
  const defaultPlatform = options.defaultPlatform ?? DEFAULT_PLATFORM;
  return map(
    object({
      ...documentHeader('web', {
        // Issue 15: the environment a rollout belongs to and the service it runs (what a Pipeline's releases name).
        environment: optional(dnsLabel()),
        service: optional(dnsLabel()),
      }),
      spec: required(
        alsoSchema(
          map(
            refine(
              object({
                platform: optional(oneOf(PLATFORMS, 'write local (processes of this machine) or kubernetes (pods of a cluster)')),
                kubernetes: optional(kubernetesSettings),
                replicas: withDefault(INSTANCES('instances'), 1),
                minReadySeconds: withDefault(duration(), 0),
                revisionHistoryLimit: withDefault(COUNT('old revisions to keep', LIMITS.revisionHistory), 10),
                progressDeadlineSeconds: withDefault(duration({ min: 0, above: true }), 600),
                template: required(template(file), '{version: v1, command: node, args: [server.js]}'),
                traffic: required(
                  withDataPlane(
                    object({
                      ...(dataPlaneFields() as { router: Field<unknown> }),
                      listen: required(listenAddress(LISTEN_FIX), '127.0.0.1:8080'),
                      balancer: withDefault(oneOf(['round-robin', 'least-requests']), 'round-robin' as const),
                      routes: withDefault(listOf(trafficRoute, 'write routes as a list of {name, match, to}', LIMITS.routes), []),
                      maintenance: optional(maintenance),
                      outlierDetection: optional(
                        object({
                          consecutiveErrors: withDefault(THRESHOLD, 5),
                          baseEjectionSeconds: withDefault(duration(AT_LEAST_1MS), 30),
                          maxEjectionPercent: withDefault(percent({ min: 0, max: 100, fix: 'use a percentage of instances from 0 to 100' }), 50),
                        }),
                      ),
                      connectionLimits: optional(
                        object({
                          maxConnections: required(THRESHOLD, '100 (requests in flight per instance)'),
                          maxPending: withDefault(COUNT('requests that may wait', 100_000), 100),
                          queueTimeoutSeconds: withDefault(duration(AT_LEAST_1MS), 5),
                        }),
                      ),
                      timeouts: optional(object({ connectSeconds: optional(duration(AT_LEAST_1MS)), responseSeconds: optional(duration(AT_LEAST_1MS)) })),
                      bufferRequests: optional(
                        object({
                          maxBytes: withDefault(
                            integer({
                              min: 1,
                              max: LIMITS.bodyBytes,
                              fix: `write the largest body to buffer, in bytes, e.g. 10485760 (at most ${LIMITS.bodyBytes})`,
                            }),
                            10 << 20,
                          ),
                        }),
                      ),
                      sticky: optional(
                        map(
                          oneKey(
                            {
                              cookie: object({
                                name: optional(
                                  string({ fix: 'write a cookie name', pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, patternProblem: 'must be a cookie name' }),
                                ),
                                maxAgeSeconds: optional(duration({ min: 0, above: true })),
                              }),
                              header: string({
                                fix: 'write the header that identifies a user, e.g. x-user-id',
                                pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
                                patternProblem: 'must be a header name',
                              }),
                              hashCookie: string({
                                fix: 'write the application cookie that identifies a session',
                                pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
                                patternProblem: 'must be a cookie name',
                              }),
                            },
                            'stickiness key',
                          ),
                          ({ key, value }) => ({ [key]: value }) as Stickiness,
                        ),
                      ),
                    }),
                  ),
                  '{listen: 127.0.0.1:8080}',
                ),
                strategy: required(strategy, '{rolling: {}} (or recreate, blueGreen, canary, shadow, abTest)'),
                hooks: hooksField,
                smokeTests: smokeTestsField,
                notifications: notificationsField,
                database: optional(databaseField(file)),
                flags: optional(
                  object({
                    killOnAbort: withDefault(listOf(FLAG_KEY, 'write killOnAbort as a list of flag keys, e.g. [new-checkout]'), []),
                  }),
                ),
              }),
              (s, fail) => {
                const targets = s.strategy.type === 'abTest' ? ['canary', 'stable', ...s.strategy.variants.map((v) => v.name)] : ['canary', 'stable'];
                for (const r of s.traffic.routes) {
                  const named = typeof r.to === 'string' ? [r.to] : Object.keys(r.to);
                  const unknown = named.find((t) => !targets.includes(t));
                  if (unknown !== undefined) {
                    fail(`route ${r.name} sends to "${unknown}", which is not a target here`, `use ${targets.join(', ')}`, 'traffic');
                  }
                }
                const router = (s.traffic as { router?: unknown }).router;
                if (s.strategy.type === 'abTest' && s.strategy.experiment !== undefined && router !== undefined && router !== 'builtin') {
                  fail(
                    `runs an experiment (abTest metrics) on the ${String(router)} data plane, which cannot assign users by hash nor record goals`,
                    'leave traffic.router out (the builtin router runs experiments), or drop the metrics',
                    'traffic',
                  );
                }
                if (s.progressDeadlineSeconds <= s.minReadySeconds) {
                  fail(
                    `must be greater than minReadySeconds (${s.minReadySeconds}), got ${s.progressDeadlineSeconds}`,
                    'raise progressDeadlineSeconds or lower minReadySeconds',
                    'progressDeadlineSeconds',
                  );
                }
              },
            ),
            (s, node, ctx) => {
              platformRules(s, node, ctx, defaultPlatform);
              return s;
            },
          ),
          PLATFORM_SCHEMA,
        ),
        '{template: …, traffic: …, strategy: …}',
      ),
    }),
    (d) => {
      const { name, labels, environment, service } = d.metadata;
      const spec = { name, labels, ...(environment ? { environment } : {}), ...(service ? { service } : {}), ...d.spec };
      if (spec.strategy.type === 'recreate' && spec.strategy.maintenance === undefined)
        spec.strategy = { ...spec.strategy, maintenance: spec.traffic.maintenance ?? DEFAULT_MAINTENANCE };
      return spec as RolloutSpec;
    },
  );
}

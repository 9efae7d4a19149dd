import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRollouts } from '../../src/spec/load.js';
import { formatDuration, parseDuration, parseIntOrPercent, parsePercent } from '../../src/spec/duration.js';
import { resolveIntOrPercent, resolveSurgeAndUnavailable } from '../../src/spec/resolve.js';
import { lintFile } from '../../src/spec/lint.js';
import { UserError } from '../../src/util/errors.js';
import type { CanaryStrategy, RolloutSpec } from '../../src/core/spec.js';

const FILE = 'deploy/web.yaml';

function doc(strategy: string, extra = '', name = 'web', listen = '127.0.0.1:8080'): string {
  return `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: ${name}
spec:
  replicas: 3${extra}
  template:
    version: v2
    command: node
  traffic:
    listen: ${listen}
  strategy:
${strategy}
`;
}

function load(text: string): RolloutSpec {
  const loaded = loadRollouts(text, FILE);
  assert.equal(loaded.length, 1);
  return loaded[0]!.spec;
}

/** Asserts the exact one-line error. */
function fails(text: string, message: string): void {
  assert.throws(
    () => loadRollouts(text, FILE),
    (err: unknown) => {
      assert.ok(err instanceof UserError, `expected UserError, got ${String(err)}`);
      assert.equal(err.message, message);
      assert.ok(!err.message.includes('\n'), 'message is one line');
      return true;
    },
  );
}

const DEFAULT_PROBES = {
  readiness: { tcpSocket: {}, initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
};

test('recreate: every default filled in', () => {
  const spec = load(doc('    recreate: {}'));
  assert.deepEqual(spec, {
    name: 'web',
    labels: {},
    replicas: 3,
    minReadySeconds: 0,
    revisionHistoryLimit: 10,
    progressDeadlineSeconds: 600,
    template: {
      version: 'v2',
      command: 'node',
      args: [],
      env: {},
      cwd: resolve('deploy'),
      probes: DEFAULT_PROBES,
      shutdown: { drainSeconds: 30, preStopDelaySeconds: 0, terminationGracePeriodSeconds: 30 },
    },
    traffic: { listen: '127.0.0.1:8080', balancer: 'round-robin', routes: [] },
    strategy: {
      type: 'recreate',
      maintenance: { status: 503, body: 'Service is being updated, please retry shortly.\n', retryAfterSeconds: 5 },
    },
    hooks: { webhooks: [], exec: [] },
    smokeTests: [],
    notifications: [],
  });
});

test('recreate: an empty strategy value means all defaults', () => {
  assert.equal(load(doc('    recreate:')).strategy.type, 'recreate');
});

test('rolling: defaults and explicit values', () => {
  assert.deepEqual(load(doc('    rolling: {}')).strategy, {
    type: 'rolling',
    maxSurge: { percent: 25 },
    maxUnavailable: { percent: 25 },
    pauseSeconds: 0,
  });
  assert.deepEqual(load(doc('    rolling: {maxSurge: 1, maxUnavailable: "0%", pauseSeconds: 1m30s}')).strategy, {
    type: 'rolling',
    maxSurge: { count: 1 },
    maxUnavailable: { percent: 0 },
    pauseSeconds: 90,
  });
});

test('blueGreen: defaults', () => {
  assert.deepEqual(load(doc('    blueGreen: {previewListen: 127.0.0.1:8081}')).strategy, {
    type: 'blueGreen',
    previewListen: '127.0.0.1:8081',
    autoPromotionEnabled: true,
    autoPromotionSeconds: 0,
    scaleDownDelaySeconds: 30,
  });
});

test('canary: steps of every kind; an empty list is allowed', () => {
  const strategy = load(
    doc(`    canary:
      canaryListen: 127.0.0.1:8082
      maxUnavailable: 0
      steps:
        - setWeight: 20
        - pause: {duration: 30s}
        - setWeight: "50%"
        - pause: {}
        - setCanaryScale: {replicas: 2}
        - setCanaryScale: {weight: 50}
        - setCanaryScale: {matchTrafficWeight: true}
        - pause:`),
  ).strategy as CanaryStrategy;
  assert.deepEqual(strategy, {
    type: 'canary',
    canaryListen: '127.0.0.1:8082',
    maxSurge: { percent: 25 },
    maxUnavailable: { count: 0 },
    steps: [
      { setWeight: 20 },
      { pause: { duration: 30 } },
      { setWeight: 50 },
      { pause: {} },
      { setCanaryScale: { replicas: 2 } },
      { setCanaryScale: { weight: 50 } },
      { setCanaryScale: { matchTrafficWeight: true } },
      { pause: {} },
    ],
  });
  assert.deepEqual((load(doc('    canary: {}')).strategy as CanaryStrategy).steps, []);
});

test('template: env map and list forms, stringified scalars, cwd, probes', () => {
  const spec = load(`apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  template:
    version: "1.10"
    command: node
    args: [server.js, --port, 8080]
    env: {A: 1.10, B: true, C: text, D:}
    cwd: ./app
    probes:
      readiness: {httpGet: {path: /healthz, headers: {X-Probe: "1"}}, periodSeconds: 0.5}
      liveness: {exec: {command: [sh, -c, "true"]}}
      startup: {tcpSocket: {port: 9000}, failureThreshold: 30}
    shutdown: {drainSeconds: 1m}
  traffic: {listen: 127.0.0.1:8080}
  strategy: {recreate: {}}
`);
  assert.equal(spec.replicas, 1);
  assert.equal(spec.template.version, '1.10');
  assert.deepEqual(spec.template.args, ['server.js', '--port', '8080']);
  assert.deepEqual(spec.template.env, { A: '1.10', B: 'true', C: 'text', D: '' });
  assert.equal(spec.template.cwd, resolve('deploy/app'));
  assert.deepEqual(spec.template.probes, {
    readiness: {
      httpGet: { path: '/healthz', scheme: 'http', headers: { 'X-Probe': '1' } },
      initialDelaySeconds: 0,
      periodSeconds: 0.5,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    },
    liveness: {
      exec: { command: ['sh', '-c', 'true'] },
      initialDelaySeconds: 0,
      periodSeconds: 10,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    },
    startup: { tcpSocket: { port: 9000 }, initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 30 },
  });
  assert.deepEqual(spec.template.shutdown, { drainSeconds: 60, preStopDelaySeconds: 0, terminationGracePeriodSeconds: 30 });

  const listForm = load(doc('    recreate: {}').replace('    command: node\n', '    command: node\n    env: [{name: A, value: x}, {name: B}]\n'));
  assert.deepEqual(listForm.template.env, { A: 'x', B: '' });
});

test('several documents load in order, with source text and line', () => {
  const text = `${doc('    recreate: {}')}---\n${doc('    rolling: {}', '', 'api', '127.0.0.1:9090')}`;
  const loaded = loadRollouts(text, FILE);
  assert.deepEqual(
    loaded.map((l) => [l.spec.name, l.line, l.file]),
    [
      ['web', 1, FILE],
      ['api', 15, FILE],
    ],
  );
  assert.ok(loaded[1]!.source.startsWith('apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: api\n'));
  assert.ok(!loaded[0]!.source.includes('name: api'));
});

test('error: malformed YAML', () => {
  fails(
    doc('    recreate: {}').replace('command: node', 'command: [node'),
    `${FILE}:10:3: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ] — fix the YAML syntax`,
  );
  fails('a: b\n  c: d\n', `${FILE}:1:4: YAML syntax error: Nested mappings are not allowed in compact mappings — fix the YAML syntax`);
});

test('error: empty file', () => {
  fails('', `${FILE}:1:1: the file has no documents — add a Rollout (see examples/ and docs/spec.md)`);
  fails('# only a comment\n---\n', `${FILE}:1:1: the file has no documents — add a Rollout (see examples/ and docs/spec.md)`);
});

test('error: unknown field, with and without a suggestion', () => {
  fails(doc('    recreate: {}').replace('replicas: 3', 'replcas: 3'), `${FILE}:6:3: spec.replcas: unknown field "replcas" — did you mean "replicas"?`);
  fails(doc('    canary: {stpes: []}'), `${FILE}:13:14: spec.strategy.canary.stpes: unknown field "stpes" — did you mean "steps"?`);
  fails(
    doc('    recreate: {colour: blue}'),
    `${FILE}:13:16: spec.strategy.recreate.colour: unknown field "colour" — remove it; known fields here: maintenance, postDeploy`,
  );
});

test('error: wrong type and out-of-range values', () => {
  fails(
    doc('    recreate: {}').replace('replicas: 3', 'replicas: "three"'),
    `${FILE}:6:13: spec.replicas: must be a whole number, got "three" — write a whole number of instances from 0 to 1000`,
  );
  fails(
    doc('    recreate: {}').replace('replicas: 3', 'replicas: -1'),
    `${FILE}:6:13: spec.replicas: must be between 0 and 1000, got -1 — write a whole number of instances from 0 to 1000`,
  );
  fails(doc('    recreate: {}').replace('version: v2', 'version: 2'), `${FILE}:8:14: spec.template.version: must be a string, got 2 — quote it: "2"`);
  fails(
    doc('    recreate: {}').replace('listen: 127.0.0.1:8080', 'listen: 8080'),
    `${FILE}:11:13: spec.traffic.listen: must be host:port, got 8080 — write 127.0.0.1:8080`,
  );
});

test('error: setWeight above 100', () => {
  fails(
    doc('    canary:\n      steps:\n        - setWeight: 20\n        - setWeight: 120'),
    `${FILE}:16:22: spec.strategy.canary.steps[1].setWeight: must be between 0 and 100, got 120 — use a percentage of traffic from 0 to 100`,
  );
});

test('error: missing required fields point at the parent mapping', () => {
  fails(
    doc('    recreate: {}').replace('    command: node\n', ''),
    `${FILE}:8:5: spec.template.command: missing required field — add command: the program to run, e.g. node`,
  );
  fails(
    doc('    recreate: {}').replace('metadata:\n  name: web\n', 'metadata:\n  labels: {team: x}\n'),
    `${FILE}:4:3: metadata.name: missing required field — add name: web (a lowercase DNS label)`,
  );
  fails(doc('    recreate: {}').replace('  name: web\n', ''), `${FILE}:3:1: metadata.name: missing required field — add name: web (a lowercase DNS label)`);
});

test('error: bad duration', () => {
  fails(
    doc('    canary:\n      steps:\n        - pause: {duration: 10 minutes}'),
    `${FILE}:15:29: spec.strategy.canary.steps[0].pause.duration: must be a duration like 30s, 5m, 1h30m, 500ms or a number of seconds, got "10 minutes" — write 10m`,
  );
});

test('error: two strategies at once', () => {
  fails(
    doc('    rolling: {}\n    canary: {}'),
    `${FILE}:14:5: spec.strategy.canary: only one strategy may be set, but rolling is set too — keep exactly one of recreate, rolling, blueGreen, canary, shadow, abTest`,
  );
});

test('error: duplicate listen address, across documents and within one', () => {
  const text = `${doc('    recreate: {}')}---\n${doc('    recreate: {}', '', 'api')}`;
  fails(
    text,
    `${FILE}:25:13: spec.traffic.listen: 127.0.0.1:8080 is already used by spec.traffic.listen of rollout "web" at line 11 — give each listener its own port`,
  );
  fails(
    doc('    blueGreen: {previewListen: "localhost:8080"}'),
    `${FILE}:13:32: spec.strategy.blueGreen.previewListen: localhost:8080 is already used by spec.traffic.listen of rollout "web" at line 11 — give each listener its own port`,
  );
});

test('error: wrong kind and apiVersion', () => {
  fails(
    doc('    recreate: {}').replace('kind: Rollout', 'kind: Deployment'),
    `${FILE}:2:7: kind: must be Rollout, AnalysisTemplate, FeatureFlag, FeatureFlags, Environment or Pipeline, got "Deployment" — sluice reads kind: Rollout, AnalysisTemplate, FeatureFlag, FeatureFlags, Environment, Pipeline`,
  );
  fails(
    doc('    recreate: {}').replace('kind: Rollout', 'kind: Rolout'),
    `${FILE}:2:7: kind: must be Rollout, AnalysisTemplate, FeatureFlag, FeatureFlags, Environment or Pipeline, got "Rolout" — did you mean "Rollout"?`,
  );
  fails(
    doc('    recreate: {}').replace('sluice.dev/v1alpha1', 'argoproj.io/v1alpha1'),
    // Issue 17: argoproj.io/v1alpha1 Rollouts are imported (docs/import.md); a sluice-shaped one is told so.
    `${FILE}:1:13: apiVersion: is argoproj.io/v1alpha1, but spec.template is sluice's ({version, command…}), not a pod template — write apiVersion: sluice.dev/v1alpha1 (or an Argo Rollout with a PodTemplateSpec)`,
  );
});

test('error: cross-field rules', () => {
  fails(
    doc('    rolling: {maxSurge: 0, maxUnavailable: "0%"}'),
    `${FILE}:13:14: spec.strategy.rolling: maxSurge and maxUnavailable are both 0, so no instance could ever be replaced — set maxSurge or maxUnavailable above 0`,
  );
  fails(
    doc('    canary:\n      steps:\n        - setCanaryScale: {replicas: 1, weight: 10}'),
    `${FILE}:15:27: spec.strategy.canary.steps[0].setCanaryScale: sets replicas and weight — set exactly one of replicas, weight, matchTrafficWeight`,
  );
  fails(
    doc('    recreate: {}').replace('    command: node\n', '    command: node\n    probes: {readiness: {periodSeconds: 2}}\n'),
    `${FILE}:10:25: spec.template.probes.readiness: needs a check — use exactly one of httpGet, tcpSocket, exec`,
  );
});

test('error: the first problem wins, documents in order; no partial result', () => {
  const text = `${doc('    recreate: {}').replace('replicas: 3', 'replicas: x')}---\n${doc('    bogus: {}', '', 'api', '127.0.0.1:9090')}`;
  fails(text, `${FILE}:6:13: spec.replicas: must be a whole number, got "x" — write a whole number of instances from 0 to 1000`);
});

test('durations', () => {
  assert.equal(parseDuration('30s'), 30);
  assert.equal(parseDuration('5m'), 300);
  assert.equal(parseDuration('1h'), 3600);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration('500ms'), 0.5);
  assert.equal(parseDuration('300ms'), 0.3);
  assert.equal(parseDuration('1.5s'), 1.5);
  assert.equal(parseDuration('45'), 45);
  assert.equal(parseDuration(0.5), 0.5);
  assert.equal(parseDuration(0), 0);
  for (const bad of ['10 minutes', '', '5d', '-1s', 's', '1h 30m', '1.2.3s']) assert.throws(() => parseDuration(bad), RangeError, bad);
  assert.throws(() => parseDuration(-1), RangeError);
  assert.equal(formatDuration(90), '1m30s');
  assert.equal(formatDuration(0.5), '500ms');
  assert.equal(formatDuration(3600), '1h');
});

test('percentages and int-or-percent', () => {
  assert.equal(parsePercent('25%'), 25);
  assert.equal(parsePercent(25), 25);
  assert.equal(parsePercent('12.5%'), 12.5);
  assert.throws(() => parsePercent('abc'), RangeError);
  assert.throws(() => parsePercent(-5), RangeError);
  assert.deepEqual(parseIntOrPercent('25%'), { percent: 25 });
  assert.deepEqual(parseIntOrPercent(2), { count: 2 });
  assert.deepEqual(parseIntOrPercent('2'), { count: 2 });
  assert.throws(() => parseIntOrPercent('2.5%'), RangeError);
  assert.throws(() => parseIntOrPercent(1.5), RangeError);
});

test('resolveIntOrPercent rounds like Kubernetes', () => {
  assert.equal(resolveIntOrPercent({ percent: 25 }, 3, true), 1);
  assert.equal(resolveIntOrPercent({ percent: 25 }, 3, false), 0);
  assert.equal(resolveIntOrPercent({ percent: 10 }, 30, false), 3);
  assert.equal(resolveIntOrPercent({ count: 2 }, 3, false), 2);
  assert.deepEqual(resolveSurgeAndUnavailable({ count: 0 }, { percent: 25 }, 3), { surge: 0, unavailable: 1 });
  assert.deepEqual(resolveSurgeAndUnavailable({ percent: 25 }, { percent: 25 }, 4), { surge: 1, unavailable: 1 });
});

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

test('every examples/*.yaml loads, and the demo manifests share one shape', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 4, `found ${files.join(', ')}`);
  const types = new Set<string>();
  const listens: string[] = [];
  for (const f of files) {
    const path = join(EXAMPLES, f);
    for (const { spec } of loadRollouts(readFileSync(path, 'utf8'), path)) {
      types.add(spec.strategy.type);
      assert.equal(spec.template.cwd, resolve(EXAMPLES));
      assert.match(spec.traffic.listen, /^127\.0\.0\.1:\d+$/);
      listens.push(spec.traffic.listen);
      const s = spec.strategy;
      if (s.type === 'blueGreen' && s.previewListen) listens.push(s.previewListen);
      if (s.type === 'canary' && s.canaryListen) listens.push(s.canaryListen);
      assert.equal(spec.replicas, 3);
      assert.equal(spec.template.probes.readiness.httpGet?.path, '/healthz');
    }
  }
  assert.deepEqual([...types].sort(), ['abTest', 'blueGreen', 'canary', 'recreate', 'rolling', 'shadow']);
  // `sluice apply -f examples/` applies them all side by side: every address its own port.
  assert.equal(new Set(listens.map((l) => l.split(':')[1])).size, listens.length, `ports shared: ${listens.join(', ')}`);
  const canary = loadRollouts(readFileSync(join(EXAMPLES, 'canary.yaml'), 'utf8'), 'canary.yaml')[0]!.spec.strategy as CanaryStrategy;
  assert.deepEqual(canary.steps, [
    { setWeight: 20 },
    { pause: { duration: 10 } },
    { setWeight: 50 },
    { pause: {} },
    { setWeight: 80 },
    { pause: { duration: 5 } },
  ]);
});

test('lint: warnings for risky but valid specs; errors reported, not thrown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-lint-'));
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const risky = lintFile(
    write(
      'risky.yaml',
      `${doc('    canary:\n      steps: [{setWeight: 50}]')}---\n${doc('    rolling: {maxUnavailable: 1}', '', 'one', '127.0.0.1:8090').replace('replicas: 3', 'replicas: 1')}---\n${doc('    blueGreen: {}', '', 'bg', '127.0.0.1:8091')}`,
    ),
  );
  assert.equal(risky.ok, true);
  assert.equal(risky.rollouts.length, 3);
  const has = (needle: string) =>
    assert.ok(
      risky.warnings.some((w) => w.includes(needle)),
      `${needle} in ${risky.warnings.join('\n')}`,
    );
  has('rollout "web": spec.strategy.canary.steps: has no pause');
  has('rollout "one": spec.strategy.rolling.maxUnavailable');
  has('rollout "bg": spec.strategy.blueGreen: promotes automatically and has no previewListen');

  const bad = lintFile(write('bad.yaml', 'kind: Rollout\n'));
  assert.equal(bad.ok, false);
  assert.match(bad.error ?? '', /bad\.yaml:1:1: apiVersion: missing required field/);
  assert.equal(lintFile(join(dir, 'missing.yaml')).ok, false);

  const clean = lintFile(join(EXAMPLES, 'blue-green.yaml'));
  assert.deepEqual([clean.ok, clean.warnings], [true, []]);
});

test('shadow, abTest, setMirrorRoute and traffic resilience: defaults and one-line errors', () => {
  const shadow = load(doc('    shadow: {durationSeconds: 5m}'));
  assert.deepEqual(shadow.strategy, {
    type: 'shadow',
    mirror: { name: 'shadow', percentage: 100, match: {}, queueLimit: 100, maxBodyBytes: 1048576 },
    durationSeconds: 300,
  });
  const ab = load(doc('    abTest: {variants: [{name: a, weight: 50}, {name: b, weight: 50}]}'));
  assert.deepEqual(ab.strategy, {
    type: 'abTest',
    variants: [
      { name: 'a', weight: 50 },
      { name: 'b', weight: 50 },
    ],
    variantHeader: 'x-sluice-variant',
  });

  const three = load(
    doc('    abTest: {variants: [{name: a, weight: 34}, {name: b, weight: 33}, {name: c, weight: 33, version: v2-c, env: {CHECKOUT: one-page}}]}'),
  );
  assert.deepEqual((three.strategy as { variants: unknown }).variants, [
    { name: 'a', weight: 34 },
    { name: 'b', weight: 33 },
    { name: 'c', weight: 33, overrides: { version: 'v2-c', env: { CHECKOUT: 'one-page' } } },
  ]);
  fails(
    doc('    abTest: {variants: [{name: a, weight: 50}, {name: b, weight: 25}, {name: c, weight: 25}]}'),
    `${FILE}:13:24: spec.strategy.abTest.variants: variant c has no version — give it its own version label, e.g. version: v2-c`,
  );
  fails(
    doc('    abTest: {variants: [{name: a, weight: 50}, {name: b, weight: 50, version: v9}]}'),
    `${FILE}:13:24: spec.strategy.abTest.variants: sets version, env or args on one of the first two variants (the stable revision and this template) — change the template itself; overrides are for the third variant on`,
  );
  fails(
    doc('    abTest: {variants: [{name: a, weight: 50}, {name: b, weight: 40}]}'),
    `${FILE}:13:24: spec.strategy.abTest.variants: weights sum to 90 — make the weights sum to 100`,
  );
  fails(
    doc('    canary: {steps: [{setMirrorRoute: {name: m, match: {}, compare: {ignorePaths: [timestamp]}}}]}'),
    `${FILE}:13:84: spec.strategy.canary.steps[0].setMirrorRoute.compare.ignorePaths[0]: must be a JSON path starting with $, got "timestamp" — write a JSON path like $.timestamp or $.items[*].id`,
  );
  const routed = (to: string) =>
    doc('    canary: {}').replace(
      '    listen: 127.0.0.1:8080\n',
      `    listen: 127.0.0.1:8080\n    routes: [{name: premium, match: {header: {name: x-user-segment, exact: premium}}, to: ${to}}]\n`,
    );
  const spec = load(routed('{canary: 50, stable: 50}'));
  assert.deepEqual(spec.traffic.routes[0]!.to, { canary: 50, stable: 50 });
  fails(
    routed('{canary: 50, stable: 40}'),
    `${FILE}:12:91: spec.traffic.routes[0].to: weights sum to 90 — make the weights sum to 100, e.g. {canary: 50, stable: 50}`,
  );
  fails(routed('b'), `${FILE}:11:5: spec.traffic: route premium sends to "b", which is not a target here — use canary, stable`);
  fails(
    doc('    rolling: {}').replace('    listen: 127.0.0.1:8080\n', '    listen: 127.0.0.1:8080\n    outlierDetection: {consecutiveErrors: 0}\n'),
    `${FILE}:12:43: spec.traffic.outlierDetection.consecutiveErrors: must be ≥ 1, got 0 — write a whole number ≥ 1`,
  );
});

test('lint: mirroring writes and an unchecked shadow are warned about', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-lint-'));
  const file = join(dir, 'web.yaml');
  writeFileSync(file, doc('    shadow:\n      mirror: {name: dark, match: {methods: [GET, POST]}}'));
  const r = lintFile(file);
  assert.equal(r.ok, true);
  const warnings = r.warnings.filter((w) => w.includes('shadow'));
  assert.equal(warnings.length, 2, r.warnings.join('\n'));
  assert.match(warnings[0]!, /spec\.strategy\.shadow\.mirror\.match\.methods: copies POST requests, so the shadow performs every such write a second time/);
  assert.match(warnings[1]!, /spec\.strategy\.shadow: neither compares answers nor runs analysis/);
  writeFileSync(file, doc('    shadow:\n      mirror: {name: dark, compare: {ignorePaths: [$.ts]}}'));
  assert.deepEqual(
    lintFile(file).warnings.filter((w) => w.includes('shadow')),
    [],
  );
  writeFileSync(
    file,
    doc('    shadow:\n      mirror: {name: dark, compare: {ignorePaths: [$.ts]}}').replace(
      '    listen: 127.0.0.1:8080\n',
      '    listen: 127.0.0.1:8080\n    router: nginx\n',
    ),
  );
  assert.ok(lintFile(file).warnings.some((w) => /spec\.traffic\.router: is nginx, which copies requests but cannot compare answers/.test(w)));
});

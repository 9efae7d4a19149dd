import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadResources, loadRollouts } from '../../src/spec/load.js';
import { lintFile } from '../../src/spec/lint.js';
import { LIMITS } from '../../src/spec/limits.js';
import { decodeSpecFile, readSpecFile } from '../../src/spec/source.js';
import { UserError } from '../../src/util/errors.js';

const FILE = 'deploy/web.yaml';

function rollout({ name = 'web', spec = '', template = '', strategy = 'rolling: {}', listen = '127.0.0.1:8080' } = {}): string {
  return `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: ${name}
spec:
${spec}  template:
    version: v1
    command: node
${template}  traffic:
    listen: ${listen}
  strategy:
    ${strategy}
`;
}

function failsWith(text: string, pattern: RegExp): string {
  try {
    loadRollouts(text, FILE);
  } catch (err) {
    assert.ok(err instanceof UserError, `expected UserError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    assert.match(err.message, pattern);
    return err.message;
  }
  assert.fail(`loaded, expected ${pattern}`);
}

test('replicas: 1e9 and other huge counts are refused, naming the field and the limit', () => {
  failsWith(rollout({ spec: '  replicas: 1e9\n' }), /^deploy\/web\.yaml:6:13: spec\.replicas: must be between 0 and 1000, got 1000000000 — /);
  failsWith(rollout({ spec: '  replicas: 1001\n' }), /spec\.replicas: must be between 0 and 1000, got 1001/);
  assert.equal(loadRollouts(rollout({ spec: '  replicas: 1000\n' }), FILE)[0]!.spec.replicas, 1000);
  failsWith(rollout({ spec: '  revisionHistoryLimit: 100000\n' }), /spec\.revisionHistoryLimit: must be between 0 and 100, got 100000/);
  failsWith(rollout({ strategy: 'rolling: {maxSurge: 100000}' }), /spec\.strategy\.rolling\.maxSurge: must be ≤ 1000, got 100000/);
  failsWith(rollout({ strategy: 'rolling: {maxUnavailable: "500%"}' }), /spec\.strategy\.rolling\.maxUnavailable: must be ≤ 100, got 500%/);
  failsWith(rollout({ strategy: 'blueGreen: {previewReplicaCount: 5000}' }), /previewReplicaCount: must be between 1 and 1000, got 5000/);
  failsWith(rollout({ strategy: 'shadow: {shadowReplicas: 5000}' }), /shadowReplicas: must be between 1 and 1000, got 5000/);
  failsWith(rollout({ strategy: 'canary: {steps: [{setCanaryScale: {replicas: 5000}}]}' }), /steps\[0\]\.setCanaryScale\.replicas: must be between 0 and 1000/);
  failsWith(rollout({ strategy: 'canary: {steps: [{setWeight: 1e9}]}' }), /setWeight: must be between 0 and 100/);
  failsWith(
    rollout({ template: '    probes: {readiness: {httpGet: {}, failureThreshold: 1e12}}\n' }),
    /failureThreshold: must be at most 1000000 \(sluice's limit\), got 1000000000000/,
  );
  failsWith(rollout({ spec: '  traffic: {}\n' }), /spec\.traffic: is set twice \(first at line 6\)/);
});

test('durations, bodies, lists, env and strings have upper bounds', () => {
  failsWith(rollout({ spec: '  minReadySeconds: 8d\n' }), /not a duration|must be a duration/);
  failsWith(rollout({ spec: '  minReadySeconds: 200h\n' }), /spec\.minReadySeconds: must be at most 168h \(sluice's limit for any duration\), got "200h"/);
  failsWith(rollout({ strategy: 'canary: {steps: [{pause: {duration: 1e9}}]}' }), /steps\[0\]\.pause\.duration: must be at most 168h/);
  const steps = Array.from({ length: LIMITS.steps + 1 }, () => '{setWeight: 1}').join(', ');
  failsWith(rollout({ strategy: `canary: {steps: [${steps}]}` }), /spec\.strategy\.canary\.steps: has 101 items, more than the limit of 100/);
  failsWith(rollout({ strategy: 'canary: {analysis: {stepWeight: 0.01, maxWeight: 100}}' }), /makes 10000 weights, more than the limit of 50/);
  const env = Array.from({ length: LIMITS.envEntries + 1 }, (_, i) => `K${i}: v`).join(', ');
  failsWith(rollout({ template: `    env: {${env}}\n` }), /spec\.template\.env: has 1001 environment variables, more than the limit of 1000/);
  failsWith(
    rollout({ template: `    env: {BIG: ${'x'.repeat(LIMITS.envValueChars + 1)}}\n` }),
    /spec\.template\.env\.BIG: must be at most 32768 characters, got 32769/,
  );
  const wide = Array.from({ length: 9 }, (_, i) => `K${i}: ${'x'.repeat(30_000)}`).join(', ');
  failsWith(rollout({ template: `    env: {${wide}}\n` }), /spec\.template\.env: names and values add up to more than 262144 characters/);
  failsWith(
    rollout({ template: `    args: [${'a'.repeat(LIMITS.textChars)}, ${Array.from({ length: 1000 }, () => 'b').join(', ')}]\n` }),
    /spec\.template\.args: has 1001 items, more than the limit of 1000/,
  );
  failsWith(rollout({ template: `    cwd: ${'n'.repeat(LIMITS.textChars + 1)}\n` }), /spec\.template\.cwd: must be at most 4096 characters, got 4097/);
  failsWith(
    rollout({ strategy: `recreate: {maintenance: {body: ${'x'.repeat(LIMITS.bodyChars + 1)}}}` }),
    /maintenance\.body: must be at most 65536 characters/,
  );
  const routes = Array.from({ length: LIMITS.routes + 1 }, (_, i) => `{name: r${i}, match: {pathPrefix: /a}, to: canary}`).join(', ');
  failsWith(
    rollout({ strategy: 'canary: {}' }).replace('    listen: 127.0.0.1:8080\n', `    listen: 127.0.0.1:8080\n    routes: [${routes}]\n`),
    /spec\.traffic\.routes: has 101 items, more than the limit of 100/,
  );
  failsWith(
    rollout().replace('    listen: 127.0.0.1:8080\n', '    listen: 127.0.0.1:8080\n    bufferRequests: {maxBytes: 1e12}\n'),
    /spec\.traffic\.bufferRequests\.maxBytes: must be between 1 and 67108864, got 1000000000000/,
  );
  failsWith(
    rollout({ strategy: 'canary: {steps: [{setMirrorRoute: {name: m, maxBodyBytes: 1e10}}]}' }),
    /setMirrorRoute\.maxBodyBytes: must be between 0 and 67108864/,
  );
});

test('two documents with the same kind and name: an error naming both lines', () => {
  const text = `${rollout()}---\n${rollout({ listen: '127.0.0.1:8081' })}`;
  assert.throws(() => loadResources(text, FILE), {
    message: 'deploy/web.yaml:14: Rollout "web" is defined twice, at lines 1 and 14 — keep one of them, or rename one',
  });
  // Same name, different kinds: two resources.
  const template =
    'apiVersion: sluice.dev/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: web}\nspec:\n  metrics: [{name: e, provider: {builtin: {metric: error-rate}}, successCondition: result <= 0.01}]\n';
  assert.equal(loadResources(`${rollout()}---\n${template}`, FILE).length, 2);
});

test('a file that is not UTF-8 is refused with the byte offset; the size error names the file', () => {
  const good = Buffer.from(rollout().replace('v1', 'v1-é'));
  assert.match(decodeSpecFile(good, FILE), /v1-é/);
  const bad = Buffer.concat([Buffer.from('apiVersion: x\n# caf'), Buffer.from([0xe9]), Buffer.from('\n')]);
  assert.throws(() => decodeSpecFile(bad, FILE), { message: 'deploy/web.yaml: is not valid UTF-8 at byte 19 — save the file as UTF-8' });
  // Overlong encodings and surrogates are not UTF-8 either.
  assert.throws(() => decodeSpecFile(Buffer.from([0x61, 0xc0, 0xaf]), FILE), /at byte 1 /);
  assert.throws(() => decodeSpecFile(Buffer.from([0x61, 0x62, 0xed, 0xa0, 0x80]), FILE), /at byte 2 /);

  const dir = mkdtempSync(join(tmpdir(), 'sluice-limits-'));
  const big = join(dir, 'big.yaml');
  writeFileSync(big, `${rollout()}# ${'x'.repeat(5 * 1024 * 1024)}\n`);
  assert.throws(() => readSpecFile(big), {
    message: new RegExp(`^${big}: is \\d+ bytes, more than the limit of 524288 bytes \\(512 KiB\\) for one manifest — split it into several files$`),
  });
  assert.match(lintFile(big).error ?? '', new RegExp(`^${big}: is \\d+ bytes`));
  // The API path (text handed to the control plane) names the file too.
  assert.throws(() => loadResources(`${rollout()}# ${'é'.repeat(300 * 1024)}\n`, FILE), {
    message: /^deploy\/web\.yaml: is \d+ bytes, more than the limit of 524288 bytes/,
  });
  const latin = join(dir, 'latin1.yaml');
  writeFileSync(latin, Buffer.concat([Buffer.from(rollout().replace('version: v1', 'version: v1-caf')), Buffer.from([0xe9])]));
  assert.match(lintFile(latin).error ?? '', /latin1\.yaml: is not valid UTF-8 at byte \d+ — save the file as UTF-8/);
});

test('lint is linear in the file size: 4 × the env keys take about 4 × the time, not 16 ×', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-limits-'));
  const lintMs = (keys: number) => {
    const file = join(dir, `env-${keys}.yaml`);
    const env = Array.from({ length: keys }, (_, i) => `      K${i}: v${i}`).join('\n');
    writeFileSync(file, rollout({ template: `    env:\n${env}\n` }));
    const started = performance.now();
    const report = lintFile(file);
    const ms = performance.now() - started;
    assert.match(report.error ?? '', new RegExp(`spec\\.template\\.env: has ${keys} environment variables, more than the limit of 1000`));
    return ms;
  };
  lintMs(2000); // warm up
  const small = lintMs(6250);
  const large = lintMs(25_000);
  console.log(`lint of 6,250 env keys: ${small.toFixed(0)} ms; of 25,000 (491 KiB): ${large.toFixed(0)} ms`);
  // yaml's duplicate-key check made this quadratic (50,000 keys: 30 s of a 40 s lint).
  assert.ok(large < 8 * small + 500, `4 × the keys took ${(large / small).toFixed(1)} × the time`);
  failsWith(rollout({ template: '    env: {A: 1, B: 2, A: 3}\n' }), /spec\.template\.env\.A: is set twice \(first at line 9\)/);
});

test('20,000 aliases in 80 KB: refused at once (yaml resolved each by walking the document: 76 s)', () => {
  const uses = Array.from({ length: 20_000 }, () => '*a').join(', ');
  const text = rollout({ spec: `  smokeTests: [{name: s, checks: [{path: /x, jsonBody: [&a v, ${uses}]}]}]\n` });
  assert.ok(text.length < 160 * 1024);
  const started = performance.now();
  failsWith(text, /^deploy\/web\.yaml: has more than 1000 aliases \(\*name\) — write the values out, or split the file$/);
  const ms = performance.now() - started;
  console.log(`20,000 aliases (${Math.round(text.length / 1024)} KiB): refused in ${ms.toFixed(0)} ms`);
  assert.ok(ms < 1000, `took ${ms} ms`);
  // Up to the limit, each alias is a lookup in the document's anchor table, not a walk.
  const many = Array.from({ length: LIMITS.aliases - 1 }, () => '      - *p').join('\n');
  const t0 = performance.now();
  const spec = loadRollouts(rollout({ template: `    args:\n      - &p x\n${many}\n` }), FILE)[0]!.spec;
  assert.equal(spec.template.args.length, LIMITS.aliases);
  assert.ok(spec.template.args.every((a) => a === 'x'));
  assert.ok(performance.now() - t0 < 1000);
});

test('aliases: billion-laughs expansion is bounded; an anchor cannot contain its own alias', () => {
  // 60 uses of a 2,001-node list: few aliases, 120k nodes (nested laughs hit the alias count first).
  const big = `&big [${Array.from({ length: 2000 }, () => 'x').join(', ')}]`;
  const uses = Array.from({ length: 60 }, () => '*big').join(', ');
  const nested = rollout({ spec: `  smokeTests: [{name: s, checks: [{path: /x, jsonBody: {a: ${big}, b: [${uses}]}}]}]\n` });
  failsWith(nested, /smokeTests\[0\]\.checks\[0\]\.jsonBody: aliases expand to more than 100000 YAML nodes — use fewer or smaller aliases/);
  const selfRef = rollout({ template: '    args: &a [x, *a]\n' });
  failsWith(selfRef, /spec\.template\.args: alias \*a points at no anchor/);
});

test('nested aliases in jsonBody and body decode to their values', () => {
  const text = `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  template: {version: v1, command: node}
  traffic: {listen: 127.0.0.1:8080}
  smokeTests:
    - name: s
      checks:
        - path: /x
          jsonBody: {user: &u {name: ann, roles: [a, b]}, again: *u, deep: {x: [*u]}}
  strategy:
    canary:
      steps:
        - analysis:
            metrics:
              - name: web
                provider: {web: {url: "http://127.0.0.1:9/x", method: POST, body: {user: *u, list: [*u, 2]}}}
`;
  const spec = loadRollouts(text, FILE)[0]!.spec;
  const user = { name: 'ann', roles: ['a', 'b'] };
  assert.deepEqual(spec.smokeTests[0]!.checks[0]!.jsonBody, { user, again: user, deep: { x: [user] } });
  const step = (spec.strategy as { steps: Array<{ analysis?: { metrics: Array<{ provider: { web?: { body?: unknown } } }> } }> }).steps[0]!;
  assert.deepEqual(step.analysis!.metrics[0]!.provider.web!.body, { user, list: [user, 2] });
  // A key named __proto__ stays a key.
  const proto = loadRollouts(rollout({ spec: '  smokeTests: [{name: s, checks: [{path: /x, jsonBody: {__proto__: {polluted: 1}}}]}]\n' }), FILE)[0]!.spec;
  const body = proto.smokeTests[0]!.checks[0]!.jsonBody as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['__proto__']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  failsWith(
    rollout({ spec: `  smokeTests: [{name: s, checks: [{path: /x, jsonBody: ${'['.repeat(40)}${']'.repeat(40)}}]}]\n` }),
    /jsonBody: nests deeper than 32 levels/,
  );
});

test('a file with more documents than the limit is refused with its name', () => {
  const docs = Array.from({ length: LIMITS.documents + 1 }, (_, i) => rollout({ name: `w${i}`, listen: `127.0.0.1:${9000 + i}` })).join('---\n');
  assert.throws(() => loadResources(docs, FILE), { message: 'deploy/web.yaml: has 101 documents, more than the limit of 100 — split it into several files' });
});

test('secretEnv: references only, relative files resolved against the manifest; conflicts and bad forms refused', () => {
  const spec = loadRollouts(
    rollout({ template: '    env: {A: "1"}\n    secretEnv:\n      DB_PASSWORD: {file: secrets/db}\n      TOKEN: {env: API_TOKEN}\n' }),
    '/srv/app/web.yaml',
  )[0]!.spec;
  assert.deepEqual(spec.template.secretEnv, { DB_PASSWORD: { file: '/srv/app/secrets/db' }, TOKEN: { env: 'API_TOKEN' } });
  assert.equal(loadRollouts(rollout(), FILE)[0]!.spec.template.secretEnv, undefined, 'absent stays absent (template hashes unchanged)');
  failsWith(
    rollout({ template: '    env: {A: "1"}\n    secretEnv: {A: {env: X}}\n' }),
    /spec\.template\.secretEnv: A is set in both env and secretEnv — keep it in one of them/,
  );
  failsWith(rollout({ template: '    secretEnv: {A: hunter2}\n' }), /spec\.template\.secretEnv\.A: must be a mapping/);
  failsWith(
    rollout({ template: '    secretEnv: {A: {file: x, env: Y}}\n' }),
    /spec\.template\.secretEnv\.A\.env: only one secret source may be set, but file is set too/,
  );
  failsWith(rollout({ template: '    secretEnv: {A: {value: x}}\n' }), /spec\.template\.secretEnv\.A\.value: unknown field "value"/);
});

test('lint warns about a command not found on PATH and a secretEnv file that does not exist', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-lint-'));
  const file = join(dir, 'web.yaml');
  writeFileSync(file, rollout({ template: '    secretEnv: {DB: {file: db.secret}}\n' }).replace('command: node', 'command: sluice-no-such-command-x1'));
  const report = lintFile(file);
  assert.equal(report.ok, true);
  assert.ok(
    report.warnings.some((w) =>
      w.includes('spec.template.command: "sluice-no-such-command-x1" is not found on PATH, so every instance would fail to start ("command not found")'),
    ),
    report.warnings.join('\n'),
  );
  assert.ok(
    report.warnings.some((w) => w.includes(`spec.template.secretEnv.DB: ${join(dir, 'db.secret')} does not exist (yet)`)),
    report.warnings.join('\n'),
  );
  writeFileSync(file, rollout().replace('command: node', `command: ${process.execPath}`));
  assert.ok(!lintFile(file).warnings.some((w) => w.includes('spec.template.command')), 'an existing command: no warning');
  writeFileSync(file, rollout().replace('command: node', 'command: ./run.sh'));
  assert.ok(lintFile(file).warnings.some((w) => w.includes('"./run.sh" is not found or not executable')));
});

test('router durations below 1 ms are refused at load: they would round to 0 ms, and the router refuses such a table whole (found by the spec fuzzer)', () => {
  for (const [field, text] of [
    ['timeouts.responseSeconds', 'timeouts: {responseSeconds: 9.5e-189}'],
    ['timeouts.connectSeconds', 'timeouts: {connectSeconds: 0.0004}'],
    ['connectionLimits.queueTimeoutSeconds', 'connectionLimits: {maxConnections: 10, queueTimeoutSeconds: 0}'],
    ['outlierDetection.baseEjectionSeconds', 'outlierDetection: {baseEjectionSeconds: 0.0001}'],
  ] as const) {
    const message = failsWith(rollout({ listen: `127.0.0.1:8080\n    ${text}` }), new RegExp(field.replace('.', '\\.')));
    assert.match(message, /at least 1ms/, message);
  }
  const ok = loadRollouts(rollout({ listen: '127.0.0.1:8080\n    timeouts: {responseSeconds: 1ms, connectSeconds: 0.25}' }), FILE)[0]!.spec.traffic;
  assert.deepEqual(ok.timeouts, { responseSeconds: 0.001, connectSeconds: 0.25 });
});

/**
 * Acceptance: bad input gets a one-line error naming the file, line and field (or the
 * rollout), a non-zero exit code, and nothing is applied.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceUnderTest } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { sleep, waitFor } from '../helpers/wait.js';

let sluice: SluiceUnderTest;
let port: number;
before(async () => {
  sluice = await SluiceUnderTest.start();
  port = await freePort();
  await sluice.apply('web.yaml', rolloutManifest({ version: 'v1', listen: port, strategy: '    canary:\n      steps: [{setWeight: 20}, {pause: {}}]\n' }));
  await waitFor(
    sluice.rollout('web', (v) => v.status.phase === 'Healthy'),
    { timeoutMs: 60_000, what: 'healthy' },
  );
});
after(async () => {
  await sluice?.down();
});

function good(version = 'v2') {
  return rolloutManifest({ version, listen: port, strategy: '    canary:\n      steps: [{setWeight: 20}, {pause: {}}]\n' });
}

const cases: { name: string; yaml: () => string; expect: RegExp }[] = [
  { name: 'malformed YAML', yaml: () => good().replace('  replicas: 3', '  replicas: [3'), expect: /bad\.yaml:\d+:\d+: YAML syntax error/ },
  {
    name: 'an unknown field',
    yaml: () => good().replace('  replicas: 3', '  replicas: 3\n  replica: 2'),
    expect: /bad\.yaml:7:3: spec\.replica: unknown field.*replicas/,
  },
  { name: 'a wrong type', yaml: () => good().replace('  replicas: 3', '  replicas: three'), expect: /bad\.yaml:6:13: spec\.replicas: / },
  { name: 'negative replicas', yaml: () => good().replace('  replicas: 3', '  replicas: -1'), expect: /bad\.yaml:6:13: spec\.replicas: .*-1/ },
  {
    name: 'a weight over 100',
    yaml: () => good().replace('setWeight: 20', 'setWeight: 120'),
    expect: /bad\.yaml:\d+:\d+: spec\.strategy\.canary\.steps\[0\]\.setWeight: .*120/,
  },
  { name: 'a missing command', yaml: () => good().replace(/ {4}command: .*\n/, ''), expect: /bad\.yaml:\d+:\d+: spec\.template\.command: / },
  {
    name: 'replicas: 1e9',
    yaml: () => good().replace('  replicas: 3', '  replicas: 1e9'),
    expect: /bad\.yaml:6:13: spec\.replicas: must be between 0 and 1000, got 1000000000/,
  },
  {
    name: 'the same rollout twice in one file',
    yaml: () => `${good('v8')}---\n${good('v9')}`,
    expect: /bad\.yaml:\d+: Rollout "web" is defined twice, at lines 1 and \d+/,
  },
  {
    name: 'a file over the size limit',
    yaml: () => `${good('v8')}# ${'x'.repeat(5 * 1024 * 1024)}\n`,
    expect: /bad\.yaml: is \d+ bytes, more than the limit of 524288 bytes/,
  },
  { name: 'a file that is not UTF-8', yaml: () => `${good('v8')}# caf\udc80\n`, expect: /bad\.yaml: is not valid UTF-8 at byte \d+ — save the file as UTF-8/ },
];

for (const c of cases) {
  test(`apply rejects ${c.name} with one line naming file, line and field, and applies nothing`, async () => {
    const before = await sluice.get('web');
    const file = join(sluice.dir, 'bad.yaml');
    const text = c.yaml();
    // A lone surrogate stands for a byte that is not UTF-8 (0xE9, Latin-1 é).
    writeFileSync(
      file,
      text.includes('\udc80') ? Buffer.concat([Buffer.from(text.split('\udc80')[0]!), Buffer.from([0xe9]), Buffer.from(text.split('\udc80')[1]!)]) : text,
    );
    const r = await sluice.cli(['apply', '-f', file]);
    assert.notEqual(r.code, 0);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0], c.expect);
    const lint = await sluice.cli(['lint', '-f', file]);
    assert.notEqual(lint.code, 0);
    assert.match(lint.stderr + lint.stdout, c.expect);
    const afterwards = await sluice.get('web');
    assert.equal(afterwards.revisions.length, before.revisions.length, 'no new revision');
    assert.deepEqual(afterwards.status.currentRevision, before.status.currentRevision);
    assert.equal(afterwards.source, before.source, 'stored spec unchanged');
  });
}

test('an unknown rollout name on the CLI gets a one-line error naming it', async () => {
  for (const args of [
    ['promote', 'nope'],
    ['get', 'rollout', 'nope'],
    ['undo', 'nope'],
    ['abort', 'nope'],
    ['status', 'nope'],
  ]) {
    const r = await sluice.cli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /rollout "nope" not found/);
  }
});

test('a second document with a bad field rejects the whole file', async () => {
  const file = join(sluice.dir, 'two.yaml');
  const other = good()
    .replace('name: web', 'name: other')
    .replace(`127.0.0.1:${port}`, `127.0.0.1:${await freePort()}`)
    .replace('  replicas: 3', '  replicas: -2');
  writeFileSync(file, `${good('v7')}---\n${other}`);
  const r = await sluice.cli(['apply', '-f', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /two\.yaml:\d+:\d+: spec\.replicas/);
  const view = await sluice.get('web');
  assert.equal(view.revisions.length, 1, 'the valid first document was not applied either');
  const list = await sluice.cli(['get', 'rollouts', '-o', 'json']);
  assert.equal(JSON.parse(list.stdout).length, 1);
});

test('the control plane answers healthz within 100 ms while it parses a large apply', async () => {
  // Token-dense and near the size limit: yaml takes most of a second to parse it.
  const body = Array.from({ length: 100_000 }, (_, i) => i % 1000).join(',');
  const big = good('v8').replace('  strategy:', `  smokeTests: [{name: s, target: main, checks: [{path: /x, jsonBody: [${body}]}]}]\n  strategy:`);
  const client = sluice.client();
  let done = false;
  const applied = client.apply(big.replace('  replicas: 3', '  replicas: 1e9'), join(sluice.dir, 'big.yaml'), { actor: 'test' }).then(
    () => assert.fail('applied'),
    (err: Error) => {
      done = true;
      return err;
    },
  );
  const latencies: number[] = [];
  while (!done) {
    const t0 = performance.now();
    const r = await fetch(`http://127.0.0.1:${sluice.apiPort}/v1/healthz`);
    await r.arrayBuffer();
    latencies.push(performance.now() - t0);
    await sleep(10);
  }
  const err = await applied;
  assert.match(err.message, /big\.yaml:\d+:\d+: spec\.replicas: must be between 0 and 1000/);
  const worst = Math.max(...latencies);
  console.log(`healthz during a ${Math.round(big.length / 1024)} KiB apply: ${latencies.length} answers, worst ${worst.toFixed(0)} ms`);
  assert.ok(latencies.length >= 3, `the parse was too quick to measure (${latencies.length} healthz calls)`);
  assert.ok(worst < 100, `healthz took ${worst} ms`);
});

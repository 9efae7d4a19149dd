/**
 * Acceptance: bad input gets a one-line error naming the file, line and field (or the
 * rollout), a non-zero exit code, and nothing is applied.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceUnderTest, demoManifest } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';

let sluice: SluiceUnderTest;
let port: number;
before(async () => {
  sluice = await SluiceUnderTest.start();
  port = await freePort();
  await sluice.apply('web.yaml', demoManifest({ version: 'v1', listen: port, strategy: '    canary:\n      steps: [{setWeight: 20}, {pause: {}}]\n' }));
  await sluice.waitFor('web', 'healthy', (v) => v.status.phase === 'Healthy');
});
after(async () => {
  await sluice?.down();
});

function good(version = 'v2') {
  return demoManifest({ version, listen: port, strategy: '    canary:\n      steps: [{setWeight: 20}, {pause: {}}]\n' });
}

const cases: { name: string; yaml: () => string; expect: RegExp }[] = [
  { name: 'malformed YAML', yaml: () => good().replace('  replicas: 3', '  replicas: [3'), expect: /bad\.yaml:\d+:\d+: YAML syntax error/ },
  { name: 'an unknown field', yaml: () => good().replace('  replicas: 3', '  replicas: 3\n  replica: 2'), expect: /bad\.yaml:7:3: spec\.replica: unknown field.*replicas/ },
  { name: 'a wrong type', yaml: () => good().replace('  replicas: 3', '  replicas: three'), expect: /bad\.yaml:6:13: spec\.replicas: / },
  { name: 'negative replicas', yaml: () => good().replace('  replicas: 3', '  replicas: -1'), expect: /bad\.yaml:6:13: spec\.replicas: .*-1/ },
  { name: 'a weight over 100', yaml: () => good().replace('setWeight: 20', 'setWeight: 120'), expect: /bad\.yaml:\d+:\d+: spec\.strategy\.canary\.steps\[0\]\.setWeight: .*120/ },
  { name: 'a missing command', yaml: () => good().replace(/    command: .*\n/, ''), expect: /bad\.yaml:\d+:\d+: spec\.template\.command: / },
];

for (const c of cases) {
  test(`apply rejects ${c.name} with one line naming file, line and field, and applies nothing`, async () => {
    const before = await sluice.get('web');
    const file = join(sluice.dir, 'bad.yaml');
    writeFileSync(file, c.yaml());
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
  for (const args of [['promote', 'nope'], ['get', 'rollout', 'nope'], ['undo', 'nope'], ['abort', 'nope'], ['status', 'nope']]) {
    const r = await sluice.cli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /rollout "nope" not found/);
  }
});

test('a second document with a bad field rejects the whole file', async () => {
  const file = join(sluice.dir, 'two.yaml');
  const other = good().replace('name: web', 'name: other').replace(`127.0.0.1:${port}`, `127.0.0.1:${await freePort()}`).replace('  replicas: 3', '  replicas: -2');
  writeFileSync(file, `${good('v7')}---\n${other}`);
  const r = await sluice.cli(['apply', '-f', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /two\.yaml:\d+:\d+: spec\.replicas/);
  const view = await sluice.get('web');
  assert.equal(view.revisions.length, 1, 'the valid first document was not applied either');
  const list = await sluice.cli(['get', 'rollouts', '-o', 'json']);
  assert.equal(JSON.parse(list.stdout).length, 1);
});

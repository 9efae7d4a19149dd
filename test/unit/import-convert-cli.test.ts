// `sluice convert FILE` through the built CLI (bin/sluice.js, a real process): the sluice
// YAML on stdout, the import warnings on stderr, and what it prints lints as sluice's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../helpers/sluice.js';
import { startFakeApi } from '../helpers/cli-fakes.js';
import { REPO } from '../helpers/templates.js';

function sluice(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO, input, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const [peer, name] of [
  ['flagger', 'canary-v1beta1'],
  ['argo', 'canary'],
] as const) {
  test(`sluice convert ${peer}/${name}.yaml prints expected/${name}.yaml, warnings on stderr`, () => {
    const file = `test/fixtures/import/${peer}/${name}.yaml`;
    const r = sluice(['convert', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, readFileSync(join(REPO, `test/fixtures/import/${peer}/expected/${name}.yaml`), 'utf8'));
    assert.equal(r.stderr, readFileSync(join(REPO, `test/fixtures/import/${peer}/expected/${name}.warnings`), 'utf8'));
    assert.ok(r.stderr.length > 0);

    // What it printed is sluice's own YAML: it lints with no import warning, and so does stdin.
    const dir = mkdtempSync(join(tmpdir(), 'sluice-convert-'));
    const out = join(dir, 'converted.yaml');
    writeFileSync(out, r.stdout);
    const lint = sluice(['lint', '-f', out]);
    assert.equal(lint.code, 0, lint.stdout + lint.stderr);
    assert.match(lint.stdout, /: ok \(\d+ rollouts?\)/);
    assert.doesNotMatch(lint.stdout, /is not supported by sluice/);
    const again = sluice(['convert', '-'], r.stdout);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, r.stdout);
    assert.equal(again.stderr, '');
  });
}

test('sluice lint -f on a peer file prints the import warnings', () => {
  const r = sluice(['lint', '-f', 'test/fixtures/import/argo/blue-green.yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^test\/fixtures\/import\/argo\/blue-green\.yaml: ok \(1 rollout\)$/m);
  assert.match(
    r.stdout,
    /^warning: test\/fixtures\/import\/argo\/blue-green\.yaml:46: Rollout bluegreen-demo: spec\.strategy\.blueGreen\.previewService is not supported by sluice: /m,
  );
});

test('sluice convert on a bad import exits 1 with one line naming file:line:col and the field', () => {
  const r = sluice(
    ['convert', '-'],
    `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web}
spec:
  targetRef: {kind: Deployment, name: web}
  service: {port: 80}
  analysis: {stepWeight: 10}
`,
  );
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr.trim(), /^(error: )?<stdin>:5:14: spec\.targetRef: names Deployment web, which is not in this file — /);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  const usage = sluice(['convert']);
  assert.equal(usage.code, 2);
  const missing = sluice(['convert', 'no/such/file.yaml']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no\/such\/file\.yaml: cannot read: no such file/);
});

test('sluice apply -f on a peer file sends it as written and prints the import warnings on stderr', async () => {
  const api = await startFakeApi();
  try {
    const file = join(REPO, 'test/fixtures/import/argo/blue-green.yaml');
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, '--state-dir', api.stateDir, 'apply', '-f', file], {
        env: { ...process.env, USER: 'tester', SLUICE_STATE_DIR: '' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'rollout/bluegreen-demo created (revision 3)\n');
    const expected = readFileSync(join(REPO, 'test/fixtures/import/argo/expected/blue-green.warnings'), 'utf8');
    assert.equal(r.stderr, expected.replaceAll('test/fixtures/import/argo/blue-green.yaml', file));
    const call = api.actions.calls.filter((c) => c.method === 'apply').at(-1);
    assert.equal(call?.args[0], readFileSync(file, 'utf8'));
  } finally {
    await api.server.close();
  }
});

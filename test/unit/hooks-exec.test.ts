/**
 * src/hooks/exec.ts directly, with real child processes: the cases the integration suite
 * does not reach — unusable specs refused before spawning, cwd, environment layering, a
 * first release's empty stable revision, signals, a hook that never reads stdin, and a
 * background child that keeps the output pipes open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExecHook } from '../../src/hooks/exec.js';
import type { ExecHookSpec } from '../../src/core/hooks.js';
import { hookPayload } from '../../src/core/hook-payload.js';

const node = process.execPath;
const payload = hookPayload(
  'pre-rollout',
  { rollout: 'web', phase: 'Progressing', revision: 1, stableRevision: null, version: 'v1' },
  Date.parse('2026-01-01T00:00:00Z'),
);

function exec(command: string[], over: Partial<ExecHookSpec> = {}): ExecHookSpec {
  return { name: 'script', kind: 'pre-rollout', command, env: {}, timeoutSeconds: 5, ...over };
}

test('an empty command and a missing cwd are refused without starting anything', async () => {
  for (const command of [[], ['']]) {
    const r = await runExecHook(exec(command), payload);
    assert.deepEqual([r.ok, r.exitCode, r.error, r.durationMs], [false, null, 'command is empty', 0]);
  }
  const r = await runExecHook(exec(['true'], { cwd: '/no/such/dir-sluice' }), payload);
  assert.equal(r.ok, false);
  assert.equal(r.error, 'working directory /no/such/dir-sluice does not exist');
});

test('runs in cwd; spec env overrides the base env; SLUICE_* cannot be overridden; a first release has an empty stable revision', async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'sluice-exec-')));
  const script = `console.log(JSON.stringify({ cwd: process.cwd(), a: process.env.A, b: process.env.B, rev: process.env.SLUICE_REVISION, stable: process.env.SLUICE_STABLE_REVISION, phase: process.env.SLUICE_PHASE, kind: process.env.SLUICE_KIND, home: process.env.HOME ?? null }))`;
  const r = await runExecHook(exec([node, '-e', script], { cwd: dir, env: { B: 'from-spec', SLUICE_REVISION: 'forged' } }), payload, {
    baseEnv: { A: 'from-base', B: 'from-base' },
  });
  assert.equal(r.ok, true, r.error ?? r.stderrTail);
  assert.deepEqual(JSON.parse(r.stdoutTail), {
    cwd: dir,
    a: 'from-base',
    b: 'from-spec',
    rev: '1',
    stable: '',
    phase: 'Progressing',
    kind: 'pre-rollout',
    home: null,
  });
});

test('a file that is not executable is reported as permission denied', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-exec-'));
  const file = join(dir, 'hook.sh');
  writeFileSync(file, '#!/bin/sh\nexit 0\n');
  chmodSync(file, 0o644);
  const r = await runExecHook(exec([file]), payload);
  assert.equal(r.ok, false);
  assert.equal(r.error, `cannot execute ${file}: permission denied`);
});

test('a hook killed by a signal (not by sluice) fails with that signal and is not a timeout', async () => {
  const r = await runExecHook(exec(['sh', '-c', 'kill -TERM $$']), payload);
  assert.equal(r.ok, false);
  assert.equal(r.timedOut, false);
  assert.equal(r.signal, 'SIGTERM');
  assert.equal(r.exitCode, null);
  assert.equal(r.error, 'killed by SIGTERM');
});

test('a hook that exits without reading a payload larger than a pipe buffer is ok (EPIPE is not its failure)', async () => {
  const big = { ...payload, metadata: { blob: 'x'.repeat(100 * 1024) } };
  const r = await runExecHook(exec(['true']), big);
  assert.equal(r.ok, true, r.error);
  assert.equal(r.exitCode, 0);
});

test('a payload too large for the environment is a one-line failure, not a thrown E2BIG', async () => {
  const huge = { ...payload, metadata: { blob: 'x'.repeat(2 * 1024 * 1024) } };
  const r = await runExecHook(exec(['true']), huge);
  assert.equal(r.ok, false);
  assert.equal(r.exitCode, null);
  assert.match(r.error ?? '', /^cannot start true: the payload \(in SLUICE_HOOK_PAYLOAD\) and env are too large for the OS/);
});

test('a background child holding the output pipes does not hold the result past the exit', async () => {
  const started = Date.now();
  // The shell exits at once; its background sleep keeps stdout and stderr open.
  const r = await runExecHook(exec(['sh', '-c', 'echo started; sleep 5 & exit 0']), payload);
  assert.equal(r.ok, true, r.error);
  assert.equal(r.stdoutTail, 'started\n');
  assert.ok(Date.now() - started < 3000, `returned after ${Date.now() - started} ms`);
});

test('output tails keep multi-byte text and both streams separately', async () => {
  const r = await runExecHook(exec([node, '-e', `process.stdout.write('ok ✓'); process.stderr.write('warn ⚠'); process.exit(2)`]), payload);
  assert.equal(r.exitCode, 2);
  assert.equal(r.error, 'exited with code 2');
  assert.equal(r.stdoutTail, 'ok ✓');
  assert.equal(r.stderrTail, 'warn ⚠');
});

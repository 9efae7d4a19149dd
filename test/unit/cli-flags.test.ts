/** `sluice flags …` and `sluice promote flag/NAME`: the real CLI process against a real API server with a FlagController. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { ensureToken, writeApiInfo } from '../../src/api/token.js';
import { clientTokenRecords, createClientToken, ensureClientTokens, readClientTokens } from '../../src/api/flag-tokens.js';
import { FlagController } from '../../src/engine/flags/controller.js';
import type { RolloutActions } from '../../src/engine/actions.js';
import { systemClock } from '../../src/core/clock.js';
import { MemoryStore } from '../../src/store/memory.js';
import { flagSpec, RecordingFlagPlane, stubCompile } from '../helpers/flag-fixtures.js';

const BIN = join(process.cwd(), 'bin', 'sluice.js');
const compile = stubCompile;

let server: RunningApiServer;
let stateDir: string;
const plane = new RecordingFlagPlane();
const store = new MemoryStore();

function sluice(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--state-dir', stateDir, ...args], { env: { ...process.env, USER: 'tester', SLUICE_STATE_DIR: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'sluice-cli-flags-'));
  const token = ensureToken(stateDir);
  ensureClientTokens(stateDir);
  const flags = new FlagController({
    store,
    clock: systemClock,
    plane,
    listen: '127.0.0.1:8016',
    compile,
    tokens: { records: () => clientTokenRecords(readClientTokens(stateDir)), create: (n, f) => createClientToken(stateDir, n, f) },
  });
  flags.applyFlags([{ set: { flags: [flagSpec('checkout')], evaluators: {}, metadata: {} }, source: 'x', file: 'f.yaml', line: 1 }], 'ana');
  server = await startApiServer({ listen: '127.0.0.1:0', token, actions: {} as RolloutActions, flags });
  writeApiInfo(stateDir, { address: server.address, pid: process.pid });
});
after(() => server.close());

test('list, kill --reason, history -o json, set --percentage, stale, token', async () => {
  const list = await sluice(['flags', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^NAME\s+TYPE\s+SERVING/);
  assert.match(list.stdout, /checkout\s+boolean\s+10%/);

  const kill = await sluice(['flags', 'kill', 'checkout', '--reason', 'errors']);
  assert.equal(kill.code, 0, kill.stderr);
  assert.equal(kill.stdout, 'flag/checkout killed: every client gets its off variant\n');
  assert.equal(plane.pushes.at(-1)!.document.flags.checkout!.defaultVariant, 'off');

  const history = await sluice(['flags', 'history', 'checkout', '-o', 'json']);
  const events = JSON.parse(history.stdout) as { reason: string; actor: string; message: string }[];
  assert.deepEqual(
    events.map((e) => e.reason),
    ['FlagCreated', 'FlagKilled'],
  );
  assert.match(events[1]!.actor, /^tester@/);
  assert.match(events[1]!.message, /— errors$/);

  assert.equal((await sluice(['flags', 'restore', 'checkout'])).code, 0);
  const set = await sluice(['flags', 'set', 'checkout', '--percentage', '40']);
  assert.equal(set.stdout, 'flag/checkout at 40%\n');
  const bad = await sluice(['flags', 'set', 'checkout', '--percentage', '140']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--percentage 140: must be a number from 0 to 100/);
  assert.equal(store.getFlag('checkout')!.state.percentage, 40);

  const stale = await sluice(['flags', 'stale', '--days', '5']);
  assert.equal(stale.code, 0, stale.stderr);
  assert.match(stale.stdout, /^no stale flags/);

  const token = await sluice(['flags', 'token']);
  assert.equal(token.stdout.trim(), readClientTokens(stateDir)[0]!.token);
});

test('promote flag/NAME goes to the flag endpoints (501 here: no ramps), a rollout NAME to the rollouts', async () => {
  const r = await sluice(['promote', 'flag/checkout']);
  assert.equal(r.code === 0, false);
  assert.match(r.stderr, /flag ramps are not available/);
});

/** `sluice router restart`: CLI → POST /v1/router/restart → the control plane's router restart. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { writeApiInfo } from '../../src/api/token.js';
import { UserError } from '../../src/util/errors.js';
import { FakeActions, TEST_TOKEN } from '../helpers/cli-fakes.js';
import { runCli } from '../helpers/sluice.js';

const servers: RunningApiServer[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function api(routerRestart?: () => Promise<unknown>): Promise<string> {
  const server = await startApiServer({ listen: '127.0.0.1:0', token: TEST_TOKEN, actions: new FakeActions([]), routerRestart });
  servers.push(server);
  const stateDir = mkdtempSync(join(tmpdir(), 'sluice-cli-router-'));
  dirs.push(stateDir);
  writeFileSync(join(stateDir, 'token'), TEST_TOKEN + '\n', { mode: 0o600 });
  writeApiInfo(stateDir, { address: server.address, pid: process.pid });
  return stateDir;
}

test('sluice router restart prints the old and the new pid', async () => {
  let calls = 0;
  const dir = await api(async () => {
    calls++;
    return { oldPid: 4242, newPid: 4301, generation: 17, listeners: 2 };
  });
  const r = await runCli(['--state-dir', dir, 'router', 'restart'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'router restarted: pid 4242 → 4301 (routes generation 17, 2 listener(s))\n');
  assert.equal(calls, 1);
});

test('a failed router restart is one error line, exit 1', async () => {
  const dir = await api(async () => {
    throw new UserError('router restart failed: the new router (pid 7) failed: boom; this router (pid 6) keeps serving', 'router-restart-failed', 502);
  });
  const r = await runCli(['--state-dir', dir, 'router', 'restart'], dir);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'error: router restart failed: the new router (pid 7) failed: boom; this router (pid 6) keeps serving\n');
});

test('sluice router without restart is a usage error', async () => {
  const dir = await api();
  const r = await runCli(['--state-dir', dir, 'router', 'reload'], dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: unknown router action "reload" — only `sluice router restart`\nusage: sluice router restart\n$/);
});

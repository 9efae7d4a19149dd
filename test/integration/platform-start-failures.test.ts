import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalPlatform } from '../../src/platform/local/local-platform.js';
import { parsePortRange, type PortRange } from '../../src/platform/local/ports.js';
import { freePort } from '../helpers/ports.js';
import type { LocalInstanceStatus } from '../../src/platform/local/instance-status.js';
import { MemoryRecords, ProcessReaper, get } from '../helpers/platform-helpers.js';
import { demoTemplate } from '../helpers/templates.js';
import { waitFor } from '../helpers/wait.js';

const reaper = new ProcessReaper();
const platforms: LocalPlatform[] = [];
after(async () => {
  for (const p of platforms) await p.detach();
  reaper.killAll();
});

function newPlatform(instancePorts?: PortRange) {
  const records = new MemoryRecords();
  const platform = new LocalPlatform({ stateDir: reaper.tempDir(), records, ...(instancePorts ? { instancePorts } : {}) });
  platform.onChange((s) => reaper.watch(s));
  platforms.push(platform);
  return { platform, records };
}

let n = 0;
const ref = () => ({ id: `web-r1-f${++n}`, rollout: 'web', revision: 1, generation: 0 });
const current = (p: LocalPlatform, id: string): LocalInstanceStatus | undefined => p.list().find((s) => s.id === id);

describe('LocalPlatform: why an instance cannot start, and secretEnv', { timeout: 60_000 }, () => {
  it('a command not on PATH: CrashLoopBackOff with the message "command not found: X"', async () => {
    const { platform } = newPlatform();
    const started = await platform.start(ref(), demoTemplate({ command: 'sluice-no-such-command-x1' }));
    const s = await waitFor(() => (current(platform, started.id)?.message ? current(platform, started.id) : undefined), {
      timeoutMs: 5000,
      intervalMs: 50,
      what: 'a message',
    });
    assert.equal(s.message, 'command not found: sluice-no-such-command-x1');
    assert.equal(s.phase, 'CrashLoopBackOff');
    assert.match(readFileSync(s.logFile, 'utf8'), /command not found: sluice-no-such-command-x1/);
    await platform.stop(started.id);
  });

  it('secretEnv values reach the process, from a file and from the environment; the record keeps only the references', async () => {
    const { platform, records } = newPlatform();
    const dir = reaper.tempDir();
    const file = join(dir, 'version');
    const fromFile = `v-file-${process.pid}-secret`;
    writeFileSync(file, `${fromFile}\n`, { mode: 0o600 });
    process.env.SLUICE_TEST_SECRET_ENV = 'the-env-secret-value';
    const template = demoTemplate({ secretEnv: { VERSION: { file }, TOKEN: { env: 'SLUICE_TEST_SECRET_ENV' } } });
    const started = await platform.start(ref(), template);
    reaper.track(started.pid);
    await waitFor(() => current(platform, started.id)?.phase === 'Ready', { timeoutMs: 10_000, intervalMs: 50, what: 'Ready' });
    const answer = await get(started.port, '/');
    assert.equal(answer.headers['x-version'], fromFile, 'the file value, one trailing newline dropped');
    const env = readFileSync(`/proc/${started.pid}/environ`, 'utf8').split('\0');
    assert.ok(env.includes('TOKEN=the-env-secret-value'), 'the env reference resolved in the child');
    const stored = JSON.stringify(records.listInstances());
    assert.ok(stored.includes(file) && stored.includes('SLUICE_TEST_SECRET_ENV'), 'references stored');
    assert.ok(!stored.includes(fromFile) && !stored.includes('the-env-secret-value'), 'values not stored');
    await platform.stop(started.id);
  });

  it('a secretEnv that cannot be read: the instance does not start and says which one, never its value', async () => {
    const { platform } = newPlatform();
    delete process.env.SLUICE_TEST_UNSET_SECRET;
    const missing = join(reaper.tempDir(), 'nope');
    for (const [secretEnv, expected] of [
      [{ DB: { file: missing } }, `secretEnv DB: cannot read ${missing} (ENOENT)`],
      [{ DB: { env: 'SLUICE_TEST_UNSET_SECRET' } }, "secretEnv DB: SLUICE_TEST_UNSET_SECRET is not set in the control plane's environment"],
    ] as const) {
      const started = await platform.start(ref(), demoTemplate({ secretEnv }));
      const s = await waitFor(() => (current(platform, started.id)?.message ? current(platform, started.id) : undefined), {
        timeoutMs: 5000,
        intervalMs: 50,
        what: 'a message',
      });
      assert.equal(s.message, expected);
      assert.equal(s.pid, undefined);
      await platform.stop(started.id);
    }
  });

  it('instance ports confined to a range (sluice up --instance-ports): every instance in it, an error when it is full', async () => {
    const from = await freePort();
    const range = { from, to: Math.min(65535, from + 2) };
    const { platform } = newPlatform(range);
    const ports: number[] = [];
    for (let i = 0; i < 5; i++) {
      try {
        const s = await platform.start(ref(), demoTemplate());
        reaper.track(s.pid);
        ports.push(s.port);
        await waitFor(() => current(platform, s.id)?.phase === 'Ready', { timeoutMs: 10_000, intervalMs: 50, what: 'Ready' });
      } catch (err) {
        assert.match((err as Error).message, new RegExp(`no free port in the instance port range ${range.from}-${range.to}: all 3 are in use`));
        break;
      }
    }
    assert.ok(ports.length >= 1 && ports.length <= 3, `started ${ports.length}`);
    for (const p of ports) assert.ok(p >= range.from && p <= range.to, `port ${p} outside ${range.from}-${range.to}`);
    assert.equal(new Set(ports).size, ports.length);
    for (const s of platform.list()) await platform.stop(s.id);
  });

  it('parsePortRange: FROM-TO within 1-65535, one clear line otherwise', () => {
    assert.deepEqual(parsePortRange('30000-30999'), { from: 30000, to: 30999 });
    for (const bad of ['30000', '0-10', '10-5', '1-70000', 'a-b']) {
      assert.throws(() => parsePortRange(bad), {
        message: `--instance-ports: must be a port range FROM-TO within 1-65535, got "${bad}" — write e.g. 30000-30999`,
      });
    }
  });
});

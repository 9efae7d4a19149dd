import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { LocalPlatform } from '../../src/platform/local/local-platform.js';
import type { InstanceRecord, InstanceRef, InstanceStatus } from '../../src/core/platform.js';
import type { LocalInstanceStatus } from '../../src/platform/local/instance-status.js';
import type { Template } from '../../src/core/spec.js';
import { MemoryRecords, ProcessReaper, fixture, get, isAlive } from '../helpers/platform-helpers.js';
import { DEMO_APP, demoTemplate, httpProbe } from '../helpers/templates.js';
import { sleep, waitFor } from '../helpers/wait.js';

const reaper = new ProcessReaper();
const platforms: LocalPlatform[] = [];
after(async () => {
  for (const platform of platforms) await platform.detach();
  reaper.killAll();
});

function newPlatform(records = new MemoryRecords(), stateDir = reaper.tempDir()) {
  const platform = new LocalPlatform({ stateDir, records });
  const events: InstanceStatus[] = [];
  platform.onChange((status) => {
    reaper.watch(status);
    events.push(status);
  });
  platforms.push(platform);
  return { platform, records, stateDir, events };
}

let refs = 0;
function ref(rollout = 'web', revision = 1): InstanceRef {
  return { id: `${rollout}-r${revision}-t${++refs}`, rollout, revision, generation: 0 };
}

async function startTracked(platform: LocalPlatform, template: Template, instance = ref()): Promise<LocalInstanceStatus> {
  const status = await platform.start(instance, template);
  reaper.track(status.pid);
  return status;
}

function current(platform: LocalPlatform, id: string): LocalInstanceStatus | undefined {
  return platform.list().find((s) => s.id === id);
}

const readyIn = (platform: LocalPlatform, id: string, ms = 8000) =>
  waitFor(() => current(platform, id)?.phase === 'Ready' && current(platform, id), { timeoutMs: ms, intervalMs: 50, what: `${id} to be Ready` });

describe('LocalPlatform', { timeout: 60_000 }, () => {
  it('starts the demo app, reports it Ready and it answers on its port with its version', { timeout: 15_000 }, async () => {
    const { platform, records, stateDir, events } = newPlatform();
    const started = await startTracked(platform, demoTemplate({ version: 'v7', env: { VERSION: 'v7' } }), ref('web', 7));
    assert.equal(started.phase, 'Starting');
    assert.ok(started.pid && started.port > 0);
    assert.ok(started.logFile.startsWith(`${stateDir}/logs/web/7/${started.id}.log`));

    const ready = await readyIn(platform, started.id);
    assert.ok(ready.readySince && ready.readySince >= started.startedAt);
    const answer = await get(started.port, '/hello');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-version'], 'v7');
    assert.deepEqual(JSON.parse(answer.body), { version: 'v7', pid: started.pid, path: '/hello' });

    const record = records.records.get(started.id);
    assert.ok(record, 'the instance is persisted');
    assert.equal(record.pid, started.pid);
    assert.equal(record.port, started.port);
    assert.equal(record.template.version, 'v7');
    if (existsSync('/proc')) assert.match(record.procStartTime ?? '', /^\d+$/);
    assert.deepEqual(
      events.filter((e) => e.id === started.id).map((e) => e.phase),
      ['Starting', 'Ready'],
    );

    // What `sluice logs` reads through the API: the same file, in chunks, from any offset.
    const whole = await platform.readLogs(started.id, 0, 1 << 20);
    assert.match(whole.text, /demo-app v7 listening on 127\.0\.0\.1:\d+/);
    assert.equal(whole.offset, Buffer.byteLength(whole.text));
    let pieces = '';
    for (let offset = 0, n = 0; offset < whole.offset && n < 1000; n++) {
      const chunk = await platform.readLogs(started.id, offset, 16);
      pieces += chunk.text;
      offset = chunk.offset;
    }
    assert.ok(pieces.startsWith(whole.text), pieces);
    const pastTheEnd = await platform.readLogs(started.id, whole.offset + 1_000_000, 1 << 20);
    assert.ok(pastTheEnd.text.startsWith(whole.text), 'an offset past the end (a truncated file) starts over');

    await platform.stop(started.id);
    await assert.rejects(platform.readLogs(started.id, 0, 100), /instance web-r7-t\d+ is not running on this machine/);
    assert.equal(isAlive(started.pid), false);
    assert.equal(records.records.has(started.id), false, 'a stopped instance is forgotten');
    assert.equal(current(platform, started.id), undefined);
    assert.equal(events.at(-1)?.phase, 'Stopped');
    assert.match(readFileSync(started.logFile, 'utf8'), /demo-app v7 listening on 127\.0\.0\.1:\d+/);
  });

  it('sets PORT and the SLUICE_* variables, and runs startup then exec probes with them', { timeout: 15_000 }, async () => {
    const { platform } = newPlatform();
    const checkEnv =
      'const e = process.env; process.exit(e.SLUICE_ROLLOUT === "api" && e.SLUICE_REVISION === "3" && ' +
      'e.SLUICE_VERSION === "v9" && e.SLUICE_INSTANCE && e.PORT && e.EXTRA === "yes" ? 0 : 1)';
    const template = demoTemplate({
      version: 'v9',
      env: { EXTRA: 'yes' },
      probes: {
        startup: { ...httpProbe('/healthz'), failureThreshold: 30 },
        readiness: { ...httpProbe(), httpGet: undefined, exec: { command: [process.execPath, '-e', checkEnv] } },
        liveness: { ...httpProbe(), httpGet: undefined, tcpSocket: {} },
      },
    });
    const started = await startTracked(platform, template, ref('api', 3));
    await readyIn(platform, started.id);
    await platform.stop(started.id);
  });

  it('refuses a template whose probe has no action, before starting anything', async () => {
    const { platform, records } = newPlatform();
    const template = demoTemplate({ probes: { readiness: { ...httpProbe(), httpGet: undefined } } });
    await assert.rejects(platform.start(ref('web', 4), template), {
      name: 'UserError',
      message: 'rollout web revision 4: probes.readiness has no action; set one of httpGet, tcpSocket or exec',
    });
    assert.deepEqual(platform.list(), []);
    assert.equal(records.records.size, 0);
  });

  it('never reports Ready a version whose readiness never passes', { timeout: 15_000 }, async () => {
    const { platform, events } = newPlatform();
    const started = await startTracked(platform, demoTemplate({ env: { READY: 'false' } }));
    await waitFor(() => /listening/.test(readFileSync(started.logFile, 'utf8')), { timeoutMs: 5000, intervalMs: 50, what: 'the app to listen' });
    await sleep(1500);
    assert.equal(current(platform, started.id)?.phase, 'Starting');
    assert.equal(current(platform, started.id)?.restarts, 0);
    // The first verdict is in (a restarted control plane stops waiting for it, `get` says why).
    assert.equal(current(platform, started.id)?.message, 'readiness probe failing (3 times in a row)');
    assert.ok(!events.some((e) => e.phase === 'Ready'));
    await platform.stop(started.id);
  });

  it('puts a process that exits at once into CrashLoopBackOff with growing restarts', { timeout: 20_000 }, async () => {
    const { platform } = newPlatform();
    const template = demoTemplate({ args: ['-e', 'console.error("boom"); process.exit(1)'] });
    const started = await startTracked(platform, template);
    const crashing = await waitFor(
      () => {
        const s = current(platform, started.id);
        return s && s.restarts >= 2 && s.phase === 'CrashLoopBackOff' && s;
      },
      { timeoutMs: 10_000, intervalMs: 50, what: 'two restarts' },
    );
    assert.equal(crashing.lastExit?.code, 1);
    assert.equal(crashing.pid, undefined);
    const log = readFileSync(started.logFile, 'utf8');
    assert.ok(log.split('boom').length - 1 >= 3, 'every run appends to the same log file');
    assert.match(log, /restarting in 2s/);
    const stopAt = Date.now();
    await platform.stop(started.id);
    assert.ok(Date.now() - stopAt < 1000, 'stopping a crash-looping instance cancels the pending restart');
    await sleep(300);
    assert.equal(current(platform, started.id), undefined);
  });

  it('kills and restarts an instance whose liveness probe fails', { timeout: 20_000 }, async () => {
    const { platform } = newPlatform();
    const template = demoTemplate({
      env: { READY: 'false' },
      probes: { readiness: httpProbe('/'), liveness: httpProbe('/healthz', { failureThreshold: 2 }) },
    });
    const started = await startTracked(platform, template);
    const restarted = await waitFor(
      () => {
        const s = current(platform, started.id);
        return s && s.restarts >= 1 && s.pid !== undefined && s.pid !== started.pid && s;
      },
      { timeoutMs: 10_000, intervalMs: 50, what: 'a restart after liveness failures' },
    );
    reaper.track(restarted.pid);
    assert.equal(isAlive(started.pid!), false);
    assert.match(readFileSync(started.logFile, 'utf8'), /liveness probe failed 2 time\(s\); restarting/);
    await platform.stop(started.id);
  });

  it('drains: an in-flight slow request completes before the process exits', { timeout: 20_000 }, async () => {
    const { platform, events } = newPlatform();
    const started = await startTracked(platform, demoTemplate({ env: { LATENCY_MS: '1500' } }));
    await readyIn(platform, started.id);
    const inFlight = get(started.port, '/slow');
    await sleep(300);
    let aliveDuringDrain = false;
    await platform.stop(started.id, {
      drain: async () => {
        aliveDuringDrain = isAlive(started.pid!);
        assert.equal(current(platform, started.id)?.phase, 'Terminating');
      },
    });
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.equal(JSON.parse(answer.body).path, '/slow');
    assert.ok(aliveDuringDrain, 'drain runs before SIGTERM');
    const stopped = events.filter((e) => e.id === started.id).at(-1)!;
    assert.equal(stopped.phase, 'Stopped');
    assert.deepEqual({ code: stopped.lastExit?.code, signal: stopped.lastExit?.signal }, { code: 0, signal: null });
    assert.match(readFileSync(started.logFile, 'utf8'), /SIGTERM, draining 1 request/);
  });

  it('bounds drain by shutdown.drainSeconds', { timeout: 15_000 }, async () => {
    const { platform } = newPlatform();
    const template = demoTemplate({ shutdown: { drainSeconds: 0.5, preStopDelaySeconds: 0.2, terminationGracePeriodSeconds: 5 } });
    const started = await startTracked(platform, template);
    await readyIn(platform, started.id);
    const stopAt = Date.now();
    await platform.stop(started.id, { drain: () => new Promise<void>(() => {}) });
    const took = Date.now() - stopAt;
    assert.ok(took >= 650 && took < 3000, `stop took ${took}ms`);
    assert.equal(isAlive(started.pid!), false);
  });

  it('SIGKILLs a process that ignores SIGTERM after the grace period', { timeout: 15_000 }, async () => {
    const { platform, events } = newPlatform();
    const template = demoTemplate({
      args: [fixture('ignore-sigterm.js')],
      probes: { readiness: { ...httpProbe(), httpGet: undefined, tcpSocket: {} } },
      shutdown: { drainSeconds: 1, preStopDelaySeconds: 0, terminationGracePeriodSeconds: 1 },
    });
    const started = await startTracked(platform, template);
    await readyIn(platform, started.id);
    const stopAt = Date.now();
    await platform.stop(started.id);
    const took = Date.now() - stopAt;
    assert.ok(took >= 1000 && took < 4000, `stop took ${took}ms`);
    assert.equal(isAlive(started.pid!), false);
    assert.equal(events.at(-1)?.lastExit?.signal, 'SIGKILL');
    const log = readFileSync(started.logFile, 'utf8');
    assert.match(log, /got SIGTERM, ignoring it/);
    assert.match(log, /sending SIGKILL/);
  });

  it('adopts a running instance from the records without restarting it', { timeout: 20_000 }, async () => {
    const first = newPlatform();
    const started = await startTracked(first.platform, demoTemplate({ version: 'v2', env: { VERSION: 'v2' } }));
    await readyIn(first.platform, started.id);
    await first.platform.detach();
    assert.deepEqual(first.platform.list(), []);

    const second = newPlatform(first.records, first.stateDir);
    assert.deepEqual(await second.platform.adopt(), [started.id]);
    const adopted = current(second.platform, started.id);
    assert.equal(adopted?.pid, started.pid);
    assert.equal(adopted?.port, started.port);
    assert.equal(adopted?.restarts, 0);
    const ready = await readyIn(second.platform, started.id, 3000);
    assert.equal(ready.pid, started.pid);
    assert.equal(JSON.parse((await get(started.port)).body).pid, started.pid);
    assert.deepEqual(await second.platform.adopt(), [], 'adopting twice takes nothing new');

    await second.platform.stop(started.id);
    assert.equal(isAlive(started.pid!), false);
    assert.equal(first.records.records.size, 0);
  });

  it('leaves instances serving when the control plane is SIGKILLed, and a new one adopts them', { timeout: 20_000 }, async () => {
    const stateDir = reaper.tempDir();
    const recordsFile = `${stateDir}/records.json`;
    const controlPlane = spawn(process.execPath, [fixture('control-plane.js'), stateDir, recordsFile, DEMO_APP], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    reaper.track(controlPlane.pid);
    const firstLine = await new Promise<string>((resolve, reject) => {
      let out = '';
      controlPlane.stdout!.on('data', (chunk) => {
        out += chunk;
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      controlPlane.once('exit', (code) => reject(new Error(`control plane exited with ${code}`)));
    });
    const instance = JSON.parse(firstLine) as LocalInstanceStatus;
    reaper.track(instance.pid);
    controlPlane.kill('SIGKILL');
    await new Promise((done) => controlPlane.once('exit', done));
    await sleep(300);
    assert.equal(isAlive(instance.pid!), true, 'the instance outlives its control plane');
    assert.equal(JSON.parse((await get(instance.port)).body).version, 'v5');

    const saved = JSON.parse(readFileSync(recordsFile, 'utf8')) as Record<string, InstanceRecord>;
    const records = new MemoryRecords();
    for (const record of Object.values(saved)) records.saveInstance(record);
    const { platform } = newPlatform(records, stateDir);
    assert.deepEqual(await platform.adopt(), [instance.id]);
    const ready = await readyIn(platform, instance.id, 3000);
    assert.equal(ready.pid, instance.pid);
    await platform.stop(instance.id);
    assert.equal(isAlive(instance.pid!), false);
    assert.match(readFileSync(instance.logFile, 'utf8'), /demo-app v5: drained, exiting/);
  });

  it('notices an adopted process dying and restarts it', { timeout: 20_000 }, async () => {
    const first = newPlatform();
    const started = await startTracked(first.platform, demoTemplate());
    await readyIn(first.platform, started.id);
    await first.platform.detach();
    const second = newPlatform(first.records, first.stateDir);
    await second.platform.adopt();
    await readyIn(second.platform, started.id, 3000);
    process.kill(-started.pid!, 'SIGKILL');
    const restarted = await waitFor(
      () => {
        const s = current(second.platform, started.id);
        return s && s.phase === 'Ready' && s.pid !== started.pid && s;
      },
      { timeoutMs: 8000, intervalMs: 50, what: 'the adopted instance to be restarted' },
    );
    reaper.track(restarted.pid);
    assert.equal(restarted.restarts, 1);
    await second.platform.stop(started.id);
  });

  it('restarts recorded instances whose process is gone or whose pid now names another process', { timeout: 20_000 }, async () => {
    const { platform, records } = newPlatform();
    const dead = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((done) => dead.once('exit', done));
    const template = demoTemplate({ version: 'v3', env: { VERSION: 'v3' } });
    const base = { rollout: 'web', revision: 3, generation: 0, startedAt: Date.now() - 10_000, template };
    records.saveInstance({ ...base, id: 'web-r3-dead1', pid: dead.pid!, port: 0, logFile: `${reaper.tempDir()}/dead.log` });
    records.saveInstance({
      ...base,
      id: 'web-r3-reuse',
      pid: process.pid,
      procStartTime: 'not-the-same',
      port: 0,
      logFile: `${reaper.tempDir()}/reuse.log`,
    });
    const taken = await platform.adopt();
    assert.deepEqual(taken.sort(), ['web-r3-dead1', 'web-r3-reuse']);
    for (const id of taken) {
      const ready = await readyIn(platform, id);
      reaper.track(ready.pid);
      assert.notEqual(ready.pid, process.pid);
      assert.equal(JSON.parse((await get(ready.port)).body).version, 'v3');
      assert.equal(records.records.get(id)?.pid, ready.pid, 'the new pid is persisted');
    }
    assert.equal(isAlive(process.pid), true);
    for (const id of taken) await platform.stop(id);
  });

  it('keeps the port of a restarted record when it is free', { timeout: 15_000 }, async () => {
    const { platform, records } = newPlatform();
    const { allocatePort } = await import('../../src/platform/local/ports.js');
    const port = await allocatePort();
    records.saveInstance({
      id: 'web-r1-port1',
      rollout: 'web',
      revision: 1,
      generation: 0,
      pid: 2 ** 22 + 7,
      port,
      startedAt: Date.now(),
      logFile: `${reaper.tempDir()}/port.log`,
      template: demoTemplate(),
    });
    await platform.adopt();
    const ready = await readyIn(platform, 'web-r1-port1');
    reaper.track(ready.pid);
    assert.equal(ready.port, port);
    await platform.stop('web-r1-port1');
  });
});

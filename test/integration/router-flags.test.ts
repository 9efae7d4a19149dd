/**
 * Feature flags in the router process (issue 12): the router holds the last FlagPush,
 * persists it before acknowledging, serves OFREP from it (src/flags/ofrep.ts answers) from
 * its start, moves its OFREP address without a gap, and hands the push and the socket over
 * at a restart without one failed evaluation. Real router processes, real HTTP on 127.0.0.1.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { adminTokenPath } from '../../src/router/credential.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/ports.js';
import { HttpTrafficRouter, startRouterProcess } from '../../src/router/http-client.js';
import { BuiltinFlagPlane } from '../../src/dataplane/builtin/flags.js';
import { isProcessAlive } from '../../src/util/process-control.js';
import { sleep, waitFor } from '../helpers/wait.js';
import type { FlagPush } from '../../src/core/flags.js';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature } from '@openfeature/server-sdk';

const pids = new Set<number>();
const dirs: string[] = [];
const clients: HttpTrafficRouter[] = [];

after(() => {
  for (const c of clients) c.close();
  for (const pid of pids) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startRouter(dir?: string): Promise<{ dir: string; admin: string; pid: number; client: HttpTrafficRouter; logFile: string }> {
  const stateDir = dir ?? mkdtempSync(join(tmpdir(), 'sluice-router-flags-'));
  if (dir === undefined) dirs.push(stateDir);
  const admin = `127.0.0.1:${await freePort()}`;
  const logFile = join(stateDir, 'router.log');
  const { pid, token } = await startRouterProcess({ stateDir, admin, logFile, extraArgs: ['--drain-timeout-ms', '10000'] });
  pids.add(pid);
  const client = new HttpTrafficRouter(admin, token);
  clients.push(client);
  return { dir: stateDir, admin, pid, client, logFile };
}

function push(generation: number, listen: string, enabled = true): FlagPush {
  return {
    generation,
    listen,
    document: {
      flags: {
        'new-checkout': {
          state: 'ENABLED',
          variants: { on: true, off: false },
          defaultVariant: enabled ? 'on' : 'off',
          targeting: { if: [{ '==': [{ var: 'plan' }, 'premium'] }, 'on', null] },
        },
        'banner-color': { state: 'ENABLED', variants: { red: 'red', blue: 'blue' }, defaultVariant: 'blue' },
      },
    },
    tokens: [{ name: 'web', sha256: createHash('sha256').update('client-token').digest('hex') }],
  };
}

interface Evaluation {
  status: number;
  body: { key?: string; value?: unknown; variant?: string; reason?: string; errorCode?: string };
}

/** POST /ofrep/v1/evaluate/flags/KEY, as the OFREP providers send it. */
function evaluate(
  port: number,
  key: string,
  context: Record<string, unknown> = { targetingKey: 'user-1' },
  agent: http.Agent | false = false,
): Promise<Evaluation> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ context });
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: `/ofrep/v1/evaluate/flags/${key}`,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: 'Bearer client-token' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: Evaluation['body'] = {};
          try {
            parsed = JSON.parse(text) as Evaluation['body'];
          } catch {
            parsed = { errorCode: `not JSON: ${text.slice(0, 80)}` };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error('evaluation timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

test('a pushed flag set is evaluated over OFREP, persisted 0600 before the answer, counted, and GET /flags gives it back', async () => {
  const { dir, client } = await startRouter();
  assert.equal((await client.flags()).generation, 0);
  const port = await freePort();
  const p = push(3, `127.0.0.1:${port}`);
  const answer = await client.pushFlags(p);
  assert.deepEqual(answer, { generation: 3, listening: `127.0.0.1:${port}` });
  // Persisted by the time it was acknowledged, private (it holds the token hashes).
  const file = join(dir, 'router', 'flags.json');
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), p);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(await client.flags(), p);

  const premium = await evaluate(port, 'new-checkout', { targetingKey: 'u1', plan: 'premium' });
  assert.equal(premium.status, 200);
  assert.equal(premium.body.value, true);
  const banner = await evaluate(port, 'banner-color');
  assert.equal(banner.body.value, 'blue');
  const missing = await evaluate(port, 'no-such-flag');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.errorCode, 'FLAG_NOT_FOUND');

  const usage = await client.flagUsage();
  assert.match(usage.instanceId, /^[0-9a-f-]{36}$/);
  assert.equal((await client.identity()).instanceId, usage.instanceId);
  assert.equal(usage.usage.find((u) => u.flag === 'new-checkout' && u.variant === 'on')?.count, 1);
  assert.equal(usage.usage.find((u) => u.flag === 'banner-color' && u.variant === 'blue')?.count, 1);
  // The FlagPlane port the control plane uses.
  const plane = new BuiltinFlagPlane(client);
  assert.equal((await plane.flagUsage()).length, usage.usage.length);
  await plane.pushFlags(push(4, `127.0.0.1:${port}`, false));
  assert.equal((await evaluate(port, 'new-checkout', { targetingKey: 'u2' })).body.value, false);
});

test('an older generation is refused with the one in effect, a bad push gets one line, and nothing changes', async () => {
  const { dir, client } = await startRouter();
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  await client.pushFlags(push(10, listen));
  const before = readFileSync(join(dir, 'router', 'flags.json'), 'utf8');

  await assert.rejects(client.pushFlags(push(9, listen, false)), (e: Error & { status?: number; generation?: number }) => {
    assert.equal(e.status, 409);
    assert.equal(e.generation, 10);
    assert.match(e.message, /flag push generation 9 is older than generation 10 in effect/);
    return true;
  });
  const bad: unknown[] = [
    { ...push(11, listen), listen: 'nowhere' },
    { ...push(11, listen), document: { flags: { 'a/../b': { state: 'ENABLED', variants: { on: true }, defaultVariant: 'on' } } } },
    { ...push(11, listen), document: { flags: { x: { state: 'ENABLED', variants: { on: true }, defaultVariant: 'maybe' } } } },
    { ...push(11, listen), tokens: [{ name: 'web', sha256: 'client-token' }] },
    { ...push(11, listen), extra: 1 },
  ];
  const messages = [
    /"listen" must be host:port/,
    /a flag key is 1-128 of/,
    /defaultVariant: "maybe" is not one of its variants \(on\)/,
    /tokens\[0\]\.sha256/,
    /unknown field\(s\) "extra"/,
  ];
  for (const [i, b] of bad.entries()) {
    await assert.rejects(client.pushFlags(b as FlagPush), (e: Error & { status?: number }) => {
      assert.equal(e.status, 400, e.message);
      assert.match(e.message, messages[i]!);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  }
  assert.equal(readFileSync(join(dir, 'router', 'flags.json'), 'utf8'), before);
  assert.equal((await client.flags()).generation, 10);
  assert.equal((await evaluate(port, 'new-checkout', { targetingKey: 'u' })).body.value, true);
});

test('a new OFREP address is served before the old one closes; an address in use is reported and the flags still take effect', async () => {
  const { client } = await startRouter();
  const a = await freePort();
  await client.pushFlags(push(1, `127.0.0.1:${a}`));
  const b = await freePort();
  const moved = await client.pushFlags(push(2, `127.0.0.1:${b}`, false));
  assert.deepEqual(moved, { generation: 2, listening: `127.0.0.1:${b}` });
  assert.equal((await evaluate(b, 'new-checkout')).body.value, false);
  await waitFor(
    () =>
      evaluate(a, 'new-checkout').then(
        () => false,
        () => true,
      ),
    { timeoutMs: 15_000, intervalMs: 50, what: 'the old OFREP address to close' },
  );

  // Held by someone else: the PUT says so, the flags change, OFREP stays where it was.
  const holder = net.createServer();
  const c = await freePort();
  await new Promise<void>((r) => holder.listen(c, '127.0.0.1', r));
  try {
    const answer = await client.pushFlags(push(3, `127.0.0.1:${c}`, true));
    assert.equal(answer.generation, 3);
    assert.equal(answer.listening, `127.0.0.1:${b}`);
    assert.match(answer.failed?.error ?? '', /cannot listen on 127\.0\.0\.1:\d+: address already in use/);
    assert.equal((await evaluate(b, 'new-checkout')).body.value, true);
    await assert.rejects(
      new BuiltinFlagPlane(client).pushFlags(push(3, `127.0.0.1:${c}`)),
      /are in effect, but OFREP cannot listen on .*it still answers on 127\.0\.0\.1:\d+/,
    );
  } finally {
    holder.close();
  }
  // The next push tries the address again.
  await sleep(50);
  assert.deepEqual(await client.pushFlags(push(4, `127.0.0.1:${c}`)), { generation: 4, listening: `127.0.0.1:${c}` });
  assert.equal((await evaluate(c, 'banner-color')).body.value, 'blue');
});

test('kill -9 of the router: restarted, it serves the persisted flags at once', async () => {
  const first = await startRouter();
  const port = await freePort();
  await first.client.pushFlags(push(5, `127.0.0.1:${port}`, false));
  const { instanceId } = await first.client.flagUsage();
  process.kill(first.pid, 'SIGKILL');
  await waitFor(() => !isProcessAlive(first.pid), { timeoutMs: 5000, intervalMs: 10, what: 'the router to die' });
  await assert.rejects(evaluate(port, 'new-checkout'));

  const second = await startRouter(first.dir);
  // No push since the restart: straight from flags.json.
  const e = await evaluate(port, 'new-checkout', { targetingKey: 'u', plan: 'premium' });
  assert.equal(e.status, 200);
  assert.equal(e.body.value, true);
  assert.equal((await evaluate(port, 'new-checkout', { targetingKey: 'u' })).body.value, false);
  assert.equal((await second.client.flags()).generation, 5);
  const usage = await second.client.flagUsage();
  assert.notEqual(usage.instanceId, instanceId, 'a restarted router has a new instanceId (its counters start again)');
  assert.match(readFileSync(second.logFile, 'utf8'), /loaded flags generation 5 \(2 flag\(s\)\)/);
  await assert.rejects(second.client.pushFlags(push(4, `127.0.0.1:${port}`)), /older than generation 5/);
});

/**
 * An open-loop stream of evaluations at `rate`/s over keep-alive connections, half by
 * node:http with a keep-alive Agent, half by fetch (undici, what the OFREP providers use).
 * A failure is anything but 200 with the expected value.
 */
function evaluationStream(port: number, rate: number, maxMs: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const failures: string[] = [];
  let sent = 0;
  let done = 0;
  const t0 = Date.now();
  const timer = setInterval(() => {
    const due = Math.min(Math.floor(((Date.now() - t0) / 1000) * rate), Math.floor((maxMs / 1000) * rate));
    while (sent < due) {
      const i = sent++;
      const at = Date.now() - t0;
      const check = (status: number, value: unknown, raw: string): void => {
        done++;
        if (status !== 200 || value !== 'blue') failures.push(`${at}ms #${i}: ${status} ${raw.slice(0, 100)}`);
      };
      const fail = (e: Error & { code?: string; cause?: { code?: string } }): void => {
        done++;
        failures.push(`${at}ms #${i}: ${e.code ?? e.cause?.code ?? e.message}`);
      };
      if (i % 2 === 0) {
        evaluate(port, 'banner-color', { targetingKey: `u${i}` }, agent).then((r) => check(r.status, r.body.value, JSON.stringify(r.body)), fail);
      } else {
        fetch(`http://127.0.0.1:${port}/ofrep/v1/evaluate/flags/banner-color`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer client-token' },
          body: JSON.stringify({ context: { targetingKey: `u${i}` } }),
        })
          .then(async (r) => {
            const text = await r.text();
            let value: unknown;
            try {
              value = (JSON.parse(text) as { value?: unknown }).value;
            } catch {
              value = undefined;
            }
            check(r.status, value, text);
          })
          .catch(fail);
      }
    }
  }, 5);
  return {
    get sent() {
      return sent;
    },
    async stop(): Promise<{ sent: number; failures: string[] }> {
      clearInterval(timer);
      await waitFor(() => done === sent, { timeoutMs: 30_000, intervalMs: 20, what: 'the evaluations in flight' }).catch(() => undefined);
      agent.destroy();
      if (done !== sent) failures.push(`${sent - done} evaluation(s) never answered`);
      return { sent, failures };
    },
  };
}

test('a router restart (handover) under a steady stream of OFREP evaluations: zero failed, the successor serves the same push', async () => {
  const { client, pid: firstPid } = await startRouter();
  const port = await freePort();
  const p = push(7, `127.0.0.1:${port}`);
  await client.pushFlags(p);
  const before = await client.flagUsage();
  const stream = evaluationStream(port, 200, 30_000);
  // And the official server provider, one evaluation after another.
  await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: `http://127.0.0.1:${port}`, headers: [['Authorization', 'Bearer client-token']] }));
  const sdk = OpenFeature.getClient();
  const sdkFailures: string[] = [];
  let sdkEvaluations = 0;
  let sdkRunning = true;
  const sdkLoop = (async () => {
    while (sdkRunning) {
      const d = await sdk.getStringDetails('banner-color', 'default', { targetingKey: `sdk-${sdkEvaluations}` });
      sdkEvaluations++;
      if (d.value !== 'blue' || d.errorCode !== undefined) sdkFailures.push(`#${sdkEvaluations}: ${d.value} ${d.errorCode} ${d.errorMessage ?? ''}`);
      await sleep(10);
    }
  })();
  await sleep(700);
  let pid = firstPid;
  for (let i = 0; i < 2; i++) {
    const r = await client.restart({ drainTimeoutMs: 5000 });
    assert.equal(r.oldPid, pid);
    assert.notEqual(r.newPid, pid);
    pids.add(r.newPid);
    await waitFor(() => !isProcessAlive(pid), { timeoutMs: 15_000, intervalMs: 20, what: `old router pid ${pid} to drain and exit` });
    pid = r.newPid;
    await sleep(500);
  }
  await sleep(700);
  const result = await stream.stop();
  sdkRunning = false;
  await sdkLoop;
  await OpenFeature.close();
  assert.ok(sdkEvaluations >= 100, `the provider evaluated ${sdkEvaluations} times`);
  assert.deepEqual(sdkFailures, [], `${sdkFailures.length} of ${sdkEvaluations} provider evaluations failed`);
  assert.ok(result.sent >= 400, `sent ${result.sent} evaluations`);
  assert.deepEqual(result.failures, [], `${result.failures.length} of ${result.sent} evaluations failed: ${result.failures.slice(0, 5).join('; ')}`);

  // The successor holds the same push, persisted, takes the next one, and counts afresh.
  assert.deepEqual(await client.flags(), p);
  const after = await client.flagUsage();
  assert.notEqual(after.instanceId, before.instanceId);
  assert.ok((after.usage.find((u) => u.flag === 'banner-color')?.count ?? 0) > 0);
  await client.pushFlags(push(8, `127.0.0.1:${port}`, false));
  assert.equal((await evaluate(port, 'new-checkout')).body.value, false);
  await assert.rejects(client.pushFlags(push(7, `127.0.0.1:${port}`)), /older than generation 8/);
});

test('a handover does not close an idle fetch (undici) connection under its client: reused after a long stall it is answered, not reset', async () => {
  const { client } = await startRouter();
  const port = await freePort();
  await client.pushFlags(push(4, `127.0.0.1:${port}`));
  const evaluateByFetch = async (key: string): Promise<unknown> => {
    const r = await fetch(`http://127.0.0.1:${port}/ofrep/v1/evaluate/flags/banner-color`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer client-token' },
      body: JSON.stringify({ context: { targetingKey: key } }),
    });
    return ((await r.json()) as { value?: unknown }).value;
  };
  // One keep-alive connection in fetch's pool, to the router about to hand over.
  assert.equal(await evaluateByFetch('before'), 'blue');
  const r = await client.restart({ drainTimeoutMs: 10_000 });
  pids.add(r.newPid);
  // The client stalls (a busy event loop) longer than the old HANDOVER_IDLE_GRACE_MS but
  // within the Keep-Alive hint: it has not yet read any FIN the old router sent, so its next
  // request goes out on that connection. Closed under it, the POST would fail (undici does
  // not retry it); the old router must instead still be there to answer it.
  const until = Date.now() + 2500;
  while (Date.now() < until) {
    // busy: no I/O is read
  }
  assert.equal(await evaluateByFetch('after-stall'), 'blue');
  assert.equal(await evaluateByFetch('next'), 'blue');
});

test('a successor that fails to start: the old router keeps answering OFREP and takes flag pushes again', async () => {
  const { dir, client, pid } = await startRouter();
  const port = await freePort();
  await client.pushFlags(push(2, `127.0.0.1:${port}`));
  const stream = evaluationStream(port, 100, 20_000);
  await sleep(300);
  // The successor refuses an admin token others could read (src/router/credential.ts).
  chmodSync(adminTokenPath(dir), 0o644);
  await assert.rejects(client.restart(), new RegExp(`this router \\(pid ${pid}\\) keeps serving$`));
  chmodSync(adminTokenPath(dir), 0o600);
  await sleep(300);
  const result = await stream.stop();
  assert.deepEqual(result.failures, [], `${result.failures.length} of ${result.sent} evaluations failed: ${result.failures.slice(0, 5).join('; ')}`);
  // Pushes were refused only while the successor was starting.
  assert.deepEqual(await client.pushFlags(push(3, `127.0.0.1:${port}`, false)), { generation: 3, listening: `127.0.0.1:${port}` });
  assert.equal((await evaluate(port, 'new-checkout')).body.value, false);
  assert.equal((await client.identity()).pid, pid);
});

/** An SSE change stream (GET /ofrep/v1/flags/changes): its text so far, and whether it ended. */
function changeStream(port: number) {
  const state = { text: '', ended: false, error: undefined as string | undefined };
  const req = http.get({ host: '127.0.0.1', port, path: '/ofrep/v1/flags/changes', agent: false }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d: string) => (state.text += d));
    res.on('end', () => (state.ended = true));
    res.on('error', (e) => ((state.error = e.message), (state.ended = true)));
  });
  req.on('error', (e) => ((state.error = e.message), (state.ended = true)));
  return { state, close: () => req.destroy() };
}

test('a handover ends the old process change streams at once (it exits well before its drain timeout); a new stream on the successor sees the next push', async () => {
  const { client, pid } = await startRouter();
  const port = await freePort();
  await client.pushFlags(push(1, `127.0.0.1:${port}`));
  const old = changeStream(port);
  await waitFor(() => old.state.text.includes('flags generation 1'), { timeoutMs: 5000, intervalMs: 10, what: 'the change stream to open' });
  const started = Date.now();
  // Drain timeout 10 s: a stream left open would hold the old process that long.
  const r = await client.restart({ drainTimeoutMs: 10_000 });
  pids.add(r.newPid);
  await waitFor(() => old.state.ended, { timeoutMs: 5000, intervalMs: 10, what: "the old process's change stream to end" });
  await waitFor(() => !isProcessAlive(pid), { timeoutMs: 6000, intervalMs: 20, what: `old router pid ${pid} to exit` });
  assert.ok(Date.now() - started < 8000, `the old router took ${Date.now() - started} ms to exit`);
  const next = changeStream(port);
  try {
    await waitFor(() => next.state.text.includes('flags generation 1'), { timeoutMs: 5000, intervalMs: 10, what: "the successor's change stream" });
    await client.pushFlags(push(2, `127.0.0.1:${port}`, false));
    await waitFor(() => next.state.text.includes('refetchEvaluation'), { timeoutMs: 2000, intervalMs: 10, what: 'the change event' });
    assert.equal((await evaluate(port, 'new-checkout')).body.value, false);
  } finally {
    next.close();
    old.close();
  }
});

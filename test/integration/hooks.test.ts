import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { freePort } from '../helpers/ports.js';
import { isProcessAlive } from '../../src/util/process-control.js';
import { UserError } from '../../src/util/errors.js';
import type { RolloutEvent } from '../../src/core/rollout.js';
import type { ExecHookSpec, NotificationSpec, SmokeCheck, WebhookSpec } from '../../src/core/hooks.js';
import { callWebhook, pollGate, verifySignature } from '../../src/hooks/webhook.js';
import { runExecHook } from '../../src/hooks/exec.js';
import { runSmokeTests } from '../../src/hooks/smoke.js';
import { Notifier, type NotificationContext } from '../../src/hooks/notify.js';
import { waitFor } from '../helpers/wait.js';
import { hookPayload } from '../../src/core/hook-payload.js';

interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  url: string;
  port: number;
  requests: Received[];
  close(): Promise<void>;
}

const servers: http.Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => closeServer(s)));
});

function closeServer(s: http.Server): Promise<void> {
  return new Promise((resolve) => {
    s.closeAllConnections();
    s.close(() => resolve());
  });
}

/** An HTTP server on 127.0.0.1 that records every request (raw body) and lets `handle` answer. */
async function receiver(handle: (req: Received, res: http.ServerResponse, n: number) => void): Promise<Receiver> {
  const requests: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(r);
      handle(r, res, requests.length);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, port, requests, close: () => closeServer(server) };
}

function reply(res: http.ServerResponse, status: number, body: unknown = '', headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
  res.end(text);
}

const ctx: NotificationContext = { rollout: 'web', phase: 'Progressing', revision: 3, stableRevision: 2, version: 'v2' };
const payload = hookPayload('pre-rollout', ctx, Date.parse('2026-01-01T00:00:00Z'), { metadata: { env: 'test' } });
const fast = { retryDelayMs: 20, maxRetryDelayMs: 50 };

function webhook(url: string, over: Partial<WebhookSpec> = {}): WebhookSpec {
  return { name: 'check', kind: 'pre-rollout', url, timeoutSeconds: 2, headers: {}, metadata: {}, retries: 3, ...over };
}

describe('webhooks', () => {
  const SECRET = 's3cret';
  /** Answers 200 only to requests whose signature verifies, as a receiver in the wild should. */
  const verifying = () =>
    receiver((r, res) => {
      const ok = verifySignature(SECRET, r.headers['x-sluice-timestamp'] as string, r.body, r.headers['x-sluice-signature'] as string);
      reply(res, ok ? 200 : 401, ok ? 'accepted' : 'bad signature');
    });

  test('a signed call verifies at the receiver, which gets the payload and sluice headers', async () => {
    const rx = await verifying();
    const r = await callWebhook(webhook(rx.url, { secret: SECRET, headers: { 'x-team': 'web' } }), payload, fast);
    assert.equal(r.ok, true, r.error);
    assert.equal(r.status, 200);
    assert.equal(r.attempts, 1);
    const got = rx.requests[0];
    assert.equal(got.method, 'POST');
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['x-sluice-hook'], 'pre-rollout');
    assert.equal(got.headers['x-team'], 'web');
    assert.match(got.headers['x-sluice-delivery'] as string, /^[0-9a-f-]{36}$/);
    assert.match(got.headers['x-sluice-signature'] as string, /^sha256=[0-9a-f]{64}$/);
    assert.deepEqual(JSON.parse(got.body), payload);
  });

  test('a wrong secret is detected by the receiver, and 401 is not retried', async () => {
    const rx = await verifying();
    const r = await callWebhook(webhook(rx.url, { secret: 'not-the-secret' }), payload, fast);
    assert.equal(r.ok, false);
    assert.equal(r.status, 401);
    assert.equal(r.attempts, 1);
    assert.equal(r.error, 'HTTP 401 Unauthorized: bad signature');
    const unsigned = await callWebhook(webhook(rx.url), payload, fast);
    assert.equal(unsigned.status, 401);
    assert.equal(rx.requests[1].headers['x-sluice-signature'], undefined);
  });

  test('the key can come from secretEnv; an unset secretEnv fails without sending anything', async () => {
    const rx = await verifying();
    const ok = await callWebhook(webhook(rx.url, { secretEnv: 'HOOK_KEY' }), payload, { ...fast, env: { HOOK_KEY: SECRET } });
    assert.equal(ok.ok, true, ok.error);
    const missing = await callWebhook(webhook(rx.url, { secretEnv: 'HOOK_KEY' }), payload, { ...fast, env: {} });
    assert.equal(missing.ok, false);
    assert.equal(missing.attempts, 0);
    assert.match(missing.error!, /secretEnv HOOK_KEY is not set/);
    assert.equal(rx.requests.length, 1);
  });

  test('503 is retried with backoff until the receiver answers 2xx; each retry is signed afresh', async () => {
    const rx = await receiver((r, res, n) => reply(res, n <= 2 ? 503 : 204));
    const r = await callWebhook(webhook(rx.url, { secret: SECRET }), payload, fast);
    assert.equal(r.ok, true);
    assert.equal(r.status, 204);
    assert.equal(r.attempts, 3);
    assert.ok(r.durationMs >= 20 + 40 - 5, `backoff slept ${r.durationMs} ms`);
    const deliveries = new Set(rx.requests.map((q) => q.headers['x-sluice-delivery']));
    assert.equal(deliveries.size, 1, 'one delivery id across the attempts');
    for (const q of rx.requests)
      assert.ok(verifySignature(SECRET, q.headers['x-sluice-timestamp'] as string, q.body, q.headers['x-sluice-signature'] as string));
  });

  test('a 5xx that never clears gives up after the retries with the status and the first 200 bytes', async () => {
    const rx = await receiver((r, res) => reply(res, 500, `boom ${'x'.repeat(1000)}`));
    const r = await callWebhook(webhook(rx.url, { retries: 2 }), payload, fast);
    assert.equal(r.ok, false);
    assert.equal(r.status, 500);
    assert.equal(r.attempts, 3);
    assert.equal(r.body!.length, 200);
    assert.ok(r.body!.startsWith('boom xxx'));
    assert.ok(r.error!.startsWith('HTTP 500 Internal Server Error: boom xxx'), r.error);
  });

  test('429 is retried; 400 is not', async () => {
    const limited = await receiver((r, res, n) => reply(res, n === 1 ? 429 : 200, '', { 'retry-after': '1' }));
    const r429 = await callWebhook(webhook(limited.url), payload, fast);
    assert.equal(r429.ok, true);
    assert.equal(r429.attempts, 2);
    assert.ok(r429.durationMs < 1000, 'Retry-After is capped by maxRetryDelayMs');

    const bad = await receiver((r, res) => reply(res, 400, { error: 'missing field approver' }));
    const r400 = await callWebhook(webhook(bad.url), payload, fast);
    assert.equal(r400.ok, false);
    assert.equal(r400.attempts, 1);
    assert.equal(r400.error, 'HTTP 400 Bad Request: {"error":"missing field approver"}');
    assert.equal(bad.requests.length, 1);
  });

  test('a receiver that never answers times out, and timeouts are retried', async () => {
    const rx = await receiver(() => {});
    const r = await callWebhook(webhook(rx.url, { timeoutSeconds: 0.15, retries: 1 }), payload, fast);
    assert.equal(r.ok, false);
    assert.equal(r.status, undefined);
    assert.equal(r.attempts, 2);
    assert.equal(r.error, 'no answer within 150ms');
    assert.ok(r.durationMs >= 300 && r.durationMs < 2000, `took ${r.durationMs} ms`);
  });

  test('connection refused is retried and reported without the URL', async () => {
    const port = await freePort();
    const r = await callWebhook(webhook(`http://127.0.0.1:${port}/hook?token=abc`, { retries: 1 }), payload, fast);
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 2);
    assert.equal(r.error, `cannot connect to 127.0.0.1:${port} (connection refused)`);
  });

  test('a caller abort stops the retries', async () => {
    const rx = await receiver((r, res) => reply(res, 503));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const r = await callWebhook(webhook(rx.url, { retries: 50 }), payload, { retryDelayMs: 30, maxRetryDelayMs: 30, signal: ac.signal });
    assert.equal(r.ok, false);
    assert.match(r.error!, /^aborted/);
    assert.ok(r.attempts < 10);
  });

  test('pollGate holds until the gate answers 2xx', async () => {
    const rx = await receiver((r, res, n) => reply(res, n < 4 ? 403 : 200, n < 4 ? 'not approved yet' : 'approved'));
    const waiting: string[] = [];
    const r = await pollGate(webhook(rx.url, { kind: 'confirm-promotion' }), payload, {
      intervalMs: 30,
      onAttempt: (res, calls) => waiting.push(`${calls}: ${res.error}`),
    });
    assert.equal(r.ok, true);
    assert.equal(r.attempts, 4);
    assert.equal(rx.requests.length, 4);
    assert.deepEqual(
      waiting,
      [1, 2, 3].map((n) => `${n}: HTTP 403 Forbidden: not approved yet`),
    );
    assert.ok(r.durationMs >= 90, `polled for ${r.durationMs} ms`);
  });

  test('pollGate keeps polling through a gate that is down, and rejects on abort', async () => {
    const port = await freePort();
    const ac = new AbortController();
    let calls = 0;
    setTimeout(() => ac.abort(), 150);
    await assert.rejects(
      pollGate(webhook(`http://127.0.0.1:${port}`, { kind: 'confirm-rollout' }), payload, { intervalMs: 20, signal: ac.signal, onAttempt: () => calls++ }),
      { name: 'AbortError' },
    );
    assert.ok(calls >= 2, `${calls} calls`);
  });

  test('pollGate rejects at once when the hook cannot work', async () => {
    await assert.rejects(pollGate(webhook('ftp://127.0.0.1/x', { kind: 'confirm-rollout' }), payload, { intervalMs: 10 }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.message, 'webhook check (confirm-rollout): url must be http:// or https://, not ftp://');
      return true;
    });
  });
});

describe('exec hooks', () => {
  function exec(command: string[], over: Partial<ExecHookSpec> = {}): ExecHookSpec {
    return { name: 'script', kind: 'pre-rollout', command, env: {}, timeoutSeconds: 5, ...over };
  }
  const node = process.execPath;

  test('gets the payload on stdin and in the environment; exit 0 is ok', async () => {
    const script = `
      let s = '';
      process.stdin.on('data', (c) => (s += c)).on('end', () => {
        const p = JSON.parse(s), e = JSON.parse(process.env.SLUICE_HOOK_PAYLOAD);
        console.log([p.name, p.version, e.metadata.env, process.env.SLUICE_ROLLOUT, process.env.SLUICE_REVISION,
          process.env.SLUICE_STABLE_REVISION, process.env.SLUICE_KIND, process.env.EXTRA].join(' '));
      });`;
    const r = await runExecHook(exec([node, '-e', script], { env: { EXTRA: 'yes' } }), payload);
    assert.equal(r.ok, true, r.error ?? r.stderrTail);
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdoutTail, 'web v2 test web 3 2 pre-rollout yes\n');
    assert.equal(r.error, undefined);
  });

  test('a non-zero exit fails with the tails of its output', async () => {
    const r = await runExecHook(exec([node, '-e', `console.log('checking'); console.error('db is not migrated'); process.exit(3)`]), payload);
    assert.equal(r.ok, false);
    assert.equal(r.exitCode, 3);
    assert.equal(r.error, 'exited with code 3');
    assert.equal(r.stdoutTail, 'checking\n');
    assert.equal(r.stderrTail, 'db is not migrated\n');
  });

  test('only the last 4 KiB of output is kept', async () => {
    const r = await runExecHook(exec([node, '-e', `process.stdout.write('a'.repeat(10000) + 'END')`]), payload);
    assert.equal(r.stdoutTail.length, 4096);
    assert.ok(r.stdoutTail.endsWith('aEND'));
  });

  test('a timeout kills the whole process group', async () => {
    const started = Date.now();
    const r = await runExecHook(exec(['sh', '-c', 'sleep 30 & echo $!; wait'], { timeoutSeconds: 0.3 }), payload);
    assert.equal(r.ok, false);
    assert.equal(r.timedOut, true);
    assert.equal(r.error, 'timed out after 300ms; killed');
    assert.ok(Date.now() - started < 3000);
    const grandchild = Number(r.stdoutTail.trim());
    assert.ok(grandchild > 0, `pid printed: ${r.stdoutTail}`);
    await waitFor(() => !isProcessAlive(grandchild), { timeoutMs: 2000, intervalMs: 10, what: `background sleep ${grandchild} survived` });
  });

  test('a hook that ignores SIGTERM is SIGKILLed after the grace period', async () => {
    const r = await runExecHook(exec(['sh', '-c', 'trap "" TERM; sleep 30'], { timeoutSeconds: 0.2 }), payload, { killGraceMs: 100 });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(r.durationMs < 2000, `took ${r.durationMs} ms`);
  });

  test('an abort kills it; a missing command is reported', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const aborted = await runExecHook(exec(['sleep', '30']), payload, { signal: ac.signal });
    assert.equal(aborted.ok, false);
    assert.equal(aborted.error, 'aborted; killed');
    const missing = await runExecHook(exec(['sluice-no-such-command-xyz']), payload);
    assert.equal(missing.ok, false);
    assert.equal(missing.exitCode, null);
    assert.equal(missing.error, 'command not found: sluice-no-such-command-xyz (looked up on PATH)');
  });
});

describe('smoke tests', () => {
  let app: Receiver;
  const check = (path: string, over: Partial<SmokeCheck> = {}): SmokeCheck => ({
    method: 'GET',
    path,
    headers: {},
    expectStatus: 200,
    timeoutSeconds: 2,
    ...over,
  });

  before(async () => {
    app = await receiver((r, res) => {
      if (r.path === '/api/health') reply(res, 200, { status: 'ok', version: 'v2', build: { commit: 'abc', dirty: false }, items: [{ id: 1 }, { id: 2 }] });
      else if (r.path === '/down') reply(res, 503, 'unavailable');
      else if (r.path === '/slow') setTimeout(() => reply(res, 200, 'ok'), 150);
      else if (r.path === '/hang') return;
      else if (r.path === '/html') reply(res, 200, '<html>hello</html>');
      else if (r.path === '/echo')
        reply(res, 201, { method: r.method, tenant: r.headers['x-tenant'], type: r.headers['content-type'], got: JSON.parse(r.body) });
      else reply(res, 404, 'no route');
    });
  });

  test('passing checks: status, JSONPath and plain keys, body text, latency, POST with a JSON body', async () => {
    const r = await runSmokeTests(
      {
        name: 'smoke',
        target: 'canary',
        checks: [
          check('/api/health', {
            expectJson: { status: 'ok', '$.version': 'v2', '$.build': { commit: 'abc' }, '$.items[1].id': 2, "$['build']['dirty']": false },
            expectBodyContains: '"ok"',
            maxLatencyMs: 2000,
          }),
          check('/echo', {
            name: 'create',
            method: 'post',
            headers: { 'x-tenant': 'acme' },
            jsonBody: { a: 1 },
            expectStatus: [200, 201],
            expectJson: { '$.got.a': 1, tenant: 'acme', type: 'application/json', method: 'POST' },
          }),
        ],
      },
      `${app.url}/`,
    );
    assert.equal(r.ok, true, JSON.stringify(r.checks));
    assert.deepEqual(
      r.checks.map((c) => [c.name, c.ok, c.status, c.problem]),
      [
        ['GET /api/health', true, 200, undefined],
        ['create', true, 201, undefined],
      ],
    );
    assert.ok(r.checks.every((c) => typeof c.latencyMs === 'number' && c.latencyMs >= 0));
  });

  test('every check runs and each failure has a one-line reason', async () => {
    const r = await runSmokeTests(
      {
        name: 'smoke',
        target: 'main',
        checks: [
          check('/down'),
          check('/api/health', { expectJson: { '$.version': 'v3', '$.build.branch': 'main', '$.items': [{ id: 1 }] } }),
          check('/html', { expectBodyContains: 'goodbye' }),
          check('/api/health'),
          check('/slow', { maxLatencyMs: 50 }),
          check('/hang', { timeoutSeconds: 0.2 }),
          check('/html', { expectJson: { version: 'v2' } }),
          check('/api/health', { expectJson: { '$.items[*].id': 1 } }),
        ],
      },
      app.url,
    );
    assert.equal(r.ok, false);
    assert.equal(r.checks.length, 8);
    const problems = r.checks.map((c) => c.problem);
    assert.equal(problems[0], 'GET /down: expected status 200, got 503 Service Unavailable (unavailable)');
    assert.equal(
      problems[1],
      'GET /api/health: expected $.version to be "v3", got "v2"; expected $.build.branch to be "main", got nothing (no such key); expected $.items to be [{"id":1}], got [{"id":1},{"id":2}]',
    );
    assert.equal(problems[2], 'GET /html: expected the body to contain "goodbye", got "<html>hello</html>"');
    assert.equal(problems[3], undefined);
    assert.equal(r.checks[3].ok, true);
    assert.match(problems[4]!, /^GET \/slow: took \d+ ms, more than maxLatencyMs 50$/);
    assert.ok(r.checks[4].latencyMs! >= 140);
    assert.equal(problems[5], 'GET /hang: no answer within 200ms');
    assert.equal(problems[6], 'GET /html: expected a JSON body, got "<html>hello</html>"');
    assert.equal(problems[7], "GET /api/health: cannot read path $.items[*].id: only $.a.b, $.a[0] and $['a'] are supported");
  });

  test('connection refused, and checks after an abort are skipped', async () => {
    const port = await freePort();
    const r = await runSmokeTests({ name: 'smoke', target: 'preview', checks: [check('/api/health')] }, `http://127.0.0.1:${port}`);
    assert.equal(r.ok, false);
    assert.equal(r.checks[0].problem, `GET /api/health: cannot connect to 127.0.0.1:${port} (connection refused)`);
    assert.equal(r.checks[0].status, undefined);

    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const aborted = await runSmokeTests({ name: 'smoke', target: 'main', checks: [check('/hang'), check('/api/health')] }, app.url, { signal: ac.signal });
    assert.deepEqual(
      aborted.checks.map((c) => c.problem),
      ['GET /hang: aborted', 'GET /api/health: skipped, smoke test aborted'],
    );
  });
});

describe('notifications', () => {
  let nextId = 1;
  function event(reason: string, type: 'Normal' | 'Warning' = 'Normal', message = `${reason} happened`): RolloutEvent {
    return { id: nextId++, rollout: 'web', at: Date.parse('2026-01-01T00:00:00Z'), actor: 'engine', type, reason, message, revision: 3 };
  }

  test('Slack gets compact messages for the default events; a generic webhook gets signed payloads for all', async () => {
    const slack = await receiver((r, res) => reply(res, 200, 'ok'));
    const generic = await receiver((r, res) => reply(res, 202));
    const specs: NotificationSpec[] = [
      { name: 'team-slack', type: 'slack', url: `${slack.url}/services/T000/B000/XXX` },
      { name: 'audit', type: 'webhook', url: generic.url, events: ['*'], secret: 'k' },
    ];
    const n = new Notifier(specs, fast);
    const metrics = { 'success-rate': 0.998 };
    n.notify(event('NewRevision'), ctx);
    n.notify(event('ScaledDown'), ctx);
    n.notify(event('Promoted', 'Normal', 'promoted <past> step 2/3 & done'), { ...ctx, metricValues: metrics });
    assert.equal(await n.flush(5000), true);
    assert.deepEqual(n.stats(), { sent: 5, failed: 0, dropped: 0, pending: 0 });

    assert.deepEqual(
      slack.requests.map((q) => JSON.parse(q.body).text),
      [':arrow_forward: web: revision 3 (v2) rollout started', ':rocket: web: revision 3 (v2) promoted'],
    );
    const promoted = JSON.parse(slack.requests[1].body);
    assert.equal(promoted.attachments[0].color, 'good');
    assert.deepEqual(promoted.attachments[0].fields, [
      { title: 'Reason', value: 'Promoted', short: true },
      { title: 'Phase', value: 'Progressing', short: true },
      { title: 'Message', value: 'promoted &lt;past&gt; step 2/3 &amp; done', short: false },
      { title: 'Metrics', value: 'success-rate=0.998', short: false },
    ]);

    assert.equal(generic.requests.length, 3);
    const bodies = generic.requests.map((q) => JSON.parse(q.body));
    assert.deepEqual(
      bodies.map((b) => [b.kind, b.name, b.event.reason, b.revision]),
      [
        ['event', 'web', 'NewRevision', 3],
        ['event', 'web', 'ScaledDown', 3],
        ['event', 'web', 'Promoted', 3],
      ],
    );
    assert.deepEqual(bodies[2].metrics, metrics);
    for (const q of generic.requests) {
      assert.ok(verifySignature('k', q.headers['x-sluice-timestamp'] as string, q.body, q.headers['x-sluice-signature'] as string));
    }
  });

  test('events filter case-insensitively; failures are counted and reported, never thrown', async () => {
    const rx = await receiver((r, res) => reply(res, 400, 'invalid_payload'));
    const failures: string[] = [];
    const n = new Notifier([{ name: 'oncall', type: 'slack', url: rx.url, events: ['rolloutaborted'] }], {
      ...fast,
      onFailure: (name, r) => failures.push(`${name}: ${r.error}`),
    });
    n.notify(event('NewRevision'), ctx);
    n.notify(event('RolloutAborted', 'Warning', 'analysis failed: error-rate 0.2 > 0.05'), { ...ctx, phase: 'Degraded' });
    assert.equal(await n.flush(5000), true);
    assert.equal(rx.requests.length, 1);
    const msg = JSON.parse(rx.requests[0].body);
    assert.equal(msg.text, ':rotating_light: web: revision 3 (v2) rollout aborted');
    assert.equal(msg.attachments[0].color, 'danger');
    assert.deepEqual(n.stats(), { sent: 0, failed: 1, dropped: 0, pending: 0 });
    assert.deepEqual(failures, ['oncall: HTTP 400 Bad Request: invalid_payload']);
  });

  test('a stuck destination never blocks notify: its queue overflows and drops, other destinations still deliver', async () => {
    const held: http.ServerResponse[] = [];
    let holding = true;
    const stuck = await receiver((r, res) => (holding ? held.push(res) : reply(res, 200)));
    const healthy = await receiver((r, res) => reply(res, 200));
    const n = new Notifier(
      [
        { name: 'stuck', type: 'webhook', url: stuck.url, events: ['*'] },
        { name: 'healthy', type: 'webhook', url: healthy.url, events: ['*'] },
      ],
      { ...fast, queueSize: 5, timeoutSeconds: 5 },
    );
    const started = performance.now();
    for (let i = 0; i < 20; i++) n.notify(event('StepCompleted'), ctx);
    assert.ok(performance.now() - started < 100, 'notify returned at once');
    assert.equal(n.stats().dropped, 2 * (20 - 5 - 1), 'each queue holds 5 plus one in flight');

    await waitFor(() => healthy.requests.length === 6, { timeoutMs: 3000, intervalMs: 10, what: 'healthy destination delivered' });
    assert.equal(await n.flush(100), false, 'the stuck destination is still busy');

    holding = false;
    for (const res of held.splice(0)) reply(res, 200);
    assert.equal(await n.flush(5000), true);
    assert.deepEqual(n.stats(), { sent: 12, failed: 0, dropped: 28, pending: 0 });
  });

  test('close aborts deliveries in flight and drops what is queued', async () => {
    const rx = await receiver(() => {});
    const n = new Notifier([{ name: 'x', type: 'webhook', url: rx.url, events: ['*'] }], fast);
    for (let i = 0; i < 3; i++) n.notify(event('StepCompleted'), ctx);
    await waitFor(() => rx.requests.length === 1, { timeoutMs: 2000, intervalMs: 10, what: 'first delivery started' });
    n.close();
    n.notify(event('StepCompleted'), ctx);
    assert.equal(await n.flush(2000), true);
    assert.deepEqual(n.stats(), { sent: 0, failed: 0, dropped: 4, pending: 0 });
  });
});

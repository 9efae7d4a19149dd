import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { JobProviderConfig, MeasurementContext, PrometheusProviderConfig, WebProviderConfig } from '../../src/core/analysis.js';
import { WebProvider } from '../../src/analysis/providers/web.js';
import { JobProvider } from '../../src/analysis/providers/job.js';
import { PrometheusProvider } from '../../src/analysis/providers/prometheus.js';
import { compileCondition } from '../../src/analysis/condition.js';
import { freePort } from '../helpers/ports.js';
import { prometheusOrSkip, startPrometheus } from '../helpers/prometheus.js';
import { sleep, waitFor } from '../helpers/wait.js';

function context(overrides: Partial<MeasurementContext> = {}): MeasurementContext {
  return {
    rollout: 'shop',
    canaryRevision: 4,
    stableRevision: 3,
    args: { rollout: 'shop', canaryRevision: '4', stableRevision: '3', service: 'a', 'service-name': 'checkout' },
    addresses: { main: '127.0.0.1:8080', canary: '127.0.0.1:9001' },
    runStartedAt: Date.now(),
    now: Date.now(),
    ...overrides,
  };
}

const never = new AbortController().signal;

async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the measurement to throw');
}

// ---------- web ----------

test('web provider against a real HTTP server', async (t) => {
  const answer = { data: { ok: true, value: 0.42, items: [{ v: 1 }, { v: 2 }, { v: 3 }], nested: { p95: 0.2 } } };
  const server = await serve((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.url === '/metrics') return json(200, answer);
      if (req.url === '/fail') return json(500, { error: 'boom' });
      if (req.url === '/text') return void res.end('not json at all');
      if (req.url === '/big') return void res.end(`"${'x'.repeat(5 * 1024 * 1024)}"`);
      if (req.url === '/slow') return void setTimeout(() => json(200, 1), 3000).unref();
      if (req.url?.startsWith('/echo'))
        return json(200, { method: req.method, url: req.url, headers: req.headers, body: body === '' ? null : JSON.parse(body) });
      json(404, { error: 'not found' });
    });
  });
  t.after(() => server.close());
  const web = new WebProvider();
  const config = (overrides: Partial<WebProviderConfig>): WebProviderConfig => ({
    url: `${server.url}/metrics`,
    method: 'GET',
    headers: {},
    timeoutSeconds: 5,
    ...overrides,
  });

  await t.test('without jsonPath the whole JSON answer is the value', async () => {
    const r = await web.measure(config({}), context(), never);
    assert.deepEqual(r.value, answer);
    assert.equal(r.details?.status, 200);
  });

  await t.test('jsonPath picks numbers, booleans, objects and lists', async () => {
    assert.equal((await web.measure(config({ jsonPath: '$.data.value' }), context(), never)).value, 0.42);
    assert.equal((await web.measure(config({ jsonPath: '$.data.ok' }), context(), never)).value, true);
    assert.deepEqual((await web.measure(config({ jsonPath: '$.data.nested' }), context(), never)).value, { p95: 0.2 });
    assert.equal((await web.measure(config({ jsonPath: '{$.data.items[-1].v}' }), context(), never)).value, 3);
    assert.equal((await web.measure(config({ jsonPath: "$['data']['items'][0]['v']" }), context(), never)).value, 1);
    const all = await web.measure(config({ jsonPath: '$.data.items[*].v' }), context(), never);
    assert.deepEqual(all.value, [1, 2, 3]);
    assert.equal(compileCondition('max(result) == 3 && len(result) == 3')(all.value), true);
    assert.equal(compileCondition('result.p95 < 0.5')((await web.measure(config({ jsonPath: '$.data.nested' }), context(), never)).value), true);
  });

  await t.test('a jsonPath that matches nothing throws', async () => {
    const err = await rejection(web.measure(config({ jsonPath: '$.data.missing' }), context(), never));
    assert.match(err.message, /^jsonPath \$\.data\.missing matched nothing in the answer/);
  });

  await t.test('a non-2xx answer throws naming the status', async () => {
    const err = await rejection(web.measure(config({ url: `${server.url}/fail` }), context(), never));
    assert.match(err.message, /answered 500 Internal Server Error: \{"error":"boom"\}/);
  });

  await t.test('an answer that is not JSON throws', async () => {
    const err = await rejection(web.measure(config({ url: `${server.url}/text` }), context(), never));
    assert.match(err.message, /not JSON: not json at all/);
  });

  await t.test('an oversized answer throws', async () => {
    const err = await rejection(web.measure(config({ url: `${server.url}/big` }), context(), never));
    assert.match(err.message, /answered with more than 4 MiB/);
  });

  await t.test('a slow server times out after timeoutSeconds', async () => {
    const started = Date.now();
    const err = await rejection(web.measure(config({ url: `${server.url}/slow`, timeoutSeconds: 0.3 }), context(), never));
    assert.match(err.message, /did not answer within 0\.3s/);
    assert.ok(Date.now() - started < 2000, 'the timeout must not wait for the answer');
  });

  await t.test('the caller aborting cancels the request', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const err = await rejection(web.measure(config({ url: `${server.url}/slow` }), context(), controller.signal));
    assert.match(err.message, /cancelled/);
  });

  await t.test('POST sends the JSON body and headers with args substituted', async () => {
    const r = await web.measure(
      config({
        url: `${server.url}/echo?rollout={{args.rollout}}`,
        method: 'POST',
        headers: { 'x-service': '{{ args.service-name }}' },
        body: { rollout: '{{args.rollout}}', revisions: ['{{args.canaryRevision}}', 3], n: 1 },
        jsonPath: '$',
      }),
      context(),
      never,
    );
    const echo = r.value as { method: string; url: string; headers: Record<string, string>; body: unknown };
    assert.equal(echo.method, 'POST');
    assert.equal(echo.url, '/echo?rollout=shop');
    assert.equal(echo.headers['x-service'], 'checkout');
    assert.equal(echo.headers['content-type'], 'application/json');
    assert.deepEqual(echo.body, { rollout: 'shop', revisions: ['4', 3], n: 1 });
  });

  await t.test('an unknown arg throws naming it', async () => {
    const err = await rejection(web.measure(config({ url: `${server.url}/echo?x={{args.nope}}` }), context(), never));
    assert.match(err.message, /unknown argument 'nope'/);
  });

  await t.test('an unreachable server throws naming the address', async () => {
    const port = await freePort();
    const err = await rejection(web.measure(config({ url: `http://127.0.0.1:${port}/x` }), context(), never));
    assert.match(err.message, new RegExp(`web metric GET http://127.0.0.1:${port}/x is unreachable: .*ECONNREFUSED`));
  });
});

// ---------- job ----------

test('job provider with real commands', async (t) => {
  const job = new JobProvider();
  const node = process.execPath;
  const config = (script: string, overrides: Partial<JobProviderConfig> = {}): JobProviderConfig => ({
    command: [node, '-e', script],
    env: {},
    timeoutSeconds: 10,
    ...overrides,
  });

  await t.test("a number on stdout's last line is the value", async () => {
    const r = await job.measure(config('console.log("warming up"); console.log(""); console.log("0.125"); console.log("")'), context(), never);
    assert.equal(r.value, 0.125);
    assert.equal(r.details?.exitCode, 0);
    assert.match(String(r.details?.stdoutTail), /warming up/);
  });

  await t.test('exit 0 without a number is true, a non-zero exit is false', async () => {
    assert.equal((await job.measure(config('console.log("all good")'), context(), never)).value, true);
    const failed = await job.measure(config('console.error("smoke test failed: 3 of 10"); process.exit(3)'), context(), never);
    assert.equal(failed.value, false);
    assert.equal(failed.details?.exitCode, 3);
    assert.match(String(failed.details?.stderrTail), /smoke test failed/);
  });

  await t.test('a number with a non-zero exit throws with the last stderr line', async () => {
    const err = await rejection(
      job.measure(config('console.log(0.5); console.error("first"); console.error("db unreachable"); process.exit(2)'), context(), never),
    );
    assert.match(err.message, /printed 0\.5 but exited 2: db unreachable$/);
  });

  await t.test('env carries SLUICE_* and ARG_* variables over process.env and config.env', async () => {
    const script =
      'const e = process.env; console.log(JSON.stringify(Object.fromEntries(Object.entries(e).filter(([k]) => /^(SLUICE_|ARG_|EXTRA|PATH$)/.test(k)))))';
    const r = await job.measure(config(script, { env: { EXTRA: 'x-{{args.service}}' } }), context(), never);
    assert.equal(r.value, true);
    const env = JSON.parse(String(r.details?.stdoutTail)) as Record<string, string>;
    assert.equal(env.SLUICE_ROLLOUT, 'shop');
    assert.equal(env.SLUICE_CANARY_REVISION, '4');
    assert.equal(env.SLUICE_STABLE_REVISION, '3');
    assert.equal(env.SLUICE_MAIN_ADDRESS, '127.0.0.1:8080');
    assert.equal(env.SLUICE_CANARY_ADDRESS, '127.0.0.1:9001');
    assert.equal(env.SLUICE_PREVIEW_ADDRESS, undefined);
    assert.equal(env.ARG_SERVICE_NAME, 'checkout');
    assert.equal(env.ARG_CANARYREVISION, '4');
    assert.equal(env.EXTRA, 'x-a');
    assert.equal(env.PATH, process.env.PATH);

    const first = await job.measure(config(script), context({ stableRevision: null, addresses: { main: 'm:1', preview: 'p:2' } }), never);
    const env2 = JSON.parse(String(first.details?.stdoutTail)) as Record<string, string>;
    assert.equal(env2.SLUICE_STABLE_REVISION, undefined);
    assert.equal(env2.SLUICE_PREVIEW_ADDRESS, 'p:2');
    assert.equal(env2.SLUICE_CANARY_ADDRESS, undefined);
  });

  await t.test('args are substituted in argv; no shell is involved', async () => {
    const r = await job.measure(
      { command: [node, '-e', 'console.log(process.argv.slice(1).join("|"))', '{{args.service-name}}', '$HOME;echo', '*'], env: {}, timeoutSeconds: 10 },
      context(),
      never,
    );
    assert.equal(String(r.details?.stdoutTail).trim(), 'checkout|$HOME;echo|*');
  });

  await t.test('a timeout kills the whole process group and throws', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-job-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const pidFile = join(dir, 'grandchild.pid');
    // The job starts a grandchild that would outlive it, then ignores SIGTERM itself.
    const script = `
      const { spawn } = require('node:child_process');
      const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(g.pid));
      process.on('SIGTERM', () => {});
      console.log('started');
      setInterval(() => {}, 1000);`;
    const started = Date.now();
    const err = await rejection(job.measure(config(script, { timeoutSeconds: 0.5 }), context(), never));
    assert.match(err.message, /ran past its 0\.5s timeout and was killed/);
    assert.ok(Date.now() - started < 8000);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    await sleep(100);
    assert.throws(() => process.kill(grandchild, 0), /ESRCH/, 'the grandchild must be killed with the group');
  });

  await t.test('aborting the signal kills the job', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    const err = await rejection(job.measure(config('setInterval(() => {}, 1000)'), context(), controller.signal));
    assert.match(err.message, /cancelled/);
    assert.ok(Date.now() - started < 5000);
  });

  await t.test('a command that cannot start throws', async () => {
    const err = await rejection(job.measure({ command: ['/nonexistent/sluice-check'], env: {}, timeoutSeconds: 5 }, context(), never));
    assert.match(err.message, /could not start: .*ENOENT/);
    const cwd = await rejection(job.measure(config('1', { cwd: '/nonexistent-dir' }), context(), never));
    assert.match(cwd.message, /could not start/);
  });

  await t.test('a process killed by a signal throws', async () => {
    const err = await rejection(job.measure(config('process.kill(process.pid, "SIGKILL")'), context(), never));
    assert.match(err.message, /was killed by SIGKILL/);
  });

  await t.test('output is capped; the last line still counts', async () => {
    const r = await job.measure(config('process.stdout.write("x".repeat(1 << 20) + "\\n" + "42\\n")'), context(), never);
    assert.equal(r.value, 42);
    assert.ok(String(r.details?.stdoutTail).length <= 2000);
  });
});

// ---------- prometheus ----------

/** A /metrics endpoint: a counter growing 5 per second, and a gauge with two series. */
async function serveMetrics(): Promise<{ target: string; close(): Promise<void> }> {
  const born = Date.now();
  const server = await serve((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    const count = Math.round(((Date.now() - born) / 1000) * 5);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      [
        '# HELP sluice_test_requests_total Requests served.',
        '# TYPE sluice_test_requests_total counter',
        `sluice_test_requests_total ${count}`,
        '# HELP sluice_test_gauge A gauge.',
        '# TYPE sluice_test_gauge gauge',
        'sluice_test_gauge{service="a"} 0.25',
        'sluice_test_gauge{service="b"} 0.75',
        '',
      ].join('\n'),
    );
  });
  return { target: server.url.replace('http://', ''), close: server.close };
}

test('prometheus provider against a real Prometheus', { timeout: 120_000 }, async (t) => {
  const binary = prometheusOrSkip(t);
  if (binary === undefined) return;
  const metrics = await serveMetrics();
  t.after(() => metrics.close());
  const prom = await startPrometheus({ scrapeTargets: [metrics.target], scrapeIntervalSeconds: 1, binary });
  t.after(() => prom.stop());
  await prom.waitForTargetsUp();
  const provider = new PrometheusProvider();
  const config = (query: string, overrides: Partial<PrometheusProviderConfig> = {}): PrometheusProviderConfig => ({
    address: prom.address,
    query,
    timeoutSeconds: 5,
    onEmpty: 'error',
    headers: {},
    ...overrides,
  });

  await t.test('a gauge query returns its value', async () => {
    const r = await provider.measure(config('sluice_test_gauge{service="a"}'), context(), never);
    assert.equal(r.value, 0.25);
    assert.deepEqual(r.details, { query: 'sluice_test_gauge{service="a"}' });
    assert.equal(compileCondition('result < 0.5')(r.value), true);
  });

  await t.test('several samples give a list; a scalar gives a number', async () => {
    const many = await provider.measure(config('sluice_test_gauge'), context(), never);
    assert.deepEqual([...(many.value as number[])].sort(), [0.25, 0.75]);
    assert.equal((await provider.measure(config('scalar(sum(sluice_test_gauge))'), context(), never)).value, 1);
  });

  await t.test('a rate() query works', async () => {
    // rate() extrapolates less near a series' start: wait until the window is full of samples.
    await waitFor(
      async () => {
        const full = await provider.measure(config('count_over_time(sluice_test_requests_total[5s])', { onEmpty: { value: 0 } }), context(), never);
        if ((full.value as number) >= 5) return true;
        throw new Error(`has ${String(full.value)}`);
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'Prometheus to hold 5s of samples' },
    );
    const r = await provider.measure(config('rate(sluice_test_requests_total[5s])'), context(), never);
    assert.equal(typeof r.value, 'number');
    assert.ok((r.value as number) > 3.5 && (r.value as number) < 6.5, `rate should be about 5/s, got ${String(r.value)}`);
  });

  await t.test('an empty result is an error by default', async () => {
    const err = await rejection(provider.measure(config('sluice_test_missing_metric'), context(), never));
    assert.equal(err.message, 'prometheus query returned no data: sluice_test_missing_metric');
  });

  await t.test('onEmpty: inconclusive, or a stand-in value', async () => {
    const r = await provider.measure(config('sluice_test_missing_metric', { onEmpty: 'inconclusive' }), context(), never);
    assert.deepEqual(r, { value: null, details: { query: 'sluice_test_missing_metric', inconclusive: true } });
    const v = await provider.measure(config('sluice_test_missing_metric', { onEmpty: { value: 0 } }), context(), never);
    assert.equal(v.value, 0);
  });

  await t.test('NaN counts as no data', async () => {
    const err = await rejection(provider.measure(config('sluice_test_gauge{service="a"} * 0 / 0'), context(), never));
    assert.match(err.message, /returned no data/);
    const nan = await provider.measure(config('scalar(vector(0) / 0)', { onEmpty: 'inconclusive' }), context(), never);
    assert.equal(nan.details?.inconclusive, true);
  });

  await t.test('{{args.x}} is substituted before sending', async () => {
    const r = await provider.measure(config('sluice_test_gauge{service="{{args.service}}"}'), context({ args: { service: 'b' } }), never);
    assert.equal(r.value, 0.75);
    assert.equal(r.details?.query, 'sluice_test_gauge{service="b"}');
    const err = await rejection(provider.measure(config('x{a="{{ args.missing }}"}'), context(), never));
    assert.match(err.message, /unknown argument 'missing'/);
  });

  await t.test("Prometheus' own errors are shown", async () => {
    const bad = await rejection(provider.measure(config('sum(sluice_test_gauge'), context(), never));
    assert.match(bad.message, /^prometheus query failed \(bad_data\): .*— query: sum\(sluice_test_gauge$/);
    const range = await rejection(provider.measure(config('sluice_test_gauge[10s]'), context(), never));
    assert.match(range.message, /returned a range vector/);
    const text = await rejection(provider.measure(config('"hello"'), context(), never));
    assert.match(text.message, /returned a string/);
  });

  await t.test('a stopped Prometheus is unreachable', async () => {
    await prom.stop();
    const err = await rejection(provider.measure(config('sluice_test_gauge'), context(), never));
    assert.match(err.message, new RegExp(`^prometheus at ${prom.address.replace(/\./g, '\\.')} is unreachable: .*ECONNREFUSED`));
  });
});

/**
 * Acceptance (analysis issue) with real peers: a real Prometheus scraping the router
 * passes a healthy canary and fails a bad one, and when it stops mid-rollout the
 * measurements error until consecutiveErrorLimit aborts (never promotes); a webhook
 * receiver checks the HMAC signature, a confirm-promotion gate holds the rollout until it
 * answers 2xx, a failing pre-rollout hook aborts before any traffic moves; a failing
 * smoke test keeps blue-green from switching and a passing one lets it switch.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { LoadGenerator, describe } from '../helpers/load.js';
import { SluiceUnderTest, healthyOn } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { prometheusOrSkip, startPrometheus } from '../helpers/prometheus.js';
import { adminTokenPath } from '../../src/router/credential.js';
import { verifySignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../src/hooks/webhook.js';
import { sleep, waitFor } from '../helpers/wait.js';

let sluice: SluiceUnderTest;
before(async () => {
  sluice = await SluiceUnderTest.start();
});
after(async () => {
  await sluice?.down();
});

async function deployV1(name: string, port: number, strategy: string, extra = '') {
  await sluice.apply(`${name}.yaml`, rolloutManifest({ name, version: 'v1', listen: port, strategy, extra }));
  await waitFor(sluice.rollout(name, healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
}

function promStrategy(name: string, metric: string) {
  const q = (cls: string) => `sum(rate(sluice_requests_total{rollout="${name}",revision="{{args.canaryRevision}}"${cls}}[10s]))`;
  return `    canary:
      steps:
        - setWeight: 40
        - analysis:
            metrics:
              - name: ${metric}
                interval: 2s
                count: 4
                initialDelay: 4s
                successCondition: result <= 0.02
                provider:
                  prometheus:
                    address: "PROM"
                    query: '(${q(',code_class=~"5xx|error"')} or vector(0)) / ${q('')}'
        - setWeight: 100
`;
}

test('prometheus analysis: passes a healthy canary, fails a bad one, aborts when Prometheus goes away', async (t) => {
  if (!prometheusOrSkip(t)) return;
  const prom = await startPrometheus({
    scrapeTargets: [`127.0.0.1:${sluice.routerAdminPort}`],
    scrapeIntervalSeconds: 1,
    bearerTokenFile: adminTokenPath(sluice.stateDir),
  });
  try {
    // healthy
    const port = await freePort();
    const good = promStrategy('prom-good', 'canary-5xx-share').replace('PROM', prom.address);
    await deployV1('prom-good', port, good);
    let load = new LoadGenerator(port, 100, 90);
    await sluice.apply('prom-good.yaml', rolloutManifest({ name: 'prom-good', version: 'v2', listen: port, strategy: good }));
    await waitFor(sluice.rollout('prom-good', healthyOn(2)), { timeoutMs: 60_000, what: 'promoted' });
    let report = await load.stop();
    assert.equal(report.ok2xx, report.sent, describe(report));
    const run = (await sluice.client().analysis('prom-good')).find((r) => r.job.spec.kind === 'analysis')!;
    assert.equal(run.status.phase, 'Successful');
    const ok = run.measurements.filter((m) => m.phase === 'Successful');
    assert.ok(ok.length >= 3, `measured by Prometheus: ${JSON.stringify(run.measurements.map((m) => [m.phase, m.value, m.message]))}`);
    assert.ok(
      ok.every((m) => m.value === 0),
      'no 5xx share',
    );

    // bad
    const port2 = await freePort();
    const bad = promStrategy('prom-bad', 'canary-5xx-share').replace('PROM', prom.address);
    await deployV1('prom-bad', port2, bad);
    load = new LoadGenerator(port2, 100, 90);
    await sluice.apply('prom-bad.yaml', rolloutManifest({ name: 'prom-bad', version: 'v2', listen: port2, strategy: bad, env: { ERROR_RATE: '0.2' } }));
    const v = await waitFor(
      sluice.rollout('prom-bad', (x) => x.status.phase === 'Degraded'),
      { timeoutMs: 60_000, what: 'aborted' },
    );
    report = await load.stop();
    assert.equal(v.status.reason, 'AnalysisFailed');
    assert.match(v.status.message, /canary-5xx-share.*result <= 0\.02.* false for 0\.[1-3]/);

    // Prometheus stops in the middle of the analysis
    const port3 = await freePort();
    const gone = promStrategy('prom-gone', 'share')
      .replace('PROM', prom.address)
      .replace('count: 4', 'count: 30')
      .replace('interval: 2s', 'interval: 1s\n                consecutiveErrorLimit: 3');
    await deployV1('prom-gone', port3, gone);
    load = new LoadGenerator(port3, 100, 90);
    await sluice.apply('prom-gone.yaml', rolloutManifest({ name: 'prom-gone', version: 'v2', listen: port3, strategy: gone }));
    await waitFor(
      sluice.rollout('prom-gone', (x) => (x.jobs ?? []).some((j) => j.metrics?.some((m) => m.successful >= 1))),
      { timeoutMs: 60_000, what: 'measuring' },
    );
    await prom.stop();
    const g = await waitFor(
      sluice.rollout('prom-gone', (x) => x.status.phase === 'Degraded'),
      { timeoutMs: 30_000, what: 'aborted' },
    );
    report = await load.stop();
    assert.equal(g.status.reason, 'AnalysisError');
    assert.match(g.status.message, /4 consecutive measurement errors \(limit 3\).*unreachable/);
    assert.equal(g.status.stableRevision, 1, 'never promoted');
    assert.equal(report.ok2xx, report.sent, describe(report));
  } finally {
    await prom.stop();
  }
});

/** A webhook receiver that checks every signature, and answers per hook kind. */
async function receiver(secret: string, answer: (kind: string) => number) {
  const calls: { kind: string; valid: boolean; body: { name: string; revision: number; event?: { reason: string; message: string } } }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const valid = verifySignature(secret, req.headers[TIMESTAMP_HEADER.toLowerCase()] as string, body, req.headers[SIGNATURE_HEADER.toLowerCase()] as string);
      const parsed = JSON.parse(body.toString());
      calls.push({ kind: parsed.kind, valid, body: parsed });
      res.writeHead(valid ? answer(parsed.kind) : 401).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/hook`, calls, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const hooksYaml = (url: string, kinds: string[]) =>
  `  hooks:\n    webhooks:\n${kinds.map((k) => `      - {name: ${k}, kind: ${k}, url: "${url}", secret: s3cret, retries: 1, timeoutSeconds: 2}\n`).join('')}`;

test('a failing pre-rollout hook aborts before any traffic moves; signatures check out; the abort is notified', async () => {
  const r = await receiver('s3cret', (kind) => (kind === 'event' ? 200 : 500));
  try {
    const port = await freePort();
    const strategy = `    canary:\n      steps: [{setWeight: 50}, {pause: {}}]\n`;
    const extra =
      hooksYaml(r.url, ['pre-rollout']) + `  notifications:\n    - {name: ops, type: webhook, url: "${r.url}", secret: s3cret, events: [RolloutAborted]}\n`;
    await deployV1('hooked', port, strategy, extra);
    const load = new LoadGenerator(port, 50, 60);
    await sluice.apply('hooked.yaml', rolloutManifest({ name: 'hooked', version: 'v2', listen: port, strategy, extra }));
    const v = await waitFor(
      sluice.rollout('hooked', (x) => x.status.phase === 'Degraded'),
      { timeoutMs: 30_000, what: 'aborted' },
    );
    const report = await load.stop();
    assert.match(v.status.message, /pre-rollout hook "pre-rollout" failed: answered 500/);
    assert.ok(r.calls.length >= 1 && r.calls.every((c) => c.valid), 'every call carried a valid HMAC signature');
    assert.equal(r.calls[0].body.name, 'hooked');
    assert.equal(r.calls[0].body.revision, 2);
    assert.ok(!v.events.some((e) => e.reason === 'ScalingUp' && e.revision === 2), 'no instance of v2 was started');
    assert.deepEqual(Object.keys(report.byVersion), ['v1']);
    assert.equal(report.ok2xx, report.sent);
    for (let i = 0; i < 50 && !r.calls.some((c) => c.kind === 'event'); i++) await sleep(100);
    const note = r.calls.find((c) => c.kind === 'event');
    assert.equal(note?.body.event?.reason, 'RolloutAborted', 'the abort was notified');
    assert.match(note!.body.event!.message, /pre-rollout/);
    assert.ok(note!.valid, 'notification signed');
  } finally {
    await r.close();
  }
});

test('a wrong secret is detected by the receiver', async () => {
  const r = await receiver('another-secret', () => 200);
  try {
    const port = await freePort();
    const strategy = `    canary:\n      steps: [{setWeight: 50}]\n`;
    const extra = hooksYaml(r.url, ['pre-rollout']);
    await deployV1('wrongkey', port, strategy, extra);
    await sluice.apply('wrongkey.yaml', rolloutManifest({ name: 'wrongkey', version: 'v2', listen: port, strategy, extra }));
    const v = await waitFor(
      sluice.rollout('wrongkey', (x) => x.status.phase === 'Degraded'),
      { timeoutMs: 30_000, what: 'aborted' },
    );
    assert.ok(r.calls.length >= 1 && r.calls.every((c) => !c.valid));
    assert.match(v.status.message, /answered 401/);
  } finally {
    await r.close();
  }
});

test('a confirm-promotion gate holds the rollout until it answers 2xx', async () => {
  let allow = false;
  const r = await receiver('s3cret', () => (allow ? 200 : 403));
  try {
    const port = await freePort();
    const strategy = `    canary:\n      steps: [{setWeight: 50}]\n`;
    const extra = hooksYaml(r.url, ['confirm-promotion']);
    await deployV1('gated', port, strategy, extra);
    const load = new LoadGenerator(port, 50, 60);
    await sluice.apply('gated.yaml', rolloutManifest({ name: 'gated', version: 'v2', listen: port, strategy, extra }));
    await waitFor(
      sluice.rollout('gated', (x) => x.status.reason === 'WaitingForConfirmation'),
      { timeoutMs: 30_000, what: 'waiting for confirmation' },
    );
    await sleep(4000);
    const held = await sluice.get('gated');
    assert.equal(held.status.reason, 'WaitingForConfirmation', 'still held while the gate says no');
    assert.equal(held.status.stableRevision, 1);
    assert.ok(r.calls.filter((c) => c.kind === 'confirm-promotion').length >= 2, 'the gate was asked again');
    allow = true;
    await waitFor(sluice.rollout('gated', healthyOn(2)), { timeoutMs: 30_000, what: 'promoted' });
    const report = await load.stop();
    assert.equal(report.ok2xx, report.sent, describe(report));
    assert.ok(r.calls.every((c) => c.valid));
  } finally {
    await r.close();
  }
});

test('a failing smoke test keeps blue-green from switching; a passing one lets it switch', async () => {
  const port = await freePort();
  const preview = await freePort();
  const strategy = `    blueGreen: {previewListen: "127.0.0.1:${preview}", scaleDownDelaySeconds: 0}\n`;
  const smoke = (expect: string) =>
    `  smokeTests:\n    - name: version\n      target: preview\n      checks:\n        - {path: /, expectJson: {version: ${expect}}, maxLatencyMs: 2000}\n`;

  await deployV1('smoked', port, strategy, smoke('v2'));
  const load = new LoadGenerator(port, 50, 90);
  // v3 is checked against "v2": the smoke test fails, the switch never happens.
  await sluice.apply('smoked.yaml', rolloutManifest({ name: 'smoked', version: 'v3', listen: port, strategy, extra: smoke('v2') }));
  const failed = await waitFor(
    sluice.rollout('smoked', (x) => x.status.phase === 'Degraded'),
    { timeoutMs: 30_000, what: 'aborted' },
  );
  assert.match(failed.status.message, /smoke test "version" failed: .*version/);
  assert.equal(failed.status.stableRevision, 1);
  // v2 passes its smoke test and takes over.
  await sluice.apply('smoked.yaml', rolloutManifest({ name: 'smoked', version: 'v2', listen: port, strategy, extra: smoke('v2') }));
  await waitFor(
    sluice.rollout('smoked', (x) => x.status.phase === 'Healthy' && x.revisions.find((r) => r.number === x.status.stableRevision)?.template.version === 'v2'),
    { timeoutMs: 30_000, what: 'switched to v2' },
  );
  const report = await load.stop();
  assert.equal(report.ok2xx, report.sent, describe(report));
  assert.equal(report.byVersion.v3 ?? 0, 0, 'v3 never served production traffic');
});

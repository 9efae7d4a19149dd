/**
 * Traffic issue: the A/B and shadow strategies, a route whose target is a split, and the
 * operator's stop-traffic / pause-traffic, end to end (real sluice up, router, demo app
 * instances, HTTP on 127.0.0.1).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SluiceUnderTest, healthyOn } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { LoadGenerator } from '../helpers/load.js';
import { sleep, waitFor } from '../helpers/wait.js';

let sluice: SluiceUnderTest;
before(async () => {
  sluice = await SluiceUnderTest.start();
});
after(async () => {
  await sluice?.down();
});

/** The demo manifest with extra `traffic:` lines (4-space indented YAML). */
function withTraffic(manifest: string, port: number, lines: string): string {
  return manifest.replace(`    listen: 127.0.0.1:${port}\n`, `    listen: 127.0.0.1:${port}\n${lines}`);
}

async function get(
  port: number,
  headers: Record<string, string> = {},
): Promise<{ status: number; version: string; variant: string | null; setCookie: string | null; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}/`, { headers });
  const body = await r.text();
  return {
    status: r.status,
    version: r.headers.get('x-version') ?? '?',
    variant: r.headers.get('x-sluice-variant'),
    setCookie: r.headers.get('set-cookie'),
    body,
  };
}

/**
 * A check for `waitFor`: a fresh answer from `probe` once `check` holds for it (routing
 * follows status by a moment); until then it throws with the answer it saw.
 */
function answered<T>(probe: () => Promise<T>, check: (t: T) => boolean): () => Promise<T> {
  return async () => {
    const last = await probe();
    if (check(last)) return last;
    throw new Error(`last saw ${JSON.stringify(last)}`);
  };
}

test('A/B: users stick to a variant named in a response header, exposures are stored, promote --variant ends it', async () => {
  const port = await freePort();
  const strategy = `    abTest:
      variants:
        - {name: control, weight: 50}
        - {name: checkout, weight: 50}
`;
  await sluice.apply('ab.yaml', rolloutManifest({ name: 'ab', version: 'v1', listen: port, strategy }));
  await waitFor(sluice.rollout('ab', healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
  await sluice.apply('ab.yaml', rolloutManifest({ name: 'ab', version: 'v2', listen: port, strategy }));
  await waitFor(
    sluice.rollout('ab', (v) => v.status.reason === 'Experimenting'),
    { timeoutMs: 60_000, what: 'experimenting' },
  );
  await waitFor(
    answered(
      () => get(port),
      (r) => r.variant !== null,
    ),
    { timeoutMs: 10_000, what: 'both variants serve' },
  );

  // 200 users, 5 requests each, each keeping the cookie the router gave it.
  const seen = new Map<number, Set<string>>();
  const counts: Record<string, number> = {};
  for (let u = 0; u < 200; u++) {
    let cookie: string | undefined;
    for (let i = 0; i < 5; i++) {
      const r = await get(port, cookie ? { cookie } : {});
      assert.equal(r.status, 200);
      if (r.setCookie) cookie = r.setCookie.split(';')[0];
      assert.ok(r.variant === 'control' || r.variant === 'checkout', `variant header: ${r.variant}`);
      assert.equal(r.variant === 'checkout' ? 'v2' : 'v1', r.version, 'the header names the variant that answered');
      const mine = seen.get(u) ?? new Set<string>();
      mine.add(r.variant!);
      seen.set(u, mine);
      if (i === 0) counts[r.variant!] = (counts[r.variant!] ?? 0) + 1;
    }
  }
  assert.ok(
    [...seen.values()].every((s) => s.size === 1),
    'every user saw one variant',
  );
  assert.ok(counts.control! > 60 && counts.checkout! > 60, `users split about 50/50: ${JSON.stringify(counts)}`);

  // The control plane collects every 2 s; wait until both arms show the traffic above.
  const v = await waitFor(
    sluice.rollout('ab', (x) => (x.exposures ?? []).length === 2 && (x.exposures ?? []).every((e) => e.requests > 0 && e.users > 0)),
    { timeoutMs: 15_000, what: 'exposures stored' },
  );
  const byVariant = Object.fromEntries(v.exposures!.map((e) => [e.variant, e]));
  assert.equal(byVariant.control!.revision, 1);
  assert.equal(byVariant.checkout!.revision, 2);
  assert.ok(byVariant.control!.requests + byVariant.checkout!.requests <= 1000 + 50, 'no more requests than were sent (+ the probes before)');
  const shown = await sluice.cli(['get', 'rollout', 'ab']);
  assert.match(shown.stdout, /Exposures/);
  assert.match(shown.stdout, /checkout/);

  let r = await sluice.cli(['promote', 'ab']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--variant control\|checkout/);
  r = await sluice.cli(['promote', 'ab', '--variant', 'checkout']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(sluice.rollout('ab', healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy' });
  await waitFor(
    answered(
      () => get(port),
      (x) => x.version === 'v2' && x.variant === null,
    ),
    { timeoutMs: 10_000, what: 'only v2, no variant header' },
  );
});

test('A/B with three variants: the third runs the template with its overrides and can win', async () => {
  const port = await freePort();
  const strategy = `    abTest:
      variants:
        - {name: a, weight: 34}
        - {name: b, weight: 33}
        - {name: c, weight: 33, version: v2-c, env: {VERSION: v2-c}}
`;
  await sluice.apply('ab3.yaml', rolloutManifest({ name: 'ab3', version: 'v1', listen: port, strategy }));
  await waitFor(sluice.rollout('ab3', healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
  await sluice.apply('ab3.yaml', rolloutManifest({ name: 'ab3', version: 'v2', listen: port, strategy }));
  await waitFor(
    sluice.rollout('ab3', (v) => v.status.reason === 'Experimenting'),
    { timeoutMs: 60_000, what: 'experimenting' },
  );
  const seen = new Map<string, string>();
  const end = Date.now() + 10_000;
  while (seen.size < 3 && Date.now() < end) {
    const r = await get(port);
    assert.equal(r.status, 200);
    if (r.variant !== null) seen.set(r.variant, r.version);
  }
  assert.deepEqual(Object.fromEntries(seen), { a: 'v1', b: 'v2', c: 'v2-c' }, 'each variant answers with its own revision');
  const r = await sluice.cli(['promote', 'ab3', '--variant', 'c']);
  assert.equal(r.code, 0, r.stderr);
  const v = await waitFor(
    sluice.rollout(
      'ab3',
      (x) =>
        x.status.phase === 'Healthy' &&
        x.status.stableRevision === 3 &&
        x.instances.filter((i) => i.phase === 'Ready').length === 3 &&
        x.instances.every((i) => i.revision === 3),
    ),
    { timeoutMs: 60_000, what: 'c promoted' },
  );
  assert.equal(v.revisions.find((x) => x.number === 3)?.template.version, 'v2-c');
  await waitFor(
    answered(
      () => get(port),
      (x) => x.version === 'v2-c' && x.variant === null,
    ),
    { timeoutMs: 10_000, what: 'only v2-c' },
  );
});

test('routes: x-user-segment premium → 50/50 and beta → the canary, everyone else on stable', async () => {
  const port = await freePort();
  const strategy = `    canary:
      steps:
        - pause: {}
`;
  const routes = `    routes:
      - name: premium
        match: {header: {name: x-user-segment, exact: premium}}
        to: {canary: 50, stable: 50}
      - name: beta
        match: {header: {name: x-user-segment, exact: beta}}
        to: canary
`;
  await sluice.apply('seg.yaml', withTraffic(rolloutManifest({ name: 'seg', version: 'v1', listen: port, strategy }), port, routes));
  await waitFor(sluice.rollout('seg', healthyOn(1)), { timeoutMs: 60_000, what: 'v1 healthy' });
  await sluice.apply('seg.yaml', withTraffic(rolloutManifest({ name: 'seg', version: 'v2', listen: port, strategy }), port, routes));
  await waitFor(
    sluice.rollout('seg', (v) => v.status.reason === 'CanaryPauseStep'),
    { timeoutMs: 60_000, what: 'paused' },
  );
  await waitFor(
    answered(
      () => get(port, { 'x-user-segment': 'beta' }),
      (r) => r.version === 'v2',
    ),
    { timeoutMs: 10_000, what: 'beta users reach the canary' },
  );

  const tally = async (headers: Record<string, string>, n: number) => {
    const t: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await get(port, headers);
      t[r.version] = (t[r.version] ?? 0) + 1;
    }
    return t;
  };
  assert.deepEqual(await tally({ 'x-user-segment': 'beta' }, 50), { v2: 50 });
  assert.deepEqual(await tally({}, 50), { v1: 50 }, 'the default split is still 100 % stable');
  const premium = await tally({ 'x-user-segment': 'premium' }, 400);
  assert.ok(Math.abs((premium.v2 ?? 0) - 200) <= 8, `premium split 50/50 (smooth weighted, ±2 %): ${JSON.stringify(premium)}`);

  await sluice.cli(['promote', 'seg', '--full']);
  await waitFor(sluice.rollout('seg', healthyOn(2)), { timeoutMs: 60_000, what: 'v2 healthy' });
});

test('shadow: the client always gets stable; a shadow answering a different field is a mismatch and analysis aborts it; ignoring that field promotes', async () => {
  const port = await freePort();
  const shadow = (ignore: string) => `    shadow:
      mirror:
        name: dark
        compare: {ignorePaths: [${ignore}]}
      durationSeconds: 6s
      analysis:
        metrics:
          - name: mismatches
            interval: 1s
            failureLimit: 0
            successCondition: result <= 0.01
            provider: {builtin: {metric: mismatch-rate, windowSeconds: 5, minRequests: 10}}
`;
  // The demo app answers {"version", "pid", "path"}: pid always differs, version differs between v1 and v2.
  await sluice.apply('dark.yaml', rolloutManifest({ name: 'dark', version: 'v1', listen: port, strategy: shadow('$.pid'), replicas: 2 }));
  await waitFor(sluice.rollout('dark', healthyOn(1, 2)), { timeoutMs: 60_000, what: 'v1 healthy' });
  const load = new LoadGenerator(port, 50, 120);
  let report;
  try {
    await sluice.apply('dark.yaml', rolloutManifest({ name: 'dark', version: 'v2', listen: port, strategy: shadow('$.pid'), replicas: 2 }));
    const v = await waitFor(
      sluice.rollout('dark', (x) => x.status.phase === 'Degraded'),
      { timeoutMs: 30_000, what: 'aborted on mismatches' },
    );
    assert.match(v.status.message, /mismatches/);
    const versions = new Set(load.samples.map((s) => s.version));
    assert.deepEqual([...versions], ['v1'], 'clients only ever got the primary (stable) answer');

    // Same release, the version field ignored: only pid and version differ, so no mismatch.
    await sluice.apply('dark.yaml', rolloutManifest({ name: 'dark', version: 'v3', listen: port, strategy: shadow('$.pid, $.version'), replicas: 2 }));
    await waitFor(
      sluice.rollout('dark', (x) => x.status.reason === 'Shadowing'),
      { timeoutMs: 20_000, what: 'shadowing' },
    );
    const done = await waitFor(
      sluice.rollout('dark', (x) => x.status.phase === 'Healthy' && x.status.stableRevision === 3),
      { timeoutMs: 40_000, what: 'v3 promoted after shadowing' },
    );
    assert.ok(done.events.some((e) => e.reason === 'ShadowCompleted'));
    await waitFor(
      answered(
        () => get(port),
        (r) => r.version === 'v3',
      ),
      { timeoutMs: 10_000, what: 'v3 serves' },
    );
  } finally {
    report = await load.stop();
  }
  assert.equal(report.ok2xx, report.sent, `no request failed: ${JSON.stringify({ ...report, samples: undefined })}`);
});

test('stop-traffic answers with the maintenance page, pause-traffic holds requests until resume-traffic', async () => {
  const port = await freePort();
  const maint = `    maintenance: {status: 503, body: "down for maintenance\\n", retryAfterSeconds: 7}
`;
  await sluice.apply(
    'maint.yaml',
    withTraffic(rolloutManifest({ name: 'maint', version: 'v1', listen: port, strategy: '    rolling: {}\n', replicas: 1 }), port, maint),
  );
  await waitFor(sluice.rollout('maint', healthyOn(1, 1)), { timeoutMs: 60_000, what: 'healthy' });

  let r = await sluice.cli(['stop-traffic', 'maint']);
  assert.equal(r.code, 0, r.stderr);
  const stopped = await waitFor(
    answered(
      () => fetch(`http://127.0.0.1:${port}/`).then(async (x) => ({ status: x.status, retry: x.headers.get('retry-after'), body: await x.text() })),
      (x) => x.status === 503,
    ),
    { timeoutMs: 10_000, what: 'maintenance answer' },
  );
  assert.deepEqual(stopped, { status: 503, retry: '7', body: 'down for maintenance\n' });
  assert.match((await sluice.cli(['get', 'rollout', 'maint'])).stdout, /STOPPED/);

  r = await sluice.cli(['pause-traffic', 'maint', '--timeout', '20s']);
  assert.equal(r.code, 0, r.stderr);
  await sleep(1000); // the router applies the table a moment after status is saved
  const started = Date.now();
  const held = fetch(`http://127.0.0.1:${port}/`).then(async (x) => ({ status: x.status, version: x.headers.get('x-version'), at: Date.now() - started }));
  await sleep(1500);
  r = await sluice.cli(['resume-traffic', 'maint']);
  assert.equal(r.code, 0, r.stderr);
  const answer = await held;
  assert.equal(answer.status, 200, 'the held request was served once traffic resumed');
  assert.equal(answer.version, 'v1');
  assert.ok(answer.at >= 1400, `it waited for the resume (${answer.at} ms)`);
  r = await sluice.cli(['resume-traffic', 'maint']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /neither stopped nor paused/);
});

/**
 * Acceptance (issue 13): A/B experiments end to end on a real sluice. The demo app's shop
 * (GET /shop, POST /checkout with x-sluice-value) is tested by simulated shoppers
 * (examples/shoppers.mjs) through the router; the router assigns users by the hash of its
 * signed cookie (or a header), records exposures and checkout goals, the control plane
 * pulls them into SQLite and reports; with conclusion.auto it acts on the verdict.
 *
 * - b converts 3× more: `sluice experiment status` shows b's lift with its always-valid
 *   interval, sluice promotes b by itself, and the verdict's event has the numbers;
 * - b answers 20 % errors: the guardrail stops it (the test is aborted);
 * - a deliberately skewed sample (40 % of a's users never arrive): the sample-ratio check
 *   raises its alarm and blocks SHIP although b converts far better;
 * - kill -9 of the control plane and a router handover while shoppers shop: every user
 *   and every checkout is counted exactly once.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import type { ExperimentReport } from '../../src/core/experiment.js';
import type { RouteTable } from '../../src/core/route-table.js';
import { SluiceUnderTest, healthyOn } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { REPO } from '../helpers/templates.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const SHOPPERS = join(REPO, 'examples', 'shoppers.mjs');
let sluice: SluiceUnderTest;

before(async () => {
  sluice = await SluiceUnderTest.start();
});
after(async () => {
  await sluice?.down();
});

function strategy(o: { userKey?: string; auto?: boolean; minimumUsers?: number; events?: boolean } = {}): string {
  return `    abTest:
      variants:
        - {name: a, weight: 50}
        - {name: b, weight: 50}
${o.userKey ? `      userKey: {header: ${o.userKey}}\n` : ''}      metrics:
        - name: checkout
          goal: {path: /checkout, methods: [POST]}
        - name: revenue
          kind: continuous
          goal: {path: /checkout, methods: [POST], valueHeader: x-sluice-value}
${o.events ? '        - {name: purchase, kind: continuous, event: purchase, allowNegative: true}\n' : ''}      guardrails: {maxErrorRate: 5%, minRequests: 100}
      conclusion: {minimumUsers: ${o.minimumUsers ?? 400}, minimumEffect: 5%, sequentialTuning: 1000, auto: ${o.auto ?? true}}
`;
}

/** v1 (stable, variant a) healthy, then v2 with `env` starts the test. */
async function startTest(name: string, port: number, env: Record<string, string>, o: { userKey?: string; auto?: boolean; events?: boolean } = {}) {
  const manifest = (version: string, extra: Record<string, string>) =>
    rolloutManifest({ name, version, listen: port, replicas: 2, strategy: strategy(o), dataPlane: 'builtin', env: { CONVERSION_RATE: '0.1', ...extra } });
  await sluice.apply(`${name}.yaml`, manifest('v1', {}));
  await waitFor(sluice.rollout(name, healthyOn(1, 2)), { timeoutMs: 60_000, what: `${name} v1 healthy` });
  await sluice.apply(`${name}.yaml`, manifest('v2', env));
  await waitFor(
    sluice.rollout(name, (v) => v.status.reason === 'Experimenting'),
    { timeoutMs: 60_000, what: `${name}: the A/B test running` },
  );
  // The router assigns for the test once it has the table (persisted before it is acknowledged).
  return waitFor(
    () => {
      const table = JSON.parse(readFileSync(join(sluice.stateDir, 'router', 'routes.json'), 'utf8')) as RouteTable;
      return table.listeners.find((l) => l.rollout === name && l.experiment !== undefined)?.experiment;
    },
    { timeoutMs: 10_000, what: `${name}: the router routing the test` },
  );
}

async function shoppers(
  port: number,
  args: string[],
): Promise<{ shoppers: number; checkouts: number; errors: number; variants: Record<string, { shoppers: number; checkouts: number }> }> {
  const { stdout } = await run(process.execPath, [SHOPPERS, '--target', `127.0.0.1:${port}`, '--rate', '300', '--concurrency', '24', ...args], {
    timeout: 120_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

async function status(name: string): Promise<ExperimentReport> {
  const r = await sluice.cli(['experiment', 'status', name, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const body = JSON.parse(r.stdout) as { report: ExperimentReport | null };
  assert.ok(body.report, `a report for ${name}`);
  return body.report;
}

test('b converts better: status shows its lift with an always-valid interval, auto-conclude promotes b, the event has the numbers', async () => {
  const port = await freePort();
  await startTest('shop', port, { CONVERSION_RATE: '0.3' });
  const load = await shoppers(port, ['--users', '1200', '--visits', '2']);
  assert.ok(load.shoppers >= 1000, `at least 1,000 simulated users (${load.shoppers})`);
  assert.equal(load.errors, 0, 'no shopper saw an error');

  await waitFor(sluice.rollout('shop', healthyOn(2, 2)), { timeoutMs: 60_000, what: 'b promoted by the experiment (revision 2 serves all)' });
  const report = await status('shop');
  const users = report.variants.reduce((n, v) => n + v.users, 0);
  // Each shopper is one user (the signed cookie), not one per request; those who came after the verdict are not in it.
  assert.ok(users >= 800 && users <= load.shoppers, `users counted once each: ${users} of ${load.shoppers} shoppers`);
  const checkout = report.metrics.find((m) => m.name === 'checkout')!;
  const b = checkout.comparisons.find((c) => c.variant === 'b')!;
  assert.ok(b.relative.estimate > 0.5, `b's relative lift (${b.relative.estimate})`);
  assert.ok(b.sequential.relative.lower > 0, `b's always-valid interval excludes 0 (${b.sequential.relative.lower})`);
  assert.ok(b.sequential.pValue < 0.05 && b.fixed.pValue <= b.sequential.pValue, 'the always-valid p-value is small and no smaller than the fixed one');
  assert.equal(report.srm.mismatch, false, `no sample-ratio alarm (p = ${report.srm.pValue})`);
  assert.equal(report.recommendation.verdict, 'SHIP');
  assert.deepEqual(report.concluded && { verdict: report.concluded.verdict, variant: report.concluded.variant }, { verdict: 'SHIP', variant: 'b' });
  for (const v of checkout.variants) {
    const seen = load.variants[v.variant]!;
    assert.ok(v.converted > 0 && v.converted <= seen.checkouts, `${v.variant}: ${v.converted} converted users, ${seen.checkouts} checkouts by its shoppers`);
  }

  const table = await sluice.cli(['experiment', 'status', 'shop']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /checkout/);
  assert.match(table.stdout, /SHIP/);
  assert.match(table.stdout, /\bb\b/);

  const events = await sluice.client().events('shop');
  const verdict = events.find((e) => e.reason === 'ExperimentVerdict');
  assert.ok(verdict, `an ExperimentVerdict event: ${events.map((e) => e.reason).join(', ')}`);
  assert.match(verdict.message, /^SHIP b: .*checkout \+\d+\.\d %.*users a \d+, b \d+; checkout a \d+\.\d\d %, b \d+\.\d\d %; SRM p = /);
  assert.equal(verdict.actor, 'experiment');
});

test('b answers 20 % errors: the guardrail stops it and the test is aborted', async () => {
  const port = await freePort();
  await startTest('shop-errors', port, { ERROR_RATE: '0.2' });
  await shoppers(port, ['--users', '600', '--visits', '2']);
  await waitFor(
    sluice.rollout('shop-errors', (v) => v.status.aborted === true),
    { timeoutMs: 60_000, what: 'the test aborted by the guardrail' },
  );
  const events = await sluice.client().events('shop-errors');
  const verdict = events.find((e) => e.reason === 'ExperimentVerdict');
  assert.ok(verdict, 'an ExperimentVerdict event');
  assert.match(verdict.message, /^STOP b: variant b: error rate \d+\.\d\d % over \d+ requests is above the 5\.00 % guardrail/);
  const report = await status('shop-errors');
  assert.equal(report.recommendation.verdict, 'STOP');
  assert.ok(report.guardrails.find((g) => g.variant === 'b')!.errorRate > 0.1);
});

test('a skewed sample (40 % of a’s users lost): the SRM alarm blocks SHIP although b converts better', async () => {
  const port = await freePort();
  const x = await startTest('shop-srm', port, { CONVERSION_RATE: '0.3' }, { userKey: 'x-user-id' });
  const load = await shoppers(port, [
    '--users',
    '1600',
    '--visits',
    '1',
    '--header',
    'x-user-id',
    '--skip',
    'a=0.4',
    '--salt',
    x.salt,
    '--weights',
    'a=50:1,b=50:2',
  ]);
  assert.ok(load.variants.b!.shoppers > load.variants.a!.shoppers * 1.4, `the sample is skewed: ${JSON.stringify(load.variants)}`);
  // Two analysis ticks after the last record: still no verdict.
  await waitFor(
    async () => {
      const r = await status('shop-srm');
      return r.variants.reduce((n, v) => n + v.users, 0) === load.shoppers ? r : undefined;
    },
    { timeoutMs: 30_000, what: 'every shopper in the report' },
  );
  await new Promise((r) => setTimeout(r, 5000));
  const report = await status('shop-srm');
  assert.equal(report.srm.mismatch, true, `SRM alarm (p = ${report.srm.pValue})`);
  assert.ok(report.srm.pValue < 0.001);
  assert.equal(report.recommendation.verdict, 'CONTINUE');
  assert.match(report.recommendation.reason, /sample ratio mismatch/);
  const b = report.metrics[0]!.comparisons[0]!;
  assert.ok(b.sequential.relative.lower > 0, 'b would have won on its numbers');
  const view = await sluice.client().get('shop-srm');
  assert.equal(view.status.reason, 'Experimenting', 'not promoted: SHIP is blocked');
});

test('kill -9 of the control plane and a router handover while shoppers shop: every user and checkout counted once', async () => {
  const port = await freePort();
  await startTest('shop-durable', port, { CONVERSION_RATE: '0.2' }, { userKey: 'x-user-id', auto: false });
  const shopping = shoppers(port, ['--users', '1500', '--rate', '150', '--visits', '1', '--header', 'x-user-id']);
  await new Promise((r) => setTimeout(r, 3000));
  await sluice.kill9();
  await new Promise((r) => setTimeout(r, 1000));
  await sluice.up();
  const restart = await sluice.cli(['router', 'restart']);
  assert.equal(restart.code, 0, restart.stderr);
  const load = await shopping;
  assert.equal(load.errors, 0, 'no shopper saw an error');
  const report = await waitFor(
    async () => {
      const r = await status('shop-durable');
      const users = r.variants.reduce((n, v) => n + v.users, 0);
      if (users !== load.shoppers) throw new Error(`${users} of ${load.shoppers} users so far`);
      return r;
    },
    { timeoutMs: 30_000, what: 'every shopper counted' },
  );
  const checkout = report.metrics.find((m) => m.name === 'checkout')!;
  assert.equal(
    checkout.variants.reduce((n, v) => n + v.converted, 0),
    load.checkouts,
    'every checkout counted once (one visit each: a shopper checks out at most once)',
  );
  for (const v of report.variants) assert.equal(v.users, load.variants[v.variant]!.shoppers, `variant ${v.variant}'s users`);
});

test('the app posts events to the data plane: valid lines of a batch with bad ones land in the report, per user and variant', async () => {
  const port = await freePort();
  await startTest('shop-events', port, {}, { userKey: 'x-user-id', auto: false, events: true });
  const load = await shoppers(port, ['--users', '200', '--visits', '1', '--header', 'x-user-id', '--seed', 'ev']);
  assert.equal(load.shoppers, 200);
  const t = await sluice.cli(['flags', 'token']);
  assert.equal(t.code, 0, t.stderr);
  const token = t.stdout.trim().split(/\s+/).pop()!;
  // Every shopper spends 10 (and shopper 0 gets a refund of 4); then the bad lines.
  const lines = [
    ...Array.from({ length: 200 }, (_, i) => JSON.stringify({ user: `shopper-ev-${i}`, event: 'purchase', value: 10 })),
    JSON.stringify({ user: 'shopper-ev-0', event: 'purchase', value: -4 }),
    '{"user": "shopper-ev-1", "event": "purchase", "value": ',
    JSON.stringify({ user: 'never-served', event: 'purchase', value: 5 }),
    JSON.stringify({ user: 'shopper-ev-2', event: 'no-such-event', value: 5 }),
    JSON.stringify({ user: 'shopper-ev-3', event: 'purchase', value: 'ten' }),
  ];
  const res = await fetch(`http://127.0.0.1:${sluice.flagsPort}/experiments/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
    body: lines.join('\n'),
  });
  const answer = (await res.json()) as { accepted: number; rejected: { line: number; error: string }[] };
  assert.equal(res.status, 200, JSON.stringify(answer));
  assert.equal(answer.accepted, 201);
  assert.deepEqual(
    answer.rejected.map((r) => r.line),
    [202, 203, 204, 205],
  );
  for (const r of answer.rejected) assert.ok(r.error.length > 10 && !r.error.includes('\n'), `one-line error: ${r.error}`);
  const unauthorized = await fetch(`http://127.0.0.1:${sluice.flagsPort}/experiments/v1/events`, { method: 'POST', body: lines[0] });
  assert.equal(unauthorized.status, 401);

  const report = await waitFor(
    async () => {
      const r = await status('shop-events');
      const m = r.metrics.find((x) => x.name === 'purchase');
      const total = m ? m.variants.reduce((n, v) => n + v.mean * v.users, 0) : 0;
      if (Math.abs(total - 1996) > 1e-6) throw new Error(`purchase total ${total} so far`);
      return r;
    },
    { timeoutMs: 30_000, what: 'the posted purchases in the report' },
  );
  const purchase = report.metrics.find((x) => x.name === 'purchase')!;
  for (const v of purchase.variants) assert.equal(v.users, load.variants[v.variant]!.shoppers, `${v.variant}: every shopper is a user of the metric`);
});

/**
 * Issue 16's acceptance in a real browser (Debian's Chromium, playwright-core) against a real
 * control plane (`sluice up`, the router, real app instances):
 * - a person signs in, sees the weight chart and the step advance live, promotes with a
 *   confirmation and sees Healthy;
 * - a bad canary is aborted by its analysis and the page shows the reason and the metric;
 * - a read-only user's buttons are disabled with the reason, and a forged POST with their
 *   cookie is refused, with or without the CSRF token;
 * - a signed-out browser gets the sign-in form;
 * - after kill -9 of the control plane and a restart the page reconnects by itself and
 *   shows what happens next, without a reload.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { healthyOn, SluiceUnderTest } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { waitFor } from '../helpers/wait.js';
import { LoadGenerator } from '../helpers/load.js';
import { launchOrSkip, signIn } from '../helpers/browser.js';

let sluice: SluiceUnderTest;
let browser: Browser | undefined;
let adminToken: string;
let base: string;
let webPort: number;

const canary = '    canary:\n      steps:\n        - setWeight: 20\n        - pause: {duration: 3s}\n        - setWeight: 50\n        - pause: {}\n';
const errorRateCanary = `    canary:
      analysis:
        metrics:
          - name: error-rate
            interval: 1s
            successCondition: result <= 0.02
            provider: {builtin: {metric: error-rate, windowSeconds: 5, minRequests: 20}}
      steps:
        - setWeight: 30
        - pause: {duration: 30s}
`;

before(async () => {
  sluice = await SluiceUnderTest.start();
  adminToken = readFileSync(join(sluice.stateDir, 'token'), 'utf8').trim();
  base = `http://127.0.0.1:${sluice.apiPort}`;
  webPort = await freePort();
  await sluice.apply('web.yaml', rolloutManifest({ name: 'web', version: 'v1', listen: webPort, replicas: 2, strategy: canary }));
  await waitFor(sluice.rollout('web', healthyOn(1)), { timeoutMs: 60_000, what: 'web v1 healthy' });
});
after(async () => {
  await browser?.close();
  await sluice?.down();
});

async function page(t: import('node:test').TestContext): Promise<Page | undefined> {
  browser ??= await launchOrSkip(t);
  if (browser === undefined) return undefined;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await context.newPage();
  p.setDefaultTimeout(30_000);
  return p;
}

/** A mark in the page's memory: still there later means the page never reloaded. */
const mark = (p: Page) => p.evaluate(() => ((window as unknown as { sluiceMark: number }).sluiceMark = 42));
const marked = (p: Page) => p.evaluate(() => (window as unknown as { sluiceMark?: number }).sluiceMark === 42);

async function apiCall(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

test('sign in, watch the steps and the weight chart move live, promote with a confirmation, see Healthy', async (t) => {
  const p = await page(t);
  if (p === undefined) return;
  await signIn(p, base, adminToken);
  const row = p.locator('[data-rollout="web"]');
  await row.waitFor();
  await row.getByRole('link', { name: 'web' }).click();
  await p.getByTestId('phase').filter({ hasText: 'Healthy' }).waitFor();
  await p.getByTestId('weight-chart').locator('canvas').first().waitFor();
  await mark(p);

  assert.equal((await apiCall('POST', '/v1/rollouts/web/set', { version: 'v2' })).status, 200);
  await p.getByTestId('step').filter({ hasText: 'step 2/4' }).waitFor();
  await p.getByTestId('step').filter({ hasText: 'step 4/4' }).waitFor({ timeout: 60_000 });
  await p.getByTestId('phase').filter({ hasText: 'Paused' }).waitFor();
  assert.ok(await marked(p), 'the page updated without a reload');
  const points = (await apiCall('GET', '/v1/rollouts/web/weights')).json.points as { weights: { weight: number }[] }[];
  assert.ok(
    points.some((x) => x.weights.some((w) => w.weight === 50)),
    'the timeline the chart draws has the 50 % step',
  );

  await p.getByRole('button', { name: 'Promote', exact: true }).click();
  const dialog = p.getByRole('dialog');
  await dialog.waitFor();
  assert.match((await dialog.textContent()) ?? '', /revision|traffic|step/i, 'the confirmation says what will happen');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await p.getByTestId('phase').filter({ hasText: 'Healthy' }).waitFor({ timeout: 60_000 });
  await p.getByTestId('events').filter({ hasText: 'admin' }).waitFor();
  const view = await sluice.get('web');
  assert.equal(view.status.phase, 'Healthy');
  assert.equal(view.status.stableRevision, 2);
  assert.ok(
    view.events.some((e) => e.actor === 'admin' && /promot/i.test(`${e.reason} ${e.message}`)),
    'promoted as the signed-in user',
  );
  await p.context().close();
});

test('a bad canary is aborted by its analysis; the page shows the reason and the metric', async (t) => {
  const p = await page(t);
  if (p === undefined) return;
  const port = await freePort();
  await sluice.apply('bad.yaml', rolloutManifest({ name: 'bad', version: 'v1', listen: port, replicas: 2, strategy: errorRateCanary }));
  await waitFor(sluice.rollout('bad', healthyOn(1)), { timeoutMs: 60_000, what: 'bad v1 healthy' });
  await signIn(p, base, adminToken, '#/rollouts/bad');
  await p.getByTestId('phase').filter({ hasText: 'Healthy' }).waitFor();
  const load = new LoadGenerator(port, 100, 60);
  try {
    await sluice.apply(
      'bad.yaml',
      rolloutManifest({ name: 'bad', version: 'v2', listen: port, replicas: 2, strategy: errorRateCanary, env: { ERROR_RATE: '0.2' } }),
    );
    await p.getByTestId('phase').filter({ hasText: 'Degraded' }).waitFor({ timeout: 60_000 });
    await p.getByTestId('abort-reason').filter({ hasText: 'error-rate' }).waitFor();
    await p.getByTestId('metric-chart-error-rate').waitFor();
    assert.match((await p.getByTestId('metric-chart-error-rate').textContent()) ?? '', /Failed|fail/i, 'the verdict is shown with the measurements');
  } finally {
    await load.stop();
  }
  await p.context().close();
});

test('a read-only user sees the buttons disabled with the reason; a forged POST with their cookie is 403 and changes nothing', async (t) => {
  const p = await page(t);
  if (p === undefined) return;
  const made = await apiCall('POST', '/v1/tokens', { name: 'vic', roles: ['viewer'] });
  assert.equal(made.status, 201);
  await signIn(p, base, made.json.token as string, '#/rollouts/web');
  await p.getByTestId('phase').waitFor();
  for (const name of ['Promote', 'Abort', 'Undo', 'Restart']) {
    assert.equal(await p.getByRole('button', { name, exact: true }).isDisabled(), true, `${name} is disabled for a viewer`);
  }
  assert.match((await p.getByTestId('actions-disabled').textContent()) ?? '', /deployer/);
  const before = (await sluice.get('web')).status;
  const answers = await p.evaluate(async () => {
    const session = (await (await fetch('/v1/session')).json()) as { csrf: string };
    const post = (headers: Record<string, string>) =>
      fetch('/v1/rollouts/web/abort', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' }).then(async (r) => ({
        status: r.status,
        code: ((await r.json()) as { code: string }).code,
      }));
    return { withCsrf: await post({ 'x-csrf-token': session.csrf }), without: await post({}) };
  });
  assert.deepEqual(answers.withCsrf, { status: 403, code: 'forbidden' });
  assert.deepEqual(answers.without, { status: 403, code: 'csrf' });
  const now = (await sluice.get('web')).status;
  assert.equal(now.aborted, before.aborted);
  assert.equal(now.phase, before.phase);
  await p.context().close();
});

test('a signed-out browser gets the sign-in form, and signing out stays signed out after a reload', async (t) => {
  const p = await page(t);
  if (p === undefined) return;
  await p.goto(`${base}/#/rollouts/web`);
  await p.getByLabel('API token').waitFor();
  assert.equal(await p.getByTestId('phase').count(), 0, 'nothing of the rollout is shown');
  await signIn(p, base, adminToken);
  await p.getByRole('button', { name: 'Sign out' }).click();
  await p.getByLabel('API token').waitFor();
  await p.reload();
  await p.getByLabel('API token').waitFor();
  await p.context().close();
});

test('kill -9 of the control plane: the page says so, reconnects by itself after the restart and shows what happens next', async (t) => {
  const p = await page(t);
  if (p === undefined) return;
  await signIn(p, base, adminToken, '#/rollouts/web');
  await p.getByTestId('connection').filter({ hasText: 'live' }).waitFor();
  await p.getByTestId('phase').filter({ hasText: 'Healthy' }).waitFor();
  await mark(p);
  await sluice.kill9();
  await p.getByTestId('connection').filter({ hasText: 'reconnecting' }).waitFor();
  await sluice.up();
  await p.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: 30_000 });
  assert.equal((await apiCall('POST', '/v1/rollouts/web/set', { version: 'v3' })).status, 200);
  await p
    .getByTestId('step')
    .filter({ hasText: /step [1-4]\/4/ })
    .waitFor();
  await p
    .getByTestId('phase')
    .filter({ hasText: /Progressing|Paused/ })
    .waitFor();
  assert.ok(await marked(p), 'no reload: the page reconnected by itself');
  await p.context().close();
});

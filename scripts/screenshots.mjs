// Remakes docs/images/overview.png and docs/images/rollout.png (docs/dashboard.md): a real
// `sluice up` with its own state directory, examples/canary.yaml (on free ports) released
// from v1 to v2 under light load and paused at its first manual step, a rolling rollout
// beside it, then Chromium at 1280×800 signs in and takes the two pictures.
// Needs `npm run build` first and Debian's chromium (/usr/bin/chromium).
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { SluiceUnderTest } from '../dist/test/helpers/sluice.js';
import { rolloutManifest } from '../dist/test/helpers/manifest.js';
import { freePort } from '../dist/test/helpers/ports.js';
import { LoadGenerator } from '../dist/test/helpers/load.js';
import { waitFor } from '../dist/test/helpers/wait.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'docs', 'images');
const CHROMIUM = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
mkdirSync(out, { recursive: true });

const ports = { main: await freePort(), canary: await freePort() };
const canary = (version) =>
  readFileSync(join(root, 'examples', 'canary.yaml'), 'utf8')
    .replace('127.0.0.1:8080', `127.0.0.1:${ports.main}`)
    .replace('127.0.0.1:8082', `127.0.0.1:${ports.canary}`)
    .replace('demo-app/server.js', join(root, 'examples', 'demo-app', 'server.js'))
    .replace('version: v1', `version: ${version}`)
    .replace('VERSION: v1', `VERSION: ${version}`)
    .replace('  name: demo-canary\n', '  name: demo-canary\n  environment: production\n');

const sluice = await SluiceUnderTest.start();
let load;
let browser;
try {
  const token = readFileSync(join(sluice.stateDir, 'token'), 'utf8').trim();
  const base = `http://127.0.0.1:${sluice.apiPort}`;
  const ready = (name, revision) => sluice.rollout(name, (v) => v.status.phase === 'Healthy' && v.status.stableRevision === revision);
  await sluice.apply('canary.yaml', canary('v1'));
  const apiPort = await freePort();
  await sluice.apply(
    'api.yaml',
    rolloutManifest({ name: 'api', version: 'v7', listen: apiPort, replicas: 2, strategy: '    rolling: {maxSurge: 1, maxUnavailable: 0}\n' }).replace(
      '  name: api\n',
      '  name: api\n  environment: production\n',
    ),
  );
  await waitFor(ready('demo-canary', 1), { timeoutMs: 60_000, what: 'demo-canary v1 healthy' });
  await waitFor(ready('api', 1), { timeoutMs: 60_000, what: 'api healthy' });
  load = new LoadGenerator(ports.main, 20, 600);
  await sluice.apply('canary.yaml', canary('v2'));
  await waitFor(
    sluice.rollout('demo-canary', (v) => v.status.reason === 'CanaryPauseStep' && v.status.stepIndex === 3),
    { timeoutMs: 90_000, what: 'demo-canary paused at 50 %' },
  );

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${base}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('tr[data-rollout="demo-canary"]').waitFor();
  await page.mouse.move(0, 799);
  await page.screenshot({ path: join(out, 'overview.png') });
  await page.goto(`${base}/#/rollouts/demo-canary`);
  await page.getByTestId('weight-chart').locator('canvas').waitFor();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(out, 'rollout.png') });
  console.log(`wrote ${join(out, 'overview.png')} and ${join(out, 'rollout.png')}`);
} finally {
  await browser?.close();
  await load?.stop();
  await sluice.down();
}

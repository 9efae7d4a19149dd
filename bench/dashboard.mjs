// The dashboard with many rollouts (issue 16): a real `sluice up` with N rollouts (default
// 500; one `sleep` instance each, ready by an exec probe every 30 s, so the machine is not the limit), Debian's Chromium
// through playwright-core. Measures (1) first paint of the overview — from navigation to all
// N rows in the table — and (2) a status change — from the page's own POST that starts a
// new revision of one rollout to its row showing Progressing, pushed by the event stream.
// Writes bench/results/dashboard.md and prints it.
// Run: npm run build && node bench/dashboard.mjs [N]   (RUNS=n repetitions, default 5)
// 127.0.0.1 only; no load beyond the page's own requests; stops by itself (hard limit 10 min).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { SluiceUnderTest } from '../dist/test/helpers/sluice.js';
import { CHROMIUM, CHROMIUM_ARGS } from '../dist/test/helpers/browser.js';
import { freePort } from '../dist/test/helpers/ports.js';
import { waitFor } from '../dist/test/helpers/wait.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results', 'dashboard.md');
const N = Number(process.argv[2] ?? 500);
const RUNS = Number(process.env.RUNS ?? 5);
const HARD_LIMIT_MS = 10 * 60_000;
if (!(N >= 1 && N <= 2000)) throw new Error(`N=${N}: use 1..2000`);
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);

let sluice;
let browser;
const stop = async (code) => {
  await browser?.close().catch(() => undefined);
  await sluice?.down().catch(() => undefined);
  process.exit(code);
};
setTimeout(() => {
  console.error('dashboard bench: hard time limit reached, stopping');
  void stop(2);
}, HARD_LIMIT_MS).unref();
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => void stop(130));

const doc = (i, port) => `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: r${String(i).padStart(4, '0')}}
spec:
  replicas: 1
  template:
    version: v1
    command: /bin/sleep
    args: ["100000"]
    probes: {readiness: {exec: {command: [/bin/true]}, periodSeconds: 30}}
  traffic: {listen: "127.0.0.1:${port}"}
  strategy: {canary: {steps: [{setWeight: 50}, {pause: {}}]}}
`;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const max = (xs) => Math.max(...xs);

try {
  sluice = await SluiceUnderTest.start();
  const token = readFileSync(join(sluice.stateDir, 'token'), 'utf8').trim();
  const base = `http://127.0.0.1:${sluice.apiPort}`;
  const ports = [];
  for (let i = 0; i < N; i++) ports.push(await freePort());
  const t0 = Date.now();
  // A file holds at most 100 documents: apply in files of 100.
  for (let from = 0; from < N; from += 100) {
    const docs = ports.slice(from, from + 100).map((p, i) => doc(from + i, p));
    const applied = await fetch(`${base}/v1/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ yaml: docs.join('---\n'), file: `many-${from}.yaml` }),
    });
    if (applied.status !== 200) throw new Error(`apply: ${applied.status} ${await applied.text()}`);
  }
  await waitFor(
    async () => {
      const r = await fetch(`${base}/v1/overview`, { headers: { authorization: `Bearer ${token}` } });
      const rows = (await r.json()).rollouts;
      return rows.length === N && rows.every((x) => x.phase === 'Healthy');
    },
    { timeoutMs: 300_000, intervalMs: 1000, what: `${N} rollouts healthy` },
  );
  console.log(`${N} rollouts healthy after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page
    .locator('[data-rollout]')
    .nth(N - 1)
    .waitFor({ state: 'attached', timeout: 60_000 });

  const paints = [];
  for (let run = 0; run < RUNS; run++) {
    const start = Date.now();
    await page.reload();
    await page
      .locator('[data-rollout]')
      .nth(N - 1)
      .waitFor({ state: 'attached', timeout: 60_000 });
    paints.push(Date.now() - start);
  }

  const changes = [];
  for (let run = 0; run < RUNS; run++) {
    const name = `r${String((run * 97) % N).padStart(4, '0')}`;
    await page.locator(`[data-rollout="${name}"]`).filter({ hasText: 'Healthy' }).waitFor({ state: 'attached' });
    // Clock and observer both in the page: from the POST leaving to the row saying Progressing.
    const ms = await page.evaluate(async (rollout) => {
      const row = document.querySelector(`[data-rollout="${rollout}"]`);
      const session = await (await fetch('/v1/session')).json();
      const seen = new Promise((resolve) => {
        const check = () => {
          const r = document.querySelector(`[data-rollout="${rollout}"]`);
          if (r && /Progressing|Paused/.test(r.textContent ?? '')) {
            observer.disconnect();
            resolve(performance.now());
          }
        };
        const observer = new MutationObserver(check);
        observer.observe(row?.closest('table') ?? document.body, { subtree: true, childList: true, characterData: true });
      });
      const start = performance.now();
      const r = await fetch(`/v1/rollouts/${rollout}/set`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf },
        body: JSON.stringify({ env: { RUN: String(Math.random()) } }),
      });
      if (r.status !== 200) throw new Error(`set: ${r.status}`);
      return (await seen) - start;
    }, name);
    changes.push(Math.round(ms));
  }

  const table = [
    `# Dashboard with ${N} rollouts`,
    '',
    `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}, Chromium (${CHROMIUM}), ${RUNS} runs each. Run: \`npm run build && node bench/dashboard.mjs ${N}\`.`,
    '',
    '| what | median | max | target |',
    '|---|---|---|---|',
    `| overview first paint (reload → all ${N} rows in the table) | ${median(paints)} ms | ${max(paints)} ms | < 1000 ms |`,
    `| status change (POST set → the row shows Progressing, by the event stream) | ${median(changes)} ms | ${max(changes)} ms | < 1000 ms |`,
    '',
  ].join('\n');
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, table);
  console.log(table);
  await stop(0);
} catch (err) {
  console.error(err);
  await stop(1);
}

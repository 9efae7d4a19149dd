// Runs the compiled tests with node's test runner, one file at a time (the machine has
// two cores and the end-to-end tests put real load on it). Optional arguments filter
// by path substring: `node scripts/run-tests.mjs unit router`. The browser tests (test/browser/,
// the dashboard in Chromium) run last.
// The chaos test (test/e2e/chaos.test.ts, about three minutes of load) runs only when a
// filter names it (`npm run test:chaos`) or SLUICE_CHAOS=1, never in a plain `npm test`.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = 'dist/test';
const filters = process.argv.slice(2);
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.js') ? [p] : [];
  });
}
const order = ['unit', 'integration', 'e2e', 'browser'];
const chaosAsked = process.env.SLUICE_CHAOS === '1' || filters.some((x) => x.includes('chaos'));
const files = walk(root)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .filter((f) => chaosAsked || !f.endsWith('/chaos.test.js'))
  .sort((a, b) => order.findIndex((o) => a.includes(`/${o}/`)) - order.findIndex((o) => b.includes(`/${o}/`)) || a.localeCompare(b));
if (files.length === 0) {
  console.error(`no test files under ${root} match ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);

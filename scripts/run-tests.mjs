// Runs the compiled tests with node's test runner, one file at a time (the machine has
// two cores and the end-to-end tests put real load on it). Optional arguments filter
// by path substring: `node scripts/run-tests.mjs unit router`.
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
const order = ['unit', 'integration', 'e2e'];
const files = walk(root)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort((a, b) => order.findIndex((o) => a.includes(`/${o}/`)) - order.findIndex((o) => b.includes(`/${o}/`)) || a.localeCompare(b));
if (files.length === 0) {
  console.error(`no test files under ${root} match ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);

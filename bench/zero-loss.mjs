// The zero-lost-requests suite (test/helpers/zero-loss.ts) at a higher rate than the test:
// each strategy, abort, undo, a router restart, kill -9 of the control plane, an instance
// crash and a slow-starting revision, each under open-loop load; prints the table and writes
// bench/results/zero-loss.md. Run: npm run bench:zero-loss [-- RATE]   (default 500 req/s)
// Real processes and HTTP on 127.0.0.1 only; bounded rate (≤ 2000/s) and time; about 2 minutes.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { SluiceUnderTest } from '../dist/test/helpers/sluice.js';
import { SCENARIOS, markdownTable, passed, runScenario } from '../dist/test/helpers/zero-loss.js';

const rate = Number(process.argv[2] ?? 500);
if (!Number.isFinite(rate) || rate < 1 || rate > 2000) {
  console.error(`rate ${process.argv[2]}: must be 1..2000 requests per second`);
  process.exit(2);
}

const sluice = await SluiceUnderTest.start();
const results = [];
try {
  for (const [i, scenario] of SCENARIOS.entries()) {
    try {
      const r = await runScenario(sluice, scenario, rate, i);
      results.push(r);
      console.log(
        `${r.name}: sent ${r.sent}, 2xx ${r.ok2xx}, maintenance ${r.maintenance}, other ${r.otherStatus}, connection errors ${r.connectionErrors}, p99 ${r.p99Ms.toFixed(1)} ms — ${passed(r) ? 'ok' : 'FAILED'}${r.firstFailures.length ? ` (${r.firstFailures.join(' | ')})` : ''}`,
      );
    } catch (e) {
      console.log(`${scenario.name}: did not complete: ${e.message.split('\n')[0]}`);
      results.push({
        name: scenario.name,
        rate,
        sent: 0,
        ok2xx: 0,
        maintenance: 0,
        otherStatus: 0,
        connectionErrors: 0,
        p99Ms: 0,
        lost: 0,
        problems: [`did not complete: ${e.message.split('\n')[0]}`],
        note: '',
        firstFailures: [],
      });
    }
  }
} finally {
  await sluice.down();
}

const lines = [
  '# Zero lost requests',
  '',
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}; ${new Date().toISOString()}.`,
  `Command: \`npm run bench:zero-loss -- ${rate}\`. Open-loop load at ${rate} requests/s from this process (test/helpers/load.ts: keep-alive`,
  "client, Node's http.Agent), through sluice's router to the demo app (3 instances), one scenario at a time (test/helpers/zero-loss.ts).",
  'A request is lost when it gets anything but a 2xx, except recreate, whose documented gap is answered by its maintenance',
  'page (503 with Retry-After), counted apart. p99 is over every request of the scenario, setup excluded.',
  '',
  markdownTable(results),
  '',
];
const text = lines.join('\n');
mkdirSync(join('bench', 'results'), { recursive: true });
writeFileSync(join('bench', 'results', 'zero-loss.md'), text);
console.log(`\n${text}`);
process.exit(results.every(passed) ? 0 : 1);

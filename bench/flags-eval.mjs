// In-process flag evaluation (src/flags/evaluator.ts, flagd's own evaluator @openfeature/flagd-core
// underneath): evaluations per second for a flag without targeting, an attribute rule, a
// fractional split, and the issue's fractional + attribute rule; each also straight through
// flagd-core's FlagdCore.resolve* for comparison. Goals (issue 12): ≥ 1M/s without targeting,
// ≥ 300k/s fractional + attribute. Prints a markdown table and writes bench/results/flags-eval.md.
// Then, if wrk is installed, single-flag OFREP evaluations over HTTP against createOfrepService in
// this process (no router around it: the data plane's own figure is bench/ofrep's, with the lead's wiring).
// Run: npx tsc -p tsconfig.json && node bench/flags-eval.mjs
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FlagdCore } from '@openfeature/flagd-core';
import { run, which } from './lib/procs.mjs';
import { parseWrk } from './lib/wrk.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results', 'flags-eval.md');
const { FlagEvaluator } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'flags', 'evaluator.js')).href);
const { createOfrepService } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'flags', 'ofrep.js')).href);

const flags = {
  static: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
  attribute: {
    state: 'ENABLED',
    variants: { on: true, off: false },
    defaultVariant: 'off',
    targeting: { if: [{ in: [{ var: 'segment' }, ['premium', 'beta_testers']] }, 'on', 'off'] },
  },
  fractional: {
    state: 'ENABLED',
    variants: { on: true, off: false },
    defaultVariant: 'off',
    targeting: {
      fractional: [
        ['on', 25],
        ['off', 75],
      ],
    },
  },
  'fractional-attribute': {
    state: 'ENABLED',
    variants: { on: true, off: false },
    defaultVariant: 'off',
    targeting: {
      if: [
        { and: [{ in: [{ var: 'segment' }, ['premium', 'beta_testers']] }, { '==': [{ var: 'country' }, 'DE'] }] },
        {
          fractional: [
            ['on', 25],
            ['off', 75],
          ],
        },
        'off',
      ],
    },
  },
};
const USERS = 4096;
const contexts = Array.from({ length: USERS }, (_, i) => ({
  targetingKey: `user-${i}`,
  segment: i % 2 === 0 ? 'premium' : 'free',
  country: i % 3 === 0 ? 'US' : 'DE',
}));

/** Evaluations per second of `f(i)`, best of 5 runs of `ms` ms each, after a warm-up. */
function rate(f, ms = 400) {
  let sink = 0;
  for (let i = 0; i < 200_000; i++) sink ^= f(i) ? 1 : 0;
  let best = 0;
  for (let run = 0; run < 5; run++) {
    let n = 0;
    const start = performance.now();
    let end = start;
    while (end - start < ms) {
      for (let k = 0; k < 10_000; k++, n++) sink ^= f(n) ? 1 : 0;
      end = performance.now();
    }
    best = Math.max(best, (n / (end - start)) * 1000);
  }
  if (sink === 2) console.log('');
  return best;
}

const ev = new FlagEvaluator();
ev.load({ flags });
const core = new FlagdCore(undefined, { error() {}, warn() {}, info() {}, debug() {} });
core.setConfigurations(JSON.stringify({ flags }));

const goal = { static: 1_000_000, 'fractional-attribute': 300_000 };
const lines = [
  `# Flag evaluation in process (${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length})`,
  '',
  `${USERS} distinct contexts in turn. sluice = src/flags/evaluator.ts (FlagEvaluator.evaluate, counting usage); flagd-core = FlagdCore.resolveBooleanEvaluation directly.`,
  '',
  '| flag | sluice evals/s | flagd-core evals/s | goal |',
  '|---|---:|---:|---:|',
];
const fmt = (n) => Math.round(n).toLocaleString('en-US');
for (const key of Object.keys(flags)) {
  const a = rate((i) => ev.evaluate(key, contexts[i & (USERS - 1)]).value);
  const b = rate((i) => core.resolveBooleanEvaluation(key, false, contexts[i & (USERS - 1)]).value);
  const g = goal[key];
  lines.push(`| ${key} | ${fmt(a)} | ${fmt(b)} | ${g ? `≥ ${fmt(g)}${a >= g ? ' ✓' : ' ✗'}` : ''} |`);
}

if (await which('wrk')) {
  const service = createOfrepService();
  service.update({
    generation: 1,
    listen: '127.0.0.1:0',
    tokens: [{ name: 'bench', sha256: createHash('sha256').update('bench-token').digest('hex') }],
    document: { flags },
  });
  const server = http.createServer(service.handle);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const dir = mkdtempSync(join(os.tmpdir(), 'sluice-flags-bench-'));
  const script = join(dir, 'post.lua');
  writeFileSync(
    script,
    `wrk.method = "POST"\nwrk.body = '{"context":{"targetingKey":"user-42","segment":"premium","country":"DE"}}'\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer bench-token"\n`,
  );
  lines.push('', 'OFREP over HTTP, this process serving (createOfrepService on node:http), wrk -t1 -c50 -d5s closed loop, one context:', '');
  lines.push('| flag | req/s | p50 ms | p99 ms | errors |', '|---|---:|---:|---:|---:|');
  for (const key of ['static', 'fractional-attribute']) {
    // A warm-up run first (JIT, sockets), not counted.
    await run('wrk', ['-t1', '-c50', '-d2s', '-s', script, `http://127.0.0.1:${port}/ofrep/v1/evaluate/flags/${key}`], 30_000);
    const r = await run('wrk', ['-t1', '-c50', '-d5s', '--latency', '-s', script, `http://127.0.0.1:${port}/ofrep/v1/evaluate/flags/${key}`], 30_000);
    const w = parseWrk(r.stdout);
    lines.push(`| ${key} | ${fmt(w.rps)} | ${w.p50Ms.toFixed(2)} | ${w.p99Ms.toFixed(2)} | ${w.errors + w.non2xx} |`);
  }
  server.close();
} else {
  lines.push('', '(wrk not installed: no HTTP figures)');
}
const text = `${lines.join('\n')}\n`;
console.log(text);
mkdirSync(dirname(RESULTS), { recursive: true });
writeFileSync(RESULTS, text);

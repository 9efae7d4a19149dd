// Time from the first bad request to traffic back on stable, for a canary that answers
// 5xx on a share of its requests, at several request rates — beside the best an
// interval-and-threshold controller (Flagger's defaults: interval 1m, threshold 1) could
// do on the same traffic. Run: npm run build && node bench/detection.mjs
// Real processes and HTTP on 127.0.0.1 only; bounded rate and time; about 3 minutes.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { LoadGenerator } from '../dist/test/helpers/load.js';
import { SluiceUnderTest } from '../dist/test/helpers/sluice.js';
import { rolloutManifest } from '../dist/test/helpers/manifest.js';
import { freePort } from '../dist/test/helpers/ports.js';
import { sleep, waitFor } from '../dist/test/helpers/wait.js';

const ERROR_RATES = [1, 0.1, 0.02];
const RATES = [50, 200, 1000];
const WEIGHT = 20;
const FLAGGER_INTERVAL_S = 60;

const strategy = `    canary:
      analysis:
        metrics:
          - name: error-rate
            interval: 1s
            successCondition: result <= 0.01
            provider: {builtin: {metric: error-rate, windowSeconds: 5, minRequests: 10}}
      steps:
        - setWeight: ${WEIGHT}
        - pause: {duration: 60s}
`;

const sluice = await SluiceUnderTest.start();
const rows = [];
try {
  for (const rate of RATES) {
    for (const errorRate of ERROR_RATES) {
      const name = `bench-${rate}-${String(errorRate).replace('.', '')}`;
      const port = await freePort();
      await sluice.apply(`${name}.yaml`, rolloutManifest({ name, version: 'v1', listen: port, strategy, replicas: 2 }));
      await waitFor(
        sluice.rollout(name, (v) => v.status.phase === 'Healthy' && v.instances.filter((i) => i.phase === 'Ready').length === 2),
        { timeoutMs: 60_000, what: 'v1 healthy' },
      );
      const load = new LoadGenerator(port, rate, 60);
      await sleep(500);
      await sluice.apply(`${name}.yaml`, rolloutManifest({ name, version: 'v2', listen: port, strategy, replicas: 2, env: { ERROR_RATE: String(errorRate) } }));
      await waitFor(
        sluice.rollout(name, (v) => v.status.phase === 'Degraded'),
        { timeoutMs: 60_000, what: 'aborted' },
      );
      await sleep(1500);
      const report = await load.stop();
      const bad = report.samples.filter((s) => s.status >= 500).sort((a, b) => a.doneAt - b.doneAt);
      const toCanary = report.samples.filter((s) => s.version === 'v2' || s.status >= 500).sort((a, b) => a.sentAt - b.sentAt);
      const firstBad = bad[0]?.doneAt;
      const lastToCanary = toCanary.at(-1)?.sentAt;
      const detection = firstBad === undefined || lastToCanary === undefined ? NaN : (lastToCanary - firstBad) / 1000;
      const exposure = lastToCanary === undefined ? NaN : (lastToCanary - toCanary[0].sentAt) / 1000;
      const canaryRps = (rate * WEIGHT) / 100;
      rows.push({ rate, errorRate, detection, exposure, badServed: bad.length, canaryRps });
      console.log(`${rate} req/s, ${errorRate * 100}% errors: back on stable ${detection.toFixed(2)} s after the first bad answer (${bad.length} 5xx served)`);
      await sluice.cli(['delete', name]);
    }
  }
} finally {
  await sluice.down();
}

const flaggerBad = (r) => Math.round(FLAGGER_INTERVAL_S * r.canaryRps * r.errorRate);
const lines = [
  '# Detection: first bad request → traffic back on stable',
  '',
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}; ${new Date().toISOString()}.`,
  `Command: \`node bench/detection.mjs\`. Canary at ${WEIGHT} % weight, 2 instances per revision, open-loop load from this process (test/helpers/load.ts),`,
  'sluice background analysis: builtin error-rate every 1 s over a 5 s window, `result <= 0.01`, failureLimit 0.',
  `Interval-and-threshold reference: Flagger's defaults (interval ${FLAGGER_INTERVAL_S} s, threshold 1). Its first check runs one interval after traffic`,
  'shifts, so its best case is one interval, during which every bad answer reaches users. The ratio compares it with',
  "sluice's canary traffic → stable time (the fairer of the two sluice columns).",
  '',
  '| load (req/s) | canary errors | sluice: first bad answer → stable (s) | canary traffic → stable (s) | 5xx served (sluice) | interval+threshold best case (s) | 5xx served at best (est.) | ratio |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.rate} | ${r.errorRate * 100} % | ${r.detection.toFixed(2)} | ${r.exposure.toFixed(2)} | ${r.badServed} | ${FLAGGER_INTERVAL_S} | ${flaggerBad(r)} | ${(FLAGGER_INTERVAL_S / r.exposure).toFixed(0)}× faster |`,
  ),
  '',
];
const table = lines.join('\n');
mkdirSync(join('bench', 'results'), { recursive: true });
writeFileSync(join('bench', 'results', 'detection.md'), table);
console.log(`\n${table}`);

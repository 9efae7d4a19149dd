#!/usr/bin/env node
// `npm run bench [-- NAME ...]`: every benchmark in turn (or the named ones), each writing its
// table to bench/results/NAME.md. Not part of the tests. Sends traffic to 127.0.0.1 only.
// A bench that cannot run (e.g. wrk or nginx missing: bench/router.mjs says how to install
// them from Debian) is reported and the others still run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const BENCHES = [
  { name: 'detection', args: [], what: 'time from a bad canary to stable, vs an interval+threshold checker' },
  { name: 'router', args: [], what: 'router vs direct vs nginx: throughput, added latency, memory' },
  { name: 'mirror', args: [], what: "the primary's p99 with mirroring to a 5× slower shadow" },
  { name: 'release-timing', args: [], what: 'promote → served, abort → last canary request' },
  { name: 'zero-loss', args: [], what: 'the zero-lost-requests scenarios at 500 requests/s' },
  { name: 'ofrep', args: [], what: 'OFREP evaluations: sluice data plane vs flagd vs flagd-core direct' },
  { name: 'experiments-aa', args: [], what: 'A/A and power harness: sequential vs peeked fixed-horizon false positives, SRM false alarms, power' },
  { name: 'experiment-events', args: [], what: 'event ingestion through the data plane: events/s, count in = count journaled' },
  { name: 'experiment-store', args: [], what: '1M users × 3 metrics into SQLite; totals and `experiment status` time' },
  { name: 'db-lint', args: [], what: 'migration linter: load + lint of 1,000 statements (goal < 1 s)' },
  { name: 'db-backfill', args: [], what: '1M-row batched backfill under 300 req/s of app traffic: rows/s, app p99 before / during / after' },
  // Two sizes, as `npm run bench:control-plane`: the CPU per rollout per release should not grow with the fleet.
  { name: 'control-plane', args: ['200'], what: 'control-plane CPU and memory with 200 rollouts' },
  { name: 'control-plane', args: ['1000'], what: 'control-plane CPU and memory with 1,000 rollouts' },
];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !BENCHES.some((b) => b.name === w));
if (unknown.length > 0) {
  console.error(`unknown bench ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
  process.exit(2);
}
const chosen = wanted.length > 0 ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES;
const outcome = [];
for (const b of chosen) {
  console.log(`\n=== bench ${b.name}: ${b.what}\n`);
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(here, `${b.name}.mjs`), ...b.args], { stdio: 'inherit' });
  outcome.push({ name: b.name, args: b.args, ok: r.status === 0, seconds: Math.round((Date.now() - started) / 1000), code: r.status ?? r.signal });
}
console.log('\n| bench | result | time | table |\n|---|---|---:|---|');
for (const o of outcome)
  console.log(
    `| ${o.name}${o.args.length ? ` ${o.args.join(' ')}` : ''} | ${o.ok ? 'ok' : `failed (exit ${o.code})`} | ${o.seconds} s | bench/results/${o.name}.md |`,
  );
process.exit(outcome.every((o) => o.ok) ? 0 : 1);

// Control-plane cost: N canary rollouts reconciling at once (default 200) on an in-memory
// platform and data plane, with the real reconciler, planners, controller and job runner
// on the real clock. Prints CPU and memory, and CPU per rollout per release: flat across N
// means the engine's cost grows with the work, not with the number of rollouts squared.
// Run: npm run build && node bench/control-plane.mjs [N]. Writes its table for N into
// bench/results/control-plane.md, keeping the other sizes' tables and the text around them.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../dist/src/store/memory.js';
import { Reconciler } from '../dist/src/engine/reconciler.js';
import { Controller } from '../dist/src/engine/controller.js';
import { JobRunner } from '../dist/src/engine/job-runner.js';
import { systemClock } from '../dist/src/core/clock.js';

const N = Number(process.argv[2] ?? 200);
const READY_MS = 300;
/** The waits for all rollouts to become healthy grow with N: a slow engine fails the bench, not a big one. */
const SCALE = Math.max(1, N / 200);

/** Instances that become Ready READY_MS after start and stop at once (no processes). */
class MemoryPlatform {
  instances = new Map();
  listeners = [];
  port = 20000;
  async start(ref) {
    const i = { ...ref, phase: 'Starting', port: this.port++, startedAt: Date.now(), restarts: 0, logFile: '/dev/null' };
    this.instances.set(ref.id, i);
    setTimeout(() => {
      if (i.phase !== 'Starting') return;
      i.phase = 'Ready';
      i.readySince = Date.now();
      for (const l of this.listeners) l({ ...i });
    }, READY_MS);
    return { ...i };
  }
  async stop(id, options) {
    const i = this.instances.get(id);
    if (!i) return;
    i.phase = 'Terminating';
    await options?.drain?.();
    this.instances.delete(id);
    for (const l of this.listeners) l({ ...i, phase: 'Stopped' });
  }
  list(rollout) {
    return [...this.instances.values()].filter((i) => !rollout || i.rollout === rollout).map((i) => ({ ...i }));
  }
  async adopt() {
    return [];
  }
  onChange(l) {
    this.listeners.push(l);
  }
  async detach() {}
}

const router = {
  tables: 0,
  async apply() {
    this.tables++;
  },
  async waitIdle() {
    return true;
  },
  async traffic() {
    return [];
  },
};

function manifest(name, version, port) {
  return `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: ${name}}
spec:
  replicas: 3
  template: {version: ${version}, command: node, env: {VERSION: ${version}}}
  traffic: {listen: "127.0.0.1:${port}"}
  strategy:
    canary:
      steps: [{setWeight: 20}, {pause: {duration: 2s}}, {setWeight: 60}, {pause: {duration: 2s}}]
`;
}

const store = new MemoryStore();
const platform = new MemoryPlatform();
let reconciler;
const jobs = new JobRunner({ store, clock: systemClock, providers: {}, onChange: (rollout) => reconciler?.trigger(rollout) });
let plans = 0;
reconciler = new Reconciler({ store, platform, router, clock: systemClock, jobs, onPlan: () => plans++ });
const controller = new Controller(store, reconciler, platform, systemClock, jobs);
reconciler.start(0);
const by = { actor: 'bench' };

// Reads statuses straight from the store, every 250 ms: `controller.list()` builds full views
// (revisions, instances, events, jobs per rollout), which at 1,000 rollouts would make the
// bench's own polling a large part of the CPU it measures.
async function allHealthy(revision, timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (store.listRollouts().every((r) => r.status.phase === 'Healthy' && r.status.stableRevision === revision)) return;
    if (Date.now() > until) throw new Error(`not all ${N} rollouts healthy on revision ${revision} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function measure() {
  let peakRss = 0;
  const t = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    clearInterval(t);
    const cpu = process.cpuUsage(cpu0);
    const wall = (performance.now() - t0) / 1000;
    return { wall, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMiB: Math.max(peakRss, process.memoryUsage().rss) / 2 ** 20 };
  };
}

const rows = [];
// Each phase is printed as it ends: at sizes the engine cannot handle, the finished phases still tell.
const done = (name, r, release) => {
  rows.push([name, r, release]);
  console.log(`${name}: ${r.wall.toFixed(1)} s wall, ${r.cpuSeconds.toFixed(2)} s CPU`);
};
let stop = measure();
for (let k = 0; k < N; k++) await controller.apply(manifest(`svc-${k}`, 'v1', 30000 + k), `/tmp/svc-${k}.yaml`, by);
await allHealthy(1, 120_000 * SCALE);
done('create and start v1 (3 instances each)', stop(), true);

stop = measure();
for (let k = 0; k < N; k++) await controller.apply(manifest(`svc-${k}`, 'v2', 30000 + k), `/tmp/svc-${k}.yaml`, by);
await allHealthy(2, 180_000 * SCALE);
done('canary v1 → v2 (4 steps, two 2 s pauses), all at once', stop(), true);

stop = measure();
await new Promise((r) => setTimeout(r, 10_000));
done('idle, 10 s (2 s resync)', stop(), false);

await reconciler.close();
jobs.close();

const perRollout = (r, release) => (release ? `${((r.cpuSeconds / N) * 1000).toFixed(1)}` : '—');
const lines = [
  `## ${N} rollouts reconciling at once`,
  '',
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; Node ${process.version}; ${new Date().toISOString()}.`,
  `Command: \`node bench/control-plane.mjs ${N}\`. Real reconciler, planners, controller and job runner on the real clock; in-memory store, platform (instances ready after ${READY_MS} ms) and data plane, so this is the engine's own cost.`,
  '',
  '| phase | wall (s) | CPU (s) | CPU share of one core | CPU ms per rollout per release | peak RSS (MiB) |',
  '|---|---:|---:|---:|---:|---:|',
  ...rows.map(
    ([name, r, release]) =>
      `| ${name} | ${r.wall.toFixed(1)} | ${r.cpuSeconds.toFixed(2)} | ${((r.cpuSeconds / r.wall) * 100).toFixed(0)} % | ${perRollout(r, release)} | ${r.peakRssMiB.toFixed(0)} |`,
  ),
  '',
  `Route tables pushed: ${router.tables}. Rollouts planned: ${plans} (${(plans / N).toFixed(0)} per rollout).`,
];
console.log(lines.join('\n'));
writeSection(join('bench', 'results', 'control-plane.md'), lines);
process.exit(0);

/** Replaces this size's section (between its markers) in the results file, or adds it at the end. */
function writeSection(file, body) {
  const begin = `<!-- control-plane ${N}: begin (written by bench/control-plane.mjs) -->`;
  const end = `<!-- control-plane ${N}: end -->`;
  const section = [begin, ...body, end].join('\n');
  mkdirSync(join('bench', 'results'), { recursive: true });
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Control plane: rollouts reconciling at once\n';
  const a = old.indexOf(begin);
  const b = old.indexOf(end);
  const text = a >= 0 && b > a ? old.slice(0, a) + section + old.slice(b + end.length) : `${old.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, text);
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';

// A pass plans only the rollouts something touched (a platform change of one of their
// instances, an action, their own wake-up); the sweep every 30 s plans all of them.

type Sim = ReturnType<typeof makeSim>;

const N = 50;
const CANARY = `    canary:
      steps: [{setWeight: 20}, {pause: {duration: 700ms}}, {setWeight: 60}, {pause: {duration: 1300ms}}]
`;
const name = (k: number) => `svc-${k}`;
const doc = (k: number, version: string) => rolloutManifest({ ...SIM_APP, name: name(k), version, strategy: CANARY, listen: `127.0.0.1:${19000 + k}` });

async function fleet(): Promise<Sim> {
  const sim = makeSim(500);
  await sim.controller.apply(Array.from({ length: N }, (_, k) => doc(k, 'v1')).join('---\n'), '/tmp/fleet.yaml', sim.by);
  await sim.run(3000);
  for (let k = 0; k < N; k++) assert.equal((await sim.status(name(k))).phase, 'Healthy', name(k));
  return sim;
}

/** Advance in 100 ms steps; after each, the rollouts planned in it (all N: a sweep). */
async function steps(sim: Sim, ms: number, each: (planned: Map<string, number>) => void | Promise<void> = () => {}) {
  for (let t = 0; t < ms; t += 100) {
    sim.plans.clear();
    await sim.run(100, 100);
    await each(new Map(sim.plans));
  }
}

test('an idle engine plans nothing between sweeps; a sweep plans every rollout once', async () => {
  const sim = await fleet();
  const sweeps: number[] = [];
  let elapsed = 0;
  // The start's sweep was 3 s ago: the next one is in this window, the one after is not.
  await steps(sim, 32_000, (planned) => {
    elapsed += 100;
    if (planned.size === 0) return;
    assert.equal(planned.size, N, `an idle pass planned ${[...planned.keys()].join(', ')}`);
    assert.ok(
      [...planned.values()].every((n) => n === 1),
      'a sweep plans each rollout once',
    );
    sweeps.push(elapsed);
  });
  assert.equal(sweeps.length, 1, `sweeps at ${sweeps.join(', ')} ms`);
});

test('a platform change of one instance plans only its rollout, and the table still routes every rollout', async () => {
  const sim = await fleet();
  const tables = sim.router.tables.length;
  const victim = sim.platform.list(name(7)).find((i) => i.phase === 'Ready')!;
  sim.plans.clear();
  sim.platform.failReadiness(victim.id);
  await sim.reconciler.settle();
  assert.deepEqual([...sim.plans.keys()], [name(7)], 'only the changed instance’s rollout is planned');
  assert.equal(sim.router.tables.length, tables + 1, 'one new table');
  const table = sim.router.current!;
  assert.equal(new Set(table.listeners.map((l) => l.rollout)).size, N, 'every rollout keeps its listener');
  const endpoints = (k: number) => table.listeners.find((l) => l.rollout === name(k))!.backends.flatMap((b) => b.endpoints.map((e) => e.id));
  assert.equal(endpoints(7).length, 2);
  assert.ok(!endpoints(7).includes(victim.id), 'the unready instance left the table');
  assert.equal(endpoints(8).length, 3, 'the other rollouts keep their endpoints');

  // A change that leaves every part as it was pushes no table.
  sim.plans.clear();
  sim.reconciler.trigger(name(9));
  await sim.reconciler.settle();
  assert.deepEqual([...sim.plans.keys()], [name(9)]);
  assert.equal(sim.router.tables.length, tables + 1, 'nothing changed: no table pushed');
});

test("a rollout's wake-ups and platform changes during its release plan it alone, never the others", async () => {
  const sim = await fleet();
  await sim.controller.apply(doc(3, 'v2'), '/tmp/svc-3.yaml', sim.by);
  let alone = 0;
  await steps(sim, 8000, (planned) => {
    if (planned.size === 0 || planned.size === N) return;
    assert.deepEqual([...planned.keys()], [name(3)], 'between sweeps only the releasing rollout is planned');
    alone++;
  });
  const s = await sim.status(name(3));
  assert.equal(s.phase, 'Healthy', s.message);
  assert.equal(s.stableRevision, 2);
  assert.deepEqual(sim.router.split(name(3)), { v2: 100 });
  assert.ok(alone >= 4, `svc-3 was planned on its own in ${alone} steps (its instances starting, its pauses ending)`);
  assert.deepEqual(sim.router.split(name(4)), { v1: 100 });
});

test('a timed canary pause keeps its "continues in Ns" countdown current though nothing else touches the rollout', async () => {
  const sim = makeSim(500);
  const strategy = `    canary:\n      steps: [{setWeight: 20}, {pause: {duration: 20s}}, {setWeight: 60}]\n`;
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v1', strategy }), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  await sim.controller.apply(rolloutManifest({ ...SIM_APP, version: 'v2', strategy }), '/tmp/web.yaml', sim.by);
  let first: number | undefined;
  for (let t = 0; t < 10_000 && first === undefined; t += 100) {
    await sim.run(100, 100);
    const m = /continues in (\d+)s/.exec((await sim.status('web')).message ?? '');
    if (m) first = Number(m[1]);
  }
  assert.ok(first !== undefined && first > 12, `the pause began with its countdown (${first})`);
  await sim.run(8000);
  const later = Number(/continues in (\d+)s/.exec((await sim.status('web')).message ?? '')?.[1]);
  assert.ok(later <= first - 6 && later >= first - 10, `8 s later the countdown reads ${later}s, from ${first}s`);
});

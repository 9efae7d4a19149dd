import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../src/store/memory.js';
import { FlagController, type LoadedFlagSet } from '../../src/engine/flags/controller.js';
import { flagSubject, type FlagdDocument, type FlagRecord } from '../../src/core/flags.js';
import { compileFlags } from '../../src/flags/compile.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { flagSpec, RecordingFlagPlane } from '../helpers/flag-fixtures.js';

// compileFlags is the spec helper's (a stub here until merged): a stand-in that shows what
// was pushed — per flag, the variant everyone gets when killed, and the percentage.
const compile = (records: readonly FlagRecord[]): FlagdDocument => ({
  flags: Object.fromEntries(
    records.map((r) => [
      r.name,
      {
        state: r.spec.state,
        variants: r.spec.variants,
        defaultVariant: r.state.killed ? r.spec.offVariant : r.spec.defaultVariant,
        ...(r.state.killed ? {} : { metadata: { percentage: r.state.percentage ?? r.spec.enable?.percentage ?? 100 } }),
      },
    ]),
  ),
});

function setup() {
  const store = new MemoryStore();
  const clock = new FakeClock();
  const plane = new RecordingFlagPlane();
  const kv = new Map<string, string>();
  const flags = new FlagController({
    store,
    clock,
    plane,
    listen: '127.0.0.1:8016',
    compile,
    kv: { get: (k) => kv.get(k), set: (k, v) => void kv.set(k, v) },
    tokens: { records: () => [{ name: 'default', sha256: 'ab'.repeat(32) }] },
  });
  return { store, clock, plane, flags, kv };
}
const set = (...names: string[]): LoadedFlagSet[] => [
  { set: { flags: names.map((n) => flagSpec(n)), evaluators: {}, metadata: {} }, source: 'kind: FeatureFlags', file: 'f.yaml', line: 1 },
];
const settle = () => new Promise((r) => setImmediate(r));

test('apply stores flags with an event each and pushes them all; applying the same again changes nothing', async () => {
  const { store, plane, flags } = setup();
  const results = flags.applyFlags(set('checkout', 'banner'), 'ana');
  assert.deepEqual(
    results.map((r) => `${r.name} ${r.result}`),
    ['checkout created', 'banner created'],
  );
  await settle();
  assert.equal(plane.pushes.length, 1);
  assert.deepEqual(Object.keys(plane.pushes[0]!.document.flags).sort(), ['banner', 'checkout']);
  assert.equal(plane.pushes[0]!.generation, 1);
  assert.equal(plane.pushes[0]!.listen, '127.0.0.1:8016');
  assert.deepEqual(plane.pushes[0]!.tokens, [{ name: 'default', sha256: 'ab'.repeat(32) }]);
  assert.equal(store.listEvents(flagSubject('checkout'))[0]!.reason, 'FlagCreated');

  assert.deepEqual(
    flags.applyFlags(set('checkout'), 'ana').map((r) => r.result),
    ['unchanged'],
  );
  await settle();
  assert.equal(plane.pushes.length, 1, 'nothing changed, nothing pushed');
  assert.throws(() => flags.applyFlags([...set('x'), ...set('x')], 'ana'), { message: /^f\.yaml:1: FeatureFlag "x" is also defined at f\.yaml:1/ });
});

test('kill pushes the off variant at once, records who, before → after and why; apply keeps the state', async () => {
  const { store, plane, flags } = setup();
  flags.applyFlags(set('checkout'), 'ana');
  await settle();
  const status = await flags.killFlag('checkout', 'bob', 'errors up 5x');
  assert.equal(status.servedGeneration, 2);
  assert.equal(plane.pushes.at(-1)!.document.flags.checkout!.defaultVariant, 'off');
  const e = store.listEvents(flagSubject('checkout')).at(-1)!;
  assert.equal(e.reason, 'FlagKilled');
  assert.equal(e.actor, 'bob');
  assert.equal(e.message, 'bob: live at 10 % → killed (serves "off") — errors up 5x');
  await assert.rejects(flags.killFlag('checkout', 'bob'), /already killed/);

  // A new apply of the spec keeps the kill switch.
  flags.applyFlags([{ ...set('checkout')[0]!, set: { flags: [flagSpec('checkout', { defaultVariant: 'on' })], evaluators: {}, metadata: {} } }], 'ana');
  assert.equal(store.getFlag('checkout')!.state.killed, true);

  await flags.restoreFlag('checkout', 'bob', 'fixed');
  assert.equal(store.getFlag('checkout')!.state.killed, false);
  assert.equal(plane.pushes.at(-1)!.document.flags.checkout!.defaultVariant, 'on');
  // The engine's kill (kill on abort) of a killed flag is a no-op, not an error.
  flags.kill('checkout', 'engine', 'rollout web aborted');
  flags.kill('checkout', 'engine', 'rollout web aborted');
  assert.deepEqual(
    store.listEvents(flagSubject('checkout')).map((x) => x.reason),
    ['FlagCreated', 'FlagKilled', 'FlagUpdated', 'FlagRestored', 'FlagKilled'],
  );
});

test('setPercentage checks its input and changes nothing on a bad one', async () => {
  const { store, plane, flags } = setup();
  flags.applyFlags(set('checkout'), 'ana');
  await flags.setFlagPercentage('checkout', 25, 'ana');
  assert.equal(store.getFlag('checkout')!.state.percentage, 25);
  assert.equal(plane.pushes.at(-1)!.document.flags.checkout!.metadata!.percentage, 25);
  const events = store.listEvents(flagSubject('checkout')).length;
  await assert.rejects(flags.setFlagPercentage('checkout', 101, 'ana'), /percentage 101: must be a number from 0 to 100/);
  await assert.rejects(flags.setFlagPercentage('nope', 5, 'ana'), /flag "nope" not found — known flags: checkout/);
  flags.applyFlags([{ ...set('plain')[0]!, set: { flags: [flagSpec('plain', { enable: undefined })], evaluators: {}, metadata: {} } }], 'ana');
  await assert.rejects(flags.setFlagPercentage('plain', 5, 'ana'), /flag plain has no `enable` rule/);
  assert.equal(store.listEvents(flagSubject('checkout')).length, events);
  assert.equal(store.getFlag('plain')!.state.percentage, undefined);
});

test('a failed push is reported and retried until it succeeds, with the change it carried', async () => {
  const { store, clock, plane, flags } = setup();
  plane.failing = true;
  flags.applyFlags(set('checkout'), 'ana');
  const status = await flags.killFlag('checkout', 'bob', 'bad');
  assert.equal(status.pending, true);
  assert.match(status.error!, /failed: connection refused/);
  assert.equal((await flags.listFlags()).push.error, status.error);
  assert.equal(store.getFlag('checkout')!.state.killed, true, 'the change is stored');
  plane.failing = false;
  clock.advanceTo(clock.now() + 60_000);
  await settle();
  await settle();
  const after = flags.pushStatus();
  assert.equal(after.error, undefined);
  assert.equal(after.pending, false);
  assert.equal(plane.pushes.at(-1)!.document.flags.checkout!.defaultVariant, 'off');
  assert.ok(plane.pushes.at(-1)!.generation > status.generation - 1);
  await flags.close();
});

test('the generation survives a restart (kv) and counts up', async () => {
  const { store, plane, flags, kv } = setup();
  flags.applyFlags(set('a'), 'ana');
  await settle();
  const again = new FlagController({
    store,
    clock: new FakeClock(),
    plane,
    listen: 'x:1',
    compile,
    kv: { get: (k) => kv.get(k), set: (k, v) => void kv.set(k, v) },
  });
  await again.push();
  assert.deepEqual(
    plane.pushes.map((p) => p.generation),
    [1, 2],
  );
});

test('usage: deltas of the cumulative counters are added up, a lower count is a data-plane restart', async () => {
  const { store, plane, flags } = setup();
  plane.usage = [{ flag: 'a', variant: 'on', count: 5, lastEvaluatedAt: 10 }];
  await flags.collectUsage();
  plane.usage = [{ flag: 'a', variant: 'on', count: 8, lastEvaluatedAt: 20 }];
  await flags.collectUsage();
  plane.usage = [{ flag: 'a', variant: 'on', count: 2, lastEvaluatedAt: 30 }];
  await flags.collectUsage();
  assert.deepEqual(store.listFlagUsage('a'), [{ flag: 'a', variant: 'on', count: 10, lastEvaluatedAt: 30 }]);
});

test("a rollout's flag references: setFlag steps and killOnAbort, each once", async () => {
  const { flagRefs } = await import('../../src/engine/controller.js');
  const spec = {
    strategy: { type: 'canary', steps: [{ setFlag: { flag: 'checkout', percentage: 10 } }, { pause: {} }, { setFlag: { flag: 'checkout', percentage: 50 } }] },
    flags: { killOnAbort: ['banner', 'checkout'] },
  } as never;
  assert.deepEqual(flagRefs(spec), ['banner', 'checkout']);
  assert.deepEqual(flagRefs({ strategy: { type: 'blueGreen' } } as never), []);
});

const compileIsReal = (() => {
  try {
    compileFlags([]);
    return true;
  } catch {
    return false;
  }
})();

test('with the real compile: a kill pushes a flagd document whose every evaluation is the off variant', {
  skip: compileIsReal ? false : 'flags/compile.ts is still a stub',
}, async () => {
  const store = new MemoryStore();
  const plane = new RecordingFlagPlane();
  const flags = new FlagController({ store, clock: new FakeClock(), plane, listen: '127.0.0.1:8016' });
  flags.applyFlags(set('checkout'), 'ana');
  await settle();
  assert.ok(plane.pushes.at(-1)!.document.flags.checkout!.targeting !== undefined, 'the 10 % enable is targeting');
  await flags.killFlag('checkout', 'bob', 'bad');
  const killed = plane.pushes.at(-1)!.document.flags.checkout!;
  assert.equal(killed.defaultVariant, 'off');
  assert.ok(killed.targeting === undefined || JSON.stringify(killed.targeting) === '{}', JSON.stringify(killed.targeting));
});

test('a data plane at another generation (lost flags file or database) is followed: the push goes again from its generation', async () => {
  const { plane, flags } = setup();
  let inEffect = 40;
  const real = plane.pushFlags.bind(plane);
  plane.pushFlags = async (push) => {
    if (push.generation !== inEffect + 1) throw Object.assign(new Error(`generation ${push.generation} refused`), { generation: inEffect });
    inEffect = push.generation;
    return real(push);
  };
  flags.applyFlags(set('a'), 'ana');
  await flags.push();
  assert.deepEqual(
    plane.pushes.map((p) => p.generation),
    [41],
  );
  assert.equal(flags.pushStatus().error, undefined);
  inEffect = 0; // the data plane lost its flags
  await flags.setFlagPercentage('a', 30, 'ana');
  assert.deepEqual(
    plane.pushes.map((p) => p.generation),
    [41, 1],
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSim, putFlag, SIM_APP, testFlag } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';
import type { MeasurementContext, MetricProvider, MetricSpec, ProviderResult } from '../../src/core/analysis.js';
import type { CanaryStep, RolloutSpec } from '../../src/core/spec.js';
import { flagSubject, type FlagRampStep } from '../../src/core/flags.js';

/** A builtin provider whose answers the test scripts. */
class ScriptedProvider implements MetricProvider<{ metric: string }> {
  readonly kind = 'builtin' as const;
  calls = 0;
  constructor(public answer: (ctx: MeasurementContext) => ProviderResult) {}
  async measure(_config: { metric: string }, ctx: MeasurementContext): Promise<ProviderResult> {
    this.calls++;
    return this.answer(ctx);
  }
}

const ANALYSIS = `        - analysis:
            metrics:
              - name: error-rate
                interval: 1s
                count: 2
                successCondition: result <= 0.01
                provider: {builtin: {metric: error-rate, windowSeconds: 2}}
`;

/**
 * The YAML decoder of setFlag and killOnAbort is another part of issue 12: the sim's store
 * inserts the steps into the decoded spec (`at`: index in the YAML's steps) and names the flags.
 */
function withFlags(steps: [number, CanaryStep][], killOnAbort: string[]) {
  return (spec: RolloutSpec) => {
    if (spec.strategy.type !== 'canary') return;
    const out = [...spec.strategy.steps];
    for (const [at, step] of [...steps].sort((a, b) => b[0] - a[0])) out.splice(at, 0, step);
    spec.strategy.steps = out;
    spec.flags = { killOnAbort };
  };
}

async function start(
  strategy: string,
  patch: (spec: RolloutSpec) => void,
  options: { provider?: ScriptedProvider; deadline?: number; env?: Record<string, string> } = {},
) {
  const sim = makeSim(500, options.provider ? { builtin: options.provider as never } : {}, { flags: true, patchSpec: patch });
  putFlag(sim.store, testFlag('new-checkout', undefined, 0), sim.clock.now());
  putFlag(sim.store, testFlag('fast-search'), sim.clock.now());
  const manifest = (version: string, env: Record<string, string> = {}) =>
    rolloutManifest({ ...SIM_APP, version, strategy, deadline: options.deadline ?? 60, env });
  await sim.controller.apply(manifest('v1'), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  assert.equal((await sim.status('web')).phase, 'Healthy');
  await sim.controller.apply(manifest('v2', options.env), '/tmp/web.yaml', sim.by);
  return sim;
}

const events = (sim: ReturnType<typeof makeSim>, subject: string) => sim.store.listEvents(subject, { limit: 1000 });

const CANARY = `    canary:
      steps:
        - setWeight: 20
        - pause: {duration: 5s}
        - setWeight: 60
        - pause: {duration: 5s}
`;

test('setFlag steps set the flag once each, in order, as the canary reaches them; a restart fires nothing again', async () => {
  const sim = await start(
    CANARY,
    withFlags(
      [
        [1, { setFlag: { flag: 'new-checkout', percentage: 10 } }],
        [3, { setFlag: { flag: 'new-checkout', percentage: 50 } }],
      ],
      [],
    ),
  );
  await sim.run(3000);
  assert.deepEqual(
    sim.flags.calls.map((c) => [c.op, c.flag, c.percentage]),
    [['set', 'new-checkout', 10]],
    'the first flag step ran once the 20% weight was reached, the second waits behind the pause',
  );
  assert.match(sim.flags.calls[0].why, /rollout web step 2\/6/);
  assert.equal(sim.store.getFlag('new-checkout')?.state.percentage, 10);
  await sim.restartControlPlane();
  await sim.run(2000);
  assert.equal(sim.flags.calls.length, 1, 'a restarted control plane does not set it again');
  await sim.run(20_000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Healthy', s.message);
  assert.deepEqual(
    sim.flags.calls.map((c) => [c.op, c.flag, c.percentage]),
    [
      ['set', 'new-checkout', 10],
      ['set', 'new-checkout', 50],
    ],
  );
  assert.equal(sim.store.getFlag('new-checkout')?.state.percentage, 50);
  assert.ok(events(sim, 'web').some((e) => e.reason === 'FlagSet' && /new-checkout set to 50%/.test(e.message)));
  assert.ok(
    events(sim, flagSubject('new-checkout')).some((e) => /10% → 50%/.test(e.message)),
    'the flag has its own event',
  );
});

test('a full promotion sets the flags the skipped setFlag steps would have', async () => {
  const sim = await start(
    CANARY,
    withFlags(
      [
        [3, { setFlag: { flag: 'new-checkout', percentage: 40 } }],
        [4, { setFlag: { flag: 'new-checkout', percentage: 80 } }],
      ],
      [],
    ),
  );
  await sim.run(2000);
  assert.equal(sim.flags.calls.length, 0);
  await sim.controller.promote('web', { full: true }, sim.by);
  await sim.run(10_000);
  assert.equal((await sim.status('web')).phase, 'Healthy');
  assert.deepEqual(
    sim.flags.calls.map((c) => c.percentage),
    [80],
  );
});

test('killOnAbort: a failed analysis switches the flags off once, and the rollout events say which and why', async () => {
  const provider = new ScriptedProvider(() => ({ value: 0.2 }));
  const sim = await start(
    `    canary:\n      steps:\n        - setWeight: 20\n${ANALYSIS}        - setWeight: 60\n`,
    withFlags([[1, { setFlag: { flag: 'new-checkout', percentage: 30 } }]], ['new-checkout', 'fast-search']),
    { provider },
  );
  await sim.run(6000);
  const s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.reason, 'AnalysisFailed');
  const kills = sim.flags.calls.filter((c) => c.op === 'kill');
  assert.deepEqual(
    kills.map((c) => c.flag),
    ['new-checkout', 'fast-search'],
  );
  for (const k of kills) assert.match(k.why, /AnalysisFailed: analysis at step 3\/4 failed/);
  assert.equal(sim.store.getFlag('new-checkout')?.state.killed, true);
  assert.equal(sim.store.getFlag('fast-search')?.state.killed, true);
  const ev = events(sim, 'web').find((e) => e.reason === 'FlagsKilled');
  assert.ok(ev, 'the rollout says it switched flags off');
  assert.match(ev.message, /new-checkout, fast-search/);
  assert.match(ev.message, /error-rate/);
  await sim.restartControlPlane();
  await sim.run(10_000);
  assert.equal(sim.flags.calls.filter((c) => c.op === 'kill').length, 2, 'once per aborted attempt, a restart included');
  assert.equal(events(sim, 'web').filter((e) => e.reason === 'FlagsKilled').length, 1, 'and said once');
});

test('killOnAbort on the progress deadline and on a user abort; each attempt kills once', async () => {
  const sim = await start(CANARY, withFlags([], ['fast-search']), { deadline: 10, env: { READY: 'false' } });
  await sim.run(15_000);
  let s = await sim.status('web');
  assert.equal(s.reason, 'ProgressDeadlineExceeded');
  assert.equal(sim.flags.calls.length, 1);
  assert.match(sim.flags.calls[0].why, /ProgressDeadlineExceeded/);
  // The user turns it on again and retries: the new attempt is aborted by hand.
  sim.flags.restore('fast-search');
  await sim.controller.retry('web', sim.by);
  await sim.run(2000);
  assert.equal(sim.flags.calls.length, 1, 'retrying kills nothing');
  await sim.controller.abort('web', sim.by);
  await sim.run(2000);
  s = await sim.status('web');
  assert.equal(s.phase, 'Degraded');
  assert.equal(sim.flags.calls.length, 2);
  assert.match(sim.flags.calls[1].why, /aborted by test/);
  assert.equal(sim.store.getFlag('fast-search')?.state.killed, true);
  await sim.run(10_000);
  assert.equal(sim.flags.calls.length, 2);
  assert.equal(events(sim, 'web').filter((e) => e.reason === 'FlagsKilled').length, 2, 'one event per aborted attempt');
});

test('without FlagControl or with an unknown flag the steps go on and the events say why', async () => {
  const sim = makeSim(500, {}, { patchSpec: withFlags([[1, { setFlag: { flag: 'nope', percentage: 10 } }]], ['nope']) });
  const manifest = (version: string) => rolloutManifest({ ...SIM_APP, version, strategy: CANARY });
  await sim.controller.apply(manifest('v1'), '/tmp/web.yaml', sim.by);
  await sim.run(2000);
  await sim.controller.apply(manifest('v2'), '/tmp/web.yaml', sim.by);
  await sim.run(3000);
  assert.ok(events(sim, 'web').some((e) => e.reason === 'FlagsUnavailable' && /feature flags are not available/.test(e.message)));
  assert.equal((await sim.status('web')).stepIndex, 2, 'the setFlag step did not hold the canary');

  const sim2 = await start(CANARY, withFlags([[1, { setFlag: { flag: 'nope', percentage: 10 } }]], []));
  await sim2.run(3000);
  const ev = events(sim2, 'web').find((e) => e.reason === 'FlagNotFound');
  assert.ok(ev);
  assert.match(ev.message, /there is no flag nope/);
});

// ---- flag ramps ----

const metric = (name: string): MetricSpec => ({
  name,
  provider: { builtin: { metric: 'error-rate', revision: 'canary', windowSeconds: 2, minRequests: 0 } } as never,
  interval: 1,
  count: 2,
  initialDelay: 0,
  successCondition: 'result <= 0.01',
  failureLimit: 0,
  inconclusiveLimit: 0,
  consecutiveErrorLimit: 4,
  dryRun: false,
});

const RAMP: FlagRampStep[] = [
  { setPercentage: 10 },
  { pause: { duration: 5 } },
  { setPercentage: 25 },
  { analysis: { templates: [], metrics: [metric('flag-errors')], args: [] } },
  { setPercentage: 50 },
];

function rampSim(provider = new ScriptedProvider(() => ({ value: 0 })), steps = RAMP) {
  const sim = makeSim(500, { builtin: provider as never }, { flags: true });
  putFlag(sim.store, testFlag('dark', { steps, progressDeadlineSeconds: 600 }), sim.clock.now());
  return { sim, provider };
}

const pct = (sim: ReturnType<typeof makeSim>) => sim.store.getFlag('dark')?.state.percentage;
const ramp = (sim: ReturnType<typeof makeSim>) => sim.store.getFlag('dark')?.state.ramp;

test('a flag ramp goes 10 → 25 → 50 with its pause and analysis, each percentage set once', async () => {
  const { sim, provider } = rampSim();
  await sim.run(1000);
  assert.equal(pct(sim), 10);
  assert.equal(ramp(sim)?.phase, 'Paused');
  await sim.run(3000);
  assert.equal(pct(sim), 10, 'still in the 5 s pause');
  await sim.run(2500);
  assert.equal(pct(sim), 25);
  assert.equal(ramp(sim)?.phase, 'Progressing', ramp(sim)?.message);
  await sim.run(5000);
  assert.equal(pct(sim), 50);
  assert.equal(ramp(sim)?.phase, 'Healthy');
  assert.equal(provider.calls, 2);
  assert.deepEqual(
    sim.flags.calls.map((c) => c.percentage),
    [10, 25, 50],
  );
  assert.ok(events(sim, flagSubject('dark')).some((e) => e.reason === 'RampCompleted'));
});

test('a failed ramp analysis puts the percentage back and says why', async () => {
  const { sim } = rampSim(new ScriptedProvider(() => ({ value: 0.3 })));
  await sim.run(10_000);
  assert.equal(pct(sim), 0, 'back to where it was before the ramp: a new flag starts at 0');
  const r = ramp(sim);
  assert.equal(r?.phase, 'Degraded');
  assert.equal(r?.aborted, true);
  const ev = events(sim, flagSubject('dark')).find((e) => e.reason === 'RampAborted');
  assert.ok(ev);
  assert.match(ev.message, /AnalysisFailed: flag dark analysis at step 4\/5 failed/);
  assert.match(ev.message, /flag-errors/);
  assert.deepEqual(
    sim.flags.calls.map((c) => c.percentage),
    [10, 25, 0],
  );
  await sim.run(10_000);
  assert.equal(sim.flags.calls.length, 3, 'an aborted ramp stays where it is');
  // retry runs it again, this time with a passing analysis.
  await sim.flagRamps.retry('dark', 'test');
  assert.equal(ramp(sim)?.attempt, 2);
  assert.equal(pct(sim), 10);
});

test('promote, abort, pause, resume and retry on a flag ramp', async () => {
  const { sim } = rampSim(new ScriptedProvider(() => ({ value: 0 })), [
    { setPercentage: 10 },
    { pause: {} },
    { setPercentage: 30 },
    { pause: {} },
    { setPercentage: 60 },
  ]);
  await sim.run(1000);
  assert.equal(pct(sim), 10);
  assert.equal(ramp(sim)?.phase, 'Paused');
  await sim.run(60_000, 1000);
  assert.equal(pct(sim), 10, 'an untimed pause waits for promote');
  await sim.flagRamps.promote('dark', {}, 'alice');
  await sim.run(500);
  assert.equal(pct(sim), 30);
  await sim.flagRamps.pause('dark', 'alice');
  await assert.rejects(sim.flagRamps.pause('dark', 'alice'), /already paused/);
  await sim.flagRamps.promote('dark', {}, 'alice');
  await sim.run(5000);
  assert.equal(pct(sim), 30, 'a manual pause holds a promoted ramp');
  assert.equal(ramp(sim)?.phase, 'Paused');
  await sim.flagRamps.resume('dark', 'alice');
  await sim.run(500);
  assert.equal(pct(sim), 60);
  assert.equal(ramp(sim)?.phase, 'Healthy');
  await assert.rejects(sim.flagRamps.promote('dark', {}, 'alice'), /complete/);
  await assert.rejects(sim.flagRamps.abort('dark', 'alice'), /complete/);
  await sim.flagRamps.retry('dark', 'alice');
  await sim.run(500);
  assert.equal(pct(sim), 10);
  await sim.flagRamps.abort('dark', 'alice', 'users complain');
  assert.equal(pct(sim), 0);
  assert.equal(ramp(sim)?.phase, 'Degraded');
  assert.match(ramp(sim)?.message ?? '', /users complain/);
  await assert.rejects(sim.flagRamps.promote('dark', {}, 'alice'), /aborted/);
  await sim.flagRamps.retry('dark', 'alice');
  await sim.flagRamps.promote('dark', { full: true }, 'alice');
  await sim.run(500);
  assert.equal(pct(sim), 60);
  assert.equal(ramp(sim)?.phase, 'Healthy');
  await assert.rejects(sim.flagRamps.pause('nothing', 'alice'), /flag nothing does not exist/);
  putFlag(sim.store, testFlag('plain'), sim.clock.now());
  await assert.rejects(sim.flagRamps.promote('plain', {}, 'alice'), /no ramp/);
  const by = events(sim, flagSubject('dark'))
    .filter((e) => e.actor === 'alice')
    .map((e) => e.reason);
  assert.ok(by.includes('RampPromoted') && by.includes('RampPaused') && by.includes('RampResumed') && by.includes('RampAborted') && by.includes('RampRetried'));
});

test('a control-plane restart mid-ramp resumes where it was, without setting a percentage again; a changed spec starts over', async () => {
  const { sim } = rampSim();
  await sim.run(3000);
  assert.equal(pct(sim), 10);
  const until = ramp(sim)?.pausedUntil;
  await sim.restartControlPlane();
  await sim.run(1000);
  assert.equal(ramp(sim)?.pausedUntil, until, 'the pause keeps its end time');
  assert.equal(sim.flags.calls.length, 1);
  await sim.run(10_000);
  assert.equal(pct(sim), 50);
  assert.deepEqual(
    sim.flags.calls.map((c) => c.percentage),
    [10, 25, 50],
  );
  await sim.restartControlPlane();
  await sim.run(5000);
  assert.equal(sim.flags.calls.length, 3, 'a finished ramp sets nothing after a restart');
  // A new spec (another step list) restarts the ramp from its first step.
  putFlag(sim.store, testFlag('dark', { steps: [{ setPercentage: 20 }, { pause: {} }, { setPercentage: 70 }], progressDeadlineSeconds: 600 }), sim.clock.now());
  await sim.run(1000);
  assert.equal(pct(sim), 20);
  assert.equal(ramp(sim)?.attempt, 2);
  assert.equal(ramp(sim)?.startPercentage, 50);
  assert.ok(events(sim, flagSubject('dark')).some((e) => e.reason === 'RampStarted' && /spec changed/.test(e.message)));
});

test('a ramp analysis naming an unknown template aborts at once; a killed flag stays killed while its ramp moves the percentage', async () => {
  const { sim } = rampSim(new ScriptedProvider(() => ({ value: 0 })), [
    { setPercentage: 10 },
    { pause: { duration: 1 } },
    { setPercentage: 20 },
    { analysis: { templates: [{ templateName: 'missing' }], metrics: [], args: [] } },
    { setPercentage: 90 },
  ]);
  await sim.run(500);
  assert.equal(pct(sim), 10);
  sim.flags.kill('dark', 'alice', 'incident');
  await sim.run(2000);
  assert.equal(pct(sim), 0, 'aborted at the analysis step, back to 0');
  assert.equal(sim.store.getFlag('dark')?.state.killed, true, 'the ramp never turns a kill switch off');
  assert.equal(ramp(sim)?.phase, 'Degraded');
  assert.match(ramp(sim)?.message ?? '', /cannot run: .*missing/);
  assert.deepEqual(
    sim.flags.calls.filter((c) => c.op === 'set').map((c) => c.percentage),
    [10, 0],
    'the 20% step and the abort fell in one plan: only where it ends is set',
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makeSim, SIM_APP, advanceChecked } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { UserError } from '../../src/util/errors.js';
import { isDone } from '../../src/core/jobs.js';
import { resetRelease } from '../../src/engine/release-reset.js';
import type { RolloutStatus } from '../../src/core/rollout.js';
import type { StrategyType } from '../../src/core/spec.js';

/**
 * The release reset (src/engine/release-reset.ts) as the engine uses it: random sequences of
 * apply / promote / approve / abort / retry / undo / pause / resume / restart with time
 * passing, on each strategy, on the engine sim. After every step of the fake clock nothing
 * of an earlier attempt may be left: no header route, mirror, pause, batch pause, shadow
 * clock, running job or A/B winner from before the attempt began, none at all while no
 * release is in progress; and every aborted attempt (by a user, a failed hook, the
 * progress deadline) fires the rollback hook exactly once. Seeded: ENGINE_RESET_SEED
 * replays (ENGINE_RESET_PATH narrows to fast-check's counterexample path);
 * ENGINE_RESET_RUNS and ENGINE_RESET_LENGTH change how many and how long the sequences are.
 */

const RUNS = Number(process.env.ENGINE_RESET_RUNS ?? 500);
const SEED = Number(process.env.ENGINE_RESET_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PATH = process.env.ENGINE_RESET_PATH;
console.log(`engine-reset: seed ${SEED}, ${RUNS} sequences per strategy (replay: ENGINE_RESET_SEED=${SEED})`);

const STEP_MS = 300;
const READY_MS = 200;
const STOP_MS = 150;
const BATCH_PAUSE_MS = 1000;
/** Canary steps that set a header route and a mirror route (0-based). */
const HEADER_STEP = 2;
const MIRROR_STEP = 3;

const VERSIONS = { g1: {}, g2: {}, g3: {}, crash: { CRASH: 'true' }, never: { READY: 'false' } } as const;
type Version = keyof typeof VERSIONS;

/** Each strategy with the per-attempt state it can build up: pauses, routes, mirrors, a clock, jobs. */
const STRATEGY: Record<StrategyType, string> = {
  recreate: `    recreate: {}\n`,
  rolling: `    rolling:\n      maxSurge: 1\n      maxUnavailable: 0\n      pauseSeconds: ${BATCH_PAUSE_MS / 1000}\n`,
  blueGreen: `    blueGreen:\n      previewListen: 127.0.0.1:18081\n      autoPromotionEnabled: false\n      previewReplicaCount: 1\n      scaleDownDelaySeconds: 3\n`,
  canary:
    `    canary:\n      steps:\n        - setWeight: 34\n        - pause: {duration: 1s}\n` +
    `        - setHeaderRoute: {name: testers, match: [{headerName: X-Canary, headerValue: {exact: "1"}}]}\n` +
    `        - setMirrorRoute: {name: copies, percentage: 50}\n        - approval: {}\n        - setWeight: 67\n        - pause: {}\n`,
  shadow: `    shadow:\n      mirror:\n        name: dark\n        percentage: 50\n      durationSeconds: 3\n`,
  abTest: `    abTest:\n      variants:\n        - {name: a, weight: 50}\n        - {name: b, weight: 50}\n`,
};

/** A rollback hook to count, and a pre-rollout hook: every attempt has jobs of its own. */
const HOOKS = `  hooks:\n    exec:\n      - name: page\n        kind: rollback\n        command: [./page-oncall.sh]\n      - name: warn\n        kind: pre-rollout\n        command: [./warn.sh]\n`;

type Action =
  | { type: 'apply'; version: Version }
  | { type: 'promote'; full: boolean; variant: 'a' | 'b' }
  | { type: 'abort' | 'retry' | 'undo' | 'pause' | 'resume' | 'restart' | 'approve' };

const applyArb = fc.record({ type: fc.constant('apply' as const), version: fc.constantFrom<Version>('g1', 'g2', 'g3', 'crash', 'never') });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: applyArb },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('promote' as const), full: fc.boolean(), variant: fc.constantFrom<'a' | 'b'>('a', 'b') }) },
  ...(['abort', 'retry', 'undo'] as const).map((type) => ({ weight: 2, arbitrary: fc.constant<Action>({ type }) })),
  ...(['pause', 'resume', 'restart', 'approve'] as const).map((type) => ({ weight: 1, arbitrary: fc.constant<Action>({ type }) })),
);
const stepsArb = fc
  .tuple(applyArb, fc.array(actionArb, { maxLength: Number(process.env.ENGINE_RESET_LENGTH ?? 5) }))
  .chain(([first, rest]) =>
    fc.tuple(...[first, ...rest].map((action) => fc.record({ action: fc.constant(action), waitMs: fc.integer({ min: 0, max: 2500 }) }))),
  );

async function runSequence(type: StrategyType, steps: { action: Action; waitMs: number }[]): Promise<void> {
  const sim = makeSim(READY_MS, {}, { stopMs: STOP_MS, fakeHooks: true });
  const doc = (version: Version) => rolloutManifest({ ...SIM_APP, version, strategy: STRATEGY[type], extra: HOOKS, deadline: 4, env: VERSIONS[version] });
  const trace: string[] = [];
  const status = () => sim.store.getRollout('web')!.status;
  const fail = (what: string): never => {
    const s = status();
    assert.fail(
      `${type}: ${what}\n  after: ${trace.join(' → ')}\n  status: ${s.phase}/${s.reason} stable=${s.stableRevision} current=${s.currentRevision} attempt=${s.attempt} step=${s.stepIndex} aborted=${s.aborted}`,
    );
  };

  /** When each attempt (`r<revision>/a<attempt>`) began: the time of the user action that started it. */
  const began = new Map<string, number>();
  /** Attempts seen aborted, each once. */
  const aborted = new Set<string>();
  /** The attempt in which `promote --variant` chose a winner. */
  let chosenIn: string | undefined;
  let lastActionAt = sim.clock.now();

  const check = () => {
    const s = status();
    const key = `r${s.currentRevision}/a${s.attempt ?? 0}`;
    if (!began.has(key)) began.set(key, lastActionAt);
    const since = began.get(key)!;
    const releasing = s.stableRevision !== null && s.currentRevision !== s.stableRevision && !s.aborted;
    if (s.aborted && s.stableRevision !== null) aborted.add(key);

    // Nothing of an earlier attempt: pauses, batch pause and shadow clock began in this one.
    for (const p of s.pauses)
      if (p.reason !== 'Manual' && p.startedAt < since) fail(`pause ${p.reason} from ${p.startedAt}, before attempt ${key} began at ${since}`);
    if (s.batchPauseUntil !== undefined && s.batchPauseUntil - BATCH_PAUSE_MS < since)
      fail(`batch pause until ${s.batchPauseUntil} set before attempt ${key} began at ${since}`);
    if (s.shadowSince !== undefined && (s.shadowSince < since || s.shadowOf !== key.replace('/', '')))
      fail(`shadow clock ${s.shadowOf}@${s.shadowSince} is not attempt ${key}'s (began ${since})`);
    if (s.winner !== undefined && chosenIn !== key) fail(`winner ${s.winner} chosen in ${chosenIn}, not in attempt ${key}`);
    const stepOK = (route: string, from: number) => {
      if (!releasing || s.stepIndex < from) fail(`${route} live at step ${s.stepIndex + 1} of ${key} (releasing=${releasing})`);
    };
    if ((s.headerRoutes?.length ?? 0) > 0) stepOK(`status header route ${JSON.stringify(s.headerRoutes)}`, HEADER_STEP);
    if ((s.mirrorRoutes?.length ?? 0) > 0) stepOK(`status mirror route ${JSON.stringify(s.mirrorRoutes)}`, MIRROR_STEP);
    // Nothing that belongs to a release while none is in progress.
    if (!releasing) {
      if (s.pauses.some((p) => p.reason !== 'Manual')) fail(`pauses ${JSON.stringify(s.pauses)} with no release in progress`);
      if (s.batchPauseUntil !== undefined || s.shadowSince !== undefined || s.winner !== undefined || s.promoteFull)
        fail(
          `release state with no release in progress: ${JSON.stringify({ batchPauseUntil: s.batchPauseUntil, shadowSince: s.shadowSince, winner: s.winner, promoteFull: s.promoteFull })}`,
        );
    }
    // What the router serves: header rules and mirrors only where this attempt put them.
    const main = sim.router.current?.listeners.find((l) => l.rollout === 'web' && l.role === 'main');
    if ((main?.rules?.length ?? 0) > 0) stepOK(`router rule ${JSON.stringify(main?.rules?.map((r) => r.name))}`, HEADER_STEP);
    if ((main?.mirrors?.length ?? 0) > 0) {
      if (type === 'canary') stepOK(`router mirror ${JSON.stringify(main?.mirrors?.map((m) => m.name))}`, MIRROR_STEP);
      else if (!releasing || s.shadowOf !== key.replace('/', ''))
        fail(`router mirror ${JSON.stringify(main?.mirrors?.map((m) => m.name))} outside the shadow of ${key}`);
    }
    // No job of an earlier attempt still runs (fire-and-forget hooks aside).
    for (const { job, status: js } of sim.store.listJobs('web')) {
      if (!job.detached && !isDone(js.phase) && !job.key.startsWith(`web/${key}/`)) fail(`job ${job.key} is ${js.phase} during attempt ${key}`);
    }
    // Every aborted attempt fired the rollback hook, exactly once; no other attempt did.
    const rollbacks = sim.hookRuns.filter((k) => k.includes('/rollback/')).map((k) => k.slice('web/'.length, k.indexOf('/rollback/')));
    if (new Set(rollbacks).size !== rollbacks.length) fail(`a rollback hook ran twice: ${rollbacks.join(', ')}`);
    const expected = [...aborted].sort();
    if (JSON.stringify([...rollbacks].sort()) !== JSON.stringify(expected))
      fail(`rollback hooks ran for [${rollbacks.join(', ')}], aborted attempts are [${expected.join(', ')}]`);
  };

  const advance = (ms: number) => advanceChecked(sim, ms, STEP_MS, check);

  await sim.controller.apply(doc('g1'), '/tmp/web.yaml', sim.by);
  await sim.run(READY_MS * 4, STEP_MS);
  assert.equal(status().phase, 'Healthy');
  check();

  for (const { action, waitMs } of steps) {
    trace.push(
      action.type === 'apply'
        ? `apply ${action.version}`
        : action.type === 'promote'
          ? `promote${action.full ? ' --full' : ''}/${action.variant}`
          : action.type,
    );
    lastActionAt = sim.clock.now();
    const c = sim.controller;
    try {
      if (action.type === 'apply') await c.apply(doc(action.version), '/tmp/web.yaml', sim.by);
      else if (action.type === 'promote') {
        await c.promote('web', type === 'abTest' ? { variant: action.variant } : { full: action.full }, sim.by);
        if (type === 'abTest') chosenIn = `r${status().currentRevision}/a${status().attempt ?? 0}`;
      } else if (action.type === 'undo') await c.undo('web', {}, sim.by);
      else await c[action.type]('web', sim.by);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
    }
    await advance(Math.max(waitMs, 1));
  }
}

const STRATEGIES: StrategyType[] = ['recreate', 'rolling', 'blueGreen', 'canary', 'shadow', 'abTest'];
for (const type of STRATEGIES) {
  test(`reset: random action sequences on ${type} leave nothing of an earlier attempt and fire one rollback hook per aborted attempt`, async () => {
    await fc.assert(
      fc.asyncProperty(stepsArb, (steps) => runSequence(type, steps)),
      { numRuns: RUNS, seed: SEED, includeErrorInReport: true, ...(PATH ? { path: PATH } : {}) },
    );
  });
}

/** A status in the middle of an attempt, with every per-attempt field set. */
function midRelease(): RolloutStatus {
  return {
    phase: 'Paused',
    reason: 'CanaryPauseStep',
    message: 'step 3/7',
    stableRevision: 1,
    stableHistory: [1],
    currentRevision: 2,
    stepIndex: 3,
    pauses: [
      { reason: 'CanaryPauseStep', startedAt: 10 },
      { reason: 'Manual', startedAt: 11 },
      { reason: 'Inconclusive', job: 'web/r2/a4/background.0', startedAt: 12 },
    ],
    aborted: false,
    promoteFull: true,
    progressAt: 13,
    progressKey: '[3]',
    activeRevision: 2,
    scaleDownAt: 14,
    scaleDownRevision: 0,
    batchPauseUntil: 15,
    batchAvailable: 1,
    weights: [
      { revision: 1, weight: 66 },
      { revision: 2, weight: 34 },
    ],
    restartGeneration: 2,
    restartCompleted: 2,
    updatedAt: 16,
    attempt: 4,
    analysisRound: 1,
    waived: ['web/r2/a4/step4.analysis'],
    headerRoutes: [{ name: 'testers', match: [{ headerName: 'X-Canary', headerValue: { exact: '1' } }] as never }],
    mirrorRoutes: [{ name: 'copies', percentage: 50 } as never],
    shadowSince: 17,
    shadowOf: 'r2a4',
    winner: 'b',
    variantRevisions: { c: 3 },
    trafficHold: { mode: 'paused', since: 18, by: 'ops' },
  };
}

test('resetRelease: a new attempt starts clean, keeping the manual pause and what outlives releases', () => {
  const before = midRelease();
  const frozen = structuredClone(before);
  for (const how of ['retry', 'newRevision'] as const) {
    const s = resetRelease(before, how, 100);
    assert.deepEqual(before, frozen, 'pure: the input is not changed');
    assert.deepEqual(
      {
        phase: s.phase,
        reason: s.reason,
        attempt: s.attempt,
        stepIndex: s.stepIndex,
        pauses: s.pauses,
        promoteFull: s.promoteFull,
        progressAt: s.progressAt,
        analysisRound: s.analysisRound,
        waived: s.waived,
        headerRoutes: s.headerRoutes,
        mirrorRoutes: s.mirrorRoutes,
      },
      {
        phase: 'Progressing',
        reason: 'NewRevision',
        attempt: 5,
        stepIndex: 0,
        pauses: [{ reason: 'Manual', startedAt: 11 }],
        promoteFull: false,
        progressAt: 100,
        analysisRound: 0,
        waived: [],
        headerRoutes: [],
        mirrorRoutes: [],
      },
      how,
    );
    for (const k of ['progressKey', 'batchPauseUntil', 'batchAvailable', 'shadowSince', 'shadowOf', 'winner'] as const)
      assert.equal(k in s, false, `${how} clears ${k}`);
    assert.deepEqual(
      [s.stableRevision, s.currentRevision, s.scaleDownAt, s.scaleDownRevision, s.restartGeneration, s.trafficHold],
      [1, 2, 14, 0, 2, before.trafficHold],
      `${how} keeps what is not the attempt's`,
    );
  }
  assert.deepEqual(resetRelease(before, 'retry', 100).variantRevisions, { c: 3 }, 'a retry releases the same A/B variants');
  assert.equal('variantRevisions' in resetRelease(before, 'newRevision', 100), false, 'a new revision gets variants of its own');
});

test('resetRelease: abort ends the attempt but keeps where it stood; complete makes it stable; rest leaves no release state', () => {
  const a = resetRelease(midRelease(), 'abort', 100);
  assert.deepEqual(
    [a.aborted, a.attempt, a.stepIndex, a.currentRevision, a.activeRevision, a.phase, a.reason],
    [true, 4, 3, 2, 1, 'Paused', 'CanaryPauseStep'],
    'the caller says why it aborted',
  );
  assert.deepEqual(
    [a.pauses, a.headerRoutes, a.mirrorRoutes, a.promoteFull, a.waived],
    [[{ reason: 'Manual', startedAt: 11 }], [], [], false, ['web/r2/a4/step4.analysis']],
  );
  for (const k of ['batchPauseUntil', 'shadowSince', 'shadowOf', 'winner'] as const) assert.equal(k in a, false, `abort clears ${k}`);

  const c = resetRelease(midRelease(), 'complete', 100);
  assert.deepEqual(
    [c.stableRevision, c.stableHistory, c.activeRevision, c.aborted, c.headerRoutes, c.winner, c.variantRevisions],
    [2, [1, 2], 2, false, [], undefined, undefined],
  );
  const long = { ...midRelease(), stableHistory: Array.from({ length: 25 }, (_, i) => i + 3) };
  assert.deepEqual(resetRelease(long, 'complete', 100).stableHistory, [...Array.from({ length: 19 }, (_, i) => i + 9), 2], 'the last 20');

  const r = resetRelease({ ...midRelease(), currentRevision: 1 }, 'rest', 100);
  assert.deepEqual(
    [r.stepIndex, r.aborted, r.activeRevision, r.pauses, r.headerRoutes, r.winner, r.variantRevisions, r.attempt],
    [0, false, 1, [{ reason: 'Manual', startedAt: 11 }], [], undefined, undefined, 4],
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { makeSim, SIM_APP, advanceChecked, putFlag, testFlag } from '../helpers/engine-sim.js';
import { FakeMigrations } from '../helpers/fake-migrations.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { UserError } from '../../src/util/errors.js';
import type { CanaryStep, RolloutSpec, StrategyType } from '../../src/core/spec.js';
import type { FlagRampStep } from '../../src/core/flags.js';
import { rampPercentageAt } from '../../src/engine/flags/ramp-planner.js';

/**
 * Model-based test of the engine: random sequences of user actions (and control-plane
 * restarts) on each strategy, with time passing in between, on the engine sim. After every
 * step of the fake clock the release-safety invariants must hold: the availability floor,
 * main traffic to a revision that can answer, undo only to a revision that was stable,
 * recreate never running two revisions, one rollback hook per aborted attempt, header
 * routes and mirrors only where the release is. Seeded: the seed is printed,
 * ENGINE_MODEL_SEED replays it (ENGINE_MODEL_PATH narrows to fast-check's reported
 * counterexample path); ENGINE_MODEL_RUNS and ENGINE_MODEL_LENGTH change how many and how
 * long the sequences are, ENGINE_MODEL_STATS=1 prints which events they reached.
 */

const RUNS = Number(process.env.ENGINE_MODEL_RUNS ?? 500);
const SEED = Number(process.env.ENGINE_MODEL_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PATH = process.env.ENGINE_MODEL_PATH;
console.log(`engine-model: seed ${SEED}, ${RUNS} sequences per strategy (replay: ENGINE_MODEL_SEED=${SEED})`);

const REPLICAS = 3;
/** Sim time per step between invariant checks. */
const STEP_MS = 300;
const READY_MS = 200;
const STOP_MS = 150;

/** Templates by version label: the label alone tells them apart. */
const VERSIONS = {
  g1: {},
  g2: {},
  g3: {},
  crash: { CRASH: 'true' },
  never: { READY: 'false' },
} as const;
type Version = keyof typeof VERSIONS;

function strategyYaml(type: StrategyType, maxSurge: number, maxUnavailable: number): string {
  switch (type) {
    case 'rolling':
      return `    rolling:\n      maxSurge: ${maxSurge}\n      maxUnavailable: ${maxUnavailable}\n`;
    case 'recreate':
      return `    recreate: {}\n`;
    case 'blueGreen':
      return `    blueGreen:\n      previewListen: 127.0.0.1:18081\n      autoPromotionEnabled: false\n      previewReplicaCount: 1\n      scaleDownDelaySeconds: 3\n`;
    case 'canary':
      return `    canary:\n      steps:\n        - setWeight: 34\n        - pause: {duration: 2s}\n        - setHeaderRoute: {name: testers, match: [{headerName: X-Canary, headerValue: {exact: "1"}}]}\n        - setWeight: 67\n        - pause: {}\n`;
    case 'shadow':
      return `    shadow:\n      mirror:\n        name: dark\n        percentage: 50\n      durationSeconds: 4\n`;
    case 'abTest':
      // With metrics: an experiment, whose routes the invariants check.
      return `    abTest:\n      variants:\n        - {name: a, weight: 50}\n        - {name: b, weight: 50}\n      metrics:\n        - {name: checkout, goal: {path: /checkout, methods: [POST]}}\n`;
  }
}

/** The generation check runs at most once a second and a failed listener is retried at the 2 s resync. */
const REPUSH_MS = 3500;
/** The main listener of the sim manifest (test/helpers/engine-sim.ts). */
const MAIN_LISTEN = '127.0.0.1:18080';

/** Index of the canary's setHeaderRoute step. */
const HEADER_STEP = 2;

const DATABASE = '  database:\n    engine: sqlite\n    path: /tmp/sluice-model.db\n    migrations: /tmp/sluice-model-migrations\n';
const HOOKS = `  hooks:\n    exec:\n      - name: page\n        kind: rollback\n        command: [./page-oncall.sh]\n`;

/**
 * Feature flags: the canary's random `setFlag` steps set CHECKOUT; every strategy's
 * `killOnAbort` names CHECKOUT and the ramped flag DARK, whose random ramp the flag actions
 * below drive (with control-plane restarts, aborts and kill switches in between).
 */
const CHECKOUT = 'checkout';
const DARK = 'dark';
const KILL_ON_ABORT = [CHECKOUT, DARK];

type FlagAction =
  | { type: 'rampPromote'; full: boolean }
  | { type: 'rampAbort' | 'rampPause' | 'rampResume' | 'rampRetry' | 'flagsRestore' }
  | { type: 'rampSpec'; steps: FlagRampStep[] };

type Action =
  | FlagAction
  | { type: 'apply'; version: Version }
  /** The next apply carries one more migration (with a contract part). */
  | { type: 'schemaChange' }
  /** From now on expand fails (or works again). */
  | { type: 'expandFails'; fails: boolean }
  | { type: 'promote'; full: boolean; variant: 'a' | 'b' }
  | { type: 'abort' | 'retry' | 'undo' | 'pause' | 'resume' | 'restart' | 'controlPlaneRestart' }
  // Operator holds, and data-plane faults: another owner replaces the router's table; the main listener cannot be opened / opens again.
  | { type: 'stopTraffic' | 'pauseTraffic' | 'resumeTraffic' | 'routerReplaced' | 'listenerFails' | 'listenerOpens' };

const rampStepArb: fc.Arbitrary<FlagRampStep> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 100 }).map((p) => ({ setPercentage: p })) },
  { weight: 2, arbitrary: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }).map((d) => ({ pause: d === undefined ? {} : { duration: d } })) },
  // No provider is configured in the model: the run is an Error, which aborts the ramp.
  {
    weight: 1,
    arbitrary: fc.constant<FlagRampStep>({
      analysis: {
        templates: [],
        args: [],
        metrics: [
          {
            name: 'errors',
            provider: { builtin: { metric: 'error-rate', revision: 'canary', windowSeconds: 1, minRequests: 0 } } as never,
            interval: 1,
            count: 1,
            initialDelay: 0,
            failureLimit: 0,
            inconclusiveLimit: 0,
            consecutiveErrorLimit: 0,
            dryRun: false,
          },
        ],
      },
    }),
  },
);
const rampArb = fc.array(rampStepArb, { minLength: 1, maxLength: 5 });
const flagActionArb: fc.Arbitrary<FlagAction> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ type: fc.constant('rampPromote' as const), full: fc.boolean() }) },
  ...(['rampAbort', 'rampPause', 'rampResume', 'rampRetry', 'flagsRestore'] as const).map((type) => ({
    weight: 1,
    arbitrary: fc.constant<FlagAction>({ type }),
  })),
  { weight: 1, arbitrary: rampArb.map((steps) => ({ type: 'rampSpec' as const, steps })) },
);
const applyArb = fc.record({ type: fc.constant('apply' as const), version: fc.constantFrom<Version>('g1', 'g2', 'g3', 'crash', 'never') });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: applyArb },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('promote' as const), full: fc.boolean(), variant: fc.constantFrom<'a' | 'b'>('a', 'b') }) },
  ...(['abort', 'retry', 'undo'] as const).map((type) => ({ weight: 2, arbitrary: fc.constant<Action>({ type }) })),
  ...(['pause', 'resume', 'restart', 'controlPlaneRestart'] as const).map((type) => ({ weight: 1, arbitrary: fc.constant<Action>({ type }) })),
  ...(['stopTraffic', 'pauseTraffic', 'resumeTraffic', 'routerReplaced', 'listenerFails', 'listenerOpens'] as const).map((type) => ({
    weight: 1,
    arbitrary: fc.constant<Action>({ type }),
  })),
  { weight: 3, arbitrary: flagActionArb },
  { weight: 2, arbitrary: fc.constant<Action>({ type: 'schemaChange' }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('expandFails' as const), fails: fc.boolean() }) },
);
const waitArb = fc.integer({ min: 0, max: 2500 });
// Every sequence starts a release (after v1 is deployed), so the other actions have something to act on.
const scenarioArb = fc
  .record({
    maxSurge: fc.constantFrom(0, 1, 2),
    maxUnavailable: fc.constantFrom(0, 1),
    // setFlag steps inserted into the canary's steps: before YAML step `at`, CHECKOUT to `percentage`.
    flagSteps: fc.array(fc.record({ at: fc.integer({ min: 0, max: 5 }), percentage: fc.integer({ min: 0, max: 100 }) }), { maxLength: 3 }),
    ramp: rampArb,
    // The rollout has spec.database (the migrations port in memory).
    database: fc.boolean(),
    steps: fc
      .tuple(
        fc.record({ action: applyArb, waitMs: waitArb }),
        fc.array(fc.record({ action: actionArb, waitMs: waitArb }), { maxLength: Number(process.env.ENGINE_MODEL_LENGTH ?? 5) }),
      )
      .map(([first, rest]) => [first, ...rest]),
  })
  .filter((sc) => sc.maxSurge + sc.maxUnavailable > 0); // both 0 is refused by the spec
type Scenario = {
  maxSurge: number;
  maxUnavailable: number;
  flagSteps: { at: number; percentage: number }[];
  ramp: FlagRampStep[];
  database: boolean;
  steps: { action: Action; waitMs: number }[];
};

/**
 * The spec decoder of setFlag / killOnAbort is another part of issue 12: the sim's store
 * patches them into the decoded spec.
 */
function flagPatch(scenario: Scenario): (spec: RolloutSpec) => void {
  return (spec) => {
    spec.flags = { killOnAbort: KILL_ON_ABORT };
    if (spec.strategy.type !== 'canary') return;
    const out: CanaryStep[] = [...spec.strategy.steps];
    const sorted = [...scenario.flagSteps].sort((a, b) => b.at - a.at);
    for (const f of sorted) out.splice(f.at, 0, { setFlag: { flag: CHECKOUT, percentage: f.percentage } });
    spec.strategy.steps = out;
  };
}

function describeAction(a: Action): string {
  if (a.type === 'apply') return `apply ${a.version}`;
  if (a.type === 'promote') return `promote${a.full ? ' --full' : ''} (--variant ${a.variant} for A/B)`;
  if (a.type === 'rampPromote') return `rampPromote${a.full ? ' --full' : ''}`;
  if (a.type === 'rampSpec') return `rampSpec ${JSON.stringify(a.steps)}`;
  if (a.type === 'expandFails') return `expandFails ${a.fails}`;
  return a.type;
}

/** ENGINE_MODEL_STATS=1 prints how often each event reason occurred per strategy: what the sequences reached. */
const stats = process.env.ENGINE_MODEL_STATS ? new Map<string, Map<string, number>>() : undefined;

async function runScenario(type: StrategyType, scenario: Scenario): Promise<void> {
  const migrations = scenario.database ? new FakeMigrations() : undefined;
  if (migrations) migrations.refs = [{ id: '000_base', checksum: 'c0', contract: true }];
  const sim = makeSim(READY_MS, {}, { stopMs: STOP_MS, fakeHooks: true, flags: true, patchSpec: flagPatch(scenario), migrations, feed: true });
  // What the dashboard's stream last said of web: after a flush it must be what the store says.
  const streamed: { summary?: unknown; split?: unknown } = {};
  sim.feed.subscribe((m) => {
    if (m.event === 'rollout' && m.data.name === 'web') streamed.summary = m.data;
    if (m.event === 'weights' && m.data.name === 'web') streamed.split = m.data.point.weights;
  });
  putFlag(sim.store, testFlag(CHECKOUT, undefined, 0), sim.clock.now());
  let rampSteps = scenario.ramp;
  putFlag(sim.store, testFlag(DARK, { steps: rampSteps, progressDeadlineSeconds: 30 }), sim.clock.now());
  const strategy = strategyYaml(type, scenario.maxSurge, scenario.maxUnavailable);
  const doc = (version: Version) =>
    rolloutManifest({ ...SIM_APP, version, strategy, extra: HOOKS + (migrations ? DATABASE : ''), deadline: 4, env: VERSIONS[version] });
  const trace: string[] = [];
  const fail = (what: string): never => {
    const s = sim.store.getRollout('web')?.status;
    const instances = sim.platform
      .list('web')
      .map((i) => `r${i.revision}:${i.phase}`)
      .join(' ');
    assert.fail(
      `${type}: ${what}\n  after: ${trace.join(' → ')}\n  status: ${s?.phase}/${s?.reason} stable=${s?.stableRevision} current=${s?.currentRevision} aborted=${s?.aborted}\n  instances: ${instances}`,
    );
  };

  // Recreate: no instance of one revision starts while another revision's process is alive.
  // Recorded, not thrown: the reconciler would log and swallow an error thrown from start().
  const overlaps: string[] = [];
  if (type === 'recreate') {
    const start = sim.platform.start.bind(sim.platform);
    sim.platform.start = async (ref, template) => {
      const others = sim.platform.list('web').filter((i) => i.revision !== ref.revision);
      if (others.length > 0) overlaps.push(`revision ${ref.revision} started beside ${others.map((i) => `r${i.revision}:${i.phase}`).join(' ')}`);
      return start(ref, template);
    };
  }

  // Versions that were ever stable, from the status seen at each check and from the
  // RolloutCompleted events (read incrementally): the oracle for undo's target.
  const versionOf = new Map<number, string>();
  const stableVersions = new Set<string>();
  let lastEventId = 0;
  const versionFor = (n: number) => {
    if (!versionOf.has(n)) for (const r of sim.store.listRevisions('web')) versionOf.set(r.number, r.template.version);
    return versionOf.get(n);
  };
  const remember = (stable: number | null) => {
    if (stable !== null) stableVersions.add(versionFor(stable)!);
    for (const e of sim.store.listEvents('web', { afterId: lastEventId })) {
      lastEventId = e.id;
      const v = e.reason === 'RolloutCompleted' && e.revision !== undefined ? versionFor(e.revision) : undefined;
      if (v !== undefined) stableVersions.add(v);
    }
  };

  // Flags: killed state as last seen (a killed flag stays killed until a user restores it),
  // and the attempt whose abort the user answered by restoring the flags.
  const killedSeen = new Set<string>();
  let restoredInAbortOf: number | undefined;
  let callsSeen = 0;
  const setFlagFired = new Set<string>();

  let replacedAt: number | undefined;
  /** Index in sim.router.tables of the foreign table (a generation number alone could be ours too). */
  let replacedIndex = -1;
  let openedAt: number | undefined;
  const check = () => {
    const s = sim.store.getRollout('web')!.status;
    remember(s.stableRevision);
    // The live stream never shows a state the store does not have: after a flush, its last
    // summary of web and the last point of its traffic timeline are the stored ones.
    sim.feed.flush();
    if (!isDeepStrictEqual(streamed.summary, sim.feed.summary('web'))) {
      fail(`the stream last said ${JSON.stringify(streamed.summary)}, the store says ${JSON.stringify(sim.feed.summary('web'))}`);
    }
    const timeline = sim.feed.weights('web');
    if (
      !isDeepStrictEqual(
        timeline.at(-1)?.weights,
        s.weights.map((w) => ({ revision: w.revision, weight: w.weight })),
      )
    ) {
      fail(`the traffic timeline ends at ${JSON.stringify(timeline.at(-1))}, the applied split is ${JSON.stringify(s.weights)}`);
    }
    if (streamed.split !== undefined && !isDeepStrictEqual(streamed.split, timeline.at(-1)?.weights)) fail('the last weights message is not the timeline');
    const live = sim.platform.list('web');
    const ready = live.filter((i) => i.phase === 'Ready');
    // Availability.
    if (type === 'rolling') {
      const floor = REPLICAS - scenario.maxUnavailable;
      if (ready.length < floor) fail(`${ready.length} ready instances, below replicas − maxUnavailable = ${floor}`);
    } else if (type !== 'recreate' && s.stableRevision !== null) {
      const stableReady = ready.filter((i) => i.revision === s.stableRevision).length;
      if (stableReady < REPLICAS) fail(`stable revision ${s.stableRevision} has ${stableReady}/${REPLICAS} ready instances`);
    }
    // A table another owner put in place is replaced by ours within REPUSH_MS (generation check + resync).
    if (replacedAt !== undefined && sim.clock.now() >= replacedAt + REPUSH_MS) {
      if (sim.router.tables.length - 1 === replacedIndex) fail(`the router still serves the foreign table ${REPUSH_MS} ms after it replaced ours`);
      replacedAt = undefined;
    }
    // A listener that opens again stops being reported as failed within one resync.
    if (openedAt !== undefined && sim.clock.now() >= openedAt + REPUSH_MS) {
      if (s.reason === 'ListenerFailed') fail(`still ListenerFailed ${REPUSH_MS} ms after the listener could be opened again`);
      openedAt = undefined;
    }
    // Routing: while anything is ready, the main listener sends traffic somewhere that can answer
    // (not checked while a foreign table is in place: that is the engine's to replace, above).
    const main = sim.router.current?.listeners.find((l) => l.rollout === 'web' && l.role === 'main');
    if (ready.length > 0 && replacedAt === undefined) {
      const served = main?.split.some((t) => t.weight > 0 && (main.backends.find((b) => b.revision === t.revision)?.endpoints.length ?? 0) > 0);
      if (!served)
        fail(`main listener routes to ${JSON.stringify(main?.split)} with no ready endpoint while ${ready.map((i) => `r${i.revision}`).join(' ')} are ready`);
    }
    // Canary header routes exist only from their step on, in the attempt that reached it.
    if (type === 'canary' && (main?.rules?.length ?? 0) > 0) {
      const releasing = s.stableRevision !== null && s.currentRevision !== s.stableRevision && !s.aborted;
      if (!releasing || s.stepIndex < HEADER_STEP)
        fail(`header route ${JSON.stringify(main?.rules)} live at step ${s.stepIndex + 1} of attempt ${s.attempt} (aborted=${s.aborted})`);
    }
    // Mirrors (shadow copies) run only while a release is in progress.
    if ((main?.mirrors?.length ?? 0) > 0 && (s.stableRevision === null || s.currentRevision === s.stableRevision || s.aborted)) {
      fail(`mirror ${JSON.stringify(main?.mirrors?.map((m) => m.name))} live with no release in progress (aborted=${s.aborted})`);
    }
    // Experiments: the router assigns and records for the test only while its split is live and
    // undecided, for this attempt's test, on the main listener, and never with the old sticky cookie.
    if (type === 'abTest') {
      const x = main?.experiment;
      const testing = s.stableRevision !== null && s.currentRevision !== s.stableRevision && !s.aborted && s.winner === undefined;
      if (x !== undefined && !testing) fail(`experiment ${x.experiment} routed with no test in progress (aborted=${s.aborted}, winner=${s.winner})`);
      if (x !== undefined && x.experiment !== `r${s.currentRevision}a${s.attempt ?? 0}`)
        fail(`experiment ${x.experiment} routed during attempt ${s.attempt} of revision ${s.currentRevision}`);
      if (x !== undefined && main?.sticky !== undefined) fail('experiment and sticky cookie on one listener');
      if (sim.router.current?.listeners.some((l) => l.role !== 'main' && l.experiment !== undefined)) fail('an experiment on a non-main listener');
    }
    // Recreate: never two revisions alive at once (Terminating ones count).
    if (overlaps.length > 0) fail(overlaps[0]);
    if (type === 'recreate') {
      const revisions = new Set(live.map((i) => i.revision));
      if (revisions.size > 1) fail(`instances of revisions ${[...revisions].join(', ')} alive at once`);
    }
    // Feature flags. A killed flag stays killed until a user restores it.
    for (const name of [CHECKOUT, DARK]) {
      const st = sim.store.getFlag(name)!.state;
      if (killedSeen.has(name) && !st.killed) fail(`flag ${name} was killed and is on again without a user restoring it`);
      if (st.killed) killedSeen.add(name);
    }
    // killOnAbort: after every abort (and until a user restores them) the named flags are off.
    if (s.aborted && s.stableRevision !== null && restoredInAbortOf !== (s.attempt ?? 0)) {
      for (const name of KILL_ON_ABORT) if (!sim.store.getFlag(name)!.state.killed) fail(`aborted (${s.reason}), but killOnAbort flag ${name} is on`);
    }
    // A setFlag step fires once per attempt.
    for (const call of sim.flags.calls.slice(callsSeen)) {
      if (call.flag !== CHECKOUT) continue;
      const key = `a${s.attempt ?? 0}:${call.why}`;
      if (setFlagFired.has(key)) fail(`flag ${CHECKOUT} set twice for "${call.why}" in attempt ${s.attempt}`);
      setFlagFired.add(key);
    }
    callsSeen = sim.flags.calls.length;
    // The ramp: its percentage never exceeds the current step's (or where it started from).
    const dark = sim.store.getFlag(DARK)!.state;
    if (dark.ramp && dark.percentage !== undefined) {
      const stepPct = rampPercentageAt(rampSteps, dark.ramp.stepIndex);
      const start = dark.ramp.startPercentage ?? 0;
      const limit = dark.ramp.aborted ? start : Math.max(stepPct ?? start, start);
      if (dark.percentage > limit)
        fail(`flag ${DARK} at ${dark.percentage}%, above its ramp's ${limit}% at step ${dark.ramp.stepIndex} (${dark.ramp.phase}, ${dark.ramp.message})`);
      if (dark.ramp.aborted && dark.percentage !== start) fail(`flag ${DARK}'s ramp aborted, but it serves ${dark.percentage}%, not ${start}%`);
    }
    // Database: an instance only runs on a schema its revision was built for (its migrations
    // expanded and backfilled), and no contract ran that a live revision still needs.
    if (migrations) {
      for (const i of live) {
        const refs = sim.store.listRevisions('web').find((r) => r.number === i.revision)?.template.migrations ?? [];
        for (const m of refs) {
          const ran = migrations.applied_.get(m.id)?.phases;
          if (!ran?.expand || !ran.migrate) fail(`instance of revision ${i.revision} (${i.phase}) runs before migration ${m.id} expanded and backfilled`);
        }
        for (const [id, a] of migrations.applied_) {
          if (a.phases.contract && !refs.some((m) => m.id === id))
            fail(`migration ${id} contracted while revision ${i.revision}, built without it, has an instance (${i.phase})`);
        }
      }
    }
    // Every abort fires the rollback hook, once per release attempt.
    const rollbacks = sim.hookRuns.filter((k) => k.includes('/rollback/'));
    if (new Set(rollbacks).size !== rollbacks.length) fail(`a rollback hook ran twice: ${rollbacks.join(', ')}`);
    if (s.aborted && s.stableRevision !== null) {
      const key = `web/r${s.currentRevision}/a${s.attempt ?? 0}/rollback/hook.page`;
      if (!rollbacks.includes(key)) fail(`aborted, but the rollback hook ${key} did not run (ran: ${rollbacks.join(', ') || 'none'})`);
    }
  };

  const advance = (ms: number) => advanceChecked(sim, ms, STEP_MS, check);

  await sim.controller.apply(doc('g1'), '/tmp/web.yaml', sim.by);
  await sim.run(READY_MS * 4, STEP_MS);
  assert.equal(sim.store.getRollout('web')!.status.phase, 'Healthy');
  check();

  for (const { action, waitMs } of scenario.steps) {
    trace.push(describeAction(action));
    const c = sim.controller;
    try {
      switch (action.type) {
        case 'apply':
          await c.apply(doc(action.version), '/tmp/web.yaml', sim.by);
          break;
        case 'promote':
          await c.promote('web', type === 'abTest' ? { variant: action.variant } : { full: action.full }, sim.by);
          break;
        case 'undo': {
          remember(sim.store.getRollout('web')!.status.stableRevision);
          const r = await c.undo('web', {}, sim.by);
          const v = sim.store.listRevisions('web').find((x) => x.number === r.revision)?.template.version;
          if (v === undefined || !stableVersions.has(v))
            fail(`undo went to revision ${r.revision} (${v}), which was never stable (stable were: ${[...stableVersions].join(', ')})`);
          break;
        }
        case 'schemaChange':
          if (migrations)
            migrations.refs = [...migrations.refs, { id: `${String(migrations.refs.length).padStart(3, '0')}_change`, checksum: 'c', contract: true }];
          break;
        case 'expandFails':
          if (migrations) migrations.fail = action.fails ? { expand: 'expand failed (model)' } : {};
          break;
        case 'controlPlaneRestart':
          await sim.restartControlPlane();
          break;
        case 'rampPromote':
          await sim.flagRamps.promote(DARK, { full: action.full }, 'test');
          break;
        case 'rampAbort':
          await sim.flagRamps.abort(DARK, 'test');
          break;
        case 'rampPause':
          await sim.flagRamps.pause(DARK, 'test');
          break;
        case 'rampResume':
          await sim.flagRamps.resume(DARK, 'test');
          break;
        case 'rampRetry':
          await sim.flagRamps.retry(DARK, 'test');
          break;
        case 'rampSpec':
          rampSteps = action.steps;
          putFlag(sim.store, testFlag(DARK, { steps: rampSteps, progressDeadlineSeconds: 30 }), sim.clock.now());
          sim.reconciler.runFlagRamps();
          break;
        case 'flagsRestore': {
          const s = sim.store.getRollout('web')!.status;
          if (s.aborted) restoredInAbortOf = s.attempt ?? 0;
          for (const name of [CHECKOUT, DARK]) {
            sim.flags.restore(name);
            killedSeen.delete(name);
          }
          break;
        }
        case 'pauseTraffic':
          await c.pauseTraffic('web', {}, sim.by);
          break;
        case 'routerReplaced':
          sim.router.replaceBehindEngine({ generation: (sim.router.current?.generation ?? 0) + 1, listeners: [] });
          replacedIndex = sim.router.tables.length - 1;
          replacedAt = sim.clock.now();
          break;
        case 'listenerFails':
          sim.router.unbindable.set(MAIN_LISTEN, 'listen EADDRINUSE');
          openedAt = undefined;
          break;
        case 'listenerOpens':
          if (sim.router.unbindable.delete(MAIN_LISTEN)) openedAt = sim.clock.now();
          break;
        default:
          await c[action.type]('web', sim.by);
      }
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      if (action.type === 'undo' && /never|ever stable/.test(err.message)) {
        const s = sim.store.getRollout('web')!.status;
        const current = versionFor(s.currentRevision);
        const other = [...stableVersions].find((v) => v !== current);
        if (other !== undefined) fail(`undo refused (${err.message}) although ${other} was stable`);
      }
    }
    await advance(Math.max(waitMs, 1));
  }
  if (stats) {
    const counts = stats.get(type) ?? new Map<string, number>();
    for (const reason of new Set(sim.store.listEvents('web').map((e) => e.reason))) counts.set(reason, (counts.get(reason) ?? 0) + 1);
    stats.set(type, counts);
  }
}

const STRATEGIES: StrategyType[] = ['rolling', 'recreate', 'blueGreen', 'canary', 'shadow', 'abTest'];
for (const type of STRATEGIES) {
  test(`model: random action sequences on ${type} keep the release-safety invariants`, async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, (scenario) => runScenario(type, scenario)),
      { numRuns: RUNS, seed: SEED, includeErrorInReport: true, ...(PATH ? { path: PATH } : {}) },
    );
    if (stats)
      console.log(`${type}: sequences with each event: ${JSON.stringify(Object.fromEntries([...(stats.get(type) ?? [])].sort((a, b) => b[1] - a[1])))}`);
  });
}

import { flagSpec } from './flag-fixtures.js';
import { ChangeFeed, observeStore } from '../../src/engine/change-feed.js';
import { FakeClock } from './fake-clock.js';
import type { InstanceRef, InstanceStatus, LogChunk, Platform, ScalePlan, ScaleRequest, StopOptions } from '../../src/core/platform.js';
import { planLocalScale } from '../../src/platform/local/instance-choice.js';
import type { ApplyOutcome, RevisionTraffic, TrafficRouter } from '../../src/core/traffic-router.js';
import type { RouteTable } from '../../src/core/route-table.js';
import type { Template } from '../../src/core/spec.js';
import { MemoryStore } from '../../src/store/memory.js';
import { Reconciler } from '../../src/engine/reconciler.js';
import { Controller } from '../../src/engine/controller.js';
import { JobRunner, type ProviderRegistry } from '../../src/engine/job-runner.js';
import type { ManifestOptions } from './manifest.js';
import type { RolloutRecord } from '../../src/core/rollout.js';
import type { RolloutSpec } from '../../src/core/spec.js';
import { flagSubject, type FlagControl, type FlagRecord, type FlagSpec } from '../../src/core/flags.js';
import type { Store } from '../../src/core/store.js';
import type { Clock } from '../../src/core/clock.js';
import { FlagRampRunner } from '../../src/engine/flags/ramp-runner.js';
import type { FakeMigrations } from './fake-migrations.js';

/**
 * A MemoryStore whose `putRollout` lets a test change the decoded spec first: how the
 * engine tests write what the YAML decoder may not read yet (a canary's `setFlag` steps,
 * `spec.flags.killOnAbort`).
 */
export class PatchingStore extends MemoryStore {
  patchSpec?: (spec: RolloutSpec) => void;
  override putRollout(record: RolloutRecord): void {
    if (this.patchSpec) {
      const spec = structuredClone(record.spec);
      this.patchSpec(spec);
      record = { ...record, spec };
    }
    super.putRollout(record);
  }
}

/**
 * FlagControl over the store, as the control plane's flag controller behaves for the
 * engine: each change is saved in the flag's state and recorded as an event of the flag;
 * `calls` lists them in order for assertions.
 */
export class FakeFlags implements FlagControl {
  readonly calls: { op: 'set' | 'kill'; flag: string; percentage?: number; by: string; why: string; at: number }[] = [];
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}
  has(flag: string): boolean {
    return this.store.getFlag(flag) !== undefined;
  }
  setPercentage(flag: string, percentage: number, by: string, why: string): void {
    const f = this.require(flag);
    this.calls.push({ op: 'set', flag, percentage, by, why, at: this.clock.now() });
    this.store.saveFlagState(flag, { ...f.state, percentage, updatedAt: this.clock.now() });
    const before = f.state.percentage ?? f.spec.enable?.percentage ?? 100;
    this.store.appendEvent(
      flagSubject(flag),
      { type: 'Normal', reason: 'FlagPercentage', message: `${before}% → ${percentage}%: ${why}` },
      by,
      this.clock.now(),
    );
  }
  kill(flag: string, by: string, why: string): void {
    const f = this.require(flag);
    this.calls.push({ op: 'kill', flag, by, why, at: this.clock.now() });
    this.store.saveFlagState(flag, { ...f.state, killed: true, updatedAt: this.clock.now() });
    this.store.appendEvent(flagSubject(flag), { type: 'Warning', reason: 'FlagKilled', message: `killed: ${why}` }, by, this.clock.now());
  }
  /** A user turns the kill switch off again. */
  restore(flag: string): void {
    const f = this.require(flag);
    this.store.saveFlagState(flag, { ...f.state, killed: false, updatedAt: this.clock.now() });
  }
  private require(flag: string): FlagRecord {
    const f = this.store.getFlag(flag);
    if (!f) throw new Error(`flag ${flag} does not exist`);
    return f;
  }
}

/** A boolean flag with `enable` sugar (and a ramp when `rollout` is given), as the spec decoder would produce it. */
export function testFlag(name: string, rollout?: FlagSpec['rollout'], percentage?: number): FlagSpec {
  return flagSpec(name, {
    enable: { variant: 'on', ...(percentage === undefined ? {} : { percentage }) },
    lifecycle: { permanent: false },
    ...(rollout ? { rollout } : {}),
  });
}

/** Put (or replace) a flag in the store as `sluice apply` would. */
export function putFlag(store: Store, spec: FlagSpec, now: number): void {
  store.putFlag({ name: spec.name, spec, source: JSON.stringify(spec), evaluators: {}, state: { killed: false, updatedAt: now }, createdAt: now });
}

/**
 * Instances that become Ready `readyMs` after start (never when env READY=false) and, once
 * drained, stay Terminating for `stopMs` (env STOP_MS overrides: an app that takes that long
 * to exit after SIGTERM) before they are gone. Records every start and stop for assertions.
 */
export class FakePlatform implements Platform {
  readonly instances = new Map<string, InstanceStatus>();
  readonly started: InstanceRef[] = [];
  readonly stopped: string[] = [];
  private listeners: ((i: InstanceStatus) => void)[] = [];
  private nextPort = 20000;
  private readonly stopMsOf = new Map<string, number>();
  constructor(
    private readonly clock: FakeClock,
    private readonly readyMs = 1000,
    private readonly stopMs = 0,
  ) {}

  /** The local platform's own choice (not ready first, then the youngest), as the engine sees it there. */
  planScale(request: ScaleRequest): ScalePlan {
    return planLocalScale(request);
  }

  async start(ref: InstanceRef, template: Template): Promise<InstanceStatus> {
    const i: InstanceStatus = { ...ref, phase: 'Starting', host: '127.0.0.1', port: this.nextPort++, startedAt: this.clock.now(), restarts: 0 };
    this.instances.set(ref.id, i);
    this.started.push(ref);
    this.stopMsOf.set(ref.id, template.env.STOP_MS === undefined ? this.stopMs : Number(template.env.STOP_MS));
    if (template.env.CRASH === 'true') this.crashLoop(i);
    else if (template.env.READY !== 'false') {
      this.clock.setTimeout(() => {
        if (i.phase !== 'Starting') return;
        i.phase = 'Ready';
        i.readySince = this.clock.now();
        this.emit(i);
      }, this.readyMs);
    }
    return { ...i };
  }
  async stop(id: string, options?: StopOptions): Promise<void> {
    const i = this.instances.get(id);
    if (!i) return;
    i.phase = 'Terminating';
    this.emit(i);
    await options?.drain?.();
    const exitMs = this.stopMsOf.get(id) ?? 0;
    if (exitMs > 0) await new Promise<void>((done) => this.clock.setTimeout(done, exitMs));
    this.stopMsOf.delete(id);
    i.phase = 'Stopped';
    this.instances.delete(id);
    this.stopped.push(id);
    this.emit(i);
  }
  /** A Ready instance fails its readiness probe: it stays up, out of the route table, until it passes again. */
  failReadiness(id: string): void {
    const i = this.instances.get(id);
    if (i?.phase !== 'Ready') throw new Error(`failReadiness: instance ${id} is not Ready`);
    i.phase = 'Starting';
    this.emit(i);
  }
  /** A process that exits `readyMs` after each start and is restarted after as long again (a command like `false`). */
  private crashLoop(i: InstanceStatus): void {
    this.clock.setTimeout(() => {
      if (i.phase !== 'Starting') return;
      i.phase = 'CrashLoopBackOff';
      i.restarts++;
      i.lastExit = { code: 1, signal: null, at: this.clock.now() };
      this.emit(i);
      this.clock.setTimeout(() => {
        if (i.phase !== 'CrashLoopBackOff') return;
        i.phase = 'Starting';
        this.emit(i);
        this.crashLoop(i);
      }, this.readyMs);
    }, this.readyMs);
  }
  list(rollout?: string): InstanceStatus[] {
    return [...this.instances.values()].filter((i) => !rollout || i.rollout === rollout).map((i) => ({ ...i }));
  }
  async adopt(): Promise<string[]> {
    return [];
  }
  /** Fake instances print nothing; an unknown id rejects as the port says. */
  async readLogs(id: string, offset: number): Promise<LogChunk> {
    if (!this.instances.has(id)) throw new Error(`instance ${id} is not running`);
    return { text: '', offset };
  }
  onChange(listener: (i: InstanceStatus) => void): void {
    this.listeners.push(listener);
  }
  async detach(): Promise<void> {}
  private emit(i: InstanceStatus) {
    for (const l of this.listeners) l({ ...i });
  }
}

export class FakeRouter implements TrafficRouter {
  readonly tables: RouteTable[] = [];
  get current(): RouteTable | undefined {
    return this.tables.at(-1);
  }
  /** Listen addresses this router cannot open, with the error it reports for each. */
  readonly unbindable = new Map<string, string>();
  async apply(table: RouteTable): Promise<ApplyOutcome> {
    this.tables.push(structuredClone(table));
    const failed = table.listeners
      .filter((l) => this.unbindable.has(l.listen))
      .map((l) => ({ rollout: l.rollout, listen: l.listen, role: l.role, error: this.unbindable.get(l.listen)! }));
    return { failed };
  }
  async generationInEffect(): Promise<number> {
    return this.current?.generation ?? 0;
  }
  /** Another owner's table replaces ours, as a second control plane on the same router would. */
  replaceBehindEngine(table: RouteTable): void {
    this.tables.push(structuredClone(table));
  }
  async waitIdle(): Promise<boolean> {
    return true;
  }
  async traffic(): Promise<RevisionTraffic[]> {
    return [];
  }
  /** The main listener's split of a rollout as {version: weight}, counting only revisions with endpoints. */
  split(rollout: string, role = 'main'): Record<string, number> {
    const l = this.current?.listeners.find((x) => x.rollout === rollout && x.role === role);
    const out: Record<string, number> = {};
    for (const t of l?.split ?? []) {
      const b = l?.backends.find((x) => x.revision === t.revision);
      if (b && b.endpoints.length > 0) out[b.version] = t.weight;
    }
    return out;
  }
}

/**
 * `fakeHooks`: exec hooks and webhooks are not run but succeed at once, each launch recorded
 * in `hookRuns` (by job key), for tests that check when the engine fires hooks, not how.
 */
export function makeSim(
  readyMs = 1000,
  providers: ProviderRegistry = {},
  options: {
    stopMs?: number;
    fakeHooks?: boolean;
    flags?: boolean;
    patchSpec?: (spec: RolloutSpec) => void;
    migrations?: FakeMigrations;
    /** Every write goes through the dashboard's change feed (flushed only when the test says). */
    feed?: boolean;
  } = {},
) {
  const clock = new FakeClock();
  const raw = new PatchingStore();
  const feed = options.feed ? new ChangeFeed({ store: raw, now: () => clock.now(), schedule: () => ({ cancel() {} }) }) : undefined;
  const store = feed ? observeStore(raw, feed) : raw;
  store.patchSpec = options.patchSpec;
  const flags = options.flags ? new FakeFlags(store, clock) : undefined;
  const platform = new FakePlatform(clock, readyMs, options.stopMs ?? 0);
  const router = new FakeRouter();
  const by = { actor: 'test' };
  const hookRuns: string[] = [];
  /** How many times each rollout was planned (a pass plans only the rollouts something touched). */
  const plans = new Map<string, number>();
  const onPlan = (rollout: string) => plans.set(rollout, (plans.get(rollout) ?? 0) + 1);
  /** One control plane: reconciler, job runner and controller over the shared store and platform. */
  const controlPlane = () => {
    let reconciler: Reconciler | undefined;
    const jobs = new JobRunner({ store, clock, providers, onChange: (rollout) => reconciler?.trigger(rollout), migrations: options.migrations });
    if (options.fakeHooks) fakeHookRuns(jobs, hookRuns);
    const flagRamps = flags ? new FlagRampRunner({ store, clock, flags, providers, onWake: () => reconciler?.runFlagRamps() }) : undefined;
    reconciler = new Reconciler({ store, platform, router, clock, jobs, onPlan, ...(flags ? { flags, flagRamps } : {}) });
    const controller = new Controller(store, reconciler, platform, clock, jobs, undefined, options.migrations);
    reconciler.start(router.current?.generation ?? 0);
    return { reconciler, jobs, controller, flagRamps };
  };
  let cp = controlPlane();
  return {
    clock,
    store,
    platform,
    router,
    get reconciler() {
      return cp.reconciler;
    },
    get controller() {
      return cp.controller;
    },
    get jobs() {
      return cp.jobs;
    },
    /** The flag ramps' verbs and runner (with `flags: true`). */
    get flagRamps() {
      return cp.flagRamps as FlagRampRunner;
    },
    flags: flags as FakeFlags,
    /** With `feed: true`. */
    feed: feed as ChangeFeed,
    by,
    hookRuns,
    plans,
    /** A control-plane restart: the old one stops, a new one takes over the same store, platform and router. */
    async restartControlPlane() {
      await cp.reconciler.close();
      cp.jobs.close();
      cp.flagRamps?.close();
      cp = controlPlane();
    },
    /** Let every pending pass run, then advance time in steps of `stepMs`, settling after each. */
    async run(ms: number, stepMs = 100) {
      const { reconciler } = cp;
      await reconciler.settle();
      const end = clock.now() + ms;
      while (clock.now() < end) {
        clock.advanceTo(Math.min(end, clock.now() + stepMs));
        await reconciler.settle();
        await new Promise((r) => setImmediate(r));
        await reconciler.settle();
      }
    },
    async status(name: string) {
      return (await cp.controller.get(name)).status;
    },
    versions(name: string) {
      const counts: Record<string, number> = {};
      for (const i of platform.list(name)) {
        const rev = store.listRevisions(name).find((r) => r.number === i.revision);
        const v = rev?.template.version ?? `r${i.revision}`;
        counts[v] = (counts[v] ?? 0) + 1;
      }
      return counts;
    },
  };
}

/** Replaces the runner's execution of hook jobs by an immediate success that is recorded. */
function fakeHookRuns(jobs: JobRunner, runs: string[]): void {
  type Active = { job: { key: string; spec: { kind: string } } };
  const runner = jobs as unknown as { execute(a: Active): Promise<void>; finish(a: Active, change: object): void };
  const real = runner.execute.bind(jobs);
  runner.execute = async (a) => {
    if (a.job.spec.kind !== 'exec' && a.job.spec.kind !== 'webhook') return real(a);
    runs.push(a.job.key);
    runner.finish(a, { phase: 'Successful', message: 'fake hook' });
  };
}

/**
 * The rolloutManifest options for the sim: its fake platform runs nothing, so no probe
 * or shutdown timings, and one fixed listener. `rolloutManifest({ ...SIM_APP, version, strategy })`.
 */
export const SIM_APP = {
  command: 'node',
  args: ['server.js'],
  probes: false,
  listen: '127.0.0.1:18080',
  dataPlane: 'builtin',
} satisfies Partial<ManifestOptions>;

/**
 * Advance the sim by `ms` in steps of `stepMs`, as the generative engine tests do: timers
 * fire (instances get ready, stops finish, wake-ups), the passes they trigger run, then one
 * more pass, and `check` sees the state a user would see at that moment. A step in which no
 * timer fired (after the first, which follows an action) changes nothing and is skipped.
 */
export async function advanceChecked(
  sim: Pick<ReturnType<typeof makeSim>, 'clock' | 'reconciler'>,
  ms: number,
  stepMs: number,
  check: () => void,
): Promise<void> {
  const end = sim.clock.now() + ms;
  let first = true;
  do {
    const fired = sim.clock.advanceTo(Math.min(end, sim.clock.now() + stepMs));
    if (fired === 0 && !first) continue;
    first = false;
    await new Promise((r) => setImmediate(r));
    await sim.reconciler.settle();
    check();
  } while (sim.clock.now() < end);
}

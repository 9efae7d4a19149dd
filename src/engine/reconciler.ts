import type { Clock } from '../core/clock.js';
import type { InstanceStatus, Platform } from '../core/platform.js';
import type { ListenerFailure, TrafficRouter } from '../core/traffic-router.js';
import type { ListenerRoutes, RouteTable } from '../core/route-table.js';
import type { Store } from '../core/store.js';
import type { Revision, RolloutEventDraft, RolloutRecord, RolloutStatus } from '../core/rollout.js';
import type { Plan, RevisionObservation } from './strategies/planner.js';
import { plannerFor } from './strategies/index.js';
import { buildRouteTable, carriedListeners } from './routes.js';
import { newInstanceId } from '../core/instance-id.js';
import type { JobRunner } from './job-runner.js';
import { planGuarded, UNPLANNABLE } from './plan-guard.js';
import { releaseStatus, showProblem, withListenerFailures } from './engine-problems.js';
import { restartFinished } from './restart-progress.js';
import type { FlagControl } from '../core/flags.js';

/**
 * A pass runs at least this often, even when nothing is dirty: it retries listeners the data
 * plane could not open and checks which table the data plane serves.
 */
const RESYNC_MS = 2000;
/**
 * Every rollout is planned at least this often, even when nothing touched it: a safety net
 * for a change nothing reported (whatever changes a rollout names it, and a planner's time
 * decisions are wake-ups). Rare, because planning every rollout is the cost that grows with
 * their number: about 0.4 ms each with the in-memory store (bench/control-plane.mjs).
 */
const SWEEP_MS = 30_000;
/** After a failed route-table apply, try again this soon. */
const RETRY_MS = 500;
/** Instances started in one pass across all rollouts; the next passes start the rest. */
const MAX_STARTS_PER_PASS = 64;
/**
 * After a pass, the next one waits this many times as long as that pass took (at most
 * MAX_PACE_MS): while changes keep coming, passes take at most half the time, and each one
 * handles every change since the last, with one table push for all of them. With a fake
 * clock (tests) passes take no time, so nothing waits.
 */
const PACE = 1;
const MAX_PACE_MS = 1000;
/** How often the data plane is asked which table it serves (a replaced router loses ours). */
const GENERATION_CHECK_MS = 1000;

export interface ReconcilerDeps {
  store: Store;
  platform: Platform;
  router: TrafficRouter;
  clock: Clock;
  /** Runs the analysis, hooks and smoke tests planners ask for. */
  jobs: JobRunner;
  log?: (line: string) => void;
  /** Called each time a rollout is planned: tests and the bench count plans through it. */
  onPlan?: (rollout: string) => void;
  /** Feature flags (canary `setFlag` steps, `killOnAbort`); absent: those steps only say flags are not available. */
  flags?: FlagControl;
  /** Flag ramps, run at the end of every pass; their wake-ups join the reconciler's timer. */
  flagRamps?: { reconcile(now: number): void; nextWakeAt(): number | undefined };
}

const GONE = new Set(['Terminating', 'Stopped']);

/** One rollout's part of the route table as last planned, and what the pass needs again. */
interface Part {
  listeners: ListenerRoutes[];
  /** JSON of `listeners`: the table is rebuilt and applied only when some rollout's key changed. */
  key: string;
  revisions: Revision[];
}

/**
 * Makes the world match the planners. One pass: plan the rollouts something touched (pure),
 * push the route table (instances chosen for stopping already left it), persist status and
 * events, then start and stop instances. What a pass plans is a dirty set: a platform change
 * marks the instance's rollout, an action the rollout it names, a planned wake-up its own
 * rollout; a trigger without a name, the start and the sweep every SWEEP_MS mark all of
 * them. The table is every rollout's last planned part, so a rollout not planned in a pass
 * keeps its routes. Passes never overlap; triggers during a pass coalesce into one more pass.
 * Actions run between passes through `exclusive`.
 */
export class Reconciler {
  private readonly stopping = new Set<string>();
  private generation = 0;
  /** A table was applied by this process (before that, there is nothing to check it against). */
  private appliedOnce = false;
  /** Some part changed since the last table the data plane took, or it must be pushed again. */
  private tableDirty = true;
  /** The table last in effect; listeners of a rollout that cannot be planned are kept from it. */
  private lastApplied: RouteTable | undefined;
  private lastAppliedAt = -Infinity;
  private lastGenerationCheck = -Infinity;
  /** Listeners the data plane could not open at the last apply, by rollout. */
  private failures = new Map<string, ListenerFailure[]>();
  /** Each rollout's part of the table, as last planned (or carried, while it cannot be planned). */
  private readonly parts = new Map<string, Part>();
  /** Rollouts in the store as of the last pass: their jobs are kept, the others' stopped. */
  private readonly names = new Set<string>();
  private readonly dirty = new Set<string>();
  /** Rollouts planned again because their status changed in the pass before (see `pass`). */
  private readonly replanned = new Set<string>();
  private allDirty = false;
  /** When each rollout asked to be planned again (a pause ends, an instance becomes available). */
  private readonly wakeAt = new Map<string, number>();
  /** The last instance start that failed, per rollout (its event is recorded once until a start succeeds or fails otherwise). */
  private readonly startFailures = new Map<string, string>();
  private nextResync = -Infinity;
  private nextSweep = -Infinity;
  private running: Promise<void> | undefined;
  private queued = false;
  /** No pass starts before this (see PACE); `paced` is the timer that starts it then. */
  private paceUntil = -Infinity;
  private paced: { cancel(): void } | undefined;
  private timer: { cancel(): void; at: number } | undefined;
  private closed = false;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ReconcilerDeps) {
    deps.platform.onChange((i) => this.trigger(i.rollout));
  }

  /** Start reconciling; `generation` continues the data plane's route-table generations. */
  start(generation: number): void {
    this.generation = generation;
    this.lastApplied = this.deps.store.loadRouteTable();
    this.trigger();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.paced?.cancel();
    await this.running;
  }

  /**
   * Plan `rollout` again (every rollout when none is named) as soon as the current pass (if
   * any) ends.
   */
  trigger(rollout?: string): void {
    if (this.closed) return;
    if (rollout === undefined) this.allDirty = true;
    else this.dirty.add(rollout);
    this.run();
  }

  /** A pass soon, for the flag ramps only (a ramp's analysis changed, a ramp verb ran): it plans no rollout. */
  runFlagRamps(): void {
    this.run();
  }

  /** Run fn with no reconcile pass in progress (actions mutate status through this). */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.lock.then(fn);
    this.lock = result.catch(() => undefined);
    return result;
  }

  /** Resolves once a pass has run after this call (without waiting for the pace) and no further pass is asked for. */
  async settle(): Promise<void> {
    this.run(true);
    while (this.running) await this.running;
  }

  private run(now = false): void {
    if (this.closed) return;
    if (this.running) {
      this.queued = true;
      return;
    }
    const { clock } = this.deps;
    const wait = this.paceUntil - clock.now();
    if (!now && wait > 0) {
      this.paced ??= clock.setTimeout(() => {
        this.paced = undefined;
        this.run();
      }, wait);
      return;
    }
    this.paced?.cancel();
    this.paced = undefined;
    this.running = this.exclusive(async () => {
      const started = clock.now();
      try {
        await this.pass();
      } finally {
        const end = clock.now();
        this.paceUntil = end + Math.min(MAX_PACE_MS, PACE * (end - started));
      }
    })
      .catch((err) => this.deps.log?.(`reconcile failed: ${(err as Error).stack ?? err}`))
      .finally(() => {
        this.running = undefined;
        if (this.queued) {
          this.queued = false;
          this.run();
        }
      });
  }

  /** Rollouts whose wake-up is due, and all of them when the sweep is. */
  private wakeDue(now: number): void {
    if (now >= this.nextSweep) this.allDirty = true;
    for (const [name, at] of this.wakeAt) if (at <= now) this.dirty.add(name);
  }

  private async pass(): Promise<void> {
    if (this.closed) return;
    const { store, platform, clock } = this.deps;
    const now = clock.now();
    this.wakeDue(now);
    const full = this.allDirty;
    const names = full ? undefined : [...this.dirty];
    this.allDirty = false;
    this.dirty.clear();
    this.nextResync = now + RESYNC_MS;
    if (full) this.nextSweep = now + SWEEP_MS;
    const records: RolloutRecord[] = [];
    const gone: string[] = [];
    if (names === undefined) {
      records.push(...store.listRollouts());
      const present = new Set(records.map((r) => r.name));
      for (const name of this.names) if (!present.has(name)) gone.push(name);
      this.names.clear();
      for (const r of records) this.names.add(r.name);
    } else {
      for (const name of names) {
        const record = store.getRollout(name);
        if (record) {
          records.push(record);
          this.names.add(name);
        } else {
          gone.push(name);
          this.names.delete(name);
        }
      }
    }
    for (const name of gone) {
      this.wakeAt.delete(name);
      this.replanned.delete(name);
      if (this.parts.delete(name)) this.tableDirty = true;
    }
    const byRollout = new Map<string, InstanceStatus[]>();
    const victims: InstanceStatus[] = [];
    const touched = names && new Set(names);
    for (const i of names === undefined || names.length > 0 ? platform.list() : []) {
      const list = byRollout.get(i.rollout);
      if (list) list.push(i);
      else byRollout.set(i.rollout, [i]);
      // Instances of a rollout that no longer exists (or never did: a full pass sees them all).
      if (!this.names.has(i.rollout) && (!touched || touched.has(i.rollout)) && !GONE.has(i.phase) && !this.stopping.has(i.id)) victims.push(i);
    }
    const isEndpoint = (i: InstanceStatus) => i.phase === 'Ready' && !this.stopping.has(i.id);

    const planned: { record: RolloutRecord; plan: Plan; revisions: Revision[]; mine: InstanceStatus[] }[] = [];
    // Rollouts whose stored spec cannot be planned: nothing started or stopped, last routes kept.
    const unplannable: RolloutRecord[] = [];
    // Status is published once the data plane acknowledged the table that goes with it.
    const saves: (() => void)[] = [];
    const templates = records.length > 0 ? new Map(store.listTemplates().map((t) => [t.name, t.spec])) : new Map();
    const revisionsByRollout = new Map<string, Set<number>>();
    for (const record of records) {
      this.wakeAt.delete(record.name);
      const all = byRollout.get(record.name) ?? [];
      const revisions = store.listRevisions(record.name);
      revisionsByRollout.set(record.name, new Set(revisions.map((r) => r.number)));
      const mine = all.filter((i) => !GONE.has(i.phase) && !this.stopping.has(i.id));
      let nextAvailable: number | undefined;
      this.deps.onPlan?.(record.name);
      const guarded = planGuarded(record.spec, () => {
        const { observed, nextAvailableAt } = observe(
          all.filter((i) => i.phase !== 'Stopped'),
          record.spec.minReadySeconds,
          now,
          (i) => i.phase === 'Terminating' || this.stopping.has(i.id),
        );
        nextAvailable = nextAvailableAt;
        const plan = plannerFor(record.spec.strategy.type)({
          spec: record.spec,
          status: releaseStatus(record.status),
          observed,
          now,
          jobs: this.deps.jobs.statusFor(record.name),
          templates,
          version: revisions.find((r) => r.number === record.status.currentRevision)?.template.version ?? '',
          ...(record.spec.database
            ? {
                schema: {
                  current: revisions.find((r) => r.number === record.status.currentRevision)?.template.migrations,
                  stable: revisions.find((r) => r.number === record.status.stableRevision)?.template.migrations,
                },
              }
            : {}),
        });
        // A spec the route table cannot be built from is as unplannable as one the planner throws on.
        buildRouteTable(0, [{ spec: record.spec, routes: plan.routes, revisions, hold: plan.status.trafficHold }], []);
        return plan;
      });
      if ('problem' in guarded) {
        unplannable.push(record);
        const save = this.markUnplannable(record, guarded.problem, now);
        if (save) saves.push(save);
        continue;
      }
      const { plan } = guarded;
      let wake = Infinity;
      if (nextAvailable !== undefined) wake = Math.min(wake, nextAvailable);
      if (plan.wakeAt !== undefined) wake = Math.min(wake, Math.max(plan.wakeAt, now + 10));
      if (wake < Infinity) this.wakeAt.set(record.name, wake);
      if (record.status.reason === UNPLANNABLE) plan.events.push({ type: 'Normal', reason: 'SpecPlannable', message: 'the stored spec can be planned again' });
      const restart = restartFinished(plan.status, mine, record.spec.replicas);
      if (restart) plan.events.push(restart);
      planned.push({ record, plan, revisions, mine });
    }

    // Choose what to start and stop before touching the route table, so that instances
    // about to stop are already out of it when it is applied.
    const starts: { rollout: string; revision: Revision; generation: number }[] = [];
    // Scaling events are recorded once the change happens: stops only after the table took effect.
    const scaling: { rollout: string; event: RolloutEventDraft; stops: boolean }[] = [];
    let startBudget = MAX_STARTS_PER_PASS;
    for (const p of planned) {
      const { mine } = p;
      const revisionNumbers = new Set([...p.plan.scale.keys(), ...mine.map((i) => i.revision)]);
      for (const number of revisionNumbers) {
        const live = mine.filter((i) => i.revision === number);
        const want = p.plan.scale.get(number) ?? 0;
        const revision = p.revisions.find((r) => r.number === number);
        const generation = p.plan.status.restartGeneration ?? 0;
        const steady = number === p.plan.status.stableRevision && number === p.plan.status.currentRevision;
        const change = platform.planScale({ rollout: p.record.name, live, replicas: want, ...(steady ? { replaceOlderThan: generation } : {}) });
        if (change.start > startBudget) {
          change.start = startBudget;
          this.wakeAt.set(p.record.name, Math.min(this.wakeAt.get(p.record.name) ?? Infinity, now + 10));
        }
        startBudget -= change.start;
        if (change.start > 0 && !revision) {
          this.deps.log?.(`rollout ${p.record.name}: revision ${number} has no stored template; not starting it`);
        } else {
          for (let k = 0; k < change.start; k++) starts.push({ rollout: p.record.name, revision: revision as Revision, generation });
        }
        victims.push(...change.stop);
        if (change.start > 0 || change.stop.length > 0) {
          const after = live.length + change.start - change.stop.length;
          scaling.push({
            rollout: p.record.name,
            stops: change.start === 0,
            event: {
              type: 'Normal',
              reason: change.start > 0 ? 'ScalingUp' : 'ScalingDown',
              message: `revision ${number}: ${change.start > 0 ? `starting ${change.start}` : `stopping ${change.stop.length}`} instance(s), ${live.length} → ${after} (want ${want})`,
              revision: number,
            },
          });
        }
      }
    }
    for (const v of victims) this.stopping.add(v.id);
    const drainMs = (v: InstanceStatus) =>
      (this.parts.get(v.rollout)?.revisions.find((r) => r.number === v.revision)?.template.shutdown?.drainSeconds ?? 30) * 1000;

    // This pass's parts of the table; the other rollouts keep theirs.
    for (const p of planned) {
      const endpoints = (byRollout.get(p.record.name) ?? []).filter(isEndpoint);
      const routes = { spec: p.record.spec, routes: p.plan.routes, revisions: p.revisions, hold: p.plan.status.trafficHold };
      this.setPart(p.record.name, buildRouteTable(0, [routes], endpoints).listeners, p.revisions);
    }
    for (const record of unplannable) {
      const endpoints = (byRollout.get(record.name) ?? []).filter(isEndpoint);
      const part = this.parts.get(record.name);
      const last = part ? { generation: 0, listeners: part.listeners } : this.lastApplied;
      this.setPart(record.name, carriedListeners(last, [record.name], endpoints), part?.revisions ?? []);
    }
    const failedBefore = this.failures;
    const applied = await this.applyRoutes();
    // Jobs start once the router has the routes their plan made: a smoke test of a preview
    // started before the table with that preview reached the router met a 503 (no ready
    // instance) and aborted a good release.
    for (const p of planned) this.deps.jobs.sync(p.record.name, p.plan.jobs);
    this.deps.jobs.forget(this.names, revisionsByRollout);
    // A planner takes some decisions on the status it decided before (the job a new phase
    // asks for): a rollout whose status changed is planned once more. Only once in a row: a
    // status can change at every plan (the progress clock restarts while a pause waits).
    const changed: string[] = [];
    // Flags follow the plan before its status is saved: a crash in between asks again, and
    // `performFlagActions` skips what the flag already shows, so nothing fires twice.
    for (const p of planned) if (p.plan.flagActions?.length) this.performFlagActions(p.plan);
    for (const p of planned) {
      const name = p.record.name;
      const save = this.statusSave(p.record, p.plan, now);
      if (save) saves.push(save);
      if (save && !this.replanned.has(name)) {
        changed.push(name);
        this.replanned.add(name);
      } else {
        this.replanned.delete(name);
      }
    }
    for (const save of saves) save();
    for (const s of scaling) if (applied || !s.stops) store.appendEvent(s.rollout, s.event, 'engine', now);
    if (!applied) {
      // The old table may still route to the victims: keep them running until it took effect.
      // Their parts (without the victims) stay, and these rollouts are planned again at the retry.
      for (const v of victims) this.stopping.delete(v.id);
      for (const name of [...records.map((r) => r.name), ...gone]) this.wakeAt.set(name, Math.min(this.wakeAt.get(name) ?? Infinity, now + RETRY_MS));
    } else {
      for (const v of victims) this.stop(v, drainMs(v));
      // A rollout whose listener failures changed shows them in its status: plan it if this pass did not.
      for (const name of new Set([...failedBefore.keys(), ...this.failures.keys()])) {
        if (!this.parts.has(name) || records.some((r) => r.name === name)) continue;
        if (JSON.stringify(failedBefore.get(name)) !== JSON.stringify(this.failures.get(name))) this.trigger(name);
      }
    }
    for (const s of starts) {
      await platform
        .start(
          { id: newInstanceId(s.rollout, s.revision.number), rollout: s.rollout, revision: s.revision.number, generation: s.generation },
          s.revision.template,
        )
        .then(
          () => this.startFailures.delete(s.rollout),
          (err) => {
            const message = `starting an instance of revision ${s.revision.number} failed: ${(err as Error).message}`;
            this.deps.log?.(`rollout ${s.rollout}: ${message}`);
            // Once per distinct failure (a retry failing the same way adds nothing): the user sees
            // why nothing starts (an image, a namespace, RBAC, the API down) in events and `get`.
            if (this.startFailures.get(s.rollout) === message || !store.getRollout(s.rollout)) return;
            this.startFailures.set(s.rollout, message);
            store.appendEvent(s.rollout, { type: 'Warning', reason: 'StartFailed', message, revision: s.revision.number }, 'engine', this.deps.clock.now());
          },
        );
    }
    // Their planners have not seen these instances yet (a platform need not report a start).
    for (const rollout of new Set([...changed, ...starts.map((s) => s.rollout)])) this.trigger(rollout);
    try {
      this.deps.flagRamps?.reconcile(now);
    } catch (err) {
      this.deps.log?.(`flag ramps failed: ${(err as Error).stack ?? err}`);
    }
    this.schedule();
  }

  /** The plan's flag changes through FlagControl; each outcome is an event of the rollout. */
  private performFlagActions(plan: Plan): void {
    const { flags, store } = this.deps;
    const killed: string[] = [];
    let killWhy = '';
    for (const a of plan.flagActions ?? []) {
      const what = 'kill' in a ? `switch flag ${a.flag} off` : `set flag ${a.flag} to ${a.percentage}%`;
      if (!flags) {
        plan.events.push({ type: 'Warning', reason: 'FlagsUnavailable', message: `cannot ${what}: feature flags are not available in this control plane` });
        continue;
      }
      if (!flags.has(a.flag)) {
        plan.events.push({
          type: 'Warning',
          reason: 'FlagNotFound',
          message: `cannot ${what}: there is no flag ${a.flag} — \`sluice apply -f FILE\` with a kind: FeatureFlag named ${a.flag}`,
        });
        continue;
      }
      const state = store.getFlag(a.flag)?.state;
      try {
        if ('kill' in a) {
          if (!state?.killed) flags.kill(a.flag, 'engine', a.why);
          killed.push(a.flag);
          killWhy = a.why;
        } else {
          if (state?.percentage !== a.percentage) flags.setPercentage(a.flag, a.percentage, 'engine', a.why);
          plan.events.push({ type: 'Normal', reason: 'FlagSet', message: `flag ${a.flag} set to ${a.percentage}% (${a.why})` });
        }
      } catch (err) {
        plan.events.push({ type: 'Warning', reason: 'FlagChangeFailed', message: `could not ${what}: ${(err as Error).message}` });
      }
    }
    if (killed.length > 0) {
      plan.events.push({ type: 'Warning', reason: 'FlagsKilled', message: `switched off flag(s) ${killed.join(', ')}: ${killWhy}` });
    }
  }

  private setPart(name: string, listeners: ListenerRoutes[], revisions: Revision[]): void {
    const key = JSON.stringify(listeners);
    if (this.parts.get(name)?.key !== key) this.tableDirty = true;
    this.parts.set(name, { listeners, key, revisions });
  }

  /** The planned status with this pass's listener failures shown over it, saved if anything changed. */
  private statusSave(record: RolloutRecord, plan: Plan, now: number): (() => void) | undefined {
    const { store } = this.deps;
    const shown = withListenerFailures(plan.status, record.status, this.failures.get(record.name) ?? [], RESYNC_MS / 1000);
    const status = shown.status;
    const events = shown.event ? [...plan.events, shown.event] : plan.events;
    status.updatedAt = record.status.updatedAt;
    if (JSON.stringify(status) === JSON.stringify(record.status) && events.length === 0) return undefined;
    status.updatedAt = now;
    return () =>
      store.transaction(() => {
        store.saveStatus(record.name, status);
        for (const e of events) store.appendEvent(record.name, e, 'engine', now);
      });
  }

  /** Degraded with the reason, and one Warning event: only when the reason is new. */
  private markUnplannable(record: RolloutRecord, problem: string, now: number): (() => void) | undefined {
    const { store } = this.deps;
    const message = `the stored spec cannot be planned: ${problem} — its instances and routes stay as they are; \`sluice apply -f FILE\` with a fixed spec or \`sluice delete ${record.name}\``;
    if (record.status?.reason === UNPLANNABLE && record.status.message === message) return undefined;
    this.deps.log?.(`rollout ${record.name}: ${message}`);
    const status = { ...showProblem(record.status ?? ({} as RolloutStatus), UNPLANNABLE, message), updatedAt: now };
    return () =>
      store.transaction(() => {
        store.saveStatus(record.name, status);
        store.appendEvent(record.name, { type: 'Warning', reason: UNPLANNABLE, message }, 'engine', now);
      });
  }

  private async applyRoutes(): Promise<boolean> {
    await this.noticeReplacedTable();
    const now = this.deps.clock.now();
    // A listener that could not be opened is tried again at the resync, not at every pass.
    const retryFailed = this.failures.size > 0 && now - this.lastAppliedAt >= RESYNC_MS;
    if (!this.tableDirty && !retryFailed) return true;
    const listeners: ListenerRoutes[] = [];
    for (const part of this.parts.values()) listeners.push(...part.listeners);
    listeners.sort((a, b) => a.listen.localeCompare(b.listen));
    const table: RouteTable = { generation: this.generation + 1, listeners };
    try {
      this.deps.store.saveRouteTable(table);
      const outcome = await this.deps.router.apply(table);
      this.generation = table.generation;
      this.appliedOnce = true;
      this.tableDirty = false;
      this.lastApplied = table;
      this.lastAppliedAt = now;
      this.failures = new Map();
      for (const f of outcome?.failed ?? []) this.failures.set(f.rollout, [...(this.failures.get(f.rollout) ?? []), f]);
      for (const f of outcome?.failed ?? []) this.deps.log?.(`rollout ${f.rollout}: listener ${f.listen} could not be opened: ${f.error}`);
      return true;
    } catch (err) {
      this.deps.log?.(`route table ${table.generation} not applied: ${(err as Error).message}`);
      return false;
    }
  }

  /**
   * A data plane serving another generation than the one last applied was restarted empty
   * or replaced (another control plane pushed its table): push ours again, continuing from
   * the higher generation so the data plane does not ignore it as older.
   */
  private async noticeReplacedTable(): Promise<void> {
    const { router, clock } = this.deps;
    if (!router.generationInEffect || !this.appliedOnce) return;
    const now = clock.now();
    if (now - this.lastGenerationCheck < GENERATION_CHECK_MS) return;
    this.lastGenerationCheck = now;
    let inEffect: number;
    try {
      inEffect = await router.generationInEffect();
    } catch {
      return; // unreachable: the next apply reports it
    }
    if (inEffect === this.generation) return;
    this.deps.log?.(`the data plane serves route table ${inEffect}, not ${this.generation} as last applied: pushing ours again`);
    this.tableDirty = true;
    this.generation = Math.max(this.generation, inEffect);
  }

  private stop(instance: InstanceStatus, drainMs: number): void {
    const { platform, router } = this.deps;
    platform
      .stop(instance.id, { drain: async () => void (await router.waitIdle(instance.id, drainMs).catch(() => false)) })
      .catch((err) => this.deps.log?.(`stopping ${instance.id} failed: ${(err as Error).message}`))
      .finally(() => {
        this.stopping.delete(instance.id);
        this.trigger(instance.rollout);
      });
  }

  /** One timer, for the earliest of the resync, the sweep and every rollout's wake-up. */
  private schedule(): void {
    if (this.closed) return;
    let at = Math.min(this.nextResync, this.nextSweep, this.deps.flagRamps?.nextWakeAt() ?? Infinity);
    for (const t of this.wakeAt.values()) if (t < at) at = t;
    if (this.timer?.at === at) return;
    this.timer?.cancel();
    const { clock } = this.deps;
    const handle = clock.setTimeout(
      () => {
        this.timer = undefined;
        this.wakeDue(clock.now());
        this.run();
      },
      Math.max(0, at - clock.now()),
    );
    this.timer = { cancel: () => handle.cancel(), at };
  }
}

/**
 * Counts per revision, as planners see them; also when the next instance becomes available.
 * Instances being stopped (`isStopping`: chosen as victims, draining, or Terminating) count
 * only as `terminating`: they serve nothing, but their processes may still be alive.
 */
export function observe(
  instances: InstanceStatus[],
  minReadySeconds: number,
  now: number,
  isStopping: (i: InstanceStatus) => boolean = (i) => i.phase === 'Terminating',
): { observed: Map<number, RevisionObservation>; nextAvailableAt?: number } {
  const observed = new Map<number, RevisionObservation>();
  let nextAvailableAt: number | undefined;
  for (const i of instances) {
    if (i.phase === 'Stopped') continue;
    const o = observed.get(i.revision) ?? { revision: i.revision, total: 0, ready: 0, available: 0, terminating: 0 };
    observed.set(i.revision, o);
    if (isStopping(i)) {
      o.terminating = (o.terminating ?? 0) + 1;
      continue;
    }
    o.total++;
    if (i.phase === 'Ready') {
      o.ready++;
      const availableAt = (i.readySince ?? now) + minReadySeconds * 1000;
      if (availableAt <= now) o.available++;
      else nextAvailableAt = Math.min(nextAvailableAt ?? Infinity, availableAt);
    }
  }
  return { observed, nextAvailableAt };
}

import type { Clock } from '../core/clock.js';
import type { InstanceStatus, Platform } from '../core/platform.js';
import type { ListenerFailure, TrafficRouter } from '../core/traffic-router.js';
import type { RouteTable } from '../core/route-table.js';
import type { Store } from '../core/store.js';
import type { Revision, RolloutEventDraft, RolloutRecord, RolloutStatus } from '../core/rollout.js';
import type { Plan, RevisionObservation } from './strategies/planner.js';
import { plannerFor } from './strategies/index.js';
import { buildRouteTable, carriedListeners, type RolloutRoutes } from './routes.js';
import { newInstanceId } from '../core/instance-id.js';
import type { JobRunner } from './job-runner.js';
import { planGuarded, UNPLANNABLE } from './plan-guard.js';
import { releaseStatus, showProblem, withListenerFailures } from './engine-problems.js';
import { restartFinished } from './restart-progress.js';

/** Plan again at least this often, even when nothing reports a change. */
const RESYNC_MS = 2000;
/** After a failed route-table apply, try again this soon. */
const RETRY_MS = 500;
/** Instances started in one pass across all rollouts; the next passes start the rest. */
const MAX_STARTS_PER_PASS = 64;
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
}

const GONE = new Set(['Terminating', 'Stopped']);

/**
 * Makes the world match the planners. One pass: plan every rollout (pure), persist status
 * and events, push the route table (instances chosen for stopping already left it), then
 * start and stop instances. Passes never overlap; triggers during a pass coalesce into one
 * more pass. Actions run between passes through `exclusive`.
 */
export class Reconciler {
  private readonly stopping = new Set<string>();
  private generation = 0;
  private lastTable = '';
  /** The table last in effect; listeners of a rollout that cannot be planned are kept from it. */
  private lastApplied: RouteTable | undefined;
  private lastAppliedAt = -Infinity;
  private lastGenerationCheck = -Infinity;
  /** Listeners the data plane could not open at the last apply, by rollout. */
  private failures = new Map<string, ListenerFailure[]>();
  private running: Promise<void> | undefined;
  private queued = false;
  private timer: { cancel(): void } | undefined;
  private closed = false;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ReconcilerDeps) {
    deps.platform.onChange(() => this.trigger());
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
    await this.running;
  }

  /** Plan again as soon as the current pass (if any) ends. */
  trigger(): void {
    if (this.closed) return;
    if (this.running) {
      this.queued = true;
      return;
    }
    this.running = this.exclusive(() => this.pass())
      .catch((err) => this.deps.log?.(`reconcile failed: ${(err as Error).stack ?? err}`))
      .finally(() => {
        this.running = undefined;
        if (this.queued) {
          this.queued = false;
          this.trigger();
        }
      });
  }

  /** Run fn with no reconcile pass in progress (actions mutate status through this). */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.lock.then(fn);
    this.lock = result.catch(() => undefined);
    return result;
  }

  /** Resolves once a full pass has run after this call. */
  async settle(): Promise<void> {
    this.trigger();
    while (this.running) await this.running;
  }

  private async pass(): Promise<void> {
    if (this.closed) return;
    const { store, platform, clock } = this.deps;
    const now = clock.now();
    const records = store.listRollouts();
    const instances = platform.list();
    let wakeAt = now + RESYNC_MS;

    const planned: (RolloutRoutes & { record: RolloutRecord; plan: Plan })[] = [];
    // Rollouts whose stored spec cannot be planned: nothing started or stopped, last routes kept.
    const unplannable: string[] = [];
    // Status is published once the data plane acknowledged the table that goes with it.
    const saves: (() => void)[] = [];
    const templates = new Map(store.listTemplates().map((t) => [t.name, t.spec]));
    const revisionsByRollout = new Map<string, Set<number>>();
    for (const record of records) {
      const revisions = store.listRevisions(record.name);
      revisionsByRollout.set(record.name, new Set(revisions.map((r) => r.number)));
      const mine = instances.filter((i) => i.rollout === record.name && !GONE.has(i.phase) && !this.stopping.has(i.id));
      let nextAvailable: number | undefined;
      const guarded = planGuarded(record.spec, () => {
        const { observed, nextAvailableAt } = observe(
          instances.filter((i) => i.rollout === record.name && i.phase !== 'Stopped'),
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
        });
        // A spec the route table cannot be built from is as unplannable as one the planner throws on.
        buildRouteTable(0, [{ spec: record.spec, routes: plan.routes, revisions, hold: plan.status.trafficHold }], []);
        return plan;
      });
      if ('problem' in guarded) {
        unplannable.push(record.name);
        const save = this.markUnplannable(record, guarded.problem, now);
        if (save) saves.push(save);
        continue;
      }
      const { plan } = guarded;
      if (nextAvailable !== undefined) wakeAt = Math.min(wakeAt, nextAvailable);
      if (plan.wakeAt !== undefined) wakeAt = Math.min(wakeAt, Math.max(plan.wakeAt, now + 10));
      if (record.status.reason === UNPLANNABLE) plan.events.push({ type: 'Normal', reason: 'SpecPlannable', message: 'the stored spec can be planned again' });
      const restart = restartFinished(plan.status, mine, record.spec.replicas);
      if (restart) plan.events.push(restart);
      this.deps.jobs.sync(record.name, plan.jobs);
      planned.push({ record, plan, spec: record.spec, routes: plan.routes, revisions, hold: plan.status.trafficHold });
    }
    this.deps.jobs.forget(new Set(records.map((r) => r.name)), revisionsByRollout);

    // Choose what to start and stop before touching the route table, so that instances
    // about to stop are already out of it when it is applied.
    const starts: { rollout: string; revision: Revision; generation: number }[] = [];
    const victims: InstanceStatus[] = [];
    // Scaling events are recorded once the change happens: stops only after the table took effect.
    const scaling: { rollout: string; event: RolloutEventDraft; stops: boolean }[] = [];
    const known = new Set(records.map((r) => r.name));
    for (const i of instances) {
      if (!known.has(i.rollout) && !GONE.has(i.phase) && !this.stopping.has(i.id)) victims.push(i);
    }
    let startBudget = MAX_STARTS_PER_PASS;
    for (const p of planned) {
      const mine = instances.filter((i) => i.rollout === p.record.name && !GONE.has(i.phase) && !this.stopping.has(i.id));
      const revisionNumbers = new Set([...p.plan.scale.keys(), ...mine.map((i) => i.revision)]);
      for (const number of revisionNumbers) {
        const live = mine.filter((i) => i.revision === number);
        const want = p.plan.scale.get(number) ?? 0;
        const revision = p.revisions.find((r) => r.number === number);
        const generation = p.plan.status.restartGeneration ?? 0;
        const steady = number === p.plan.status.stableRevision && number === p.plan.status.currentRevision;
        const change = platform.planScale({ live, replicas: want, ...(steady ? { replaceOlderThan: generation } : {}) });
        if (change.start > startBudget) {
          change.start = startBudget;
          wakeAt = Math.min(wakeAt, now + 10);
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
      (planned.find((p) => p.record.name === v.rollout)?.revisions.find((r) => r.number === v.revision)?.template.shutdown?.drainSeconds ?? 30) * 1000;

    const endpoints = instances.filter((i) => i.phase === 'Ready' && !this.stopping.has(i.id));
    const applied = await this.applyRoutes(planned, endpoints, unplannable);
    for (const p of planned) {
      const save = this.statusSave(p.record, p.plan, now);
      if (save) saves.push(save);
    }
    for (const save of saves) save();
    for (const s of scaling) if (applied || !s.stops) store.appendEvent(s.rollout, s.event, 'engine', now);
    if (!applied) {
      // The old table may still route to the victims: keep them running until it took effect.
      for (const v of victims) this.stopping.delete(v.id);
      wakeAt = Math.min(wakeAt, now + RETRY_MS);
    } else {
      for (const v of victims) this.stop(v, drainMs(v));
    }
    for (const s of starts) {
      await platform
        .start({ id: newInstanceId(s.rollout, s.revision.number), rollout: s.rollout, revision: s.revision.number, generation: s.generation }, s.revision.template)
        .catch((err) => this.deps.log?.(`rollout ${s.rollout}: starting an instance of revision ${s.revision.number} failed: ${(err as Error).message}`));
    }
    this.schedule(wakeAt);
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

  private async applyRoutes(planned: RolloutRoutes[], endpoints: InstanceStatus[], unplannable: string[]): Promise<boolean> {
    await this.noticeReplacedTable();
    const table = buildRouteTable(this.generation + 1, planned, endpoints);
    table.listeners.push(...carriedListeners(this.lastApplied, unplannable, endpoints));
    table.listeners.sort((a, b) => a.listen.localeCompare(b.listen));
    const key = JSON.stringify(table.listeners);
    const now = this.deps.clock.now();
    // A listener that could not be opened is tried again at the resync, not at every pass.
    const retryFailed = this.failures.size > 0 && now - this.lastAppliedAt >= RESYNC_MS;
    if (key === this.lastTable && !retryFailed) return true;
    try {
      this.deps.store.saveRouteTable(table);
      const outcome = await this.deps.router.apply(table);
      this.generation = table.generation;
      this.lastTable = key;
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
    if (!router.generationInEffect || this.lastTable === '') return;
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
    this.lastTable = '';
    this.generation = Math.max(this.generation, inEffect);
  }

  private stop(instance: InstanceStatus, drainMs: number): void {
    const { platform, router } = this.deps;
    platform
      .stop(instance.id, { drain: async () => void (await router.waitIdle(instance.id, drainMs).catch(() => false)) })
      .catch((err) => this.deps.log?.(`stopping ${instance.id} failed: ${(err as Error).message}`))
      .finally(() => {
        this.stopping.delete(instance.id);
        this.trigger();
      });
  }

  private schedule(at: number): void {
    this.timer?.cancel();
    if (this.closed) return;
    this.timer = this.deps.clock.setTimeout(() => this.trigger(), Math.max(0, at - this.deps.clock.now()));
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

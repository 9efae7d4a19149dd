/**
 * Runs every flag ramp (engine/flags/ramp-planner.ts) and implements the user's verbs on
 * them (`FlagRampActions`). The reconciler calls `reconcile` at the end of each pass and
 * joins `nextWakeAt` to its timer; a ramp's analysis run finishing asks for a pass
 * (`onWake`). Percentages go through FlagControl (its event and push), the ramp's status
 * lives in `FlagState.ramp` (store.saveFlagState), its events under `flagSubject(name)`.
 *
 * Analysis runs use the rollouts' JobRunner (AnalysisTemplates, providers, evaluate.ts)
 * over a job store of their own, held in memory: the store's jobs belong to a rollout's
 * revision, which a flag has none of. A restarted control plane therefore starts a ramp's
 * running analysis again from its first measurement (the step and percentage are kept).
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { flagSubject, type FlagControl, type FlagRampActions, type FlagRampStatus, type FlagRecord } from '../../core/flags.js';
import type { DesiredJob, JobStatus, JobStore } from '../../core/jobs.js';
import type { Measurement } from '../../core/analysis.js';
import type { RolloutEventDraft } from '../../core/rollout.js';
import type { Store } from '../../core/store.js';
import { UserError } from '../../util/errors.js';
import { JobRunner, type ProviderRegistry } from '../job-runner.js';
import { describeRampStep, planRamp, rampPercentageAt, startRamp } from './ramp-planner.js';

export interface FlagRampRunnerDeps {
  store: Store;
  clock: Clock;
  flags: FlagControl;
  providers: ProviderRegistry;
  /** A ramp's analysis run changed phase: run a pass soon (the reconciler's). */
  onWake: () => void;
  log?: (line: string) => void;
}

/** Ramp analysis runs and their measurements, for this process's life. */
class VolatileJobStore implements JobStore {
  private readonly jobs = new Map<string, { job: DesiredJob; status: JobStatus }>();
  private readonly measurements = new Map<string, Measurement[]>();
  saveJob(job: DesiredJob, status: JobStatus): void {
    this.jobs.set(job.key, { job, status });
  }
  listJobs(rollout?: string) {
    return [...this.jobs.values()].filter((j) => rollout === undefined || j.status.rollout === rollout);
  }
  appendMeasurement(key: string, m: Measurement): void {
    if (!this.jobs.has(key)) return;
    this.measurements.set(key, [...(this.measurements.get(key) ?? []), m]);
  }
  listMeasurements(key: string): Measurement[] {
    return this.measurements.get(key) ?? [];
  }
}

/** The hash a ramp runs under: any change of the flag's spec starts it again. */
export function flagSpecHash(record: FlagRecord): string {
  return createHash('sha256').update(JSON.stringify(record.spec)).digest('hex').slice(0, 16);
}

export class FlagRampRunner implements FlagRampActions {
  private readonly jobs: JobRunner;
  private readonly wakeAt = new Map<string, number>();
  private closed = false;

  constructor(private readonly deps: FlagRampRunnerDeps) {
    this.jobs = new JobRunner({
      store: new VolatileJobStore(),
      clock: deps.clock,
      providers: deps.providers,
      // Not from inside the runner's own call stack: the pass syncs jobs again.
      onChange: () => queueMicrotask(() => !this.closed && deps.onWake()),
      log: deps.log,
    });
  }

  close(): void {
    this.closed = true;
    this.jobs.close();
  }

  /** The earliest time a ramp asked to be planned again. */
  nextWakeAt(): number | undefined {
    let at: number | undefined;
    for (const t of this.wakeAt.values()) at = at === undefined ? t : Math.min(at, t);
    return at;
  }

  /** Plans every flag with a ramp (or a ramp status left from one). */
  reconcile(now: number): void {
    if (this.closed) return;
    const names = new Set<string>();
    for (const record of this.deps.store.listFlags()) {
      names.add(flagSubject(record.name));
      if (!record.spec.rollout && !record.state.ramp) continue;
      // One flag's failure (FlagControl refused a change) does not hold the others; it is tried again next pass.
      try {
        this.planOne(record, now);
      } catch (err) {
        this.deps.log?.(`flag ${record.name}: ramp not planned: ${(err as Error).message}`);
        this.wakeAt.set(record.name, now + 2000);
      }
    }
    this.jobs.forget(names);
    for (const name of this.wakeAt.keys()) if (!names.has(flagSubject(name))) this.wakeAt.delete(name);
  }

  /** The ramp's analysis runs (for `sluice analysis flag/NAME` and tests). */
  analysisRuns(flag: string): JobStatus[] {
    return [...this.jobs.statusFor(flagSubject(flag)).values()];
  }

  private planOne(record: FlagRecord, now: number): void {
    const { store } = this.deps;
    const name = record.name;
    this.wakeAt.delete(name);
    const templates = new Map(store.listTemplates().map((t) => [t.name, t.spec]));
    const plan = planRamp({
      spec: record.spec,
      specHash: flagSpecHash(record),
      state: record.state,
      now,
      jobs: this.jobs.statusFor(flagSubject(name)),
      templates,
    });
    this.jobs.sync(flagSubject(name), plan.jobs);
    if (plan.wakeAt !== undefined) this.wakeAt.set(name, Math.max(plan.wakeAt, now + 10));
    // The percentage first (its own event and push), then the ramp that records the step done:
    // after a crash in between the step is passed again and the percentage already reads so.
    if (plan.percentage !== undefined) this.setPercentage(record, plan.percentage, 'engine', plan.why ?? `flag ramp ${name}`);
    this.save(name, plan.ramp, plan.events, 'engine', now);
  }

  private setPercentage(record: FlagRecord, percentage: number, by: string, why: string): void {
    const current = this.deps.store.getFlag(record.name)?.state.percentage;
    if (current === percentage) return;
    this.deps.flags.setPercentage(record.name, percentage, by, why);
  }

  /** Saves the ramp status into the flag's current state (FlagControl may have just changed it) with its events. */
  private save(name: string, ramp: FlagRampStatus | undefined, events: RolloutEventDraft[], by: string, now: number): void {
    const { store } = this.deps;
    const fresh = store.getFlag(name);
    if (!fresh) return;
    if (JSON.stringify(fresh.state.ramp) !== JSON.stringify(ramp) || events.length > 0) {
      store.transaction(() => {
        const state = { ...fresh.state, updatedAt: now };
        if (ramp) state.ramp = ramp;
        else delete state.ramp;
        store.saveFlagState(name, state);
        for (const e of events) store.appendEvent(flagSubject(name), e, by, now);
      });
    }
  }

  /** The flag's record and its ramp, planned up to now; a one-line UserError when there is none. */
  private ramp(flag: string, verb: string): { record: FlagRecord; ramp: FlagRampStatus } {
    const record = this.deps.store.getFlag(flag);
    if (!record) throw new UserError(`flag ${flag} does not exist — \`sluice flags list\` shows the flags`, 'not_found', 404);
    if (!record.spec.rollout)
      throw new UserError(`flag ${flag} has no ramp to ${verb} — give its kind: FeatureFlag a rollout.steps list and apply it`, 'conflict', 409);
    this.planOne(record, this.deps.clock.now());
    const fresh = this.deps.store.getFlag(flag) as FlagRecord;
    return { record: fresh, ramp: structuredClone(fresh.state.ramp as FlagRampStatus) };
  }

  private act(flag: string, ramp: FlagRampStatus, event: RolloutEventDraft, by: string): void {
    const now = this.deps.clock.now();
    ramp.progressAt = now;
    this.save(flag, ramp, [event], by, now);
    const record = this.deps.store.getFlag(flag);
    if (record) this.planOne(record, now);
    this.deps.onWake();
  }

  async promote(flag: string, options: { full?: boolean }, by: string): Promise<void> {
    const { record, ramp } = this.ramp(flag, 'promote');
    const steps = record.spec.rollout?.steps ?? [];
    if (ramp.aborted) throw new UserError(`flag ${flag}'s ramp was aborted — \`sluice retry flag/${flag}\` runs it again`, 'conflict', 409);
    if (ramp.phase === 'Healthy') throw new UserError(`flag ${flag}'s ramp is complete — nothing to promote`, 'conflict', 409);
    delete ramp.pausedUntil;
    let message: string;
    if (options.full) {
      ramp.stepIndex = steps.length;
      const pct = rampPercentageAt(steps, steps.length);
      if (pct !== undefined) this.setPercentage(record, pct, by, `flag ramp ${flag} promoted in full by ${by}`);
      message = `promoted in full by ${by}${pct === undefined ? '' : `: ${pct}%`}`;
    } else {
      const step = steps[ramp.stepIndex];
      message = `promoted by ${by}: step ${ramp.stepIndex + 1}/${steps.length} (${step ? describeRampStep(step) : 'end'}) skipped`;
      ramp.stepIndex++;
    }
    this.act(flag, ramp, { type: 'Normal', reason: 'RampPromoted', message }, by);
  }

  async abort(flag: string, by: string, why?: string): Promise<void> {
    const { record, ramp } = this.ramp(flag, 'abort');
    if (ramp.aborted) throw new UserError(`flag ${flag}'s ramp is already aborted`, 'conflict', 409);
    if (ramp.phase === 'Healthy')
      throw new UserError(`flag ${flag}'s ramp is complete — \`sluice flags kill ${flag}\` switches it off, or set its percentage`, 'conflict', 409);
    const back = ramp.startPercentage ?? 0;
    const reason = why ?? `aborted by ${by}`;
    this.setPercentage(record, back, by, `flag ramp ${flag}: ${reason}`);
    ramp.aborted = true;
    ramp.phase = 'Degraded';
    delete ramp.pausedUntil;
    ramp.message = `${reason} — percentage back to ${back}%; \`sluice retry flag/${flag}\` runs the ramp again`;
    this.act(flag, ramp, { type: 'Warning', reason: 'RampAborted', message: ramp.message }, by);
  }

  async pause(flag: string, by: string): Promise<void> {
    const { ramp } = this.ramp(flag, 'pause');
    if (ramp.paused) throw new UserError(`flag ${flag}'s ramp is already paused — \`sluice resume flag/${flag}\` continues it`, 'conflict', 409);
    if (ramp.aborted || ramp.phase === 'Healthy') throw new UserError(`flag ${flag}'s ramp is not in progress — nothing to pause`, 'conflict', 409);
    ramp.paused = true;
    this.act(flag, ramp, { type: 'Normal', reason: 'RampPaused', message: `paused by ${by}` }, by);
  }

  async resume(flag: string, by: string): Promise<void> {
    const { ramp } = this.ramp(flag, 'resume');
    if (!ramp.paused) throw new UserError(`flag ${flag}'s ramp is not paused by a user — nothing to resume`, 'conflict', 409);
    ramp.paused = false;
    if (!ramp.aborted && ramp.phase === 'Paused') ramp.phase = 'Progressing';
    this.act(flag, ramp, { type: 'Normal', reason: 'RampResumed', message: `resumed by ${by}` }, by);
  }

  async retry(flag: string, by: string): Promise<void> {
    const { record, ramp } = this.ramp(flag, 'retry');
    if (!ramp.aborted && ramp.phase !== 'Healthy')
      throw new UserError(`flag ${flag}'s ramp is in progress — \`sluice abort flag/${flag}\` first, or promote it`, 'conflict', 409);
    const next = startRamp(record.state, ramp.specHash, this.deps.clock.now(), { ...ramp, paused: false });
    // A replay of a finished ramp starts from where the first one started too.
    next.startPercentage = ramp.startPercentage ?? 0;
    this.setPercentage(record, next.startPercentage, by, `flag ramp ${flag} started again by ${by}`);
    this.act(flag, next, { type: 'Normal', reason: 'RampRetried', message: `ramp started again by ${by} (attempt ${next.attempt})` }, by);
  }
}

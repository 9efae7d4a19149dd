/**
 * Moves releases through their pipeline's stages: the one writer of every ReleaseStageState.
 * Each pass reads everything from the store (so a restarted control plane continues where
 * the last one stopped), asks pipelines/gates.ts whether a waiting release may enter, sets
 * the release's version on each service's rollout in order, and watches those rollouts until
 * the stage is Healthy or Failed (and, after a failure, Restored). Stage changes are release
 * events, mirrored onto the rollouts' own events so their notifications carry them.
 */
import type { Clock } from '../../core/clock.js';
import type { PipelineRecord, ReleaseEventDraft, ReleaseRecord, ReleaseStageState, StageSpec } from '../../core/pipeline.js';
import type { Store } from '../../core/store.js';
import type { ApplyResult, Actor } from '../actions.js';
import { decideEntry } from '../../pipelines/gates.js';
import { gateOfWindows } from '../../pipelines/window.js';
import { autoChecks, failedOn, healthyOn, restored, rolloutFor } from './rollouts.js';

export interface PipelineRunnerDeps {
  store: Store;
  clock: Clock;
  /** The rollout verb a stage uses: set a service's version (and env) on its rollout. */
  rollouts: { set(name: string, changes: { version?: string; env?: Record<string, string | null> }, by: Actor): Promise<ApplyResult> };
  /** Whether an approval given with this token still counts (named tokens: not revoked, not expired). */
  tokenValid(tokenId: string | undefined): boolean;
  log?: (line: string) => void;
}

export const AUTO_ACTOR = 'sluice';

export function initialStageState(release: string, stage: string, now: number): ReleaseStageState {
  return { release, stage, phase: 'Pending', reason: 'Pending', message: 'not asked to enter yet', serviceIndex: 0, deployed: {}, checked: {}, updatedAt: now };
}

export class PipelineRunner {
  private running: Promise<void> = Promise.resolve();
  private timer: { cancel(): void } | undefined;
  private stopped = false;

  constructor(private readonly deps: PipelineRunnerDeps) {}

  /** One pass now (after the one in progress): every release of every pipeline, stages in order. */
  tick(): Promise<void> {
    const next = this.running.then(() => this.pass());
    this.running = next.catch((err: unknown) => this.deps.log?.(`pipelines: ${(err as Error).stack ?? String(err)}`));
    return next;
  }

  /** Passes every `intervalMs` until stop(). */
  start(intervalMs = 1000): void {
    const loop = () => {
      if (this.stopped) return;
      void this.tick().finally(() => {
        if (!this.stopped) this.timer = this.deps.clock.setTimeout(loop, intervalMs);
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
  }

  private async pass(): Promise<void> {
    for (const pipeline of this.deps.store.listPipelines()) {
      const releases = this.deps.store.listReleases(pipeline.name);
      for (const release of releases) {
        for (const stage of pipeline.spec.stages) {
          try {
            await this.step(pipeline, releases, release, stage);
          } catch (err) {
            // One broken release never stops the others.
            this.deps.log?.(`pipelines: release ${release.id} stage ${stage.name}: ${(err as Error).message}`);
          }
        }
      }
    }
  }

  private stateOf(release: string, stage: string): ReleaseStageState {
    return this.deps.store.listStageStates(release).find((s) => s.stage === stage) ?? initialStageState(release, stage, this.deps.clock.now());
  }

  private async step(pipeline: PipelineRecord, releases: ReleaseRecord[], release: ReleaseRecord, stage: StageSpec): Promise<void> {
    const state = this.stateOf(release.id, stage.name);
    switch (state.phase) {
      case 'Pending':
      case 'Waiting':
      case 'Rejected':
        return this.consider(pipeline, releases, release, stage, state);
      case 'Deploying':
        return this.deploy(release, stage, state);
      case 'Healthy':
        return this.watchHealthy(release, stage, state);
      case 'Failed':
        return this.watchRestore(release, stage, state);
      case 'Superseded':
        return;
    }
  }

  private async consider(pipeline: PipelineRecord, releases: ReleaseRecord[], release: ReleaseRecord, stage: StageSpec, state: ReleaseStageState) {
    const { store, clock } = this.deps;
    const now = clock.now();
    const after = stage.after !== undefined ? pipeline.spec.stages.find((s) => s.name === stage.after) : undefined;
    const index = releases.findIndex((r) => r.id === release.id);
    const inStage = store.listStageStates().filter((s) => s.stage === stage.name && releases.some((r) => r.id === s.release));
    const newerEntered = inStage.some((s) => s.enteredAt !== undefined && releases.findIndex((r) => r.id === s.release) > index);
    const busy = inStage.find((s) => s.phase === 'Deploying' && s.release !== release.id);
    const decision = decideEntry({
      release,
      stage,
      state,
      ...(after ? { upstream: { spec: after, state: store.listStageStates(release.id).find((s) => s.stage === after.name) } } : {}),
      approvals: store.listApprovals(release.id).filter((a) => a.stage === stage.name),
      tokenValid: this.deps.tokenValid,
      autoChecks: autoChecks(
        store,
        stage,
        release.services.map((s) => s.service),
      ),
      newerEntered,
      ...(busy ? { busyWith: busy.release } : {}),
      window: gateOfWindows(stage.windows, stage.freezes, now),
      now,
    });
    if (!decision.enter) {
      const { phase, reason, message, until } = decision;
      if (state.phase === phase && state.reason === reason && state.message === message && state.until === until) return;
      const next: ReleaseStageState = { ...state, phase, reason, message, updatedAt: now };
      if (until === undefined) delete next.until;
      else next.until = until;
      store.transaction(() => {
        store.putStageState(next);
        // A new reason is news; a message that only counts down is not.
        if (state.reason !== reason && phase !== 'Pending') {
          this.event(release, stage, { type: phase === 'Rejected' ? 'Warning' : 'Normal', reason: phase === 'Waiting' ? reason : phase, message }, AUTO_ACTOR);
        }
      });
      return;
    }
    const entered: ReleaseStageState = {
      ...state,
      phase: 'Deploying',
      reason: 'Entered',
      message: `deploying ${release.services.map((s) => `${s.service} ${s.version}`).join(', ')} to ${stage.environment}`,
      enteredAt: now,
      enteredBy: state.promotedBy ?? AUTO_ACTOR,
      serviceIndex: 0,
      deployed: {},
      updatedAt: now,
    };
    delete entered.until;
    store.transaction(() => {
      store.putStageState(entered);
      this.event(
        release,
        stage,
        { type: 'Normal', reason: 'Entered', message: `entered ${stage.name} (${stage.environment}); ${entered.message}` },
        entered.enteredBy!,
      );
      // An older release that has not entered here never will: it would go back in time.
      for (const older of releases.slice(
        0,
        releases.findIndex((r) => r.id === release.id),
      )) {
        const s = store.listStageStates(older.id).find((x) => x.stage === stage.name);
        if (s && s.enteredAt !== undefined) continue;
        const base = s ?? initialStageState(older.id, stage.name, now);
        store.putStageState({
          ...base,
          phase: 'Superseded',
          reason: 'Superseded',
          message: `release ${release.id} entered ${stage.name} first`,
          updatedAt: now,
        });
        this.event(older, stage, { type: 'Normal', reason: 'Superseded', message: `release ${release.id} entered ${stage.name} first` }, AUTO_ACTOR);
      }
    });
    await this.deploy(release, stage, entered);
  }

  /** Sets each service in order, moving to the next once the previous is Healthy on its new revision. */
  private async deploy(release: ReleaseRecord, stage: StageSpec, start: ReleaseStageState): Promise<void> {
    const { store, clock } = this.deps;
    let state = start;
    while (state.serviceIndex < release.services.length) {
      const service = release.services[state.serviceIndex]!;
      const found = rolloutFor(store.listRollouts(), stage.environment, service.service);
      if (typeof found === 'string') return this.fail(release, stage, state, 'NoRollout', found);
      let deployed = state.deployed[service.service];
      if (deployed === undefined || deployed.rollout !== found.name) {
        const changes = { version: service.version, ...(Object.keys(service.env).length > 0 ? { env: service.env } : {}) };
        const result = await this.deps.rollouts.set(found.name, changes, { actor: `release ${release.id}` });
        deployed = { rollout: found.name, revision: result.revision };
        state = { ...state, deployed: { ...state.deployed, [service.service]: deployed }, updatedAt: clock.now() };
        store.putStageState(state);
        // The rollout's own pass reacts to the new revision; the next pass of ours looks at it.
        return;
      }
      const rollout = store.getRollout(deployed.rollout);
      if (!rollout)
        return this.fail(release, stage, state, 'RolloutDeleted', `rollout ${deployed.rollout} was deleted while release ${release.id} deployed to it`);
      const failure = failedOn(rollout, deployed.revision);
      if (failure) return this.fail(release, stage, state, 'RolloutFailed', failure);
      if (rollout.status.currentRevision !== deployed.revision) {
        return this.fail(
          release,
          stage,
          state,
          'Replaced',
          `rollout ${rollout.name} moved to revision ${rollout.status.currentRevision} (not this release's ${deployed.revision}) before it was Healthy`,
        );
      }
      if (!healthyOn(rollout, deployed.revision)) {
        const message = `deploying ${service.service} ${service.version} (${rollout.name} revision ${deployed.revision}: ${rollout.status.phase} ${rollout.status.reason})`;
        if (state.message !== message) {
          state = { ...state, message, updatedAt: clock.now() };
          store.putStageState(state);
        }
        return;
      }
      state = { ...state, serviceIndex: state.serviceIndex + 1, updatedAt: clock.now() };
      store.putStageState(state);
    }
    const now = clock.now();
    const healthy: ReleaseStageState = {
      ...state,
      phase: 'Healthy',
      reason: 'Healthy',
      message: `every service Healthy in ${stage.environment}`,
      healthyAt: now,
      updatedAt: now,
    };
    store.transaction(() => {
      store.putStageState(healthy);
      this.event(release, stage, { type: 'Normal', reason: 'Healthy', message: `Healthy in ${stage.name} (${stage.environment})` }, AUTO_ACTOR);
    });
  }

  /** A Healthy release fails later when a service's rollout aborts or degrades on its revision (the post-deploy watch). */
  private async watchHealthy(release: ReleaseRecord, stage: StageSpec, state: ReleaseStageState): Promise<void> {
    for (const deployed of Object.values(state.deployed)) {
      const rollout = this.deps.store.getRollout(deployed.rollout);
      const failure = rollout && failedOn(rollout, deployed.revision);
      if (failure) return this.fail(release, stage, state, 'RolloutFailed', failure);
    }
  }

  private async watchRestore(release: ReleaseRecord, stage: StageSpec, state: ReleaseStageState): Promise<void> {
    if (state.restoredAt !== undefined) return;
    const { store } = this.deps;
    const all = store.listRollouts();
    const rollouts = release.services.map((s) => rolloutFor(all, stage.environment, s.service));
    if (!rollouts.every((r) => typeof r !== 'string' && restored(r))) return;
    const now = this.deps.clock.now();
    store.transaction(() => {
      store.putStageState({
        ...state,
        restoredAt: now,
        message: `${state.message}; restored after ${Math.round((now - (state.failedAt ?? now)) / 1000)}s`,
        updatedAt: now,
      });
      this.event(release, stage, { type: 'Normal', reason: 'Restored', message: `${stage.environment} serves a Healthy revision again` }, AUTO_ACTOR);
    });
  }

  private fail(release: ReleaseRecord, stage: StageSpec, state: ReleaseStageState, reason: string, message: string): void {
    const now = this.deps.clock.now();
    this.deps.store.transaction(() => {
      this.deps.store.putStageState({ ...state, phase: 'Failed', reason, message, failedAt: now, updatedAt: now });
      this.event(release, stage, { type: 'Warning', reason: 'Failed', message: `${reason}: ${message}` }, AUTO_ACTOR);
    });
  }

  /** A release event, and the same news on each of the release's rollouts in that environment (their notifications send it). */
  private event(release: ReleaseRecord, stage: StageSpec, e: Omit<ReleaseEventDraft, 'stage'>, actor: string): void {
    const { store, clock } = this.deps;
    const now = clock.now();
    store.appendReleaseEvent(release.id, { ...e, stage: stage.name }, actor, now);
    mirrorOnRollouts(store, release, stage, e, actor, now);
  }
}

/** Release news on the rollouts of the stage's environment, as `Release<Reason>` events. */
export function mirrorOnRollouts(store: Store, release: ReleaseRecord, stage: StageSpec, e: Omit<ReleaseEventDraft, 'stage'>, actor: string, at: number): void {
  const all = store.listRollouts();
  for (const service of release.services) {
    const r = rolloutFor(all, stage.environment, service.service);
    if (typeof r === 'string') continue;
    store.appendEvent(r.name, { type: e.type, reason: `Release${e.reason}`, message: `release ${release.id} ${stage.name}: ${e.message}` }, actor, at);
  }
}

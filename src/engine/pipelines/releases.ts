/**
 * What users do with releases (issue 15): create one, approve or reject its entry into a
 * stage, withdraw that, promote it into a manual stage, tick a checklist item, and read it.
 * Every call checks its input against the stored pipeline and changes nothing when it is bad;
 * each change is a release event. The runner (runner.ts) does the moving.
 */
import type { Clock } from '../../core/clock.js';
import { approverRoles, type Principal } from '../../core/auth.js';
import type {
  ApprovalRecord,
  EnvironmentSpec,
  PipelineRecord,
  PipelineSpec,
  ReleaseEvent,
  ReleaseRecord,
  ReleaseService,
  ReleaseStageState,
  StageSpec,
} from '../../core/pipeline.js';
import type { Store } from '../../core/store.js';
import { NotFoundError, UserError } from '../../util/errors.js';
import { initialStageState, mirrorOnRollouts } from './runner.js';
import { rolloutFor } from './rollouts.js';

export const RELEASE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

export interface CreateReleaseInput {
  version: string;
  commit: string;
  /** When the commit was made (ms since the epoch). */
  commitAt?: number;
  notes?: string;
  pipeline?: string;
  /** Env changes (config) every service gets with the version; a service's own `env` wins. */
  env?: Record<string, string | null>;
  /** Per service overrides (another version, env changes); the rest get `version`. */
  services?: { service: string; version?: string; env?: Record<string, string | null> }[];
  hotfixOf?: string;
}

/** A release with where it is in each stage, its approvals and events. */
export interface ReleaseView {
  release: ReleaseRecord;
  pipeline: PipelineSpec;
  stages: ReleaseStageState[];
  approvals: ApprovalRecord[];
  events: ReleaseEvent[];
}

export class ReleaseController {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** Asks the runner for a pass (after a change). */
    private readonly trigger: () => void = () => {},
  ) {}

  /**
   * Checks pipelines against the environments known (stored, applied with them, or named by a
   * rollout): a stage naming an unknown one is refused with the file and line.
   */
  checkPipelines(pipelines: { spec: PipelineSpec; file: string; line: number }[], environments: Iterable<string>): void {
    const known = new Set(environments);
    for (const e of this.store.listEnvironments()) known.add(e.name);
    for (const r of this.store.listRollouts()) if (r.spec.environment) known.add(r.spec.environment);
    for (const p of pipelines) {
      for (const stage of p.spec.stages) {
        if (!known.has(stage.environment)) {
          throw new UserError(
            `${p.file}:${p.line}: pipeline ${p.spec.name}: stage ${stage.name} names environment "${stage.environment}", which is not known — ${
              known.size > 0 ? `known: ${[...known].sort().join(', ')}; ` : ''
            }apply a kind: Environment named ${stage.environment}, or a rollout with metadata.environment: ${stage.environment}`,
          );
        }
      }
    }
  }

  /** Inside the caller's transaction. */
  putResources(environments: { spec: EnvironmentSpec; source: string }[], pipelines: { spec: PipelineSpec; source: string }[]): void {
    for (const e of environments) this.store.putEnvironment({ name: e.spec.name, spec: e.spec, source: e.source });
    for (const p of pipelines) this.store.putPipeline({ name: p.spec.name, spec: p.spec, source: p.source });
    if (pipelines.length > 0) this.trigger();
  }

  create(input: CreateReleaseInput, by: Principal): ReleaseView {
    const version = input.version.trim();
    if (!RELEASE_ID_PATTERN.test(version)) {
      throw new UserError(`--version "${input.version}" is not a release version: 1 to 64 of letters, digits, . _ + - (e.g. v1.2.3)`);
    }
    const commit = input.commit.trim();
    if (!/^[0-9a-f]{4,64}$/i.test(commit)) throw new UserError(`--commit "${input.commit}" is not a commit id: 4 to 64 hex digits (git rev-parse HEAD)`);
    if (this.store.getRelease(version)) {
      throw new UserError(`release ${version} exists already — releases never change: make a new one with another --version`, 'conflict', 409);
    }
    const pipeline = this.pipelineFor(input.pipeline);
    const now = this.clock.now();
    if (input.commitAt !== undefined && !(Number.isFinite(input.commitAt) && input.commitAt > 0 && input.commitAt <= now + 60_000)) {
      throw new UserError('--commit-time must be a time in the past (ISO 8601, e.g. 2026-12-01T10:00:00Z)');
    }
    if (input.hotfixOf !== undefined && !this.store.getRelease(input.hotfixOf)) {
      throw new NotFoundError(`--hotfix-of ${input.hotfixOf}: no such release — \`sluice release list\` shows them`);
    }
    const services = this.servicesOf(pipeline.spec, version, input.services ?? [], input.env ?? {});
    const rollouts = this.store.listRollouts();
    for (const stage of pipeline.spec.stages) {
      for (const s of services) {
        const r = rolloutFor(rollouts, stage.environment, s.service);
        if (typeof r === 'string') throw new UserError(`pipeline ${pipeline.name} stage ${stage.name}: ${r}`, 'conflict', 409);
      }
    }
    const release: ReleaseRecord = {
      id: version,
      pipeline: pipeline.name,
      version,
      commit,
      ...(input.commitAt !== undefined ? { commitAt: input.commitAt } : {}),
      notes: input.notes ?? '',
      services,
      createdBy: by.user,
      createdAt: now,
      ...(input.hotfixOf !== undefined ? { hotfixOf: input.hotfixOf } : {}),
    };
    this.store.transaction(() => {
      this.store.addRelease(release);
      for (const stage of pipeline.spec.stages) this.store.putStageState(initialStageState(release.id, stage.name, now));
      this.store.appendReleaseEvent(
        release.id,
        {
          type: 'Normal',
          reason: 'Created',
          message: `release ${version} (${commit.slice(0, 12)}): ${services.map((s) => `${s.service} ${s.version}`).join(', ')}`,
        },
        by.user,
        now,
      );
    });
    this.trigger();
    return this.get(release.id);
  }

  list(pipeline?: string): ReleaseView[] {
    return this.store.listReleases(pipeline).map((r) => this.get(r.id));
  }

  get(id: string): ReleaseView {
    const release = this.release(id);
    const pipeline = this.pipelineFor(release.pipeline);
    const stored = this.store.listStageStates(id);
    const stages = pipeline.spec.stages.map((s) => stored.find((x) => x.stage === s.name) ?? initialStageState(id, s.name, release.createdAt));
    return { release, pipeline: pipeline.spec, stages, approvals: this.store.listApprovals(id), events: this.store.listReleaseEvents(id) };
  }

  /**
   * An approval (or rejection) of a release's entry into a stage, as one of the caller's
   * approver roles that the stage asks for (`role` picks one when the caller holds several;
   * an admin names the role it stands in for).
   */
  decide(id: string, stageName: string, decision: 'approve' | 'reject', options: { comment?: string; role?: string }, by: Principal): ApprovalRecord {
    const release = this.release(id);
    const stage = this.stage(release, stageName);
    if (stage.approvals.length === 0) {
      throw new UserError(`stage ${stage.name} of pipeline ${release.pipeline} asks for no approvals — nothing to ${decision}`, 'conflict', 409);
    }
    const asked = stage.approvals.map((a) => a.role);
    const admin = by.roles.includes('admin');
    const held = admin ? asked : approverRoles(by.roles).filter((r) => asked.includes(r));
    let role = options.role;
    if (role !== undefined && !held.includes(role)) {
      throw new UserError(
        asked.includes(role)
          ? `token "${by.user}" does not have role approver:${role} — ask an admin for a token with it`
          : `stage ${stage.name} asks for ${asked.join(', ')}, not "${role}"`,
        'forbidden',
        403,
      );
    }
    if (role === undefined) {
      if (held.length === 0) {
        throw new UserError(
          `stage ${stage.name} asks for approver:${asked.join(', approver:')}; token "${by.user}" has ${by.roles.join(', ') || 'no roles'} — ask an admin for a token with one of them`,
          'forbidden',
          403,
        );
      }
      if (held.length > 1) throw new UserError(`token "${by.user}" can ${decision} as ${held.join(', ')} — say which with --role`);
      role = held[0]!;
    }
    if (!stage.selfApproval && by.user === release.createdBy) {
      throw new UserError(
        `${by.user} created release ${release.id} and stage ${stage.name} forbids self-approval — another ${role} must ${decision} it`,
        'forbidden',
        403,
      );
    }
    const state = this.stateOf(release, stage);
    if (state.enteredAt !== undefined || state.phase === 'Superseded') {
      throw new UserError(`release ${release.id} is past the gate of ${stage.name} (${state.phase}) — nothing to ${decision}`, 'conflict', 409);
    }
    const mine = this.store
      .listApprovals(release.id)
      .filter((a) => a.stage === stage.name && a.user === by.user && a.role === role && a.withdrawnAt === undefined);
    if (mine.some((a) => a.decision === decision)) {
      throw new UserError(
        `${by.user} has already ${decision === 'approve' ? 'approved' : 'rejected'} release ${release.id} for ${stage.name} as ${role}`,
        'conflict',
        409,
      );
    }
    const now = this.clock.now();
    const comment = options.comment?.trim().slice(0, 1000);
    const record = this.store.transaction(() => {
      // Changing one's mind replaces the earlier decision.
      for (const a of mine) this.store.withdrawApproval(a.id, now);
      const a = this.store.addApproval({
        release: release.id,
        stage: stage.name,
        role,
        user: by.user,
        ...(by.tokenId !== undefined ? { tokenId: by.tokenId } : {}),
        decision,
        ...(comment ? { comment } : {}),
        at: now,
      });
      const e = {
        type: decision === 'approve' ? ('Normal' as const) : ('Warning' as const),
        reason: decision === 'approve' ? 'Approved' : 'RejectedBy',
        message: `${decision === 'approve' ? 'approved' : 'rejected'} for ${stage.name} by ${by.user} as ${role}${comment ? `: ${comment}` : ''}`,
      };
      this.store.appendReleaseEvent(release.id, { ...e, stage: stage.name }, by.user, now);
      mirrorOnRollouts(this.store, release, stage, e, by.user, now);
      return a;
    });
    this.trigger();
    return record;
  }

  /** The caller's standing approvals and rejections of the release for the stage stop counting. */
  withdraw(id: string, stageName: string, by: Principal): number {
    const release = this.release(id);
    const stage = this.stage(release, stageName);
    const state = this.stateOf(release, stage);
    if (state.enteredAt !== undefined) throw new UserError(`release ${release.id} already entered ${stage.name} — nothing to withdraw`, 'conflict', 409);
    const mine = this.store.listApprovals(release.id).filter((a) => a.stage === stage.name && a.user === by.user && a.withdrawnAt === undefined);
    if (mine.length === 0) throw new UserError(`${by.user} has no standing approval or rejection of release ${release.id} for ${stage.name}`, 'conflict', 409);
    const now = this.clock.now();
    this.store.transaction(() => {
      for (const a of mine) this.store.withdrawApproval(a.id, now);
      this.store.appendReleaseEvent(
        release.id,
        { stage: stage.name, type: 'Normal', reason: 'Withdrawn', message: `${by.user} withdrew ${mine.length} decision(s) for ${stage.name}` },
        by.user,
        now,
      );
    });
    this.trigger();
    return mine.length;
  }

  /** Asks for the release to enter a stage (a manual stage needs it; an auto one takes it as a go-ahead). Gates still apply. */
  promote(id: string, stageName: string, by: Principal): ReleaseStageState {
    const release = this.release(id);
    const stage = this.stage(release, stageName);
    const state = this.stateOf(release, stage);
    if (state.enteredAt !== undefined || state.phase === 'Superseded') {
      throw new UserError(`release ${release.id} is already ${state.phase} in ${stage.name} — nothing to promote`, 'conflict', 409);
    }
    const now = this.clock.now();
    const next = { ...state, promotedBy: by.user, updatedAt: now };
    this.store.transaction(() => {
      this.store.putStageState(next);
      this.store.appendReleaseEvent(
        release.id,
        { stage: stage.name, type: 'Normal', reason: 'PromoteAsked', message: `${by.user} asked for ${stage.name}` },
        by.user,
        now,
      );
    });
    this.trigger();
    return next;
  }

  /** Ticks a checklist item a person must confirm. */
  check(id: string, stageName: string, item: string, by: Principal): ReleaseStageState {
    const release = this.release(id);
    const stage = this.stage(release, stageName);
    const spec = stage.checklist.find((c) => c.name === item);
    if (!spec) {
      throw new UserError(
        `stage ${stage.name} has no checklist item "${item}"${stage.checklist.length ? ` — items: ${stage.checklist.map((c) => `"${c.name}"`).join(', ')}` : ''}`,
        'not-found',
        404,
      );
    }
    if (spec.check) throw new UserError(`"${item}" is checked by sluice itself (${spec.check}), not by hand`, 'conflict', 409);
    const state = this.stateOf(release, stage);
    if (state.enteredAt !== undefined) throw new UserError(`release ${release.id} already entered ${stage.name}`, 'conflict', 409);
    if (state.checked[item]) throw new UserError(`"${item}" was checked by ${state.checked[item]!.by} already`, 'conflict', 409);
    const now = this.clock.now();
    const next = { ...state, checked: { ...state.checked, [item]: { by: by.user, at: now } }, updatedAt: now };
    this.store.transaction(() => {
      this.store.putStageState(next);
      this.store.appendReleaseEvent(
        release.id,
        { stage: stage.name, type: 'Normal', reason: 'Checked', message: `${by.user} checked "${item}"` },
        by.user,
        now,
      );
    });
    this.trigger();
    return next;
  }

  private release(id: string): ReleaseRecord {
    const r = this.store.getRelease(id);
    if (!r) {
      const known = this.store
        .listReleases()
        .slice(-5)
        .map((x) => x.id);
      throw new NotFoundError(
        `release "${id}" not found — ${known.length ? `recent releases: ${known.join(', ')}` : 'none yet: `sluice release create --version V --commit SHA` makes one'}`,
      );
    }
    return r;
  }

  private pipelineFor(name?: string): PipelineRecord {
    const all = this.store.listPipelines();
    if (name === undefined) {
      if (all.length === 1) return all[0]!;
      throw new UserError(
        all.length === 0
          ? 'no pipeline yet — apply a kind: Pipeline (docs/pipelines.md)'
          : `there are ${all.length} pipelines (${all.map((p) => p.name).join(', ')}) — say which with --pipeline`,
      );
    }
    const p = all.find((x) => x.name === name);
    if (!p)
      throw new NotFoundError(`pipeline "${name}" not found — ${all.length ? `known: ${all.map((x) => x.name).join(', ')}` : 'apply a kind: Pipeline first'}`);
    return p;
  }

  private stage(release: ReleaseRecord, name: string): StageSpec {
    const spec = this.pipelineFor(release.pipeline).spec;
    const stage = spec.stages.find((s) => s.name === name);
    if (!stage) throw new NotFoundError(`pipeline ${release.pipeline} has no stage "${name}" — stages: ${spec.stages.map((s) => s.name).join(', ')}`);
    return stage;
  }

  private stateOf(release: ReleaseRecord, stage: StageSpec): ReleaseStageState {
    return this.store.listStageStates(release.id).find((s) => s.stage === stage.name) ?? initialStageState(release.id, stage.name, this.clock.now());
  }

  private servicesOf(
    pipeline: PipelineSpec,
    version: string,
    overrides: NonNullable<CreateReleaseInput['services']>,
    env: Record<string, string | null>,
  ): ReleaseService[] {
    for (const key of Object.keys(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UserError(`--config ${key}: not a valid environment variable name (letters, digits, _)`);
    }
    for (const o of overrides) {
      if (!pipeline.services.includes(o.service)) {
        throw new UserError(`service "${o.service}" is not in pipeline ${pipeline.name} — its services: ${pipeline.services.join(', ')}`);
      }
      if (o.version !== undefined && !RELEASE_ID_PATTERN.test(o.version)) throw new UserError(`service ${o.service}: version "${o.version}" is not a version`);
      for (const key of Object.keys(o.env ?? {})) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UserError(`service ${o.service}: env ${key} is not a valid environment variable name`);
      }
    }
    return pipeline.services.map((service) => {
      const o = overrides.find((x) => x.service === service);
      return { service, version: o?.version ?? version, env: { ...env, ...(o?.env ?? {}) } };
    });
  }
}

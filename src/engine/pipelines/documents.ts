/**
 * The documents of a release, built from the store: the deployment request approvers read
 * (per stage), the post-deploy report, the post-mortem skeleton after a failure, the
 * deployment log and the DORA metrics. Gathers the facts (src/engine side: rollouts, their
 * events, migrations); the pure renderers in src/pipelines/ write them.
 */
import type { ApprovalRecord, ReleaseRecord, StageSpec } from '../../core/pipeline.js';
import type { Clock } from '../../core/clock.js';
import type { DatabaseSpec } from '../../core/database.js';
import type { RolloutRecord } from '../../core/rollout.js';
import type { Strategy } from '../../core/spec.js';
import type { Store } from '../../core/store.js';
import { UserError } from '../../util/errors.js';
import { computeDora, type DoraReport } from '../../pipelines/dora.js';
import {
  deploymentLog,
  renderDeploymentRequest,
  renderPostDeployReport,
  renderPostMortem,
  type DeploymentLogRow,
  type ReleaseFacts,
  type ServiceFacts,
} from '../../pipelines/reports.js';
import { gateOfWindows } from '../../pipelines/window.js';
import { rolloutFor } from './rollouts.js';

/** A migration of a service's database as the request shows it: its phases and lint classes. */
export interface MigrationFact {
  name: string;
  phases: string[];
  lintClasses: string[];
}

export interface DocumentsDeps {
  store: Store;
  clock: Clock;
  /** The migrations of a rollout's database with their lint classes (the daemon lints the folder); none without it. */
  migrations?(database: DatabaseSpec): Promise<MigrationFact[]>;
}

/** A pending or given approval as `sluice get approvals` lists it. */
export interface ApprovalRow {
  release: string;
  stage: string;
  role: string;
  count: number;
  blocking: boolean;
  /** Users whose approval stands (not withdrawn). */
  approvedBy: string[];
  rejectedBy: string[];
  /** Whether the release still waits at that stage's gate. */
  pending: boolean;
}

export class ReleaseDocuments {
  constructor(private readonly deps: DocumentsDeps) {}

  async request(id: string, stage: string): Promise<string> {
    return renderDeploymentRequest(await this.facts(id, stage));
  }

  async report(id: string, stage: string): Promise<string> {
    return renderPostDeployReport(await this.facts(id, stage));
  }

  async postmortem(id: string, stage: string): Promise<string> {
    return renderPostMortem(await this.facts(id, stage));
  }

  deploymentLog(environment?: string): DeploymentLogRow[] {
    const { store } = this.deps;
    return deploymentLog({
      releases: store.listReleases(),
      states: store.listStageStates(),
      events: store.listReleaseEvents(),
      pipelines: store.listPipelines(),
      ...(environment !== undefined ? { environment } : {}),
    });
  }

  kpis(options: { since: number; until: number; environment?: string }): DoraReport {
    const { store } = this.deps;
    return computeDora({ releases: store.listReleases(), states: store.listStageStates(), pipelines: store.listPipelines(), ...options });
  }

  /** Every approval rule of every release's stages, with who approved or rejected (newest release first). */
  approvals(release?: string): ApprovalRow[] {
    const { store } = this.deps;
    const pipelines = new Map(store.listPipelines().map((p) => [p.name, p.spec]));
    const rows: ApprovalRow[] = [];
    const releases = store.listReleases().filter((r) => release === undefined || r.id === release);
    if (release !== undefined && releases.length === 0) throw unknownRelease(release);
    for (const r of releases.reverse()) {
      const states = store.listStageStates(r.id);
      const standing = store.listApprovals(r.id).filter((a) => a.withdrawnAt === undefined);
      for (const stage of pipelines.get(r.pipeline)?.stages ?? []) {
        const state = states.find((s) => s.stage === stage.name);
        const pending = state === undefined || (state.enteredAt === undefined && state.phase !== 'Superseded' && state.phase !== 'Rejected');
        for (const rule of stage.approvals) {
          const mine = standing.filter((a) => a.stage === stage.name && a.role === rule.role);
          rows.push({
            release: r.id,
            stage: stage.name,
            role: rule.role,
            count: rule.count,
            blocking: rule.blocking,
            approvedBy: users(mine, 'approve'),
            rejectedBy: users(mine, 'reject'),
            pending,
          });
        }
      }
    }
    return rows;
  }

  private async facts(id: string, stageName: string): Promise<ReleaseFacts> {
    const { store, clock } = this.deps;
    const release = store.getRelease(id);
    if (!release) throw unknownRelease(id);
    const pipeline = store.listPipelines().find((p) => p.name === release.pipeline);
    if (!pipeline) throw new UserError(`release ${id} belongs to pipeline ${release.pipeline}, which is no longer applied`, 'not-found', 404);
    const stage = pipeline.spec.stages.find((s) => s.name === stageName);
    if (!stage) {
      throw new UserError(
        `pipeline ${pipeline.name} has no stage "${stageName}" — stages: ${pipeline.spec.stages.map((s) => s.name).join(', ')}`,
        'not-found',
        404,
      );
    }
    const state = store.listStageStates(id).find((s) => s.stage === stage.name);
    const now = clock.now();
    const gate = gateOfWindows(stage.windows, stage.freezes, now);
    const services: ServiceFacts[] = [];
    for (const s of release.services) services.push(await this.serviceFacts(release, stage, s.service, s.version, state?.deployed[s.service]?.revision));
    return {
      release,
      pipeline: pipeline.spec,
      stage,
      ...(state !== undefined ? { state } : {}),
      approvals: store.listApprovals(id).filter((a) => a.stage === stage.name),
      events: store.listReleaseEvents(id),
      services,
      ...(gate.open ? {} : { windowMessage: gate.message }),
      now,
    };
  }

  private async serviceFacts(release: ReleaseRecord, stage: StageSpec, service: string, version: string, revision?: number): Promise<ServiceFacts> {
    const { store } = this.deps;
    const found = rolloutFor(store.listRollouts(), stage.environment, service);
    if (typeof found === 'string') {
      return {
        service,
        rollout: '—',
        environment: stage.environment,
        toVersion: version,
        strategy: found,
        steps: [],
        migrations: [],
        rollbackPlan: found,
        expectedDowntime: 'unknown',
        events: [],
        analysis: [],
      };
    }
    const r: RolloutRecord = found;
    const revisions = store.listRevisions(r.name);
    const stable = revisions.find((x) => x.number === r.status.stableRevision && x.number !== revision);
    const since = release.createdAt;
    const events = store
      .listEvents(r.name)
      .filter((e) => e.at >= since && (revision === undefined || e.revision === undefined || e.revision === revision))
      .map((e) => ({ at: e.at, type: e.type, reason: e.reason, message: e.message, actor: e.actor }));
    const migrations = r.spec.database && this.deps.migrations ? await this.deps.migrations(r.spec.database).catch(() => []) : [];
    return {
      service,
      rollout: r.name,
      environment: stage.environment,
      ...(stable !== undefined ? { fromVersion: stable.template.version } : {}),
      toVersion: version,
      strategy: describeStrategy(r.spec.strategy),
      steps: stepsOf(r.spec.strategy),
      migrations,
      rollbackPlan: stable
        ? `sluice abort ${r.name} (or undo to revision ${stable.number}, ${stable.template.version}); traffic returns to the stable revision at once${migrations.some((m) => m.lintClasses.includes('contract')) ? '; contract migrations cannot be undone — restore the pre-release backup' : ''}`
        : `first release of ${r.name}: nothing to roll back to — sluice delete ${r.name} stops it`,
      rollbackEstimateSeconds: r.spec.strategy.type === 'recreate' ? r.spec.progressDeadlineSeconds : 5,
      expectedDowntime:
        r.spec.strategy.type === 'recreate'
          ? 'yes: the old version stops before the new one is ready (maintenance page)'
          : 'none: both versions serve during the switch',
      ...(watchOf(r.spec.strategy) ? { watch: watchOf(r.spec.strategy)! } : {}),
      events,
      analysis: events
        .filter((e) => /Analysis|Measurement|Watch|Smoke/.test(e.reason))
        .map((e) => ({ at: e.at, metric: e.reason, verdict: e.type === 'Warning' ? 'Failed' : 'Successful' })),
    };
  }
}

function users(approvals: ApprovalRecord[], decision: 'approve' | 'reject'): string[] {
  return [...new Set(approvals.filter((a) => a.decision === decision).map((a) => a.user))];
}

const unknownRelease = (id: string) => new UserError(`no release "${id}" — see \`sluice release list\``, 'not-found', 404);

function describeStrategy(s: Strategy): string {
  switch (s.type) {
    case 'canary':
      return `canary ${s.steps.flatMap((x) => ('setWeight' in x ? [`${x.setWeight}%`] : [])).join(' → ') || '(no weights)'}${s.analysis ? ', background analysis' : ''}`;
    case 'blueGreen':
      return 'blue-green: the new revision starts beside the old, then traffic switches at once';
    case 'rolling':
      return 'rolling: instances replaced in batches';
    case 'recreate':
      return 'recreate: the old version stops, then the new one starts';
    default:
      return s.type;
  }
}

function stepsOf(s: Strategy): string[] {
  if (s.type !== 'canary') return [];
  return s.steps.map((x) => {
    if ('setWeight' in x) return `send ${x.setWeight}% of traffic to the new version`;
    if ('pause' in x) return x.pause.duration !== undefined ? `pause ${x.pause.duration}s` : 'pause until promoted';
    if ('analysis' in x) return `analysis ${x.analysis.templates.map((t) => t.templateName).join(', ')}`;
    if ('approval' in x) return 'wait for sluice approve';
    return Object.keys(x)[0]!;
  });
}

function watchOf(s: Strategy): string | undefined {
  const w = 'postDeploy' in s ? s.postDeploy : undefined;
  if (!w) return undefined;
  return `every ${w.interval}s for ${w.duration}s: roll back at once above ${w.immediate.errorRate * 100}% errors or p95 ${w.immediate.p95}s; at the end averages under ${w.average.errorRate * 100}% errors and p95 ${w.average.p95}s`;
}

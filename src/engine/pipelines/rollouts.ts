/**
 * What the pipeline reads of rollouts: which rollout runs a service in an environment, whether
 * it is Healthy on a revision, and sluice's own answers to a stage's automatic checklist items.
 */
import type { RolloutRecord } from '../../core/rollout.js';
import type { AutoCheck } from '../../pipelines/gates.js';
import type { ChecklistItem, StageSpec } from '../../core/pipeline.js';
import type { Store } from '../../core/store.js';

export const serviceOf = (r: RolloutRecord): string => r.spec.service ?? r.spec.name;

/** The rollouts of `service` in `environment` (one is expected; the caller says what zero or two mean). */
export function rolloutsOf(rollouts: readonly RolloutRecord[], environment: string, service: string): RolloutRecord[] {
  return rollouts.filter((r) => r.spec.environment === environment && serviceOf(r) === service);
}

/** The one rollout of a service in an environment, or a one-line reason why there is not exactly one. */
export function rolloutFor(rollouts: readonly RolloutRecord[], environment: string, service: string): RolloutRecord | string {
  const found = rolloutsOf(rollouts, environment, service);
  if (found.length === 1) return found[0]!;
  if (found.length === 0) {
    return `no rollout runs service ${service} in environment ${environment} — apply one with metadata: {environment: ${environment}, service: ${service}}`;
  }
  return `rollouts ${found.map((r) => r.name).join(' and ')} both run service ${service} in environment ${environment} — keep one (metadata.service tells them apart)`;
}

/** Released and settled on `revision`: stable, current and Healthy. */
export function healthyOn(r: RolloutRecord, revision: number): boolean {
  const s = r.status;
  return s.phase === 'Healthy' && s.currentRevision === revision && s.stableRevision === revision && !s.aborted;
}

/** The release on `revision` failed: aborted (rolled back) or degraded. */
export function failedOn(r: RolloutRecord, revision: number): string | undefined {
  const s = r.status;
  if (s.currentRevision !== revision) return undefined;
  if (s.aborted) return `rollout ${r.name} aborted revision ${revision}: ${s.message || s.reason}`;
  if (s.phase === 'Degraded') return `rollout ${r.name} is Degraded on revision ${revision}: ${s.message || s.reason}`;
  return undefined;
}

/**
 * Serving users well again after a failure: Healthy, or aborted with every request back on a
 * stable revision (the rollback finished). A first release that failed has no such revision.
 */
export function restored(r: RolloutRecord): boolean {
  const s = r.status;
  if (s.phase === 'Healthy' && !s.aborted) return true;
  return s.aborted && s.stableRevision !== null && s.weights.length === 1 && s.weights[0]!.revision === s.stableRevision && s.weights[0]!.weight === 100;
}

function measures(r: RolloutRecord): boolean {
  // Any analysis of the strategy (steps, background, pre/post promotion) or a post-deploy watch.
  const walk = (v: unknown): boolean =>
    v !== null && typeof v === 'object' && Object.entries(v as object).some(([k, x]) => ((k === 'analysis' || k === 'postDeploy') && x != null) || walk(x));
  return walk(r.spec.strategy);
}

/** sluice's answer to each automatic checklist item of `stage`, over the release's services' rollouts there. */
export function autoChecks(store: Store, stage: StageSpec, services: readonly string[]): Partial<Record<NonNullable<ChecklistItem['check']>, AutoCheck>> {
  const all = store.listRollouts();
  const rollouts = services.map((s) => rolloutFor(all, stage.environment, s)).filter((r): r is RolloutRecord => typeof r !== 'string');
  const answer = (bad: RolloutRecord[], why: string): AutoCheck => (bad.length === 0 ? true : `${why}: ${bad.map((r) => r.name).join(', ')}`);
  const out: Partial<Record<NonNullable<ChecklistItem['check']>, AutoCheck>> = {};
  for (const item of stage.checklist) {
    switch (item.check) {
      case 'database-backup':
        out[item.check] = answer(
          rollouts.filter((r) => r.spec.database !== undefined && !r.spec.database.backups.enabled),
          'spec.database.backups.enabled is false',
        );
        break;
      case 'rollback-plan':
        out[item.check] = answer(
          rollouts.filter((r) => r.status.stableRevision === null && store.listRevisions(r.name).length > 1),
          'no stable revision to go back to',
        );
        break;
      case 'analysis':
        out[item.check] = answer(
          rollouts.filter((r) => !measures(r)),
          'no analysis or postDeploy watch',
        );
        break;
      case 'smoke-tests':
        out[item.check] = answer(
          rollouts.filter((r) => r.spec.smokeTests.length === 0),
          'no smokeTests',
        );
        break;
      case undefined:
        break;
    }
  }
  return out;
}

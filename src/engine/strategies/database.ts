import type { MigrationPhase, MigrationRef } from '../../core/database.js';
import type { JobSpec, JobStatus } from '../../core/jobs.js';
import type { Phase, RolloutStatus } from '../../core/rollout.js';
import type { RolloutSpec } from '../../core/spec.js';
import type { PlanInput, RevisionObservation } from './planner.js';

/** What these phases use of a planning pass (common.ts's PlanContext, which calls them). */
export interface PlanContext {
  readonly spec: RolloutSpec;
  readonly status: RolloutStatus;
  readonly input: PlanInput;
  readonly now: number;
  readonly replicas: number;
  job(where: string, title: string, spec: JobSpec): JobStatus | undefined;
  /** A job's status without asking for it. */
  jobStatus(where: string): JobStatus | undefined;
  outcome(job: JobStatus | undefined, title: string): 'pass' | 'wait' | 'stopped';
  phase(phase: Phase, reason: string, message: string): void;
  observed(revision: number | null | undefined): RevisionObservation;
  others(...except: (number | null | undefined)[]): RevisionObservation[];
  wake(at: number | undefined): void;
}

/**
 * The database side of a release (core/database.ts, docs/migrations.md), planned like any
 * other job: pure, keyed by revision and attempt, so each phase runs once per attempt and
 * a restarted control plane knows where it was.
 *
 * Before the new revision starts: contract what the previous release left behind (when
 * `contractAfter: next-release` and the new revision still has those migrations), expand,
 * check the stable revision against the new schema, backfill. While any of it runs, the
 * stable revision keeps all traffic and no new instance starts.
 */
export function databaseBeforeRelease(ctx: PlanContext): 'pass' | 'wait' | 'stopped' {
  const db = ctx.spec.database;
  const current = ctx.input.schema?.current ?? [];
  if (!db || current.length === 0) return 'pass';
  const s = ctx.status;
  const stableRefs = ctx.input.schema?.stable ?? [];
  if (s.stableRevision !== null && 'nextRelease' in db.contractAfter) {
    // Only migrations the new revision was built with: an undo to an older revision never contracts what it needs.
    const known = new Set(current.map((m) => `${m.id}:${m.checksum}`));
    const both = stableRefs.filter((m) => known.has(`${m.id}:${m.checksum}`));
    // An older revision still up (blue-green's warm one) may come back at once: its schema
    // stays until it is gone, and then until the next release (decided once, as the release starts).
    const asked = ctx.jobStatus('database.contract') !== undefined;
    const starting = ctx.jobStatus('database.expand') === undefined;
    if (both.length > 0 && (asked || (starting && ctx.others(s.stableRevision, s.currentRevision).length === 0))) {
      const r = phase(ctx, 'contract', both, `database contract of revision ${s.stableRevision}'s migrations (the rollback window ended with this release)`);
      if (r !== 'pass') return r;
    }
  }
  const expand = phase(ctx, 'expand', current, 'database expand');
  if (expand !== 'pass') return expand;
  if (s.stableRevision !== null && db.verifyStable) {
    const verified = stableAgainstNewSchema(ctx);
    if (verified !== 'pass') return verified;
  }
  return phase(ctx, 'migrate', current, 'database backfill');
}

/** Whether this attempt's expand and backfill are done (true without a database). */
export function databaseReady(ctx: PlanContext): boolean {
  if (!ctx.spec.database || (ctx.input.schema?.current ?? []).length === 0) return true;
  return ctx.jobStatus('database.expand')?.phase === 'Successful' && ctx.jobStatus('database.migrate')?.phase === 'Successful';
}

/**
 * With `contractAfter: {duration}`: once the stable revision has served alone for that
 * long (no instance of another revision left), its migrations' contract runs. A failure is
 * reported on the job and retried by the next release; it never moves traffic.
 */
export function contractWhenDue(ctx: PlanContext): void {
  const db = ctx.spec.database;
  const s = ctx.status;
  const refs = ctx.input.schema?.current ?? [];
  if (!db || 'nextRelease' in db.contractAfter || refs.length === 0 || s.stableRevision !== s.currentRevision) return;
  const since = s.stableSince;
  if (since === undefined) return;
  const due = since + db.contractAfter.seconds * 1000;
  if (ctx.now < due) {
    ctx.wake(due);
    return;
  }
  if (ctx.others(s.stableRevision).length > 0) return;
  ctx.job('database.contract', 'database contract (rollback window over)', { kind: 'migration', migration: jobSpec(ctx, 'contract', refs) });
}

function phase(ctx: PlanContext, p: MigrationPhase, refs: MigrationRef[], title: string): 'pass' | 'wait' | 'stopped' {
  const job = ctx.job(`database.${p}`, title, { kind: 'migration', migration: jobSpec(ctx, p, refs) });
  const r = ctx.outcome(job, title);
  if (r === 'wait') ctx.phase('Progressing', 'Migrating', `${title}: ${job?.message || 'starting'}`);
  return r;
}

function jobSpec(ctx: PlanContext, p: MigrationPhase, refs: MigrationRef[]) {
  return { phase: p, rollout: ctx.spec.name, revision: ctx.status.currentRevision, database: ctx.spec.database!, migrations: refs };
}

/** The stable revision still works on the expanded schema: its instances stay ready and its smoke tests pass. */
function stableAgainstNewSchema(ctx: PlanContext): 'pass' | 'wait' | 'stopped' {
  const stable = ctx.status.stableRevision as number;
  // Checked once, before the backfill: later in the release the strategy itself scales stable down.
  if (ctx.jobStatus('database.migrate') !== undefined) return 'pass';
  const o = ctx.observed(stable);
  if (o.ready < Math.min(ctx.replicas, Math.max(o.total, 1))) {
    ctx.phase('Progressing', 'Migrating', `stable revision ${stable} against the new schema: ${o.ready}/${ctx.replicas} ready`);
    return 'wait';
  }
  const main = ctx.spec.traffic.listen;
  for (const smoke of ctx.spec.smokeTests) {
    const title = `stable revision ${stable} against the new schema: smoke test "${smoke.name}"`;
    const r = ctx.outcome(ctx.job(`database.verify/smoke.${smoke.name}`, title, { kind: 'smoke', smoke, baseUrl: `http://${main}` }), title);
    if (r !== 'pass') return r;
  }
  return 'pass';
}

import type { ShadowStrategy } from '../../core/spec.js';
import { only, planRelease, promoteTo, type PlanContext } from './common.js';
import { mirrorRoute } from './canary.js';
import type { Planner } from './planner.js';
import { decidedByMetrics } from '../../analysis/evaluate.js';

/**
 * Shadow release (a dark launch): the new revision runs beside stable and receives copies
 * of live requests while every client is answered by stable; the router compares the two
 * answers (see MirrorRoute). After `durationSeconds` with no failed analysis — or on
 * `sluice promote` when no duration is set, or once a finite analysis passed when
 * `promoteOnAnalysisSuccess` is set — it is scaled up and takes all traffic at once, like
 * a blue-green switch. A failing analysis aborts: the copies stop and the
 * shadow revision goes away; no client ever saw it.
 */
function shadowRelease(ctx: PlanContext): void {
  const st = ctx.spec.strategy as ShadowStrategy;
  const s = ctx.status;
  const stable = s.stableRevision as number;
  const shadow = s.currentRevision;
  const shadowScale = Math.min(st.shadowReplicas ?? ctx.replicas, ctx.replicas);
  const o = ctx.observed(shadow);
  ctx.scale.set(stable, ctx.replicas);
  // A newer revision (or a new attempt) shadowing starts its own clock: copies, duration, "copied … for".
  const shadowKey = `r${shadow}a${s.attempt ?? 0}`;
  if (s.shadowSince !== undefined && s.shadowOf !== undefined && s.shadowOf !== shadowKey) s.shadowSince = undefined;

  if (!s.promoteFull) {
    ctx.scale.set(shadow, shadowScale);
    ctx.routes = { main: only(stable), preview: only(shadow), canary: [] };
    if (s.shadowSince === undefined && o.available < shadowScale) {
      ctx.phase('Progressing', 'ShadowStarting', `starting the shadow revision ${shadow}: ${o.available}/${shadowScale} available`);
      return;
    }
    ctx.routes.mirrors = [mirrorRoute(st.mirror, shadow)];
    if (s.shadowSince === undefined) {
      s.shadowSince = ctx.now;
      s.shadowOf = shadowKey;
      ctx.event(
        'Normal',
        'ShadowStarted',
        `copying ${st.mirror.percentage}% of requests to revision ${shadow}; clients are answered by revision ${stable}`,
        shadow,
      );
    }
    if (st.analysis) {
      const { job, onFailure } = ctx.analysis('shadow.analysis', 'shadow analysis', st.analysis);
      const r = ctx.outcome(job, 'shadow analysis', onFailure);
      if (r === 'stopped') return;
      // Promoting is a person's (or the duration's) decision unless the spec hands it to the
      // analysis; a run of dry-run metrics only informs and never counts as that pass.
      if (r === 'pass' && st.promoteOnAnalysisSuccess && job?.metrics && decidedByMetrics(job.metrics)) {
        ctx.event(
          'Normal',
          'ShadowAnalysisPassed',
          `shadow analysis passed (${job.message}); promoteOnAnalysisSuccess switches traffic to revision ${shadow}`,
          shadow,
        );
        s.promoteFull = true;
      }
    }
    if (!s.promoteFull) {
      const copying = `revision ${shadow} receives copies of ${st.mirror.percentage}% of requests (${o.available}/${shadowScale} instances available)`;
      if (st.durationSeconds === undefined) {
        ctx.phase('Paused', 'Shadowing', `${copying}; \`sluice promote ${ctx.spec.name}\` switches traffic to it`);
        return;
      }
      const until = s.shadowSince + st.durationSeconds * 1000;
      if (ctx.now < until) {
        ctx.wake(until);
        ctx.phase('Progressing', 'Shadowing', `${copying}; switches in ${Math.ceil((until - ctx.now) / 1000)}s`);
        return;
      }
      ctx.event('Normal', 'ShadowCompleted', `shadowed for ${st.durationSeconds}s without a failed check`, shadow);
      s.promoteFull = true;
    }
  }

  // Switch: the shadow revision gets its full scale first, then all traffic.
  promoteTo(
    ctx,
    shadow,
    { main: only(stable), preview: only(shadow), canary: [] },
    shadowScale,
    `revision ${shadow} promoted after shadowing: it serves all traffic`,
  );
}

export const planShadow: Planner = (input) => planRelease(input, shadowRelease);

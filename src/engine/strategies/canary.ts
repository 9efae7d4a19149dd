import type { CanaryStep, CanaryStrategy, HeaderMatch, MirrorRouteSpec, TrafficRoute } from '../../core/spec.js';
import type { MatchRule, MirrorRoute } from '../../core/route-table.js';
import { only, planRelease, promoteTo, split, type PlanContext } from './common.js';
import type { Planner } from './planner.js';
import { isDone } from '../../core/jobs.js';

/** Weight and canary instance count in effect while step `index` runs (the step included). */
export function canaryStateAt(steps: CanaryStep[], index: number, replicas: number): { weight: number; scale: number } {
  let weight = 0;
  let fixed: { replicas?: number; weight?: number } | undefined;
  let headerRoutes = new Set<string>();
  for (let i = 0; i <= Math.min(index, steps.length - 1); i++) {
    const step = steps[i];
    if ('setHeaderRoute' in step) {
      headerRoutes = new Set(headerRoutes);
      if (step.setHeaderRoute.match) headerRoutes.add(step.setHeaderRoute.name);
      else headerRoutes.delete(step.setHeaderRoute.name);
    }
    if ('setMirrorRoute' in step) {
      headerRoutes = new Set(headerRoutes);
      const key = `mirror:${step.setMirrorRoute.name}`;
      if (step.setMirrorRoute.match) headerRoutes.add(key);
      else headerRoutes.delete(key);
    }
    if ('setWeight' in step) weight = step.setWeight;
    else if ('setCanaryScale' in step) fixed = step.setCanaryScale.matchTrafficWeight ? undefined : step.setCanaryScale;
  }
  const pct = (w: number) => (w <= 0 ? 0 : Math.max(1, Math.ceil((replicas * w) / 100)));
  // A header or mirror route needs at least one canary instance to send its requests to.
  const scale = fixed?.replicas ?? Math.max(pct(fixed?.weight ?? weight), headerRoutes.size > 0 ? 1 : 0);
  return { weight, scale };
}

function describe(step: CanaryStep): string {
  if ('setWeight' in step) return `setWeight ${step.setWeight}%`;
  if ('pause' in step) return step.pause.duration === undefined ? 'pause until promoted' : `pause ${step.pause.duration}s`;
  if ('approval' in step) return 'approval';
  if ('setHeaderRoute' in step) return `setHeaderRoute ${step.setHeaderRoute.name}${step.setHeaderRoute.match ? '' : ' (removed)'}`;
  if ('setMirrorRoute' in step)
    return `setMirrorRoute ${step.setMirrorRoute.name}${step.setMirrorRoute.match ? ` ${step.setMirrorRoute.percentage}%` : ' (removed)'}`;
  if ('analysis' in step)
    return `analysis (${[...step.analysis.templates.map((t) => t.templateName), ...step.analysis.metrics.map((m) => m.name)].join(', ')})`;
  if ('setFlag' in step) return `setFlag ${step.setFlag.flag} ${step.setFlag.percentage}%`;
  const c = step.setCanaryScale;
  return `setCanaryScale ${c.replicas !== undefined ? `${c.replicas} replicas` : c.weight !== undefined ? `${c.weight}%` : 'matchTrafficWeight'}`;
}

/**
 * Argo Rollouts' canary with traffic routing: the stable revision keeps its full scale,
 * the canary is scaled to its share, and the router gives it exactly the step's weight.
 * A step that sets weight or scale completes once the canary has that many available
 * instances; a pause completes at its deadline or on promote.
 */
function canaryRelease(ctx: PlanContext): void {
  const strategy = ctx.spec.strategy as CanaryStrategy;
  const steps = strategy.steps;
  const s = ctx.status;
  const stable = s.stableRevision as number;
  const canary = s.currentRevision;
  const n = steps.length;
  const held = Boolean(ctx.pausedBy('Manual'));

  // Weight to route while a weight step waits for its instances, gates or smoke tests.
  let holdWeight: number | undefined;
  let blocked = false;
  while (!held && !s.promoteFull && s.stepIndex < n) {
    const i = s.stepIndex;
    const step = steps[i];
    const where = `step${i}`;
    if ('pause' in step) {
      ctx.addPause('CanaryPauseStep', step.pause.duration);
      const until = ctx.pausedBy('CanaryPauseStep')?.until;
      if (until === undefined || ctx.now < until) {
        ctx.wake(until);
        break;
      }
      ctx.clearPause('CanaryPauseStep');
    } else if ('setHeaderRoute' in step) {
      const { name, match } = step.setHeaderRoute;
      const others = (s.headerRoutes ?? []).filter((r) => r.name !== name);
      s.headerRoutes = match ? [...others, { name, match }] : others;
      // The step is done once the canary can answer the routed requests.
      if (ctx.observed(canary).available < canaryStateAt(steps, i, ctx.replicas).scale) break;
    } else if ('setMirrorRoute' in step) {
      const route = step.setMirrorRoute;
      const others = (s.mirrorRoutes ?? []).filter((r) => r.name !== route.name);
      s.mirrorRoutes = route.match ? [...others, route] : others;
      if (ctx.observed(canary).available < canaryStateAt(steps, i, ctx.replicas).scale) break;
    } else if ('approval' in step) {
      const job = ctx.job(`${where}.approval`, `approval at step ${i + 1}/${n}`, { kind: 'approval', gate: where });
      if (job?.phase !== 'Successful') {
        ctx.phase('Paused', 'WaitingForApproval', `step ${i + 1}/${n}: waiting for \`sluice approve ${ctx.spec.name}\``);
        blocked = true;
        break;
      }
    } else if ('setFlag' in step) {
      // Asked for in the plan that moves past the step: the saved stepIndex records it done.
      const { flag, percentage } = step.setFlag;
      ctx.flagActions.push({ flag, percentage, why: `rollout ${ctx.spec.name} step ${i + 1}/${n}` });
    } else if ('analysis' in step) {
      const { job, onFailure } = ctx.analysis(`${where}.analysis`, `analysis at step ${i + 1}/${n}`, step.analysis);
      if (ctx.outcome(job, `analysis at step ${i + 1}/${n}`, onFailure) !== 'pass') {
        blocked = true;
        break;
      }
    } else {
      const target = canaryStateAt(steps, i, ctx.replicas);
      const before = i > 0 ? canaryStateAt(steps, i - 1, ctx.replicas).weight : 0;
      if (ctx.observed(canary).available < target.scale) {
        holdWeight = before;
        break;
      }
      const raises = 'setWeight' in step && step.setWeight > before;
      const checks = [
        () => (raises && before === 0 ? ctx.smokeTests('canary', where) : 'pass'),
        () => (raises ? ctx.hooks('confirm-traffic-increase', where) : 'pass'),
        () => ctx.hooks('rollout', where),
      ];
      if (checks.some((check) => check() !== 'pass')) {
        holdWeight = before;
        blocked = true;
        break;
      }
    }
    ctx.event('Normal', 'StepCompleted', `step ${i + 1}/${n} done: ${describe(step)}`, canary);
    s.stepIndex++;
  }
  if (s.aborted) return;

  const background = strategy.analysis;
  if (background && s.stepIndex >= background.startingStep) {
    const { job, onFailure } = ctx.analysis(`background.${s.analysisRound ?? 0}`, 'background analysis', background);
    if (job && isDone(job.phase) && job.phase !== 'Successful' && ctx.outcome(job, 'background analysis', onFailure) !== 'pass') {
      if (s.aborted) return;
      blocked = true;
    }
  }

  const { weight: stepWeight, scale: stepScale } = canaryStateAt(steps, s.stepIndex, ctx.replicas);
  // The spec's traffic.routes may send testers to the canary at any weight: it needs an instance.
  const scale = Math.max(stepScale, routesReachCanary(ctx.spec.traffic.routes) ? 1 : 0);
  const weight = holdWeight ?? stepWeight;
  const o = ctx.observed(canary);
  ctx.scale.set(stable, ctx.replicas);

  if (!blocked && (s.promoteFull || s.stepIndex >= n)) {
    const holding = {
      main: split(stable, canary, weight),
      preview: only(stable),
      canary: only(canary),
      rules: headerRules(s.headerRoutes, canary),
      mirrors: mirrorRoutes(s.mirrorRoutes, canary),
    };
    const skipped = s.stepIndex;
    promoteTo(ctx, canary, holding, scale, `revision ${canary} promoted: it serves all traffic`);
    // A full promotion skipped steps: their flags end where the last step would have set them.
    if (s.stableRevision === canary) {
      const last = new Map<string, number>();
      for (let i = skipped; i < n; i++) {
        const step = steps[i];
        if ('setFlag' in step) last.set(step.setFlag.flag, step.setFlag.percentage);
      }
      for (const [flag, percentage] of last) ctx.flagActions.push({ flag, percentage, why: `rollout ${ctx.spec.name} promoted in full` });
    }
    return;
  }

  ctx.scale.set(canary, scale);
  ctx.routes = {
    main: split(stable, canary, weight),
    preview: only(stable),
    canary: only(canary),
    rules: headerRules(s.headerRoutes, canary),
    mirrors: mirrorRoutes(s.mirrorRoutes, canary),
  };
  if (blocked) return;
  const where = `step ${s.stepIndex + 1}/${n} (${describe(steps[s.stepIndex])}), canary weight ${weight}%`;
  const pause = ctx.pausedBy('CanaryPauseStep');
  if (pause) {
    const left = pause.until === undefined ? '`sluice promote` continues' : `continues in ${Math.ceil((pause.until - ctx.now) / 1000)}s`;
    // The countdown is part of the status: plan again to refresh it (only touched rollouts are planned).
    if (pause.until !== undefined) ctx.wake(Math.min(pause.until, ctx.now + COUNTDOWN_REFRESH_MS));
    ctx.phase('Paused', 'CanaryPauseStep', `${where}: paused, ${left}`);
  } else {
    ctx.phase('Progressing', 'CanaryStep', `${where}: ${o.available}/${scale} canary instances available`);
  }
}

/** How often a timed pause's "continues in Ns" is brought up to date. */
const COUNTDOWN_REFRESH_MS = 2000;

/** Header routes set by setHeaderRoute steps, as route-table rules to the canary. */
function headerRules(routes: { name: string; match: HeaderMatch }[] | undefined, canary: number): MatchRule[] {
  return (routes ?? []).map(({ name, match }) => ({ name, header: { name: match.headerName, ...match.headerValue }, revision: canary }));
}

function routesReachCanary(routes: TrafficRoute[]): boolean {
  return routes.some((r) => (typeof r.to === 'string' ? r.to === 'canary' : (r.to.canary ?? 0) > 0));
}

/** Mirror routes set by setMirrorRoute steps, copying to the canary. */
function mirrorRoutes(routes: MirrorRouteSpec[] | undefined, canary: number): MirrorRoute[] {
  return (routes ?? []).map((r) => mirrorRoute(r, canary));
}

/** A spec's mirror route as the route table's; copies go to `revision`. */
export function mirrorRoute(r: MirrorRouteSpec, revision: number): MirrorRoute {
  return {
    name: r.name,
    revision,
    percent: r.percentage,
    match: { methods: ['GET', 'HEAD', 'OPTIONS'], ...r.match },
    queueLimit: r.queueLimit,
    maxBodyBytes: r.maxBodyBytes,
    ...(r.compare ? { compare: { ignorePaths: r.compare.ignorePaths } } : {}),
  };
}

export const planCanary: Planner = (input) => planRelease(input, canaryRelease);

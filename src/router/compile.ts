import { createBalancer, type Balancer, type CompiledEndpoint } from './balancer.js';
import type { EndpointLoad, InflightRegistry } from './inflight.js';
import type { RevisionSeries, RouterMetrics } from './metrics.js';
import { compileMirrors, type CompiledMirror } from './mirror.js';
import { compileRuleSplit, type RuleSplit } from './rule-split.js';
import type { OutlierGroup } from './outlier.js';
import type { CompiledGuard, ResilienceState, RevisionQueue } from './resilience.js';
import type { SampleStore } from './samples.js';
import { BucketSplit, compileRule, SmoothWeightedSplit, type RequestTest } from './split.js';
import { StickySplit } from './sticky.js';
import type { ListenerRoutes, RouteTable } from '../core/route-table.js';
import type { PreparedAnswer } from './prepared-answer.js';
import type { ExperimentPlane } from './experiments/plane.js';
import type { ExperimentSplit } from './experiments/split.js';

/** A revision ready to serve: it has at least one endpoint, hence a balancer. */
export interface CompiledBackend {
  revision: number;
  version: string;
  balancer: Balancer;
  series: RevisionSeries;
  /** A/B: [variantHeader, variant] added to its answers, when the listener names the header and the backend a variant. */
  variantHeader: [string, string] | undefined;
  /** resilience.outlier: where outcomes are reported (resilience.ts). */
  outlier: OutlierGroup | undefined;
  /** resilience.limits: the revision's wait queue (resilience.ts). */
  queue: RevisionQueue | undefined;
}

export interface CompiledRule {
  test: RequestTest;
  /** Undefined when the rule's revision has no endpoint: the request falls to the split. */
  backend: CompiledBackend | undefined;
  /** A rule with `split` (rule-split.ts); undefined for a rule with `revision`, or none of its revisions ready. */
  split: RuleSplit<CompiledBackend> | undefined;
}

export interface CompiledListener {
  routes: ListenerRoutes;
  rules: CompiledRule[];
  split: SmoothWeightedSplit<CompiledBackend>;
  /**
   * Present only with `sticky` or `experiment` in the routes; it then chooses instead of
   * `split` (an experiment's assignment takes the place of sticky: experiments/split.ts).
   */
  sticky: StickySplit<CompiledBackend> | ExperimentSplit<CompiledBackend> | undefined;
  /** Present only with `experiment` (then it is also `sticky`): the proxy takes its GoalHit. */
  experiment: ExperimentSplit<CompiledBackend> | undefined;
  maintenance: PreparedAnswer;
  /** Where requests that found no revision are counted: the top-weighted revision, if any. */
  unservedSeries: RevisionSeries;
  /** Mirror routes with a ready shadow (mirror.ts); undefined when none. */
  mirrors: CompiledMirror[] | undefined;
  /** The revisions that have endpoints. */
  backends: Map<number, CompiledBackend>;
  /** Present only with `resilience` or `hold` in the routes (resilience.ts). */
  guard: CompiledGuard | undefined;
}

export interface CompiledTable {
  table: RouteTable;
  listeners: Map<string, CompiledListener>;
  loads: EndpointLoad[];
}

/** Turns a validated table into the structures the hot path reads; touches nothing live. */
export function compileTable(
  table: RouteTable,
  registry: InflightRegistry,
  metrics: RouterMetrics,
  samples: SampleStore,
  resilience?: ResilienceState,
  experiments?: ExperimentPlane,
): CompiledTable {
  const listeners = new Map<string, CompiledListener>();
  const loads = new Map<string, EndpointLoad>();
  table.listeners.forEach((l, li) => {
    const backends = new Map<number, CompiledBackend>();
    for (const b of l.backends) {
      if (b.endpoints.length === 0) continue;
      const endpoints: CompiledEndpoint[] = b.endpoints.map((e) => {
        const load = registry.load(e.id);
        loads.set(e.id, load);
        return { id: e.id, host: e.host, port: e.port, load, pool: undefined };
      });
      const series = metrics.seriesFor({ listen: l.listen, rollout: l.rollout, role: l.role, revision: b.revision, version: b.version });
      // Assigned even on a series already live: a revision back in the table after its ring
      // was freed gets a fresh one.
      series.samples = samples.ringFor(l.rollout, b.revision);
      const variantHeader: [string, string] | undefined = l.variantHeader !== undefined && b.variant !== undefined ? [l.variantHeader, b.variant] : undefined;
      const guarded = resilience?.compileBackend(l, b.revision, endpoints);
      backends.set(b.revision, {
        revision: b.revision,
        version: b.version,
        balancer: guarded?.balancer ?? createBalancer(l.balancer, endpoints),
        series,
        variantHeader,
        outlier: guarded?.outlier,
        queue: guarded?.queue,
      });
    }
    const split = new SmoothWeightedSplit(l.split.filter((w) => backends.has(w.revision)).map((w) => ({ item: backends.get(w.revision)!, weight: w.weight })));
    const buckets = (): BucketSplit<CompiledBackend> => new BucketSplit(l.split.map((w) => ({ ...w, item: backends.get(w.revision) })));
    const experiment = l.experiment !== undefined && experiments !== undefined ? experiments.compile(l, buckets()) : undefined;
    const sticky = experiment ?? (l.sticky === undefined ? undefined : new StickySplit(l.sticky, l.rollout, buckets(), split));
    const rules = l.rules.map((r, ri) => ({
      test: compileRule(r, `listeners[${li}].rules[${ri}]`),
      backend: r.revision === undefined ? undefined : backends.get(r.revision),
      split: r.split === undefined ? undefined : compileRuleSplit(r.split, backends, l.sticky, l.rollout),
    }));
    const top = [...l.split].sort((a, b) => b.weight - a.weight)[0];
    const topBackend = top === undefined ? undefined : l.backends.find((b) => b.revision === top.revision);
    const unservedSeries = metrics.seriesFor({
      listen: l.listen,
      rollout: l.rollout,
      role: l.role,
      revision: topBackend?.revision,
      version: topBackend?.version ?? '',
    });
    if (topBackend !== undefined) unservedSeries.samples = samples.ringFor(l.rollout, topBackend.revision);
    const mirrors = compileMirrors(l, li, backends, metrics.mirrors);
    const maintenance = maintenanceAnswer(l);
    const guard = resilience?.compileListener(l, maintenance);
    listeners.set(l.listen, { routes: l, rules, split, sticky, experiment, maintenance, unservedSeries, mirrors, backends, guard });
  });
  return { table, listeners, loads: [...loads.values()] };
}

function maintenanceAnswer(l: ListenerRoutes): PreparedAnswer {
  const m = l.maintenance;
  const body = Buffer.from(m?.body ?? `503 Service Unavailable: no ready instance of ${l.rollout} behind ${l.listen}\n`);
  const html = /^\s*</.test(body.toString('utf8', 0, 64));
  const headers: Record<string, string | number> = {
    'content-type': html ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8',
    'content-length': body.length,
    'cache-control': 'no-store',
  };
  if (m !== undefined) headers['retry-after'] = m.retryAfterSeconds;
  return { status: m?.status ?? 503, headers, body };
}

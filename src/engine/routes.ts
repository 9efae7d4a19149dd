import type { Maintenance, RolloutSpec } from '../core/spec.js';
import { DEFAULT_MAINTENANCE } from '../spec/rollout.js';
import type { InstanceStatus } from '../core/platform.js';
import type { ExperimentRoutes } from '../core/experiment.js';
import type { Backend, ListenerRoutes, Resilience, RouteTable, Stickiness, WeightedTarget } from '../core/route-table.js';
import type { Revision, TrafficHold } from '../core/rollout.js';
import type { PlannedRoutes } from './strategies/planner.js';

export interface RolloutRoutes {
  spec: RolloutSpec;
  routes: PlannedRoutes;
  revisions: Revision[];
  /** `sluice stop-traffic` / `pause-traffic`, on every listener of the rollout. */
  hold?: TrafficHold;
}

/**
 * The whole data plane's table from every rollout's planned splits. Only instances that
 * are Ready and not chosen for stopping become endpoints, so an instance leaves the table
 * before it is drained.
 */
export function buildRouteTable(generation: number, rollouts: RolloutRoutes[], endpoints: InstanceStatus[]): RouteTable {
  const listeners: ListenerRoutes[] = [];
  for (const { spec, routes, revisions, hold } of rollouts) {
    const mine = endpoints.filter((i) => i.rollout === spec.name);
    const backendsFor = (split: WeightedTarget[]): Backend[] =>
      split.map(({ revision }) => ({
        revision,
        version: revisions.find((r) => r.number === revision)?.template.version ?? `rev${revision}`,
        ...variantOf(routes, revision),
        endpoints: mine
          .filter((i) => i.revision === revision)
          .sort((a, b) => a.id.localeCompare(b.id))
          .map((i) => ({ id: i.id, host: i.host, port: i.port })),
      }));
    const listener = (listen: string, role: ListenerRoutes['role'], split: WeightedTarget[]): ListenerRoutes => {
      // Match rules (canary header routes) apply on the main listener; their revisions need backends too.
      const rules = role === 'main' ? (routes.rules ?? []) : [];
      const ruleRevisions = rules.flatMap((r) => (r.split ? r.split.map((t) => t.revision) : r.revision !== undefined ? [r.revision] : []));
      const mirrors = role === 'main' ? (routes.mirrors ?? []) : [];
      const ruleOnly = [...new Set([...ruleRevisions, ...mirrors.map((m) => m.revision)])].filter((rev) => !split.some((t) => t.revision === rev));
      const experiment = role === 'main' ? experimentRoutes(spec, routes) : undefined;
      const sticky = experiment
        ? undefined
        : (spec.traffic.sticky ?? (spec.strategy.type === 'abTest' ? { cookie: { name: `sluice-${spec.name}` } } : undefined));
      const resilience = resilienceOf(spec);
      return {
        listen,
        rollout: spec.name,
        role,
        balancer: spec.traffic.balancer,
        rules,
        split,
        backends: backendsFor([...split, ...ruleOnly.map((revision) => ({ revision, weight: 0 }))]),
        ...(role === 'main' && sticky ? { sticky: stickiness(sticky, spec.name) } : {}),
        ...maintenanceOf(spec, role, hold),
        ...(mirrors.length > 0 ? { mirrors } : {}),
        ...(routes.variantHeader ? { variantHeader: routes.variantHeader } : {}),
        ...(experiment ? { experiment } : {}),
        ...(resilience ? { resilience } : {}),
        ...(hold ? { hold: hold.mode === 'paused' ? { mode: 'paused' as const, pauseTimeoutMs: hold.pauseTimeoutMs } : { mode: 'stopped' as const } } : {}),
        ...(spec.traffic.router !== undefined ? { dataPlane: spec.traffic.router, dataPlaneSettings: spec.traffic.dataPlaneSettings } : {}),
        ...(spec.traffic.router !== undefined && spec.kubernetes?.namespace !== undefined ? { namespace: spec.kubernetes.namespace } : {}),
      };
    };
    listeners.push(listener(spec.traffic.listen, 'main', routes.main));
    const strategy = spec.strategy;
    if (strategy.type === 'blueGreen' && strategy.previewListen) {
      listeners.push(listener(strategy.previewListen, 'preview', routes.preview ?? routes.main));
    }
    if (strategy.type === 'canary' && strategy.canaryListen) {
      listeners.push(listener(strategy.canaryListen, 'canary', routes.canary ?? []));
    }
  }
  listeners.sort((a, b) => a.listen.localeCompare(b.listen));
  return { generation, listeners };
}

/**
 * An experiment's routes while its split is live: the user key (the experiment's, else the
 * rollout's sticky header or cookie, else the router's signed cookie), goals and events.
 */
function experimentRoutes(spec: RolloutSpec, routes: PlannedRoutes): ExperimentRoutes | undefined {
  const st = spec.strategy;
  if (st.type !== 'abTest' || st.experiment === undefined || routes.experiment === undefined) return undefined;
  const x = st.experiment;
  const sticky = spec.traffic.sticky;
  const userKey =
    x.userKey.header !== undefined || x.userKey.cookie !== undefined
      ? x.userKey
      : {
          ...(sticky?.header !== undefined ? { header: sticky.header.toLowerCase() } : {}),
          ...(sticky?.hashCookie !== undefined ? { cookie: sticky.hashCookie } : {}),
        };
  return {
    experiment: routes.experiment,
    salt: `${spec.name}/${routes.experiment}`,
    userKey,
    cookie: x.cookie,
    goals: x.metrics.flatMap((m) => (m.goal ? [{ metric: m.name, kind: m.kind, goal: m.goal }] : [])),
    events: x.metrics.flatMap((m) => (m.event !== undefined ? [{ event: m.event, metric: m.name, kind: m.kind, allowNegative: m.allowNegative }] : [])),
  };
}

/** The router's cookie is per rollout, so two rollouts never put the same users on their canaries. */
function stickiness(s: Stickiness, rollout: string): Stickiness {
  return s.cookie ? { cookie: { ...s.cookie, name: s.cookie.name ?? `sluice-${rollout}` } } : s;
}

/** Recreate's gap answer on the main listener; else the spec's, if any (a hold needs one: the default). */
function maintenanceOf(spec: RolloutSpec, role: ListenerRoutes['role'], hold: TrafficHold | undefined): { maintenance?: Maintenance } {
  if (spec.strategy.type === 'recreate' && role === 'main') return { maintenance: spec.strategy.maintenance };
  const m = spec.traffic.maintenance ?? (hold ? DEFAULT_MAINTENANCE : undefined);
  return m ? { maintenance: m } : {};
}

function variantOf(routes: PlannedRoutes, revision: number): { variant?: string } {
  const v = routes.variants?.find((x) => x.revision === revision);
  return v ? { variant: v.name } : {};
}

/** The spec's traffic resilience settings in the route table's units; undefined when none is set. */
function resilienceOf(spec: RolloutSpec): Resilience | undefined {
  const t = spec.traffic;
  const r: Resilience = {};
  if (t.outlierDetection) {
    const o = t.outlierDetection;
    r.outlier = { consecutiveFailures: o.consecutiveErrors, baseEjectionMs: Math.round(o.baseEjectionSeconds * 1000), maxEjectedPercent: o.maxEjectionPercent };
  }
  if (t.connectionLimits) {
    const l = t.connectionLimits;
    r.limits = { maxConnections: l.maxConnections, maxPending: l.maxPending, queueTimeoutMs: Math.round(l.queueTimeoutSeconds * 1000) };
  }
  if (t.timeouts) {
    r.timeouts = {
      ...(t.timeouts.connectSeconds !== undefined ? { connectMs: Math.round(t.timeouts.connectSeconds * 1000) } : {}),
      ...(t.timeouts.responseSeconds !== undefined ? { responseMs: Math.round(t.timeouts.responseSeconds * 1000) } : {}),
    };
  }
  if (t.bufferRequests) r.bufferRequests = { maxBytes: t.bufferRequests.maxBytes };
  return Object.keys(r).length > 0 ? r : undefined;
}

/**
 * The listeners of `rollouts` as last applied, for rollouts that cannot be planned now:
 * they keep serving what they served, minus endpoints that are no longer ready.
 */
export function carriedListeners(previous: RouteTable | undefined, rollouts: string[], endpoints: InstanceStatus[]): ListenerRoutes[] {
  if (!previous || rollouts.length === 0) return [];
  const ready = new Set(endpoints.map((i) => i.id));
  return previous.listeners
    .filter((l) => rollouts.includes(l.rollout))
    .map((l) => ({ ...l, backends: l.backends.map((b) => ({ ...b, endpoints: b.endpoints.filter((e) => ready.has(e.id)) })) }));
}

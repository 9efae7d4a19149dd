import type { RolloutSpec } from '../spec/types.js';
import type { InstanceStatus } from '../platform/platform.js';
import type { Backend, ListenerRoutes, RouteTable, Stickiness, WeightedTarget } from '../router/route-table.js';
import type { Revision } from './types.js';
import type { PlannedRoutes } from './strategies/planner.js';

export interface RolloutRoutes {
  spec: RolloutSpec;
  routes: PlannedRoutes;
  revisions: Revision[];
}

/**
 * The whole data plane's table from every rollout's planned splits. Only instances that
 * are Ready and not chosen for stopping become endpoints, so an instance leaves the table
 * before it is drained.
 */
export function buildRouteTable(generation: number, rollouts: RolloutRoutes[], endpoints: InstanceStatus[]): RouteTable {
  const listeners: ListenerRoutes[] = [];
  for (const { spec, routes, revisions } of rollouts) {
    const mine = endpoints.filter((i) => i.rollout === spec.name);
    const backendsFor = (split: WeightedTarget[]): Backend[] =>
      split.map(({ revision }) => ({
        revision,
        version: revisions.find((r) => r.number === revision)?.template.version ?? `rev${revision}`,
        endpoints: mine
          .filter((i) => i.revision === revision)
          .sort((a, b) => a.id.localeCompare(b.id))
          .map((i) => ({ id: i.id, host: '127.0.0.1', port: i.port })),
      }));
    const listener = (listen: string, role: ListenerRoutes['role'], split: WeightedTarget[]): ListenerRoutes => {
      // Match rules (canary header routes) apply on the main listener; their revisions need backends too.
      const rules = role === 'main' ? (routes.rules ?? []) : [];
      const ruleRevisions = rules.flatMap((r) => (r.split ? r.split.map((t) => t.revision) : r.revision !== undefined ? [r.revision] : []));
      const ruleOnly = [...new Set(ruleRevisions)].filter((rev) => !split.some((t) => t.revision === rev));
      return {
        listen,
        rollout: spec.name,
        role,
        balancer: spec.traffic.balancer,
        rules,
        split,
        backends: backendsFor([...split, ...ruleOnly.map((revision) => ({ revision, weight: 0 }))]),
        ...(role === 'main' && spec.traffic.sticky ? { sticky: stickiness(spec.traffic.sticky, spec.name) } : {}),
        ...(spec.strategy.type === 'recreate' && role === 'main' ? { maintenance: spec.strategy.maintenance } : {}),
        ...(spec.traffic.router === 'nginx' ? { dataPlane: 'nginx' as const, nginx: spec.traffic.nginx } : {}),
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

/** The router's cookie is per rollout, so two rollouts never put the same users on their canaries. */
function stickiness(s: Stickiness, rollout: string): Stickiness {
  return s.cookie ? { cookie: { ...s.cookie, name: s.cookie.name ?? `sluice-${rollout}` } } : s;
}

/**
 * One rollout's listeners → Istio objects (networking.istio.io/v1), as Argo Rollouts'
 * subset-level traffic splitting expects them and Flagger's istio router writes its
 * VirtualService:
 *
 * - Service `<rollout>` selecting every pod of the rollout (the DestinationRule's host, as
 *   Argo's subset mode wants one Service), plus the slot Services of services.ts;
 * - DestinationRule `<rollout>`: a subset per routed revision (`stable`, `canary`, extra
 *   A/B variants), its labels the revision's (`sluice.dev/rollout`, `sluice.dev/revision`,
 *   where Argo injects `rollouts-pod-template-hash`); a trafficPolicy with the balancer
 *   (ROUND_ROBIN / LEAST_REQUEST), `traffic.outlierDetection` as outlierDetection
 *   (consecutive5xxErrors, baseEjectionTime, maxEjectionPercent: Envoy also counts connect
 *   failures and resets as 5xx and multiplies the ejection time by the ejections, as sluice
 *   does) and `traffic.timeouts.connectSeconds` as connectionPool.tcp.connectTimeout;
 * - VirtualService `<rollout>`: hosts (the settings', plus `<rollout>` as Flagger adds the
 *   apex), gateways (`mesh` when none), and http routes in planRules order, first match
 *   wins: match rules (Argo's setHeaderRoute routes: `match` headers, `route` to the
 *   subset, weight 100), mirrors (Argo's setMirrorRoute: the default split plus `mirror`
 *   and `mirrorPercentage`), then `primary` with the weighted stable and canary subsets
 *   (both always, summing to 100). A/B variants set the variant header on their responses.
 *   stop-traffic, or nothing to route to, is a `directResponse` (Istio 1.23+) with the
 *   maintenance status and body.
 *
 * Not expressed: stickiness and experiments (the split is per request), connection limits
 * and response timeouts (their meaning differs), a mirror's queue and body limits and its
 * comparison. Header names are written lowercase, as Istio requires; `uri.prefix` is a
 * string prefix where sluice's pathPrefix is segment-wise. A source CIDR is refused. Pure: no I/O.
 */
import type { ListenerRoutes } from '../../core/route-table.js';
import {
  type Condition,
  type Destination,
  type KubeObject,
  type MatchAlternative,
  metadata,
  planRules,
  ROLLOUT_LABEL,
  revisionSelector,
  rolesOf,
  service,
  serviceName,
  slotOf,
  slotServices,
  type TrafficInput,
} from './common.js';
import type { IstioSettings } from './settings.js';

export const ISTIO = 'istio';

export function renderIstio(input: TrafficInput<IstioSettings>): KubeObject[] {
  const roles = rolesOf(ISTIO, input);
  const { rollout, namespace, settings } = input;
  const { main } = roles;
  const host = serviceName(ISTIO, rollout);
  const variants = new Map(main.backends.filter((b) => b.variant !== undefined).map((b) => [b.revision, b.variant!]));
  const destination = (d: Destination) => ({
    destination: { host, subset: d.slot },
    weight: d.weight,
    ...(main.variantHeader !== undefined && variants.has(d.revision)
      ? { headers: { response: { set: { [main.variantHeader]: variants.get(d.revision)! } } } }
      : {}),
  });
  const maintenance = main.maintenance;
  const http = planRules(ISTIO, roles).map((r) => ({
    name: r.name,
    ...(r.source === 'default' ? {} : { match: r.alternatives.map(match) }),
    ...(r.destinations.length > 0
      ? { route: r.destinations.map(destination) }
      : {
          directResponse: { status: maintenance?.status ?? 503, ...(maintenance ? { body: { string: maintenance.body } } : {}) },
          headers: { response: { set: { 'retry-after': String(maintenance?.retryAfterSeconds ?? 1) } } },
        }),
    ...(r.mirror ? { mirror: { host, subset: r.mirror.slot }, mirrorPercentage: { value: r.mirror.percent } } : {}),
  }));
  const hosts = [...settings.hosts, ...(settings.hosts.includes(host) || settings.hosts.includes('*') ? [] : [host])];
  const routed = [
    { slot: 'stable', revision: roles.stable },
    { slot: 'canary', revision: roles.canary },
    ...roles.extras.map((e) => ({ slot: slotOf(roles, e.revision), revision: e.revision })),
  ];
  const destinationRule: KubeObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: metadata(rollout, namespace, rollout),
    spec: {
      host,
      trafficPolicy: trafficPolicy(main),
      subsets: routed.map((s) => ({ name: s.slot, labels: revisionSelector(rollout, s.revision) })),
    },
  };
  const virtualService: KubeObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: metadata(rollout, namespace, rollout),
    spec: { hosts, gateways: settings.gateways.length > 0 ? [...settings.gateways] : ['mesh'], http },
  };
  return [service(host, namespace, rollout, { [ROLLOUT_LABEL]: rollout }, settings), ...slotServices(ISTIO, input, roles), destinationRule, virtualService];
}

/** The balancer and the resilience settings Istio has an equivalent for. */
function trafficPolicy(l: ListenerRoutes): Record<string, unknown> {
  const outlier = l.resilience?.outlier;
  const connectMs = l.resilience?.timeouts?.connectMs;
  return {
    loadBalancer: { simple: l.balancer === 'least-requests' ? 'LEAST_REQUEST' : 'ROUND_ROBIN' },
    ...(connectMs !== undefined ? { connectionPool: { tcp: { connectTimeout: duration(connectMs) } } } : {}),
    ...(outlier
      ? {
          outlierDetection: {
            consecutive5xxErrors: outlier.consecutiveFailures,
            baseEjectionTime: duration(outlier.baseEjectionMs),
            maxEjectionPercent: outlier.maxEjectedPercent,
          },
        }
      : {}),
  };
}

/** Milliseconds as an Istio duration: whole seconds as `Ns`, else `Nms`. */
function duration(ms: number): string {
  const whole = Math.max(0, Math.round(ms));
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

/** An HTTPMatchRequest: uri prefix (left out for /), method, headers and queryParams keyed by name. */
function match(a: MatchAlternative) {
  return {
    ...(a.pathPrefix !== '/' ? { uri: { prefix: a.pathPrefix } } : {}),
    ...(a.method !== undefined ? { method: { exact: a.method } } : {}),
    ...(a.headers.length > 0 ? { headers: Object.fromEntries(a.headers.map((c) => [c.name.toLowerCase(), stringMatch(c)])) } : {}),
    ...(a.query.length > 0 ? { queryParams: Object.fromEntries(a.query.map((c) => [c.name, stringMatch(c)])) } : {}),
  };
}

/** Istio's StringMatch: exact, prefix or regex (RE2, matched against the whole value). */
function stringMatch(c: Condition) {
  return c.exact !== undefined ? { exact: c.exact } : c.prefix !== undefined ? { prefix: c.prefix } : { regex: c.regex! };
}

/**
 * One rollout's listeners → the Services of services.ts (stable, canary, preview, extra
 * variants; no `<rollout>` Service, the route splits) and one Gateway API HTTPRoute
 * `<rollout>` (gateway.networking.k8s.io/v1), as Argo Rollouts' Gateway API plugin and
 * Flagger's gatewayapi router write theirs:
 *
 * - the default rule `primary` (PathPrefix /) has weighted backendRefs to the stable and
 *   canary Services (both always, canary 0 between releases), weights summing to 100;
 * - a match rule (setHeaderRoute, traffic.routes, A/B) becomes a rule before it with header
 *   (Exact, or RegularExpression for prefix and regex), query and path matches and its
 *   revision's Service (one backendRef, no weight, as the plugin's header rules) or split;
 *   a cookie match is a RegularExpression on the Cookie header;
 * - a mirror (setMirrorRoute, shadow) becomes a rule with its matches (a method each: GET,
 *   HEAD, OPTIONS by default), the default split and a RequestMirror filter to the mirror's
 *   Service with `percent` (`fraction` of 10000 for a fractional share) — GEP-3171,
 *   standard since v1.3; `mirrorPercent: false` leaves it out and refuses a share < 100 %;
 * - A/B: each variant's backendRef sets the variant header on its responses
 *   (ResponseHeaderModifier);
 * - stop-traffic, or nothing to route to: the one rule has no backendRefs, which the spec
 *   answers with 503 (without the maintenance body).
 *
 * Rules are named (GEP-995) and ordered as planRules does; see there how overlaps keep
 * Gateway API's precedence by specificity from reordering them. Not expressed: stickiness
 * and experiments (the split is per request), resilience settings, a mirror's queue and
 * body limits and its comparison (the copy's answer is discarded). A source CIDR is refused.
 * Pure: no I/O.
 */
import {
  type Condition,
  type Destination,
  escapeRegex,
  type KubeObject,
  type MatchAlternative,
  metadata,
  planRules,
  refuse,
  rolesOf,
  serviceName,
  slotServices,
  type TrafficInput,
  whole,
} from './common.js';
import type { GatewayApiSettings } from './settings.js';

export const GATEWAY_API = 'gatewayApi';

/** Gateway API's limits on an HTTPRoute (v1 CRD validation). */
const MAX_RULES = 16;
const MAX_MATCHES = 64;

export function renderGatewayApi(input: TrafficInput<GatewayApiSettings>): KubeObject[] {
  const roles = rolesOf(GATEWAY_API, input);
  const { rollout, namespace, settings } = input;
  const plan = planRules(GATEWAY_API, roles);
  if (plan.length > MAX_RULES)
    refuse(GATEWAY_API, rollout, `needs ${plan.length} HTTPRoute rules, more than Gateway API's ${MAX_RULES}; use fewer match rules or mirrors`);
  const variants = new Map(roles.main.backends.filter((b) => b.variant !== undefined).map((b) => [b.revision, b.variant!]));
  const variantHeader = roles.main.variantHeader;
  const backendRef = (d: Destination, weighted: boolean) => ({
    group: '',
    kind: 'Service',
    name: serviceName(GATEWAY_API, rollout, d.slot),
    port: settings.port,
    ...(weighted ? { weight: d.weight } : {}),
    ...(variantHeader !== undefined && variants.has(d.revision)
      ? { filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: variantHeader, value: variants.get(d.revision)! }] } }] }
      : {}),
  });
  const names = new Set<string>();
  const rules = plan.map((r) => {
    const matches = r.alternatives.map(match);
    if (matches.length > MAX_MATCHES) refuse(GATEWAY_API, rollout, `rule ${r.name} needs ${matches.length} matches, more than Gateway API's ${MAX_MATCHES}`);
    const filters = r.mirror ? [mirrorFilter(rollout, settings, r.mirror)] : [];
    return {
      name: ruleName(r.name, names),
      matches,
      ...(filters.length > 0 ? { filters } : {}),
      ...(r.destinations.length > 0 ? { backendRefs: r.destinations.map((d) => backendRef(d, r.source === 'default' || r.destinations.length > 1)) } : {}),
    };
  });
  const route: KubeObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: metadata(rollout, namespace, rollout),
    spec: {
      parentRefs: settings.parentRefs.map((p) => ({
        group: 'gateway.networking.k8s.io',
        kind: 'Gateway',
        name: p.name,
        ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
        ...(p.sectionName !== undefined ? { sectionName: p.sectionName } : {}),
        ...(p.port !== undefined ? { port: p.port } : {}),
      })),
      ...(settings.hostnames.length > 0 ? { hostnames: [...settings.hostnames] } : {}),
      rules,
    },
  };
  return [...slotServices(GATEWAY_API, input, roles), route];
}

function mirrorFilter(rollout: string, settings: GatewayApiSettings, m: { slot: string; percent: number }) {
  if (!settings.mirrorPercent && m.percent < 100) {
    refuse(GATEWAY_API, rollout, `a mirror of ${m.percent} % needs RequestMirror's percent (Gateway API v1.3+); set mirrorPercent: true, or mirror 100 %`);
  }
  const share = !settings.mirrorPercent
    ? {}
    : whole(m.percent)
      ? { percent: m.percent }
      : { fraction: { numerator: Math.round(m.percent * 100), denominator: 10000 } };
  return {
    type: 'RequestMirror',
    requestMirror: { backendRef: { group: '', kind: 'Service', name: serviceName(GATEWAY_API, rollout, m.slot), port: settings.port }, ...share },
  };
}

/** An HTTPRouteMatch: path, method, headers, queryParams. */
function match(a: MatchAlternative) {
  return {
    path: { type: 'PathPrefix', value: a.pathPrefix },
    ...(a.method !== undefined ? { method: a.method } : {}),
    ...(a.headers.length > 0 ? { headers: a.headers.map(condition) } : {}),
    ...(a.query.length > 0 ? { queryParams: a.query.map(condition) } : {}),
  };
}

/**
 * Exact stays Exact; a prefix or a regex becomes RegularExpression (a prefix `p` as `^p.*`,
 * as the Argo plugin writes `p.*`), anchored so that it matches the whole value everywhere.
 */
function condition(c: Condition) {
  if (c.exact !== undefined) return { type: 'Exact', name: c.name, value: c.exact };
  const value = c.prefix !== undefined ? `^${escapeRegex(c.prefix)}.*` : c.anchored ? c.regex! : `^(?:${c.regex})$`;
  return { type: 'RegularExpression', name: c.name, value };
}

/** A rule name as Gateway API takes it (a lowercase DNS label, unique in the route). */
function ruleName(name: string, taken: Set<string>): string {
  const base =
    name
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'rule';
  let n = base;
  for (let i = 2; taken.has(n); i++) n = `${base}-${i}`;
  taken.add(n);
  return n;
}

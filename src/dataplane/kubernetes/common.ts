/**
 * What the Kubernetes traffic renderers share: which revision plays which role, integer
 * weights, request matches in a form each peer API can take, the ordered rule plan of a
 * main listener, and the object metadata. Pure: no I/O, no clock; the same input gives
 * the same objects, keys in the same order.
 */
import type { ListenerRoutes, MatchRule, RequestMatch, WeightedTarget } from '../../core/route-table.js';
import { DEFAULT_MIRROR_METHODS } from '../../router/mirror.js';
import { UserError } from '../../util/errors.js';

export const ROLLOUT_LABEL = 'sluice.dev/rollout';
export const REVISION_LABEL = 'sluice.dev/revision';
export const MANAGED_BY = 'app.kubernetes.io/managed-by';

/** A Kubernetes object as these renderers write it: plain JSON, keys in a fixed order. */
export type KubeObject = { apiVersion: string; kind: string; metadata: ObjectMeta; spec: Record<string, unknown> };

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
}

/** One rollout's listeners, as DataPlaneAdapter.apply receives them, and the kind's settings. */
export interface TrafficInput<S> {
  /** The rollout's name (`ListenerRoutes.rollout` of every listener). */
  rollout: string;
  namespace: string;
  /** The rollout's listeners: exactly one `main`, at most one `canary` and one `preview`. */
  listeners: ListenerRoutes[];
  settings: S;
}

/**
 * A revision's place in the objects: its Service is `<rollout>-<slot>`, its Istio subset
 * `<slot>`. `stable` and `canary` always exist (both the stable revision when no release is
 * in progress, as Argo Rollouts points its canary Service at the stable pods then).
 */
export interface Slot {
  slot: string;
  revision: number;
}

export interface Roles {
  main: ListenerRoutes;
  preview?: ListenerRoutes;
  canaryListener?: ListenerRoutes;
  stable: number;
  /** The revision being released (canary, blue-green preview, shadow, second A/B variant); stable when none. */
  canary: number;
  /** Revisions beyond those two (A/B variants from the third on): `variant-<name>`, else `rev-<N>`. */
  extras: Slot[];
}

/** Fails like the nginx renderer: a UserError (400) naming the rollout and what to change. */
export function refuse(kind: string, rollout: string, what: string): never {
  throw new UserError(`kubernetes ${kind}: rollout ${rollout}: ${what}`, 'invalid', 400);
}

const live = (split: WeightedTarget[]) => split.filter((t) => t.weight > 0);

/**
 * Which revision is stable and which is being released. The RouteTable does not say it,
 * so it is read from what the engine writes: the main listener's split lists the stable
 * revision first (`split(stable, canary, w)`, the A/B control first); the released one is
 * the canary listener's, else the preview listener's, else the main split's other
 * revision, else a match rule's or a mirror's target, else another backend's. Revisions
 * routed to beyond those two (A/B variants from the third on) are the extras.
 */
export function rolesOf(kind: string, input: TrafficInput<unknown>): Roles {
  const { rollout, listeners } = input;
  for (const l of listeners) if (l.rollout !== rollout) refuse(kind, rollout, `listener ${l.listen} belongs to rollout ${l.rollout}`);
  const mains = listeners.filter((l) => l.role === 'main');
  if (mains.length !== 1) refuse(kind, rollout, `needs exactly one main listener, got ${mains.length}`);
  const main = mains[0]!;
  const preview = listeners.find((l) => l.role === 'preview');
  const canaryListener = listeners.find((l) => l.role === 'canary');
  const ruleRevisions = (r: MatchRule) => (r.split ? r.split.map((t) => t.revision) : r.revision !== undefined ? [r.revision] : []);
  const candidates = [
    ...live(canaryListener?.split ?? []).map((t) => t.revision),
    ...live(preview?.split ?? []).map((t) => t.revision),
    ...live(main.split).map((t) => t.revision),
    ...main.rules.flatMap(ruleRevisions),
    ...(main.mirrors ?? []).map((m) => m.revision),
  ];
  const routed = [...main.split.map((t) => t.revision), ...candidates];
  const stable = live(main.split)[0]?.revision ?? main.split[0]?.revision ?? main.backends[0]?.revision ?? candidates[0];
  if (stable === undefined) refuse(kind, rollout, 'the main listener names no revision');
  const canary = [...candidates, ...main.backends.map((b) => b.revision)].find((r) => r !== stable) ?? stable;
  const known = new Set(main.backends.map((b) => b.revision));
  for (const r of routed) {
    if (!known.has(r) && !listeners.some((l) => l.backends.some((b) => b.revision === r))) {
      refuse(kind, rollout, `revision ${r} is routed to but has no backend in the route table`);
    }
  }
  const extras: Slot[] = [];
  const seen = new Set([stable, canary]);
  for (const r of routed) {
    if (seen.has(r)) continue;
    seen.add(r);
    const variant = main.backends.find((b) => b.revision === r)?.variant;
    const slot = variant !== undefined && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(variant) ? `variant-${variant}` : `rev-${r}`;
    extras.push({ slot: extras.some((e) => e.slot === slot) || slot === 'stable' || slot === 'canary' ? `rev-${r}` : slot, revision: r });
  }
  return { main, ...(preview ? { preview } : {}), ...(canaryListener ? { canaryListener } : {}), stable, canary, extras };
}

/** The slots whose Services a kind writes: stable, canary, preview (with a preview listener), then the extras. */
export function slotsOf(roles: Roles): Slot[] {
  const previewRevision = roles.preview ? (live(roles.preview.split)[0]?.revision ?? roles.canary) : undefined;
  return [
    { slot: 'stable', revision: roles.stable },
    { slot: 'canary', revision: roles.canary },
    ...(previewRevision !== undefined ? [{ slot: 'preview', revision: previewRevision }] : []),
    ...roles.extras,
  ];
}

/** The slot a revision is routed through: stable first, then canary, then its extra. */
export function slotOf(roles: Roles, revision: number): string {
  if (revision === roles.stable) return 'stable';
  if (revision === roles.canary) return 'canary';
  const extra = roles.extras.find((e) => e.revision === revision);
  if (!extra) throw new Error(`revision ${revision} has no slot`);
  return extra.slot;
}

/**
 * Integer weights summing to 100 (largest remainder; ties to the earlier target), as every
 * peer API takes them. Targets of weight 0 keep 0; all zero (or none) stays all zero.
 */
export function integerWeights(targets: WeightedTarget[]): WeightedTarget[] {
  const total = targets.reduce((n, t) => n + Math.max(0, t.weight), 0);
  if (!(total > 0)) return targets.map((t) => ({ revision: t.revision, weight: 0 }));
  const exact = targets.map((t) => (Math.max(0, t.weight) * 100) / total);
  const out = exact.map((x, i) => ({ revision: targets[i]!.revision, weight: Math.floor(x) }));
  let left = 100 - out.reduce((n, t) => n + t.weight, 0);
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    out[i]!.weight += 1;
    left--;
  }
  return out;
}

/** A weighted destination of a planned rule, by slot. */
export interface Destination {
  slot: string;
  revision: number;
  weight: number;
}

/**
 * The main split as destinations: stable and canary always (0 when not in the split, as
 * Argo Rollouts and Flagger keep both in their routes), then the extras of the split.
 */
export function defaultDestinations(roles: Roles): Destination[] {
  const weights = integerWeights(mergeTargets(roles.main.split));
  const weightOf = (r: number) => weights.find((t) => t.revision === r)?.weight ?? 0;
  const out: Destination[] = [{ slot: 'stable', revision: roles.stable, weight: weightOf(roles.stable) }];
  if (roles.canary !== roles.stable) out.push({ slot: 'canary', revision: roles.canary, weight: weightOf(roles.canary) });
  else out.push({ slot: 'canary', revision: roles.canary, weight: 0 });
  for (const t of weights)
    if (t.revision !== roles.stable && t.revision !== roles.canary) out.push({ slot: slotOf(roles, t.revision), revision: t.revision, weight: t.weight });
  return out;
}

/** A split with each revision once (weights added). */
function mergeTargets(split: WeightedTarget[]): WeightedTarget[] {
  const out: WeightedTarget[] = [];
  for (const t of split) {
    const seen = out.find((o) => o.revision === t.revision);
    if (seen) seen.weight += t.weight;
    else out.push({ ...t });
  }
  return out;
}

/** A match rule's destinations: its revision (weight 100), or its split's revisions of weight > 0. */
export function ruleDestinations(roles: Roles, r: MatchRule): Destination[] {
  if (r.split) {
    const weights = integerWeights(mergeTargets(r.split)).filter((t) => t.weight > 0);
    return weights.map((t) => ({ slot: slotOf(roles, t.revision), revision: t.revision, weight: t.weight }));
  }
  return [{ slot: slotOf(roles, r.revision!), revision: r.revision!, weight: 100 }];
}

/** One string condition on a request header or query parameter (exactly one of the three). */
export interface Condition {
  name: string;
  exact?: string;
  prefix?: string;
  regex?: string;
  /** The regex is anchored already (a cookie condition): written as is. */
  anchored?: true;
}

/** One alternative of a rule's matches (a rule matches when any alternative does); every condition must hold. */
export interface MatchAlternative {
  pathPrefix: string;
  method?: string;
  headers: Condition[];
  query: Condition[];
}

export function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/**
 * A cookie condition as a regular expression on the Cookie header (no peer API matches a
 * cookie; Flagger's session affinity does the same), anchored so that it means the same
 * to implementations that match the whole value (Envoy) and to those that search in it.
 */
export function cookieCondition(c: { name: string; exact?: string; regex?: string }): Condition {
  const value = c.exact !== undefined ? escapeRegex(c.exact) : `(?:${c.regex})`;
  return { name: 'Cookie', regex: `^(?:.*;\\s*)?${escapeRegex(c.name)}=${value}(?:;.*)?$`, anchored: true };
}

/**
 * A RequestMatch as alternatives (one per method; the peers take one method per match).
 * A source CIDR has no equivalent in HTTPRoute, VirtualService or Ingress: refused.
 */
export function alternatives(kind: string, rollout: string, m: RequestMatch | undefined, where: string, defaultMethods?: string[]): MatchAlternative[] {
  if (m?.sourceCidr !== undefined)
    refuse(kind, rollout, `${where} matches the client address ${m.sourceCidr}, which ${kind} cannot route on; remove source from the match`);
  const headers: Condition[] = [];
  if (m?.header) headers.push({ ...m.header });
  if (m?.cookie) headers.push(cookieCondition(m.cookie));
  const query: Condition[] = m?.query ? [{ ...m.query }] : [];
  const pathPrefix = m?.pathPrefix ?? '/';
  const methods = m?.methods ?? defaultMethods;
  if (!methods || methods.length === 0) return [{ pathPrefix, headers, query }];
  return methods.map((method) => ({ pathPrefix, method, headers, query }));
}

const sameCondition = (a: Condition, b: Condition) =>
  a.name.toLowerCase() === b.name.toLowerCase() && a.exact === b.exact && a.prefix === b.prefix && a.regex === b.regex;

/** Conditions of both (undefined when one name has two different conditions: not expressible in one match). */
function mergeConditions(a: Condition[], b: Condition[]): Condition[] | undefined {
  const out = [...a];
  for (const c of b) {
    const same = out.find((o) => o.name.toLowerCase() === c.name.toLowerCase());
    if (!same) out.push(c);
    else if (!sameCondition(same, c)) return undefined;
  }
  return out;
}

/** Whether path `p` is under prefix `q` (segment-wise, as PathPrefix and the builtin router match). */
function under(p: string, q: string): boolean {
  const base = q.replace(/\/$/, '');
  return base === '' || p === base || p.startsWith(`${base}/`);
}

/** Requests matching both alternatives, as one; undefined when none can. */
export function intersect(a: MatchAlternative, b: MatchAlternative): MatchAlternative | undefined {
  const pathPrefix = under(a.pathPrefix, b.pathPrefix) ? a.pathPrefix : under(b.pathPrefix, a.pathPrefix) ? b.pathPrefix : undefined;
  if (pathPrefix === undefined) return undefined;
  if (a.method !== undefined && b.method !== undefined && a.method !== b.method) return undefined;
  const method = a.method ?? b.method;
  const headers = mergeConditions(a.headers, b.headers);
  const query = mergeConditions(a.query, b.query);
  if (!headers || !query) return undefined;
  return { pathPrefix, ...(method !== undefined ? { method } : {}), headers, query };
}

/** One rule of a planned route, in order: the first rule a request matches decides. */
export interface PlannedRule {
  /** The match rule's or mirror's name; `primary` for the default split. */
  name: string;
  alternatives: MatchAlternative[];
  /** Empty: nothing to route to (maintenance or stopped): the peer's 503. */
  destinations: Destination[];
  mirror?: { slot: string; revision: number; percent: number };
  /** What kind of rule it is, for peers that take only some (nginx-ingress). */
  source: { rule: MatchRule } | { mirror: string } | 'default';
}

/**
 * The main listener as ordered rules, as the builtin router decides: match rules first
 * (each preceded, for every mirror it overlaps, by a rule for the overlap that routes like
 * the match rule and also copies unless it routes to the mirror's revision), then one rule
 * per mirror (the default split plus the copy), then the default split. The overlap rules
 * keep this order meaningful in Gateway API too, whose rules are ranked by specificity
 * (a method match outranks header matches) rather than by position. `stopped` (sluice
 * stop-traffic) leaves one rule with no destination. A pause cannot be expressed: refused.
 */
export function planRules(kind: string, roles: Roles): PlannedRule[] {
  const { main } = roles;
  const rollout = main.rollout;
  if (main.hold?.mode === 'paused') refuse(kind, rollout, `pause-traffic cannot be expressed by ${kind}; use stop-traffic, or resume-traffic`);
  const everything: MatchAlternative[] = [{ pathPrefix: '/', headers: [], query: [] }];
  if (main.hold?.mode === 'stopped' || live(main.split).length === 0) {
    return [{ name: 'primary', alternatives: everything, destinations: [], source: 'default' }];
  }
  const mirrors = (main.mirrors ?? [])
    .filter((m) => m.percent > 0)
    .map((m, i) => ({
      m,
      alts: alternatives(kind, rollout, m.match, `mirrors[${i}] (${m.name})`, DEFAULT_MIRROR_METHODS),
      mirror: { slot: slotOf(roles, m.revision), revision: m.revision, percent: m.percent },
    }));
  const out: PlannedRule[] = [];
  main.rules.forEach((r, i) => {
    const alts = alternatives(kind, rollout, r, `rules[${i}] (${r.name})`);
    const destinations = ruleDestinations(roles, r);
    for (const x of mirrors) {
      const both = alts.flatMap((a) => x.alts.flatMap((b) => intersect(a, b) ?? []));
      if (both.length === 0) continue;
      const toShadow = destinations.length === 1 && destinations[0]!.revision === x.m.revision;
      out.push({ name: `${r.name}-${x.m.name}`, alternatives: both, destinations, ...(toShadow ? {} : { mirror: x.mirror }), source: { rule: r } });
    }
    out.push({ name: r.name, alternatives: alts, destinations, source: { rule: r } });
  });
  const split = defaultDestinations(roles);
  for (const x of mirrors) out.push({ name: x.m.name, alternatives: x.alts, destinations: split, mirror: x.mirror, source: { mirror: x.m.name } });
  out.push({ name: 'primary', alternatives: everything, destinations: split, source: 'default' });
  return out;
}

/** Labels of every object: managed by sluice, for this rollout (keys sorted). */
export function objectLabels(rollout: string): Record<string, string> {
  return { [MANAGED_BY]: 'sluice', [ROLLOUT_LABEL]: rollout };
}

export function metadata(name: string, namespace: string, rollout: string, annotations?: Record<string, string>): ObjectMeta {
  return { name, namespace, labels: objectLabels(rollout), ...(annotations ? { annotations: sorted(annotations) } : {}) };
}

/** A copy with keys in code-point order. */
export function sorted(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A Service name: `<rollout>-<slot>` (a DNS label, at most 63 characters). */
export function serviceName(kind: string, rollout: string, slot?: string): string {
  const name = slot === undefined ? rollout : `${rollout}-${slot}`;
  if (name.length > 63) refuse(kind, rollout, `the Service name ${name} is longer than 63 characters; shorten the rollout's name`);
  return name;
}

/** The selector of one revision's pods: the labels the platform puts on them. */
export function revisionSelector(rollout: string, revision: number): Record<string, string> {
  return { [REVISION_LABEL]: String(revision), [ROLLOUT_LABEL]: rollout };
}

/** A ClusterIP Service on the settings' port selecting these labels. */
export function service(
  name: string,
  namespace: string,
  rollout: string,
  selector: Record<string, string>,
  ports: { port: number; targetPort: number | string },
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(name, namespace, rollout),
    spec: {
      type: 'ClusterIP',
      selector: sorted(selector),
      ports: [{ name: 'http', protocol: 'TCP', port: ports.port, targetPort: ports.targetPort }],
    },
  };
}

/** The Services of every slot (stable, canary, preview, extras), each selecting its revision. */
export function slotServices(kind: string, input: TrafficInput<{ port: number; targetPort: number | string }>, roles: Roles): KubeObject[] {
  return slotsOf(roles).map((s) =>
    service(serviceName(kind, input.rollout, s.slot), input.namespace, input.rollout, revisionSelector(input.rollout, s.revision), input.settings),
  );
}

/** Whether `n` is a whole number (weights and percentages may be fractional in the table). */
export const whole = (n: number) => Number.isInteger(n);

/**
 * One rollout's listeners → the slot Services of services.ts and the canary Ingress that
 * ingress-nginx pairs with the user's primary Ingress (the spec names it; it must send
 * `host` + `path` to `<rollout>-stable`), as Flagger's ingress router writes it:
 * `<ingress>-canary`, the same host and path to `<rollout>-canary`, and the annotations
 *
 *   nginx.ingress.kubernetes.io/canary: "true"
 *   nginx.ingress.kubernetes.io/canary-weight: "<the canary's share, 0..100>"
 *   nginx.ingress.kubernetes.io/canary-by-header (+ -value for exact, -pattern for prefix/regex)
 *   nginx.ingress.kubernetes.io/canary-by-cookie
 *
 * ingress-nginx tries the header first, then the cookie, then the weight; so it can take
 * one header rule and one cookie rule, each sending every matching request to the canary.
 * A cookie rule must match the value `always` (the only value ingress-nginx routes on, as
 * Flagger's A/B cookie match names the cookie). Between releases the canary Ingress stays,
 * weight "0" (Flagger's). Refused, as ingress-nginx cannot route them: a rule to another
 * revision than the canary (A/B arms by header), a rule with a split, path, method, query
 * or two conditions, a third revision, mirrors (a canary Ingress ignores mirror-target),
 * stop-traffic and pause-traffic. Not expressed: stickiness. Pure: no I/O.
 */
import { escapeRegex, integerWeights, type KubeObject, metadata, refuse, rolesOf, serviceName, slotServices, type TrafficInput } from './common.js';
import type { NginxIngressSettings } from './settings.js';

export const NGINX_INGRESS = 'nginxIngress';
export const ANNOTATION_PREFIX = 'nginx.ingress.kubernetes.io';

export function renderNginxIngress(input: TrafficInput<NginxIngressSettings>): KubeObject[] {
  const roles = rolesOf(NGINX_INGRESS, input);
  const { rollout, namespace, settings } = input;
  const { main } = roles;
  const no = (what: string): never => refuse(NGINX_INGRESS, rollout, what);
  if (main.hold)
    no(
      `${main.hold.mode === 'stopped' ? 'stop' : 'pause'}-traffic cannot be expressed by a canary Ingress (the primary Ingress is yours); use gatewayApi or istio`,
    );
  if ((main.mirrors ?? []).some((m) => m.percent > 0))
    no('a mirror cannot be expressed by a canary Ingress (ingress-nginx ignores mirror-target there); use gatewayApi or istio');
  if (roles.extras.length > 0) no(`revision ${roles.extras[0]!.revision} would be a third backend; a canary Ingress splits between stable and canary only`);
  const live = main.split.filter((t) => t.weight > 0);
  if (live.length === 0) no('the main listener routes to no revision (maintenance), which a canary Ingress cannot answer');

  const a = (suffix: string) => `${ANNOTATION_PREFIX}/${suffix}`;
  const annotations: Record<string, string> = { [a('canary')]: 'true' };
  let header = false;
  let cookie = false;
  for (const r of main.rules) {
    const where = `match rule ${r.name}`;
    if (r.split || r.revision !== roles.canary || roles.canary === roles.stable) {
      no(`${where} routes to ${r.split ? 'a split' : `revision ${r.revision}`}; a canary Ingress sends matching requests to the canary only`);
    }
    if (r.pathPrefix !== undefined || r.query || r.methods || r.sourceCidr !== undefined)
      no(`${where} matches a path, query, method or source; a canary Ingress matches one header or cookie`);
    if (r.header && r.cookie) no(`${where} matches a header and a cookie; ingress-nginx takes either, not both`);
    if (r.header) {
      if (header) no(`${where} is a second header rule; ingress-nginx takes one canary-by-header`);
      header = true;
      annotations[a('canary-by-header')] = r.header.name;
      if (r.header.exact !== undefined) annotations[a('canary-by-header-value')] = r.header.exact;
      else annotations[a('canary-by-header-pattern')] = r.header.prefix !== undefined ? `^${escapeRegex(r.header.prefix)}` : `^(?:${r.header.regex})$`;
    } else if (r.cookie) {
      if (cookie) no(`${where} is a second cookie rule; ingress-nginx takes one canary-by-cookie`);
      if (r.cookie.exact !== 'always')
        no(`${where} matches cookie ${r.cookie.name} by value; ingress-nginx routes a cookie set to always: write exact: always`);
      cookie = true;
      annotations[a('canary-by-cookie')] = r.cookie.name;
    } else {
      no(`${where} matches every request; give it a header or a cookie`);
    }
  }
  const weights = integerWeights(main.split);
  const canaryWeight = roles.canary === roles.stable ? 0 : (weights.find((t) => t.revision === roles.canary)?.weight ?? 0);
  annotations[a('canary-weight')] = String(canaryWeight);

  const ingress: KubeObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: metadata(`${settings.ingress}-canary`, namespace, rollout, annotations),
    spec: {
      ingressClassName: settings.ingressClassName,
      rules: [
        {
          host: settings.host,
          http: {
            paths: [
              {
                path: settings.path,
                pathType: settings.pathType,
                backend: { service: { name: serviceName(NGINX_INGRESS, rollout, 'canary'), port: { number: settings.port } } },
              },
            ],
          },
        },
      ],
    },
  };
  return [...slotServices(NGINX_INGRESS, input, roles), ingress];
}

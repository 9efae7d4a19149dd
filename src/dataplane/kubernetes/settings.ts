/**
 * Settings of the Kubernetes traffic data planes (`spec.traffic.<kind>`, registered by
 * index.ts), with their decoders. Each kind
 * writes Services selecting revision labels (services.ts) and, except `services` itself,
 * the kind's own routing objects. Everything here is what the RouteTable cannot say: the
 * ports of the Services, where the route attaches (Gateway API parentRefs, Istio hosts
 * and gateways), and the user's primary Ingress (nginx-ingress).
 */
import { isScalar, type Node } from 'yaml';
import {
  boolean,
  type Ctx,
  type Decoder,
  integer,
  listOf,
  object,
  oneOf,
  optional,
  refine,
  required,
  schemaOf,
  string,
  withDefault,
  withSchema,
} from '../../spec/schema.js';

/** What every kind's Services take (services.ts). */
export interface ServicePorts {
  /** The Services' port (what routes and clients address). */
  port: number;
  /** The pods' port: a number, or the name of a container port (IANA service name, e.g. `http`). */
  targetPort: number | string;
}

/** `kind: services`: plain Services, the split by replica count (services.ts). */
export type ServicesSettings = ServicePorts;

/** A Gateway API ParentReference (gateway.networking.k8s.io/v1), usually a Gateway. */
export interface ParentRef {
  name: string;
  namespace?: string;
  /** A listener of the Gateway, by name. */
  sectionName?: string;
  port?: number;
}

/** `kind: gatewayApi`: an HTTPRoute with weighted backendRefs to the stable/canary Services (gateway-api.ts). */
export interface GatewayApiSettings extends ServicePorts {
  /** Where the HTTPRoute attaches; at least one. */
  parentRefs: ParentRef[];
  /** The HTTPRoute's hostnames; empty: every hostname of its parents. */
  hostnames: string[];
  /**
   * The RequestMirror filter's `percent`/`fraction` (GEP-3171, standard channel since Gateway
   * API v1.3). false, for older CRDs: a mirror copies every matching request or is refused.
   */
  mirrorPercent: boolean;
}

/** `kind: istio`: a VirtualService and a DestinationRule with a subset per revision (istio.ts). */
export interface IstioSettings extends ServicePorts {
  /** The VirtualService's hosts; the rollout's own Service is always added (as Flagger does). */
  hosts: string[];
  /** The VirtualService's gateways (`name` or `namespace/name`); empty: `mesh` only. */
  gateways: string[];
}

/** `kind: nginxIngress`: the canary Ingress beside the user's primary one (nginx-ingress.ts). */
export interface NginxIngressSettings extends ServicePorts {
  /** The user's primary Ingress; it must send this host and path to the `<rollout>-stable` Service. */
  ingress: string;
  /** The primary Ingress's host the canary Ingress shadows. */
  host: string;
  path: string;
  pathType: 'Prefix' | 'Exact' | 'ImplementationSpecific';
  ingressClassName: string;
}

export const DEFAULT_PORTS: ServicePorts = { port: 80, targetPort: 'http' };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A Gateway API Hostname: a DNS name, optionally a `*.` wildcard first label. */
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** An Istio VirtualService host: a short name, an FQDN, a `*.` wildcard or `*`. */
const ISTIO_HOST = /^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;
/** An Istio gateway reference: `mesh`, `name` or `namespace/name`. */
const ISTIO_GATEWAY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** An IANA service name, as a container port's name: 1-15 of a-z0-9-, at least one letter, no -- or edge -. */
const PORT_NAME = /^(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;

const PORT = integer({ min: 1, max: 65535, fix: 'write a port from 1 to 65535' });
const PORT_NAME_DECODER = string({
  fix: 'write a port number or a container port name such as http',
  pattern: PORT_NAME,
  patternProblem: 'must be a port number or a container port name (a-z, 0-9 and -, at most 15, with a letter)',
});

/** A port number, or a container port's name. */
const targetPort: Decoder<number | string> = withSchema(
  (node: Node, ctx: Ctx) => (isScalar(node) && typeof node.value === 'number' ? PORT(node, ctx) : PORT_NAME_DECODER(node, ctx)),
  () => ({ anyOf: [schemaOf(PORT), schemaOf(PORT_NAME_DECODER)] }),
);

const ports = {
  port: withDefault(PORT, DEFAULT_PORTS.port),
  targetPort: withDefault(targetPort, DEFAULT_PORTS.targetPort),
};

const name = (what: string) =>
  string({ fix: `write the ${what}'s name: a lowercase DNS label`, pattern: DNS_LABEL, patternProblem: 'must be a lowercase DNS label', maxLength: 63 });

export const servicesSettings: Decoder<ServicesSettings> = object(ports);

const parentRef: Decoder<ParentRef> = object({
  name: required(name('Gateway'), 'public-gateway'),
  namespace: optional(name('namespace')),
  sectionName: optional(
    string({ fix: 'write the listener name: a DNS subdomain', pattern: DNS_SUBDOMAIN, patternProblem: 'must be a DNS subdomain', maxLength: 253 }),
  ),
  port: optional(PORT),
});

export const gatewayApiSettings: Decoder<GatewayApiSettings> = refine(
  object({
    parentRefs: required(listOf(parentRef, 'write parentRefs as a list, e.g. [{name: public-gateway}]', 32), '[{name: public-gateway}]'),
    hostnames: withDefault(
      listOf(
        string({ fix: 'write a host name, e.g. shop.example.com or *.example.com', pattern: HOSTNAME, patternProblem: 'must be a DNS name', maxLength: 253 }),
        'write hostnames as a list, e.g. [shop.example.com]',
        16,
      ),
      [],
    ),
    mirrorPercent: withDefault(boolean('write true (Gateway API v1.3+ CRDs: percent in RequestMirror) or false (older CRDs)'), true),
    ...ports,
  }),
  (v, fail) => {
    if (v.parentRefs.length === 0) fail('has no parentRefs', 'name the Gateway the HTTPRoute attaches to, e.g. [{name: public-gateway}]', 'parentRefs');
  },
);

export const istioSettings: Decoder<IstioSettings> = object({
  hosts: withDefault(
    listOf(
      string({ fix: 'write a host, e.g. shop.example.com or web', pattern: ISTIO_HOST, patternProblem: 'must be a DNS name, *.name or *', maxLength: 253 }),
      'write hosts as a list, e.g. [shop.example.com]',
      32,
    ),
    [],
  ),
  gateways: withDefault(
    listOf(
      string({
        fix: 'write a gateway as name or namespace/name, or mesh',
        pattern: ISTIO_GATEWAY,
        patternProblem: 'must be mesh, name or namespace/name',
        maxLength: 317,
      }),
      'write gateways as a list, e.g. [istio-system/public-gateway]',
      32,
    ),
    [],
  ),
  ...ports,
});

export const nginxIngressSettings: Decoder<NginxIngressSettings> = object({
  ingress: required(name('primary Ingress'), 'web (the Ingress that routes to <rollout>-stable)'),
  host: required(
    string({ fix: 'write the primary Ingress host, e.g. shop.example.com', pattern: DNS_SUBDOMAIN, patternProblem: 'must be a DNS name', maxLength: 253 }),
    'shop.example.com',
  ),
  path: withDefault(string({ fix: 'write an absolute path, e.g. /', pattern: /^\/[^\s{};]*$/, patternProblem: 'must be an absolute path' }), '/'),
  pathType: withDefault(oneOf(['Prefix', 'Exact', 'ImplementationSpecific'] as const), 'Prefix'),
  ingressClassName: withDefault(name('IngressClass'), 'nginx'),
  ...ports,
});

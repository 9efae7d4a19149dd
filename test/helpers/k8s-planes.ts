/**
 * What the Kubernetes data-plane tests share: each plane's golden folder, object kinds and
 * `traffic` lines (the settings test/fixtures/k8s-traffic/ was rendered with), and how a
 * stored object is compared with its golden (every field the golden sets, as stored).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const GOLDEN_DIR = fileURLToPath(new URL('../../../test/fixtures/k8s-traffic/', import.meta.url));

export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
  spec: Record<string, unknown>;
}

export const PLURAL: Record<string, string> = {
  Service: 'services',
  Ingress: 'ingresses',
  HTTPRoute: 'httproutes',
  VirtualService: 'virtualservices',
  DestinationRule: 'destinationrules',
};

export const API_VERSION: Record<string, string> = {
  Service: 'v1',
  Ingress: 'networking.k8s.io/v1',
  HTTPRoute: 'gateway.networking.k8s.io/v1',
  VirtualService: 'networking.istio.io/v1',
  DestinationRule: 'networking.istio.io/v1',
};

/** Each plane: its golden folder, the object kinds it writes, and the `traffic` lines naming it (the goldens' settings). */
export const PLANES = {
  services: { dir: 'services', kinds: ['Service'], traffic: '    router: services\n' },
  gatewayApi: {
    dir: 'gateway-api',
    kinds: ['Service', 'HTTPRoute'],
    traffic: '    router: gatewayApi\n    gatewayApi: {parentRefs: [{name: public-gateway, namespace: gateway-system}], hostnames: [web.example.com]}\n',
  },
  istio: {
    dir: 'istio',
    kinds: ['Service', 'DestinationRule', 'VirtualService'],
    traffic: '    router: istio\n    istio: {hosts: [web.example.com], gateways: [istio-system/public-gateway]}\n',
  },
  nginxIngress: {
    dir: 'nginx-ingress',
    kinds: ['Service', 'Ingress'],
    traffic: '    router: nginxIngress\n    nginxIngress: {ingress: web, host: web.example.com}\n',
  },
} as const;
export type Plane = keyof typeof PLANES;

/** The first field the golden sets that is stored otherwise (objects key by key, arrays whole). */
export function differs(want: unknown, got: unknown, at = ''): string | undefined {
  if (Array.isArray(want)) {
    if (!Array.isArray(got) || got.length !== want.length) return `${at}: want ${JSON.stringify(want)}, stored ${JSON.stringify(got)}`;
    for (let i = 0; i < want.length; i++) {
      const d = differs(want[i], got[i], `${at}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (want !== null && typeof want === 'object') {
    if (got === null || typeof got !== 'object' || Array.isArray(got)) return `${at}: want ${JSON.stringify(want)}, stored ${JSON.stringify(got)}`;
    for (const [k, v] of Object.entries(want)) {
      const d = differs(v, (got as Record<string, unknown>)[k], `${at}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return want === got ? undefined : `${at}: want ${JSON.stringify(want)}, stored ${JSON.stringify(got)}`;
}

/** A golden file's objects: `test/fixtures/k8s-traffic/<plane>/<scenario>-<step>.yaml`. */
export function golden(plane: Plane, step: string, scenario = 'canary'): Obj[] {
  return parseAllDocuments(readFileSync(`${GOLDEN_DIR}${PLANES[plane].dir}/${scenario}-${step}.yaml`, 'utf8')).map((d) => d.toJS() as Obj);
}

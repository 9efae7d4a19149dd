/**
 * The Kubernetes traffic renderers as data planes (`traffic.router: services | gatewayApi |
 * istio | nginxIngress`, settings in `traffic.<name>`), written to the control plane's
 * cluster by data-plane.ts. None compares a mirror's answer (the peers discard the copy's).
 */
import type { DataPlaneDefinition, TrafficProblem } from '../adapter.js';
import { DEFAULT_PORTS, gatewayApiSettings, type IstioSettings, istioSettings, nginxIngressSettings, servicesSettings } from './settings.js';
import { DESTINATION_RULES, HTTP_ROUTES, INGRESSES, type KubeTrafficKind, openKind, SERVICES_RESOURCE, VIRTUAL_SERVICES } from './data-plane.js';
import { renderServices, SERVICES } from './services.js';
import { GATEWAY_API, renderGatewayApi } from './gateway-api.js';
import { ISTIO, renderIstio } from './istio.js';
import { NGINX_INGRESS, renderNginxIngress } from './nginx-ingress.js';

const SERVICE: [string, typeof SERVICES_RESOURCE] = ['Service', SERVICES_RESOURCE];

export const servicesKind: KubeTrafficKind<typeof DEFAULT_PORTS> = {
  name: SERVICES,
  render: renderServices,
  defaults: DEFAULT_PORTS,
  resources: [SERVICE],
  settingsHint: 'traffic.services: {port: 80, targetPort: http}',
};

export const gatewayApiKind: KubeTrafficKind<Parameters<typeof renderGatewayApi>[0]['settings']> = {
  name: GATEWAY_API,
  render: renderGatewayApi,
  resources: [SERVICE, ['HTTPRoute', HTTP_ROUTES]],
  settingsHint: 'traffic.gatewayApi: {parentRefs: [{name: public-gateway}]}',
};

const ISTIO_DEFAULTS: IstioSettings = { hosts: [], gateways: [], ...DEFAULT_PORTS };

export const istioKind: KubeTrafficKind<IstioSettings> = {
  name: ISTIO,
  render: renderIstio,
  defaults: ISTIO_DEFAULTS,
  resources: [SERVICE, ['DestinationRule', DESTINATION_RULES], ['VirtualService', VIRTUAL_SERVICES]],
  settingsHint: 'traffic.istio: {hosts: [shop.example.com]}',
};

export const nginxIngressKind: KubeTrafficKind<Parameters<typeof renderNginxIngress>[0]['settings']> = {
  name: NGINX_INGRESS,
  render: renderNginxIngress,
  resources: [SERVICE, ['Ingress', INGRESSES]],
  settingsHint: 'traffic.nginxIngress: {ingress: web, host: shop.example.com}',
};

/** A kind whose settings have required fields: a spec naming it must give them. */
function needsSettings(name: string, hint: string): (traffic: unknown) => TrafficProblem | undefined {
  return (traffic) => {
    const t = traffic as { router?: { settings?: unknown } } & Record<string, unknown>;
    if (t.router?.settings !== undefined || t[name] !== undefined) return undefined;
    return [name, `is required with router: ${name}`, `add ${hint}`];
  };
}

export const servicesDataPlane: DataPlaneDefinition = {
  name: SERVICES,
  settings: servicesSettings,
  defaultSettings: DEFAULT_PORTS,
  comparesMirrors: false,
  open: (ctx) => openKind(servicesKind, ctx),
};

export const gatewayApiDataPlane: DataPlaneDefinition = {
  name: GATEWAY_API,
  settings: gatewayApiSettings,
  checkTraffic: needsSettings(GATEWAY_API, gatewayApiKind.settingsHint),
  comparesMirrors: false,
  open: (ctx) => openKind(gatewayApiKind, ctx),
};

export const istioDataPlane: DataPlaneDefinition = {
  name: ISTIO,
  settings: istioSettings,
  defaultSettings: ISTIO_DEFAULTS,
  comparesMirrors: false,
  open: (ctx) => openKind(istioKind, ctx),
};

export const nginxIngressDataPlane: DataPlaneDefinition = {
  name: NGINX_INGRESS,
  settings: nginxIngressSettings,
  checkTraffic: needsSettings(NGINX_INGRESS, nginxIngressKind.settingsHint),
  comparesMirrors: false,
  open: (ctx) => openKind(nginxIngressKind, ctx),
};

export const KUBERNETES_DATA_PLANES: readonly DataPlaneDefinition[] = [servicesDataPlane, gatewayApiDataPlane, istioDataPlane, nginxIngressDataPlane];

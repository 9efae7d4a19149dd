/**
 * Every data plane sluice knows, by the name specs write in `traffic.router`: the builtin
 * router, nginx, and the Kubernetes ones (services, gatewayApi, istio, nginxIngress,
 * kubernetes/index.ts). Adding one is a folder beside nginx/ exporting a
 * DataPlaneDefinition, plus one line here.
 */
import type { DataPlaneDefinition } from './adapter.js';
import { builtinDataPlane } from './builtin/index.js';
import { nginxDataPlane } from './nginx/index.js';
import { KUBERNETES_DATA_PLANES } from './kubernetes/index.js';

export const DATA_PLANES: readonly DataPlaneDefinition[] = [builtinDataPlane, nginxDataPlane, ...KUBERNETES_DATA_PLANES];

export const BUILTIN = builtinDataPlane.name;

export function dataPlaneNamed(name: string | undefined): DataPlaneDefinition | undefined {
  return DATA_PLANES.find((p) => p.name === (name ?? BUILTIN));
}

/**
 * Every data plane sluice knows, by the name specs write in `traffic.router`. Adding one
 * (Gateway API, Istio, nginx-ingress…) is a folder beside nginx/ exporting a
 * DataPlaneDefinition, plus one line here.
 */
import type { DataPlaneDefinition } from './adapter.js';
import { builtinDataPlane } from './builtin/index.js';
import { nginxDataPlane } from './nginx/index.js';

export const DATA_PLANES: readonly DataPlaneDefinition[] = [builtinDataPlane, nginxDataPlane];

export const BUILTIN = builtinDataPlane.name;

export function dataPlaneNamed(name: string | undefined): DataPlaneDefinition | undefined {
  return DATA_PLANES.find((p) => p.name === (name ?? BUILTIN));
}

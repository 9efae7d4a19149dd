/**
 * `spec.traffic.router` and each data plane's settings, from the registry
 * (src/dataplane/registry.ts). Both spellings work:
 *   traffic: {router: nginx, nginx: {manage: true}}
 *   traffic: {router: {nginx: {manage: true}}}
 * What the rest of sluice sees: `router` (absent for the builtin router) and
 * `dataPlaneSettings` (the plane's decoded settings, its defaults when none were written).
 */
import { isMap, type Node } from 'yaml';
import { map, oneKey, oneOf, optional, refine, type Ctx, type Decoder, type Field } from './schema.js';
import { BUILTIN, DATA_PLANES, dataPlaneNamed } from '../dataplane/registry.js';

type Choice = { router: string; settings?: unknown };

const WITH_SETTINGS = DATA_PLANES.filter((p) => p.settings !== undefined);

const choice: Decoder<Choice> = (node: Node, ctx: Ctx) =>
  isMap(node)
    ? map(oneKey(Object.fromEntries(WITH_SETTINGS.map((p) => [p.name, p.settings!])), 'data plane'), ({ key, value }) => ({ router: key, settings: value }))(
        node,
        ctx,
      )
    : { router: oneOf(DATA_PLANES.map((p) => p.name))(node, ctx) };

/** The fields `traffic` gets for its data plane: `router`, and `<name>` for each plane that takes settings. */
export function dataPlaneFields(): Record<string, Field<unknown>> {
  const fields: Record<string, Field<unknown>> = { router: { decode: choice, absent: { value: () => ({ router: BUILTIN }) } } };
  for (const p of WITH_SETTINGS) fields[p.name] = optional(p.settings!);
  return fields;
}

type Folded<T> = Omit<T, 'router'> & { router?: string; dataPlaneSettings?: unknown };

/**
 * Folds `router` and the settings fields into `{router, dataPlaneSettings}` (nothing for
 * builtin, as in specs written before other data planes); settings for a plane that is not
 * the router are an error, and so is what the chosen plane's own traffic check refuses.
 */
export function withDataPlane<T extends { router: unknown }>(d: Decoder<T>): Decoder<Folded<T>> {
  return map(
    refine(d, (v, fail) => {
      const chosen = v.router as Choice;
      const given = v as unknown as Record<string, unknown>;
      for (const p of WITH_SETTINGS) {
        if (given[p.name] === undefined) continue;
        if (chosen.router !== p.name) fail(`sets ${p.name} settings but the router is ${chosen.router}`, `add router: ${p.name}, or remove ${p.name}`, p.name);
        if (chosen.settings !== undefined) fail(`sets ${p.name} settings twice (router.${p.name} and ${p.name})`, 'keep one of them', p.name);
      }
      const bad = dataPlaneNamed(chosen.router)?.checkTraffic?.(v);
      if (bad !== undefined) fail(bad[1], bad[2], bad[0]);
    }),
    (v) => {
      const { router, ...rest } = v as T & Record<string, unknown>;
      const chosen = router as Choice;
      for (const p of WITH_SETTINGS) delete rest[p.name];
      if (chosen.router === BUILTIN) return rest as Folded<T>;
      const plane = dataPlaneNamed(chosen.router)!;
      const settings = chosen.settings ?? (v as Record<string, unknown>)[chosen.router] ?? plane.defaultSettings;
      return { ...rest, router: chosen.router, ...(settings === undefined ? {} : { dataPlaneSettings: structuredClone(settings) }) } as Folded<T>;
    },
  );
}

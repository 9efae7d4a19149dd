/**
 * The JSON a row keeps (a rollout's spec and status, an experiment snapshot) will change
 * shape as sluice grows. Each row records the format it was written in, and reading
 * converts it step by step to the current format, so a release that reshapes one adds a
 * step here rather than rewriting every row in a migration. Rows from before formats were
 * kept are format 1. A new format comes with a migration step too (an empty one will do),
 * so an older sluice refuses the database when it opens it, not one row at a time while it
 * runs.
 */
export type FormatSteps = readonly ((older: unknown) => unknown)[];

/** Step i turns format i + 1 into format i + 2. */
export const SPEC_STEPS: FormatSteps = [
  // 1 → 2: a data plane's settings are opaque to everything but the plane (src/dataplane/registry.ts):
  // `traffic.nginx` became `traffic.dataPlaneSettings`.
  (older) => {
    const spec = older as { traffic?: Record<string, unknown> };
    if (spec.traffic?.nginx === undefined) return older;
    const { nginx, ...traffic } = spec.traffic;
    return { ...spec, traffic: { ...traffic, dataPlaneSettings: nginx } };
  },
];
/** Step i turns format i + 1 into format i + 2. None yet: format 1 is today's shape. */
export const STATUS_STEPS: FormatSteps = [];

/** An experiment report snapshot (core/experiment.ts ExperimentReport). Step i turns format i + 1 into format i + 2; none yet. */
export const SNAPSHOT_STEPS: FormatSteps = [];

/** The format new rows are written in. */
export const currentFormat = (steps: FormatSteps): number => steps.length + 1;

/** Parse a stored row's JSON and bring it to the current format; `what` names it in the refusal. */
export function decodeRow<T>(what: string, json: string, format: number, steps: FormatSteps): T {
  if (!Number.isInteger(format) || format < 1 || format > currentFormat(steps)) {
    throw new Error(`${what} is stored in format ${format}, which this sluice does not understand (it knows 1 to ${currentFormat(steps)}) — upgrade sluice`);
  }
  let value: unknown = JSON.parse(json);
  for (let f = format; f < currentFormat(steps); f++) value = steps[f - 1](value);
  return value as T;
}

/**
 * Flags as the data plane evaluates them: spec + state → flagd's flag-definition JSON.
 * Pure (no I/O, no clock): times are compared with `$flagd.timestamp` (epoch seconds)
 * at evaluation, so a time window opens and closes by itself.
 */
import type { FlagdDocument, FlagdFlag, FlagEnable, FlagRecord } from '../core/flags.js';

const DAY_SECONDS = 86_400;

/** One flag as flagd evaluates it now: killed → offVariant for all; sugar → JsonLogic; state.percentage over the spec's. */
export function compileFlag(record: FlagRecord): FlagdFlag {
  const { spec, state } = record;
  if (state.killed) {
    return { state: 'ENABLED', variants: spec.variants, defaultVariant: spec.offVariant, metadata: { ...spec.metadata, killed: true } };
  }
  const out: FlagdFlag = { state: spec.state, variants: spec.variants, defaultVariant: spec.defaultVariant };
  if (spec.enable) out.targeting = enableTargeting(spec.enable, state.percentage ?? spec.enable.percentage, spec.defaultVariant);
  else if (spec.targeting !== undefined) out.targeting = spec.targeting;
  if (Object.keys(spec.metadata).length > 0) out.metadata = { ...spec.metadata };
  return out;
}

/** Every flag in one document, with the union of their sets' `$evaluators` (a clash of names is the spec's error, not this). */
export function compileFlags(records: readonly FlagRecord[]): FlagdDocument {
  const flags: FlagdDocument['flags'] = {};
  const evaluators: Record<string, unknown> = {};
  for (const r of records) {
    Object.defineProperty(flags, r.name, { value: compileFlag(r), enumerable: true, writable: true, configurable: true });
    for (const [name, logic] of Object.entries(r.evaluators)) {
      Object.defineProperty(evaluators, name, { value: logic, enumerable: true, writable: true, configurable: true });
    }
  }
  return { flags, ...(Object.keys(evaluators).length > 0 ? { $evaluators: evaluators } : {}) };
}

/**
 * The sugar as JsonLogic: `if(every condition, variant-for-the-percentage, null)`. The
 * percentage is a fractional split on flagKey + targetingKey with the enable variant
 * first, so a user's bucket is below p% or not, and raising p only adds users.
 */
export function enableTargeting(enable: FlagEnable, percentage: number | undefined, defaultVariant: string): unknown {
  const conditions: unknown[] = [];
  const now = { var: '$flagd.timestamp' };
  if (enable.segments) conditions.push({ in: [{ var: 'segment' }, [...enable.segments]] });
  for (const [name, value] of Object.entries(enable.attributes ?? {})) conditions.push({ '==': [{ var: name }, value] });
  if (enable.countries) conditions.push({ in: [{ var: 'country' }, [...enable.countries]] });
  if (enable.minAccountAgeDays !== undefined) {
    // Created at least N days ago: accountCreatedAt + N days <= now; without the attribute, never (null would count as 1970).
    conditions.push({ '!': { missing: ['accountCreatedAt'] } });
    conditions.push({ '<=': [{ '+': [{ var: 'accountCreatedAt' }, enable.minAccountAgeDays * DAY_SECONDS] }, now] });
  }
  if (enable.from !== undefined) conditions.push({ '>=': [now, Math.floor(enable.from / 1000)] });
  if (enable.until !== undefined) conditions.push({ '<': [now, Math.floor(enable.until / 1000)] });
  const p = percentage ?? 100;
  const served = p >= 100 ? enable.variant : p <= 0 ? null : split(enable.variant, defaultVariant, p);
  const condition = conditions.length === 0 ? true : conditions.length === 1 ? conditions[0] : { and: conditions };
  return { if: [condition, served, null] };
}

/** flagd's weights are whole numbers: a whole percentage out of 100, else hundredths out of 10,000 (same buckets either way). */
function split(variant: string, defaultVariant: string, p: number): unknown {
  const whole = Number.isInteger(p);
  const total = whole ? 100 : 10_000;
  const on = whole ? p : Math.round(p * 100);
  const by = { cat: [{ var: '$flagd.flagKey' }, { var: 'targetingKey' }] };
  if (variant === defaultVariant) return variant;
  return { fractional: [by, [variant, on], [defaultVariant, total - on]] };
}

/**
 * Flags as the data plane evaluates them: spec + state → flagd's flag-definition JSON.
 * Pure (no I/O, no clock). STUB: the signature is fixed; the implementation lands with
 * the spec work.
 */
import type { FlagdDocument, FlagdFlag, FlagRecord } from '../core/flags.js';

/** One flag as flagd evaluates it now: killed → offVariant for all; sugar → JsonLogic; state.percentage over the spec's. */
export function compileFlag(_record: FlagRecord): FlagdFlag {
  throw new Error('compileFlag: not implemented yet');
}

/** Every flag in one document, with the union of their sets' `$evaluators` (a clash of names is the spec's error, not this). */
export function compileFlags(_records: readonly FlagRecord[]): FlagdDocument {
  throw new Error('compileFlags: not implemented yet');
}

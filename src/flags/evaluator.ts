/**
 * Evaluates a compiled flagd document the way flagd does, with the official evaluator
 * (`@openfeature/flagd-core`: JsonLogic plus fractional, sem_ver, starts_with, ends_with,
 * `$flagd.flagKey` / `$flagd.timestamp` in the context). One call per key whatever the
 * flag's type: OFREP requests do not say the type, so the flag's own variant decides it.
 *
 * Fast path: a flag without targeting (or DISABLED) answers the same for every context,
 * so its answer is computed once per document (by flagd-core itself) and reused; a flag
 * with targeting runs flagd-core's compiled JsonLogic on every call. Each evaluation is
 * counted per flag and variant (FlagUsage) for `sluice flags stale` and the exposures.
 */
import { FlagdCore, type FeatureFlag } from '@openfeature/flagd-core';
import type { FlagdDocument, FlagMetadata, FlagType, FlagUsage, FlagValue } from '../core/flags.js';

/** OFREP's error codes (and OpenFeature's), as an evaluation reports them. */
export type EvaluationErrorCode = 'FLAG_NOT_FOUND' | 'PARSE_ERROR' | 'TYPE_MISMATCH' | 'TARGETING_KEY_MISSING' | 'INVALID_CONTEXT' | 'GENERAL';

/** A flag evaluated: `value` and `variant` absent mean "use the code default" (OFREP's codeDefaultFlag). */
export interface EvaluationSuccess {
  key: string;
  value?: FlagValue;
  variant?: string;
  /** STATIC, TARGETING_MATCH, SPLIT, DEFAULT, DISABLED (flagd's reasons). */
  reason: string;
  metadata: FlagMetadata;
}

export interface EvaluationFailure {
  key: string;
  errorCode: EvaluationErrorCode;
  /** One line: what went wrong with which flag. */
  errorDetails: string;
  metadata?: FlagMetadata;
}

export type Evaluation = EvaluationSuccess | EvaluationFailure;

export function isFailure(e: Evaluation): e is EvaluationFailure {
  return 'errorCode' in e;
}

export interface FlagEvaluatorOptions {
  /** Epoch ms for last-evaluated times; tests pass a fake. ($flagd.timestamp is flagd-core's own clock.) */
  now?: () => number;
}

/** An evaluation context as OFREP carries it: a JSON object, `targetingKey` a string when present. */
export type EvaluationContext = Record<string, unknown>;

interface Counter {
  count: number;
  last: number;
}

interface Entry {
  flag: FeatureFlag;
  /** The answer for every context (no targeting, or DISABLED); frozen. */
  fixed?: Evaluation;
  /** Counters by variant ("" for code default / error), kept across documents. */
  counters: Map<string, Counter>;
}

// flagd-core logs targeting trouble at debug level per evaluation; the data plane has no use for it.
const silent = { error() {}, warn() {}, info() {}, debug() {} };

const ERROR_CODES: ReadonlySet<string> = new Set(['FLAG_NOT_FOUND', 'PARSE_ERROR', 'TYPE_MISMATCH', 'TARGETING_KEY_MISSING', 'INVALID_CONTEXT', 'GENERAL']);

/** Why `context` is not an evaluation context, or undefined when it is. */
export function contextProblem(context: unknown): string | undefined {
  if (context === null || typeof context !== 'object' || Array.isArray(context)) {
    return `the evaluation context must be a JSON object, not ${describe(context)}`;
  }
  const tk = (context as EvaluationContext).targetingKey;
  if (tk !== undefined && typeof tk !== 'string') return `context.targetingKey must be a string, not ${describe(tk)}`;
  return undefined;
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function typeOf(value: FlagValue): FlagType {
  return typeof value === 'object' ? 'object' : (typeof value as FlagType);
}

export class FlagEvaluator {
  private readonly core = new FlagdCore(undefined, silent);
  private entries = new Map<string, Entry>();
  private readonly counters = new Map<string, Map<string, Counter>>();
  private readonly now: () => number;

  constructor(options: FlagEvaluatorOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Swaps in a document; returns the keys added, removed or changed. Throws a one-line
   * Error (and keeps the previous document) when flagd-core cannot read it. A flag whose
   * targeting is not valid JsonLogic loads and answers PARSE_ERROR, as in flagd.
   */
  load(document: FlagdDocument): string[] {
    let changed: string[];
    try {
      changed = this.core.setConfigurations(JSON.stringify(document));
    } catch (e) {
      const err = e as Error & { cause?: Error };
      const why = err.cause?.message ?? err.message;
      throw new Error(`flag document: flagd cannot read it (${why.replace(/\s*\n\s*/g, ' ')}); nothing changed, fix the flags and push again`);
    }
    const entries = new Map<string, Entry>();
    for (const [key, flag] of this.core.getFlags()) {
      let counters = this.counters.get(key);
      if (counters === undefined) {
        counters = new Map();
        this.counters.set(key, counters);
      }
      const def = document.flags[key];
      const targeted = def !== undefined && def.targeting !== undefined && def.targeting !== null && Object.keys(def.targeting as object).length > 0;
      const entry: Entry = { flag, counters };
      if (flag.state === 'DISABLED' || !targeted) entry.fixed = Object.freeze(this.run(key, flag, {}));
      entries.set(key, entry);
    }
    this.entries = entries;
    return changed;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The keys of the document in effect, in its order. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Evaluates one flag, any type. With `type`, a value of another type is TYPE_MISMATCH
   * (OpenFeature's typed calls); OFREP passes none. `context` must be valid (contextProblem).
   */
  evaluate(key: string, context: EvaluationContext, type?: FlagType): Evaluation {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      return { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `flag '${key}' was not found`, metadata: this.core.getFlagSetMetadata() };
    }
    let result = entry.fixed ?? this.run(key, entry.flag, context);
    if (type !== undefined && 'value' in result && result.value !== undefined && typeOf(result.value) !== type) {
      result = {
        key,
        errorCode: 'TYPE_MISMATCH',
        errorDetails: `flag '${key}' is of type ${typeOf(result.value)}, not ${type}`,
        metadata: result.metadata,
      };
    }
    // Served a variant's value: counted under it; a code default (error, DISABLED, no default): under "".
    const variant = 'value' in result && result.value !== undefined && result.variant !== undefined ? result.variant : '';
    let c = entry.counters.get(variant);
    if (c === undefined) {
      c = { count: 0, last: 0 };
      entry.counters.set(variant, c);
    }
    c.count++;
    c.last = this.now();
    return result;
  }

  /** Every flag of the document (or those `allowed` passes), in its order. */
  evaluateAll(context: EvaluationContext, allowed?: (key: string) => boolean): Evaluation[] {
    const out: Evaluation[] = [];
    for (const key of this.entries.keys()) if (allowed === undefined || allowed(key)) out.push(this.evaluate(key, context));
    return out;
  }

  /** Cumulative counters since this evaluator was made, per flag and variant. */
  usage(): FlagUsage[] {
    const out: FlagUsage[] = [];
    for (const [flag, byVariant] of this.counters) {
      for (const [variant, c] of byVariant) if (c.count > 0) out.push({ flag, variant, count: c.count, lastEvaluatedAt: c.last });
    }
    return out;
  }

  /** flagd-core's answer for one flag, as OFREP shapes it. */
  private run(key: string, flag: FeatureFlag, context: EvaluationContext): Evaluation {
    const metadata = flag.metadata as FlagMetadata;
    if (flag.state === 'DISABLED') return { key, reason: 'DISABLED', metadata };
    let r: ReturnType<FeatureFlag['evaluate']>;
    try {
      r = flag.evaluate(context as never, silent);
    } catch (e) {
      return { key, errorCode: 'GENERAL', errorDetails: `flag '${key}': ${(e as Error).message}`, metadata };
    }
    if (r.reason === 'ERROR') {
      const code = r.errorCode !== undefined && ERROR_CODES.has(r.errorCode) ? (r.errorCode as EvaluationErrorCode) : 'GENERAL';
      return { key, errorCode: code, errorDetails: r.errorMessage ?? `flag '${key}' could not be evaluated`, metadata };
    }
    if (r.value === undefined || r.value === null) return { key, reason: r.reason, metadata };
    return { key, value: r.value as FlagValue, variant: r.variant, reason: r.reason, metadata };
  }
}

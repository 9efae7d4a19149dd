import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { Node } from 'yaml';
import {
  boolean,
  type Ctx,
  describe,
  duration,
  integer,
  listOf,
  map,
  mapOf,
  nameValueMap,
  object,
  oneKey,
  oneOf,
  optional,
  percent,
  plainValue,
  refine,
  required,
  resolve,
  schemaOf,
  string,
  text,
  withDefault,
  withSchema,
  type Decoder,
} from './schema.js';
import { analysisRef } from './analysis.js';
import { LIMITS } from './limits.js';
import {
  FLAG_KEY_PATTERN,
  type FlagEnable,
  type FlagMetadata,
  type FlagRamp,
  type FlagRampStep,
  type FlagRecord,
  type FlagSetSpec,
  type FlagSpec,
  type FlagState,
  type FlagType,
  type FlagValue,
} from '../core/flags.js';

/**
 * Feature-flag documents: `kind: FeatureFlag` (one flag, metadata.name is its key),
 * `kind: FeatureFlags` (a set under spec.flags) and flagd's own flag-definition JSON
 * (`flags:` at the top, no apiVersion/kind), all decoded to a FlagSetSpec with every
 * default applied and every rule checked, each complaint at its line. docs/spec.md is the
 * reference. Targeting is checked against flagd's JsonLogic (its operators, `$ref` to an
 * existing evaluator, string results and fractional buckets naming variants, fractional
 * weights adding up to 100), so a document that loads evaluates as written.
 */

/** A decoded flag document: the set, and the document's name (flag key, set name or flagd's flagSetId). */
export interface LoadedFlagSet extends FlagSetSpec {
  name: string;
  labels: Record<string, string>;
  /** Line of each flag's definition (its key, or the document for FeatureFlag), for clashes across documents. */
  lines: Record<string, number>;
}

/** flagd's JsonLogic operators (https://flagd.dev/reference/custom-operations/ and json-logic-js's own), `$ref` aside. */
export const FLAGD_OPERATORS: ReadonlySet<string> = new Set([
  'var',
  'if',
  '==',
  '===',
  '!=',
  '!==',
  '!',
  '!!',
  'or',
  'and',
  '>',
  '>=',
  '<',
  '<=',
  'in',
  'cat',
  'substr',
  '+',
  '-',
  '*',
  '/',
  '%',
  'min',
  'max',
  'merge',
  'map',
  'filter',
  'reduce',
  'all',
  'none',
  'some',
  'missing',
  'missing_some',
  'fractional',
  'sem_ver',
  'starts_with',
  'ends_with',
]);
const SEM_VER_OPS = ['=', '!=', '>', '>=', '<', '<=', '^', '~'];
const KEY_FIX = 'use letters, digits, _, . and - (at most 128, no "/" and no "..", starting with a letter, digit or _), e.g. new-checkout';
const FLAG_KEY = string({ fix: KEY_FIX, pattern: FLAG_KEY_PATTERN, patternProblem: 'is not a valid flag key', maxLength: 128 });
const VARIANT_NAME = string({ fix: 'write a variant name, e.g. on', maxLength: 128 });
const SET_NAME = string({ fix: KEY_FIX, pattern: FLAG_KEY_PATTERN, patternProblem: 'is not a valid flag set name', maxLength: 128 });

/** A scalar kept with its type (flagd metadata values are string, number or boolean). */
const scalar: Decoder<string | number | boolean> = withSchema(
  (node: Node, ctx: Ctx) => {
    const v = isScalar(node) ? node.value : undefined;
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return v;
    return ctx.fail(node, `must be a string, number or boolean, got ${describe(node)}`, 'write a single value, e.g. team: checkout');
  },
  () => ({ type: ['string', 'number', 'boolean'] }),
);
const METADATA = mapOf(scalar, {
  noun: 'metadata key',
  namePattern: /^.{1,128}$/,
  fix: 'write metadata as key: value lines (string, number or boolean values)',
});

/** A variant's value: a boolean, string, finite number or a mapping (an object flag). */
const variantValue: Decoder<FlagValue> = withSchema(
  (node: Node, ctx: Ctx) => {
    if (isMap(node)) return plainValue(node, ctx) as { [key: string]: unknown };
    const v = isScalar(node) ? node.value : undefined;
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return v;
    return ctx.fail(node, `must be a boolean, string, number or mapping, got ${describe(node)}`, 'write the value this variant serves, e.g. on: true');
  },
  () => ({ type: ['boolean', 'string', 'number', 'object'] }),
);
const VARIANTS = refine(
  mapOf(variantValue, { noun: 'variant', namePattern: /^.{1,128}$/, fix: 'write variants as name: value lines, e.g. {on: true, off: false}' }),
  (v, fail) => {
    if (Object.keys(v).length === 0) fail('has no variants', 'add at least one, e.g. {on: true, off: false}');
  },
);

/** An ISO date or time (`2026-03-01`, `2026-03-01T09:00:00Z`) → epoch ms. */
const TIME: Decoder<number> = withSchema(
  (node: Node, ctx: Ctx) => {
    const v = isScalar(node) ? node.value : undefined;
    const ms =
      typeof v === 'string' && /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v.trim()) ? Date.parse(v.trim()) : Number.NaN;
    if (!Number.isFinite(ms)) ctx.fail(node, `must be an ISO date or time, got ${describe(node)}`, 'write e.g. 2026-03-01 or 2026-03-01T09:00:00Z');
    return ms;
  },
  () => ({ type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}', description: 'an ISO date or time, e.g. 2026-03-01T09:00:00Z' }),
);

const FLAG_PERCENT = percent({ min: 0, max: 100, fix: 'use a percentage of users from 0 to 100, e.g. 25%' });

const enableFields = {
  variant: optional(VARIANT_NAME),
  percentage: optional(FLAG_PERCENT),
  segments: optional(listOf(string({ fix: 'write a segment name, e.g. premium' }), 'write segments as a list, e.g. [premium, beta_testers]')),
  attributes: optional(mapOf(scalar, { noun: 'attribute', namePattern: /^[^\s]{1,128}$/, fix: 'write attributes as name: value lines, e.g. {plan: pro}' })),
  countries: optional(
    listOf(
      string({ fix: 'write an ISO 3166 alpha-2 code in upper case, e.g. DE', pattern: /^[A-Z]{2}$/, patternProblem: 'must be a two-letter country code' }),
      'write countries as a list, e.g. [DE, FR]',
      300,
    ),
  ),
  minAccountAgeDays: optional(integer({ min: 0, max: 100_000, fix: 'write a whole number of days, e.g. 30' })),
  from: optional(TIME),
  until: optional(TIME),
};
const ENABLE = refine(object(enableFields), (v, fail) => {
  if (v.from !== undefined && v.until !== undefined && v.until <= v.from) fail('is not after from', 'make until later than from', 'until');
});

const rampStep: Decoder<FlagRampStep> = map(
  oneKey({ setPercentage: FLAG_PERCENT, pause: object({ duration: optional(duration()) }), analysis: analysisRef }, 'step type'),
  ({ key, value }) => ({ [key]: value }) as FlagRampStep,
);
const RAMP: Decoder<FlagRamp> = object({
  steps: required(
    refine(listOf(rampStep, 'write steps as a list, e.g. [{setPercentage: 10}, {pause: {duration: 1h}}]', LIMITS.steps), (v, fail) => {
      if (v.length === 0) fail('is empty', 'add steps, e.g. [{setPercentage: 10}, {pause: {}}, {setPercentage: 100}]');
    }),
    '[{setPercentage: 10}, {pause: {}}, {setPercentage: 100}]',
  ),
  progressDeadlineSeconds: withDefault(duration({ min: 0, above: true }), 600),
});

/** Targeting kept as its YAML node until the set's evaluators are known (checked in `finishFlag`). */
interface RawLogic {
  node: Node;
  ctx: Ctx;
}
const RAW_LOGIC: Decoder<RawLogic> = withSchema(
  (node: Node, ctx: Ctx) => ({ node, ctx }),
  () => ({ description: 'flagd JsonLogic targeting (https://flagd.dev/reference/flag-definitions/#targeting-rules); may use {$ref: evaluator}' }),
);

/** The fields of one flag: FeatureFlag's spec, one entry of FeatureFlags' spec.flags, or of a flagd file's flags. */
const flagFields = {
  type: optional(oneOf(['boolean', 'string', 'number', 'object'] as const)),
  state: withDefault(oneOf(['ENABLED', 'DISABLED'] as const), 'ENABLED' as const),
  variants: optional(VARIANTS),
  defaultVariant: optional(
    withSchema(
      (node: Node, ctx: Ctx) => {
        if (isScalar(node) && node.value === null && node.range?.[0] !== node.range?.[1]) {
          ctx.fail(
            node,
            'is null (flagd\'s "use the code default"), which sluice does not support',
            'name the variant served by default, e.g. defaultVariant: off',
          );
        }
        return VARIANT_NAME(node, ctx);
      },
      () => schemaOf(VARIANT_NAME),
    ),
  ),
  offVariant: optional(VARIANT_NAME),
  enable: optional(ENABLE),
  targeting: optional(RAW_LOGIC),
  metadata: withDefault(METADATA, {}),
  owner: optional(text('write who owns the flag, e.g. team-checkout')),
  description: optional(text('describe what the flag switches')),
  created: optional(TIME),
  expires: optional(TIME),
  permanent: withDefault(boolean('write true for a flag meant to stay (ops switch, permission)'), false),
  rollout: optional(RAMP),
};
const FLAG_BODY = object(flagFields);
type FlagBody = ReturnType<typeof FLAG_BODY>;

function typeOf(v: FlagValue): FlagType {
  return typeof v === 'object' ? 'object' : (typeof v as FlagType);
}

/** Where a field's value is in a flag's mapping (the mapping itself when it is absent). */
function fieldNode(node: Node, name: string): Node {
  const pair = isMap(node) ? node.items.find((p) => isScalar(p.key) && p.key.value === name) : undefined;
  return (pair?.value as Node | undefined) ?? node;
}

/** One flag's body, decoded and checked against itself and its set's evaluators. */
function finishFlag(key: string, body: FlagBody, node: Node, ctx: Ctx, evaluators: Record<string, unknown>): FlagSpec {
  const at = (field: string) => fieldNode(node, field);
  function fail(field: string, problem: string, fix: string): never {
    return ctx.key(field).fail(at(field), problem, fix);
  }
  let variants = body.variants;
  const firstValue = variants ? Object.values(variants)[0] : undefined;
  const type: FlagType = body.type ?? (firstValue === undefined ? 'boolean' : typeOf(firstValue));
  if (!variants) {
    if (type !== 'boolean') fail('variants', `a ${type} flag needs variants`, 'add variants, e.g. {red: "#f00", blue: "#00f"}');
    variants = { on: true, off: false };
  }
  for (const [name, value] of Object.entries(variants)) {
    if (typeOf(value) !== type) {
      ctx
        .key('variants')
        .key(name)
        .fail(fieldNode(at('variants'), name), `is a ${typeOf(value)}, but the flag is ${type}`, `give every variant a ${type} value`);
    }
  }
  const names = Object.keys(variants);
  const isVariant = (n: string) => Object.hasOwn(variants, n);
  const variantFix = `use one of ${names.join(', ')}`;
  const valued = (b: boolean) => (type === 'boolean' ? names.filter((n) => variants[n] === b) : []);
  let defaultVariant = body.defaultVariant;
  if (defaultVariant === undefined) {
    if (type === 'boolean' && isVariant('off')) defaultVariant = 'off';
    else if (valued(false).length === 1) defaultVariant = valued(false)[0]!;
    else fail('defaultVariant', 'missing required field', `add defaultVariant: ${names[0]} (${variantFix})`);
  }
  if (!isVariant(defaultVariant)) fail('defaultVariant', `"${defaultVariant}" is not a variant`, variantFix);
  const offVariant = body.offVariant ?? valued(false)[0] ?? defaultVariant;
  if (!isVariant(offVariant)) fail('offVariant', `"${offVariant}" is not a variant`, variantFix);

  let enable: FlagEnable | undefined;
  if (body.enable) {
    if (body.targeting && !(isMap(body.targeting.node) && body.targeting.node.items.length === 0))
      fail('targeting', 'is set together with enable', 'keep one of them: enable compiles to targeting');
    const variant = body.enable.variant ?? (valued(true).length === 1 ? valued(true)[0] : undefined);
    const ec: Ctx = ctx.key('enable').key('variant');
    if (variant === undefined) ec.fail(at('enable'), 'missing required field', `add variant: (${variantFix})`);
    if (!isVariant(variant)) ec.fail(fieldNode(at('enable'), 'variant'), `"${variant}" is not a variant`, variantFix);
    enable = { ...body.enable, variant };
  }
  if (body.rollout && !enable) fail('rollout', 'ramps the percentage of enable, but enable is not set', 'add enable: {percentage: 0} (and any conditions)');
  if (body.expires !== undefined && body.permanent) fail('permanent', 'is set together with expires', 'a permanent flag does not expire: keep one');

  // flagd writes "no targeting" as {} too.
  const emptyRule = body.targeting !== undefined && isMap(body.targeting.node) && body.targeting.node.items.length === 0;
  const targeting = body.targeting && !emptyRule ? checkTargeting(body.targeting, { variants: names, evaluators }) : undefined;
  return {
    name: key,
    type,
    state: body.state,
    variants,
    defaultVariant,
    offVariant,
    ...(enable ? { enable } : {}),
    ...(targeting !== undefined ? { targeting } : {}),
    metadata: body.metadata as FlagMetadata,
    lifecycle: {
      ...(body.owner !== undefined ? { owner: body.owner } : {}),
      ...(body.description !== undefined ? { description: body.description } : {}),
      ...(body.created !== undefined ? { created: body.created } : {}),
      ...(body.expires !== undefined ? { expires: body.expires } : {}),
      permanent: body.permanent,
    },
    ...(body.rollout ? { rollout: body.rollout } : {}),
  };
}

interface LogicScope {
  /** Variant names a string result must be one of; absent in a shared evaluator. */
  variants?: string[];
  evaluators: Record<string, unknown>;
  /** Where the rule starts, for the depth complaint (its path would be the 64 operators). */
  root?: Ctx;
}

/** Checks flagd JsonLogic at its YAML nodes and returns it as plain JSON. */
function checkTargeting(raw: RawLogic, scope: LogicScope): unknown {
  return logic(raw.node, raw.ctx, { ...scope, root: raw.ctx }, 0, true);
}

/**
 * One JsonLogic node. `result`: what it evaluates to is the flag's variant (the rule
 * itself, an `if` branch), so a string literal there must name a variant.
 */
function logic(node: Node, ctx: Ctx, scope: LogicScope, depth: number, result: boolean): unknown {
  if (depth > LIMITS.targetingDepth)
    (scope.root ?? ctx).fail(node, `nests deeper than ${LIMITS.targetingDepth} levels`, 'flatten the rule, or move parts to $evaluators');
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === 'string' && v.length > LIMITS.textChars) ctx.fail(node, `must be at most ${LIMITS.textChars} characters`, 'shorten it');
    if (result && typeof v === 'string' && scope.variants && !scope.variants.includes(v)) {
      ctx.fail(node, `returns "${v}", which is not a variant`, `return one of ${scope.variants.join(', ')}, or null for the default`);
    }
    return typeof v === 'bigint' ? Number(v) : v;
  }
  const items = (n: Node) => (n as unknown as { items: unknown[] }).items;
  if (isSeq(node)) {
    return items(node).map((n, i) => logic(resolve(n as Node, ctx, node.range?.[0] ?? 0), ctx.index(i), scope, depth + 1, false));
  }
  if (!isMap(node)) return ctx.fail(node, `must be a JsonLogic rule, got ${describe(node)}`, 'write a rule like {"==": [{"var": "plan"}, "pro"]}');
  if (node.items.length !== 1) {
    ctx.fail(node, `a JsonLogic rule has exactly one operator, got ${node.items.length} keys`, 'write one operator per mapping, e.g. {"and": [rule, rule]}');
  }
  const pair = node.items[0]!;
  const keyNode = resolve(pair.key as Node, ctx, node.range?.[0] ?? 0);
  const op = isScalar(keyNode) ? String(keyNode.value) : '';
  const c: Ctx = ctx.key(op);
  const argsNode = resolve(pair.value as Node, ctx, keyNode.range?.[0] ?? 0);
  if (op === '$ref') {
    const name = isScalar(argsNode) ? argsNode.value : undefined;
    if (typeof name !== 'string') c.fail(argsNode, `must name an evaluator, got ${describe(argsNode)}`, 'write {"$ref": "name"} with a name from $evaluators');
    if (!Object.hasOwn(scope.evaluators, name)) {
      const known = Object.keys(scope.evaluators);
      c.fail(
        argsNode,
        `names evaluator "${name}", which $evaluators does not define`,
        known.length ? `use one of ${known.join(', ')}` : 'define it under $evaluators',
      );
    }
    return { $ref: name };
  }
  if (!FLAGD_OPERATORS.has(op)) {
    ctx.fail(
      keyNode,
      `unknown JsonLogic operator "${op}"`,
      'use a flagd operator: var, if, ==, and, or, in, fractional, sem_ver, starts_with, ends_with, … (flagd.dev/reference/custom-operations)',
    );
  }
  const args = isSeq(argsNode) ? items(argsNode).map((n) => resolve(n as Node, ctx, argsNode.range?.[0] ?? 0)) : [argsNode];
  const argCtx = (i: number) => (isSeq(argsNode) ? c.index(i) : c);
  const need = (min: number, max: number, form: string) => {
    if (args.length < min || args.length > max)
      c.fail(argsNode, `takes ${min === max ? min : `${min} to ${max}`} arguments, got ${args.length}`, `write ${form}`);
  };
  if (op === 'fractional') return fractional(argsNode, args, c, scope, depth);
  if (op === 'sem_ver') {
    need(3, 3, '{"sem_ver": [{"var": "version"}, ">=", "1.2.0"]}');
    const opNode = args[1]!;
    if (!isScalar(opNode) || !SEM_VER_OPS.includes(String(opNode.value))) {
      c.index(1).fail(opNode, `must be one of ${SEM_VER_OPS.join(' ')}, got ${describe(opNode)}`, 'write e.g. ">="');
    }
  }
  if (op === 'starts_with' || op === 'ends_with') need(2, 2, `{"${op}": [{"var": "email"}, "@example.com"]}`);
  if (['==', '===', '!=', '!==', 'in'].includes(op)) need(2, 2, `{"${op}": [a, b]}`);
  const out = args.map((a, i) => logic(a, argCtx(i), scope, depth + 1, op === 'if' && result && (i % 2 === 1 || i === args.length - 1)));
  return { [op]: isSeq(argsNode) ? out : out[0] };
}

/** flagd's fractional: an optional bucketing expression, then [variant, weight] buckets; sluice wants whole weights adding up to 100. */
function fractional(argsNode: Node, args: Node[], c: Ctx, scope: LogicScope, depth: number): unknown {
  const form = '{"fractional": [["on", 25], ["off", 75]]}';
  if (!isSeq(argsNode)) c.fail(argsNode, `must be a list of buckets, got ${describe(argsNode)}`, `write ${form}`);
  const out: unknown[] = [];
  let start = 0;
  if (args[0] && !isSeq(args[0])) {
    out.push(logic(args[0], c.index(0), scope, depth + 1, false));
    start = 1;
  }
  if (args.length - start < 1) c.fail(argsNode, 'has no buckets', `write ${form}`);
  let sum = 0;
  for (let i = start; i < args.length; i++) {
    const b = args[i]!;
    const bc: Ctx = c.index(i);
    if (!isSeq(b) || b.items.length !== 2) bc.fail(b, `must be a bucket [variant, weight], got ${describe(b)}`, 'write e.g. ["on", 25]');
    const [v, w] = (b as unknown as { items: unknown[] }).items.map((n) => resolve(n as Node, bc, b.range?.[0] ?? 0)) as [Node, Node];
    const name = isScalar(v) ? v.value : undefined;
    const vc: Ctx = bc.index(0);
    const wc: Ctx = bc.index(1);
    if (typeof name !== 'string') vc.fail(v, `must be a variant name, got ${describe(v)}`, 'write the variant as a string');
    if (scope.variants && !scope.variants.includes(name)) {
      vc.fail(v, `"${name}" is not a variant`, `use one of ${scope.variants.join(', ')}`);
    }
    const weight = isScalar(w) ? w.value : undefined;
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 100) {
      wc.fail(w, `weight must be a whole number from 0 to 100, got ${describe(w)}`, 'write a whole percentage, e.g. 25');
    }
    sum += weight;
    out.push([name, weight]);
  }
  if (sum !== 100) c.fail(argsNode, `weights add up to ${sum}, not 100`, 'make the weights add up to 100 (sluice refuses relative weights)');
  return { fractional: out };
}

const EVALUATORS: Decoder<Record<string, RawLogic>> = mapOf(RAW_LOGIC, {
  noun: 'evaluator',
  namePattern: /^.{1,128}$/,
  fix: 'write $evaluators as name: JsonLogic lines',
  entries: 1000,
});
const FLAGS_MAP = refine(mapOf(FLAG_BODY, { noun: 'flag', namePattern: FLAG_KEY_PATTERN, fix: KEY_FIX, entries: LIMITS.flags }), (v, fail) => {
  if (Object.keys(v).length === 0) fail('has no flags', 'add a flag, e.g. new-checkout: {enable: {percentage: 10}}');
});

/** Evaluators, checked (operators; a `$ref` between evaluators must name another one), as plain JSON. */
function finishEvaluators(raw: Record<string, RawLogic>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(raw)) Object.defineProperty(out, name, { value: null, enumerable: true, writable: true, configurable: true });
  for (const [name, r] of Object.entries(raw)) out[name] = checkTargeting(r, { evaluators: out });
  return out;
}

/** spec.flags / a flagd file's flags: each entry finished with its node for positions. */
function finishFlags(
  node: Node,
  ctx: Ctx,
  bodies: Record<string, FlagBody>,
  evaluators: Record<string, unknown>,
): { flags: FlagSpec[]; lines: Record<string, number> } {
  const flagsNode = fieldNode(node, 'flags');
  const c = ctx.key('flags');
  const lines: Record<string, number> = {};
  // One pass over the mapping: a lookup per flag would make 10,000 flags quadratic.
  const pairs = new Map<unknown, { key: Node; value: Node }>();
  if (isMap(flagsNode)) for (const p of flagsNode.items) if (isScalar(p.key)) pairs.set(p.key.value, { key: p.key as Node, value: p.value as Node });
  const flags = Object.entries(bodies).map(([key, body]) => {
    const pair = pairs.get(key);
    const keyNode = pair?.key ?? flagsNode;
    Object.defineProperty(lines, key, { value: ctx.lines.linePos(keyNode.range?.[0] ?? 0).line, enumerable: true, writable: true, configurable: true });
    // Positions only: an alias was resolved (and counted) when the body was decoded.
    const v = pair?.value;
    const valueNode = v && isAlias(v) ? (ctx.aliases.target(v.source, v.range?.[0] ?? 0) ?? keyNode) : (v ?? keyNode);
    return finishFlag(key, body, valueNode, c.key(key), evaluators);
  });
  return { flags, lines };
}

const FLAG_DOC_METADATA = object({
  name: required(FLAG_KEY, 'new-checkout (the flag key)'),
  labels: withDefault(nameValueMap('label', /^\S+$/, 'write labels as key: value lines'), {}),
});
const SET_DOC_METADATA = object({
  name: required(SET_NAME, 'checkout (the set name)'),
  labels: withDefault(nameValueMap('label', /^\S+$/, 'write labels as key: value lines'), {}),
});
const HEADER = { apiVersion: required(text(''), ''), kind: required(text(''), '') };

/** `kind: FeatureFlag`: one flag, its key in metadata.name (apiVersion and kind checked by load.ts). */
export function featureFlagDocument(): Decoder<LoadedFlagSet> {
  return map(
    object({
      ...HEADER,
      metadata: required(FLAG_DOC_METADATA, '{name: new-checkout}'),
      spec: required(FLAG_BODY, '{enable: {percentage: 10}} (or {} for a boolean flag, off)'),
    }),
    (d, node, ctx) => {
      const spec = finishFlag(d.metadata.name, d.spec, fieldNode(node, 'spec'), ctx.key('spec'), {});
      const line = ctx.lines.linePos(node.range?.[0] ?? 0).line;
      return { name: d.metadata.name, labels: d.metadata.labels, flags: [spec], lines: { [spec.name]: line }, evaluators: {}, metadata: {} };
    },
  );
}

/** `kind: FeatureFlags`: spec.flags by key, spec.$evaluators, spec.metadata (flagd's fields). */
export function featureFlagsDocument(): Decoder<LoadedFlagSet> {
  const SPEC = object({
    flags: required(FLAGS_MAP, '{new-checkout: {enable: {percentage: 10}}}'),
    $evaluators: withDefault(EVALUATORS, {}),
    metadata: withDefault(METADATA, {}),
  });
  return map(object({ ...HEADER, metadata: required(SET_DOC_METADATA, '{name: checkout}'), spec: required(SPEC, '{flags: {…}}') }), (d, node, ctx) => {
    const specNode = fieldNode(node, 'spec');
    const sc = ctx.key('spec');
    const evaluators = finishEvaluators(d.spec.$evaluators);
    const { flags, lines } = finishFlags(specNode, sc, d.spec.flags, evaluators);
    return { name: d.metadata.name, labels: d.metadata.labels, flags, lines, evaluators, metadata: d.spec.metadata as FlagMetadata };
  });
}

/** flagd's flag-definition document as-is (https://flagd.dev/schema/v0/flags.json): `flags`, `$evaluators`, `metadata`, `$schema`. */
export function flagdDocument(): Decoder<LoadedFlagSet> {
  return map(
    object({
      $schema: optional(text('the schema URL, e.g. https://flagd.dev/schema/v0/flags.json')),
      flags: required(FLAGS_MAP, '{new-checkout: {state: ENABLED, variants: {on: true, off: false}, defaultVariant: off}}'),
      $evaluators: withDefault(EVALUATORS, {}),
      metadata: withDefault(METADATA, {}),
    }),
    (d, node, ctx) => {
      const evaluators = finishEvaluators(d.$evaluators);
      const { flags, lines } = finishFlags(node, ctx, d.flags, evaluators);
      const id = d.metadata.flagSetId;
      const line = ctx.lines.linePos(node.range?.[0] ?? 0).line;
      return { name: typeof id === 'string' ? id : `flagd@${line}`, labels: {}, flags, lines, evaluators, metadata: d.metadata as FlagMetadata };
    },
  );
}

/** Whether a document with no apiVersion/kind is flagd's flag-definition JSON (a `flags` key at the top). */
export function isFlagdDocument(root: Node): boolean {
  if (!isMap(root)) return false;
  const keys = root.items.map((p) => (isScalar(p.key) ? p.key.value : undefined));
  return keys.includes('flags') && !keys.includes('apiVersion') && !keys.includes('kind');
}

/** A flag's state before sluice changed anything. */
export function freshFlagState(now: number): FlagState {
  return { killed: false, updatedAt: now };
}

/**
 * The records of one loaded set, for the store: state fresh (the control plane keeps the
 * existing state of a flag it already has), created from the spec or `now`.
 */
export function flagRecords(set: FlagSetSpec, source: string, now: number): FlagRecord[] {
  return set.flags.map((spec) => ({
    name: spec.name,
    spec,
    source,
    evaluators: set.evaluators,
    state: freshFlagState(now),
    createdAt: spec.lifecycle.created ?? now,
  }));
}

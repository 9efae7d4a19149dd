import { isAlias, isMap, isPair, isScalar, isSeq, Scalar } from 'yaml';
import type { Document, LineCounter, Node } from 'yaml';
import { UserError } from '../util/errors.js';
import { parseDuration, parseIntOrPercent, parsePercent } from './duration.js';
import { LIMITS } from './limits.js';
import type { IntOrPercent } from '../core/spec.js';

/**
 * A compact typed validator over yaml's syntax tree, so that every complaint points at a
 * line and column. A Decoder turns one node into a typed value or fails with
 * `file:line:col: path: what is wrong — what to do`.
 */

/** A listening address seen while decoding; load.ts checks them for clashes. */
export interface ListenUse {
  address: string;
  path: string;
  offset: number;
}

/**
 * Anchors of one document, found in one walk, and what its aliases have cost so far.
 * yaml's own `Alias.resolve` walks the whole document for every alias (20k aliases took
 * 76 s); here each alias is a lookup, and the count and expansion are bounded.
 */
export class AliasTable {
  private anchors: Map<string, Array<{ end: number; node: Node }>> | undefined;
  private readonly sizes = new Map<Node, number>();
  uses = 0;
  expanded = 0;

  constructor(private readonly doc: Document) {}

  /**
   * The anchor an alias refers to: the latest definition that ends before the alias (YAML
   * may redefine one; a node cannot contain an alias of itself, which would never end).
   */
  target(name: string, offset: number): Node | undefined {
    if (!this.anchors) {
      const anchors = new Map<string, Array<{ end: number; node: Node }>>();
      visit(this.doc.contents as Node | null, (n) => {
        const anchor = (n as { anchor?: string }).anchor;
        if (anchor) {
          const list = anchors.get(anchor) ?? [];
          list.push({ end: n.range?.[1] ?? 0, node: n });
          anchors.set(anchor, list);
        }
      });
      this.anchors = anchors;
    }
    let found: Node | undefined;
    for (const d of this.anchors.get(name) ?? []) if (d.end <= offset) found = d.node;
    return found;
  }

  /** Nodes under `node`, aliases counted as one (their own expansion is charged when decoded). */
  size(node: Node): number {
    let n = this.sizes.get(node);
    if (n === undefined) {
      n = 0;
      visit(node, () => void n!++);
      this.sizes.set(node, n);
    }
    return n;
  }
}

/** Every node under `root` once, depth first (aliases are not followed). */
function visit(root: Node | null | undefined, f: (n: Node) => void): void {
  const stack: unknown[] = root ? [root] : [];
  while (stack.length > 0) {
    const n = stack.pop();
    if (!n || typeof n !== 'object') continue;
    if (isMap(n) || isSeq(n)) {
      f(n as Node);
      for (const item of (n as { items: unknown[] }).items) {
        if (isPair(item)) stack.push(item.value, item.key);
        else stack.push(item);
      }
    } else if (isScalar(n) || isAlias(n)) f(n as Node);
  }
}

export class Ctx {
  constructor(
    readonly doc: Document,
    readonly file: string,
    readonly lines: LineCounter,
    readonly path: string = '',
    readonly listens: ListenUse[] = [],
    readonly aliases: AliasTable = new AliasTable(doc),
  ) {}

  key(name: string): Ctx {
    return new Ctx(this.doc, this.file, this.lines, this.path ? `${this.path}.${name}` : name, this.listens, this.aliases);
  }

  index(i: number): Ctx {
    return new Ctx(this.doc, this.file, this.lines, `${this.path}[${i}]`, this.listens, this.aliases);
  }

  where(at: Node | number | undefined | null): string {
    const offset = typeof at === 'number' ? at : (at?.range?.[0] ?? 0);
    const { line, col } = this.lines.linePos(offset);
    return `${this.file}:${line}:${col}`;
  }

  fail(at: Node | number | undefined | null, problem: string, fix: string): never {
    throw new UserError(`${this.where(at)}: ${this.path || '(document)'}: ${problem} — ${fix}`);
  }
}

export type Decoder<T> = (node: Node, ctx: Ctx) => T;

/** A JSON Schema (draft 2020-12) fragment. */
export type JsonSchema = { [keyword: string]: unknown };

/**
 * What each decoder accepts, as JSON Schema, for editors and Kubernetes CRDs
 * (json-schema.ts). A thunk, kept beside the decoder rather than in it, so that loading a
 * manifest never builds one. The schema may accept more than the decoder (cross-field
 * rules stay the decoder's), never less: docs/spec.md lists what only the loader checks.
 */
const SCHEMAS = new WeakMap<Decoder<unknown>, () => JsonSchema>();

/** Attaches the JSON Schema of what `decode` accepts: for decoders written by hand. */
export function withSchema<D extends Decoder<unknown>>(decode: D, schema: () => JsonSchema): D {
  SCHEMAS.set(decode, schema);
  return decode;
}

/** `decode` with more JSON Schema keywords beside its own (a cross-field rule a schema can state). */
export function alsoSchema<T>(decode: Decoder<T>, extra: () => JsonSchema): Decoder<T> {
  return withSchema(
    (node: Node, ctx: Ctx) => decode(node, ctx),
    () => ({ ...schemaOf(decode), ...extra() }),
  );
}

/** The JSON Schema of what `decode` accepts; a fresh object each call. */
export function schemaOf(decode: Decoder<unknown>): JsonSchema {
  const schema = SCHEMAS.get(decode);
  if (!schema) throw new Error('a spec decoder has no JSON Schema — build it from the combinators in src/spec/schema.ts, or wrap it in withSchema');
  return schema();
}

/** A JSON Schema pattern from a decoder's RegExp; flags would be lost, so there are none. */
function patternOf(re: RegExp): string {
  if (re.flags !== '') throw new Error(`the pattern /${re.source}/${re.flags} has flags, which JSON Schema cannot carry — write it without`);
  return re.source;
}

/** Whether a scalar is one the schema's top-level type/enum/const admits (for `default`). */
function admits(schema: JsonSchema, v: unknown): boolean {
  if (v === null || typeof v === 'object') return false;
  if ('const' in schema) return schema.const === v;
  if (Array.isArray(schema.enum)) return schema.enum.includes(v);
  const branches = (schema.oneOf ?? schema.anyOf) as JsonSchema[] | undefined;
  if (branches) return branches.some((b) => admits(b, v));
  const types = ([] as unknown[]).concat(schema.type ?? []);
  const type = typeof v;
  return types.some((t) => t === type || (t === 'integer' && Number.isInteger(v)));
}

export interface Field<T> {
  decode: Decoder<T>;
  /** What an absent field becomes; `required` fails with the example as the fix. */
  absent: { required: string } | { value: () => T; shown?: T } | 'omit';
}

export function required<T>(decode: Decoder<T>, example: string): Field<T> {
  return { decode, absent: { required: example } };
}
export function optional<T>(decode: Decoder<T>): Field<T | undefined> {
  return { decode, absent: 'omit' };
}
export function withDefault<T>(decode: Decoder<T>, value: T | (() => T)): Field<T> {
  return {
    decode,
    absent: typeof value === 'function' ? { value: value as () => T } : { value: () => structuredClone(value), shown: value },
  };
}

/**
 * A field's schema: its decoder's, with the default when it is a scalar the decoder also
 * accepts as written (a decoded default such as `{percent: 25}` is not how one writes it).
 */
function fieldSchema(field: Field<unknown>): JsonSchema {
  const schema = schemaOf(field.decode);
  const { absent } = field;
  if (absent !== 'omit' && 'shown' in absent && admits(schema, absent.shown)) schema.default = absent.shown;
  if (absent !== 'omit' && 'required' in absent && absent.required) {
    const example = `Required, e.g. ${absent.required}.`;
    const own = schema.description as string | undefined;
    schema.description = own ? `${example} ${own.charAt(0).toUpperCase()}${own.slice(1)}` : example;
  }
  return schema;
}

type Shape<F> = { [K in keyof F]: F[K] extends Field<infer T> ? T : never };

/** How a node looks, for "got …" in messages. */
export function describe(node: Node): string {
  if (isScalar(node)) {
    if (node.value === null) return 'nothing (null)';
    if (typeof node.value === 'string') return JSON.stringify(node.value);
    return String(node.source ?? node.value);
  }
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  return 'an unsupported YAML node';
}

export function resolve(node: Node | null | undefined, ctx: Ctx, fallback: number): Node {
  if (node == null) return Object.assign(new Scalar(null), { range: [fallback, fallback, fallback] as [number, number, number] });
  if (isAlias(node)) {
    const table = ctx.aliases;
    if (++table.uses > LIMITS.aliases) {
      ctx.fail(node, `more than ${LIMITS.aliases} aliases in one document`, 'write the values out, or split the file');
    }
    const target = table.target(node.source, node.range?.[0] ?? 0);
    if (!target) ctx.fail(node, `alias *${node.source} points at no anchor`, `define &${node.source} before using it`);
    table.expanded += table.size(target);
    if (table.expanded > LIMITS.aliasExpansion) {
      ctx.fail(node, `aliases expand to more than ${LIMITS.aliasExpansion} YAML nodes`, 'use fewer or smaller aliases');
    }
    return target;
  }
  return node;
}

/** Levenshtein distance, case-insensitive, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest known name within edit distance 2, if any. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = distance(name, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function keyName(key: unknown, ctx: Ctx): { name: string; node: Node } {
  const node = resolve(key as Node, ctx, 0);
  if (!isScalar(node) || typeof node.value !== 'string') {
    ctx.fail(node, `field names must be plain strings, got ${describe(node)}`, 'use a name like "replicas"');
  }
  return { name: node.value, node };
}

function entries(node: Node, ctx: Ctx, what: string): Array<{ name: string; keyNode: Node; value: Node }> {
  if (isScalar(node) && node.value === null) return [];
  if (!isMap(node)) ctx.fail(node, `must be a mapping (key: value lines), got ${describe(node)}`, what);
  // yaml's own duplicate-key check compares every key with every other (50,000 env keys
  // took 30 s), so load.ts turns it off and this one, linear, takes its place.
  const seen = new Map<string, Node>();
  return node.items.map((pair) => {
    const { name, node: keyNode } = keyName(pair.key, ctx);
    const first = seen.get(name);
    if (first) ctx.key(name).fail(keyNode, `is set twice (first at line ${ctx.lines.linePos(first.range?.[0] ?? 0).line})`, 'keep one of them');
    seen.set(name, keyNode);
    const value = resolve(pair.value as Node, ctx, keyNode.range?.[0] ?? 0);
    // An empty value (`metadata:`) has no position of its own worth showing: use the key's.
    const empty = isScalar(value) && value.value === null && value.range?.[0] === value.range?.[1];
    return { name, keyNode, value: empty ? resolve(null, ctx, keyNode.range?.[0] ?? 0) : value };
  });
}

function unknownField(ctx: Ctx, name: string, keyNode: Node, known: readonly string[]): never {
  const hint = suggest(name, known);
  return ctx
    .key(name)
    .fail(
      keyNode,
      `unknown field "${name}"`,
      hint ? `did you mean "${hint}"?` : known.length ? `remove it; known fields here: ${known.join(', ')}` : 'remove it',
    );
}

/**
 * A mapping with known fields; unknown ones are errors. A null value (`key:` with nothing)
 * counts as an empty mapping, so `pause:` and `pause: {}` mean the same.
 */
export function object<F extends Record<string, Field<unknown>>>(fields: F, what = 'write the fields as key: value lines'): Decoder<Shape<F>> {
  const known = Object.keys(fields);
  const decoder = (node: Node, ctx: Ctx) => {
    const present = new Map<string, { keyNode: Node; value: Node }>();
    for (const e of entries(node, ctx, what)) {
      if (!Object.hasOwn(fields, e.name)) unknownField(ctx, e.name, e.keyNode, known);
      present.set(e.name, e);
    }
    const out: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(fields)) {
      const hit = present.get(name);
      if (hit) out[name] = field.decode(hit.value, ctx.key(name));
      else if (field.absent === 'omit') continue;
      else if ('required' in field.absent) ctx.key(name).fail(node, 'missing required field', `add ${name}: ${field.absent.required}`);
      else out[name] = field.absent.value();
    }
    return out as Shape<F>;
  };
  return withSchema(decoder, () => ({ ...mappingSchema(fields), additionalProperties: false }));
}

/**
 * A mapping whose named fields are decoded and checked, every other field kept as written
 * (plain JSON, nesting bounded, numbers finite): for objects sluice passes on to another
 * system (a Kubernetes pod template) but must be able to read a few fields of.
 */
export function openObject<F extends Record<string, Field<unknown>>>(
  fields: F,
  what = 'write the fields as key: value lines',
): Decoder<Shape<F> & Record<string, unknown>> {
  const decoder = (node: Node, ctx: Ctx) => {
    const out: Record<string, unknown> = {};
    const present = new Set<string>();
    for (const e of entries(node, ctx, what)) {
      present.add(e.name);
      const c = ctx.key(e.name);
      const value = Object.hasOwn(fields, e.name) ? fields[e.name]!.decode(e.value, c) : finiteValue(e.value, c);
      // defineProperty: a field named __proto__ stays a field.
      Object.defineProperty(out, e.name, { value, enumerable: true, writable: true, configurable: true });
    }
    for (const [name, field] of Object.entries(fields)) {
      if (present.has(name) || field.absent === 'omit') continue;
      if ('required' in field.absent) ctx.key(name).fail(node, 'missing required field', `add ${name}: ${field.absent.required}`);
      else out[name] = field.absent.value();
    }
    return out as Shape<F> & Record<string, unknown>;
  };
  return withSchema(decoder, () => mappingSchema(fields));
}

/** The JSON Schema of a mapping with these fields (required ones listed; `key:` with nothing is an empty mapping when none is required). */
function mappingSchema(fields: Record<string, Field<unknown>>): Record<string, unknown> {
  const known = Object.keys(fields);
  const required = known.filter((name) => {
    const { absent } = fields[name]!;
    return absent !== 'omit' && 'required' in absent;
  });
  return {
    type: required.length > 0 ? 'object' : ['object', 'null'],
    properties: Object.fromEntries(known.map((name) => [name, fieldSchema(fields[name]!)])),
    ...(required.length > 0 ? { required } : {}),
  };
}

/** plainValue, refusing what JSON cannot carry (.inf, .nan, 1e999): it would be stored as null. */
function finiteValue(node: Node, ctx: Ctx): unknown {
  const value = plainValue(node, ctx);
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number' && !Number.isFinite(v)) ctx.fail(node, `holds ${v}, which is not a finite number`, 'write a finite number, or quote it as text');
    if (v && typeof v === 'object') stack.push(...Object.values(v));
  }
  return value;
}

type OneOf<O> = { [K in keyof O & string]: { key: K; value: O[K] extends Decoder<infer T> ? T : never } }[keyof O & string];

/** A mapping with exactly one key out of several (a strategy, a canary step). */
export function oneKey<O extends Record<string, Decoder<unknown>>>(options: O, noun: string): Decoder<OneOf<O>> {
  const known = Object.keys(options);
  const list = known.join(', ');
  const decoder = (node: Node, ctx: Ctx) => {
    const found = entries(node, ctx, `write one of ${list}`);
    for (const e of found) if (!Object.hasOwn(options, e.name)) unknownField(ctx, e.name, e.keyNode, known);
    if (found.length === 0) ctx.fail(node, `must set one ${noun}`, `add one of ${list}`);
    if (found.length > 1) {
      const [first, second] = found as [(typeof found)[0], (typeof found)[0]];
      ctx.key(second.name).fail(second.keyNode, `only one ${noun} may be set, but ${first.name} is set too`, `keep exactly one of ${list}`);
    }
    const { name, value } = found[0]!;
    return { key: name, value: options[name]!(value, ctx.key(name)) } as OneOf<O>;
  };
  return withSchema(decoder, () => ({
    type: 'object',
    properties: Object.fromEntries(known.map((name) => [name, schemaOf(options[name]!)])),
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
  }));
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAME_FIX = 'use a lowercase DNS label: a-z, 0-9 and "-", starting and ending with a letter or digit, at most 63 characters';

/** A resource name (rollout, environment, pipeline, stage, service): a lowercase DNS label. */
export function dnsLabel(): Decoder<string> {
  return string({ fix: NAME_FIX, pattern: DNS_LABEL, patternProblem: 'must be a lowercase DNS label', maxLength: 63 });
}

/**
 * apiVersion and kind (checked by load.ts) and metadata {name, labels}: what every document
 * has; `extra` adds a kind's own metadata fields (a Rollout's environment and service).
 */
export function documentHeader<E extends Record<string, Field<unknown>> = Record<never, never>>(exampleName: string, extra?: E) {
  return {
    apiVersion: required(text(''), ''),
    kind: required(text(''), ''),
    metadata: required(
      object({
        name: required(dnsLabel(), `${exampleName} (a lowercase DNS label)`),
        labels: withDefault(nameValueMap('label', /^\S+$/, 'write labels as key: value lines'), {}),
        ...(extra ?? ({} as E)),
      }),
      `{name: ${exampleName}}`,
    ),
  };
}

export function listOf<T>(item: Decoder<T>, what: string, max: number = LIMITS.listItems): Decoder<T[]> {
  return withSchema(
    (node: Node, ctx: Ctx) => {
      if (isScalar(node) && node.value === null) return [];
      if (!isSeq(node)) ctx.fail(node, `must be a list, got ${describe(node)}`, what);
      if (node.items.length > max) ctx.fail(node, `has ${node.items.length} items, more than the limit of ${max}`, 'shorten the list');
      return node.items.map((n, i) => item(resolve(n as Node, ctx, node.range?.[0] ?? 0), ctx.index(i)));
    },
    () => ({ type: ['array', 'null'], items: schemaOf(item), maxItems: max }),
  );
}

/**
 * Checks on an already decoded value. `fail` points at the node being decoded, or, given
 * a field name, at that field's value (the mapping itself when the field is absent).
 */
export function refine<T>(decode: Decoder<T>, check: (value: T, fail: (problem: string, fix: string, field?: string) => never) => void): Decoder<T> {
  // The check stays the loader's (docs/spec.md lists these rules): the schema is decode's.
  return withSchema(
    (node: Node, ctx: Ctx) => {
      const value = decode(node, ctx);
      check(value, (problem, fix, field) => {
        if (field === undefined) return ctx.fail(node, problem, fix);
        const pair = isMap(node) ? node.items.find((p) => isScalar(p.key) && p.key.value === field) : undefined;
        return ctx.key(field).fail((pair?.value as Node | undefined) ?? node, problem, fix);
      });
      return value;
    },
    () => schemaOf(decode),
  );
}

/** A scalar decoded one way, a mapping another (e.g. `to: canary` or `to: {canary: 50, stable: 50}`). */
export function scalarOrMap<A, B>(scalar: Decoder<A>, mapping: Decoder<B>): Decoder<A | B> {
  return withSchema(
    (node: Node, ctx: Ctx) => (isMap(node) ? mapping(node, ctx) : scalar(node, ctx)),
    () => ({ anyOf: [schemaOf(scalar), schemaOf(mapping)] }),
  );
}

/** A decoded value turned into another; what is accepted is decode's (a check in `f` is the loader's alone). */
export function map<A, B>(decode: Decoder<A>, f: (a: A, node: Node, ctx: Ctx) => B): Decoder<B> {
  return withSchema(
    (node: Node, ctx: Ctx) => f(decode(node, ctx), node, ctx),
    () => schemaOf(decode),
  );
}

function scalarValue(node: Node, ctx: Ctx, expected: string, fix: string): unknown {
  if (!isScalar(node)) ctx.fail(node, `must be ${expected}, got ${describe(node)}`, fix);
  return node.value;
}

interface Bounds {
  min?: number;
  max?: number;
  /** `min` itself not allowed (e.g. a period must be > 0). */
  above?: boolean;
  fix: string;
}

/** Bounds as JSON Schema keywords. */
function boundsSchema(b: Omit<Bounds, 'fix'>): JsonSchema {
  return {
    ...(b.min === undefined ? {} : b.above ? { exclusiveMinimum: b.min } : { minimum: b.min }),
    ...(b.max === undefined ? {} : { maximum: b.max }),
  };
}

/**
 * Decimal text of a whole number from 0 to n, leading zeros allowed, as a regex; only a
 * power of ten has a short exact one, any other n gets digits alone (the loader bounds it).
 */
function wholeUpTo(n: number): string {
  const digits = Math.log10(n);
  return Number.isInteger(digits) && digits > 0 ? `0*(?:${n}|\\d{1,${digits}})` : '\\d+';
}

function checkBounds(n: number, b: Bounds, node: Node, ctx: Ctx, shown: string = String(n)): void {
  const { min, max } = b;
  const low = min !== undefined && (b.above ? n <= min : n < min);
  const high = max !== undefined && n > max;
  if (!low && !high) return;
  const range =
    min !== undefined && min === max
      ? String(min)
      : min !== undefined && max !== undefined
        ? `between ${min} and ${max}`
        : min !== undefined
          ? b.above
            ? `> ${min}`
            : `≥ ${min}`
          : `≤ ${max}`;
  ctx.fail(node, `must be ${range}, got ${shown}`, b.fix);
}

/** A whole number written as a YAML number (a quoted "3" is a mistake worth pointing out). */
export function integer(b: Bounds): Decoder<number> {
  return withSchema(
    (node: Node, ctx: Ctx) => {
      const v = scalarValue(node, ctx, 'a whole number', b.fix);
      if (typeof v !== 'number' || !Number.isInteger(v)) {
        const quoted = typeof v === 'string' && /^-?\d+$/.test(v.trim());
        ctx.fail(node, `must be a whole number, got ${describe(node)}`, quoted ? 'write the number without quotes' : b.fix);
      }
      checkBounds(v, b, node, ctx);
      if (b.max === undefined && v > LIMITS.integer) ctx.fail(node, `must be at most ${LIMITS.integer} (sluice's limit), got ${v}`, b.fix);
      return v;
    },
    () => ({ type: 'integer', ...boundsSchema({ ...b, max: b.max ?? LIMITS.integer }), description: b.fix }),
  );
}

export function boolean(fix: string): Decoder<boolean> {
  return withSchema(
    (node: Node, ctx: Ctx) => {
      const v = scalarValue(node, ctx, 'true or false', fix);
      if (typeof v !== 'boolean') ctx.fail(node, `must be true or false, got ${describe(node)}`, fix);
      return v;
    },
    () => ({ type: 'boolean', description: fix }),
  );
}

/** A string; YAML numbers and booleans are refused (a version 1.10 would read as 1.1). */
export function string(opts: { fix: string; pattern?: RegExp; patternProblem?: string; maxLength?: number }): Decoder<string> {
  return withSchema(
    (node: Node, ctx: Ctx) => {
      const v = scalarValue(node, ctx, 'a string', opts.fix);
      if (typeof v !== 'string') {
        const hint = isScalar(node) && v !== null ? `quote it: "${node.source ?? String(v)}"` : opts.fix;
        ctx.fail(node, `must be a string, got ${describe(node)}`, hint);
      }
      if (v.length === 0) ctx.fail(node, 'must not be empty', opts.fix);
      const maxLength = opts.maxLength ?? LIMITS.textChars;
      if (v.length > maxLength) ctx.fail(node, `must be at most ${maxLength} characters, got ${v.length}`, `shorten it; ${opts.fix}`);
      if (opts.pattern && !opts.pattern.test(v)) ctx.fail(node, `${opts.patternProblem ?? 'is not valid'}, got ${describe(node)}`, opts.fix);
      return v;
    },
    () => ({
      type: 'string',
      minLength: 1,
      // JSON Schema counts code points, the loader UTF-16 units: an emoji counts once here, twice there.
      maxLength: opts.maxLength ?? LIMITS.textChars,
      ...(opts.pattern ? { pattern: patternOf(opts.pattern) } : {}),
      description: opts.fix,
    }),
  );
}

/**
 * Any scalar as text: numbers keep their written form (`1.10` stays "1.10"), null is "".
 * For env values, labels and args, where Kubernetes would make users quote numbers.
 */
export function text(fix: string, maxLength: number = LIMITS.textChars): Decoder<string> {
  return withSchema(
    (node: Node, ctx: Ctx) => {
      const v = scalarValue(node, ctx, 'a single value', fix);
      const out = v === null ? '' : typeof v === 'string' ? v : ((node as Scalar).source ?? String(v));
      if (out.length > maxLength) ctx.fail(node, `must be at most ${maxLength} characters, got ${out.length}`, `shorten it; ${fix}`);
      return out;
    },
    () => ({ type: ['string', 'number', 'boolean', 'null'], maxLength, ...(fix ? { description: fix } : {}) }),
  );
}

export function oneOf<const T extends string>(values: readonly T[], fix?: string): Decoder<T> {
  return withSchema(
    (node: Node, ctx: Ctx) => {
      const v = scalarValue(node, ctx, `one of ${values.join(', ')}`, `use one of ${values.join(', ')}`);
      if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
      const hint = typeof v === 'string' ? suggest(v, values) : undefined;
      ctx.fail(
        node,
        `must be one of ${values.join(', ')}, got ${describe(node)}`,
        hint ? `did you mean "${hint}"?` : (fix ?? `use one of ${values.join(', ')}`),
      );
    },
    () => ({ enum: [...values], ...(fix ? { description: fix } : {}) }),
  );
}

const DURATION_FORMS = 'like 30s, 5m, 1h30m, 500ms or a number of seconds';
/** parseDuration's text forms (duration.ts), trimmed: a plain number, or number+unit parts. */
const NUMBER_TEXT = '(?:\\d+(?:\\.\\d*)?|\\.\\d+)';
const DURATION_TEXT = `^\\s*(?:${NUMBER_TEXT}|(?:${NUMBER_TEXT}(?:ms|h|m|s))+)\\s*$`;

/** Seconds, from a duration (`30s`, `1h30m`, `500ms`) or a plain number of seconds. */
export function duration(b: Omit<Bounds, 'fix'> & { fix?: string } = { min: 0 }): Decoder<number> {
  return withSchema(
    (node: Node, ctx: Ctx) => {
      const fix = b.fix ?? `write a duration ${DURATION_FORMS}`;
      const v = scalarValue(node, ctx, `a duration ${DURATION_FORMS}`, fix);
      if (typeof v === 'number' && v < 0) checkBounds(v, { min: 0, ...b, fix }, node, ctx);
      let seconds: number;
      try {
        if (typeof v !== 'number' && typeof v !== 'string') throw new RangeError('not a duration');
        seconds = parseDuration(v);
      } catch {
        const example = typeof v === 'string' ? durationExample(v) : undefined;
        ctx.fail(node, `must be a duration ${DURATION_FORMS}, got ${describe(node)}`, example ? `write ${example}` : fix);
      }
      checkBounds(seconds, { min: 0, ...b, fix }, node, ctx, describe(node));
      if (b.max === undefined && seconds > LIMITS.durationSeconds) {
        ctx.fail(
          node,
          `must be at most ${LIMITS.durationSeconds / 3600}h (sluice's limit for any duration), got ${describe(node)}`,
          'use a shorter duration, or a pause without duration to wait by hand',
        );
      }
      return seconds;
    },
    () => ({
      // The text form's bounds (7 days, > 0) are the loader's.
      oneOf: [
        { type: 'number', ...boundsSchema({ min: 0, ...b, max: b.max ?? LIMITS.durationSeconds }) },
        { type: 'string', pattern: DURATION_TEXT },
      ],
      description: `A duration ${DURATION_FORMS}.`,
    }),
  );
}

/** "10 minutes" → "10m": a best guess at what was meant, for the fix hint. */
function durationExample(v: string): string | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|milli\w*|s\w*|m\w*|h\w*)\s*$/i.exec(v);
  if (!m) return undefined;
  const unit = m[2]!.toLowerCase();
  const short = unit.startsWith('mi') && unit.length > 2 ? (unit.startsWith('mil') ? 'ms' : 'm') : unit === 'ms' ? 'ms' : unit[0]!;
  return `${m[1]}${short}`;
}

/** A percentage `25%` or `25`, within bounds. */
export function percent(b: Bounds): Decoder<number> {
  return withSchema(
    (node: Node, ctx: Ctx) => {
      const v = scalarValue(node, ctx, 'a percentage', b.fix);
      let p: number;
      try {
        if (typeof v === 'number' && v < 0) throw new RangeError('negative');
        if (typeof v !== 'number' && typeof v !== 'string') throw new RangeError('not a percentage');
        p = parsePercent(v);
      } catch {
        if (typeof v === 'number') checkBounds(v, b, node, ctx);
        ctx.fail(node, `must be a percentage like 25% or 25, got ${describe(node)}`, b.fix);
      }
      checkBounds(p, b, node, ctx, describe(node).replace(/^"(.*)"$/, '$1'));
      return p;
    },
    () => {
      // parsePercent's text, trimmed, one % stripped, trimmed again; 0..100 is exact as a
      // regex (leading zeros allowed), other bounds are the loader's.
      const upTo100 = b.min === 0 && b.max === 100 && !b.above;
      const number = upTo100 ? '(?:0*(?:100(?:\\.0*)?|\\d{1,2}(?:\\.\\d*)?)|\\.\\d+)' : NUMBER_TEXT;
      return {
        oneOf: [
          { type: 'number', ...boundsSchema({ ...b, min: Math.max(b.min ?? 0, 0) }) },
          { type: 'string', pattern: `^\\s*${number}\\s*%?\\s*$` },
        ],
        description: b.fix,
      };
    },
  );
}

/** Kubernetes' int-or-string: `2` (a count, at most LIMITS.replicas) or `"25%"` (at most 100 %). */
export function intOrPercent(fix: string): Decoder<IntOrPercent> {
  return withSchema(
    (node: Node, ctx: Ctx) => {
      const v = scalarValue(node, ctx, 'a count or a percentage', fix);
      let parsed: IntOrPercent;
      try {
        if (typeof v !== 'number' && typeof v !== 'string') throw new RangeError('not int-or-percent');
        parsed = parseIntOrPercent(v);
      } catch {
        ctx.fail(node, `must be a whole count (2) or a whole percentage (25%), got ${describe(node)}`, fix);
      }
      if ('count' in parsed) checkBounds(parsed.count, { max: LIMITS.replicas, fix }, node, ctx);
      else checkBounds(parsed.percent, { max: 100, fix }, node, ctx, `${parsed.percent}%`);
      return parsed;
    },
    () => ({
      oneOf: [
        { type: 'integer', minimum: 0, maximum: LIMITS.replicas },
        // parseIntOrPercent's text: a count, or a whole percentage with %.
        { type: 'string', pattern: `^\\s*(?:${wholeUpTo(LIMITS.replicas)}\\s*|${wholeUpTo(100)}\\s*%)\\s*$` },
      ],
      description: fix,
    }),
  );
}

const HOST = String.raw`(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)`;
const HOST_PORT = new RegExp(`^${HOST}:(\\d{1,5})$`);
/** 1..65535 in at most five digits, as a regex. */
const PORT_TEXT = '(?=\\d{1,5}\\s*$)0*(?:[1-9]\\d{0,3}|[1-5]\\d{4}|6[0-4]\\d{3}|65[0-4]\\d{2}|655[0-2]\\d|6553[0-5])';

/** `host:port`; records the use for the clash check in load.ts. */
export function listenAddress(fix: string): Decoder<string> {
  return withSchema(
    (node: Node, ctx: Ctx) => {
      const v = scalarValue(node, ctx, 'host:port', fix);
      const m = typeof v === 'string' ? HOST_PORT.exec(v.trim()) : null;
      if (!m) {
        const asPort = typeof v === 'number' && Number.isInteger(v) ? `write 127.0.0.1:${v}` : fix;
        ctx.fail(node, `must be host:port, got ${describe(node)}`, asPort);
      }
      const port = Number(m[2]);
      if (port < 1 || port > 65535) ctx.fail(node, `port must be between 1 and 65535, got ${port}`, fix);
      const address = `${m[1]}:${port}`;
      ctx.listens.push({ address, path: ctx.path, offset: node.range?.[0] ?? 0 });
      return address;
    },
    () => ({ type: 'string', pattern: `^\\s*${HOST}:${PORT_TEXT}\\s*$`, description: fix }),
  );
}

/** A mapping of names to decoded values (e.g. secretEnv), names checked by a pattern. */
export function mapOf<T>(decode: Decoder<T>, o: { noun: string; namePattern: RegExp; fix: string; entries?: number }): Decoder<Record<string, T>> {
  const max = o.entries ?? LIMITS.mapEntries;
  return withSchema(
    (node: Node, ctx: Ctx) => {
      if (isMap(node) && node.items.length > max) ctx.fail(node, `has ${node.items.length} ${o.noun}s, more than the limit of ${max}`, 'use fewer');
      const out: Record<string, T> = {};
      for (const e of entries(node, ctx, o.fix)) {
        const c = ctx.key(e.name);
        if (!o.namePattern.test(e.name)) c.fail(e.keyNode, `${JSON.stringify(e.name)} is not a valid ${o.noun} name`, o.fix);
        Object.defineProperty(out, e.name, { value: decode(e.value, c), enumerable: true, writable: true, configurable: true });
      }
      return out;
    },
    () => ({
      type: ['object', 'null'],
      propertyNames: { pattern: patternOf(o.namePattern) },
      additionalProperties: schemaOf(decode),
      maxProperties: max,
      description: o.fix,
    }),
  );
}

/**
 * `{KEY: value}` or the Kubernetes list form `[{name: KEY, value: v}]`, values stringified.
 * Used for env and HTTP probe headers.
 */
export function nameValueMap(
  noun: string,
  namePattern: RegExp,
  fix: string,
  limits: { entries?: number; valueChars?: number; totalChars?: number } = {},
): Decoder<Record<string, string>> {
  const { entries: maxEntries = LIMITS.mapEntries, valueChars = LIMITS.textChars, totalChars = Infinity } = limits;
  const value = text(fix, valueChars);
  const listItem = object({ name: required(string({ fix }), 'NAME'), value: withDefault(text(fix, valueChars), '') });
  const decoder = (node: Node, ctx: Ctx) => {
    const out: Record<string, string> = {};
    let total = 0;
    const add = (name: string, v: string, at: Node, c: Ctx) => {
      if (!namePattern.test(name)) c.fail(at, `${JSON.stringify(name)} is not a valid ${noun} name`, fix);
      if (Object.hasOwn(out, name)) c.fail(at, `${noun} ${name} is set twice`, 'keep one of them');
      total += name.length + v.length;
      if (total > totalChars) ctx.fail(node, `names and values add up to more than ${totalChars} characters`, 'make them shorter or fewer');
      // defineProperty: a name such as __proto__ must be a key, not the object's prototype.
      Object.defineProperty(out, name, { value: v, enumerable: true, writable: true, configurable: true });
    };
    const count = isSeq(node) || isMap(node) ? node.items.length : 0;
    if (count > maxEntries) ctx.fail(node, `has ${count} ${noun}s, more than the limit of ${maxEntries}`, 'use fewer');
    if (isSeq(node)) {
      node.items.forEach((n, i) => {
        const item = resolve(n as Node, ctx, node.range?.[0] ?? 0);
        const c = ctx.index(i);
        const { name, value: v } = listItem(item, c);
        add(name, v, item, c);
      });
      return out;
    }
    for (const e of entries(node, ctx, `write ${noun}s as NAME: value lines, or a list of {name, value}`)) {
      const c = ctx.key(e.name);
      add(e.name, value(e.value, c), e.keyNode, c);
    }
    return out;
  };
  // Names twice in the list form and the total size are the loader's.
  return withSchema(decoder, () => {
    const item = schemaOf(listItem) as { properties: { name: JsonSchema } };
    item.properties.name.pattern = patternOf(namePattern);
    return {
      anyOf: [
        { type: ['object', 'null'], propertyNames: { pattern: patternOf(namePattern) }, additionalProperties: schemaOf(value), maxProperties: maxEntries },
        { type: 'array', items: item, maxItems: maxEntries },
      ],
      description: fix,
    };
  });
}

/**
 * Any YAML value as plain JSON (request bodies, expected JSON), aliases followed through
 * the document's anchor table (yaml's `toJSON()` without the document turns a nested
 * alias into its own fields), nesting bounded by LIMITS.valueDepth.
 */
export function plainValue(node: Node, ctx: Ctx, depth = 0): unknown {
  if (depth > LIMITS.valueDepth) ctx.fail(node, `nests deeper than ${LIMITS.valueDepth} levels`, 'flatten the value');
  if (isScalar(node)) {
    if (typeof node.value === 'string' && node.value.length > LIMITS.bodyChars) {
      ctx.fail(node, `must be at most ${LIMITS.bodyChars} characters, got ${node.value.length}`, 'shorten it');
    }
    return typeof node.value === 'bigint' ? Number(node.value) : node.value;
  }
  if (isSeq(node)) {
    return node.items.map((n) => plainValue(resolve(n as Node, ctx, node.range?.[0] ?? 0), ctx, depth + 1));
  }
  if (isMap(node)) {
    const entries = node.items.map((pair) => {
      const key = resolve(pair.key as Node, ctx, node.range?.[0] ?? 0);
      const k = isScalar(key) && key.value !== null ? String(key.value) : ctx.fail(key, `keys must be plain values, got ${describe(key)}`, 'use a string key');
      return [k, plainValue(resolve(pair.value as Node, ctx, key.range?.[0] ?? 0), ctx, depth + 1)] as const;
    });
    // fromEntries defines own properties, so a key "__proto__" stays a key.
    return Object.fromEntries(entries);
  }
  return ctx.fail(node, `must be a plain value, got ${describe(node)}`, 'write a scalar, list or mapping');
}

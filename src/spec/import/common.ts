import { isAlias, isMap, isNode, isScalar, isSeq, Pair, Scalar, stringify, YAMLMap, YAMLSeq, type Document, type Node } from 'yaml';
import { Ctx, describe } from '../schema.js';
import { API_VERSION } from '../../core/spec.js';

/**
 * What the peer importers (Argo Rollouts, Flagger) share: reading a peer document's YAML
 * nodes with positioned errors and warnings, and building the sluice document they turn
 * into. The sluice document reuses the peer's own nodes where a value passes through
 * unchanged, and gives every node it makes the position of the peer node it came from,
 * so sluice's decoders report errors at the line the user wrote.
 */

/** A sluice document under construction: plain values, or the peer's nodes as they are. */
export type Out = Node | string | number | boolean | null | undefined | Out[] | { [key: string]: Out };

/** The YAML node of an `Out` tree; made nodes get `at`'s range. */
export function toNode(value: Out, at: Node): Node {
  if (isNode(value)) return value as Node;
  const range = at.range ? ([...at.range] as [number, number, number]) : undefined;
  let node: Node;
  if (Array.isArray(value)) {
    const seq = new YAMLSeq();
    for (const item of value) if (item !== undefined) seq.items.push(toNode(item, at));
    node = seq;
  } else if (value !== null && typeof value === 'object') {
    const map = new YAMLMap();
    for (const [k, v] of Object.entries(value)) if (v !== undefined) map.items.push(new Pair(new Scalar(k), toNode(v, at)));
    node = map;
  } else {
    node = new Scalar(value ?? null);
  }
  if (range) node.range = range;
  return node;
}

/** A peer document's translation: the sluice kind, its document as a node, what it could not carry over. */
export interface Imported {
  kind: 'Rollout' | 'AnalysisTemplate';
  node: Node;
  warnings: string[];
}

/** Reads one peer document: typed access to its fields, positioned errors, warnings. */
export class Peer {
  readonly warnings: string[] = [];
  name = '';

  constructor(
    readonly ctx: Ctx,
    /** As warnings name it, e.g. "Rollout" or "Canary". */
    readonly kind: string,
  ) {}

  resolve(node: Node | null | undefined): Node | undefined {
    if (node === null || node === undefined) return undefined;
    return isAlias(node) ? ((node.resolve(this.ctx.doc) as Node | undefined) ?? undefined) : node;
  }

  line(node: Node | undefined): number {
    return this.ctx.lines.linePos(node?.range?.[0] ?? 0).line;
  }

  /** `FILE:LINE: <kind> <name>: <field> is not supported by sluice: <what happens instead>` */
  warn(node: Node | undefined, field: string, instead: string): void {
    this.warnings.push(`${this.ctx.file}:${this.line(node)}: ${this.kind} ${this.name}: ${field} is not supported by sluice: ${instead}`);
  }

  fail(node: Node | undefined, field: string, problem: string, fix: string): never {
    return new Ctx(this.ctx.doc, this.ctx.file, this.ctx.lines, field, this.ctx.listens, this.ctx.aliases).fail(node, problem, fix);
  }

  /** The fields of a mapping by key (the mapping itself must be one). */
  mapping(node: Node | undefined, field: string): Map<string, { key: Node; value: Node }> {
    const n = this.resolve(node);
    if (!n || !isMap(n)) return this.fail(n, field, `must be a mapping, got ${n ? describe(n) : 'nothing'}`, 'write it as key: value lines');
    const out = new Map<string, { key: Node; value: Node }>();
    for (const pair of n.items) {
      const key = pair.key as Node;
      const value = this.resolve(pair.value as Node | null) ?? toNode(null, key);
      out.set(isScalar(key) ? String(key.value) : '', { key, value });
    }
    return out;
  }

  list(node: Node | undefined, field: string): Node[] {
    const n = this.resolve(node);
    if (!n || !isSeq(n)) return this.fail(n, field, `must be a list, got ${n ? describe(n) : 'nothing'}`, 'write it as a list of - items');
    return n.items.map((item) => this.resolve(item as Node) ?? toNode(null, n));
  }

  string(node: Node | undefined, field: string): string {
    const n = this.resolve(node);
    if (!n || !isScalar(n) || typeof n.value !== 'string' || n.value === '') {
      return this.fail(n, field, `must be a string, got ${n ? describe(n) : 'nothing'}`, 'write a text value');
    }
    return n.value;
  }

  number(node: Node | undefined, field: string): number {
    const n = this.resolve(node);
    if (!n || !isScalar(n) || typeof n.value !== 'number' || !Number.isFinite(n.value)) {
      return this.fail(n, field, `must be a number, got ${n ? describe(n) : 'nothing'}`, 'write a number');
    }
    return n.value;
  }

  boolean(node: Node | undefined, field: string): boolean {
    const n = this.resolve(node);
    if (!n || !isScalar(n) || typeof n.value !== 'boolean')
      return this.fail(n, field, `must be true or false, got ${n ? describe(n) : 'nothing'}`, 'write true or false');
    return n.value;
  }

  /** A required field of a mapping. */
  need(fields: Map<string, { key: Node; value: Node }>, name: string, at: Node, path: string): Node {
    const f = fields.get(name);
    if (!f) return this.fail(at, path ? `${path}.${name}` : name, 'missing required field', `add ${name}`);
    return f.value;
  }

  /**
   * Walks a mapping: each key goes to its handler, or is warned about, with what sluice
   * does instead (`unsupported`), or "it is ignored". No field is ever dropped silently.
   */
  walk(
    node: Node | undefined,
    path: string,
    handlers: Record<string, (value: Node, field: string, key: Node) => void>,
    unsupported: Record<string, string> = {},
  ): void {
    for (const [name, { key, value }] of this.mapping(node, path)) {
      const field = path ? `${path}.${name}` : name;
      const handle = Object.hasOwn(handlers, name) ? handlers[name] : undefined;
      if (handle) handle(value, field, key);
      else this.warn(key, field, Object.hasOwn(unsupported, name) ? unsupported[name]! : 'it is ignored');
    }
  }

  /** The peer node as plain data (for values sluice recomputes rather than passes on). */
  plain(node: Node): unknown {
    return (node as unknown as { toJS(doc: unknown): unknown }).toJS(this.ctx.doc);
  }
}

/** A sluice document header. */
export function header(kind: string, name: Node, labels?: Node): Record<string, Out> {
  return { apiVersion: API_VERSION, kind, metadata: { name, labels } };
}

/** `60` or `"1m"` (Go durations are a subset of sluice's); sluice's decoder checks it. */
export function durationSeconds(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

/** A translated document as sluice YAML text (what `sluice convert` prints and apply stores). */
export function sluiceText(node: Node, doc: Document): string {
  return stringify(node.toJS(doc), { lineWidth: 0 });
}

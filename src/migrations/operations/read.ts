import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml';
import { MigrationError } from '../errors.js';

/**
 * The operations of a `.yaml` migration file, read with their positions. Every operation
 * becomes a `Replace`: new column(s) computed from old ones (`up`) and the old ones from
 * the new (`down`); `renameColumn` and `changeType` are shorthands for it.
 */
export interface At {
  line: number;
  col: number;
}

export interface Replace {
  /** The operation's name as written (`renameColumn`, …) and where it starts. */
  op: string;
  at: At;
  /** `people` or `app.people`. */
  schema?: string;
  table: string;
  key: string;
  from: string[];
  to: { name: string; type?: string; notNull: boolean };
  /** SQL expression over the old columns giving the new one. */
  up: string;
  /** Per old column: SQL expression over the new column giving it. */
  down: Record<string, string>;
  batchSize?: number;
  /** Positions of fields, for errors found after reading (expressions that do not parse). */
  where: Record<string, At>;
}

const IDENT = /^[a-z_][a-z0-9_]*$/;
const TYPE = /^[A-Za-z_][A-Za-z0-9_ ,.()[\]]*$/;

/** Reads a file's `operations:` list; throws MigrationError at the offending node. */
export function readOperations(file: string, text: string): Replace[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const pos = (n: Node | null | undefined): At => {
    const p = lc.linePos(n?.range?.[0] ?? 0);
    return { line: p.line, col: p.col };
  };
  const fail = (n: Node | null | undefined | At, problem: string): never => {
    const p = n && 'line' in n ? n : pos(n as Node | undefined);
    throw new MigrationError(file, p.line, p.col, problem);
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const p = lc.linePos(e.pos[0]);
    throw new MigrationError(file, p.line, p.col, `not valid YAML (${e.message.split('\n')[0]}) — fix the YAML`);
  }
  const root = doc.contents;
  if (!isMap(root)) return fail(root, 'an operations file is a map with an `operations:` list — start it with `operations:`');
  for (const pair of root.items) {
    const k = isScalar(pair.key) ? String(pair.key.value) : '';
    if (k !== 'operations') fail(pair.key as Node, `unknown top-level key \`${k}\` — an operations file has only \`operations:\``);
  }
  const list = root.get('operations', true) as Node | undefined;
  if (!isSeq(list) || list.items.length === 0)
    return fail(list ?? root, '`operations:` must be a non-empty list — add e.g. `- renameColumn: { table: t, from: a, to: b }`');

  const out: Replace[] = [];
  for (const item of list.items as Node[]) {
    if (!isMap(item) || item.items.length !== 1)
      fail(item, 'each operation is a map with one key (renameColumn, changeType or replaceColumns) — write `- renameColumn: {…}`');
    const m = item as YAMLMap;
    const pair = m.items[0];
    const name = isScalar(pair.key) ? String(pair.key.value) : '';
    const at = pos(pair.key as Node);
    const body = pair.value as Node | null;
    if (!isMap(body)) fail(body ?? at, `\`${name}\` takes a map of fields — write \`${name}: { table: …, … }\``);
    const r = new FieldReader(body as YAMLMap, at, name, fail, pos);
    if (name === 'replaceColumns') out.push(replaceColumns(r, at));
    else if (name === 'renameColumn') out.push(renameColumn(r, at));
    else if (name === 'changeType') out.push(changeType(r, at));
    else fail(pair.key as Node, `unknown operation \`${name}\` — use renameColumn, changeType or replaceColumns`);
  }
  // Two operations on the same column would fight over it in their triggers.
  const owner = new Map<string, Replace>();
  for (const r of out) {
    for (const c of [...r.from, r.to.name]) {
      const k = `${r.schema ?? ''}.${r.table}.${c}`;
      const first = owner.get(k);
      if (first && first !== r)
        fail(r.at, `column ${r.table}.${c} is also used by the operation at line ${first.at.line} — give each column one operation per migration`);
      owner.set(k, r);
    }
  }
  return out;
}

type Fail = (n: Node | null | undefined | At, problem: string) => never;

class FieldReader {
  readonly where: Record<string, At> = {};
  constructor(
    readonly map: YAMLMap,
    readonly at: At,
    readonly op: string,
    readonly fail: Fail,
    readonly pos: (n: Node | null | undefined) => At,
  ) {}

  allow(fields: string[]): void {
    for (const p of this.map.items) {
      const k = isScalar(p.key) ? String(p.key.value) : '';
      if (!fields.includes(k)) this.fail(p.key as Node, `\`${this.op}\` has no field \`${k}\` — its fields are ${fields.join(', ')}`);
    }
  }
  node(field: string, m: YAMLMap = this.map): Node | undefined {
    const n = m.get(field, true) as Node | undefined;
    if (n) this.where[field] = this.pos(n);
    return n;
  }
  missing(field: string, example: string): never {
    return this.fail(this.at, `\`${this.op}\` needs \`${field}\` — add \`${field}: ${example}\``);
  }
  string(field: string, example: string, m: YAMLMap = this.map): string {
    const n = this.node(field, m);
    if (!n) return this.missing(field, example);
    if (!isScalar(n) || typeof n.value !== 'string' || n.value.trim() === '')
      return this.fail(n, `\`${field}\` must be a non-empty string — write \`${field}: ${example}\``);
    return n.value.trim();
  }
  optString(field: string, example: string, m: YAMLMap = this.map): string | undefined {
    return this.node(field, m) ? this.string(field, example, m) : undefined;
  }
  ident(field: string, example: string, m: YAMLMap = this.map, value?: { v: string; n: Node }): string {
    const v = value?.v ?? this.string(field, example, m);
    if (!IDENT.test(v) || v.length > 63)
      this.fail(
        value?.n ?? this.node(field, m),
        `\`${v}\` is not a plain column/table name — use lower-case letters, digits and _ (at most 63; PostgreSQL folds unquoted names to lower case)`,
      );
    return v;
  }
  table(): { schema?: string; table: string } {
    const v = this.string('table', 'people');
    const parts = v.split('.');
    const n = this.node('table') as Node;
    if (parts.length > 2) this.fail(n, `\`${v}\` is not a table name — write \`table: NAME\` or \`table: SCHEMA.NAME\``);
    for (const p of parts) this.ident('table', 'people', this.map, { v: p, n });
    return parts.length === 2 ? { schema: parts[0], table: parts[1] } : { table: parts[0] };
  }
  type(field: string, m: YAMLMap = this.map, required = true): string | undefined {
    const v = required ? this.string(field, 'text', m) : this.optString(field, 'text', m);
    if (v !== undefined && !TYPE.test(v)) this.fail(this.node(field, m), `\`${v}\` is not a type name — write e.g. \`${field}: text\` or \`numeric(12,2)\``);
    return v;
  }
  bool(field: string, m: YAMLMap = this.map): boolean {
    const n = this.node(field, m);
    if (!n) return false;
    if (!isScalar(n) || typeof n.value !== 'boolean') this.fail(n, `\`${field}\` is true or false`);
    return (n as { value: boolean }).value;
  }
  batchSize(): number | undefined {
    const n = this.node('batchSize');
    if (!n) return undefined;
    if (!isScalar(n) || typeof n.value !== 'number' || !Number.isInteger(n.value) || n.value < 1)
      this.fail(n, '`batchSize` is a whole number of keys per batch — write e.g. `batchSize: 5000`');
    return (n as { value: number }).value;
  }
  /** `down`: a map old column → expression, or (one old column) just the expression. */
  down(from: string[]): Record<string, string> {
    const n = this.node('down');
    if (!n) return this.missing('down', `{ ${from[0]}: "…" }   # each old column from the new one`);
    if (isScalar(n) && typeof n.value === 'string' && from.length === 1) return { [from[0]]: n.value };
    if (!isMap(n)) return this.fail(n, `\`down\` maps each old column to an expression — write \`down: { ${from.join(': "…", ')}: "…" }\``);
    const out: Record<string, string> = {};
    for (const p of n.items) {
      const k = isScalar(p.key) ? String(p.key.value) : '';
      if (!from.includes(k)) this.fail(p.key as Node, `\`down\` names \`${k}\`, which is not in \`from\` (${from.join(', ')}) — down gives the old columns`);
      const v = p.value as Node | null;
      if (!isScalar(v) || typeof v.value !== 'string' || v.value.trim() === '')
        this.fail(v ?? (p.key as Node), `\`down.${k}\` must be an SQL expression (a string) — quote it`);
      out[k] = String((v as { value: string }).value);
      this.where[`down.${k}`] = this.pos(v as Node);
    }
    const missing = from.filter((f) => !(f in out));
    if (missing.length > 0)
      this.fail(
        n,
        `\`down\` does not say how to compute ${missing.join(', ')} — add \`${missing[0]}: "…"\` (v1 writes stay readable only if every old column is filled)`,
      );
    return out;
  }
}

function replaceColumns(r: FieldReader, at: At): Replace {
  r.allow(['table', 'key', 'from', 'to', 'up', 'down', 'batchSize']);
  const t = r.table();
  const key = r.node('key') ? r.ident('key', 'id') : 'id';
  const fromNode = r.node('from');
  if (!fromNode) r.missing('from', '[first_name, last_name]');
  let from: string[];
  if (isScalar(fromNode)) from = [r.ident('from', 'first_name')];
  else if (isSeq(fromNode) && fromNode.items.length > 0)
    from = (fromNode.items as Node[]).map((n) => {
      if (!isScalar(n) || typeof n.value !== 'string') return r.fail(n, '`from` lists column names — write `from: [first_name, last_name]`');
      return r.ident('from', 'first_name', r.map, { v: n.value, n });
    });
  else return r.fail(fromNode, '`from` is a column or a list of columns — write `from: [first_name, last_name]`');
  if (new Set(from).size !== from.length) r.fail(fromNode, '`from` names a column twice — list each old column once');
  const toNode = r.node('to');
  if (!toNode) return r.missing('to', '{ name: full_name, type: text }');
  if (!isMap(toNode)) return r.fail(toNode, '`to` is the new column — write `to: { name: full_name, type: text }`');
  for (const p of toNode.items) {
    const k = isScalar(p.key) ? String(p.key.value) : '';
    if (!['name', 'type', 'notNull'].includes(k)) r.fail(p.key as Node, `\`to\` has no field \`${k}\` — its fields are name, type, notNull`);
  }
  const name = r.ident('name', 'full_name', toNode);
  if (from.includes(name)) r.fail(toNode, `the new column \`${name}\` is also in \`from\` — give the new shape a new name`);
  const to = { name, type: r.type('type', toNode), notNull: r.bool('notNull', toNode) };
  const up = r.string('up', `"first_name || ' ' || last_name"`);
  return { op: 'replaceColumns', at, ...t, key, from, to, up, down: r.down(from), batchSize: r.batchSize(), where: r.where };
}

function renameColumn(r: FieldReader, at: At): Replace {
  r.allow(['table', 'key', 'from', 'to', 'type', 'notNull', 'batchSize']);
  const t = r.table();
  const key = r.node('key') ? r.ident('key', 'id') : 'id';
  const from = r.ident('from', 'email');
  const to = r.ident('to', 'contact_email');
  if (from === to) r.fail(r.node('to'), '`to` is the same name as `from` — nothing to rename');
  const type = r.type('type', r.map, false);
  const q = (c: string) => `"${c}"`;
  return {
    op: 'renameColumn',
    at,
    ...t,
    key,
    from: [from],
    to: { name: to, type, notNull: r.bool('notNull') },
    up: q(from),
    down: { [from]: q(to) },
    batchSize: r.batchSize(),
    where: r.where,
  };
}

function changeType(r: FieldReader, at: At): Replace {
  r.allow(['table', 'key', 'column', 'to', 'type', 'notNull', 'up', 'down', 'batchSize']);
  const t = r.table();
  const key = r.node('key') ? r.ident('key', 'id') : 'id';
  const column = r.ident('column', 'amount');
  const to = r.ident('to', 'amount_cents');
  if (column === to) r.fail(r.node('to'), '`to` must be a new column name (v1 keeps reading the old one during the release) — e.g. `to: amount_cents`');
  const type = r.type('type');
  const up = r.optString('up', '"(amount * 100)::bigint"') ?? `"${column}"::${type}`;
  return {
    op: 'changeType',
    at,
    ...t,
    key,
    from: [column],
    to: { name: to, type, notNull: r.bool('notNull') },
    up,
    down: r.down([column]),
    batchSize: r.batchSize(),
    where: r.where,
  };
}

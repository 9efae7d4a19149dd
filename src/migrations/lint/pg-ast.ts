/** Reading libpg-query's parse tree: names, types, and how volatile a default is. */

export type Obj = Record<string, unknown>;

/** `{ Type: body }` → [Type, body]. */
export function unwrap(node: unknown): [string, Obj] {
  if (!node || typeof node !== 'object') return ['', {}];
  const [k, v] = Object.entries(node as Obj)[0] ?? ['', {}];
  return [k, (v ?? {}) as Obj];
}

export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** `schema.table` (or `table`) of a RangeVar body. */
export function relName(rv: unknown): string {
  const r = (rv ?? {}) as { relname?: string; schemaname?: string };
  return r.schemaname ? `${r.schemaname}.${r.relname ?? ''}` : (r.relname ?? '');
}

/** Last part of a qualified name list `[{String:{sval}}…]`. */
export function names(v: unknown): string[] {
  return list(v).map((n) => {
    const [, b] = unwrap(n);
    return String(b.sval ?? '');
  });
}

/** Type name without `pg_catalog.`: `int4`, `bpchar`, `serial`, `jsonb`. */
export function typeName(tn: unknown): string {
  const parts = names((tn as Obj | undefined)?.names);
  return (parts[parts.length - 1] ?? '').toLowerCase();
}

export function hasTypmods(tn: unknown): boolean {
  return list((tn as Obj | undefined)?.typmods).length > 0;
}

export function constraints(colDef: Obj): Obj[] {
  return list(colDef.constraints).map((c) => unwrap(c)[1]);
}

/** PostgreSQL's volatile built-ins that people put in defaults. */
const VOLATILE = new Set([
  'random',
  'gen_random_uuid',
  'uuid_generate_v1',
  'uuid_generate_v1mc',
  'uuid_generate_v4',
  'uuidv4',
  'uuidv7',
  'clock_timestamp',
  'timeofday',
  'nextval',
  'setval',
  'txid_current',
  'random_normal',
]);
/** Immutable or stable built-ins: evaluated once when the column is added, no rewrite (PostgreSQL 11+). */
const NON_VOLATILE = new Set([
  'now',
  'statement_timestamp',
  'transaction_timestamp',
  'current_setting',
  'lower',
  'upper',
  'concat',
  'coalesce',
  'to_jsonb',
  'to_json',
  'jsonb_build_object',
  'json_build_object',
  'jsonb_build_array',
  'json_build_array',
  'array',
  'make_interval',
  'make_date',
  'to_timestamp',
  'to_date',
  'date_trunc',
  'length',
  'md5',
  'gen_salt',
]);

export type Volatility = 'constant' | 'stable' | 'volatile' | 'unknown';

const RANK: Record<Volatility, number> = { constant: 0, stable: 1, unknown: 2, volatile: 3 };
const worst = (a: Volatility, b: Volatility): Volatility => (RANK[a] >= RANK[b] ? a : b);

/** How volatile a default expression is; `unknown` for functions the linter does not know. */
export function volatility(expr: unknown): Volatility {
  const [type, b] = unwrap(expr);
  switch (type) {
    case 'A_Const':
      return 'constant';
    case 'SQLValueFunction':
      return 'stable';
    case 'TypeCast':
      return volatility(b.arg);
    case 'A_Expr':
      return worst(b.lexpr ? volatility(b.lexpr) : 'constant', b.rexpr ? volatility(b.rexpr) : 'constant');
    case 'A_ArrayExpr':
      return list(b.elements).map(volatility).reduce(worst, 'constant');
    case 'List':
      return list(b.items).map(volatility).reduce(worst, 'constant');
    case 'CoalesceExpr':
    case 'MinMaxExpr':
      return list(b.args).map(volatility).reduce(worst, 'stable');
    case 'BoolExpr':
      return list(b.args).map(volatility).reduce(worst, 'constant');
    case 'FuncCall': {
      const fn = names(b.funcname).pop()?.toLowerCase() ?? '';
      const own: Volatility = VOLATILE.has(fn) ? 'volatile' : NON_VOLATILE.has(fn) ? 'stable' : 'unknown';
      return list(b.args).map(volatility).reduce(worst, own);
    }
    default:
      return 'unknown';
  }
}

/** `col IS NOT NULL` → `col`. */
export function notNullCheckColumn(expr: unknown): string | undefined {
  const [type, b] = unwrap(expr);
  if (type !== 'NullTest' || b.nulltesttype !== 'IS_NOT_NULL') return undefined;
  const [at, ab] = unwrap(b.arg);
  if (at !== 'ColumnRef') return undefined;
  return names(ab.fields).pop();
}

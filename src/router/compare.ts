/**
 * Comparing a mirrored copy's response with the primary's (MirrorRoute.compare). Pure: no
 * I/O, no clock. Status first; then, when both bodies parse as JSON, a deep comparison
 * that skips the ignored paths; else the raw bytes.
 *
 * Ignored paths are JSONPath-like: `$` then any of `.name`, `["name"]` / `['name']` (for
 * keys that are not identifiers, e.g. `$.a["x-y"]`), `[N]` (an array index), `[*]` or `.*`
 * (any key or index). A path ignores the value there and everything below it, whether it
 * is present on one side, both or neither.
 */

export type PathSegment = { key: string } | { index: number } | { any: true };
export type IgnorePath = PathSegment[];

/** One difference, for humans: where, and both values (JSON, cut to a few dozen characters). */
export interface Difference {
  path: string;
  primary: string;
  shadow: string;
}

export interface Comparison {
  equal: boolean;
  /** What was compared: the status, JSON bodies, or raw bytes. */
  kind: 'status' | 'json' | 'bytes';
  /** The first few differences (at most MAX_DIFFERENCES); empty when equal. */
  differences: Difference[];
}

export interface ComparedResponse {
  status: number;
  body: Buffer;
}

/** Differences described per mismatch; the comparison stops looking after this many. */
export const MAX_DIFFERENCES = 5;
/** Values in a Difference are cut to this many characters. */
const MAX_VALUE_CHARS = 80;

/** Parses `$.a.b`, `$.items[*].id`, `$.a["x-y"]`; throws a one-line message on bad syntax. */
export function parseIgnorePath(path: string): IgnorePath {
  if (typeof path !== 'string' || !path.startsWith('$')) throw new Error(`${JSON.stringify(path)}: a path starts with $ (e.g. $.timestamp, $.items[*].id)`);
  const out: IgnorePath = [];
  let i = 1;
  const bad = (why: string): never => {
    throw new Error(`${JSON.stringify(path)}: ${why} at character ${i + 1}`);
  };
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      i++;
      if (path[i] === '*') {
        out.push({ any: true });
        i++;
        continue;
      }
      const m = /^[A-Za-z0-9_$@-]+/.exec(path.slice(i));
      if (m === null) bad('expected a name after "."');
      out.push({ key: m![0] });
      i += m![0].length;
    } else if (c === '[') {
      i++;
      const q = path[i];
      if (q === '*') {
        if (path[i + 1] !== ']') bad('expected "]" after "*"');
        out.push({ any: true });
        i += 2;
      } else if (q === '"' || q === "'") {
        let name = '';
        i++;
        while (i < path.length && path[i] !== q) {
          if (path[i] === '\\' && i + 1 < path.length) i++;
          name += path[i++];
        }
        if (path[i] !== q || path[i + 1] !== ']') bad(`expected ${q}] to close the name`);
        out.push({ key: name });
        i += 2;
      } else {
        const m = /^(\d+)\]/.exec(path.slice(i));
        if (m === null) bad('expected *, a quoted name or an index inside [ ]');
        out.push({ index: Number(m![1]) });
        i += m![0].length;
      }
    } else {
      bad('expected "." or "["');
    }
  }
  if (out.length === 0) throw new Error(`${JSON.stringify(path)}: ignoring $ (the whole body) compares nothing; name a field`);
  return out;
}

/** Compares two responses; `ignore` from parseIgnorePath. */
export function compareResponses(primary: ComparedResponse, shadow: ComparedResponse, ignore: readonly IgnorePath[]): Comparison {
  if (primary.status !== shadow.status) {
    return { equal: false, kind: 'status', differences: [{ path: 'status', primary: String(primary.status), shadow: String(shadow.status) }] };
  }
  const a = parseJson(primary.body);
  const b = a === NOT_JSON ? NOT_JSON : parseJson(shadow.body);
  if (a !== NOT_JSON && b !== NOT_JSON) {
    const differences: Difference[] = [];
    deepCompare(
      a,
      b,
      '$',
      ignore.map((p) => ({ path: p, at: 0 })),
      differences,
    );
    return { equal: differences.length === 0, kind: 'json', differences };
  }
  return compareBytes(primary.body, shadow.body);
}

const NOT_JSON = Symbol('not JSON');

function parseJson(body: Buffer): unknown {
  // Cheap refusal of what cannot be JSON (HTML, plain text) before the parser is tried.
  let i = 0;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)) i++;
  if (i === body.length) return NOT_JSON;
  const c = body[i];
  const plausible =
    c === 0x7b /* { */ || c === 0x5b /* [ */ || c === 0x22 /* " */ || c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e;
  if (!plausible) return NOT_JSON;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return NOT_JSON;
  }
}

/** An ignore path partly walked: `at` segments of it match the current location. */
interface Cursor {
  path: IgnorePath;
  at: number;
}

/** The cursors that still apply one step down, under `step`; null when one of them ends there (ignored). */
function descend(cursors: Cursor[], step: string | number): Cursor[] | null {
  if (cursors.length === 0) return cursors;
  const next: Cursor[] = [];
  for (const c of cursors) {
    const seg = c.path[c.at];
    const hit = 'any' in seg || ('key' in seg ? seg.key === step : seg.index === step);
    if (!hit) continue;
    if (c.at + 1 === c.path.length) return null;
    next.push({ path: c.path, at: c.at + 1 });
  }
  return next;
}

function deepCompare(a: unknown, b: unknown, where: string, cursors: Cursor[], out: Difference[]): void {
  if (out.length >= MAX_DIFFERENCES) return;
  if (a === b) return;
  const aArr = Array.isArray(a);
  const bArr = Array.isArray(b);
  if (aArr && bArr) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n && out.length < MAX_DIFFERENCES; i++) {
      const below = descend(cursors, i);
      if (below === null) continue;
      const here = `${where}[${i}]`;
      if (i >= a.length || i >= b.length) out.push(difference(here, i < a.length ? a[i] : MISSING, i < b.length ? b[i] : MISSING));
      else deepCompare(a[i], b[i], here, below, out);
    }
    return;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
    for (const k of keys) {
      if (out.length >= MAX_DIFFERENCES) return;
      const below = descend(cursors, k);
      if (below === null) continue;
      const here = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? `${where}.${k}` : `${where}[${JSON.stringify(k)}]`;
      const inA = Object.hasOwn(ao, k);
      const inB = Object.hasOwn(bo, k);
      if (!inA || !inB) out.push(difference(here, inA ? ao[k] : MISSING, inB ? bo[k] : MISSING));
      else deepCompare(ao[k], bo[k], here, below, out);
    }
    return;
  }
  // Different types, or different scalars (numbers compare by value: 1.0 and 1 are equal).
  out.push(difference(where, a, b));
}

const MISSING = Symbol('missing');

function difference(path: string, a: unknown, b: unknown): Difference {
  return { path, primary: show(a), shadow: show(b) };
}

function show(v: unknown): string {
  if (v === MISSING) return '(absent)';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > MAX_VALUE_CHARS ? `${s.slice(0, MAX_VALUE_CHARS - 1)}…` : s;
}

function isPlainObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function compareBytes(a: Buffer, b: Buffer): Comparison {
  if (a.equals(b)) return { equal: true, kind: 'bytes', differences: [] };
  const n = Math.min(a.length, b.length);
  let at = 0;
  while (at < n && a[at] === b[at]) at++;
  const snippet = (buf: Buffer): string => {
    const s = JSON.stringify(buf.subarray(at, at + 40).toString('utf8'));
    return `${buf.length} bytes, from byte ${at}: ${s}`;
  };
  return { equal: false, kind: 'bytes', differences: [{ path: `body[${at}]`, primary: snippet(a), shadow: snippet(b) }] };
}

/**
 * The JSONPath subset web metrics need: `$`, `.key`, `['key']` / `["key"]`, `[n]`,
 * `[-1]` (from the end), `[*]` and `.*` (every element; the result is then a list), plus
 * Argo's / kubectl's braces form `{$.a.b}`. Only a value's own properties are read.
 * `evaluateJsonPath` returns undefined when nothing matches; a malformed path throws.
 */
import { UserError } from '../util/errors.js';

export type JsonPathStep = { key: string } | { index: number } | { wildcard: true };

export function parseJsonPath(path: string): JsonPathStep[] {
  let text = path.trim();
  if (text.startsWith('{') && text.endsWith('}')) text = text.slice(1, -1).trim();
  const fail = (at: number, what: string): never => {
    throw new UserError(
      `jsonPath '${path}': ${what} at position ${at + 1} — write e.g. $.data.value, $.items[0].ok or {$.results[*].value}`,
      'invalid-jsonpath',
    );
  };
  if (!text.startsWith('$')) fail(0, "expected '$'");
  const steps: JsonPathStep[] = [];
  let i = 1;
  while (i < text.length) {
    if (text[i] === '.') {
      const m = /^[^.[\]\s'"]+/.exec(text.slice(i + 1));
      if (!m) fail(i + 1, "expected a key after '.'");
      steps.push(m![0] === '*' ? { wildcard: true } : { key: m![0] });
      i += 1 + m![0].length;
    } else if (text[i] === '[') {
      const rest = text.slice(i);
      const m =
        /^\[\s*(-?[0-9]+)\s*\]/.exec(rest) ??
        /^\[\s*(\*)\s*\]/.exec(rest) ??
        /^\[\s*'((?:[^'\\]|\\.)*)'\s*\]/.exec(rest) ??
        /^\[\s*"((?:[^"\\]|\\.)*)"\s*\]/.exec(rest);
      if (!m) fail(i, "expected [n], [*] or ['key']");
      const inner = m![1]!;
      if (inner === '*' && !/['"]/.test(m![0])) steps.push({ wildcard: true });
      else if (/^-?[0-9]+$/.test(inner) && !/['"]/.test(m![0])) steps.push({ index: Number(inner) });
      else steps.push({ key: inner.replace(/\\(.)/g, '$1') });
      i += m![0].length;
    } else {
      fail(i, `unexpected '${text[i]}'`);
    }
  }
  return steps;
}

export function evaluateJsonPath(path: string, value: unknown): unknown {
  const steps = parseJsonPath(path);
  let current: unknown[] = [value];
  let many = false;
  for (const step of steps) {
    const next: unknown[] = [];
    for (const v of current) {
      if ('wildcard' in step) {
        if (Array.isArray(v)) next.push(...v);
        else if (isObject(v)) next.push(...Object.values(v));
      } else {
        const picked = 'key' in step ? readKey(v, step.key) : readIndex(v, step.index);
        if (picked !== undefined) next.push(picked);
      }
    }
    if ('wildcard' in step) many = true;
    current = next;
  }
  return many ? current : current[0];
}

function readKey(v: unknown, key: string): unknown {
  if (isObject(v) && Object.hasOwn(v, key)) return v[key];
  if (Array.isArray(v) && /^-?[0-9]+$/.test(key)) return readIndex(v, Number(key));
  return undefined;
}

function readIndex(v: unknown, index: number): unknown {
  if (Array.isArray(v)) {
    const i = index < 0 ? v.length + index : index;
    return i >= 0 && i < v.length ? v[i] : undefined;
  }
  if (isObject(v) && Object.hasOwn(v, String(index))) return v[String(index)];
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

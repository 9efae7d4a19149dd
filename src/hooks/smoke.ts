import { performance } from 'node:perf_hooks';
import { STATUS_CODES } from 'node:http';
import { HttpFailure, httpExchange, snippet } from './http.js';
import type { SmokeCheck, SmokeTestSpec } from '../core/hooks.js';

export interface SmokeCheckResult {
  name: string;
  ok: boolean;
  status?: number;
  /** Request start to the end of the answer's body. */
  latencyMs?: number;
  /**
   * One line naming the request and everything wrong with the answer, problems joined
   * by "; ": `GET /api/health: expected status 200, got 503`.
   */
  problem?: string;
}

export interface SmokeResult {
  ok: boolean;
  checks: SmokeCheckResult[];
}

/** Bodies beyond this are not read: a smoke check inspects small answers. */
const MAX_BODY_BYTES = 1 << 20;

/**
 * Run every check in order against `baseUrl` (e.g. `http://127.0.0.1:8081`; the check's
 * path is appended) and report each. All checks run even after one fails, so a single
 * run shows everything that is wrong; `ok` is true when all passed. Checks run one after
 * another, so one check's latency is not inflated by the others. When `signal` aborts,
 * the checks not yet run are reported as skipped. Never throws.
 */
export async function runSmokeTests(spec: SmokeTestSpec, baseUrl: string, opts: { signal?: AbortSignal } = {}): Promise<SmokeResult> {
  const checks: SmokeCheckResult[] = [];
  for (const check of spec.checks) {
    if (opts.signal?.aborted) {
      checks.push({ name: checkName(check), ok: false, problem: `${requestLine(check)}: skipped, smoke test aborted` });
      continue;
    }
    checks.push(await runCheck(check, baseUrl, opts.signal));
  }
  return { ok: checks.every((c) => c.ok), checks };
}

function checkName(c: SmokeCheck): string {
  return c.name ?? requestLine(c);
}

function requestLine(c: SmokeCheck): string {
  return `${(c.method || 'GET').toUpperCase()} ${c.path}`;
}

async function runCheck(check: SmokeCheck, baseUrl: string, signal: AbortSignal | undefined): Promise<SmokeCheckResult> {
  const name = checkName(check);
  const line = requestLine(check);
  const headers: Record<string, string> = { 'user-agent': 'sluice-smoke', ...check.headers };
  let body: string | undefined;
  if (check.jsonBody !== undefined) {
    body = JSON.stringify(check.jsonBody);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  }
  const started = performance.now();
  let answer;
  try {
    answer = await httpExchange({
      method: (check.method || 'GET').toUpperCase(),
      url: joinUrl(baseUrl, check.path),
      headers,
      body,
      timeoutMs: check.timeoutSeconds * 1000,
      signal,
      maxBodyBytes: MAX_BODY_BYTES,
    });
  } catch (e) {
    if (!(e instanceof HttpFailure)) throw e;
    return { name, ok: false, problem: `${line}: ${e.message}` };
  }
  const latencyMs = Math.round(performance.now() - started);
  const problems: string[] = [];
  const accepted = Array.isArray(check.expectStatus) ? check.expectStatus : [check.expectStatus];
  const text = answer.body.toString('utf8');
  if (!accepted.includes(answer.status)) {
    const reason = STATUS_CODES[answer.status];
    const want = accepted.length === 1 ? `status ${accepted[0]}` : `status ${accepted.join(' or ')}`;
    problems.push(`expected ${want}, got ${answer.status}${reason ? ` ${reason}` : ''}${text ? ` (${snippet(text, 80)})` : ''}`);
  }
  if (check.maxLatencyMs !== undefined && latencyMs > check.maxLatencyMs) {
    problems.push(`took ${latencyMs} ms, more than maxLatencyMs ${check.maxLatencyMs}`);
  }
  if (check.expectJson !== undefined && Object.keys(check.expectJson).length > 0) {
    problems.push(...jsonProblems(check.expectJson, text, answer.truncated));
  }
  if (check.expectBodyContains !== undefined && !text.includes(check.expectBodyContains)) {
    problems.push(`expected the body to contain ${JSON.stringify(check.expectBodyContains)}, got ${JSON.stringify(snippet(text, 80))}`);
  }
  const r: SmokeCheckResult = { name, ok: problems.length === 0, status: answer.status, latencyMs };
  if (problems.length > 0) r.problem = `${line}: ${problems.join('; ')}`;
  return r;
}

function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`);
}

function jsonProblems(expected: Record<string, unknown>, text: string, truncated: boolean): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    const why = truncated ? `the body is larger than ${MAX_BODY_BYTES} bytes` : `got ${JSON.stringify(snippet(text, 60))}`;
    return [`expected a JSON body, ${why}`];
  }
  const problems: string[] = [];
  for (const [key, want] of Object.entries(expected)) {
    const found = resolvePath(doc, key);
    if (found === 'unsupported') problems.push(`cannot read path ${key}: only $.a.b, $.a[0] and $['a'] are supported`);
    else if (!found.found) problems.push(`expected ${key} to be ${show(want)}, got nothing (no such key)`);
    else if (!subsetMatches(want, found.value)) problems.push(`expected ${key} to be ${show(want)}, got ${show(found.value)}`);
  }
  return problems;
}

function show(v: unknown): string {
  return snippet(JSON.stringify(v) ?? 'undefined', 80);
}

/**
 * What `key` names in `doc`: a JSONPath of child steps (`$`, `.name`, `[0]`, `['name']`)
 * or, without a leading `$`, one top-level key taken literally (dots included).
 */
export function resolvePath(doc: unknown, key: string): { found: boolean; value?: unknown } | 'unsupported' {
  if (!key.startsWith('$')) return step(doc, key);
  const steps = /^(?:\.([A-Za-z_$][\w$-]*)|\[(-?\d+)\]|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*"((?:[^"\\]|\\.)*)"\s*\])/;
  let rest = key.slice(1);
  let cur: { found: boolean; value?: unknown } = { found: true, value: doc };
  while (rest.length > 0) {
    const m = steps.exec(rest);
    if (m === null) return 'unsupported';
    rest = rest.slice(m[0].length);
    if (!cur.found) continue;
    const name = m[1] ?? m[3]?.replace(/\\(.)/g, '$1') ?? m[4]?.replace(/\\(.)/g, '$1');
    cur = name !== undefined ? step(cur.value, name) : index(cur.value, Number(m[2]));
  }
  return cur;
}

function step(v: unknown, name: string): { found: boolean; value?: unknown } {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, name)) return { found: false };
  return { found: true, value: (v as Record<string, unknown>)[name] };
}

function index(v: unknown, i: number): { found: boolean; value?: unknown } {
  if (!Array.isArray(v)) return { found: false };
  const at = i < 0 ? v.length + i : i;
  return at >= 0 && at < v.length ? { found: true, value: v[at] } : { found: false };
}

/** Objects match when `actual` has every expected key (recursively); arrays element by element; the rest by equality. */
export function subsetMatches(expected: unknown, actual: unknown): boolean {
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => subsetMatches(e, actual[i]));
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const a = actual as Record<string, unknown>;
    return Object.entries(expected).every(([k, v]) => Object.hasOwn(a, k) && subsetMatches(v, a[k]));
  }
  return Object.is(expected, actual) || expected === actual;
}

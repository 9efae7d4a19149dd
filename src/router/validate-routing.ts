/**
 * Checks of the route table's traffic-shaping parts added with issue 4 (rule targets,
 * mirrors, the A/B variant), kept out of validate.ts so that each stays short. Each takes
 * the listener's revisions that have a backend and validate.ts's `fail`.
 */
import { parseIgnorePath } from './compare.js';
import { compileMatch } from './split.js';

type Fail = (where: string, what: string) => never;

/** RFC 9110 token: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A match rule's target: exactly one of `revision` or `split` (weights summing to 100). */
export function validateRuleTarget(r: Record<string, unknown>, at: string, revisions: Set<number>, fail: Fail): void {
  const one = 'a rule needs exactly one of revision: N or split: [{revision, weight}…]';
  if ((r.revision === undefined) === (r.split === undefined))
    fail(at, r.revision === undefined ? `has neither revision nor split: ${one}` : `has both revision and split: ${one}`);
  if (r.revision !== undefined) {
    if (!revisions.has(r.revision as number)) fail(`${at}.revision`, `revision ${r.revision} has no backend in this listener`);
    return;
  }
  validateWeights(r.split, `${at}.split`, revisions, fail);
}

/** A list of {revision, weight}: revisions with a backend, each once, weights 0..100 summing to 100. */
export function validateWeights(raw: unknown, at: string, revisions: Set<number>, fail: Fail): void {
  if (!Array.isArray(raw) || raw.length === 0) fail(at, 'must be a non-empty list of {revision, weight}');
  const seen = new Set<number>();
  let sum = 0;
  (raw as unknown[]).forEach((rawW, wi) => {
    const wat = `${at}[${wi}]`;
    if (!isObject(rawW)) fail(wat, 'must be an object {revision, weight}');
    const w = rawW as Record<string, unknown>;
    if (!revisions.has(w.revision as number)) fail(`${wat}.revision`, `revision ${w.revision} has no backend in this listener`);
    if (seen.has(w.revision as number)) fail(`${wat}.revision`, `revision ${w.revision} appears twice`);
    seen.add(w.revision as number);
    if (typeof w.weight !== 'number' || !(w.weight >= 0 && w.weight <= 100)) fail(`${wat}.weight`, 'must be a number in 0..100');
    sum += w.weight as number;
  });
  if (Math.abs(sum - 100) > 1e-9) fail(at, `weights sum to ${sum}, must sum to 100`);
}

/** `mirrors`: names unique, percent 0..100, queueLimit ≥ 1, maxBodyBytes ≥ 0, a match that compiles, ignorePaths that parse. */
export function validateMirrors(raw: unknown, at: string, revisions: Set<number>, fail: Fail): void {
  if (raw === undefined) return;
  if (!Array.isArray(raw)) fail(at, 'must be a list of mirror routes');
  const names = new Set<string>();
  (raw as unknown[]).forEach((rawM, mi) => {
    const mat = `${at}[${mi}]`;
    if (!isObject(rawM)) fail(mat, 'must be an object {name, revision, percent, queueLimit, maxBodyBytes, match?, compare?}');
    const m = rawM as Record<string, unknown>;
    if (typeof m.name !== 'string' || m.name === '') fail(`${mat}.name`, 'must be a non-empty string');
    if (names.has(m.name as string)) fail(`${mat}.name`, `${m.name} names another mirror of this listener`);
    names.add(m.name as string);
    if (!revisions.has(m.revision as number)) fail(`${mat}.revision`, `revision ${m.revision} has no backend in this listener`);
    if (typeof m.percent !== 'number' || !(m.percent >= 0 && m.percent <= 100)) fail(`${mat}.percent`, 'must be a number in 0..100');
    if (!Number.isSafeInteger(m.queueLimit) || (m.queueLimit as number) < 1) fail(`${mat}.queueLimit`, 'must be a whole number ≥ 1');
    if (!Number.isSafeInteger(m.maxBodyBytes) || (m.maxBodyBytes as number) < 0) fail(`${mat}.maxBodyBytes`, 'must be a whole number of bytes ≥ 0');
    if (m.match !== undefined) {
      if (!isObject(m.match)) fail(`${mat}.match`, 'must be an object (header, cookie, query, pathPrefix, sourceCidr, methods)');
      try {
        compileMatch(m.match as never, `${mat}.match`);
      } catch (e) {
        // compileMatch says "<where>: <what>".
        const msg = (e as Error).message;
        const i = msg.indexOf(': ');
        fail(msg.slice(0, i), msg.slice(i + 2));
      }
    }
    if (m.compare !== undefined) {
      if (!isObject(m.compare) || !Array.isArray((m.compare as Record<string, unknown>).ignorePaths))
        fail(`${mat}.compare`, 'must be an object {ignorePaths: [$.path…]} (the list may be empty)');
      ((m.compare as Record<string, unknown>).ignorePaths as unknown[]).forEach((p, pi) => {
        try {
          parseIgnorePath(p as string);
        } catch (e) {
          fail(`${mat}.compare.ignorePaths[${pi}]`, (e as Error).message);
        }
      });
    }
  });
}

/** `variantHeader` a header name; each backend's `variant` a non-empty string without control characters. */
export function validateVariants(l: Record<string, unknown>, at: string, fail: Fail): void {
  if (l.variantHeader !== undefined && (typeof l.variantHeader !== 'string' || !TOKEN.test(l.variantHeader))) {
    fail(`${at}.variantHeader`, `${JSON.stringify(l.variantHeader)} is not a valid header name`);
  }
  (l.backends as Record<string, unknown>[]).forEach((b, bi) => {
    if (b.variant !== undefined && (typeof b.variant !== 'string' || !/^[\x20-\x7e]+$/.test(b.variant))) {
      fail(`${at}.backends[${bi}].variant`, 'must be a non-empty printable ASCII string (it is sent as a header value)');
    }
  });
}

function isObject(x: unknown): boolean {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

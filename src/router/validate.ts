import { UserError } from '../util/errors.js';
import { tryParseHostPort } from '../util/host-port.js';
import { compileRule } from './split.js';
import { validateMirrors, validateRuleTarget, validateVariants } from './validate-routing.js';
import type { RouteTable } from '../core/route-table.js';
import { validateExperiment } from './experiments/validate.js';

/** A route table the router refused; `status` is what the admin API answers (400 or 409). */
export class RouteTableError extends UserError {
  constructor(
    message: string,
    status = 400,
    /** For 409: the generation in effect. */
    readonly currentGeneration?: number,
  ) {
    super(message, status === 409 ? 'conflict' : 'invalid', status);
    this.name = 'RouteTableError';
  }
}

const ROLES = new Set(['main', 'preview', 'canary']);
const BALANCERS = new Set(['round-robin', 'least-requests']);
/** RFC 9110 token: what a header name, and (RFC 6265) a cookie name, may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STICKY_KEYS = ['cookie', 'header', 'hashCookie'];

/**
 * Checks everything the router relies on, so that compiling and serving never meet a
 * malformed table. The first problem found is reported with its path in the table.
 */
export function validateRouteTable(input: unknown): RouteTable {
  const fail = (where: string, what: string): never => {
    throw new RouteTableError(`route table ${where}: ${what}`);
  };
  if (!isObject(input)) fail('', 'must be a JSON object {generation, listeners}');
  const t = input as Record<string, unknown>;
  if (!Number.isSafeInteger(t.generation) || (t.generation as number) < 0) fail('generation', 'must be a non-negative integer');
  if (!Array.isArray(t.listeners)) fail('listeners', 'must be an array');
  const listens = new Set<string>();
  const endpointAddr = new Map<string, string>();
  (t.listeners as unknown[]).forEach((raw, li) => {
    const at = `listeners[${li}]`;
    if (!isObject(raw)) fail(at, 'must be an object');
    const l = raw as Record<string, unknown>;
    if (typeof l.listen !== 'string' || tryParseHostPort(l.listen) === undefined) {
      fail(`${at}.listen`, `${JSON.stringify(l.listen)} is not host:port (e.g. 127.0.0.1:8080)`);
    }
    if (listens.has(l.listen as string)) fail(`${at}.listen`, `${l.listen} is used by another listener`);
    listens.add(l.listen as string);
    if (typeof l.rollout !== 'string' || l.rollout === '') fail(`${at}.rollout`, 'must be a non-empty string');
    if (!ROLES.has(l.role as string)) fail(`${at}.role`, `must be one of ${[...ROLES].join(', ')}`);
    if (!BALANCERS.has(l.balancer as string)) fail(`${at}.balancer`, `must be one of ${[...BALANCERS].join(', ')}`);
    if (!Array.isArray(l.backends)) fail(`${at}.backends`, 'must be an array');
    const revisions = new Set<number>();
    (l.backends as unknown[]).forEach((rawB, bi) => {
      const bat = `${at}.backends[${bi}]`;
      if (!isObject(rawB)) fail(bat, 'must be an object');
      const b = rawB as Record<string, unknown>;
      if (!Number.isSafeInteger(b.revision)) fail(`${bat}.revision`, 'must be an integer');
      if (revisions.has(b.revision as number)) fail(`${bat}.revision`, `revision ${b.revision} has two backends`);
      revisions.add(b.revision as number);
      if (typeof b.version !== 'string') fail(`${bat}.version`, 'must be a string');
      if (!Array.isArray(b.endpoints)) fail(`${bat}.endpoints`, 'must be an array');
      const ids = new Set<string>();
      (b.endpoints as unknown[]).forEach((rawE, ei) => {
        const eat = `${bat}.endpoints[${ei}]`;
        if (!isObject(rawE)) fail(eat, 'must be an object');
        const e = rawE as Record<string, unknown>;
        if (typeof e.id !== 'string' || e.id === '') fail(`${eat}.id`, 'must be a non-empty string');
        if (ids.has(e.id as string)) fail(`${eat}.id`, `endpoint ${e.id} is listed twice`);
        ids.add(e.id as string);
        if (typeof e.host !== 'string' || e.host === '') fail(`${eat}.host`, 'must be a non-empty string');
        if (!Number.isInteger(e.port) || (e.port as number) < 1 || (e.port as number) > 65535) fail(`${eat}.port`, 'must be 1..65535');
        // One id is one instance, whichever listeners list it: its in-flight count is shared.
        const addr = `${e.host}:${e.port}`;
        const seen = endpointAddr.get(e.id as string);
        if (seen !== undefined && seen !== addr) fail(`${eat}`, `endpoint ${e.id} is ${addr} here but ${seen} elsewhere`);
        endpointAddr.set(e.id as string, addr);
      });
    });
    if (!Array.isArray(l.split)) fail(`${at}.split`, 'must be an array');
    const inSplit = new Set<number>();
    let sum = 0;
    (l.split as unknown[]).forEach((rawW, wi) => {
      const wat = `${at}.split[${wi}]`;
      if (!isObject(rawW)) fail(wat, 'must be an object');
      const w = rawW as Record<string, unknown>;
      if (!revisions.has(w.revision as number)) fail(`${wat}.revision`, `revision ${w.revision} has no backend in this listener`);
      if (inSplit.has(w.revision as number)) fail(`${wat}.revision`, `revision ${w.revision} appears twice`);
      inSplit.add(w.revision as number);
      if (typeof w.weight !== 'number' || !(w.weight >= 0 && w.weight <= 100)) fail(`${wat}.weight`, 'must be a number in 0..100');
      sum += w.weight as number;
    });
    if ((l.split as unknown[]).length > 0 && Math.abs(sum - 100) > 1e-9) fail(`${at}.split`, `weights sum to ${sum}, must sum to 100`);
    if (!Array.isArray(l.rules)) fail(`${at}.rules`, 'must be an array (possibly empty)');
    (l.rules as unknown[]).forEach((rawR, ri) => {
      const rat = `${at}.rules[${ri}]`;
      if (!isObject(rawR)) fail(rat, 'must be an object');
      const r = rawR as Record<string, unknown>;
      validateRuleTarget(r, rat, revisions, fail);
      try {
        compileRule(r as never, rat);
      } catch (e) {
        throw new RouteTableError(`route table ${(e as Error).message}`);
      }
    });
    if (l.maintenance !== undefined) {
      const mat = `${at}.maintenance`;
      if (!isObject(l.maintenance)) fail(mat, 'must be an object');
      const m = l.maintenance as Record<string, unknown>;
      if (!Number.isInteger(m.status) || (m.status as number) < 200 || (m.status as number) > 599) fail(`${mat}.status`, 'must be an HTTP status 200..599');
      if (typeof m.body !== 'string') fail(`${mat}.body`, 'must be a string');
      if (!Number.isInteger(m.retryAfterSeconds) || (m.retryAfterSeconds as number) < 0) fail(`${mat}.retryAfterSeconds`, 'must be a non-negative integer');
    }
    if (l.sticky !== undefined) validateSticky(l.sticky, `${at}.sticky`, fail);
    validateMirrors(l.mirrors, `${at}.mirrors`, revisions, fail);
    validateVariants(l, at, fail);
    if (l.resilience !== undefined) validateResilience(l.resilience, `${at}.resilience`, fail);
    if (l.hold !== undefined) validateHold(l.hold, `${at}.hold`, fail);
    if (l.experiment !== undefined) validateExperiment(l.experiment, `${at}.experiment`, l.role, fail);
  });
  return input as RouteTable;
}

function validateSticky(raw: unknown, at: string, fail: (where: string, what: string) => never): void {
  const one = 'needs exactly one of cookie: {name, maxAgeSeconds?} (a bucket cookie the router sets), header: NAME or hashCookie: NAME (a hash of that value)';
  if (!isObject(raw)) fail(at, `must be an object; it ${one}`);
  const s = raw as Record<string, unknown>;
  const given = STICKY_KEYS.filter((k) => s[k] !== undefined);
  if (given.length !== 1) fail(at, given.length === 0 ? one : `has ${given.join(' and ')}: it ${one}`);
  const token = (where: string, v: unknown, what: string): void => {
    if (typeof v !== 'string' || !TOKEN.test(v)) {
      fail(where, `${JSON.stringify(v)} is not a valid ${what} name (letters, digits and !#$%&'*+-.^_\`|~, not empty)`);
    }
  };
  if (s.header !== undefined) token(`${at}.header`, s.header, 'header');
  if (s.hashCookie !== undefined) token(`${at}.hashCookie`, s.hashCookie, 'cookie');
  if (s.cookie !== undefined) {
    if (!isObject(s.cookie)) fail(`${at}.cookie`, 'must be an object {name, maxAgeSeconds?}');
    const c = s.cookie as Record<string, unknown>;
    token(`${at}.cookie.name`, c.name, 'cookie');
    if (c.maxAgeSeconds !== undefined && (!Number.isSafeInteger(c.maxAgeSeconds) || (c.maxAgeSeconds as number) < 1)) {
      fail(`${at}.cookie.maxAgeSeconds`, 'must be a positive whole number of seconds');
    }
  }
}

const RESILIENCE_KEYS = ['outlier', 'limits', 'timeouts', 'bufferRequests'];

function validateResilience(raw: unknown, at: string, fail: (where: string, what: string) => never): void {
  if (!isObject(raw)) fail(at, `must be an object with any of ${RESILIENCE_KEYS.join(', ')}`);
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!RESILIENCE_KEYS.includes(k)) fail(`${at}.${k}`, `is not a resilience setting; use ${RESILIENCE_KEYS.join(', ')}`);
  const section = (key: string, shape: string): Record<string, unknown> | undefined => {
    const v = r[key];
    if (v === undefined) return undefined;
    if (!isObject(v)) fail(`${at}.${key}`, `must be an object ${shape}`);
    return v as Record<string, unknown>;
  };
  const whole = (where: string, v: unknown, min: number, unit: string): void => {
    if (!Number.isSafeInteger(v) || (v as number) < min) fail(where, `${JSON.stringify(v)} must be a whole number ${min === 0 ? '≥ 0' : '≥ 1'}${unit}`);
  };
  const o = section('outlier', '{consecutiveFailures, baseEjectionMs, maxEjectedPercent}');
  if (o !== undefined) {
    whole(`${at}.outlier.consecutiveFailures`, o.consecutiveFailures, 1, ' (failures in a row that eject an instance, e.g. 5)');
    whole(`${at}.outlier.baseEjectionMs`, o.baseEjectionMs, 1, ' (milliseconds out of rotation at the first ejection, e.g. 30000)');
    if (typeof o.maxEjectedPercent !== 'number' || !(o.maxEjectedPercent >= 0 && o.maxEjectedPercent <= 100)) {
      fail(
        `${at}.outlier.maxEjectedPercent`,
        `${JSON.stringify(o.maxEjectedPercent)} must be a number in 0..100 (share of a revision's instances that may be ejected at once, e.g. 50)`,
      );
    }
  }
  const lim = section('limits', '{maxConnections, maxPending, queueTimeoutMs}');
  if (lim !== undefined) {
    whole(`${at}.limits.maxConnections`, lim.maxConnections, 1, ' (requests in flight per instance)');
    whole(`${at}.limits.maxPending`, lim.maxPending, 0, ' (requests that may wait per revision; 0 refuses at once)');
    whole(`${at}.limits.queueTimeoutMs`, lim.queueTimeoutMs, 1, ' (milliseconds a request may wait for a free instance)');
  }
  const t = section('timeouts', '{connectMs?, responseMs?}');
  if (t !== undefined) {
    for (const k of Object.keys(t)) if (k !== 'connectMs' && k !== 'responseMs') fail(`${at}.timeouts.${k}`, 'is not a timeout; use connectMs or responseMs');
    if (t.connectMs !== undefined) whole(`${at}.timeouts.connectMs`, t.connectMs, 1, ' (milliseconds to open a connection to an instance)');
    if (t.responseMs !== undefined)
      whole(`${at}.timeouts.responseMs`, t.responseMs, 1, ' (milliseconds an instance may stay silent before and during its response)');
  }
  const b = section('bufferRequests', '{maxBytes}');
  if (b !== undefined) whole(`${at}.bufferRequests.maxBytes`, b.maxBytes, 1, ' (largest request body read before routing, in bytes)');
}

function validateHold(raw: unknown, at: string, fail: (where: string, what: string) => never): void {
  if (!isObject(raw)) fail(at, "must be an object {mode: 'stopped' | 'paused', pauseTimeoutMs?}; omit it to serve");
  const h = raw as Record<string, unknown>;
  if (h.mode !== 'stopped' && h.mode !== 'paused')
    fail(`${at}.mode`, `${JSON.stringify(h.mode)} must be 'stopped' (maintenance answer) or 'paused' (requests wait); omit hold to serve`);
  if (h.pauseTimeoutMs !== undefined) {
    if (h.mode !== 'paused') fail(`${at}.pauseTimeoutMs`, "only applies to mode 'paused'; remove it");
    if (!Number.isSafeInteger(h.pauseTimeoutMs) || (h.pauseTimeoutMs as number) < 1) {
      fail(
        `${at}.pauseTimeoutMs`,
        `${JSON.stringify(h.pauseTimeoutMs)} must be a whole number ≥ 1 (milliseconds a request waits before the maintenance answer; default 30000)`,
      );
    }
  }
}

function isObject(x: unknown): boolean {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

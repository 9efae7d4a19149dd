import { BUCKET_COUNT } from '../util/bucket-hash.js';
import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { compileValueRegex } from '../util/regex.js';
import type { RequestMatch } from '../core/route-table.js';

/**
 * nginx's smooth weighted round-robin: deterministic, so over any N requests each target's
 * count is within one request of N × weight / total (a random draw only gets that on
 * average), and picks are interleaved rather than bursty (20/80 gives c,s,s,s,s,c,...).
 */
export class SmoothWeightedSplit<T> {
  private readonly items: T[];
  private readonly weights: number[];
  private readonly current: number[];
  private readonly total: number;

  /** Targets with weight 0 are dropped; weights are reduced by their gcd to shorten the cycle. */
  constructor(targets: { item: T; weight: number }[]) {
    const kept = targets.filter((t) => t.weight > 0);
    const scale = kept.reduce((g, t) => gcd(g, t.weight), 0) || 1;
    this.items = kept.map((t) => t.item);
    this.weights = kept.map((t) => t.weight / scale);
    this.current = kept.map(() => 0);
    this.total = this.weights.reduce((a, b) => a + b, 0);
  }

  get size(): number {
    return this.items.length;
  }

  next(): T | undefined {
    const n = this.items.length;
    if (n <= 1) return this.items[0];
    const cur = this.current;
    let best = 0;
    for (let i = 0; i < n; i++) {
      cur[i] += this.weights[i];
      if (cur[i] > cur[best]) best = i;
    }
    cur[best] -= this.total;
    return this.items[best];
  }
}

function gcd(a: number, b: number): number {
  // Weights may be fractional (12.5%); only integers are reduced.
  if (!Number.isInteger(a) || !Number.isInteger(b)) return 1;
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export type RequestTest = (req: IncomingMessage) => boolean;

/**
 * Compiles a rule into one predicate (all its conditions must hold). Regexes are compiled
 * here, once per table, by RE2 (regex.ts: linear time, values over MAX_REGEX_VALUE never
 * match) and match the whole value as Envoy/Istio regex matches do.
 * Throws with a one-line message naming the bad field.
 */
export function compileRule(rule: RequestMatch, where: string): RequestTest {
  const test = compileMatch(rule, where);
  if (test === undefined) throw new Error(`${where}: a rule needs at least one of header, cookie, query, pathPrefix, sourceCidr, methods`);
  return test;
}

/** Like compileRule, but an empty match is allowed: undefined (it matches everything). */
export function compileMatch(rule: RequestMatch, where: string): RequestTest | undefined {
  const tests: RequestTest[] = [];
  if (rule.methods !== undefined) {
    if (!Array.isArray(rule.methods) || rule.methods.length === 0 || !rule.methods.every((m) => typeof m === 'string' && /^[A-Z]+$/.test(m))) {
      throw new Error(`${where}.methods: must be a non-empty list of upper-case methods, e.g. [GET, HEAD]`);
    }
    const methods = new Set(rule.methods);
    tests.push((req) => methods.has(req.method ?? ''));
  }
  if (rule.header !== undefined) {
    const name = rule.header.name.toLowerCase();
    const value = valueTest(rule.header, `${where}.header`);
    tests.push((req) => {
      const v = req.headers[name];
      if (v === undefined) return false;
      return value(Array.isArray(v) ? v.join(', ') : v);
    });
  }
  if (rule.cookie !== undefined) {
    const name = rule.cookie.name;
    const value = valueTest(rule.cookie, `${where}.cookie`);
    tests.push((req) => {
      const v = cookieValue(req.headers.cookie, name);
      return v !== undefined && value(v);
    });
  }
  if (rule.query !== undefined) {
    const name = rule.query.name;
    const value = valueTest(rule.query, `${where}.query`);
    tests.push((req) => {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      if (q < 0) return false;
      const v = new URLSearchParams(url.slice(q + 1)).get(name);
      return v !== null && value(v);
    });
  }
  if (rule.pathPrefix !== undefined) {
    const prefix = rule.pathPrefix;
    // Prefixes match whole path segments (Gateway API PathPrefix): /api matches /api and
    // /api/x but not /apix.
    const bare = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    tests.push((req) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (!path.startsWith(bare)) return false;
      return path.length === bare.length || path.charCodeAt(bare.length) === 47; /* / */
    });
  }
  if (rule.sourceCidr !== undefined) {
    const list = cidrList(rule.sourceCidr, `${where}.sourceCidr`);
    tests.push((req) => {
      const addr = req.socket.remoteAddress;
      if (addr === undefined) return false;
      const v4 = addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
      return list.check(v4, isIP(v4) === 6 ? 'ipv6' : 'ipv4');
    });
  }
  if (tests.length === 0) return undefined;
  if (tests.length === 1) return tests[0];
  return (req) => {
    for (let i = 0; i < tests.length; i++) if (!tests[i](req)) return false;
    return true;
  };
}

function valueTest(m: { name: string; exact?: string; prefix?: string; regex?: string }, where: string): (v: string) => boolean {
  if (typeof m.name !== 'string' || m.name === '') throw new Error(`${where}.name: must be a non-empty string`);
  if (m.exact !== undefined) {
    const exact = m.exact;
    return (v) => v === exact;
  }
  if (m.prefix !== undefined) {
    const prefix = m.prefix;
    return (v) => v.startsWith(prefix);
  }
  if (m.regex !== undefined) return compileValueRegex(m.regex, `${where}.regex`);
  return () => true; // only the name given: presence is enough
}

function cidrList(cidr: string, where: string): BlockList {
  const slash = cidr.indexOf('/');
  const base = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = isIP(base);
  const max = family === 4 ? 32 : 128;
  const bits = slash < 0 ? max : Number(cidr.slice(slash + 1));
  if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > max) {
    throw new Error(`${where}: "${cidr}" is not a CIDR such as 10.0.0.0/8 or fd00::/8`);
  }
  const list = new BlockList();
  list.addSubnet(base, bits, family === 4 ? 'ipv4' : 'ipv6');
  return list;
}

/** The value of one cookie in a Cookie header, without parsing the others. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let from = 0;
  while (from < header.length) {
    const at = header.indexOf(name, from);
    if (at < 0) return undefined;
    const before = at === 0 ? 59 /* ; */ : header.charCodeAt(at - 1);
    const eq = at + name.length;
    if ((before === 59 || before === 32) && header.charCodeAt(eq) === 61 /* = */) {
      const end = header.indexOf(';', eq);
      return header.slice(eq + 1, end < 0 ? undefined : end).trim();
    }
    from = at + 1;
  }
  return undefined;
}

/** Buckets a sticky user can hold, 0..9999: a weight of w % owns w × 100 of them. */
export const BUCKETS = BUCKET_COUNT;

/**
 * Maps a sticky user's bucket (0..9999) to a revision so that a weight change moves as few
 * users as it must, and always in the direction of the change. The rule:
 *
 *  - The split's targets are laid out in one fixed order, by revision number, highest
 *    first: the release's new revision (the canary) takes the low buckets, then the others
 *    from newest to oldest.
 *  - Each target owns the buckets b with (cumulative weight before it) × 100 ≤ b <
 *    (cumulative weight through it) × 100. At 10 % the canary owns 0..999, at 25 % 0..2499:
 *    a user on the canary at 10 % is still on it at 25 %, and a raise only moves users from
 *    stable to canary, never back; lowering it (an abort) only moves canary users off.
 *  - A target with no ready instance keeps its buckets, and they are served by the next
 *    target in that order that has one (wrapping around to the first), so nobody else moves.
 *
 * Ranges are compiled once per table; a lookup walks them (a split has a handful).
 */
export class BucketSplit<T> {
  /** Exclusive upper bucket of each range, ascending; the last is BUCKETS. */
  private readonly ends: number[] = [];
  private readonly starts: number[] = [];
  private readonly owners: T[] = [];

  /** `item` undefined: the revision has no ready instance. */
  constructor(targets: { revision: number; weight: number; item: T | undefined }[]) {
    const ordered = targets.filter((t) => t.weight > 0).sort((a, b) => b.revision - a.revision);
    const live = ordered.filter((t) => t.item !== undefined);
    if (live.length === 0) return;
    let cumulative = 0;
    let start = 0;
    ordered.forEach((t, i) => {
      cumulative += t.weight;
      // Rounded first so that float noise (10.1 + …) cannot shift a boundary by a bucket.
      const end = i === ordered.length - 1 ? BUCKETS : Math.min(BUCKETS, Math.ceil(Math.round(cumulative * 100 * 1e6) / 1e6));
      if (end <= start) return;
      let owner = t.item;
      for (let k = 1; owner === undefined; k++) owner = ordered[(i + k) % ordered.length].item;
      const last = this.owners.length - 1;
      if (last >= 0 && this.owners[last] === owner) this.ends[last] = end;
      else {
        this.starts.push(start);
        this.ends.push(end);
        this.owners.push(owner);
      }
      start = end;
    });
  }

  /** The target serving `bucket`; undefined only when no target has a ready instance. */
  at(bucket: number): T | undefined {
    const ends = this.ends;
    for (let i = 0; i < ends.length; i++) if (bucket < ends[i]) return this.owners[i];
    return undefined;
  }

  /** A bucket drawn uniformly among those `item` serves; undefined if it serves none. */
  draw(item: T): number | undefined {
    let size = 0;
    for (let i = 0; i < this.owners.length; i++) if (this.owners[i] === item) size += this.ends[i] - this.starts[i];
    if (size === 0) return undefined;
    let offset = Math.floor(Math.random() * size);
    for (let i = 0; i < this.owners.length; i++) {
      if (this.owners[i] !== item) continue;
      const n = this.ends[i] - this.starts[i];
      if (offset < n) return this.starts[i] + offset;
      offset -= n;
    }
    return undefined;
  }
}

import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { MatchRule } from './route-table.js';

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
 * here, once per table, and match the whole value as Envoy/Istio regex matches do.
 * Throws with a one-line message naming the bad field.
 */
export function compileRule(rule: MatchRule, where: string): RequestTest {
  const tests: RequestTest[] = [];
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
  if (tests.length === 0) throw new Error(`${where}: a rule needs at least one of header, cookie, query, pathPrefix, sourceCidr`);
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
  if (m.regex !== undefined) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${m.regex})$`);
    } catch (e) {
      throw new Error(`${where}.regex: ${(e as Error).message}`);
    }
    return (v) => re.test(v);
  }
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

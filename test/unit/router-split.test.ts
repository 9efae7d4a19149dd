import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { BucketSplit, BUCKETS, compileMatch, compileRule, cookieValue, SmoothWeightedSplit } from '../../src/router/split.js';

const picks = <T>(s: SmoothWeightedSplit<T>, n: number): T[] => Array.from({ length: n }, () => s.next()!);

test("smooth WRR gives nginx's documented sequence for weights 5, 1, 1: a a b a c a a", () => {
  const s = new SmoothWeightedSplit([
    { item: 'a', weight: 5 },
    { item: 'b', weight: 1 },
    { item: 'c', weight: 1 },
  ]);
  assert.deepEqual(picks(s, 14), [...'aabacaa', ...'aabacaa']);
});

test('smooth WRR: 20/80 is reduced to 1/4 and interleaved, one canary in every five', () => {
  const s = new SmoothWeightedSplit([
    { item: 'c', weight: 20 },
    { item: 's', weight: 80 },
  ]);
  assert.deepEqual(picks(s, 10), ['s', 's', 'c', 's', 's', 's', 's', 'c', 's', 's']);
});

test('smooth WRR: within one request of N × weight / total after every N, fractional weights too', () => {
  const targets = [
    { item: 'a', weight: 12.5 },
    { item: 'b', weight: 33.3 },
    { item: 'c', weight: 54.2 },
  ];
  const s = new SmoothWeightedSplit(targets);
  const count: Record<string, number> = { a: 0, b: 0, c: 0 };
  for (let n = 1; n <= 2000; n++) {
    count[s.next()!]++;
    for (const t of targets) assert.ok(Math.abs(count[t.item] - (n * t.weight) / 100) <= 1, `${t.item} after ${n}: ${count[t.item]}`);
  }
});

test('smooth WRR: weight 0 is dropped; one target always; none gives undefined', () => {
  const s = new SmoothWeightedSplit([
    { item: 'a', weight: 0 },
    { item: 'b', weight: 100 },
  ]);
  assert.equal(s.size, 1);
  assert.deepEqual(picks(s, 3), ['b', 'b', 'b']);
  const none = new SmoothWeightedSplit<string>([{ item: 'a', weight: 0 }]);
  assert.equal(none.size, 0);
  assert.equal(none.next(), undefined);
});

test('BucketSplit: the newest revision owns the low buckets; raising its weight only moves users onto it', () => {
  const at10 = new BucketSplit([
    { revision: 1, weight: 90, item: 'stable' },
    { revision: 2, weight: 10, item: 'canary' },
  ]);
  assert.equal(at10.at(0), 'canary');
  assert.equal(at10.at(999), 'canary');
  assert.equal(at10.at(1000), 'stable');
  assert.equal(at10.at(BUCKETS - 1), 'stable');
  const at25 = new BucketSplit([
    { revision: 1, weight: 75, item: 'stable' },
    { revision: 2, weight: 25, item: 'canary' },
  ]);
  for (let b = 0; b < BUCKETS; b++) if (at10.at(b) === 'canary') assert.equal(at25.at(b), 'canary', `bucket ${b}`);
  assert.equal(at25.at(2499), 'canary');
  assert.equal(at25.at(2500), 'stable');
});

test('BucketSplit: float weights do not shift a boundary; weight 0 owns nothing', () => {
  const s = new BucketSplit([
    { revision: 1, weight: 89.9, item: 'stable' },
    { revision: 2, weight: 10.1, item: 'canary' },
    { revision: 3, weight: 0, item: 'old' },
  ]);
  assert.equal(s.at(1009), 'canary');
  assert.equal(s.at(1010), 'stable');
  for (let b = 0; b < BUCKETS; b += 7) assert.notEqual(s.at(b), 'old');
});

test('BucketSplit: a target without a ready instance keeps its buckets, served by the next in order (wrapping)', () => {
  const s = new BucketSplit<string>([
    { revision: 3, weight: 20, item: 'v3' },
    { revision: 2, weight: 30, item: undefined },
    { revision: 1, weight: 50, item: 'v1' },
  ]);
  assert.equal(s.at(1999), 'v3');
  assert.equal(s.at(2000), 'v1', 'revision 2 is served by the next one, revision 1');
  assert.equal(s.at(4999), 'v1');
  const wrap = new BucketSplit<string>([
    { revision: 2, weight: 50, item: 'v2' },
    { revision: 1, weight: 50, item: undefined },
  ]);
  assert.equal(wrap.at(9999), 'v2', 'the last target wraps around to the first');
  const none = new BucketSplit<string>([{ revision: 1, weight: 100, item: undefined }]);
  assert.equal(none.at(0), undefined);
  assert.equal(none.draw('x'), undefined);
});

test('BucketSplit.draw returns a bucket that maps back to the item, and none for an item that serves none', () => {
  const s = new BucketSplit([
    { revision: 1, weight: 90, item: 'stable' },
    { revision: 2, weight: 10, item: 'canary' },
  ]);
  for (let i = 0; i < 200; i++) {
    const b = s.draw('canary')!;
    assert.ok(b >= 0 && b < 1000, String(b));
    assert.equal(s.at(s.draw('stable')!), 'stable');
  }
  assert.equal(s.draw('other'), undefined);
});

function req(url: string, headers: Record<string, string | string[]> = {}, method = 'GET', remoteAddress = '127.0.0.1'): IncomingMessage {
  return { url, headers, method, socket: { remoteAddress } } as unknown as IncomingMessage;
}

test('compileRule: each condition, all must hold', () => {
  const t = compileRule({ header: { name: 'X-User', prefix: 'beta-' }, pathPrefix: '/api', methods: ['GET'] }, 'r');
  assert.equal(t(req('/api/x', { 'x-user': 'beta-1' })), true);
  assert.equal(t(req('/api/x', { 'x-user': 'beta-1' }, 'POST')), false, 'method');
  assert.equal(t(req('/apix', { 'x-user': 'beta-1' })), false, 'prefix by segment');
  assert.equal(t(req('/api?x=1', { 'x-user': 'beta-1' })), true, 'the query is not part of the path');
  assert.equal(t(req('/api', {})), false, 'header absent');
  const joined = compileRule({ header: { name: 'x-a', exact: 'a, b' } }, 'r');
  assert.equal(joined(req('/', { 'x-a': ['a', 'b'] })), true, 'repeated lines are matched joined with ", "');
  const presence = compileRule({ header: { name: 'x-a' } }, 'r');
  assert.equal(presence(req('/', { 'x-a': '' })), true, 'only a name: presence is enough');
  const q = compileRule({ query: { name: 'canary', exact: 'a b' } }, 'r');
  assert.equal(q(req('/?canary=a%20b')), true, 'query values are decoded');
  assert.equal(q(req('/')), false);
  const c = compileRule({ cookie: { name: 'beta', regex: '[0-9]+' } }, 'r');
  assert.equal(c(req('/', { cookie: 'x=1; beta=42' })), true);
  assert.equal(c(req('/', { cookie: 'xbeta=42' })), false);
  const cidr = compileRule({ sourceCidr: '10.0.0.0/8' }, 'r');
  assert.equal(cidr(req('/', {}, 'GET', '::ffff:10.1.2.3')), true, 'an IPv4-mapped address counts as IPv4');
  assert.equal(cidr(req('/', {}, 'GET', '192.168.0.1')), false);
  const v6 = compileRule({ sourceCidr: 'fd00::/8' }, 'r');
  assert.equal(v6(req('/', {}, 'GET', 'fd00::1')), true);
});

test('compileRule/compileMatch: each error names the field', () => {
  assert.throws(() => compileRule({}, 'rules[0]'), /^Error: rules\[0\]: a rule needs at least one of header, cookie, query, pathPrefix, sourceCidr, methods$/);
  assert.equal(compileMatch({}, 'm'), undefined, 'an empty match matches everything');
  assert.throws(() => compileRule({ methods: [] }, 'r'), /^Error: r\.methods: must be a non-empty list of upper-case methods, e\.g\. \[GET, HEAD\]$/);
  assert.throws(() => compileRule({ methods: ['get'] }, 'r'), /r\.methods: must be a non-empty list/);
  assert.throws(() => compileRule({ header: { name: '' } }, 'r'), /^Error: r\.header\.name: must be a non-empty string$/);
  assert.throws(() => compileRule({ cookie: { name: 'c', regex: '(?=x)' } }, 'r'), /^Error: r\.cookie\.regex: "\(\?=x\)" uses a lookahead/);
  assert.throws(
    () => compileRule({ sourceCidr: '10.0.0.0/33' }, 'r'),
    /^Error: r\.sourceCidr: "10\.0\.0\.0\/33" is not a CIDR such as 10\.0\.0\.0\/8 or fd00::\/8$/,
  );
  assert.throws(() => compileRule({ sourceCidr: 'example.com' }, 'r'), /r\.sourceCidr: "example\.com" is not a CIDR/);
});

test('cookieValue finds one cookie by its whole name', () => {
  assert.equal(cookieValue(undefined, 'a'), undefined);
  assert.equal(cookieValue('a=1', 'a'), '1');
  assert.equal(cookieValue('ba=2; a=1', 'a'), '1');
  assert.equal(cookieValue('ba=2', 'a'), undefined);
  assert.equal(cookieValue('a=1;b=2', 'b'), '2');
  assert.equal(cookieValue('a= 1 ; b=2', 'a'), '1', 'trimmed');
  assert.equal(cookieValue('a=', 'a'), '');
  assert.equal(cookieValue('ab=1', 'a'), undefined);
});

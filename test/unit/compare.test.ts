import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareResponses, MAX_DIFFERENCES, parseIgnorePath, type IgnorePath } from '../../src/router/compare.js';

const json = (status: number, v: unknown) => ({ status, body: Buffer.from(JSON.stringify(v)) });
const text = (status: number, s: string) => ({ status, body: Buffer.from(s) });
const ignore = (...paths: string[]): IgnorePath[] => paths.map(parseIgnorePath);

test('ignore paths parse: dotted names, quoted names, indexes and wildcards', () => {
  assert.deepEqual(parseIgnorePath('$.a.b'), [{ key: 'a' }, { key: 'b' }]);
  assert.deepEqual(parseIgnorePath('$.items[*].id'), [{ key: 'items' }, { any: true }, { key: 'id' }]);
  assert.deepEqual(parseIgnorePath('$.a["x-y"]'), [{ key: 'a' }, { key: 'x-y' }]);
  assert.deepEqual(parseIgnorePath("$['a.b'][2].*"), [{ key: 'a.b' }, { index: 2 }, { any: true }]);
  assert.deepEqual(parseIgnorePath('$.x-request-id'), [{ key: 'x-request-id' }]);
  for (const bad of ['a.b', '$', '$.', '$[', '$["a"', '$[x]', '$.a b', '$..a']) {
    assert.throws(() => parseIgnorePath(bad), /"/, bad);
  }
});

test('status first: a different status is a mismatch whatever the bodies', () => {
  const c = compareResponses(json(200, { a: 1 }), json(500, { a: 1 }), []);
  assert.equal(c.equal, false);
  assert.equal(c.kind, 'status');
  assert.deepEqual(c.differences, [{ path: 'status', primary: '200', shadow: '500' }]);
});

test('JSON: key order and formatting do not matter; a changed field is reported with both values', () => {
  const a = { status: 200, body: Buffer.from('{"a":1,"b":{"c":[1,2,3]}}') };
  const b = { status: 200, body: Buffer.from('{ "b": { "c": [1, 2, 3] },\n "a": 1.0 }') };
  assert.deepEqual(compareResponses(a, b, []), { equal: true, kind: 'json', differences: [] });
  const c = compareResponses(json(200, { a: 1, b: { c: [1, 2, 3] } }), json(200, { a: 1, b: { c: [1, 9, 3] } }), []);
  assert.equal(c.equal, false);
  assert.deepEqual(c.differences, [{ path: '$.b.c[1]', primary: '2', shadow: '9' }]);
});

test('JSON: ignored paths are skipped, present on one side or both; others still count', () => {
  const p = {
    timestamp: 1,
    requestId: 'a',
    user: { name: 'x', 'x-trace': 't1' },
    items: [
      { id: 1, price: 5 },
      { id: 2, price: 6 },
    ],
  };
  const s = {
    timestamp: 2,
    user: { name: 'x', 'x-trace': 't2' },
    items: [
      { id: 10, price: 5 },
      { id: 20, price: 6 },
    ],
  };
  const ig = ignore('$.timestamp', '$.requestId', '$.user["x-trace"]', '$.items[*].id');
  assert.equal(compareResponses(json(200, p), json(200, s), ig).equal, true);
  const s2 = {
    ...s,
    items: [
      { id: 10, price: 5 },
      { id: 20, price: 7 },
    ],
  };
  const c = compareResponses(json(200, p), json(200, s2), ig);
  assert.equal(c.equal, false);
  assert.deepEqual(c.differences, [{ path: '$.items[1].price', primary: '6', shadow: '7' }]);
  // Without the ignores the same pair differs in several places.
  assert.ok(compareResponses(json(200, p), json(200, s), []).differences.length >= 4);
});

test('JSON: a missing key, a longer array, a type change', () => {
  const c = compareResponses(json(200, { a: 1, b: [1] }), json(200, { b: [1, 2], c: null }), []);
  assert.deepEqual(c.differences, [
    { path: '$.a', primary: '1', shadow: '(absent)' },
    { path: '$.b[1]', primary: '(absent)', shadow: '2' },
    { path: '$.c', primary: '(absent)', shadow: 'null' },
  ]);
  assert.deepEqual(compareResponses(json(200, { a: '1' }), json(200, { a: 1 }), []).differences, [{ path: '$.a', primary: '"1"', shadow: '1' }]);
  assert.deepEqual(compareResponses(json(200, [1]), json(200, { 0: 1 }), []).differences, [{ path: '$', primary: '[1]', shadow: '{"0":1}' }]);
});

test('JSON: at most MAX_DIFFERENCES listed, long values cut', () => {
  const a: Record<string, number> = {};
  const b: Record<string, number> = {};
  for (let i = 0; i < 50; i++) [a[`k${i}`], b[`k${i}`]] = [i, i + 1];
  const c = compareResponses(json(200, a), json(200, b), []);
  assert.equal(c.differences.length, MAX_DIFFERENCES);
  const long = compareResponses(json(200, { s: 'x'.repeat(500) }), json(200, { s: 'y' }), []);
  assert.ok(long.differences[0].primary.length <= 80, long.differences[0].primary);
});

test('bytes: non-JSON bodies compare byte for byte, and the first difference is located', () => {
  assert.deepEqual(compareResponses(text(200, '<html>a</html>'), text(200, '<html>a</html>'), []), { equal: true, kind: 'bytes', differences: [] });
  const c = compareResponses(text(200, '<html>a</html>'), text(200, '<html>b</html>'), []);
  assert.equal(c.equal, false);
  assert.equal(c.kind, 'bytes');
  assert.equal(c.differences[0].path, 'body[6]');
  // One side JSON, the other not: bytes.
  assert.equal(compareResponses(json(200, { a: 1 }), text(200, 'oops'), []).kind, 'bytes');
  // Empty bodies (a 204, a HEAD) are equal.
  assert.equal(compareResponses(text(204, ''), text(204, ''), []).equal, true);
});

// What feeds the conditions: JSONPath picks (web metrics) and {{args.x}} substitution (all providers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateJsonPath, parseJsonPath } from '../../src/analysis/jsonpath.js';
import { substitute, substituteDeep } from '../../src/analysis/template-vars.js';

const doc = {
  data: { ok: true, value: 0.5, 'odd.key': 1, list: [10, 20, 30], rows: [{ v: 1 }, { v: 2 }, { w: 3 }] },
  top: [[1, 2], [3]],
};

test('jsonPath: keys, indices, negative indices, quoted keys and braces', () => {
  assert.equal(evaluateJsonPath('$', 5), 5);
  assert.deepEqual(evaluateJsonPath('$', doc), doc);
  assert.equal(evaluateJsonPath('$.data.value', doc), 0.5);
  assert.equal(evaluateJsonPath('$.data.ok', doc), true);
  assert.equal(evaluateJsonPath('$.data.list[0]', doc), 10);
  assert.equal(evaluateJsonPath('$.data.list[-1]', doc), 30);
  assert.equal(evaluateJsonPath("$.data['odd.key']", doc), 1);
  assert.equal(evaluateJsonPath('$["data"]["list"][1]', doc), 20);
  assert.equal(evaluateJsonPath('{$.data.value}', doc), 0.5);
  assert.equal(evaluateJsonPath(' { $.top[0][1] } ', doc), 2);
  assert.equal(evaluateJsonPath('$.data.list.1', doc), 20);
});

test('jsonPath: wildcards return lists', () => {
  assert.deepEqual(evaluateJsonPath('$.data.list[*]', doc), [10, 20, 30]);
  assert.deepEqual(evaluateJsonPath('$.data.rows[*].v', doc), [1, 2]);
  assert.deepEqual(evaluateJsonPath('$.top[*][0]', doc), [1, 3]);
  assert.deepEqual(evaluateJsonPath('$.data.rows.*.w', doc), [3]);
  assert.deepEqual(evaluateJsonPath('$.data.list[*]', { data: { list: [] } }), []);
});

test('jsonPath: no match is undefined, never a prototype', () => {
  assert.equal(evaluateJsonPath('$.missing', doc), undefined);
  assert.equal(evaluateJsonPath('$.data.list[3]', doc), undefined);
  assert.equal(evaluateJsonPath('$.data.list[-4]', doc), undefined);
  assert.equal(evaluateJsonPath('$.data.value.x', doc), undefined);
  assert.equal(evaluateJsonPath('$.constructor', doc), undefined);
  assert.equal(evaluateJsonPath('$.__proto__', doc), undefined);
  assert.equal(evaluateJsonPath("$.data.list['length']", doc), undefined);
  assert.equal(evaluateJsonPath('$.a', null), undefined);
});

test('jsonPath: malformed paths throw naming the position', () => {
  assert.throws(() => parseJsonPath('data.value'), /jsonPath 'data.value': expected '\$' at position 1/);
  assert.throws(() => parseJsonPath('$.'), /expected a key after '\.'/);
  assert.throws(() => parseJsonPath('$.a[b]'), /expected \[n\], \[\*\] or \['key'\] at position 4/);
  assert.throws(() => parseJsonPath('$.a[1'), /expected \[n\]/);
  assert.throws(() => parseJsonPath('$x'), /unexpected 'x' at position 2/);
});

test('substitute replaces {{args.name}} with or without spaces', () => {
  const args = { service: 'checkout', 'service-name': 'co', 'a.b': 'dotted' };
  assert.equal(substitute('rate(x{svc="{{args.service}}"}[1m])', args), 'rate(x{svc="checkout"}[1m])');
  assert.equal(substitute('{{ args.service-name }}/{{args.a.b}}/{{  args.service}}', args), 'co/dotted/checkout');
  assert.equal(substitute('no refs; {{ other }} and {{args}} stay', args), 'no refs; {{ other }} and {{args}} stay');
  assert.equal(substitute('{{args.service}}', { service: '$& $1' }), '$& $1');
});

test('substitute names an unknown arg and the known ones', () => {
  assert.throws(() => substitute('x{{args.nope}}', { b: '1', a: '2' }), /unknown argument 'nope' in '\{\{args\.nope\}\}' — known args: a, b/);
  assert.throws(() => substitute('{{ args.x }}', {}), /unknown argument 'x'.*declares no args/);
  assert.throws(() => substitute('{{args.toString}}', {}), /unknown argument 'toString'/);
});

test('substituteDeep walks strings inside JSON values', () => {
  assert.deepEqual(substituteDeep({ a: '{{args.x}}', b: [1, '{{args.x}}!', null, { c: true }] }, { x: 'y' }), {
    a: 'y',
    b: [1, 'y!', null, { c: true }],
  });
});

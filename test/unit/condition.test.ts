import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCondition, compileCondition, ConditionError } from '../../src/analysis/condition.js';

const holds = (text: string, result: unknown): boolean => compileCondition(text)(result);

/** The error a condition raises when compiled (or, with `result`, when evaluated). */
function errorOf(text: string, ...result: unknown[]): ConditionError {
  try {
    const condition = compileCondition(text, 'successCondition');
    if (result.length > 0) condition(result[0]);
  } catch (err) {
    assert.ok(err instanceof ConditionError, `expected a ConditionError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected '${text}' to fail`);
}

test('Argo-style examples', () => {
  assert.equal(holds('result <= 0.01', 0.005), true);
  assert.equal(holds('result <= 0.01', 0.02), false);
  assert.equal(holds('result[0] >= 0.95', [0.97, 0.5]), true);
  assert.equal(holds('result[0] >= 0.95', [0.9]), false);
  assert.equal(holds('result.p95 < 0.5 && result.errors == 0', { p95: 0.2, errors: 0 }), true);
  assert.equal(holds('result.p95 < 0.5 && result.errors == 0', { p95: 0.2, errors: 1 }), false);
  assert.equal(holds('len(result) > 0', [1]), true);
  assert.equal(holds('len(result) > 0', []), false);
  assert.equal(holds('isNaN(result)', NaN), true);
  assert.equal(holds('isNaN(result)', 1), false);
  assert.equal(holds('result >= 0.9 || result == null', null), true);
  assert.equal(holds('result >= 0.9 || result == null', undefined), true);
  assert.equal(holds('result >= 0.9 || result == null', 0.95), true);
  assert.equal(holds('result >= 0.9 || result == null', 0.5), false);
  assert.equal(holds('!(result > 5)', 3), true);
  assert.equal(holds('!(result > 5)', 6), false);
  assert.equal(holds('asInt(result) == 3', '3'), true);
  assert.equal(holds('asInt(result) == 3', 3.7), true);
  assert.equal(holds('result == true', true), true);
  assert.equal(holds('result', true), true);
  assert.equal(holds('result', false), false);
});

test('literals: numbers, exponents, strings, booleans, null', () => {
  assert.equal(holds('result < 1e-3', 0.0005), true);
  assert.equal(holds('result < 1E+2', 99), true);
  assert.equal(holds('result == .5', 0.5), true);
  assert.equal(holds("result == 'ok'", 'ok'), true);
  assert.equal(holds('result == "ok"', 'ok'), true);
  assert.equal(holds("result == 'it\\'s'", "it's"), true);
  assert.equal(holds('result == "\\u00e9"', 'é'), true);
  assert.equal(holds('result == false', false), true);
  assert.equal(holds('result == nil', null), true);
  assert.equal(holds('true', 0), true);
  assert.equal(holds('null', 0), false);
});

test('precedence and associativity', () => {
  assert.equal(holds('1 + 2 * 3 == 7', null), true);
  assert.equal(holds('(1 + 2) * 3 == 9', null), true);
  assert.equal(holds('10 - 4 - 3 == 3', null), true);
  assert.equal(holds('8 / 4 / 2 == 1', null), true);
  assert.equal(holds('7 % 4 == 3', null), true);
  assert.equal(holds('-2 * -3 == 6', null), true);
  assert.equal(holds('- result < 0', 4), true);
  assert.equal(holds('true || false && false', null), true);
  assert.equal(holds('(true || false) && false', null), false);
  assert.equal(holds('result > 1 and result < 3 or result == 10', 10), true);
  assert.equal(holds('result > 1 and result < 3 or result == 10', 2), true);
  assert.equal(holds('result > 1 and result < 3 or result == 10', 5), false);
  assert.equal(holds('not (result > 5)', 1), true);
  assert.equal(holds('!!true', null), true);
  assert.equal(holds('1 < 2 == true', null), true);
  assert.equal(holds('result.a + result.b * 2 >= 5', { a: 1, b: 2 }), true);
});

test('member access and indexing', () => {
  const r = { data: { items: [{ v: 1 }, { v: 2 }] }, 'odd key': 7 };
  assert.equal(holds('result.data.items[1].v == 2', r), true);
  assert.equal(holds("result['odd key'] == 7", r), true);
  assert.equal(holds("result['data']['items'][0]['v'] == 1", r), true);
  assert.equal(holds('result.data.items[-1].v == 2', r), true);
  assert.equal(holds('result.data.items[5] == null', r), true);
  assert.equal(holds('result.missing.deeper == null', r), true);
  assert.equal(holds('result[0] == null', null), true);
  assert.equal(holds('result.x == null', 5), true);
  assert.equal(holds('result[1 + 0] == 20', [10, 20]), true);
  assert.equal(holds('result[0.5] == null', [10, 20]), true);
  assert.equal(holds("result['1'] == null", [10, 20]), true);
  assert.equal(holds('result.and == 1', { and: 1 }), true);
  assert.equal(holds('result[0] == 4', { '0': 4 }), true);
});

test('comparisons between mismatched types are false, never errors', () => {
  assert.equal(holds("result < 'a'", 1), false);
  assert.equal(holds("result > 'a'", 1), false);
  assert.equal(holds('result > 0', '5'), false);
  assert.equal(holds('result <= 0', null), false);
  assert.equal(holds('result >= 0', undefined), false);
  assert.equal(holds('result > 0', [1]), false);
  assert.equal(holds('result < 1', NaN), false);
  assert.equal(holds('result == 1', '1'), false);
  assert.equal(holds('result != 1', '1'), true);
  assert.equal(holds('result == result', NaN), false);
  assert.equal(holds("'abc' < 'abd'", null), true);
});

test('equality of lists and objects is deep', () => {
  assert.equal(holds('result == result', [1, { a: 2 }]), true);
  assert.equal(holds('result.a == result.b', { a: [1, 2], b: [1, 2] }), true);
  assert.equal(holds('result.a == result.b', { a: [1, 2], b: [1, 3] }), false);
  assert.equal(holds('result.a == result.b', { a: { x: 1 }, b: { x: 1 } }), true);
});

test('arithmetic: null propagates, strings concatenate, broken types throw', () => {
  assert.equal(holds('result + 1 == null', null), true);
  assert.equal(holds('result.x * 2 > 1', {}), false);
  assert.equal(holds("result + 'b' == 'ab'", 'a'), true);
  assert.equal(holds('1 / result > 1000', 0), true);
  assert.match(errorOf('result * 2 > 1', 'x').message, /cannot apply '\*' to string 'x' and number 2 at column 8/);
  assert.match(errorOf('-result < 0', 'x').message, /cannot apply '-' to string/);
  assert.match(errorOf('result && true', 3).message, /'&&' needs true or false, got number 3/);
  assert.match(errorOf('result + 1', 1).message, /gave number 2, not true or false/);
});

test('logical operators short-circuit and treat null as false', () => {
  assert.equal(holds('false && result * 2 > 0', 'x'), false);
  assert.equal(holds('true || result * 2 > 0', 'x'), true);
  assert.equal(holds('!result', null), true);
  assert.equal(holds('result.ok || false', {}), false);
});

test('functions', () => {
  assert.equal(holds('len(result) == 3', 'abc'), true);
  assert.equal(holds('len(result) == 2', { a: 1, b: 2 }), true);
  assert.equal(holds('len(result) == 0', null), true);
  assert.equal(holds('abs(result) == 2', -2), true);
  assert.equal(holds('min(result) == 1 && max(result) == 3', [3, 1, 2]), true);
  assert.equal(holds('min(result, 0.5) == 0.5', 2), true);
  assert.equal(holds('max(result, 1, 7) == 7', 2), true);
  assert.equal(holds('min(result) == null', []), true);
  assert.equal(holds('isInf(result)', Infinity), true);
  assert.equal(holds('isInf(result)', -Infinity), true);
  assert.equal(holds('isInf(result)', 1), false);
  assert.equal(holds('isNaN(result)', 'NaN'), false);
  assert.equal(holds('asFloat(result) > 0.5', '0.75'), true);
  assert.equal(holds('asFloat(result) == null', null), true);
  assert.equal(holds('asInt(result) == -2', -2.9), true);
  assert.equal(holds('default(result, 0) == 0', null), true);
  assert.equal(holds('default(result.x, 1) < 2', {}), true);
  assert.equal(holds('default(result, 0) == 5', 5), true);
  assert.match(errorOf('asFloat(result) > 1', 'abc').message, /asFloat needs a number or a numeric string, got string 'abc'/);
  assert.match(errorOf('len(result) > 1', 5).message, /len needs a string, list or object, got number 5/);
});

test('syntax errors are one line and name the column', () => {
  const e = errorOf('(result > 0.5))');
  assert.equal(e.message, "successCondition: unexpected ')' at column 15 — expected an operator such as && or || or the end of the condition");
  assert.equal(e.column, 15);
  assert.doesNotMatch(e.message, /\n/);
  assert.match(errorOf('result > ').message, /unexpected end of condition at column 10/);
  assert.match(errorOf('result = 1').message, /unexpected '=' at column 8 — did you mean '=='\?/);
  assert.match(errorOf('result > 1 & true').message, /did you mean '&&'\?/);
  assert.match(errorOf('result | true').message, /did you mean '\|\|'\?/);
  assert.match(errorOf("result == 'abc").message, /unterminated string at column 11/);
  assert.match(errorOf('(result > 1').message, /expected '\)' but found end of condition at column 12/);
  assert.match(errorOf('result[0').message, /expected '\]'/);
  assert.match(errorOf('result.').message, /expected a field name after '\.'/);
  assert.match(errorOf('1.2.3 > 0').message, /malformed number/);
  assert.match(errorOf('12abc > 0').message, /malformed number/);
  assert.match(errorOf('').message, /empty condition at column 1/);
  assert.match(errorOf('   ').message, /empty condition/);
  assert.match(errorOf('result > 1 result').message, /unexpected 'result' at column 12/);
  assert.match(errorOf('result # 1').message, /unexpected '#' at column 8/);
});

test('unknown names and functions are compile errors naming them', () => {
  assert.match(errorOf('foo > 1').message, /unknown name 'foo' at column 1 — only result and the functions len, abs/);
  assert.match(errorOf('result > 1 && count < 2').message, /unknown name 'count' at column 15/);
  assert.match(errorOf('sqrt(result) > 1').message, /unknown name 'sqrt'/);
  assert.match(errorOf('len > 1').message, /len is a function/);
  assert.match(errorOf('len(result, 1) > 1').message, /len takes 1 argument, got 2/);
  assert.match(errorOf('default(result) > 1').message, /default takes 2 arguments, got 1/);
  assert.match(errorOf('result(1)').message, /unexpected '\('.*only the functions/);
  assert.match(errorOf('result.length()').message, /unexpected '\('/);
});

test('security: no way out to JavaScript objects', () => {
  for (const name of ['process', 'this', 'globalThis', 'constructor', 'require', 'Function', 'eval', '__proto__', 'window', 'import']) {
    assert.match(errorOf(`${name} == null`).message, new RegExp(`unknown name '${name}'`), name);
  }
  const probes = [
    'result.constructor',
    "result['constructor']",
    'result.__proto__',
    "result['__proto__']",
    'result.toString',
    'result.hasOwnProperty',
    'result.valueOf',
    "result['__defineGetter__']",
    'result.constructor.constructor',
    "result['constructor']['constructor']",
    'result.length',
    'result.prototype',
  ];
  const results: unknown[] = [{}, { a: 1 }, [1, 2], 'text', 5, true, null, () => 1, new Map(), Object.create(null)];
  for (const probe of probes) {
    for (const [i, r] of results.entries()) {
      assert.equal(holds(`${probe} == null`, r), true, `${probe} on results[${i}] must be null`);
      assert.equal(holds(`len(${probe}) == 0`, r), true, `${probe} on results[${i}] must not be reachable through len`);
    }
  }
  // Own properties still work, even with those names.
  assert.equal(holds("result['constructor'] == 1", JSON.parse('{"constructor": 1}')), true);
  assert.equal(holds('result.__proto__ == 2', JSON.parse('{"__proto__": 2}')), true);
  // A value that is a function or a class instance is opaque.
  assert.equal(
    holds('result == null', () => 1),
    false,
  );
  assert.equal(holds('result.size == null', new Map([[1, 2]])), true);
});

test('hostile input is bounded', () => {
  assert.match(errorOf('('.repeat(200) + 'result' + ')'.repeat(200)).message, /nests too deeply/);
  assert.match(errorOf('!'.repeat(200) + 'result').message, /nests too deeply/);
  assert.match(errorOf('1' + ' + 1'.repeat(1000) + ' > 0').message, /keep it under 2000/);
  assert.equal(holds('1' + ' + 1'.repeat(400) + ' == 401', null), true);
});

test('the compiled condition is reusable and pure', () => {
  const c = compileCondition('result.errors == 0');
  assert.equal(c({ errors: 0 }), true);
  assert.equal(c({ errors: 2 }), false);
  assert.equal(c({ errors: 0 }), true);
});

test('checkCondition reports the message for lint, or undefined', () => {
  assert.equal(checkCondition('result < 0.01'), undefined);
  assert.equal(checkCondition('len(result) > 0 && result[0] >= 0.95'), undefined);
  assert.equal(
    checkCondition('result <', 'failureCondition'),
    'failureCondition: unexpected end of condition at column 9 — expected a value: result, a number, a string, true, false or null',
  );
  assert.match(checkCondition('foo')!, /^condition: unknown name 'foo'/);
});

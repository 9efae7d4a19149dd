import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileValueRegex, MAX_REGEX_VALUE, regexProblem } from '../../src/util/regex.js';
import { validateRouteTable } from '../../src/router/validate.js';
import { loadRollouts } from '../../src/spec/load.js';

test('a regex matches the whole value, in RE2 syntax', () => {
  const m = compileValueRegex('y(es)?', 'r');
  assert.equal(m('y'), true);
  assert.equal(m('yes'), true);
  assert.equal(m('yess'), false, 'anchored at the end');
  assert.equal(m('ayes'), false, 'anchored at the start');
  assert.equal(compileValueRegex('(?i)beta', 'r')('BeTa'), true, 'RE2 inline flags work');
  assert.equal(compileValueRegex('a|b', 'r')('ab'), false, 'alternation is grouped before anchoring');
});

test('(a+)+$ is linear: a value at the cap is answered in milliseconds, a longer one never matches', () => {
  const m = compileValueRegex('(a+)+$', 'r');
  const started = performance.now();
  assert.equal(m('a'.repeat(MAX_REGEX_VALUE - 1) + '!'), false);
  assert.equal(m('a'.repeat(MAX_REGEX_VALUE)), true, 'a value of exactly the cap is matched');
  assert.equal(m('a'.repeat(MAX_REGEX_VALUE + 1)), false, 'longer than the cap: no match');
  assert.equal(m('a'.repeat(10_000) + '!'), false);
  const took = performance.now() - started;
  // JS RegExp needed seconds for 28 characters; generous bound for a shared machine.
  assert.ok(took < 500, `took ${took.toFixed(1)} ms`);
});

test('constructs RE2 cannot run are refused with the construct named and a fix', () => {
  const cases: [string, RegExp][] = [
    ['(a)\\1', /backreference/],
    ['(?<n>a)\\k<n>', /backreference/],
    ['(?=a)a', /lookahead/],
    ['(?!a)b', /lookahead/],
    ['(?<=a)b', /lookbehind/],
    ['(?<!a)b', /lookbehind/],
    ['(?>a)', /atomic group/],
    ['a++', /possessive/],
    ['(', /not a valid RE2 regular expression/],
  ];
  for (const [source, expected] of cases) {
    const p = regexProblem(source);
    assert.ok(p, `${source} is refused`);
    assert.match(p.problem, expected, source);
    assert.ok(p.fix.length > 0);
    assert.doesNotMatch(`${p.problem}; ${p.fix}`, /\n/, 'one line');
  }
  assert.equal(regexProblem('\\\\1'), undefined, 'an escaped backslash followed by 1 is a literal');
  assert.equal(regexProblem('[(?=]x'), undefined, 'text inside a class is not a lookahead');
});

test('route-table validation refuses a lookahead in a rule and in a mirror match', () => {
  const listener = (extra: object) => ({
    listen: '127.0.0.1:8080',
    rollout: 'web',
    role: 'main',
    balancer: 'round-robin',
    split: [{ revision: 1, weight: 100 }],
    backends: [{ revision: 1, version: 'v1', endpoints: [] }],
    rules: [],
    ...extra,
  });
  assert.throws(
    () => validateRouteTable({ generation: 1, listeners: [listener({ rules: [{ name: 'r', header: { name: 'x-a', regex: '(?=a)a' }, revision: 1 }] })] }),
    /^RouteTableError: route table listeners\[0\]\.rules\[0\]\.header\.regex: "\(\?=a\)a" uses a lookahead/,
  );
  assert.throws(
    () =>
      validateRouteTable({
        generation: 1,
        listeners: [
          listener({ mirrors: [{ name: 'm', revision: 1, percent: 10, queueLimit: 1, maxBodyBytes: 0, match: { header: { name: 'x-a', regex: '(a)\\1' } } }] }),
        ],
      }),
    /listeners\[0\]\.mirrors\[0\]\.match\.header\.regex: "\(a\)\\\\1" uses a backreference/,
  );
});

test('the spec refuses a backreference in traffic.routes and in setHeaderRoute', () => {
  const doc = (traffic: string, steps: string) => `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  template: {version: v1, command: node}
  traffic:
    listen: 127.0.0.1:8080
${traffic}
  strategy:
    canary:
      steps:
${steps}
`;
  assert.throws(
    () => loadRollouts(doc('    routes: [{name: t, match: {header: {name: X-A, regex: "(a)\\\\1"}}, to: canary}]', '        - setWeight: 10'), 'web.yaml'),
    /regex.*backreference.*RE2/,
  );
  assert.throws(
    () => loadRollouts(doc('', '        - setHeaderRoute: {name: t, match: [{headerName: X-A, headerValue: {regex: "(?=a)a"}}]}'), 'web.yaml'),
    /regex.*lookahead/,
  );
  assert.doesNotThrow(() =>
    loadRollouts(doc('', '        - setHeaderRoute: {name: t, match: [{headerName: X-A, headerValue: {regex: "(a+)+$"}}]}'), 'web.yaml'),
  );
});

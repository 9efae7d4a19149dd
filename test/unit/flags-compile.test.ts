/**
 * compileFlag / compileFlags against the real flagd evaluator (@openfeature/flagd-core):
 * the sugar must behave as written once flagd evaluates the JsonLogic it compiles to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagdCore } from '@openfeature/flagd-core';
import { loadResources } from '../../src/spec/load.js';
import { flagRecords, type LoadedFlagSet } from '../../src/spec/flags.js';
import { compileFlag, compileFlags } from '../../src/flags/compile.js';
import type { FlagRecord } from '../../src/core/flags.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function records(yaml: string): FlagRecord[] {
  return loadResources(yaml, 'flags.yaml').flatMap((r) => flagRecords(r.value as LoadedFlagSet, r.source, 0));
}

function flag(spec: string, name = 'new-checkout'): FlagRecord {
  const [r] = records(`apiVersion: sluice.dev/v1alpha1\nkind: FeatureFlag\nmetadata: {name: ${name}}\nspec:\n${spec.replace(/^/gm, '  ')}\n`);
  return r!;
}

function evaluator(rs: FlagRecord[]): FlagdCore {
  const core = new FlagdCore(undefined, quiet);
  const changed = core.setConfigurations(JSON.stringify(compileFlags(rs)));
  assert.deepEqual(changed.sort(), rs.map((r) => r.name).sort(), 'flagd-core takes every compiled flag');
  return core;
}

function on(core: FlagdCore, key: string, context: Record<string, unknown>): boolean {
  return core.resolveBooleanEvaluation(key, false, context as never, quiet).value;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

test('segments, attributes and countries: only users matching every condition get the variant', () => {
  const core = evaluator([flag('enable: {segments: [premium, beta_testers], countries: [DE, FR], attributes: {plan: pro}}')]);
  assert.equal(on(core, 'new-checkout', { targetingKey: 'u1', segment: 'premium', country: 'DE', plan: 'pro' }), true);
  assert.equal(on(core, 'new-checkout', { targetingKey: 'u1', segment: 'beta_testers', country: 'FR', plan: 'pro' }), true);
  assert.equal(on(core, 'new-checkout', { targetingKey: 'u1', segment: 'free', country: 'DE', plan: 'pro' }), false);
  assert.equal(on(core, 'new-checkout', { targetingKey: 'u1', segment: 'premium', country: 'US', plan: 'pro' }), false);
  assert.equal(on(core, 'new-checkout', { targetingKey: 'u1', segment: 'premium', country: 'DE', plan: 'basic' }), false);
  assert.equal(on(core, 'new-checkout', { targetingKey: 'u1' }), false);
});

test('minimum account age: accountCreatedAt (epoch seconds) at least N days ago; without it, never', () => {
  const core = evaluator([flag('enable: {minAccountAgeDays: 30}')]);
  const day = 86_400;
  assert.equal(on(core, 'new-checkout', { targetingKey: 'u', accountCreatedAt: nowSeconds() - 31 * day }), true);
  assert.equal(on(core, 'new-checkout', { targetingKey: 'u', accountCreatedAt: nowSeconds() - 29 * day }), false);
  assert.equal(on(core, 'new-checkout', { targetingKey: 'u' }), false);
});

test('time window: from (rollout_start) and until, against $flagd.timestamp', () => {
  const iso = (s: number) => new Date(s * 1000).toISOString();
  const open = evaluator([flag(`enable: {from: "${iso(nowSeconds() - 3600)}", until: "${iso(nowSeconds() + 3600)}"}`)]);
  assert.equal(on(open, 'new-checkout', { targetingKey: 'u' }), true);
  const notYet = evaluator([flag(`enable: {from: "${iso(nowSeconds() + 3600)}"}`)]);
  assert.equal(on(notYet, 'new-checkout', { targetingKey: 'u' }), false);
  const over = evaluator([flag(`enable: {until: "${iso(nowSeconds() - 60)}"}`)]);
  assert.equal(on(over, 'new-checkout', { targetingKey: 'u' }), false);
});

test('combinations: a segment and a percentage — outside the segment nobody, inside about the percentage', () => {
  const core = evaluator([flag('enable: {segments: [premium], percentage: 50%}')]);
  let inside = 0;
  for (let i = 0; i < 2000; i++) {
    assert.equal(on(core, 'new-checkout', { targetingKey: `user-${i}`, segment: 'free' }), false);
    if (on(core, 'new-checkout', { targetingKey: `user-${i}`, segment: 'premium' })) inside++;
  }
  assert.ok(inside > 900 && inside < 1100, `about half of the premium users, got ${inside} of 2000`);
});

test('percentage 100 serves the variant to all, 0 to none (the default)', () => {
  const all = evaluator([flag('enable: {percentage: 100}')]);
  const none = evaluator([flag('enable: {percentage: 0}')]);
  for (let i = 0; i < 100; i++) {
    assert.equal(on(all, 'new-checkout', { targetingKey: `user-${i}` }), true);
    assert.equal(on(none, 'new-checkout', { targetingKey: `user-${i}` }), false);
  }
});

test('kill switch: offVariant for everyone, no targeting, metadata killed', () => {
  const r = flag('enable: {segments: [premium]}\nmetadata: {team: checkout}');
  const killed = { ...r, state: { ...r.state, killed: true } };
  const compiled = compileFlag(killed);
  assert.deepEqual(compiled, { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', metadata: { team: 'checkout', killed: true } });
  const core = evaluator([killed]);
  assert.equal(on(core, 'new-checkout', { targetingKey: 'u', segment: 'premium' }), false);
  const before = evaluator([r]);
  assert.equal(on(before, 'new-checkout', { targetingKey: 'u', segment: 'premium' }), true);
});

test('kill switch on a string flag serves its offVariant', () => {
  const r = flag('variants: {red: "#f00", blue: "#00f"}\ndefaultVariant: red\noffVariant: red\nenable: {variant: blue}', 'color');
  const core = evaluator([{ ...r, state: { ...r.state, killed: true } }]);
  assert.equal(core.resolveStringEvaluation('color', 'x', { targetingKey: 'u' }, quiet).value, '#f00');
  assert.equal(evaluator([r]).resolveStringEvaluation('color', 'x', { targetingKey: 'u' }, quiet).value, '#00f');
});

test('DISABLED passes through: flagd answers with the code default', () => {
  const core = evaluator([flag('state: DISABLED\nenable: {}')]);
  const d = core.resolveBooleanEvaluation('new-checkout', true, { targetingKey: 'u' }, quiet);
  assert.equal(d.value, true);
  assert.equal(d.reason, 'DISABLED');
});

test('flagd JSON with $evaluators and $ref evaluates as flagd does, evaluators carried in the compiled document', () => {
  const doc = {
    flags: {
      banner: { state: 'ENABLED', variants: { big: 'big', small: 'small' }, defaultVariant: 'small', targeting: { if: [{ $ref: 'pros' }, 'big', null] } },
    },
    $evaluators: { pros: { in: [{ var: 'plan' }, ['pro', 'enterprise']] } },
  };
  const rs = records(JSON.stringify(doc, null, 2));
  const compiled = compileFlags(rs);
  assert.deepEqual(compiled.$evaluators, doc.$evaluators);
  const core = evaluator(rs);
  assert.equal(core.resolveStringEvaluation('banner', 'x', { targetingKey: 'u', plan: 'pro' }, quiet).value, 'big');
  assert.equal(core.resolveStringEvaluation('banner', 'x', { targetingKey: 'u', plan: 'free' }, quiet).value, 'small');
});

test('state.percentage overrides the spec', () => {
  const r = flag('enable: {percentage: 0}');
  const core = evaluator([{ ...r, state: { ...r.state, percentage: 100 } }]);
  assert.equal(on(core, 'new-checkout', { targetingKey: 'u' }), true);
});

test('a fractional percentage (12.5 %) compiles to whole weights out of 10,000', () => {
  const r = flag('enable: {percentage: 12.5%}');
  const json = JSON.stringify(compileFlag(r).targeting);
  assert.match(json, /\["on",1250\],\["off",8750\]/);
  const core = evaluator([r]);
  let n = 0;
  for (let i = 0; i < 10_000; i++) if (on(core, 'new-checkout', { targetingKey: `user-${i}` })) n++;
  assert.ok(Math.abs(n / 100 - 12.5) <= 1, `12.5 % ± 1 pp, got ${n / 100} %`);
});

test('ACCEPTANCE: 10,000 users at 10 % → 25 % → 50 %: within ±1 pp each time, and nobody enabled at a lower percentage is disabled at a higher one', () => {
  const base = flag('enable: {percentage: 0}');
  const users = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
  let previous = new Set<string>();
  for (const p of [10, 25, 50]) {
    const core = evaluator([{ ...base, state: { ...base.state, percentage: p } }]);
    const enabled = new Set(users.filter((u) => on(core, 'new-checkout', { targetingKey: u })));
    const share = (enabled.size / users.length) * 100;
    assert.ok(Math.abs(share - p) <= 1, `${p} %: got ${share.toFixed(2)} %, more than 1 pp off`);
    const lost = [...previous].filter((u) => !enabled.has(u));
    assert.deepEqual(lost, [], `raising to ${p} % turned ${lost.length} users off again`);
    previous = enabled;
  }
});

/** Feature-flag documents: FeatureFlag, FeatureFlags, flagd's JSON as-is; defaults and every refusal at its file:line. */
import { test } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lintFile } from '../../src/spec/lint.js';
import assert from 'node:assert/strict';
import { loadResources, loadRollouts } from '../../src/spec/load.js';
import type { LoadedFlagSet } from '../../src/spec/flags.js';
import { UserError } from '../../src/util/errors.js';
import type { CanaryStrategy } from '../../src/core/spec.js';

const FILE = 'flags.yaml';

function flagDoc(name: string, spec: string): string {
  return `apiVersion: sluice.dev/v1alpha1\nkind: FeatureFlag\nmetadata: {name: ${name}}\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
}

function sets(text: string): LoadedFlagSet[] {
  return loadResources(text, FILE)
    .filter((r) => r.kind === 'FeatureFlag' || r.kind === 'FeatureFlags')
    .map((r) => r.value as LoadedFlagSet);
}

function fails(text: string, message: string): void {
  assert.throws(
    () => loadResources(text, FILE),
    (err: unknown) => {
      assert.ok(err instanceof UserError, `a UserError, got ${String(err)}`);
      assert.equal(err.message, message);
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    },
  );
}

test('a FeatureFlag with nothing but a name is a boolean flag, off, with the defaults', () => {
  const [set] = sets(flagDoc('new-checkout', '{}'));
  assert.deepEqual(set!.flags[0], {
    name: 'new-checkout',
    type: 'boolean',
    state: 'ENABLED',
    variants: { on: true, off: false },
    defaultVariant: 'off',
    offVariant: 'off',
    metadata: {},
    lifecycle: { permanent: false },
  });
});

test('the enable sugar: variant defaults to the true one, 25% read as 25, times to epoch ms; lifecycle fields', () => {
  const [set] = sets(
    flagDoc(
      'dark-mode',
      [
        'enable: {percentage: 25%, segments: [premium, beta_testers], attributes: {plan: pro, seats: 3}, countries: [DE], minAccountAgeDays: 30, from: "2026-03-01T09:00:00Z", until: 2026-04-01}',
        'owner: team-web',
        'description: dark theme',
        'created: 2026-01-15',
        'expires: "2026-06-01T00:00:00Z"',
        'metadata: {team: web, tier: 2}',
      ].join('\n'),
    ),
  );
  const f = set!.flags[0]!;
  assert.deepEqual(f.enable, {
    variant: 'on',
    percentage: 25,
    segments: ['premium', 'beta_testers'],
    attributes: { plan: 'pro', seats: 3 },
    countries: ['DE'],
    minAccountAgeDays: 30,
    from: Date.parse('2026-03-01T09:00:00Z'),
    until: Date.parse('2026-04-01'),
  });
  assert.deepEqual(f.lifecycle, {
    owner: 'team-web',
    description: 'dark theme',
    created: Date.parse('2026-01-15'),
    expires: Date.parse('2026-06-01T00:00:00Z'),
    permanent: false,
  });
  assert.deepEqual(f.metadata, { team: 'web', tier: 2 });
});

test('type inferred from variants; offVariant of a string flag is its defaultVariant unless set', () => {
  const [set] = sets(flagDoc('color', 'variants: {red: "#f00", blue: "#00f"}\ndefaultVariant: red\nenable: {variant: blue, percentage: 10}'));
  const f = set!.flags[0]!;
  assert.equal(f.type, 'string');
  assert.equal(f.offVariant, 'red');
  assert.equal(f.enable?.variant, 'blue');
  const [obj] = sets(flagDoc('layout', 'variants: {a: {cols: 2}, b: {cols: 3}}\ndefaultVariant: a\noffVariant: b'));
  assert.equal(obj!.flags[0]!.type, 'object');
  assert.equal(obj!.flags[0]!.offVariant, 'b');
});

test('a flag ramp: setPercentage / pause / analysis steps, as a canary writes them', () => {
  const [set] = sets(
    flagDoc(
      'new-checkout',
      'enable: {percentage: 0}\nrollout:\n  steps:\n    - setPercentage: 10%\n    - pause: {duration: 1h}\n    - analysis: {templates: [{templateName: error-rate}]}\n    - setPercentage: 100',
    ),
  );
  const ramp = set!.flags[0]!.rollout!;
  assert.equal(ramp.progressDeadlineSeconds, 600);
  assert.deepEqual(ramp.steps[0], { setPercentage: 10 });
  assert.deepEqual(ramp.steps[1], { pause: { duration: 3600 } });
  assert.deepEqual((ramp.steps[2] as { analysis: { templates: unknown } }).analysis.templates, [{ templateName: 'error-rate' }]);
  fails(
    flagDoc('x', 'targeting: {if: [true, "on", null]}\nrollout: {steps: [{setPercentage: 10}]}'),
    `${FILE}:6:12: spec.rollout: ramps the percentage of enable, but enable is not set — add enable: {percentage: 0} (and any conditions)`,
  );
});

test('FeatureFlags: a set with $evaluators, $ref and flag-set metadata', () => {
  const text = `apiVersion: sluice.dev/v1alpha1
kind: FeatureFlags
metadata: {name: checkout}
spec:
  metadata: {flagSetId: checkout}
  $evaluators:
    pros: {in: [{var: plan}, [pro, enterprise]]}
  flags:
    banner:
      variants: {big: big, small: small}
      defaultVariant: small
      targeting: {if: [{$ref: pros}, big, null]}
    new-checkout: {enable: {percentage: 5}}
`;
  const [set] = sets(text);
  assert.equal(set!.name, 'checkout');
  assert.deepEqual(set!.evaluators, { pros: { in: [{ var: 'plan' }, ['pro', 'enterprise']] } });
  assert.deepEqual(set!.metadata, { flagSetId: 'checkout' });
  assert.deepEqual(
    set!.flags.map((f) => f.name),
    ['banner', 'new-checkout'],
  );
  assert.deepEqual(set!.flags[0]!.targeting, { if: [{ $ref: 'pros' }, 'big', null] });
  assert.deepEqual(set!.lines, { banner: 9, 'new-checkout': 13 });
});

test("flagd's flag-definition JSON is read as-is (no apiVersion/kind): $schema, $evaluators, $ref, fractional, sem_ver, starts_with", () => {
  const doc = {
    $schema: 'https://flagd.dev/schema/v0/flags.json',
    metadata: { flagSetId: 'shop', version: 'v1' },
    flags: {
      'checkout.v2': {
        state: 'ENABLED',
        variants: { on: true, off: false },
        defaultVariant: 'off',
        targeting: {
          if: [
            { and: [{ $ref: 'emp' }, { sem_ver: [{ var: 'version' }, '>=', '1.2.0'] }] },
            'on',
            { fractional: [{ cat: [{ var: '$flagd.flagKey' }, { var: 'email' }] }, ['on', 20], ['off', 80]] },
          ],
        },
        metadata: { owner: 'shop' },
      },
      headline: { state: 'DISABLED', variants: { a: 'Hello', b: 'Hi' }, defaultVariant: 'a' },
      limit: { state: 'ENABLED', variants: { low: 10, high: 100 }, defaultVariant: 'low' },
    },
    $evaluators: { emp: { ends_with: [{ var: 'email' }, '@example.com'] } },
  };
  const [set] = sets(JSON.stringify(doc, null, 2));
  assert.equal(set!.name, 'shop');
  assert.deepEqual(set!.metadata, { flagSetId: 'shop', version: 'v1' });
  assert.deepEqual(set!.evaluators, doc.$evaluators);
  const [a, b, c] = set!.flags;
  assert.deepEqual(a!.targeting, doc.flags['checkout.v2'].targeting);
  assert.deepEqual(a!.metadata, { owner: 'shop' });
  assert.equal(b!.state, 'DISABLED');
  assert.equal(b!.type, 'string');
  assert.equal(c!.type, 'number');
  // The same document in YAML, after a Rollout-free FeatureFlag in the same file.
  const [one, two] = sets(`${flagDoc('other', '{}')}---\nflags:\n  x: {state: ENABLED, variants: {on: true, off: false}, defaultVariant: on}\n`);
  assert.equal(one!.flags[0]!.name, 'other');
  assert.equal(two!.flags[0]!.defaultVariant, 'on');
});

test('bad input: a flag key with / or ..', () => {
  const fix = 'use letters, digits, _, . and - (at most 128, no "/" and no "..", starting with a letter, digit or _), e.g. new-checkout';
  fails(flagDoc('"a/b"', '{}'), `${FILE}:3:18: metadata.name: is not a valid flag key, got "a/b" — ${fix}`);
  fails(flagDoc('a..b', '{}'), `${FILE}:3:18: metadata.name: is not a valid flag key, got "a..b" — ${fix}`);
  const flagd = JSON.stringify({ flags: { '../x': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' } } }, null, 2);
  fails(flagd, `${FILE}:3:5: flags.../x: "../x" is not a valid flag name — ${fix}`);
});

test('bad input: an unknown variant as default, as offVariant, as enable.variant; mixed types; a typed flag without variants', () => {
  fails(
    flagDoc('f', 'variants: {on: true, off: false}\ndefaultVariant: maybe'),
    `${FILE}:6:19: spec.defaultVariant: "maybe" is not a variant — use one of on, off`,
  );
  fails(flagDoc('f', 'offVariant: gone'), `${FILE}:5:15: spec.offVariant: "gone" is not a variant — use one of on, off`);
  fails(flagDoc('f', 'enable: {variant: maybe}'), `${FILE}:5:21: spec.enable.variant: "maybe" is not a variant — use one of on, off`);
  fails(
    flagDoc('f', 'variants: {a: 1, b: "two"}\ndefaultVariant: a'),
    `${FILE}:5:23: spec.variants.b: is a string, but the flag is number — give every variant a number value`,
  );
  fails(flagDoc('f', 'type: string'), `${FILE}:5:3: spec.variants: a string flag needs variants — add variants, e.g. {red: "#f00", blue: "#00f"}`);
  fails(
    flagDoc('f', 'variants: {red: r, blue: b}'),
    `${FILE}:5:3: spec.defaultVariant: missing required field — add defaultVariant: red (use one of red, blue)`,
  );
});

test('bad input: invalid JsonLogic — unknown operator, two operators in one rule, a result that is no variant, too deep', () => {
  fails(
    flagDoc('f', 'targeting: {if: [{regex: [{var: email}, ".*"]}, "on", null]}'),
    `${FILE}:5:21: spec.targeting.if[0]: unknown JsonLogic operator "regex" — use a flagd operator: var, if, ==, and, or, in, fractional, sem_ver, starts_with, ends_with, … (flagd.dev/reference/custom-operations)`,
  );
  fails(
    flagDoc('f', 'targeting: {"==": [1, 1], "!=": [1, 2]}'),
    `${FILE}:5:14: spec.targeting: a JsonLogic rule has exactly one operator, got 2 keys — write one operator per mapping, e.g. {"and": [rule, rule]}`,
  );
  fails(
    flagDoc('f', 'targeting: {if: [{"==": [{var: plan}, pro]}, "yes", null]}'),
    `${FILE}:5:48: spec.targeting.if[1]: returns "yes", which is not a variant — return one of on, off, or null for the default`,
  );
  fails(
    flagDoc('f', `targeting: ${'{"!": '.repeat(70)}true${'}'.repeat(70)}`),
    `${FILE}:5:404: spec.targeting: nests deeper than 64 levels — flatten the rule, or move parts to $evaluators`,
  );
  fails(
    flagDoc('f', 'targeting: {if: [{sem_ver: [{var: version}, "=>", "1.0.0"]}, "on", null]}'),
    `${FILE}:5:47: spec.targeting.if[0].sem_ver[1]: must be one of = != > >= < <= ^ ~, got "=>" — write e.g. ">="`,
  );
  fails(
    flagDoc('f', 'enable: {}\ntargeting: {if: [true, "on", null]}'),
    `${FILE}:6:14: spec.targeting: is set together with enable — keep one of them: enable compiles to targeting`,
  );
});

test('bad input: $ref to an evaluator that does not exist', () => {
  const doc = {
    flags: { f: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { if: [{ $ref: 'nope' }, 'on', null] } } },
    $evaluators: { pros: { '==': [{ var: 'plan' }, 'pro'] } },
  };
  fails(
    JSON.stringify(doc, null, 2),
    `${FILE}:13:21: flags.f.targeting.if[0].$ref: names evaluator "nope", which $evaluators does not define — use one of pros`,
  );
});

test('bad input: fractional weights that do not add up to 100, are not whole, or name no variant', () => {
  fails(
    flagDoc('f', 'targeting:\n  fractional:\n    - [on, 30]\n    - [off, 30]'),
    `${FILE}:7:7: spec.targeting.fractional: weights add up to 60, not 100 — make the weights add up to 100 (sluice refuses relative weights)`,
  );
  fails(
    flagDoc('f', 'targeting: {fractional: [[on, 50.5], [off, 49.5]]}'),
    `${FILE}:5:33: spec.targeting.fractional[0][1]: weight must be a whole number from 0 to 100, got 50.5 — write a whole percentage, e.g. 25`,
  );
  fails(
    flagDoc('f', 'targeting: {fractional: [[on, 50], [maybe, 50]]}'),
    `${FILE}:5:39: spec.targeting.fractional[1][0]: "maybe" is not a variant — use one of on, off`,
  );
});

test('bad input: the same flag key twice in one file, across documents', () => {
  const flagd = JSON.stringify({ flags: { f: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' } } }, null, 2);
  fails(`${flagDoc('f', '{}')}---\n${flagd}`, `${FILE}:9: flag "f" is defined twice, at lines 1 and 9 — keep one of them, or rename one`);
});

test('bad input: percentages outside 0..100', () => {
  fails(
    flagDoc('f', 'enable: {percentage: 150%}'),
    `${FILE}:5:24: spec.enable.percentage: must be between 0 and 100, got 150% — use a percentage of users from 0 to 100, e.g. 25%`,
  );
});

test('a Rollout: setFlag canary steps and spec.flags.killOnAbort', () => {
  const rollout = (steps: string, flags = '') => `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  template: {version: v2, command: node}
  traffic: {listen: 127.0.0.1:8080}
  strategy:
    canary:
      steps: ${steps}
${flags}`;
  const [r] = loadRollouts(rollout('[{setWeight: 20}, {setFlag: {flag: new-checkout, percentage: 25%}}]', '  flags: {killOnAbort: [new-checkout]}\n'), FILE);
  assert.deepEqual((r!.spec.strategy as CanaryStrategy).steps[1], { setFlag: { flag: 'new-checkout', percentage: 25 } });
  assert.deepEqual(r!.spec.flags, { killOnAbort: ['new-checkout'] });
  const [plain] = loadRollouts(rollout('[{setWeight: 20}]'), FILE);
  assert.equal(plain!.spec.flags, undefined);
  assert.throws(
    () => loadRollouts(rollout('[{setFlag: {flag: "a/b", percentage: 5}}]'), FILE),
    /flags\.yaml:9:\d+: spec\.strategy\.canary\.steps\[0\]\.setFlag\.flag: is not a valid flag key/,
  );
  assert.throws(() => loadRollouts(rollout('[{setFlag: {flag: x, percentage: 101}}]'), FILE), /setFlag\.percentage: must be between 0 and 100/);
  assert.throws(
    () => loadRollouts(rollout('[]', '  flags: {killOnAbort: ["../x"]}\n'), FILE),
    /flags\.yaml:10:\d+: spec\.flags\.killOnAbort\[0\]: is not a valid flag key/,
  );
});

test('lint: every flag with the targeting its sugar expands to, and lifecycle warnings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-flags-lint-'));
  const file = join(dir, 'flags.yaml');
  writeFileSync(file, `${flagDoc('new-checkout', 'owner: team\nenable: {percentage: 25%, countries: [DE]}')}---\n${flagDoc('plain', 'expires: 2020-01-01')}`);
  const r = lintFile(file);
  assert.equal(r.ok, true, r.error);
  assert.deepEqual(r.flags[0], {
    name: 'new-checkout',
    line: 1,
    defaultVariant: 'off',
    targeting: {
      if: [
        { in: [{ var: 'country' }, ['DE']] },
        { fractional: [{ cat: [{ var: '$flagd.flagKey' }, { var: 'targetingKey' }] }, ['on', 25], ['off', 75]] },
        null,
      ],
    },
  });
  assert.deepEqual(r.flags[1], { name: 'plain', line: 8, defaultVariant: 'off' });
  assert.deepEqual(r.warnings, [
    `${file}:8: flag "plain": owner: is not set, so \`sluice flags stale\` cannot say whom to ask — add owner: your-team`,
    `${file}:8: flag "plain": expires: is in the past, so the flag is stale already — remove the flag from the code, or move expires`,
  ]);
});

test("flagd's empty targeting {} is no targeting; its null defaultVariant is refused with a fix", () => {
  const entry = (extra: object) => JSON.stringify({ flags: { a: { state: 'ENABLED', variants: { on: true, off: false }, ...extra } } }, null, 2);
  const [set] = sets(entry({ defaultVariant: 'on', targeting: {} }));
  assert.equal(set!.flags[0]!.targeting, undefined);
  assert.equal(set!.flags[0]!.defaultVariant, 'on');
  fails(
    entry({ defaultVariant: null }),
    `${FILE}:9:25: flags.a.defaultVariant: is null (flagd's "use the code default"), which sluice does not support — name the variant served by default, e.g. defaultVariant: off`,
  );
});

test('bad input: one evaluator name for two different rules in one file', () => {
  const doc = (key: string, rule: object) =>
    JSON.stringify({ flags: { [key]: { variants: { on: true, off: false }, defaultVariant: 'off' } }, $evaluators: { pros: rule } }, null, 2);
  const pro = { '==': [{ var: 'plan' }, 'pro'] };
  const a = doc('f', pro);
  const b = doc('g', { in: [{ var: 'plan' }, ['pro', 'team']] });
  assert.equal(sets(`${a}\n---\n${doc('g', pro)}\n`).length, 2, 'the same rule twice is fine');
  fails(`${a}\n---\n${b}\n`, `${FILE}:23: evaluator "pros" is defined differently at lines 1 and 23 — give one of them another name`);
});

// flagd's published fractional test vectors (test/fixtures/flagd/fractional-vectors.json: the
// flagd-testbed feature file's examples, with the repo, paths and commit they come from) run
// through sluice's evaluator: the assignment must match flagd bit for bit.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { FlagdDocument } from '../../src/core/flags.js';
import { FlagEvaluator, isFailure } from '../../src/flags/evaluator.js';

interface Vector {
  scenario: string;
  flag: string;
  context: Record<string, unknown>;
  value: string;
  reason?: string;
}
const fixture = JSON.parse(readFileSync(new URL('../../../test/fixtures/flagd/fractional-vectors.json', import.meta.url), 'utf8')) as {
  _source: { repo: string; commit: string; paths: string[] };
  flags: FlagdDocument['flags'];
  vectors: Vector[];
};

test('the fixture cites flagd-testbed at a commit and holds the v2 vectors', () => {
  assert.equal(fixture._source.repo, 'https://github.com/open-feature/flagd-testbed');
  assert.match(fixture._source.commit, /^[0-9a-f]{40}$/);
  assert.ok(fixture.vectors.length >= 30, `${fixture.vectors.length} vectors`);
});

test("fractional assignment matches flagd's test vectors", () => {
  const ev = new FlagEvaluator();
  ev.load({ flags: fixture.flags });
  const wrong: string[] = [];
  for (const v of fixture.vectors) {
    const r = ev.evaluate(v.flag, v.context, 'string');
    // The feature checks the SDK's resolved value with "fallback" as the code default: what an
    // error or an answer without a value resolves to (e.g. a bucket naming no variant: GENERAL).
    const got = isFailure(r) ? 'fallback' : (r.value ?? 'fallback');
    if (got !== v.value) wrong.push(`${v.scenario}: ${v.flag} ${JSON.stringify(v.context)} → ${String(got)}, flagd says ${v.value}`);
    if (v.reason !== undefined && !isFailure(r) && r.reason !== v.reason) wrong.push(`${v.flag}: reason ${r.reason}, flagd says ${v.reason}`);
  }
  assert.deepEqual(wrong, []);
});

test('a changed weight moves the assignment (the test can fail)', () => {
  const ev = new FlagEvaluator();
  const flags = structuredClone(fixture.flags);
  const f = flags['fractional-hash-edge-flag']!;
  f.targeting = { fractional: [{ var: 'targetingKey' }, ['lower', 0], ['upper', 50]] };
  ev.load({ flags });
  const r = ev.evaluate('fractional-hash-edge-flag', { targetingKey: 'ejOoVL' });
  assert.ok(!isFailure(r) && r.value === 'upper');
});

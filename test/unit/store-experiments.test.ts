// The ExperimentStore port (core/store.ts) on both stores through one test body, and both
// against a model that recomputes every total from the raw records by brute force.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite.js';
import { MemoryStore } from '../../src/store/memory.js';
import { SNAPSHOTS_KEPT_WHOLE, SNAPSHOTS_THINNED_AT } from '../../src/store/experiments.js';
import type { MetricLookup, Store } from '../../src/core/store.js';
import type { ExperimentRecord, ExperimentReport, ExperimentTotals, MetricKind, MetricTotals } from '../../src/core/experiment.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-experiments-'));
let files = 0;
const sqliteFile = () => join(dir, `s${++files}.db`);

const implementations: [string, () => Store][] = [
  ['SqliteStore', () => new SqliteStore(sqliteFile())],
  ['MemoryStore', () => new MemoryStore()],
];

type Seq = ExperimentRecord & { seq: number };
const ROLLOUT = 'web';
const TEST = 'r1a1';

const exposure = (user: string, variant: string, at: number, experiment = TEST): ExperimentRecord => ({
  type: 'exposure',
  rollout: ROLLOUT,
  experiment,
  user,
  variant,
  at,
});
const conversion = (
  user: string,
  metric: string,
  value: number,
  at: number,
  o: { variant?: string; pre?: boolean; experiment?: string } = {},
): ExperimentRecord => ({
  type: 'conversion',
  rollout: ROLLOUT,
  experiment: o.experiment ?? TEST,
  user,
  variant: o.variant ?? 'a',
  metric,
  value,
  at,
  source: 'event',
  ...(o.pre ? { pre: true } : {}),
});
/** Records numbered from `first`. */
const numbered = (records: ExperimentRecord[], first = 1): Seq[] => records.map((r, i) => ({ ...r, seq: first + i }));

const SPEC = new Map<string, { kind: MetricKind; windowMs?: number }>([
  ['signup', { kind: 'binomial' }],
  ['revenue', { kind: 'continuous' }],
  ['quick', { kind: 'binomial', windowMs: 100 }],
  ['spend', { kind: 'continuous', windowMs: 50 }],
]);
const metrics: MetricLookup = (_rollout, _experiment, metric) => SPEC.get(metric);

const row = (t: ExperimentTotals, metric: string, variant: string): MetricTotals => {
  const found = t.metrics.find((m) => m.metric === metric && m.variant === variant);
  assert.ok(found, `a totals row for ${metric}/${variant}`);
  return found;
};
const zeros = (metric: string, variant: string, users: number): MetricTotals => ({
  metric,
  variant,
  users,
  converted: 0,
  sum: 0,
  sumSquares: 0,
  preReported: 0,
  preSum: 0,
  preSumSquares: 0,
  crossSum: 0,
});
const report = (at: number, experiment = TEST): ExperimentReport => ({
  rollout: ROLLOUT,
  experiment,
  at,
  startedAt: 1,
  variants: [{ variant: 'a', revision: 1, weight: 50, users: at, share: 0.5 }],
  srm: { statistic: 0, df: 1, pValue: 1, mismatch: false },
  metrics: [],
  guardrails: [],
  recommendation: { verdict: 'CONTINUE', reason: `at ${at}`, final: false },
  ignored: { outsideWindow: 0, unexposed: 0 },
});

for (const [implementation, open] of implementations) {
  describe(`ExperimentStore: ${implementation}`, () => {
    test('an empty store: cursor 0, empty totals, no tests, no snapshots', () => {
      const store = open();
      assert.equal(store.experimentCursor('j'), 0);
      assert.deepEqual(store.experimentTotals(ROLLOUT, TEST), {
        rollout: ROLLOUT,
        experiment: TEST,
        variants: [],
        metrics: [],
        ignored: { outsideWindow: 0, unexposed: 0, unknownMetric: 0 },
        lastRecordAt: null,
      });
      assert.deepEqual(store.listExperiments(ROLLOUT), []);
      assert.deepEqual(store.listExperimentSnapshots(ROLLOUT, TEST), []);
      assert.equal(store.pruneExperimentEvents(Number.MAX_SAFE_INTEGER), 0);
      store.close();
    });

    test('exposures: a user counts once, in the variant and at the time of the first exposure applied', () => {
      const store = open();
      const result = store.applyExperimentRecords(
        'j',
        numbered([exposure('u1', 'a', 20), exposure('u2', 'b', 30), exposure('u1', 'b', 5), exposure('u3', 'a', 10), exposure('u4', 'b', 40, 'r2a1')]),
        metrics,
      );
      assert.deepEqual(result, { applied: 5, skipped: 0, cursor: 5 });
      store.applyExperimentRecords('j', numbered([exposure('u2', 'a', 1), exposure('u3', 'b', 2)], 6), metrics);
      const t = store.experimentTotals(ROLLOUT, TEST);
      assert.deepEqual(t.variants, [
        { variant: 'a', users: 2, firstExposureAt: 10 },
        { variant: 'b', users: 1, firstExposureAt: 30 },
      ]);
      assert.deepEqual(t.metrics, [], 'no metric has a value yet');
      assert.equal(t.lastRecordAt, 30, 'the latest record time, whatever the order');
      assert.deepEqual(store.listExperiments(ROLLOUT), ['r1a1', 'r2a1'], 'oldest first exposure first');
      assert.deepEqual(store.listExperiments('api'), []);
      store.close();
    });

    test('binomial: a user converts once however often they convert; every variant gets a row, the users of each its exposed users', () => {
      const store = open();
      store.applyExperimentRecords(
        'j',
        numbered([
          exposure('u1', 'a', 1),
          exposure('u2', 'a', 1),
          exposure('u3', 'b', 1),
          conversion('u1', 'signup', 1, 2),
          conversion('u1', 'signup', 1, 3),
          conversion('u1', 'signup', 1, 4),
        ]),
        metrics,
      );
      const t = store.experimentTotals(ROLLOUT, TEST);
      assert.deepEqual(t.metrics, [{ ...zeros('signup', 'a', 2), converted: 1, sum: 1, sumSquares: 1 }, zeros('signup', 'b', 1)]);
      store.close();
    });

    test('continuous: values sum per user; a refund (negative) takes away, and a user refunded to 0 no longer counts converted', () => {
      const store = open();
      store.applyExperimentRecords(
        'j',
        numbered([
          exposure('u1', 'a', 1),
          exposure('u2', 'a', 1),
          exposure('u3', 'a', 1),
          conversion('u1', 'revenue', 30, 2),
          conversion('u1', 'revenue', 20, 3),
          conversion('u2', 'revenue', 10, 3),
          conversion('u2', 'revenue', -10, 4),
          conversion('u3', 'revenue', -5, 4),
        ]),
        metrics,
      );
      assert.deepEqual(row(store.experimentTotals(ROLLOUT, TEST), 'revenue', 'a'), {
        ...zeros('revenue', 'a', 3),
        converted: 2,
        sum: 45,
        sumSquares: 50 * 50 + 25,
      });
      store.close();
    });

    test('pre-exposure covariates: the last one reported wins, they change no value, and Σx, Σx², Σxy follow both', () => {
      const store = open();
      store.applyExperimentRecords(
        'j',
        numbered([
          exposure('u1', 'a', 1),
          exposure('u2', 'a', 1),
          exposure('u3', 'a', 1),
          conversion('u1', 'revenue', 3, 2), // y before x: the cross sum follows when x comes
          conversion('u1', 'revenue', 4, 3, { pre: true }),
          conversion('u2', 'revenue', 2, 2, { pre: true }),
          conversion('u2', 'revenue', 5, 3, { pre: true }),
          conversion('u3', 'revenue', 2, 4),
          conversion('u3', 'signup', 7, 0, { pre: true }),
        ]),
        metrics,
      );
      const t = store.experimentTotals(ROLLOUT, TEST);
      assert.deepEqual(row(t, 'revenue', 'a'), {
        ...zeros('revenue', 'a', 3),
        converted: 2,
        sum: 5,
        sumSquares: 9 + 4,
        preReported: 2,
        preSum: 9,
        preSumSquares: 16 + 25,
        crossSum: 12,
      });
      assert.deepEqual(
        row(t, 'signup', 'a'),
        { ...zeros('signup', 'a', 3), preReported: 1, preSum: 7, preSumSquares: 49 },
        'a covariate alone is no conversion',
      );
      store.applyExperimentRecords('j', numbered([conversion('u2', 'revenue', 10, 5)], 10), metrics);
      assert.equal(row(store.experimentTotals(ROLLOUT, TEST), 'revenue', 'a').crossSum, 12 + 50);
      store.close();
    });

    test('windows: a conversion later than the window after exposure is ignored; at the edge, before exposure (clock skew) and pre records count', () => {
      const store = open();
      store.applyExperimentRecords(
        'j',
        numbered([
          exposure('u1', 'a', 1000),
          exposure('u2', 'a', 1000),
          exposure('u3', 'a', 1000),
          conversion('u1', 'quick', 1, 1100),
          conversion('u2', 'quick', 1, 1101),
          conversion('u3', 'quick', 1, 990),
          conversion('u2', 'spend', 8, 1051),
          conversion('u2', 'spend', 6, 9000, { pre: true }),
          conversion('u2', 'revenue', 1, 1e9),
        ]),
        metrics,
      );
      const t = store.experimentTotals(ROLLOUT, TEST);
      assert.equal(row(t, 'quick', 'a').converted, 2);
      assert.deepEqual(row(t, 'spend', 'a'), { ...zeros('spend', 'a', 3), preReported: 1, preSum: 6, preSumSquares: 36 });
      assert.equal(row(t, 'revenue', 'a').sum, 1, 'no window: any time');
      assert.deepEqual(t.ignored, { outsideWindow: 2, unexposed: 0, unknownMetric: 0 });
      assert.equal(t.lastRecordAt, 1e9);
      store.close();
    });

    test('conversions of users never exposed in that test, or of metrics the spec does not name, are counted as ignored and change no total', () => {
      const store = open();
      store.applyExperimentRecords(
        'j',
        numbered([
          exposure('u1', 'a', 1),
          exposure('u9', 'b', 1, 'r2a1'),
          conversion('u2', 'signup', 1, 2),
          conversion('u9', 'signup', 1, 2),
          conversion('u2', 'revenue', 5, 2, { pre: true }),
          conversion('u1', 'clicks', 1, 3),
        ]),
        metrics,
      );
      const t = store.experimentTotals(ROLLOUT, TEST);
      assert.deepEqual(t.metrics, []);
      assert.deepEqual(t.variants, [{ variant: 'a', users: 1, firstExposureAt: 1 }]);
      assert.deepEqual(t.ignored, { outsideWindow: 0, unexposed: 3, unknownMetric: 1 });
      assert.equal(store.pruneExperimentEvents(Number.MAX_SAFE_INTEGER), 4, 'ignored conversions are kept raw too');
      store.close();
    });

    test('a conversion journaled under another variant counts for the variant the user was first exposed to', () => {
      const store = open();
      store.applyExperimentRecords(
        'j',
        numbered([exposure('u1', 'a', 1), exposure('u2', 'b', 1), conversion('u1', 'signup', 1, 2, { variant: 'b' })]),
        metrics,
      );
      const t = store.experimentTotals(ROLLOUT, TEST);
      assert.equal(row(t, 'signup', 'a').converted, 1);
      assert.equal(row(t, 'signup', 'b').converted, 0);
      store.close();
    });

    test('a batch applied again changes nothing; a batch straddling the cursor applies only what is new; journals keep their own cursors', () => {
      const store = open();
      const first = numbered([
        exposure('u1', 'a', 1),
        exposure('u2', 'b', 1),
        conversion('u1', 'revenue', 5, 2),
        conversion('u2', 'revenue', 7, 2),
        conversion('u1', 'signup', 1, 2),
      ]);
      assert.deepEqual(store.applyExperimentRecords('j', first, metrics), { applied: 5, skipped: 0, cursor: 5 });
      const once = store.experimentTotals(ROLLOUT, TEST);
      assert.deepEqual(store.applyExperimentRecords('j', first, metrics), { applied: 0, skipped: 5, cursor: 5 });
      assert.deepEqual(store.experimentTotals(ROLLOUT, TEST), once);
      assert.equal(store.pruneExperimentEvents(Number.MAX_SAFE_INTEGER), 3, 'raw rows once');

      const straddling = numbered(
        [conversion('u1', 'revenue', 5, 2), conversion('u2', 'revenue', 7, 2), conversion('u1', 'signup', 1, 2), conversion('u1', 'revenue', 100, 3)],
        3,
      );
      assert.deepEqual(store.applyExperimentRecords('j', straddling, metrics), { applied: 1, skipped: 3, cursor: 6 });
      assert.equal(row(store.experimentTotals(ROLLOUT, TEST), 'revenue', 'a').sum, 105);
      assert.equal(store.experimentCursor('j'), 6);
      assert.deepEqual(store.applyExperimentRecords('j', [], metrics), { applied: 0, skipped: 0, cursor: 6 });

      assert.equal(store.experimentCursor('k'), 0, 'another router journal');
      assert.deepEqual(store.applyExperimentRecords('k', numbered([conversion('u2', 'revenue', 1, 9)]), metrics), { applied: 1, skipped: 0, cursor: 1 });
      assert.equal(row(store.experimentTotals(ROLLOUT, TEST), 'revenue', 'b').sum, 8);
      assert.equal(store.experimentCursor('j'), 6);
      store.close();
    });

    test('a batch that fails part way (a bad record, a lookup that throws) changes nothing, cursor included', () => {
      const store = open();
      store.applyExperimentRecords('j', numbered([exposure('u1', 'a', 1)]), metrics);
      const before = store.experimentTotals(ROLLOUT, TEST);
      assert.throws(
        () => store.applyExperimentRecords('j', numbered([exposure('u2', 'a', 2), conversion('u1', 'revenue', Number.NaN, 3)], 2), metrics),
        /^Error: experiment journal j: record seq 3: value NaN is not a finite number — the batch was not applied$/,
      );
      const throwing: MetricLookup = (r, e, m) => {
        if (m === 'boom') throw new Error('spec unreadable');
        return metrics(r, e, m);
      };
      assert.throws(
        () =>
          store.applyExperimentRecords('j', numbered([exposure('u2', 'a', 2), conversion('u1', 'revenue', 4, 3), conversion('u1', 'boom', 1, 3)], 2), throwing),
        /spec unreadable/,
      );
      assert.deepEqual(store.experimentTotals(ROLLOUT, TEST), before);
      assert.equal(store.experimentCursor('j'), 1);
      assert.equal(store.pruneExperimentEvents(Number.MAX_SAFE_INTEGER), 0);
      store.close();
    });

    test('snapshots: oldest first by their time, `limit` the newest ones; per test', () => {
      const store = open();
      for (const at of [30, 10, 20, 20]) store.putExperimentSnapshot(report(at));
      store.putExperimentSnapshot(report(5, 'r2a1'));
      const ats = (limit?: number) => store.listExperimentSnapshots(ROLLOUT, TEST, limit).map((r) => r.at);
      assert.deepEqual(ats(), [10, 20, 20, 30]);
      assert.deepEqual(ats(2), [20, 30]);
      assert.deepEqual(ats(0), []);
      assert.deepEqual(ats(99), [10, 20, 20, 30]);
      assert.deepEqual(store.listExperimentSnapshots(ROLLOUT, TEST, 1), [report(30)], 'the report as it was put');
      assert.deepEqual(
        store.listExperimentSnapshots(ROLLOUT, 'r2a1').map((r) => r.at),
        [5],
      );
      store.close();
    });

    test(`snapshots past ${SNAPSHOTS_THINNED_AT} are thinned: the first and the newest ${SNAPSHOTS_KEPT_WHOLE} stay, older ones get sparser`, () => {
      const store = open();
      const n = SNAPSHOTS_THINNED_AT + 1300;
      for (let at = 1; at <= n; at++) store.putExperimentSnapshot(report(at));
      const ats = store.listExperimentSnapshots(ROLLOUT, TEST).map((r) => r.at);
      assert.ok(ats.length >= 1000 && ats.length <= SNAPSHOTS_THINNED_AT, `${ats.length} kept`);
      assert.equal(ats[0], 1, 'the start stays');
      assert.deepEqual(
        ats.slice(-SNAPSHOTS_KEPT_WHOLE),
        Array.from({ length: SNAPSHOTS_KEPT_WHOLE }, (_, i) => n - SNAPSHOTS_KEPT_WHOLE + 1 + i),
      );
      const gaps = ats.slice(1, -SNAPSHOTS_KEPT_WHOLE).map((at, i) => at - ats[i]);
      assert.ok(
        gaps.every((g, i) => i === 0 || g <= gaps[i - 1]),
        'gaps never widen towards the present',
      );
      assert.deepEqual(
        store.listExperimentSnapshots(ROLLOUT, TEST, 3).map((r) => r.at),
        [n - 2, n - 1, n],
      );
      store.close();
    });

    test('prune: raw conversions before the time go, totals stay', () => {
      const store = open();
      store.applyExperimentRecords(
        'j',
        numbered([exposure('u1', 'a', 1), conversion('u1', 'revenue', 5, 10), conversion('u1', 'revenue', 6, 20), conversion('u1', 'revenue', 7, 30)]),
        metrics,
      );
      const totals = store.experimentTotals(ROLLOUT, TEST);
      assert.equal(store.pruneExperimentEvents(20), 1);
      assert.equal(store.pruneExperimentEvents(20), 0);
      assert.equal(store.pruneExperimentEvents(31), 2);
      assert.deepEqual(store.experimentTotals(ROLLOUT, TEST), totals);
      assert.equal(row(totals, 'revenue', 'a').sum, 18);
      store.close();
    });

    test('deleting the rollout keeps its experiments', () => {
      const store = open();
      store.putRollout({ name: ROLLOUT, spec: { name: ROLLOUT } as never, source: '', status: {} as never, createdAt: 1 });
      store.applyExperimentRecords('j', numbered([exposure('u1', 'a', 1), conversion('u1', 'signup', 1, 2)]), metrics);
      store.putExperimentSnapshot(report(3));
      const totals = store.experimentTotals(ROLLOUT, TEST);
      store.deleteRollout(ROLLOUT);
      assert.deepEqual(store.experimentTotals(ROLLOUT, TEST), totals);
      assert.deepEqual(store.listExperiments(ROLLOUT), [TEST]);
      assert.equal(store.listExperimentSnapshots(ROLLOUT, TEST).length, 1);
      assert.equal(store.experimentCursor('j'), 2);
      store.close();
    });

    test('fractional values (cents as decimals): totals agree with an exact recomputation to 1e-12', () => {
      const store = open();
      const cents = new Map<string, number>();
      const records: ExperimentRecord[] = [];
      let seed = 7;
      const random = () => ((seed = (seed * 48271) % 2147483647), seed / 2147483647);
      for (let u = 0; u < 2000; u++) {
        records.push(exposure(`u${u}`, 'a', 1));
        for (let k = 0; k < 3; k++) {
          const c = Math.floor(random() * 20000) - (k === 2 ? 15000 : 0);
          cents.set(`u${u}`, (cents.get(`u${u}`) ?? 0) + c);
          records.push(conversion(`u${u}`, 'revenue', c / 100, 2));
        }
      }
      for (let i = 0; i < records.length; i += 997) store.applyExperimentRecords('j', numbered(records.slice(i, i + 997), i + 1), metrics);
      const t = row(store.experimentTotals(ROLLOUT, TEST), 'revenue', 'a');
      const exact = [...cents.values()];
      const sum = exact.reduce((s, c) => s + c, 0) / 100;
      const sumSquares = exact.reduce((s, c) => s + c * c, 0) / 10000;
      assert.ok(Math.abs(t.sum - sum) <= 1e-12 * Math.abs(sum), `sum ${t.sum} vs ${sum}`);
      assert.ok(Math.abs(t.sumSquares - sumSquares) <= 1e-12 * sumSquares, `sum of squares ${t.sumSquares} vs ${sumSquares}`);
      store.close();
    });
  });
}

test('SqliteStore: everything survives closing and reopening the file', () => {
  const path = sqliteFile();
  let store = new SqliteStore(path);
  store.applyExperimentRecords(
    'j',
    numbered([
      exposure('u1', 'a', 1),
      exposure('u2', 'b', 2),
      conversion('u1', 'revenue', 5, 3),
      conversion('u1', 'revenue', 2, 4, { pre: true }),
      conversion('u3', 'signup', 1, 5),
    ]),
    metrics,
  );
  store.putExperimentSnapshot(report(6));
  const totals = store.experimentTotals(ROLLOUT, TEST);
  store.close();

  store = new SqliteStore(path);
  assert.deepEqual(store.experimentTotals(ROLLOUT, TEST), totals);
  assert.equal(store.experimentCursor('j'), 5);
  assert.deepEqual(store.applyExperimentRecords('j', numbered([conversion('u1', 'revenue', 5, 3)], 3), metrics).applied, 0);
  store.applyExperimentRecords('j', numbered([conversion('u1', 'revenue', 1, 7)], 6), metrics);
  assert.equal(row(store.experimentTotals(ROLLOUT, TEST), 'revenue', 'a').crossSum, 12, 'the user row was kept: x=2, y=5+1');
  assert.deepEqual(store.listExperimentSnapshots(ROLLOUT, TEST), [report(6)]);
  assert.deepEqual(store.listExperiments(ROLLOUT), [TEST]);
  store.close();

  const db = new Database(path, { readonly: true });
  const outcomes = db.prepare('SELECT outcome, count(*) AS n FROM experiment_events GROUP BY outcome ORDER BY outcome').all();
  const snapshot = db.prepare('SELECT format FROM experiment_snapshots').get();
  db.close();
  assert.deepEqual(outcomes, [
    { outcome: 'counted', n: 3 },
    { outcome: 'unexposed', n: 1 },
  ]);
  assert.deepEqual(snapshot, { format: 1 }, 'snapshots record their JSON format');
});

// ---- the model: every total recomputed from the records applied, user by user -----------

const MODEL_USERS = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
const MODEL_TESTS = ['r1a1', 'r2a1'];
const MODEL_METRICS = ['signup', 'revenue', 'quick', 'spend', 'ghost'];

/** Times are multiples of 10 so that conversions often fall exactly on a window's edge (50, 100 after exposure). */
const timeArb = (max: number) => fc.integer({ min: 0, max: max / 10 }).map((t) => t * 10);
const recordArb: fc.Arbitrary<ExperimentRecord> = fc.oneof(
  fc
    .record({ user: fc.constantFrom(...MODEL_USERS), variant: fc.constantFrom('a', 'b', 'c'), at: timeArb(200), experiment: fc.constantFrom(...MODEL_TESTS) })
    .map((r) => exposure(r.user, r.variant, r.at, r.experiment)),
  fc
    .record({
      user: fc.constantFrom(...MODEL_USERS),
      variant: fc.constantFrom('a', 'b', 'c'),
      metric: fc.constantFrom(...MODEL_METRICS),
      value: fc.integer({ min: -30, max: 60 }),
      at: timeArb(400),
      pre: fc.boolean(),
      experiment: fc.constantFrom(...MODEL_TESTS),
    })
    .map((r) => conversion(r.user, r.metric, r.value, r.at, r)),
);

/** The journal's records and how they are sent: batches that overlap what was sent before, and stale ones sent again. */
const scenarioArb = fc.array(recordArb, { minLength: 1, maxLength: 150, size: 'max' }).chain((records) =>
  fc
    .array(fc.record({ end: fc.integer({ min: 1, max: records.length }), back: fc.nat({ max: 10 }), stale: fc.boolean() }), { minLength: 1, maxLength: 12 })
    .map((sends) => {
      const journal = numbered(records);
      const batches: Seq[][] = [];
      let sent = 0;
      for (const s of [...sends.sort((a, b) => a.end - b.end), { end: records.length, back: 0, stale: false }]) {
        batches.push(journal.slice(Math.max(0, sent - s.back), s.end));
        if (s.stale && batches.length > 1) batches.push(batches[Math.floor(batches.length / 2) - 1]);
        sent = Math.max(sent, s.end);
      }
      return { journal, batches };
    }),
);

function modelTotals(records: Seq[], experiment: string): ExperimentTotals {
  const mine = records.filter((r) => r.experiment === experiment);
  const users = new Map<string, { variant: string; at: number }>();
  const values = new Map<string, { y: number; x: number; reported: boolean }>();
  const ignored = { outsideWindow: 0, unexposed: 0, unknownMetric: 0 };
  for (const r of mine) {
    if (r.type === 'exposure') {
      if (!users.has(r.user)) users.set(r.user, { variant: r.variant, at: r.at });
      continue;
    }
    const spec = SPEC.get(r.metric);
    const user = users.get(r.user);
    if (!spec) ignored.unknownMetric++;
    else if (!user) ignored.unexposed++;
    else if (!r.pre && spec.windowMs !== undefined && r.at - user.at > spec.windowMs) ignored.outsideWindow++;
    else {
      const v = values.get(`${r.metric}/${r.user}`) ?? { y: 0, x: 0, reported: false };
      if (r.pre) values.set(`${r.metric}/${r.user}`, { ...v, x: r.value, reported: true });
      else values.set(`${r.metric}/${r.user}`, { ...v, y: spec.kind === 'binomial' ? 1 : v.y + r.value });
    }
  }
  const variantNames = [...new Set([...users.values()].map((u) => u.variant))].sort();
  const variants = variantNames.map((variant) => {
    const own = [...users.values()].filter((u) => u.variant === variant);
    return { variant, users: own.length, firstExposureAt: Math.min(...own.map((u) => u.at)) };
  });
  const metricNames = [...new Set([...values.keys()].map((k) => k.split('/')[0]))].sort();
  const metricRows = metricNames.flatMap((metric) =>
    variants.map(({ variant, users: n }) => {
      const t = zeros(metric, variant, n);
      for (const [name, u] of users) {
        if (u.variant !== variant) continue;
        const { y, x, reported } = values.get(`${metric}/${name}`) ?? { y: 0, x: 0, reported: false };
        t.converted += Number(y !== 0);
        t.sum += y;
        t.sumSquares += y * y;
        t.preReported += Number(reported);
        t.preSum += x;
        t.preSumSquares += x * x;
        t.crossSum += x * y;
      }
      return t;
    }),
  );
  return {
    rollout: ROLLOUT,
    experiment,
    variants,
    metrics: metricRows,
    ignored,
    lastRecordAt: mine.length === 0 ? null : Math.max(...mine.map((r) => r.at)),
  };
}

test('totals equal a brute-force recomputation from the records, however the journal is batched and re-sent; both stores agree', () => {
  fc.assert(
    fc.property(scenarioArb, ({ journal, batches }) => {
      const stores = implementations.map(([, open]) => open());
      try {
        for (const batch of batches) for (const store of stores) store.applyExperimentRecords('j', batch, metrics);
        for (const store of stores) {
          assert.equal(store.experimentCursor('j'), journal.length);
          for (const experiment of MODEL_TESTS) assert.deepEqual(store.experimentTotals(ROLLOUT, experiment), modelTotals(journal, experiment));
          const withExposures = MODEL_TESTS.filter((e) => journal.some((r) => r.experiment === e && r.type === 'exposure'));
          assert.deepEqual([...store.listExperiments(ROLLOUT)].sort(), withExposures);
        }
        assert.deepEqual(stores[0].listExperiments(ROLLOUT), stores[1].listExperiments(ROLLOUT));
        const conversions = journal.filter((r) => r.type === 'conversion').length;
        for (const store of stores) assert.equal(store.pruneExperimentEvents(Number.MAX_SAFE_INTEGER), conversions, 'each conversion kept raw once');
      } finally {
        for (const store of stores) store.close();
      }
    }),
    { numRuns: 150 },
  );
});

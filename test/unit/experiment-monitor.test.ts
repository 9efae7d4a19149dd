/**
 * The experiment monitor (src/engine/experiments/monitor.ts) on a real SQLite store with an
 * in-memory journal and guardrail readings: it pulls and acknowledges the journal without
 * applying a record twice (a re-sent batch, a restart of the monitor), reports from the
 * store's totals, acts once on a final verdict (SHIP promotes the winner, a guardrail
 * STOP aborts, NEUTRAL keeps the control), and never on an SRM-blocked test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExperimentJournal, ExperimentRecord, ExperimentRecordBatch } from '../../src/core/experiment.js';
import type { WindowStats } from '../../src/core/traffic-router.js';
import { ExperimentMonitor } from '../../src/engine/experiments/monitor.js';
import { initialStatus } from '../../src/engine/controller.js';
import { loadRollouts } from '../../src/spec/load.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { FakeClock } from '../helpers/fake-clock.js';

const MANIFEST = `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: shop}
spec:
  template: {version: v2, command: node, args: [app.js]}
  traffic: {listen: 127.0.0.1:18130}
  strategy:
    abTest:
      variants: [{name: a, weight: 50}, {name: b, weight: 50}]
      metrics:
        - {name: checkout, goal: {path: /checkout, methods: [POST]}}
      guardrails: {maxErrorRate: 5%, minRequests: 100}
      conclusion: {minimumUsers: 200, auto: true, sequentialTuning: 500}
`;

/** A journal like the router's: records with seq, served from `after`, forgotten on ack. */
class MemoryJournal implements ExperimentJournal {
  id = 'j1';
  seq = 0;
  pending: (ExperimentRecord & { seq: number })[] = [];
  acked = 0;
  /** Serve the next batch again from the start, whatever `after` says. */
  resend = false;
  /** Acknowledgements get lost: nothing is forgotten. */
  loseAcks = false;
  add(r: ExperimentRecord): void {
    this.pending.push({ ...r, seq: ++this.seq });
  }
  async records(after: number, max = 5000): Promise<ExperimentRecordBatch> {
    const from = this.resend ? 0 : after;
    this.resend = false;
    return { journal: this.id, records: this.pending.filter((r) => r.seq > from).slice(0, max), last: this.seq };
  }
  async ack(journal: string, upTo: number): Promise<void> {
    assert.equal(journal, this.id);
    if (this.loseAcks) return;
    this.acked = upTo;
    this.pending = this.pending.filter((r) => r.seq > upTo);
  }
}

function setup(errorRateB = 0) {
  const clock = new FakeClock(1_700_000_000_000);
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'sluice-exp-')), 'sluice.db'));
  const [loaded] = loadRollouts(MANIFEST, 'shop.yaml');
  const status = {
    ...initialStatus(2, clock.now()),
    stableRevision: 1,
    weights: [
      { revision: 2, weight: 50 },
      { revision: 1, weight: 50 },
    ],
    phase: 'Paused' as const,
    reason: 'Experimenting',
  };
  store.putRollout({ name: 'shop', spec: loaded!.spec, source: MANIFEST, status, createdAt: clock.now() });
  store.saveStatus('shop', status);
  const journal = new MemoryJournal();
  const acted: string[] = [];
  const window = (revision: number): WindowStats => {
    const errorRate = revision === 2 ? errorRateB : 0;
    return {
      rollout: 'shop',
      revision,
      from: 0,
      to: 0,
      requests: 1000,
      errors5xx: errorRate * 1000,
      requestRate: 10,
      errorRate,
      successRate: 1 - errorRate,
      latency: { p50: 0.01, p90: 0.02, p95: 0.02, p99: 0.03, mean: 0.01 },
      truncated: false,
      mirrored: 0,
      compared: 0,
      mismatches: 0,
      mismatchRate: 0,
    };
  };
  const monitor = (): ExperimentMonitor =>
    new ExperimentMonitor({
      store,
      clock,
      journal,
      windows: { window: async (_r, rev) => window(rev), samples: async () => ({ latencies: [], errors: [], truncated: false }) },
      actions: {
        promote: async (name, variant) => void acted.push(`promote ${name} ${variant}`),
        abort: async (name) => void acted.push(`abort ${name}`),
      },
      log: () => undefined,
    });
  return { clock, store, journal, acted, monitor };
}

/** `users` per variant exposed; a share of each converts. */
function traffic(journal: MemoryJournal, at: number, users: Record<string, number>, rates: Record<string, number>): void {
  for (const [variant, n] of Object.entries(users)) {
    for (let i = 0; i < n; i++) {
      const user = `${variant}-${i}`;
      journal.add({ type: 'exposure', rollout: 'shop', experiment: 'r2a0', user, variant, at });
      if (i < Math.round(n * rates[variant]!))
        journal.add({ type: 'conversion', rollout: 'shop', experiment: 'r2a0', user, variant, metric: 'checkout', value: 1, at: at + 1000, source: 'goal' });
    }
  }
}

test('pulls, acknowledges and applies each record once (re-sent batch, restarted monitor); SHIP promotes b once', async () => {
  const { clock, store, journal, acted, monitor } = setup();
  traffic(journal, clock.now(), { a: 600, b: 600 }, { a: 0.1, b: 0.3 });
  const m = monitor();
  await m.tick();
  assert.equal(journal.acked, journal.seq, 'everything acknowledged');
  assert.equal(journal.pending.length, 0);
  const totals = store.experimentTotals('shop', 'r2a0');
  assert.deepEqual(
    totals.variants.map((v) => [v.variant, v.users]),
    [
      ['a', 600],
      ['b', 600],
    ],
  );
  assert.deepEqual(acted, ['promote shop b']);
  const { report } = m.reportOf('shop');
  assert.equal(report?.recommendation.verdict, 'SHIP');
  assert.equal(report?.concluded?.variant, 'b');
  assert.match(
    store.lastEvents('shop', 5).find((e) => e.reason === 'ExperimentVerdict')!.message,
    /^SHIP b: .*users a 600, b 600; checkout a 10\.00 %, b 30\.00 %/,
  );

  // Acks lost, a restarted monitor, a journal serving everything again: no record applied twice.
  journal.loseAcks = true;
  traffic(journal, clock.now(), { a: 10 }, { a: 1 });
  await monitor().pull();
  journal.resend = true;
  await monitor().pull();
  const again = store.experimentTotals('shop', 'r2a0');
  assert.equal(again.variants.find((v) => v.variant === 'b')!.users, 600);
  assert.equal(again.variants.find((v) => v.variant === 'a')!.users, 600, 'a-0..a-9 were exposed already: first exposure wins, no new users');
  assert.equal(again.metrics.find((x) => x.variant === 'a' && x.metric === 'checkout')!.converted, 60, 'a-0..a-9 had converted already');
});

test('a variant over the error guardrail is stopped: the test is aborted', async () => {
  const { clock, journal, acted, monitor } = setup(0.2);
  traffic(journal, clock.now(), { a: 300, b: 300 }, { a: 0.1, b: 0.1 });
  const m = monitor();
  await m.tick();
  assert.deepEqual(acted, ['abort shop']);
  assert.match(m.reportOf('shop').report!.recommendation.reason, /error rate 20\.00 % over 1000 requests is above the 5\.00 % guardrail/);
});

test('a skewed sample raises SRM and blocks SHIP: nothing is done', async () => {
  const { clock, journal, acted, monitor } = setup();
  traffic(journal, clock.now(), { a: 400, b: 700 }, { a: 0.1, b: 0.3 });
  const m = monitor();
  await m.tick();
  const r = m.reportOf('shop').report!;
  assert.equal(r.srm.mismatch, true);
  assert.equal(r.recommendation.verdict, 'CONTINUE');
  assert.deepEqual(acted, []);
});

test('too few users: CONTINUE, and a snapshot is kept for the plots', async () => {
  const { clock, store, journal, acted, monitor } = setup();
  traffic(journal, clock.now(), { a: 50, b: 50 }, { a: 0.1, b: 0.3 });
  const m = monitor();
  await m.tick();
  assert.deepEqual(acted, []);
  assert.match(m.reportOf('shop').report!.recommendation.reason, /50 of the 200 users per variant/);
  assert.equal(store.listExperimentSnapshots('shop', 'r2a0').length, 1);
});

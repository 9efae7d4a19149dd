import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planLocalScale } from '../../src/platform/local/instance-choice.js';
import type { InstanceStatus } from '../../src/core/platform.js';

const instance = (n: number, ready: boolean, startedAt: number, generation = 0): InstanceStatus => ({
  id: `web-r1-${n}`,
  rollout: 'web',
  revision: 1,
  generation,
  phase: ready ? 'Ready' : 'Starting',
  host: '127.0.0.1',
  port: 20000 + n,
  startedAt,
  restarts: 0,
});

const fleet = fc.array(fc.record({ ready: fc.boolean(), startedAt: fc.integer({ min: 0, max: 1000 }), generation: fc.integer({ min: 0, max: 2 }) }), {
  maxLength: 12,
});

test('scaling: exactly the difference starts or stops; not-ready instances go first, then the youngest', () => {
  fc.assert(
    fc.property(fleet, fc.integer({ min: 0, max: 15 }), (spec, want) => {
      const live = spec.map((s, n) => instance(n, s.ready, s.startedAt));
      const plan = planLocalScale({ live, replicas: want });
      assert.equal(plan.start, Math.max(0, want - live.length));
      assert.equal(plan.stop.length, Math.max(0, live.length - want));
      const kept = live.filter((i) => !plan.stop.includes(i));
      for (const gone of plan.stop) {
        for (const k of kept) {
          // Nothing kept is a worse choice to stop than something stopped.
          const worse = (k.phase !== 'Ready' && gone.phase === 'Ready') || (k.phase === gone.phase && k.startedAt > gone.startedAt);
          assert.equal(worse, false, `kept ${k.id} (${k.phase}, ${k.startedAt}) but stopped ${gone.id} (${gone.phase}, ${gone.startedAt})`);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('restart: older generations are replaced one at a time, never below the wanted ready count', () => {
  fc.assert(
    fc.property(fleet, fc.integer({ min: 1, max: 6 }), (spec, want) => {
      const live = spec.map((s, n) => instance(n, s.ready, s.startedAt, s.generation));
      const plan = planLocalScale({ live, replicas: want, replaceOlderThan: 2 });
      const stale = live.filter((i) => i.generation < 2);
      if (stale.length === 0) return; // plain scaling, covered above
      assert.ok(plan.start <= 1, 'one extra instance at most while replacing');
      if (plan.stop.length > 0) {
        assert.equal(plan.start, 0);
        for (const s of plan.stop) assert.ok(s.generation < 2, 'only older generations are replaced');
        const readyAfter = live.filter((i) => i.phase === 'Ready' && !plan.stop.includes(i)).length;
        const freshReady = live.filter((i) => i.generation >= 2 && i.phase === 'Ready').length;
        assert.ok(readyAfter >= Math.min(want, freshReady), 'the ready count stays at what the fresh instances hold');
      }
    }),
    { numRuns: 300 },
  );
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Prober, type ProbeState } from '../../src/platform/local/probes.js';
import type { Probe } from '../../src/core/spec.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';

function probe(overrides: Partial<Probe> = {}): Probe {
  return {
    httpGet: { path: '/healthz', scheme: 'http', headers: {} },
    initialDelaySeconds: 0,
    periodSeconds: 1,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
    ...overrides,
  };
}

/** A prober whose attempts return the scripted results (then repeat the last one). */
function scripted(p: Probe, results: boolean[], clock: FakeClock, since?: number) {
  const attempts: { at: number; timeoutMs: number }[] = [];
  const transitions: { at: number; state: ProbeState }[] = [];
  const prober = new Prober({
    probe: p,
    clock,
    since,
    action: async (timeoutMs) => {
      attempts.push({ at: clock.now(), timeoutMs });
      return results[Math.min(attempts.length - 1, results.length - 1)];
    },
    onTransition: (state) => transitions.push({ at: clock.now(), state }),
  });
  return { prober, attempts, transitions };
}

describe('Prober', () => {
  it('waits initialDelaySeconds, then probes every periodSeconds with the timeout in ms', async () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const { prober, attempts } = scripted(probe({ initialDelaySeconds: 5, periodSeconds: 2, timeoutSeconds: 0.5 }), [true], clock);
    prober.start();
    await clock.advance(4999);
    assert.equal(attempts.length, 0);
    await clock.advance(1);
    await clock.advance(4000);
    assert.deepEqual(
      attempts.map((a) => a.at - t0),
      [5000, 7000, 9000],
    );
    assert.ok(attempts.every((a) => a.timeoutMs === 500));
    prober.stop();
  });

  it('accepts fractional seconds', async () => {
    const clock = new FakeClock();
    const { prober, attempts } = scripted(probe({ periodSeconds: 0.2 }), [true], clock);
    prober.start();
    await clock.advance(1000);
    assert.equal(attempts.length, 6); // at 0, 200, ..., 1000
    prober.stop();
  });

  it('starts unknown and needs successThreshold successes in a row to report success', async () => {
    const clock = new FakeClock();
    const { prober, transitions } = scripted(probe({ successThreshold: 3 }), [true, true, false, true, true, true], clock);
    prober.start();
    assert.equal(prober.state, 'unknown');
    await clock.advance(4000); // attempts at 0..4s: T T F T T
    assert.equal(prober.state, 'unknown');
    await clock.advance(1000); // sixth attempt: third success in a row
    assert.equal(prober.state, 'success');
    assert.deepEqual(
      transitions.map((t) => t.state),
      ['success'],
    );
    prober.stop();
  });

  it('needs failureThreshold failures in a row to report failure; a success resets the count', async () => {
    const clock = new FakeClock();
    const results = [true, false, false, true, false, false, false];
    const { prober, transitions } = scripted(probe({ failureThreshold: 3 }), results, clock);
    prober.start();
    await clock.advance(5000); // T F F T F F
    assert.deepEqual(
      transitions.map((t) => t.state),
      ['success'],
    );
    await clock.advance(1000); // third failure in a row
    assert.deepEqual(
      transitions.map((t) => t.state),
      ['success', 'failure'],
    );
    assert.equal(prober.state, 'failure');
    await clock.advance(3000); // more failures do not report again
    assert.equal(transitions.length, 2);
    prober.stop();
  });

  it('reports failure from unknown too (a startup probe that never passes)', async () => {
    const clock = new FakeClock();
    const { prober, transitions } = scripted(probe({ failureThreshold: 2 }), [false], clock);
    prober.start();
    await clock.advance(1000);
    assert.deepEqual(
      transitions.map((t) => t.state),
      ['failure'],
    );
    prober.stop();
  });

  it('counts a rejected attempt as a failure', async () => {
    const clock = new FakeClock();
    const transitions: ProbeState[] = [];
    const prober = new Prober({
      probe: probe({ failureThreshold: 1 }),
      clock,
      action: async () => {
        throw new Error('boom');
      },
      onTransition: (state) => transitions.push(state),
    });
    prober.start();
    await clock.advance(0);
    assert.deepEqual(transitions, ['failure']);
    prober.stop();
  });

  it('never overlaps attempts: a slow one delays the next', async () => {
    const clock = new FakeClock();
    let release!: (ok: boolean) => void;
    let calls = 0;
    const prober = new Prober({
      probe: probe({ periodSeconds: 1 }),
      clock,
      action: () => {
        calls++;
        return new Promise<boolean>((done) => (release = done));
      },
      onTransition: () => {},
    });
    prober.start();
    await clock.advance(3000);
    assert.equal(calls, 1);
    release(true);
    await settle();
    await clock.advance(0);
    assert.equal(calls, 2, 'the overdue attempt runs at once');
    prober.stop();
  });

  it('stop() cancels further attempts and ignores the result in flight', async () => {
    const clock = new FakeClock();
    let release!: (ok: boolean) => void;
    const transitions: ProbeState[] = [];
    const prober = new Prober({
      probe: probe(),
      clock,
      action: () => new Promise<boolean>((done) => (release = done)),
      onTransition: (state) => transitions.push(state),
    });
    prober.start();
    await clock.advance(0);
    prober.stop();
    release(true);
    await settle();
    assert.deepEqual(transitions, []);
    assert.equal(clock.pending, 0);
  });

  it('counts initialDelaySeconds from `since`, so a long-running adopted process is probed at once', async () => {
    const clock = new FakeClock();
    const { prober, attempts } = scripted(probe({ initialDelaySeconds: 30 }), [true], clock, clock.now() - 60_000);
    prober.start();
    await clock.advance(0);
    assert.equal(attempts.length, 1);
    prober.stop();
  });
});

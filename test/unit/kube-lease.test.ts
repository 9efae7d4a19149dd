/**
 * The leader election state machine (src/kube/lease.ts) on a fake clock and an in-memory
 * Lease store with resourceVersion and 409 Conflict: acquire when absent, released or
 * expired (by observation time on the candidate's clock), keep away while renewed, give up
 * after renewDeadline without a renewal, lose at once to another holder, release on stop.
 * The real API server: test/integration/k8s-lease.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KubeApiError, type KubeObject, type Resource } from '../../src/kube/client.js';
import { type Lease, LeaderElector, type LeaseClient, microTime } from '../../src/kube/lease.js';
import { FakeClock } from '../helpers/fake-clock.js';

/** One namespace's Leases in memory, with the API server's optimistic concurrency. */
class FakeLeases implements LeaseClient {
  leases = new Map<string, Lease>();
  private rv = 1;
  /** While set, every call fails like an unreachable API server. */
  down = false;
  writes = 0;

  private check() {
    if (this.down) throw new Error('the Kubernetes API is unreachable (ECONNREFUSED)');
  }
  async get<T extends KubeObject>(_r: Resource, _ns: string | undefined, name: string): Promise<T | undefined> {
    this.check();
    const l = this.leases.get(name);
    return l ? (structuredClone(l) as unknown as T) : undefined;
  }
  async create<T extends KubeObject>(_r: Resource, _ns: string | undefined, object: T): Promise<T> {
    this.check();
    if (this.leases.has(object.metadata.name)) throw new KubeApiError('exists', 409, 'AlreadyExists');
    const stored = structuredClone(object) as unknown as Lease;
    stored.metadata.resourceVersion = String(this.rv++);
    this.leases.set(object.metadata.name, stored);
    this.writes++;
    return structuredClone(stored) as unknown as T;
  }
  async update<T extends KubeObject>(_r: Resource, _ns: string | undefined, object: T): Promise<T> {
    this.check();
    const cur = this.leases.get(object.metadata.name);
    if (!cur) throw new KubeApiError('not found', 404, 'NotFound');
    if (object.metadata.resourceVersion !== cur.metadata.resourceVersion) throw new KubeApiError('conflict', 409, 'Conflict');
    const stored = structuredClone(object) as unknown as Lease;
    stored.metadata.resourceVersion = String(this.rv++);
    this.leases.set(object.metadata.name, stored);
    this.writes++;
    return structuredClone(stored) as unknown as T;
  }
}

interface Events {
  started: number[];
  stopped: number[];
  leaders: string[];
  signal?: AbortSignal;
}

function elector(client: LeaseClient, clock: FakeClock, identity: string, logs: string[] = []) {
  const e = new LeaderElector({
    client,
    namespace: 'sluice-system',
    name: 'sluice-controller',
    identity,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    clock,
    random: () => 0,
    log: (l) => logs.push(l),
  });
  const ev: Events = { started: [], stopped: [], leaders: [] };
  const done = e.run({
    onStartedLeading: (signal) => {
      ev.started.push(clock.now());
      ev.signal = signal;
    },
    onStoppedLeading: () => ev.stopped.push(clock.now()),
    onNewLeader: (id) => ev.leaders.push(id),
  });
  return { e, ev, done };
}

describe('LeaderElector', () => {
  test('acquires an absent lease at once and writes client-go’s record', async () => {
    const clock = new FakeClock(1_700_000_000_000);
    const store = new FakeLeases();
    const a = elector(store, clock, 'a');
    await clock.advance(0);
    assert.deepEqual(a.ev.started, [1_700_000_000_000]);
    assert.equal(a.e.isLeader(), true);
    assert.deepEqual(a.ev.leaders, ['a']);
    const spec = store.leases.get('sluice-controller')?.spec;
    assert.deepEqual(spec, {
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      acquireTime: '2023-11-14T22:13:20.000000Z',
      renewTime: '2023-11-14T22:13:20.000000Z',
      leaseTransitions: 0,
    });
    // Renews every retry period, keeping acquireTime.
    await clock.advance(2_000);
    const renewed = store.leases.get('sluice-controller')?.spec;
    assert.equal(renewed?.renewTime, microTime(1_700_000_002_000));
    assert.equal(renewed?.acquireTime, '2023-11-14T22:13:20.000000Z');
    await a.e.stop();
    await a.done;
  });

  test('a second candidate waits while the leader renews, and takes over leaseDuration after the renewals stop', async () => {
    const clock = new FakeClock();
    const store = new FakeLeases();
    const a = elector(store, clock, 'a');
    await clock.advance(0);
    const b = elector(store, clock, 'b');
    await clock.advance(60_000);
    assert.equal(a.e.isLeader(), true);
    assert.equal(b.e.isLeader(), false);
    assert.deepEqual(b.ev.leaders, ['a']);
    assert.equal(b.ev.started.length, 0);
    // a's process freezes: no more renewals (its API calls hang; its own timers are what a SIGKILL takes).
    const frozenAt = clock.now();
    const realUpdate = store.update.bind(store);
    store.update = (...args) => ((args[2] as Lease).spec?.holderIdentity === 'a' ? new Promise(() => {}) : realUpdate(...args));
    await clock.advance(40_000);
    assert.equal(b.ev.started.length, 1);
    const takeover = b.ev.started[0]! - frozenAt;
    // b saw the last renewal at most one retry period after it was written, then waited leaseDuration.
    assert.ok(takeover >= 15_000 && takeover <= 15_000 + 2 * 2_000, `took over after ${takeover} ms`);
    // a stopped leading renewDeadline after its last successful renewal began: before b started.
    assert.equal(a.ev.stopped.length, 1);
    assert.ok(a.ev.stopped[0]! < b.ev.started[0]!, `a stopped at ${a.ev.stopped[0]}, b started at ${b.ev.started[0]}`);
    assert.equal(a.ev.signal?.aborted, true);
    assert.equal(store.leases.get('sluice-controller')?.spec?.leaseTransitions, 1);
    assert.deepEqual(b.ev.leaders, ['a', 'b']);
    await b.e.stop();
  });

  test('an API outage longer than renewDeadline ends leading; it resumes when the API is back', async () => {
    const clock = new FakeClock();
    const store = new FakeLeases();
    const logs: string[] = [];
    const a = elector(store, clock, 'a', logs);
    await clock.advance(0);
    store.down = true;
    const downAt = clock.now();
    await clock.advance(9_000);
    assert.equal(a.e.isLeader(), true, 'still within renewDeadline');
    await clock.advance(2_000);
    assert.equal(a.e.isLeader(), false);
    assert.ok(a.ev.stopped[0]! - downAt <= 10_000, `stopped ${a.ev.stopped[0]! - downAt} ms after the outage began`);
    await a.done;
    // One line for the failing renewals, one for the loss — not one per retry.
    assert.equal(logs.filter((l) => l.includes('cannot read')).length, 1, logs.join('\n'));
    assert.equal(logs.filter((l) => l.includes('lost')).length, 1, logs.join('\n'));
    store.down = false;
    const again = a.e.run({
      onStartedLeading: () => {
        a.ev.started.push(clock.now());
      },
      onStoppedLeading: () => a.ev.stopped.push(clock.now()),
    });
    await clock.advance(20_000);
    assert.equal(a.ev.started.length, 2, 'the lease still names a: it is taken back at once');
    await a.e.stop();
    await again;
  });

  test('seeing another holder while leading ends leading at the next renewal', async () => {
    const clock = new FakeClock();
    const store = new FakeLeases();
    const a = elector(store, clock, 'a');
    await clock.advance(0);
    const cur = store.leases.get('sluice-controller')!;
    store.leases.set('sluice-controller', { ...cur, metadata: { ...cur.metadata, resourceVersion: '999' }, spec: { ...cur.spec, holderIdentity: 'intruder' } });
    await clock.advance(2_000);
    assert.equal(a.e.isLeader(), false);
    assert.equal(a.ev.stopped.length, 1);
    assert.deepEqual(a.ev.leaders, ['a', 'intruder']);
    await a.done;
  });

  test('two candidates racing for an expired lease: the 409 loser does not lead', async () => {
    const clock = new FakeClock();
    const store = new FakeLeases();
    store.leases.set('sluice-controller', {
      metadata: { name: 'sluice-controller', resourceVersion: '0' },
      spec: { holderIdentity: 'gone', leaseDurationSeconds: 15, renewTime: microTime(0), leaseTransitions: 4 },
    });
    const a = elector(store, clock, 'a');
    const b = elector(store, clock, 'b');
    for (let i = 0; i < 30; i++) {
      await clock.advance(1_000);
      assert.ok(!(a.e.isLeader() && b.e.isLeader()), `both lead at ${clock.now()}`);
    }
    assert.equal(a.ev.started.length + b.ev.started.length, 1);
    assert.equal(store.leases.get('sluice-controller')?.spec?.leaseTransitions, 5);
    await a.e.stop();
    await b.e.stop();
  });

  test('stop releases the lease (holder empty, 1 s) and the other candidate takes it at its next attempt', async () => {
    const clock = new FakeClock();
    const store = new FakeLeases();
    const a = elector(store, clock, 'a');
    await clock.advance(0);
    const b = elector(store, clock, 'b');
    await clock.advance(5_000);
    await a.e.stop();
    await a.done;
    assert.equal(a.ev.stopped.length, 1);
    const spec = store.leases.get('sluice-controller')?.spec;
    assert.equal(spec?.holderIdentity, '');
    assert.equal(spec?.leaseDurationSeconds, 1);
    const releasedAt = clock.now();
    await clock.advance(2_000);
    assert.equal(b.ev.started.length, 1);
    assert.ok(b.ev.started[0]! - releasedAt <= 2_000);
    await b.e.stop();
  });

  test('stop while waiting for the lease ends run without leading', async () => {
    const clock = new FakeClock();
    const store = new FakeLeases();
    const a = elector(store, clock, 'a');
    await clock.advance(0);
    const b = elector(store, clock, 'b');
    await clock.advance(3_000);
    const writes = store.writes;
    await b.e.stop();
    await b.done;
    assert.equal(b.ev.started.length + b.ev.stopped.length, 0);
    assert.equal(store.writes, writes, 'a waiting candidate writes nothing on stop');
    await a.e.stop();
  });

  test('refuses timings where a leader could outlive its lease', () => {
    const base = { client: new FakeLeases(), namespace: 'n', name: 'l', identity: 'a' };
    assert.throws(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }), /leaseDuration/);
    assert.throws(() => new LeaderElector({ ...base, leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }), /renewDeadline/);
  });
});

/**
 * The Event recorder (src/kube/events.ts) on a fake clock and an in-memory API: the 10-minute
 * series window, a repeat over the rate bound carried by the next write, an expired (404)
 * object replaced, names unique within a millisecond, and a failing API costing the caller
 * nothing. The real API server: test/integration/k8s-events.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeApiError, type KubeObject, type Resource } from '../../src/kube/client.js';
import { EventRecorder, type KubeEvent, type ObjectReference, SERIES_WINDOW_MS } from '../../src/kube/events.js';

class FakeEvents {
  objects = new Map<string, KubeEvent>();
  calls: string[] = [];
  fail: Error | undefined;
  async create<T extends KubeObject>(_r: Resource, ns: string | undefined, o: T): Promise<T> {
    this.calls.push(`create ${ns}/${o.metadata.name}`);
    if (this.fail) throw this.fail;
    if (this.objects.has(o.metadata.name)) throw new KubeApiError('exists', 409, 'AlreadyExists');
    this.objects.set(o.metadata.name, structuredClone(o) as unknown as KubeEvent);
    return structuredClone(o);
  }
  async mergePatch<T extends KubeObject>(_r: Resource, ns: string | undefined, name: string, patch: unknown): Promise<T> {
    this.calls.push(`patch ${ns}/${name}`);
    if (this.fail) throw this.fail;
    const cur = this.objects.get(name);
    if (!cur) throw new KubeApiError('gone', 404, 'NotFound');
    Object.assign(cur, patch);
    return structuredClone(cur) as unknown as T;
  }
}

const ref: ObjectReference = { apiVersion: 'sluice.dev/v1alpha1', kind: 'Rollout', name: 'web', namespace: 'shop', uid: 'u1' };

function setup(o: { burst?: number; perSecond?: number } = {}) {
  const api = new FakeEvents();
  let now = Date.UTC(2026, 11, 4, 22, 0, 0);
  const logs: string[] = [];
  const rec = new EventRecorder({ client: api, reportingInstance: 'pod-0', clock: { now: () => now }, log: (l) => logs.push(l), ...o });
  return { api, rec, logs, advance: (ms: number) => (now += ms) };
}

test('repeats within the window join one series; after the window a new object starts', async () => {
  const { api, rec, advance } = setup();
  rec.normal(ref, 'Promoted', 'Promote', 'revision 2');
  advance(60_000);
  rec.normal(ref, 'Promoted', 'Promote', 'revision 2');
  advance(SERIES_WINDOW_MS - 1);
  rec.normal(ref, 'Promoted', 'Promote', 'revision 2');
  await rec.flush();
  assert.equal(api.objects.size, 1);
  const [first] = [...api.objects.values()];
  assert.equal(first?.series?.count, 3);
  assert.equal(first?.eventTime, '2026-12-04T22:00:00.000000Z');
  assert.equal(first?.reportingController, 'sluice.dev/controller');
  advance(SERIES_WINDOW_MS + 1);
  rec.normal(ref, 'Promoted', 'Promote', 'revision 2');
  await rec.flush();
  assert.equal(api.objects.size, 2);
  // Another reason, note or object is another event.
  rec.normal(ref, 'Promoted', 'Promote', 'revision 3');
  rec.normal({ ...ref, name: 'api' }, 'Promoted', 'Promote', 'revision 2');
  await rec.flush();
  assert.equal(api.objects.size, 4);
  assert.equal(new Set([...api.objects.keys()]).size, 4, 'names are unique within a millisecond');
});

test('a repeat over the rate bound is counted and carried by the next write of its series', async () => {
  const { api, rec, advance } = setup({ burst: 2, perSecond: 1 });
  for (let i = 0; i < 5; i++) rec.warning(ref, 'AnalysisFailed', 'Analyze', 'error-rate high');
  await rec.flush();
  // Queued writes coalesce: the create already carries the 5 occurrences.
  assert.deepEqual(
    api.calls.map((c) => c.split(' ')[0]),
    ['create'],
  );
  assert.equal([...api.objects.values()][0]?.series?.count, 5);
  // The bucket is empty: a repeat is counted but not written…
  rec.warning(ref, 'AnalysisFailed', 'Analyze', 'error-rate high');
  await rec.flush();
  assert.equal(api.calls.length, 1);
  // …and the next write of the series, a second later, carries it.
  advance(1_000);
  rec.warning(ref, 'AnalysisFailed', 'Analyze', 'error-rate high');
  await rec.flush();
  assert.equal(api.calls.length, 2);
  assert.equal([...api.objects.values()][0]?.series?.count, 7);
  // A new event over the bound is dropped.
  rec.warning(ref, 'Other', 'Analyze', 'x');
  await rec.flush();
  assert.equal(api.objects.size, 1);
});

test('a series whose object expired (404) continues in a new object', async () => {
  const { api, rec, advance } = setup();
  rec.normal(ref, 'Scaled', 'Scale', 'replicas 3');
  await rec.flush();
  api.objects.clear();
  advance(1_000);
  rec.normal(ref, 'Scaled', 'Scale', 'replicas 3');
  await rec.flush();
  assert.equal(api.objects.size, 1);
  assert.equal([...api.objects.values()][0]?.series?.count, 2);
});

test('a failing API: event() does not throw, one line is logged, and one more when recording resumes', async () => {
  const { api, rec, logs, advance } = setup();
  api.fail = new Error('Kubernetes API: cannot create events.events.k8s.io: forbidden (Forbidden, 403)');
  assert.doesNotThrow(() => {
    for (let i = 0; i < 5; i++) rec.normal(ref, 'Scaled', 'Scale', `replicas ${i}`);
  });
  await rec.flush();
  assert.equal(logs.length, 1);
  assert.match(logs[0] ?? '', /^events: cannot record an event: .*Forbidden/);
  api.fail = undefined;
  advance(60_000);
  rec.normal(ref, 'Scaled', 'Scale', 'replicas 9');
  await rec.flush();
  assert.equal(api.objects.size, 1);
  assert.equal(logs.length, 2);
  assert.match(logs[1] ?? '', /5 event\(s\) not recorded/);
});

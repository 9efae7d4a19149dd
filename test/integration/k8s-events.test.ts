/**
 * Kubernetes Events (src/kube/events.ts) against a real API server: an event appears as an
 * events.k8s.io/v1 Event about its object; repeats of it aggregate into one object's series;
 * a different note is another object; the rate bound drops what exceeds it; and an API that
 * refuses the write costs the caller nothing but one log line.
 * Needs `bash scripts/k8s-build.sh` once (skipped loudly without it; fails in CI).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { KubeClient } from '../../src/kube/client.js';
import { EventRecorder, type KubeEvent, type ObjectReference } from '../../src/kube/events.js';
import { type K8sCluster, k8sMissing, startCluster } from '../helpers/k8s.js';

const skip = k8sMissing();
const NS = 'sluice-events';

describe('Kubernetes Events', { skip }, () => {
  let cluster: K8sCluster;
  let client: KubeClient;
  let regarding: ObjectReference;

  const events = async (name: string) => {
    const r = await cluster.request<{ items: KubeEvent[] }>(
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent(`regarding.name=${name}`)}`,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.items;
  };

  before(
    async () => {
      cluster = await startCluster();
      client = new KubeClient({ server: cluster.server, token: cluster.token, ca: readFileSync(cluster.caFile, 'utf8') });
      const created = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const cm = await cluster.request<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${NS}/configmaps`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'web' },
      });
      assert.equal(cm.status, 201);
      regarding = { apiVersion: 'v1', kind: 'ConfigMap', name: 'web', namespace: NS, uid: cm.body.metadata.uid };
    },
    { timeout: 240_000 },
  );
  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  test('an event appears on the API server with client-go’s fields', { timeout: 30_000 }, async () => {
    const logs: string[] = [];
    const rec = new EventRecorder({ client, reportingInstance: 'sluice-controller-0', log: (l) => logs.push(l) });
    const before = Date.now();
    rec.normal(regarding, 'StepStarted', 'Progress', 'step 1 of 4: weight 10%');
    await rec.flush();
    assert.deepEqual(logs, []);
    const [e, ...more] = await events('web');
    assert.equal(more.length, 0);
    assert.ok(e);
    assert.equal(e.reason, 'StepStarted');
    assert.equal(e.action, 'Progress');
    assert.equal(e.note, 'step 1 of 4: weight 10%');
    assert.equal(e.type, 'Normal');
    assert.equal(e.reportingController, 'sluice.dev/controller');
    assert.equal(e.reportingInstance, 'sluice-controller-0');
    assert.deepEqual({ ...e.regarding }, { ...regarding });
    assert.match(e.eventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(Date.parse(e.eventTime) >= before - 1000);
    assert.equal(e.series, undefined);
    // The core/v1 view shows it too (what `kubectl describe` reads).
    const core = await cluster.request<{ items: { reason: string; involvedObject: { name: string } }[] }>('GET', `/api/v1/namespaces/${NS}/events`);
    assert.ok(core.body.items.some((x) => x.reason === 'StepStarted' && x.involvedObject.name === 'web'));
  });

  test('repeats of one event aggregate into its series; another note is another object', { timeout: 30_000 }, async () => {
    const rec = new EventRecorder({ client, reportingInstance: 'sluice-controller-0', log: () => {} });
    const other: ObjectReference = { ...regarding, name: 'web-repeats', uid: undefined };
    for (let i = 0; i < 5; i++) rec.warning(other, 'AnalysisFailed', 'Analyze', 'error-rate 0.12 > 0.05');
    rec.warning(other, 'AnalysisFailed', 'Analyze', 'p99 latency 900ms > 500ms');
    await rec.flush();
    const items = await events('web-repeats');
    assert.equal(items.length, 2, JSON.stringify(items));
    const repeated = items.find((x) => x.note?.startsWith('error-rate'));
    assert.equal(repeated?.series?.count, 5);
    assert.match(repeated?.series?.lastObservedTime ?? '', /\.\d{6}Z$/);
    assert.equal(repeated?.type, 'Warning');
    assert.equal(items.find((x) => x.note?.startsWith('p99'))?.series, undefined);
  });

  test('a burst beyond the rate bound is dropped, and says so in one line', { timeout: 30_000 }, async () => {
    const logs: string[] = [];
    const rec = new EventRecorder({ client, reportingInstance: 'i', burst: 3, perSecond: 0.001, log: (l) => logs.push(l) });
    const ref: ObjectReference = { ...regarding, name: 'web-burst', uid: undefined };
    for (let i = 0; i < 10; i++) rec.normal(ref, 'Scaled', 'Scale', `replicas ${i}`);
    await rec.flush();
    assert.equal((await events('web-burst')).length, 3);
  });

  test('an API that refuses the event: the caller gets no error, the log one line', { timeout: 30_000 }, async () => {
    const limited = new KubeClient({ server: cluster.server, token: cluster.limitedToken, ca: readFileSync(cluster.caFile, 'utf8') });
    try {
      const logs: string[] = [];
      const rec = new EventRecorder({ client: limited, reportingInstance: 'i', log: (l) => logs.push(l) });
      const ref: ObjectReference = { ...regarding, name: 'web-forbidden', uid: undefined };
      assert.doesNotThrow(() => {
        for (let i = 0; i < 4; i++) rec.normal(ref, 'Scaled', 'Scale', `replicas ${i}`);
      });
      await rec.flush();
      assert.equal(logs.length, 1, logs.join('\n'));
      assert.match(logs[0] ?? '', /^events: cannot record an event: .*forbidden/i);
      assert.equal((await events('web-forbidden')).length, 0);
    } finally {
      await limited.close();
    }
  });
});

/**
 * The Kubernetes platform (src/platform/kubernetes/kubernetes-platform.ts) against a real
 * control plane (test/helpers/k8s.ts: etcd, kube-apiserver, controller manager, scheduler;
 * the node is simulated by kwok, so pods go Ready without a container runtime): a revision is
 * one ReplicaSet, instances are its pods, scaling is its replicas, a restarted controller
 * adopts what exists without touching it, and bad input fails with one line.
 * Needs `bash scripts/k8s-build.sh` once (skipped loudly without it; fails in CI).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { InstanceStatus } from '../../src/core/platform.js';
import type { RolloutSpec } from '../../src/core/spec.js';
import { KubeClient, type KubeObject } from '../../src/kube/client.js';
import { KubernetesPlatform, type Pod as Pod2, type ReplicaSet, statusOfPod } from '../../src/platform/kubernetes/kubernetes-platform.js';
import { LABELS, podTemplateOf } from '../../src/platform/kubernetes/pod.js';
import { loadRollouts } from '../../src/spec/load.js';
import { type K8sCluster, k8sMissing, startCluster, waitK8s } from '../helpers/k8s.js';
import { systemClock } from '../../src/core/clock.js';
import { Controller } from '../../src/engine/controller.js';
import { JobRunner } from '../../src/engine/job-runner.js';
import { Reconciler } from '../../src/engine/reconciler.js';
import { MemoryStore } from '../../src/store/memory.js';
import { FakeRouter } from '../helpers/engine-sim.js';
import { freePort } from '../helpers/ports.js';

const skip = k8sMissing();
const NS = 'sluice-platform';

function rollout(version: string, extraSpec = ''): RolloutSpec {
  const text = `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  platform: kubernetes
  kubernetes:
    namespace: ${NS}
    labels: {team: payments}
${extraSpec}  template:
    version: ${version}
    image: sluice.invalid/web:${version}
  traffic:
    listen: 127.0.0.1:8080
  strategy:
    rolling: {}
`;
  return loadRollouts(text, '/srv/app/web.yaml')[0]!.spec;
}

interface List<T> {
  items: T[];
}
interface Pod {
  metadata: { name: string; labels: Record<string, string>; ownerReferences?: { name: string }[]; deletionTimestamp?: string };
  status?: { podIP?: string };
}

const oneLine = (err: Error) => !err.message.includes('\n');

describe('the Kubernetes platform on a real API server (nodes simulated by kwok)', { skip }, () => {
  let cluster: K8sCluster;
  let ca: string;
  const v1 = rollout('v1');
  const v2 = rollout('v2');
  const specOf = (name: string) => (name === 'web' ? v1 : undefined);
  const clients: KubeClient[] = [];
  const platforms: KubernetesPlatform[] = [];
  const client = (token = cluster.token, server = cluster.server) => {
    const c = new KubeClient({ server, token, ca });
    clients.push(c);
    return c;
  };
  const platform = (c = client(), o: { specOf?: (n: string) => RolloutSpec | undefined } = {}) => {
    const p = new KubernetesPlatform({ client: c, namespace: NS, specOf: o.specOf ?? specOf, podTimeoutMs: 60_000 });
    platforms.push(p);
    return p;
  };
  let first: KubernetesPlatform;
  const changes: InstanceStatus[] = [];
  const ref = (revision: number) => ({ id: '', rollout: 'web', revision, generation: 1 });
  const replicaSets = async () => {
    const r = await cluster.request<List<ReplicaSet>>('GET', `/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=sluice.dev%2Frollout%3Dweb`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  };
  const podsOf = async (rs: string) => {
    const r = await cluster.request<List<Pod>>('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=sluice.dev%2Frollout%3Dweb`);
    return r.body.items.filter((p) => p.metadata.ownerReferences?.[0]?.name === rs && !p.metadata.deletionTimestamp);
  };
  const readyOf = (p: KubernetesPlatform, revision: number) => p.list('web').filter((i) => i.revision === revision && i.phase === 'Ready');
  const rs1Name = () => `web-${podTemplateOf(v1, { number: 1, template: v1.template }).metadata.labels[LABELS.hash]}`;
  const rs2Name = () => `web-${podTemplateOf(v1, { number: 2, template: v2.template }).metadata.labels[LABELS.hash]}`;

  before(
    async () => {
      cluster = await startCluster();
      ca = readFileSync(cluster.caFile, 'utf8');
      const created = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    },
    { timeout: 240_000 },
  );
  after(async () => {
    for (const p of platforms) await p.detach();
    for (const c of clients) await c.close();
    await cluster?.stop();
  });

  test('starting 2 instances of revision 1 makes one ReplicaSet of 2 replicas whose pods go Ready', { timeout: 120_000 }, async () => {
    first = platform();
    first.onChange((i) => changes.push(i));
    const a = await first.start(ref(1), v1.template);
    const b = await first.start(ref(1), v1.template);
    assert.notEqual(a.id, b.id);
    for (const i of [a, b]) {
      assert.equal(i.rollout, 'web');
      assert.equal(i.revision, 1);
      assert.equal(i.generation, 1);
      assert.equal(i.port, 8080);
      assert.ok(i.id.startsWith(`${rs1Name()}-`), i.id);
    }
    const sets = await replicaSets();
    assert.deepEqual(
      sets.map((s) => s.metadata.name),
      [rs1Name()],
    );
    const rs = sets[0]!;
    const hash = rs1Name().slice('web-'.length);
    assert.match(hash, /^[0-9a-f]{10}$/);
    assert.deepEqual(rs.metadata.labels, {
      'app.kubernetes.io/name': 'web',
      'sluice.dev/rollout': 'web',
      'sluice.dev/revision': '1',
      'sluice.dev/pod-template-hash': hash,
    });
    assert.deepEqual(rs.spec.selector, { matchLabels: { 'sluice.dev/rollout': 'web', 'sluice.dev/revision': '1', 'sluice.dev/pod-template-hash': hash } });
    assert.equal(rs.spec.replicas, 2);
    // The template as the API server stored it: podTemplateOf's, with the API's defaults added.
    const t = rs.spec.template as unknown as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: Record<string, unknown>;
    };
    assert.deepEqual(t.metadata.labels, {
      team: 'payments',
      'app.kubernetes.io/name': 'web',
      'sluice.dev/rollout': 'web',
      'sluice.dev/revision': '1',
      'sluice.dev/pod-template-hash': hash,
    });
    assert.deepEqual(t.metadata.annotations, { 'sluice.dev/version': 'v1' });
    const container = (t.spec.containers as Record<string, unknown>[])[0]!;
    assert.equal(container.name, 'web');
    assert.equal(container.image, 'sluice.invalid/web:v1');
    assert.deepEqual(container.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(
      (container.env as { name: string }[]).map((e) => e.name),
      ['PORT', 'SLUICE_ROLLOUT', 'SLUICE_REVISION', 'SLUICE_VERSION', 'SLUICE_INSTANCE'],
    );

    const ready = await waitK8s(cluster, '2 pods of revision 1 Ready (watch)', () => readyOf(first, 1).length === 2 && readyOf(first, 1));
    for (const i of ready) assert.match(i.host, /^10\.244\.0\.\d+$/, `${i.id} has a pod IP from kwok's --cidr`);
    assert.deepEqual(ready.map((i) => i.id).sort(), [a.id, b.id].sort());
    assert.deepEqual((await podsOf(rs1Name())).map((p) => p.metadata.name).sort(), [a.id, b.id].sort());
    for (const id of [a.id, b.id]) {
      assert.ok(
        changes.some((c) => c.id === id && c.phase === 'Starting'),
        `onChange saw ${id} Starting`,
      );
      assert.ok(
        changes.some((c) => c.id === id && c.phase === 'Ready'),
        `onChange saw ${id} Ready`,
      );
    }
  });

  test('scaling revision 1 to 3 and back to 1: replicas follow, the pods stopped are the ones chosen', { timeout: 180_000 }, async () => {
    const c = await first.start(ref(1), v1.template);
    await waitK8s(cluster, '3 pods of revision 1 Ready', () => readyOf(first, 1).length === 3);
    assert.equal((await replicaSets())[0]!.spec.replicas, 3);

    const plan = first.planScale({ rollout: 'web', live: first.list('web'), replicas: 1 });
    assert.equal(plan.start, 0);
    assert.equal(plan.stop.length, 2);
    // The youngest go (creationTimestamp has whole seconds: equals may tie).
    const keptByPlan = first.list('web').filter((i) => !plan.stop.some((x) => x.id === i.id));
    assert.equal(keptByPlan.length, 1);
    for (const x of plan.stop) assert.ok(x.startedAt >= keptByPlan[0]!.startedAt, `${x.id} is not older than ${keptByPlan[0]!.id}`);
    assert.ok(first.list('web').some((i) => i.id === c.id));
    let drained = 0;
    const stopping = Date.now();
    await Promise.all(plan.stop.map((i) => first.stop(i.id, { drain: async () => void drained++ })));
    // Under 10 s: the ReplicaSet controller deleted the pods marked with the lowest
    // pod-deletion-cost; the fallback (delete by name after 10 s) was not needed.
    assert.ok(Date.now() - stopping < 9_500, `stopping 2 pods took ${Date.now() - stopping} ms`);
    assert.equal(drained, 2);
    const kept = first.list('web').map((i) => i.id);
    const stopped = new Set(plan.stop.map((i) => i.id));
    assert.equal(kept.length, 1);
    assert.ok(!stopped.has(kept[0]!));
    assert.equal((await replicaSets())[0]!.spec.replicas, 1);
    // No replacement pod: the ReplicaSet controller deleted the pods sluice chose.
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(
      (await podsOf(rs1Name())).map((p) => p.metadata.name),
      kept,
    );
    for (const id of stopped)
      assert.ok(
        changes.some((x) => x.id === id && x.phase === 'Stopped'),
        `onChange saw ${id} Stopped`,
      );
  });

  test('a second revision gets its own ReplicaSet', { timeout: 120_000 }, async () => {
    const n = await first.start(ref(2), v2.template);
    assert.equal(n.revision, 2);
    assert.notEqual(rs2Name(), rs1Name());
    await waitK8s(cluster, 'the pod of revision 2 Ready', () => readyOf(first, 2).length === 1);
    const sets = await replicaSets();
    assert.deepEqual(sets.map((s) => s.metadata.name).sort(), [rs1Name(), rs2Name()].sort());
    const rs2 = sets.find((s) => s.metadata.name === rs2Name())!;
    assert.equal(rs2.spec.replicas, 1);
    assert.equal(rs2.metadata.labels?.['sluice.dev/revision'], '2');
    assert.equal((rs2.spec.template as unknown as { metadata: { annotations: Record<string, string> } }).metadata.annotations['sluice.dev/version'], 'v2');
  });

  test('a restarted controller adopts both ReplicaSets and their pods without creating or replacing any', { timeout: 120_000 }, async () => {
    // Settled first: the ReplicaSet controller has written the status of both.
    await waitK8s(cluster, 'both ReplicaSets settled', async () =>
      (await replicaSets()).every((s) => (s.status as { readyReplicas?: number; observedGeneration?: number } | undefined)?.readyReplicas === s.spec.replicas),
    );
    const before = (await replicaSets()).map((s) => ({
      name: s.metadata.name,
      uid: s.metadata.uid,
      rv: s.metadata.resourceVersion,
      gen: s.metadata.generation,
    }));
    const podsBefore = first
      .list('web')
      .map((i) => i.id)
      .sort();
    await first.detach();

    const second = platform();
    const ids = await second.adopt();
    assert.deepEqual([...ids].sort(), podsBefore);
    assert.deepEqual(
      second
        .knownReplicaSets()
        .map((s) => s.metadata.name)
        .sort(),
      [rs1Name(), rs2Name()].sort(),
    );
    assert.deepEqual(readyOf(second, 1).length + readyOf(second, 2).length, 2);
    const afterAdopt = (await replicaSets()).map((s) => ({
      name: s.metadata.name,
      uid: s.metadata.uid,
      rv: s.metadata.resourceVersion,
      gen: s.metadata.generation,
    }));
    assert.deepEqual(afterAdopt, before, 'same ReplicaSets, untouched (uid, resourceVersion, generation)');

    // Scaling after adoption changes the same ReplicaSet (same uid), it does not make another.
    const more = await second.start(ref(1), v1.template);
    assert.ok(more.id.startsWith(`${rs1Name()}-`));
    const scaled = (await replicaSets()).find((s) => s.metadata.name === rs1Name())!;
    assert.equal(scaled.metadata.uid, before.find((s) => s.name === rs1Name())!.uid);
    assert.equal(scaled.spec.replicas, 2);
    await second.stop(more.id);
    assert.equal((await replicaSets()).find((s) => s.metadata.name === rs1Name())!.spec.replicas, 1);
  });

  test('a namespace that does not exist: one line naming it', { timeout: 60_000 }, async () => {
    const missing = rollout('v1').kubernetes!;
    const p = platform(client(), { specOf: () => ({ ...v1, kubernetes: { ...missing, namespace: 'no-such-ns' } }) });
    await assert.rejects(p.start(ref(1), v1.template), (err: Error) => {
      assert.ok(oneLine(err), err.message);
      assert.match(
        err.message,
        /^Kubernetes API: cannot create replicasets\.apps web-[0-9a-f]{10} in namespace no-such-ns: namespaces "no-such-ns" not found \(NotFound, 404\)$/,
      );
      return true;
    });
  });

  test('a token without RBAC rights: one line saying forbidden, with the verb and the resource', { timeout: 60_000 }, async () => {
    const p = platform(client(cluster.limitedToken));
    await assert.rejects(p.start(ref(1), v1.template), (err: Error) => {
      assert.ok(oneLine(err), err.message);
      assert.match(
        err.message,
        new RegExp(
          `^Kubernetes API: cannot list pods in namespace ${NS}: .*forbidden.*User "${cluster.limitedUser}" cannot list resource "pods".*\\(Forbidden, 403\\)$`,
        ),
      );
      return true;
    });
    await assert.rejects(
      platform(client(cluster.limitedToken)).adopt(),
      /cannot list replicasets\.apps in namespace sluice-platform: .*forbidden.*\(Forbidden, 403\)$/,
    );
  });

  test('server-side apply: fieldManager sluice owns the fields it applied; applying again changes nothing', async () => {
    const c = client();
    const cm: KubeObject & { data: Record<string, string> } = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'sluice-applied', namespace: NS },
      data: { a: '1' },
    };
    const configMaps = { group: '', version: 'v1', plural: 'configmaps' };
    const applied = await c.apply(configMaps, NS, cm);
    const managed = (applied.metadata as { managedFields?: { manager: string; operation: string }[] }).managedFields ?? [];
    assert.deepEqual(
      managed.map((m) => [m.manager, m.operation]),
      [['sluice', 'Apply']],
    );
    const again = await c.apply(configMaps, NS, cm);
    assert.equal(again.metadata.resourceVersion, applied.metadata.resourceVersion, 'an identical apply is a no-op');
    const patched = await c.mergePatch<typeof cm>(configMaps, NS, 'sluice-applied', { data: { b: '2' } });
    assert.deepEqual(patched.data, { a: '1', b: '2' });
    await c.delete(configMaps, NS, 'sluice-applied');
    assert.equal(await c.get(configMaps, NS, 'sluice-applied'), undefined);
    await c.delete(configMaps, NS, 'sluice-applied'); // already gone: no error
  });

  test('the API server stopped: one line saying it is unreachable', { timeout: 120_000 }, async () => {
    const server = cluster.server;
    for (const p of platforms) await p.detach();
    await cluster.stop();
    const p = platform(client(cluster.token, server));
    await assert.rejects(p.adopt(), (err: Error) => {
      assert.ok(oneLine(err), err.message);
      assert.equal(err.message, `the Kubernetes API at ${server} is unreachable (ECONNREFUSED) while trying to list replicasets.apps in namespace ${NS}`);
      return true;
    });
  });
});

describe('the real Reconciler on the Kubernetes platform: a rolling update v1 → v2', { skip }, () => {
  let cluster: K8sCluster;
  let kube: KubeClient;
  let platform: KubernetesPlatform;
  let reconciler: Reconciler;
  let jobs: JobRunner;
  const ns = 'sluice-rolling';
  before(
    async () => {
      cluster = await startCluster();
      const created = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    },
    { timeout: 240_000 },
  );
  after(async () => {
    await reconciler?.close();
    jobs?.close();
    await platform?.detach();
    await kube?.close();
    await cluster?.stop();
  });

  test('v1 with 2 replicas, then v2: revision 2 ends with 2 Ready pods, revision 1 scaled to 0', { timeout: 240_000 }, async () => {
    const store = new MemoryStore();
    kube = new KubeClient({ server: cluster.server, token: cluster.token, ca: readFileSync(cluster.caFile, 'utf8') });
    platform = new KubernetesPlatform({ client: kube, namespace: ns, specOf: (name) => store.getRollout(name)?.spec });
    const router = new FakeRouter();
    const log: string[] = [];
    jobs = new JobRunner({ store, clock: systemClock, providers: {}, onChange: () => reconciler?.trigger() });
    reconciler = new Reconciler({ store, platform, router, clock: systemClock, jobs, log: (l) => log.push(l) });
    const controller = new Controller(store, reconciler, platform, systemClock, jobs, undefined, undefined, undefined, {
      default: 'kubernetes',
      configured: ['kubernetes'],
    });
    reconciler.start(0);
    const port = await freePort();
    const manifest = (version: string) => `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  platform: kubernetes
  replicas: 2
  progressDeadlineSeconds: 120
  template:
    version: ${version}
    image: sluice.invalid/web:${version}
  traffic:
    listen: 127.0.0.1:${port}
  strategy:
    rolling: {}
`;
    const by = { actor: 'test' };
    const healthyAt = async (version: string) => {
      const view = await waitK8s(
        cluster,
        `rollout web Healthy at ${version}`,
        async () => {
          const v = await controller.get('web');
          const current = store.listRevisions('web').find((r) => r.number === v.status.currentRevision);
          return v.status.phase === 'Healthy' && current?.template.version === version && v;
        },
        180_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\nengine log:\n${log.join('\n')}`);
      });
      return view;
    };
    await controller.apply(manifest('v1'), '/srv/web.yaml', by);
    await healthyAt('v1');
    await controller.apply(manifest('v2'), '/srv/web.yaml', by);
    await healthyAt('v2');

    const revisions = store.listRevisions('web');
    const r1 = revisions.find((r) => r.template.version === 'v1')!;
    const r2 = revisions.find((r) => r.template.version === 'v2')!;
    const spec = store.getRollout('web')!.spec;
    const name = (r: typeof r1) => `web-${podTemplateOf(spec, r).metadata.labels[LABELS.hash]}`;
    await waitK8s(cluster, 'revision 1 at 0 pods, revision 2 at 2 Ready', async () => {
      const sets = (await cluster.request<List<ReplicaSet>>('GET', `/apis/apps/v1/namespaces/${ns}/replicasets`)).body.items;
      const byName = new Map(sets.map((s) => [s.metadata.name, s]));
      const pods = (await cluster.request<List<Pod>>('GET', `/api/v1/namespaces/${ns}/pods`)).body.items;
      return (
        sets.length === 2 &&
        byName.get(name(r1))?.spec.replicas === 0 &&
        byName.get(name(r2))?.spec.replicas === 2 &&
        (byName.get(name(r2))?.status as { readyReplicas?: number } | undefined)?.readyReplicas === 2 &&
        pods.length === 2 &&
        pods.every((p) => p.metadata.labels['sluice.dev/revision'] === String(r2.number))
      );
    });
    const live = platform.list('web');
    assert.deepEqual(
      live.map((i) => [i.revision, i.phase]),
      [
        [r2.number, 'Ready'],
        [r2.number, 'Ready'],
      ],
    );
    // The router was given the pods' IPs and ports as the endpoints of revision 2.
    const main = router.current?.listeners.find((l) => l.rollout === 'web');
    const endpoints = main?.backends.find((b) => b.revision === r2.number)?.endpoints ?? [];
    assert.deepEqual(endpoints.map((e) => `${e.id} ${e.host}:${e.port}`).sort(), live.map((i) => `${i.id} ${i.host}:8080`).sort(), JSON.stringify(main));
    for (const e of endpoints) assert.match(e.host, /^10\.244\.0\.\d+$/);
  });
});

// Pure: how a pod's status maps onto an instance's (runs without the cluster).
describe('statusOfPod', () => {
  const pod = (o: { status?: Pod2['status']; deletionTimestamp?: string; annotations?: Record<string, string> } = {}): Pod2 => ({
    metadata: {
      name: 'web-abc-x1',
      namespace: 'shop',
      creationTimestamp: '2026-01-02T03:04:05Z',
      labels: { 'sluice.dev/rollout': 'web', 'sluice.dev/revision': '3' },
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(o.deletionTimestamp ? { deletionTimestamp: o.deletionTimestamp } : {}),
    },
    spec: { containers: [{ name: 'web', ports: [{ containerPort: 9000 }] }] },
    ...(o.status ? { status: o.status } : {}),
  });
  const ready = { type: 'Ready', status: 'True', lastTransitionTime: '2026-01-02T03:04:09Z' };
  test('Ready condition True → Ready, with readySince, IP and container port', () => {
    assert.deepEqual(statusOfPod(pod({ status: { podIP: '10.0.0.7', conditions: [ready] }, annotations: { 'sluice.dev/generation': '2' } })), {
      id: 'web-abc-x1',
      rollout: 'web',
      revision: 3,
      generation: 2,
      phase: 'Ready',
      host: '10.0.0.7',
      port: 9000,
      startedAt: Date.parse('2026-01-02T03:04:05Z'),
      readySince: Date.parse('2026-01-02T03:04:09Z'),
      restarts: 0,
    });
  });
  test('no Ready condition → Starting; deletionTimestamp → Terminating; CrashLoopBackOff; not sluice’s → undefined', () => {
    assert.equal(statusOfPod(pod())?.phase, 'Starting');
    assert.equal(statusOfPod(pod({ status: { conditions: [{ ...ready, status: 'False' }] } }))?.phase, 'Starting');
    assert.equal(statusOfPod(pod({ status: { conditions: [ready] }, deletionTimestamp: '2026-01-02T03:05:00Z' }))?.phase, 'Terminating');
    const crash = statusOfPod(
      pod({ status: { containerStatuses: [{ restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } } }] } }),
    );
    assert.deepEqual([crash?.phase, crash?.restarts, crash?.message], ['CrashLoopBackOff', 4, 'back-off 40s']);
    assert.equal(statusOfPod({ ...pod(), metadata: { name: 'other' } }), undefined);
  });
});

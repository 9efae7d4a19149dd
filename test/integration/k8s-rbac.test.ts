/**
 * deploy/kubernetes/{rbac.yaml,controller.yaml} against a real API server: the objects are
 * accepted under strict field validation; as the controller's ServiceAccount (impersonated
 * by the admin through KubeClient's extra headers) every verb the controller needs is
 * allowed — asked with SelfSubjectAccessReviews, and done for real for the lease, events,
 * ReplicaSets, pods and Rollout status — and what it does not need (secrets anywhere,
 * configmaps, RBAC, creating pods, another Lease, writing a Rollout's spec) is forbidden.
 * Needs `bash scripts/k8s-build.sh` once (skipped loudly without it; fails in CI).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { KubeApiError, KubeClient, type KubeObject, PODS, REPLICA_SETS, type Resource } from '../../src/kube/client.js';
import { EventRecorder } from '../../src/kube/events.js';
import { LeaderElector } from '../../src/kube/lease.js';
import { applyObject, installCrds, type K8sCluster, k8sMissing, startCluster, waitK8s } from '../helpers/k8s.js';

const skip = k8sMissing();
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const APP_NS = 'shop';
const SA = 'system:serviceaccount:sluice-system:sluice-controller';
const SSAR: Resource = { group: 'authorization.k8s.io', version: 'v1', plural: 'selfsubjectaccessreviews' };
const ROLLOUTS: Resource = { group: 'sluice.dev', version: 'v1alpha1', plural: 'rollouts' };

type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
const docs = (file: string) =>
  parseAllDocuments(readFileSync(`${ROOT}deploy/kubernetes/${file}`, 'utf8'))
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);

const PLURAL: Record<string, string> = {
  Namespace: 'namespaces',
  ServiceAccount: 'serviceaccounts',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  Deployment: 'deployments',
};

interface Attr {
  group: string;
  resource: string;
  verb: string;
  namespace?: string;
  subresource?: string;
  name?: string;
}

const show = (a: Attr) =>
  `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.group ? `.${a.group}` : ''}${a.name ? ` ${a.name}` : ''} in ${a.namespace ?? 'all namespaces'}`;

describe('the controller’s RBAC on a real API server', { skip }, () => {
  let cluster: K8sCluster;
  let sa: KubeClient;

  const can = async (a: Attr): Promise<boolean> => {
    const r = (await sa.create(SSAR, undefined, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: { name: '' },
      spec: { resourceAttributes: a },
    } as KubeObject)) as KubeObject & { status: { allowed: boolean } };
    return r.status.allowed;
  };

  before(
    async () => {
      cluster = await startCluster();
      const ca = readFileSync(cluster.caFile, 'utf8');
      sa = new KubeClient({ server: cluster.server, token: cluster.token, ca, headers: { 'Impersonate-User': SA } });
      const ns = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP_NS } });
      assert.equal(ns.status, 201);
    },
    { timeout: 240_000 },
  );
  after(async () => {
    await sa?.close();
    await cluster?.stop();
  });

  test('rbac.yaml, crds.yaml and controller.yaml are accepted under strict field validation', { timeout: 120_000 }, async () => {
    for (const d of docs('rbac.yaml')) {
      const r = await applyObject(cluster, d, PLURAL[d.kind] ?? '?');
      assert.ok(r.status === 200 || r.status === 201, `${d.kind} ${d.metadata.name}: ${JSON.stringify(r.body)}`);
    }
    await installCrds(cluster, docs('crds.yaml'));
    const [deployment, ...more] = docs('controller.yaml');
    assert.ok(deployment && more.length === 0);
    const r = await applyObject<{ spec: { replicas: number } }>(cluster, deployment, 'deployments');
    assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body));
    assert.equal(r.body.spec.replicas, 2);
    // The Deployment's pods are made with the ServiceAccount (kwok plays the node).
    await waitK8s(cluster, 'two sluice-controller pods', async () => {
      const pods = await cluster.request<{ items: { spec: { serviceAccountName: string } }[] }>(
        'GET',
        '/api/v1/namespaces/sluice-system/pods?labelSelector=app.kubernetes.io%2Fname%3Dsluice-controller',
      );
      return pods.body.items.length === 2 && pods.body.items.every((p) => p.spec.serviceAccountName === 'sluice-controller');
    });
  });

  test('the account may do every verb the controller needs', { timeout: 60_000 }, async () => {
    const needed: Attr[] = [];
    const crs = ['rollouts', 'analysistemplates', 'featureflags', 'featureflagsets', 'environments', 'pipelines'];
    for (const resource of crs) {
      for (const verb of ['get', 'list', 'watch']) needed.push({ group: 'sluice.dev', resource, verb });
      for (const verb of ['get', 'update', 'patch']) needed.push({ group: 'sluice.dev', resource, verb, subresource: 'status', namespace: APP_NS });
    }
    const rw = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];
    for (const [group, resource] of [
      ['apps', 'replicasets'],
      ['', 'services'],
      ['gateway.networking.k8s.io', 'httproutes'],
      ['networking.istio.io', 'virtualservices'],
      ['networking.istio.io', 'destinationrules'],
      ['networking.k8s.io', 'ingresses'],
    ] as const) {
      for (const verb of rw) needed.push({ group, resource, verb, namespace: APP_NS });
    }
    for (const verb of ['get', 'list', 'watch', 'patch', 'delete']) needed.push({ group: '', resource: 'pods', verb, namespace: APP_NS });
    for (const verb of ['create', 'patch']) {
      needed.push({ group: 'events.k8s.io', resource: 'events', verb, namespace: APP_NS });
      needed.push({ group: '', resource: 'events', verb, namespace: APP_NS });
    }
    needed.push({ group: 'coordination.k8s.io', resource: 'leases', verb: 'create', namespace: 'sluice-system' });
    for (const verb of ['get', 'update'])
      needed.push({ group: 'coordination.k8s.io', resource: 'leases', verb, namespace: 'sluice-system', name: 'sluice-controller' });
    const refused: string[] = [];
    for (const a of needed) if (!(await can(a))) refused.push(show(a));
    assert.deepEqual(refused, []);
  });

  test('the account may not do what the controller does not need', { timeout: 60_000 }, async () => {
    const forbidden: Attr[] = [
      { group: '', resource: 'secrets', verb: 'list' },
      { group: '', resource: 'secrets', verb: 'get', namespace: APP_NS },
      { group: '', resource: 'secrets', verb: 'list', namespace: 'sluice-system' },
      { group: '', resource: 'configmaps', verb: 'list' },
      { group: '', resource: 'pods', verb: 'create', namespace: APP_NS },
      { group: '', resource: 'pods', verb: 'create', namespace: APP_NS, subresource: 'exec' },
      { group: '', resource: 'nodes', verb: 'list' },
      { group: 'apps', resource: 'deployments', verb: 'update', namespace: APP_NS },
      { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', verb: 'create' },
      { group: 'sluice.dev', resource: 'rollouts', verb: 'update', namespace: APP_NS },
      { group: 'sluice.dev', resource: 'rollouts', verb: 'delete', namespace: APP_NS },
      { group: 'coordination.k8s.io', resource: 'leases', verb: 'update', namespace: 'sluice-system', name: 'kube-scheduler' },
      { group: 'coordination.k8s.io', resource: 'leases', verb: 'get', namespace: APP_NS, name: 'sluice-controller' },
      { group: 'events.k8s.io', resource: 'events', verb: 'delete', namespace: APP_NS },
    ];
    const allowed: string[] = [];
    for (const a of forbidden) if (await can(a)) allowed.push(show(a));
    assert.deepEqual(allowed, []);
    // And for real: reading secrets cluster-wide is a 403.
    await assert.rejects(
      () => sa.list({ group: '', version: 'v1', plural: 'secrets' }, undefined),
      (err: Error) => err instanceof KubeApiError && err.httpStatus === 403 && err.message.includes(SA),
    );
  });

  test('as the account: lead on the Lease, record an event, patch and delete a pod, manage a ReplicaSet, write a Rollout’s status', {
    timeout: 60_000,
  }, async () => {
    // Leader election in sluice-system.
    const elector = new LeaderElector({
      client: sa,
      namespace: 'sluice-system',
      name: 'sluice-controller',
      identity: 'rbac-test',
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 500,
      log: () => {},
    });
    let led = false;
    const running = elector.run({ onStartedLeading: () => void (led = true), onStoppedLeading: () => {} });
    await waitK8s(cluster, 'leading as the controller account', () => led, 20_000);
    await new Promise((r) => setTimeout(r, 1_200)); // renewals (update) succeed too
    assert.equal(elector.isLeader(), true);
    await elector.stop();
    await running;

    // A Rollout (as admin), its status and an event about it (as the account).
    const rollout = parseAllDocuments(readFileSync(`${ROOT}examples/canary.yaml`, 'utf8'))
      .map((d) => d.toJS() as Doc)
      .find((d) => d?.kind === 'Rollout');
    assert.ok(rollout);
    const created = await cluster.request<KubeObject>('POST', `/apis/sluice.dev/v1alpha1/namespaces/${APP_NS}/rollouts`, rollout);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const name = rollout.metadata.name;
    const listed = await sa.list(ROLLOUTS, APP_NS);
    assert.deepEqual(
      listed.items.map((i) => i.metadata.name),
      [name],
    );
    const patched = await sa.mergePatch<KubeObject & { status: { phase: string } }>(ROLLOUTS, APP_NS, name, { status: { phase: 'Progressing' } }, 'status');
    assert.equal(patched.status.phase, 'Progressing');
    const logs: string[] = [];
    const events = new EventRecorder({ client: sa, reportingInstance: 'rbac-test', log: (l) => logs.push(l) });
    const regarding = { apiVersion: 'sluice.dev/v1alpha1', kind: 'Rollout', name, namespace: APP_NS, uid: created.body.metadata.uid };
    events.normal(regarding, 'Started', 'Progress', 'revision 2');
    events.normal(regarding, 'Started', 'Progress', 'revision 2'); // a series: patch
    await events.flush();
    assert.deepEqual(logs, []);

    // A ReplicaSet and a pod's deletion cost.
    const rs = await sa.create(REPLICA_SETS, APP_NS, {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'web-1' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'sluice.invalid/web:1' }] } },
      },
    } as KubeObject);
    assert.equal(rs.metadata.name, 'web-1');
    const pod = await waitK8s(cluster, 'the ReplicaSet’s pod', async () => (await sa.list(PODS, APP_NS, 'app=web')).items[0]);
    const costed = await sa.mergePatch(PODS, APP_NS, pod.metadata.name, {
      metadata: { annotations: { 'controller.kubernetes.io/pod-deletion-cost': '-100' } },
    });
    assert.equal(costed.metadata.annotations?.['controller.kubernetes.io/pod-deletion-cost'], '-100');
    await sa.delete(PODS, APP_NS, pod.metadata.name);
    await waitK8s(cluster, 'the pod deleted', async () => !(await sa.list(PODS, APP_NS, 'app=web')).items.some((p) => p.metadata.name === pod.metadata.name));
    await sa.delete(REPLICA_SETS, APP_NS, 'web-1');
  });
});

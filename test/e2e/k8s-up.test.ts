/**
 * Issue 17: one control plane, two platforms. `sluice up --kubeconfig --namespace` against a
 * real API server (test/helpers/k8s.ts: kube-apiserver, etcd, controller manager, scheduler
 * built from their Go modules; kwok plays the nodes): a rollout with `platform: kubernetes`
 * runs as ReplicaSets, one with `platform: local` beside it as processes of this machine;
 * a kill -9 and restart of the control plane re-adopts the ReplicaSets without recreating
 * or rescaling them; a namespace that does not exist and a bad kubeconfig are one line
 * each, in the rollout's events or on `up`'s stderr.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type K8sCluster, k8sMissing, startCluster, waitK8s } from '../helpers/k8s.js';
import { freePort } from '../helpers/ports.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { runCli, SluiceUnderTest } from '../helpers/sluice.js';
import { waitFor } from '../helpers/wait.js';

const skip = k8sMissing();
const NS = 'shop';

interface ReplicaSet {
  metadata: { name: string; uid: string; generation: number; labels: Record<string, string> };
  spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
  status?: { readyReplicas?: number };
}

describe('sluice up --kubeconfig: rollouts on a real API server beside local ones', { skip }, () => {
  let cluster: K8sCluster;
  let sluice: SluiceUnderTest;

  const k8sRollout = (version: string, extra = '') => `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  platform: kubernetes
  replicas: 2
  progressDeadlineSeconds: 180
${extra}  template:
    version: ${version}
    image: sluice.invalid/web:${version}
  traffic:
    listen: 127.0.0.1:${webPort}
  strategy:
    rolling: {}
`;
  let webPort = 0;

  const replicaSets = async (ns = NS) =>
    (await cluster.request<{ items: ReplicaSet[] }>('GET', `/apis/apps/v1/namespaces/${ns}/replicasets?labelSelector=sluice.dev%2Frollout%3Dweb`)).body.items;

  before(async () => {
    cluster = await startCluster();
    const created = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    assert.equal(created.status, 201);
    webPort = await freePort();
    sluice = await SluiceUnderTest.start(['--kubeconfig', cluster.kubeconfigPath, '--namespace', NS]);
  });
  after(async () => {
    await sluice?.down();
    await cluster?.stop();
  });

  test('a Kubernetes rollout runs as ReplicaSets and a local one as processes, in one control plane', async () => {
    await sluice.apply('web.yaml', k8sRollout('v1'));
    const localPort = await freePort();
    await sluice.apply('api.yaml', rolloutManifest({ name: 'api', version: 'v1', strategy: '    rolling: {}', listen: localPort, replicas: 1 }));
    await waitFor(
      sluice.rollout('web', (v) => v.status.phase === 'Healthy'),
      { timeoutMs: 180_000, what: 'web Healthy on the cluster' },
    );
    await waitFor(
      sluice.rollout('api', (v) => v.status.phase === 'Healthy'),
      { timeoutMs: 60_000, what: 'api Healthy locally' },
    );
    const sets = await replicaSets();
    assert.equal(sets.length, 1);
    assert.equal(sets[0]!.spec.replicas, 2);
    assert.equal(sets[0]!.spec.template.spec.containers[0]!.image, 'sluice.invalid/web:v1');
    const web = await sluice.get('web');
    assert.equal(web.instances.length, 2);
    assert.ok(
      web.instances.every((i) => i.phase === 'Ready' && i.pid === undefined && sets[0]!.metadata.name === i.id.replace(/-[a-z0-9]{5}$/, '')),
      `web's instances are the ReplicaSet's pods: ${JSON.stringify(web.instances)}`,
    );
    const api = await sluice.get('api');
    assert.equal(api.instances.length, 1);
    assert.ok(api.instances[0]!.pid! > 0, 'the local rollout runs as a process of this machine');
    const answer = await fetch(`http://127.0.0.1:${localPort}/`);
    assert.equal(answer.status, 200);
    await answer.text();
  });

  test('a rolling update to v2 scales the new ReplicaSet up and the old one to zero', async () => {
    await sluice.apply('web.yaml', k8sRollout('v2'));
    await waitFor(
      sluice.rollout(
        'web',
        (v) => v.status.phase === 'Healthy' && v.instances.length === 2 && v.instances.every((i) => i.revision === v.status.currentRevision),
      ),
      { timeoutMs: 180_000, what: 'web Healthy at v2' },
    );
    await waitK8s(cluster, 'v1 at 0 replicas, v2 at 2 ready', async () => {
      const sets = await replicaSets();
      const image = (s: ReplicaSet) => s.spec.template.spec.containers[0]!.image;
      const v1 = sets.find((s) => image(s).endsWith(':v1'));
      const v2 = sets.find((s) => image(s).endsWith(':v2'));
      return sets.length === 2 && v1?.spec.replicas === 0 && v2?.spec.replicas === 2 && v2.status?.readyReplicas === 2;
    });
  });

  test('kill -9 and restart of the control plane: the ReplicaSets are adopted, not recreated or rescaled', async () => {
    const before = await replicaSets();
    await sluice.kill9();
    await sluice.up();
    await waitFor(
      sluice.rollout('web', (v) => v.status.phase === 'Healthy' && v.instances.length === 2 && v.instances.every((i) => i.phase === 'Ready')),
      { timeoutMs: 60_000, what: 'web re-adopted with 2 Ready pods' },
    );
    // A few passes of the engine after the restart.
    await new Promise((r) => setTimeout(r, 3000));
    const after = await replicaSets();
    const summary = (sets: ReplicaSet[]) =>
      sets.map((s) => `${s.metadata.name} uid=${s.metadata.uid} gen=${s.metadata.generation} replicas=${s.spec.replicas}`).sort();
    assert.deepEqual(summary(after), summary(before));
    assert.match(sluice.log(), /re-adopted 2 pod\(s\)/);
  });

  test('a namespace that does not exist: a StartFailed event naming it, nothing created anywhere', async () => {
    const other = await freePort();
    const yaml = k8sRollout('v1', '  kubernetes:\n    namespace: nowhere\n').replace('name: web', 'name: lost').replace(`:${webPort}`, `:${other}`);
    await sluice.apply('lost.yaml', yaml);
    const view = await waitFor(
      sluice.rollout('lost', (v) => v.events.some((e) => e.reason === 'StartFailed')),
      { timeoutMs: 60_000, what: 'a StartFailed event for lost' },
    );
    const event = view.events.find((e) => e.reason === 'StartFailed')!;
    assert.match(event.message, /namespaces "nowhere" not found/);
    assert.doesNotMatch(event.message, /\n/);
    assert.equal(view.events.filter((e) => e.reason === 'StartFailed').length, 1, 'the same failure is one event, not one per retry');
    const anywhere = await cluster.request<{ items: unknown[] }>('GET', '/apis/apps/v1/replicasets?labelSelector=sluice.dev%2Frollout%3Dlost');
    assert.equal(anywhere.body.items.length, 0);
    const removed = await sluice.cli(['delete', 'lost']);
    assert.equal(removed.code, 0, removed.stderr);
  });
});

describe('sluice up: Kubernetes flags refused with one line, nothing started', () => {
  test('a kubeconfig that does not exist', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-kube-bad-'));
    const r = await runCli(
      [
        '--state-dir',
        join(dir, '.sluice'),
        'up',
        '--api',
        `127.0.0.1:${await freePort()}`,
        '--router-admin',
        `127.0.0.1:${await freePort()}`,
        '--flags-listen',
        `127.0.0.1:${await freePort()}`,
        '--kubeconfig',
        join(dir, 'nope'),
      ],
      dir,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /kubeconfig .*nope: cannot be read \(ENOENT\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  test('an API server that does not answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-kube-down-'));
    const port = await freePort();
    const config = join(dir, 'kubeconfig');
    writeFileSync(
      config,
      JSON.stringify({
        apiVersion: 'v1',
        'current-context': 'x',
        contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }],
        clusters: [{ name: 'x', cluster: { server: `https://127.0.0.1:${port}` } }],
        users: [{ name: 'x', user: { token: 't' } }],
      }),
    );
    const r = await runCli(
      [
        '--state-dir',
        join(dir, '.sluice'),
        'up',
        '--api',
        `127.0.0.1:${await freePort()}`,
        '--router-admin',
        `127.0.0.1:${await freePort()}`,
        '--flags-listen',
        `127.0.0.1:${await freePort()}`,
        '--kubeconfig',
        config,
      ],
      dir,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`the Kubernetes API at https://127.0.0.1:${port} is unreachable \\(ECONNREFUSED\\)`));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  test('--platform that is not one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-kube-flag-'));
    const r = await runCli(['--state-dir', join(dir, '.sluice'), 'up', '--platform', 'nomad'], dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--platform nomad: not a platform — write local or kubernetes/);
  });
});

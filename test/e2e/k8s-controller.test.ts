/**
 * Issue 17, controller mode against a real API server: two `sluice controller` processes
 * (two replicas) with the CRDs of deploy/kubernetes/crds.yaml. One leads (the Lease says
 * which); a Rollout custom resource is released by canary; the leader is killed with SIGKILL
 * mid-canary; the other takes the Lease within its duration, continues at the same step from
 * the Rollout's status (no ReplicaSet recreated or rescaled, the traffic objects unchanged)
 * and finishes the release. The status subresource carries phase, step and weight, the
 * decisions are Kubernetes Events on the Rollout, and a spec the engine refuses is phase
 * Invalid with a one-line message and a Warning Event, the other rollout unaffected.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { installCrds, type K8sCluster, k8sMissing, startCluster, waitK8s } from '../helpers/k8s.js';
import { freePort } from '../helpers/ports.js';

const skip = k8sMissing();
const NS = 'shop';
const BIN = fileURLToPath(new URL('../../../bin/sluice.js', import.meta.url));
const CRDS = fileURLToPath(new URL('../../../deploy/kubernetes/crds.yaml', import.meta.url));
const LEASE_MS = 4000;

interface Replica {
  id: string;
  child: ChildProcess;
  output: string;
}

interface RolloutCr {
  metadata: { name: string; generation?: number; uid?: string };
  status?: { phase?: string; step?: number; weight?: number; message?: string; observedGeneration?: number; strategy?: string };
}

interface ReplicaSet {
  metadata: { name: string; uid: string; generation: number };
  spec: { replicas: number };
}

describe('sluice controller: two replicas, a Lease, Rollout resources', { skip }, () => {
  let cluster: K8sCluster;
  const replicas: Replica[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'sluice-controller-'));

  const startReplica = async (id: string): Promise<Replica> => {
    const args = [
      BIN,
      '--state-dir',
      join(dir, id),
      'controller',
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--namespace',
      NS,
      '--identity',
      id,
      '--lease-duration',
      `${LEASE_MS / 1000}s`,
      '--api',
      `127.0.0.1:${await freePort()}`,
      '--router-admin',
      `127.0.0.1:${await freePort()}`,
      '--flags-listen',
      `127.0.0.1:${await freePort()}`,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const r: Replica = { id, child, output: '' };
    child.stdout!.on('data', (d) => (r.output += d));
    child.stderr!.on('data', (d) => (r.output += d));
    replicas.push(r);
    return r;
  };
  const logs = () => replicas.map((r) => `--- ${r.id}\n${r.output.slice(-2500)}`).join('\n');
  const holder = async () =>
    (await cluster.request<{ spec?: { holderIdentity?: string } }>('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/sluice-controller`)).body.spec
      ?.holderIdentity;
  const rollout = async (name: string) => (await cluster.request<RolloutCr>('GET', `/apis/sluice.dev/v1alpha1/namespaces/${NS}/rollouts/${name}`)).body;
  const waitStatus = (name: string, what: string, pred: (s: NonNullable<RolloutCr['status']>) => boolean, timeoutMs = 120_000) =>
    waitK8s(
      cluster,
      `${name}: ${what}`,
      async () => {
        const s = (await rollout(name)).status;
        return s && pred(s) ? s : false;
      },
      timeoutMs,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\nstatus: ${JSON.stringify((await rollout(name)).status)?.slice(0, 600)}\n${logs()}`);
    });
  const replicaSets = async () =>
    (await cluster.request<{ items: ReplicaSet[] }>('GET', `/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=sluice.dev%2Frollout%3Dweb`)).body.items
      .map((s) => `${s.metadata.name} uid=${s.metadata.uid} replicas=${s.spec.replicas}`)
      .sort();
  const services = async () =>
    (
      await cluster.request<{ items: { metadata: { name: string; resourceVersion: string } }[] }>(
        'GET',
        `/api/v1/namespaces/${NS}/services?labelSelector=sluice.dev%2Frollout%3Dweb`,
      )
    ).body.items
      .map((s) => `${s.metadata.name}@${s.metadata.resourceVersion}`)
      .sort();

  const resource = (name: string, version: string, listen: number, extra = '') => ({
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name, namespace: NS },
    spec: {
      replicas: 4,
      progressDeadlineSeconds: 300,
      template: { version, image: `sluice.invalid/${name}:${version}`, ...(extra ? { command: extra } : {}) },
      traffic: { listen: `127.0.0.1:${listen}`, router: 'services' },
      strategy: { canary: { steps: [{ setWeight: 25 }, { pause: { duration: '25s' } }, { setWeight: 50 }, { pause: { duration: '2s' } }] } },
    },
  });

  before(
    async () => {
      cluster = await startCluster();
      const crds = parseAllDocuments(readFileSync(CRDS, 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
      await installCrds(cluster, crds);
      assert.equal((await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })).status, 201);
      await startReplica('a');
      await startReplica('b');
    },
    { timeout: 300_000 },
  );
  after(async () => {
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
    await Promise.all(
      replicas.map((r) => (r.child.exitCode === null && r.child.signalCode === null ? new Promise((res) => r.child.once('exit', res)) : undefined)),
    );
    await cluster?.stop();
  });

  test('one replica leads; a Rollout resource is released to Healthy with status and Events', { timeout: 300_000 }, async () => {
    const leader = await waitK8s(cluster, 'a leader in the Lease', async () => (await holder()) || false, 60_000);
    assert.ok(['a', 'b'].includes(leader));
    const listen = await freePort();
    const created = await cluster.request('POST', `/apis/sluice.dev/v1alpha1/namespaces/${NS}/rollouts?fieldValidation=Strict`, resource('web', 'v1', listen));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const s = await waitStatus('web', 'Healthy at v1', (st) => st.phase === 'Healthy' && st.observedGeneration === 1);
    assert.equal(s.strategy, 'canary');
    const events = await cluster.request<{ items: { reason: string; regarding: { name: string; kind: string }; reportingController: string }[] }>(
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${NS}/events`,
    );
    const mine = events.body.items.filter((e) => e.regarding.kind === 'Rollout' && e.regarding.name === 'web');
    assert.ok(mine.length > 0, 'the engine’s decisions are Kubernetes Events on the Rollout');
    assert.ok(mine.every((e) => e.reportingController === 'sluice.dev/controller'));
  });

  test('SIGKILL of the leader mid-canary: the other leads within the lease, continues at the same step, finishes', { timeout: 400_000 }, async () => {
    const cr = await rollout('web');
    const patched = await cluster.request(
      'PATCH',
      `/apis/sluice.dev/v1alpha1/namespaces/${NS}/rollouts/web`,
      { spec: { template: { version: 'v2', image: 'sluice.invalid/web:v2' } } },
      { contentType: 'application/merge-patch+json' },
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const paused = await waitStatus(
      'web',
      'paused at step 2 (25 %)',
      (st) => st.observedGeneration === (cr.metadata.generation ?? 1) + 1 && st.step === 2 && st.weight === 25,
    );
    assert.equal(paused.phase, 'Paused');
    await waitK8s(cluster, 'v2 at one pod', async () => (await replicaSets()).some((l) => l.endsWith('replicas=1')));
    const setsBefore = await replicaSets();
    const servicesBefore = await services();
    const leaderId = (await holder())!;
    const leader = replicas.find((r) => r.id === leaderId)!;
    const other = replicas.find((r) => r.id !== leaderId)!;
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    const next = await waitK8s(cluster, 'the other replica holds the Lease', async () => ((await holder()) === other.id ? Date.now() : false), LEASE_MS * 5);
    assert.ok(next - killedAt < LEASE_MS * 2.5, `took over in ${next - killedAt} ms (lease ${LEASE_MS} ms)`);
    await waitK8s(cluster, 'the new leader continues from the status', async () => /continuing from the cluster's status/.test(other.output), 60_000).catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${logs()}`);
      },
    );
    // A few passes of the new leader: nothing recreated, rescaled or rewritten, still at step 2.
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(await replicaSets(), setsBefore);
    assert.deepEqual(await services(), servicesBefore);
    const still = (await rollout('web')).status!;
    assert.equal(still.step, 2, JSON.stringify(still));
    assert.equal(still.weight, 25);
    await waitStatus('web', 'Healthy at v2 under the new leader', (st) => st.phase === 'Healthy' && st.weight === 100, 180_000);
  });

  test('a spec the engine refuses: phase Invalid with one line and a Warning Event; web unaffected', { timeout: 120_000 }, async () => {
    const bad = resource('broken', 'v1', await freePort());
    // A data plane sluice does not have: traffic.router is an open field in the CRD, the loader refuses it.
    (bad.spec.traffic as Record<string, unknown>).router = 'nosuchplane';
    const created = await cluster.request('POST', `/apis/sluice.dev/v1alpha1/namespaces/${NS}/rollouts`, bad);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const s = await waitStatus('broken', 'Invalid', (st) => st.phase === 'Invalid');
    assert.match(s.message!, /rollouts\.sluice\.dev\/shop\/broken/);
    assert.doesNotMatch(s.message!, /\n/);
    const events = await cluster.request<{ items: { reason: string; type: string; regarding: { name: string } }[] }>(
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${NS}/events`,
    );
    assert.ok(events.body.items.some((e) => e.regarding.name === 'broken' && e.type === 'Warning' && e.reason === 'SpecRefused'));
    assert.equal((await rollout('web')).status?.phase, 'Healthy');
  });
});

/**
 * The Kubernetes test harness itself (test/helpers/k8s.ts) against the real programs: a
 * Deployment's pods are scheduled onto the kwok node and go Running and Ready, a Service's
 * EndpointSlice lists their IPs (the controller manager's endpointslice controller), RBAC
 * refuses a user without a role, and stopping the cluster leaves no process behind.
 * Needs `bash scripts/k8s-build.sh` once (skipped loudly without it; fails in CI).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isProcessAlive } from '../../src/util/process-control.js';
import { K8S_BUILD_COMMAND, type K8sCluster, k8sMissing, processesMentioning, processExe, startCluster, waitK8s } from '../helpers/k8s.js';

const skip = k8sMissing();

interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string };
  status: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}
interface List<T> {
  items: T[];
}
interface EndpointSlice {
  addressType: string;
  endpoints: { addresses: string[]; conditions?: { ready?: boolean }; targetRef?: { name: string } }[] | null;
}
interface Status {
  kind: string;
  reason?: string;
  message?: string;
}

describe('a real Kubernetes control plane (etcd, kube-apiserver, controller manager, scheduler, kwok)', { skip }, () => {
  let cluster: K8sCluster;
  const ns = 'sluice-harness';
  let podIPs: string[] = [];

  before(
    async () => {
      cluster = await startCluster();
    },
    { timeout: 240_000 },
  );
  after(async () => {
    await cluster?.stop();
  });

  test('the API server serves HTTPS with its CA on 127.0.0.1 and knows the admin', async () => {
    assert.match(cluster.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    const version = await cluster.request<{ gitVersion: string }>('GET', '/version');
    assert.equal(version.status, 200);
    assert.match(version.body.gitVersion, /^v1\.\d+\.\d+/);
    const review = await cluster.request<{ status: { userInfo: { username: string; groups: string[] } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    );
    assert.equal(review.status, 201, JSON.stringify(review.body));
    assert.equal(review.body.status.userInfo.username, 'admin');
    assert.ok(review.body.status.userInfo.groups.includes('system:masters'));
    // A wrong token is refused outright (no anonymous access).
    const bad = await cluster.request('GET', '/api/v1/namespaces', undefined, { token: 'not-a-token' });
    assert.equal(bad.status, 401);
  });

  test('a Deployment of 2 replicas gets 2 pods Running and Ready on the kwok node', async () => {
    const created = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const deploy = await cluster.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          // kwok pulls no image: any name will do.
          spec: { containers: [{ name: 'web', image: 'sluice.invalid/web:v1', ports: [{ containerPort: 8080 }] }] },
        },
      },
    });
    assert.equal(deploy.status, 201, JSON.stringify(deploy.body));

    const pods = await waitK8s(cluster, '2 web pods Running and Ready', async () => {
      const r = await cluster.request<List<Pod>>('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dweb`);
      const ready = r.body.items.filter(
        (p) => p.status.phase === 'Running' && p.status.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return ready.length === 2 && r.body.items.length === 2 && ready;
    });
    for (const p of pods) assert.equal(p.spec.nodeName, cluster.nodeName, `${p.metadata.name} scheduled onto the kwok node`);
    podIPs = pods.map((p) => p.status.podIP as string).sort();
    assert.equal(new Set(podIPs).size, 2, `two distinct pod IPs: ${podIPs}`);

    await waitK8s(cluster, 'the Deployment reporting 2 ready replicas', async () => {
      const d = await cluster.request<{ status: { readyReplicas?: number; availableReplicas?: number } }>(
        'GET',
        `/apis/apps/v1/namespaces/${ns}/deployments/web`,
      );
      return d.body.status.readyReplicas === 2 && d.body.status.availableReplicas === 2;
    });
  });

  test("a Service's EndpointSlice lists the 2 pod IPs", async () => {
    assert.equal(podIPs.length, 2, 'needs the pods of the test before');
    const svc = await cluster.request<{ spec: { clusterIP: string } }>('POST', `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    assert.equal(svc.status, 201, JSON.stringify(svc.body));
    assert.match(svc.body.spec.clusterIP, /^10\.96\./, 'a cluster IP from --service-cluster-ip-range');
    const addresses = await waitK8s(cluster, 'an EndpointSlice of service web with both pods ready', async () => {
      const r = await cluster.request<List<EndpointSlice>>(
        'GET',
        `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb`,
      );
      const ready = r.body.items
        .filter((s) => s.addressType === 'IPv4')
        .flatMap((s) => s.endpoints ?? [])
        .filter((e) => e.conditions?.ready === true)
        .flatMap((e) => e.addresses)
        .sort();
      return ready.length === 2 && ready;
    });
    assert.deepEqual(addresses, podIPs);
  });

  test('RBAC: the limited user is refused (403) until a Role allows it, and then only that', async () => {
    const limited = { token: cluster.limitedToken };
    const secrets = await cluster.request<Status>('GET', `/api/v1/namespaces/${ns}/secrets`, undefined, limited);
    assert.equal(secrets.status, 403, JSON.stringify(secrets.body));
    assert.equal(secrets.body.reason, 'Forbidden');
    assert.match(secrets.body.message ?? '', new RegExp(`"${cluster.limitedUser}"`));
    assert.equal((await cluster.request('GET', `/api/v1/namespaces/${ns}/pods`, undefined, limited)).status, 403);

    const role = await cluster.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'pod-reader' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
    });
    assert.equal(role.status, 201, JSON.stringify(role.body));
    const binding = await cluster.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'limited-reads-pods' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: cluster.limitedUser }],
    });
    assert.equal(binding.status, 201, JSON.stringify(binding.body));
    const pods = await waitK8s(cluster, 'the RoleBinding in force', async () => {
      const r = await cluster.request<List<Pod>>('GET', `/api/v1/namespaces/${ns}/pods`, undefined, limited);
      return r.status === 200 && r;
    });
    assert.equal(pods.body.items.length, 2);
    assert.equal((await cluster.request('GET', `/api/v1/namespaces/${ns}/secrets`, undefined, limited)).status, 403);
    assert.equal((await cluster.request('GET', '/api/v1/namespaces/default/pods', undefined, limited)).status, 403, 'a Role is one namespace');
    const del = await cluster.request('DELETE', `/api/v1/namespaces/${ns}/pods/${pods.body.items[0]?.metadata.name}`, undefined, limited);
    assert.equal(del.status, 403, 'get and list only');
  });

  test('stop() ends every program and leaves no process or folder behind', async () => {
    const { pids, dir } = cluster;
    assert.deepEqual(Object.keys(pids).sort(), ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']);
    for (const [name, pid] of Object.entries(pids)) assert.ok(isProcessAlive(pid), `${name} (pid ${pid}) runs before stop`);
    assert.ok(processesMentioning(dir).length >= 5, 'the programs are found by their folder');
    const started = Date.now();
    await cluster.stop();
    const left = Object.entries(pids).filter(([, pid]) => isProcessAlive(pid));
    assert.deepEqual(left, [], `still running after stop: ${left.map(([n, p]) => `${n} ${p}`).join(', ')}`);
    const stray = processesMentioning(dir);
    assert.deepEqual(stray, [], `processes naming ${dir}: ${stray.map((p) => `${p} ${processExe(p)}`).join(', ')}`);
    assert.equal(existsSync(dir), false);
    console.error(`cluster stopped in ${Date.now() - started} ms`);
  });
});

// These two need no built program: they run everywhere.
describe('startCluster without working programs', () => {
  const sluiceDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('sluice-k8s-'));
  function withBin(files: Record<string, string>, fn: () => Promise<void>) {
    return async () => {
      const bin = mkdtempSync(join(tmpdir(), 'sluice-k8s-fakebin-'));
      for (const [name, body] of Object.entries(files)) {
        writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
        chmodSync(join(bin, name), 0o755);
      }
      const saved = process.env.SLUICE_K8S_BIN;
      process.env.SLUICE_K8S_BIN = bin;
      try {
        await fn();
      } finally {
        if (saved === undefined) delete process.env.SLUICE_K8S_BIN;
        else process.env.SLUICE_K8S_BIN = saved;
        rmSync(bin, { recursive: true, force: true });
      }
    };
  }

  test(
    'names the missing programs and the command that builds them',
    withBin({ etcd: 'exit 0' }, async () => {
      await assert.rejects(startCluster(), (err: Error) => {
        assert.match(err.message, /kube-apiserver, kube-controller-manager, kube-scheduler, kwok not built/);
        assert.ok(err.message.includes(K8S_BUILD_COMMAND), err.message);
        return true;
      });
    }),
  );

  test(
    'a program that exits at start fails it with that program and its output, and cleans up',
    withBin(
      {
        etcd: 'echo "etcd: cannot open data dir (on purpose)" >&2; exit 3',
        'kube-apiserver': 'sleep 600',
        'kube-controller-manager': 'sleep 600',
        'kube-scheduler': 'sleep 600',
        kwok: 'sleep 600',
      },
      async () => {
        const before = new Set(sluiceDirs());
        await assert.rejects(startCluster({ startTimeoutMs: 20_000 }), (err: Error) => {
          assert.match(err.message, /etcd exited \(3\)/);
          assert.match(err.message, /cannot open data dir \(on purpose\)/);
          return true;
        });
        const left = sluiceDirs().filter((d) => !before.has(d) && !d.startsWith('sluice-k8s-fakebin-'));
        assert.deepEqual(left, [], 'the cluster folder is removed');
      },
    ),
  );
});

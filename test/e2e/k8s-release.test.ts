/**
 * Issue 17's first acceptance item, end to end: `sluice up --kubeconfig` against a real
 * API server (kube-apiserver, etcd, controller manager and scheduler built from their Go
 * modules, kwok for the nodes) with the official Gateway API and Istio CRDs. For each traffic
 * data plane (services, gatewayApi, istio, nginxIngress), a two-revision app `web` is
 * released through the CLI — canary 20 % → 50 % → promoted, then blue-green preview →
 * switched — and at every step the objects stored on the API server equal the golden files
 * of test/fixtures/k8s-traffic/ (the same ones the renderers are tested against), and the
 * ReplicaSets carry the replica counts the step asks for. Deleting the rollout deletes its
 * traffic objects and leaves no pod running.
 * Needs `bash scripts/k8s-build.sh` and `bash scripts/k8s-crds.sh` once (skipped loudly without them).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { DATA_PLANE_LABEL } from '../../src/dataplane/kubernetes/data-plane.js';
import { installCrds, type K8sCluster, k8sCrdFiles, k8sCrdsMissing, k8sMissing, objectPath, startCluster, waitK8s } from '../helpers/k8s.js';
import { API_VERSION, differs, golden, type Obj, PLANES, type Plane, PLURAL } from '../helpers/k8s-planes.js';
import { freePort } from '../helpers/ports.js';
import { SluiceUnderTest } from '../helpers/sluice.js';
import { waitFor } from '../helpers/wait.js';

const skip = k8sMissing() || k8sCrdsMissing();
const NS = 'shop';
const REPLICAS = 4;

interface ReplicaSet {
  metadata: { name: string; labels: Record<string, string> };
  spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
  status?: { readyReplicas?: number };
}

const CANARY = `    canary:
      steps:
        - setWeight: 20
        - pause: {}
        - setWeight: 50
        - pause: {}
`;
const BLUE_GREEN = (preview: number) => `    blueGreen:
      previewListen: 127.0.0.1:${preview}
      autoPromotionEnabled: false
      scaleDownDelaySeconds: 0
`;
const sortedKeys = <T>(o: Record<string, T>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
const OUTLIERS = '    outlierDetection: {consecutiveErrors: 5, baseEjectionSeconds: 30s}\n';

describe('releases on a real API server through sluice up: every step’s objects equal the goldens', { skip }, () => {
  let cluster: K8sCluster;
  let sluice: SluiceUnderTest;

  const manifest = (plane: Plane, version: string, strategy: string, listen: number, extraTraffic = '') => `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  platform: kubernetes
  replicas: ${REPLICAS}
  progressDeadlineSeconds: 180
  template:
    version: ${version}
    image: sluice.invalid/web:${version}
  traffic:
    listen: 127.0.0.1:${listen}
${extraTraffic}${PLANES[plane].traffic}  strategy:
${strategy}`;

  /** The plane's objects of rollout web as stored, by `Kind/name`. */
  const stored = async (plane: Plane): Promise<Map<string, Obj>> => {
    const selector = encodeURIComponent(`${DATA_PLANE_LABEL}=${plane},sluice.dev/rollout=web`);
    const out = new Map<string, Obj>();
    for (const kind of PLANES[plane].kinds) {
      const path = `${objectPath({ apiVersion: API_VERSION[kind]!, metadata: { namespace: NS } }, PLURAL[kind]!, false)}?labelSelector=${selector}`;
      const r = await cluster.request<{ items: Obj[] }>('GET', path);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      for (const o of r.body.items) out.set(`${kind}/${o.metadata.name}`, { ...o, kind });
    }
    return out;
  };

  /** Waits until the stored objects are exactly the golden's (by name) and each holds every field the golden sets. */
  const matchesGolden = async (plane: Plane, scenario: string, step: string) => {
    const want = golden(plane, step, scenario);
    let last = '';
    await waitK8s(
      cluster,
      `${plane} ${scenario}-${step} objects as the golden`,
      async () => {
        const got = await stored(plane);
        const names = want.map((o) => `${o.kind}/${o.metadata.name}`).sort();
        if (JSON.stringify([...got.keys()].sort()) !== JSON.stringify(names)) {
          last = `stored ${[...got.keys()].sort().join(', ')}; the golden has ${names.join(', ')}`;
          return false;
        }
        for (const o of want) {
          const s = got.get(`${o.kind}/${o.metadata.name}`)!;
          const labels = { ...s.metadata.labels };
          assert.equal(labels[DATA_PLANE_LABEL], plane);
          delete labels[DATA_PLANE_LABEL];
          const d =
            differs(o.spec, s.spec, `${o.kind}/${o.metadata.name} spec`) ??
            differs(o.metadata.labels ?? {}, labels, `${o.kind}/${o.metadata.name} labels`) ??
            differs(o.metadata.annotations ?? {}, s.metadata.annotations ?? {}, `${o.kind}/${o.metadata.name} annotations`);
          if (d) {
            last = d;
            return false;
          }
        }
        return true;
      },
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${last}\ncontrol plane log:\n${sluice.log().slice(-3000)}`);
    });
  };

  /** ReplicaSets of web by image tag → [replicas, ready]. */
  const replicaSets = async (): Promise<Record<string, [number, number]>> => {
    const r = await cluster.request<{ items: ReplicaSet[] }>('GET', `/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=sluice.dev%2Frollout%3Dweb`);
    // Sorted by tag: the API lists by name (a hash), the comparison is by content.
    return Object.fromEntries(
      r.body.items
        .filter((s) => s.spec.replicas > 0 || (s.status?.readyReplicas ?? 0) > 0)
        .map((s) => [s.spec.template.spec.containers[0]!.image.split(':').pop()!, [s.spec.replicas, s.status?.readyReplicas ?? 0] as [number, number]] as const)
        .sort(([a], [b]) => a.localeCompare(b)),
    );
  };
  const replicasAre = (want: Record<string, [number, number]>, what: string) =>
    waitK8s(
      cluster,
      `${what}: ReplicaSets ${JSON.stringify(want)}`,
      async () => JSON.stringify(await replicaSets()) === JSON.stringify(sortedKeys(want)),
      90_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; stored ${JSON.stringify(await replicaSets())}`);
    });

  const atStep = (stepIndex: number) =>
    waitFor(
      sluice.rollout('web', (v) => v.status.phase === 'Paused' && v.status.stepIndex === stepIndex),
      { timeoutMs: 120_000, what: `web paused at step ${stepIndex}` },
    );
  const healthyAt = (version: string) =>
    waitFor(
      sluice.rollout(
        'web',
        (v) => v.status.phase === 'Healthy' && v.instances.length === REPLICAS && v.instances.every((i) => i.revision === v.status.currentRevision),
      ),
      { timeoutMs: 180_000, what: `web Healthy at ${version}` },
    );
  const promote = async () => {
    const r = await sluice.cli(['promote', 'web']);
    assert.equal(r.code, 0, r.stderr);
  };
  const remove = async (plane: Plane) => {
    const r = await sluice.cli(['delete', 'web']);
    assert.equal(r.code, 0, r.stderr);
    await waitK8s(cluster, `${plane}: web's traffic objects deleted`, async () => (await stored(plane)).size === 0, 60_000);
    await waitK8s(
      cluster,
      'no pod of web left',
      async () =>
        (await cluster.request<{ items: unknown[] }>('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=sluice.dev%2Frollout%3Dweb`)).body.items.length === 0,
      60_000,
    );
  };

  before(
    async () => {
      cluster = await startCluster();
      const files = k8sCrdFiles();
      const crds = [...files.gatewayApi, ...files.istio]
        .flatMap((f) => parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string } }))
        .filter((d) => d?.kind === 'CustomResourceDefinition');
      await installCrds(cluster, crds);
      const ns = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
      assert.equal(ns.status, 201, JSON.stringify(ns.body));
      sluice = await SluiceUnderTest.start(['--kubeconfig', cluster.kubeconfigPath, '--namespace', NS]);
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await sluice?.down();
    await cluster?.stop();
  });

  for (const plane of Object.keys(PLANES) as Plane[]) {
    test(`${plane}: canary 20 % → 50 % → promoted`, { timeout: 600_000 }, async () => {
      const listen = await freePort();
      // Versions of their own per plane: each scenario's ReplicaSets are new ones.
      const [v1, v2] = [`${plane}-1`, `${plane}-2`];
      await sluice.apply('web.yaml', manifest(plane, v1, CANARY, listen, OUTLIERS));
      await healthyAt(v1);
      await sluice.apply('web.yaml', manifest(plane, v2, CANARY, listen, OUTLIERS));
      await atStep(1);
      await matchesGolden(plane, 'canary', '20');
      // 20 % of 4 is one canary pod; stable keeps all 4 (traffic, not pods, is what shifts).
      await replicasAre({ [v1]: [REPLICAS, REPLICAS], [v2]: [1, 1] }, '20 %');
      await promote();
      await atStep(3);
      await matchesGolden(plane, 'canary', '50');
      await replicasAre({ [v1]: [REPLICAS, REPLICAS], [v2]: [2, 2] }, '50 %');
      await promote();
      await healthyAt(v2);
      await matchesGolden(plane, 'canary', 'promoted');
      await replicasAre({ [v2]: [REPLICAS, REPLICAS] }, 'promoted');
      await remove(plane);
    });
  }

  for (const plane of Object.keys(PLANES) as Plane[]) {
    test(`${plane}: blue-green preview → switched`, { timeout: 600_000 }, async () => {
      const listen = await freePort();
      const strategy = BLUE_GREEN(await freePort());
      const [v1, v2] = [`${plane}-bg1`, `${plane}-bg2`];
      await sluice.apply('web.yaml', manifest(plane, v1, strategy, listen));
      await healthyAt(v1);
      await sluice.apply('web.yaml', manifest(plane, v2, strategy, listen));
      await waitFor(
        sluice.rollout('web', (v) => v.status.phase === 'Paused'),
        { timeoutMs: 120_000, what: 'web paused with the preview up' },
      );
      await matchesGolden(plane, 'blue-green', 'preview');
      // Blue-green runs the whole new revision beside the old one before the switch.
      await replicasAre({ [v1]: [REPLICAS, REPLICAS], [v2]: [REPLICAS, REPLICAS] }, 'preview');
      await promote();
      await healthyAt(v2);
      await matchesGolden(plane, 'blue-green', 'switched');
      await replicasAre({ [v2]: [REPLICAS, REPLICAS] }, 'switched');
      await remove(plane);
    });
  }
});

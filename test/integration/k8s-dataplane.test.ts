/**
 * The Kubernetes data planes (src/dataplane/kubernetes/data-plane.ts, registered in
 * src/dataplane/registry.ts) against a real kube-apiserver with the official Gateway API and
 * Istio CRDs: the route tables of a canary's steps (20 %, 50 %, promoted), made by the engine
 * sim from a spec naming the plane in `traffic.router`, are applied through the registered
 * definition's adapter and the objects read back equal the goldens of
 * test/fixtures/k8s-traffic/ (spec, labels, annotations), nothing else of the plane exists;
 * an empty table deletes the rollout's objects, a second rollout is left alone (not even
 * rewritten), a restarted plane finds and deletes what a rollout gone meanwhile left; a
 * refusal (an invalid object, a namespace that does not exist) rejects with one line naming
 * the object, and a stopped API server with one "unreachable" line.
 * Needs `bash scripts/k8s-build.sh` and `bash scripts/k8s-crds.sh` once (skipped loudly without them).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { ListenerRoutes } from '../../src/core/route-table.js';
import type { DataPlaneAdapter } from '../../src/dataplane/adapter.js';
import { DATA_PLANE_LABEL } from '../../src/dataplane/kubernetes/data-plane.js';
import { dataPlaneNamed } from '../../src/dataplane/registry.js';
import { KubeClient } from '../../src/kube/client.js';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { installCrds, type K8sCluster, k8sCrdFiles, k8sCrdsMissing, k8sMissing, objectPath, startCluster, waitK8s } from '../helpers/k8s.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { differs, golden, type Obj, PLANES, type Plane, PLURAL, API_VERSION } from '../helpers/k8s-planes.js';

const skip = k8sMissing() || k8sCrdsMissing();
const NAMESPACE = 'shop';

const CANARY = `    canary:
      steps:
        - setWeight: 20
        - pause: {}
        - setWeight: 50
        - pause: {}
`;
/** As test/unit/k8s-traffic.test.ts's canary scenario (Istio's outlierDetection is in its goldens). */
const OUTLIERS = '    outlierDetection: {consecutiveErrors: 5, baseEjectionSeconds: 30s}\n';
const STEPS = ['20', '50', 'promoted'] as const;

/** The engine sim releasing v2 of web by canary with `traffic.router` set: rollout web's listeners at each step. */
async function canarySteps(plane: Plane): Promise<Record<(typeof STEPS)[number], ListenerRoutes[]>> {
  const sim = makeSim();
  const apply = (version: string) =>
    sim.controller.apply(
      rolloutManifest({ ...SIM_APP, version, strategy: CANARY }).replace(
        '    listen: 127.0.0.1:18080\n',
        `    listen: 127.0.0.1:18080\n${OUTLIERS}${PLANES[plane].traffic}`,
      ),
      '/tmp/web.yaml',
      sim.by,
    );
  const listeners = () => structuredClone(sim.router.current!.listeners.filter((l) => l.rollout === 'web'));
  const promote = async () => {
    await sim.controller.promote('web', {}, sim.by);
    await sim.run(5000);
  };
  await apply('v1');
  await sim.run(3000);
  await apply('v2');
  await sim.run(3000);
  const at20 = listeners();
  assert.equal(at20[0]?.dataPlane, plane, 'the engine names the plane in the table');
  await promote();
  const at50 = listeners();
  await promote();
  assert.equal((await sim.status('web')).phase, 'Healthy');
  return { '20': at20, '50': at50, promoted: listeners() };
}

describe('the Kubernetes data planes against a real API server', { skip }, () => {
  let cluster: K8sCluster;
  let client: KubeClient;
  const opened: DataPlaneAdapter[] = [];
  const logs: string[] = [];

  const open = (plane: Plane, kubeClient = client): DataPlaneAdapter => {
    const def = dataPlaneNamed(plane);
    assert.ok(def?.open, `${plane} is registered with an adapter`);
    const adapter = def.open({ stateDir: '/nonexistent', log: (l) => logs.push(l), kube: { client: kubeClient, namespace: NAMESPACE } });
    opened.push(adapter);
    return adapter;
  };

  /** Every object of a plane in the namespace (by its label), optionally of one rollout: `Kind/name`, sorted. */
  const stored = async (plane: Plane, rollout?: string): Promise<Obj[]> => {
    const selector = encodeURIComponent(`${DATA_PLANE_LABEL}=${plane}${rollout ? `,sluice.dev/rollout=${rollout}` : ''}`);
    const out: Obj[] = [];
    for (const kind of PLANES[plane].kinds) {
      const apiVersion = API_VERSION[kind]!;
      const r = await cluster.request<{ items: Obj[] }>(
        'GET',
        `${objectPath({ apiVersion, metadata: { namespace: NAMESPACE } }, PLURAL[kind]!, false)}?labelSelector=${selector}`,
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      out.push(...r.body.items.map((o) => ({ ...o, kind })));
    }
    return out;
  };
  const names = (objects: Obj[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();

  before(
    async () => {
      cluster = await startCluster();
      const files = k8sCrdFiles();
      const crds = [...files.gatewayApi, ...files.istio]
        .flatMap((f) => parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string } }))
        .filter((d) => d?.kind === 'CustomResourceDefinition');
      await installCrds(cluster, crds);
      const ns = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
      assert.equal(ns.status, 201, JSON.stringify(ns.body));
      for (const path of [
        `/apis/gateway.networking.k8s.io/v1/namespaces/${NAMESPACE}/httproutes`,
        `/apis/networking.istio.io/v1/namespaces/${NAMESPACE}/virtualservices`,
        `/apis/networking.istio.io/v1/namespaces/${NAMESPACE}/destinationrules`,
      ])
        await waitK8s(cluster, `${path} served`, async () => (await cluster.request('GET', path)).status === 200);
      client = new KubeClient({ server: cluster.server, token: cluster.token, ca: readFileSync(cluster.caFile, 'utf8') });
    },
    { timeout: 300_000 },
  );
  after(async () => {
    for (const a of opened) a.close();
    await client?.close();
    await cluster?.stop();
  });

  for (const plane of Object.keys(PLANES) as Plane[]) {
    test(`${plane}: each canary step's objects are stored as the goldens, nothing else of the plane exists, an empty table deletes them all`, {
      timeout: 120_000,
    }, async () => {
      const steps = await canarySteps(plane);
      const adapter = open(plane);
      for (const step of STEPS) {
        assert.deepEqual(await adapter.apply(1, steps[step]), { failed: [] });
        const want = golden(plane, step);
        const got = await stored(plane);
        assert.deepEqual(names(got), names(want), `${plane} ${step}: exactly the golden's objects`);
        for (const w of want) {
          const g = got.find((o) => o.kind === w.kind && o.metadata.name === w.metadata.name)!;
          const d =
            differs(w.spec, g.spec, `${w.kind} ${w.metadata.name} spec`) ??
            differs({ ...w.metadata.labels, [DATA_PLANE_LABEL]: plane }, g.metadata.labels ?? {}, `${w.kind} ${w.metadata.name} labels`) ??
            differs(w.metadata.annotations ?? {}, g.metadata.annotations ?? {}, `${w.kind} ${w.metadata.name} annotations`);
          assert.equal(d, undefined, `${plane} ${step}: ${d}`);
        }
      }
      await adapter.apply(2, []);
      assert.deepEqual(names(await stored(plane)), [], `${plane}: an empty table leaves nothing of rollout web`);
      await assert.rejects(Promise.resolve(adapter.window('web', 2, 0)), {
        message: `data plane ${plane} does not measure requests: give the rollout a prometheus analysis (docs/kubernetes-traffic.md)`,
      });
      assert.deepEqual(await adapter.traffic(), []);
    });
  }

  test('a rollout gone is deleted, the other left untouched (not even rewritten); a restarted plane finds what a rollout gone meanwhile left', {
    timeout: 120_000,
  }, async () => {
    const steps = await canarySteps('gatewayApi');
    const web = steps['20'];
    const api = structuredClone(web).map((l) => ({ ...l, rollout: 'api', listen: l.listen.replace('18080', '18090') }));
    const first = open('gatewayApi');
    await first.apply(1, [...web, ...api]);
    const apiBefore = await stored('gatewayApi', 'api');
    assert.deepEqual(names(apiBefore), ['HTTPRoute/api', 'Service/api-canary', 'Service/api-stable']);
    assert.equal((await stored('gatewayApi', 'web')).length, 3);
    await first.apply(2, api);
    assert.deepEqual(names(await stored('gatewayApi', 'web')), [], 'web is gone from the table: its objects are deleted');
    const versions = (objects: Obj[]) => objects.map((o) => `${o.kind}/${o.metadata.name}@${o.metadata.resourceVersion}`).sort();
    assert.deepEqual(versions(await stored('gatewayApi', 'api')), versions(apiBefore), 'api is untouched');

    // A restart: a new adapter knows nothing; web comes back in the table, and api leaves while "down".
    await first.apply(3, [...web, ...api]);
    const restarted = open('gatewayApi');
    await restarted.apply(4, web);
    assert.deepEqual(names(await stored('gatewayApi', 'api')), [], 'the restarted plane lists what it wrote and deletes what no rollout uses');
    assert.equal((await stored('gatewayApi', 'web')).length, 3);
    assert.equal((await stored('istio')).length, 0, 'another plane never sees these objects');
    await restarted.apply(5, []);
    assert.deepEqual(names(await stored('gatewayApi')), []);
  });

  test('a refusal rejects with one line naming the object: an invalid HTTPRoute after its Services (half-applied, said so), a namespace that does not exist', {
    timeout: 120_000,
  }, async () => {
    const steps = await canarySteps('gatewayApi');
    const adapter = open('gatewayApi');
    const invalid = steps['20'].map((l) => ({
      ...l,
      dataPlaneSettings: { ...(l.dataPlaneSettings as Record<string, unknown>), hostnames: ['Not_A_Host!'] },
    }));
    const err = await adapter.apply(1, invalid).then(
      () => assert.fail('an invalid HTTPRoute is refused'),
      (e: Error) => e,
    );
    assert.doesNotMatch(err.message, /\n/);
    assert.match(
      err.message,
      /^data plane gatewayApi: rollout web: HTTPRoute web in namespace shop was not applied: Kubernetes API: cannot patch httproutes\.gateway\.networking\.k8s\.io web in namespace shop: .*hostnames.*\(Invalid, 422\); rollout web is half-applied \(written before it: Service web-stable, Service web-canary\), the next route table retries$/,
    );
    // The next (valid) table completes it.
    await adapter.apply(2, steps['20']);
    assert.deepEqual(names(await stored('gatewayApi', 'web')), ['HTTPRoute/web', 'Service/web-canary', 'Service/web-stable']);
    await adapter.apply(3, []);

    const services = open('services');
    const elsewhere = (await canarySteps('services'))['20'].map((l) => ({ ...l, namespace: 'nowhere' }));
    await assert.rejects(services.apply(1, elsewhere), (e: Error) => {
      assert.doesNotMatch(e.message, /\n/);
      assert.match(
        e.message,
        /^data plane services: rollout web: Service web in namespace nowhere was not applied: Kubernetes API: .*namespaces "nowhere" not found/,
      );
      return true;
    });
  });

  test('the API server stopped: apply rejects with one "unreachable" line', { timeout: 120_000 }, async () => {
    const steps = await canarySteps('services');
    const adapter = open('services');
    await adapter.apply(1, steps['20']);
    await cluster.stop();
    // Promoted: every Service now selects revision 2, so they are written (an unchanged one would not be).
    await assert.rejects(adapter.apply(2, steps.promoted), (e: Error) => {
      assert.doesNotMatch(e.message, /\n/);
      assert.match(
        e.message,
        /^data plane services: rollout web: Service web in namespace shop was not applied: the Kubernetes API at https:\/\/127\.0\.0\.1:\d+ is unreachable \(/,
      );
      return true;
    });
  });
});

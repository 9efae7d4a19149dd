/**
 * The objects of the Kubernetes traffic renderers (src/dataplane/kubernetes/) against a real
 * kube-apiserver with the official CRDs installed (Gateway API's standard channel and Istio's
 * API definitions, scripts/k8s-crds.sh): every object of every golden file of
 * test/fixtures/k8s-traffic/ is created (strict field validation: an unknown field is refused,
 * not pruned) and stored with the spec the golden sets, an invalid HTTPRoute and an invalid
 * DestinationRule are refused (so validation is on), and a canary's steps applied in order
 * (server-side apply, field manager sluice) update the same objects.
 * ingress-nginx's annotations are not validated by the API server (the Ingress is a built-in
 * kind; only the controller reads them): for the Ingress only its spec is checked here.
 * Needs `bash scripts/k8s-build.sh` and `bash scripts/k8s-crds.sh` once (skipped loudly without
 * them; fails in CI).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { ListenerRoutes } from '../../src/core/route-table.js';
import type { KubeObject } from '../../src/dataplane/kubernetes/common.js';
import { renderGatewayApi } from '../../src/dataplane/kubernetes/gateway-api.js';
import { renderIstio } from '../../src/dataplane/kubernetes/istio.js';
import { renderNginxIngress } from '../../src/dataplane/kubernetes/nginx-ingress.js';
import { applyObject, installCrds, type K8sCluster, k8sCrdFiles, k8sCrdsMissing, k8sMissing, objectPath, startCluster, waitK8s } from '../helpers/k8s.js';

const skip = k8sMissing() || k8sCrdsMissing();
const GOLDEN_DIR = fileURLToPath(new URL('../../../test/fixtures/k8s-traffic/', import.meta.url));
const NAMESPACE = 'shop';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string>; generation?: number };
  spec: Record<string, unknown>;
}
interface Status {
  kind: string;
  code?: number;
  reason?: string;
  message?: string;
}

/** The resource of each kind the renderers write. */
const PLURAL: Record<string, string> = {
  Service: 'services',
  Ingress: 'ingresses',
  HTTPRoute: 'httproutes',
  VirtualService: 'virtualservices',
  DestinationRule: 'destinationrules',
};
const plural = (o: Obj) => {
  const p = PLURAL[o.kind];
  if (!p) throw new Error(`no resource known for kind ${o.kind}`);
  return p;
};

function readYaml<T>(file: string): T[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
      return d.toJS() as T;
    })
    .filter((o) => o !== null && o !== undefined);
}

const goldens = (() => {
  const out: { name: string; objects: Obj[] }[] = [];
  for (const kind of readdirSync(GOLDEN_DIR).sort())
    for (const f of readdirSync(join(GOLDEN_DIR, kind)).sort())
      if (f.endsWith('.yaml')) out.push({ name: `${kind}/${f}`, objects: readYaml<Obj>(join(GOLDEN_DIR, kind, f)) });
  return out;
})();

/**
 * Every field the golden sets is stored as it was written: objects key by key (the server may
 * add defaults), arrays element by element and of the same length (it may not add or drop one).
 * Returns the first difference, or undefined.
 */
function differs(want: unknown, got: unknown, at = ''): string | undefined {
  if (Array.isArray(want)) {
    if (!Array.isArray(got) || got.length !== want.length) return `${at}: want ${JSON.stringify(want)}, stored ${JSON.stringify(got)}`;
    for (let i = 0; i < want.length; i++) {
      const d = differs(want[i], got[i], `${at}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (want !== null && typeof want === 'object') {
    if (got === null || typeof got !== 'object' || Array.isArray(got)) return `${at}: want ${JSON.stringify(want)}, stored ${JSON.stringify(got)}`;
    for (const [k, v] of Object.entries(want)) {
      const d = differs(v, (got as Record<string, unknown>)[k], `${at}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return want === got ? undefined : `${at}: want ${JSON.stringify(want)}, stored ${JSON.stringify(got)}`;
}

function assertStored(want: Obj, got: Obj, where: string) {
  const d =
    differs(want.spec, got.spec, `${want.kind} ${want.metadata.name} spec`) ??
    differs(want.metadata.labels ?? {}, got.metadata.labels ?? {}, `${want.kind} ${want.metadata.name} labels`) ??
    differs(want.metadata.annotations ?? {}, got.metadata.annotations ?? {}, `${want.kind} ${want.metadata.name} annotations`);
  assert.equal(d, undefined, `${where}: ${d}`);
}

// ---- Route tables beyond the goldens: the shapes the engine sim's releases do not reach ----

const backend = (revision: number, variant?: string) => ({
  revision,
  version: `v${revision}`,
  ...(variant !== undefined ? { variant } : {}),
  endpoints: [{ id: `web-${revision}-a`, host: '127.0.0.1', port: 20000 + revision }],
});
const main = (over: Partial<ListenerRoutes> = {}): ListenerRoutes => ({
  listen: '127.0.0.1:18080',
  rollout: 'web',
  role: 'main',
  balancer: 'round-robin',
  rules: [],
  split: [
    { revision: 1, weight: 80 },
    { revision: 2, weight: 20 },
  ],
  backends: [backend(1), backend(2)],
  ...over,
});
const mirror = (revision: number, percent: number) => ({ name: 'dark', revision, percent, queueLimit: 100, maxBodyBytes: 1048576 });
const ports = { port: 8080, targetPort: 3000 };

/** Name → the objects the renderers write for it (only the route objects; the Services are the goldens' shape). */
const EXTRA: Record<string, () => KubeObject[]> = (() => {
  const gw = (listeners: ListenerRoutes[]) =>
    renderGatewayApi({
      rollout: 'web',
      namespace: NAMESPACE,
      listeners,
      settings: {
        parentRefs: [{ name: 'public-gateway', namespace: 'gateway-system', sectionName: 'https' }],
        hostnames: ['web.example.com'],
        mirrorPercent: true,
        ...ports,
      },
    });
  const istio = (listeners: ListenerRoutes[]) =>
    renderIstio({ rollout: 'web', namespace: NAMESPACE, listeners, settings: { hosts: ['web.example.com'], gateways: ['mesh'], ...ports } });
  const stopped = [main({ hold: { mode: 'stopped' }, maintenance: { status: 503, body: 'back soon', retryAfterSeconds: 30 } })];
  const matches = [
    main({
      rules: [
        { name: 'beta', cookie: { name: 'beta', exact: 'yes' }, revision: 2 },
        { name: 'gold', header: { name: 'X-Tier', prefix: 'gold.' }, revision: 2 },
        { name: 're', header: { name: 'X-Tier', regex: 'gold|silver' }, pathPrefix: '/api', methods: ['POST', 'PUT'], revision: 2 },
        {
          name: 'q',
          query: { name: 'canary', exact: 'true' },
          split: [
            { revision: 1, weight: 1 },
            { revision: 2, weight: 2 },
          ],
        },
      ],
      mirrors: [mirror(2, 12.5)],
    }),
  ];
  const three = [
    main({
      split: [
        { revision: 1, weight: 40 },
        { revision: 2, weight: 30 },
        { revision: 3, weight: 30 },
      ],
      backends: [backend(1, 'a'), backend(2, 'b'), backend(3, 'c')],
      variantHeader: 'x-sluice-variant',
      balancer: 'least-requests',
      resilience: { outlier: { consecutiveFailures: 5, baseEjectionMs: 1500, maxEjectedPercent: 50 }, timeouts: { connectMs: 1500 } },
    }),
  ];
  return {
    'gateway-api stop-traffic (a rule without backendRefs)': () => gw(stopped),
    'istio stop-traffic (directResponse and retry-after)': () => istio(stopped),
    'gateway-api cookie, prefix, regex, query, methods, a 12.5 % mirror (fraction)': () => gw(matches),
    'istio cookie, prefix, regex, query, methods, a 12.5 % mirror': () => istio(matches),
    'gateway-api three variants': () => gw(three),
    'istio three variants, least-requests, outlier detection, connect timeout': () => istio(three),
    'nginx-ingress a cookie route': () =>
      renderNginxIngress({
        rollout: 'web',
        namespace: NAMESPACE,
        listeners: [main({ rules: [{ name: 'beta', cookie: { name: 'beta', exact: 'always' }, revision: 2 }] })],
        settings: { ingress: 'web', host: 'web.example.com', path: '/', pathType: 'Prefix', ingressClassName: 'nginx', ...ports },
      }),
  };
})();

describe('the traffic objects against a real API server with the official Gateway API and Istio CRDs', { skip }, () => {
  let cluster: K8sCluster;

  before(
    async () => {
      cluster = await startCluster();
      const files = k8sCrdFiles();
      const crds = [...files.gatewayApi, ...files.istio]
        .flatMap((f) => readYaml<{ kind: string; metadata: { name: string } }>(f))
        // Gateway API ships a ValidatingAdmissionPolicy beside its CRDs (safe upgrades): not needed here.
        .filter((d) => d.kind === 'CustomResourceDefinition');
      assert.ok(crds.some((c) => c.metadata.name === 'httproutes.gateway.networking.k8s.io'));
      assert.ok(crds.some((c) => c.metadata.name === 'virtualservices.networking.istio.io'));
      assert.ok(crds.some((c) => c.metadata.name === 'destinationrules.networking.istio.io'));
      await installCrds(cluster, crds);
      const ns = await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
      assert.equal(ns.status, 201, JSON.stringify(ns.body));
      // Established is served; wait until each resource answers a list in the namespace.
      for (const path of [
        `/apis/gateway.networking.k8s.io/v1/namespaces/${NAMESPACE}/httproutes`,
        `/apis/networking.istio.io/v1/namespaces/${NAMESPACE}/virtualservices`,
        `/apis/networking.istio.io/v1/namespaces/${NAMESPACE}/destinationrules`,
      ])
        await waitK8s(cluster, `${path} served`, async () => (await cluster.request('GET', path)).status === 200);
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await cluster?.stop();
  });

  test('there are goldens of the four kinds and of the five object kinds', () => {
    assert.deepEqual([...new Set(goldens.map((g) => g.name.split('/')[0]))], ['gateway-api', 'istio', 'nginx-ingress', 'services']);
    assert.deepEqual([...new Set(goldens.flatMap((g) => g.objects.map((o) => o.kind)))].sort(), Object.keys(PLURAL).sort());
  });

  for (const golden of goldens) {
    test(`${golden.name}: every object is created (201) and stored with the spec it sets`, { timeout: 60_000 }, async () => {
      assert.ok(golden.objects.length > 0);
      try {
        for (const o of golden.objects) {
          const r = await cluster.request<Obj | Status>('POST', `${objectPath(o, plural(o), false)}?fieldValidation=Strict&fieldManager=sluice`, o);
          assert.equal(r.status, 201, `${golden.name}: ${o.kind} ${o.metadata.name} refused: ${JSON.stringify(r.body)}`);
          assertStored(o, r.body as Obj, golden.name);
          const read = await cluster.request<Obj>('GET', objectPath(o, plural(o)));
          assert.equal(read.status, 200);
          assertStored(o, read.body, `${golden.name} (read back)`);
        }
      } finally {
        for (const o of golden.objects) await cluster.request('DELETE', objectPath(o, plural(o)));
        for (const o of golden.objects)
          await waitK8s(cluster, `${o.kind} ${o.metadata.name} deleted`, async () => (await cluster.request('GET', objectPath(o, plural(o)))).status === 404);
      }
    });
  }

  for (const [name, render] of Object.entries(EXTRA)) {
    test(`beyond the goldens: ${name}: every object is created (201) and stored as written`, { timeout: 60_000 }, async () => {
      const objects = render() as unknown as Obj[];
      try {
        for (const o of objects) {
          const r = await cluster.request<Obj | Status>('POST', `${objectPath(o, plural(o), false)}?fieldValidation=Strict&fieldManager=sluice`, o);
          assert.equal(r.status, 201, `${name}: ${o.kind} ${o.metadata.name} refused: ${JSON.stringify(r.body)}`);
          assertStored(o, r.body as Obj, name);
        }
      } finally {
        for (const o of objects) await cluster.request('DELETE', objectPath(o, plural(o)));
        for (const o of objects)
          await waitK8s(cluster, `${o.kind} ${o.metadata.name} deleted`, async () => (await cluster.request('GET', objectPath(o, plural(o)))).status === 404);
      }
    });
  }

  test('validation is on: an invalid HTTPRoute and an invalid DestinationRule are refused (422), an unknown field too', async () => {
    const route = goldens.find((g) => g.name === 'gateway-api/canary-20.yaml')!.objects.find((o) => o.kind === 'HTTPRoute')!;
    const withRef = (ref: Record<string, unknown>): Obj => {
      const o = structuredClone(route);
      o.metadata.name = 'invalid';
      (o.spec.rules as { backendRefs: unknown[] }[])[0]!.backendRefs[0] = ref;
      return o;
    };
    const create = (o: Obj) => cluster.request<Status>('POST', objectPath(o, plural(o), false), o);

    const negative = await create(withRef({ name: 'web-stable', port: 80, weight: -1 }));
    assert.equal(negative.status, 422, JSON.stringify(negative.body));
    assert.equal(negative.body.reason, 'Invalid');
    assert.match(negative.body.message ?? '', /weight/);

    const nameless = await create(withRef({ port: 80, weight: 80 }));
    assert.equal(nameless.status, 422, JSON.stringify(nameless.body));
    assert.match(nameless.body.message ?? '', /name/);

    const dr = structuredClone(goldens.find((g) => g.name === 'istio/canary-20.yaml')!.objects.find((o) => o.kind === 'DestinationRule')!);
    dr.metadata.name = 'invalid';
    dr.spec.trafficPolicy = { loadBalancer: { simple: 'FASTEST' } };
    const badDr = await create(dr);
    assert.equal(badDr.status, 422, JSON.stringify(badDr.body));
    assert.match(badDr.body.message ?? '', /FASTEST|simple/);

    // Without strict validation an unknown field is pruned silently; with it, refused.
    const typo = withRef({ name: 'web-stable', port: 80, wieght: 80 });
    const strict = await cluster.request<Status>('POST', `${objectPath(typo, 'httproutes', false)}?fieldValidation=Strict`, typo);
    assert.ok(strict.status === 400 || strict.status === 422, `${strict.status} ${JSON.stringify(strict.body)}`);
    assert.match(strict.body.message ?? '', /unknown field.*wieght/);

    // Nothing was stored.
    for (const kind of ['httproutes', 'destinationrules']) {
      const group = kind === 'httproutes' ? 'gateway.networking.k8s.io' : 'networking.istio.io';
      assert.equal((await cluster.request('GET', `/apis/${group}/v1/namespaces/${NAMESPACE}/${kind}/invalid`)).status, 404);
    }
  });

  for (const kind of ['gateway-api', 'istio']) {
    test(`${kind}: the canary steps 20 → 50 → promoted applied in order update the same objects`, { timeout: 60_000 }, async () => {
      const steps = ['canary-20', 'canary-50', 'canary-promoted'].map((s) => goldens.find((g) => g.name === `${kind}/${s}.yaml`)!);
      const uids = new Map<string, string>();
      const generations = new Map<string, number>();
      try {
        for (const [i, step] of steps.entries()) {
          assert.deepEqual(
            step.objects.map((o) => `${o.kind}/${o.metadata.name}`),
            steps[0]!.objects.map((o) => `${o.kind}/${o.metadata.name}`),
            'the same objects at every step',
          );
          for (const o of step.objects) {
            const key = `${o.kind}/${o.metadata.name}`;
            const r = await applyObject<Obj & { metadata: { uid: string; generation: number } }>(cluster, o, plural(o));
            assert.equal(r.status, i === 0 ? 201 : 200, `${step.name}: ${key} refused: ${JSON.stringify(r.body)}`);
            const read = await cluster.request<
              Obj & { metadata: { uid: string; generation: number; managedFields: { manager: string; operation: string }[] } }
            >('GET', objectPath(o, plural(o)));
            assertStored(o, read.body, step.name);
            assert.ok(
              read.body.metadata.managedFields.some((f) => f.manager === 'sluice' && f.operation === 'Apply'),
              `${key} is managed by sluice (Apply)`,
            );
            // The same object (uid) all along; its generation moves when its spec changes.
            if (i === 0) uids.set(key, read.body.metadata.uid);
            else assert.equal(read.body.metadata.uid, uids.get(key), `${step.name}: ${key} was updated, not replaced`);
            const before = generations.get(key);
            const prev = i > 0 ? steps[i - 1]!.objects.find((p) => `${p.kind}/${p.metadata.name}` === key)! : undefined;
            if (prev && o.kind !== 'Service') {
              const changed = JSON.stringify(prev.spec) !== JSON.stringify(o.spec);
              assert.equal(read.body.metadata.generation, changed ? before! + 1 : before, `${step.name}: ${key} generation`);
            }
            generations.set(key, read.body.metadata.generation);
          }
        }
        // The route's weights did move: 80/20, 50/50, then 100/0.
        const route = kind === 'gateway-api' ? 'HTTPRoute' : 'VirtualService';
        assert.equal(generations.get(`${route}/web`), 3, `${route} web changed at each step`);
      } finally {
        for (const o of steps[0]!.objects) await cluster.request('DELETE', objectPath(o, plural(o)));
        for (const o of steps[0]!.objects)
          await waitK8s(cluster, `${o.kind} ${o.metadata.name} deleted`, async () => (await cluster.request('GET', objectPath(o, plural(o)))).status === 404);
      }
    });
  }
});

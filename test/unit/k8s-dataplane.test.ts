/**
 * The Kubernetes data planes' adapter (src/dataplane/kubernetes/data-plane.ts) without a
 * cluster: opened without one it refuses listeners and ignores an empty table; with a
 * recording client, what it writes and deletes: Services before routes, unchanged objects
 * not written again, routes deleted before their Services, everything re-applied after a
 * restart, a render refusal before any write. (Against a real API server:
 * test/integration/k8s-dataplane.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ListenerRoutes } from '../../src/core/route-table.js';
import { DATA_PLANE_LABEL } from '../../src/dataplane/kubernetes/data-plane.js';
import { dataPlaneNamed } from '../../src/dataplane/registry.js';
import type { KubeClient, Resource } from '../../src/kube/client.js';
import { loadRollouts } from '../../src/spec/load.js';
import { buildRouteTable } from '../../src/engine/routes.js';

const PLANES = ['services', 'gatewayApi', 'istio', 'nginxIngress'];

const main = (rollout: string, canaryWeight: number, over: Partial<ListenerRoutes> = {}): ListenerRoutes => ({
  listen: `127.0.0.1:${rollout === 'web' ? 18080 : 18090}`,
  rollout,
  role: 'main',
  balancer: 'round-robin',
  rules: [],
  split: [
    { revision: 1, weight: 100 - canaryWeight },
    { revision: 2, weight: canaryWeight },
  ],
  backends: [1, 2].map((revision) => ({ revision, version: `v${revision}`, endpoints: [] })),
  dataPlane: 'gatewayApi',
  dataPlaneSettings: { parentRefs: [{ name: 'public-gateway' }], hostnames: [], mirrorPercent: true, port: 80, targetPort: 'http' },
  ...over,
});

/** A KubeClient that records every call and keeps the objects applied (what a list answers). */
function recordingClient() {
  const calls: string[] = [];
  const objects = new Map<string, { metadata: { name: string; labels?: Record<string, string> } }>();
  const id = (r: Resource, ns: string | undefined, name: string) => `${r.plural}/${ns}/${name}`;
  const client = {
    apply: async (r: Resource, ns: string | undefined, o: { kind: string; metadata: { name: string; labels?: Record<string, string> } }) => {
      calls.push(`apply ${o.kind} ${ns}/${o.metadata.name}`);
      objects.set(id(r, ns, o.metadata.name), o);
      return o;
    },
    get: async (r: Resource, ns: string | undefined, name: string) => objects.get(id(r, ns, name)),
    delete: async (r: Resource, ns: string | undefined, name: string) => {
      calls.push(`delete ${r.plural} ${ns}/${name}`);
      objects.delete(id(r, ns, name));
    },
    list: async (r: Resource, ns: string | undefined, selector: string) => {
      calls.push(`list ${r.plural} ${ns} ${selector}`);
      const want = Object.fromEntries(selector.split(',').map((kv) => kv.split('=')));
      const items = [...objects]
        .filter(([k, o]) => k.startsWith(`${r.plural}/${ns}/`) && Object.entries(want).every(([lk, lv]) => o.metadata.labels?.[lk] === lv))
        .map(([, o]) => o);
      return { metadata: {}, items };
    },
  };
  return { calls, objects, client: client as unknown as KubeClient };
}

test('registered: the four Kubernetes planes, by their kind names; none compares mirrors; gatewayApi and nginxIngress need their settings', () => {
  for (const name of PLANES) {
    const p = dataPlaneNamed(name);
    assert.ok(p?.open && p.settings, name);
    assert.equal(p.comparesMirrors, false);
  }
  assert.deepEqual(dataPlaneNamed('gatewayApi')?.checkTraffic?.({ router: { router: 'gatewayApi' } }), [
    'gatewayApi',
    'is required with router: gatewayApi',
    'add traffic.gatewayApi: {parentRefs: [{name: public-gateway}]}',
  ]);
  assert.equal(dataPlaneNamed('gatewayApi')?.checkTraffic?.({ router: { router: 'gatewayApi' }, gatewayApi: {} }), undefined);
  assert.equal(dataPlaneNamed('istio')?.checkTraffic, undefined, 'istio and services have defaults');
});

test('without a cluster connection: an empty table is a no-op, listeners are refused in one line saying to start sluice with --kubeconfig', async () => {
  for (const name of PLANES) {
    const adapter = dataPlaneNamed(name)!.open!({ stateDir: '/nonexistent', log: () => undefined });
    assert.deepEqual(await adapter.apply(1, []), { failed: [] });
    await assert.rejects(adapter.apply(2, [main('web', 20, { dataPlane: name })]), {
      message: `data plane ${name} (rollout web) writes Kubernetes objects, but this control plane has no cluster connection: start sluice with --kubeconfig`,
    });
    await assert.rejects(Promise.resolve(adapter.window('web', 2, 0)), { message: new RegExp(`^data plane ${name} does not measure requests`) });
    await assert.rejects(Promise.resolve(adapter.samples('web', 2, 0)), /give the rollout a prometheus analysis \(docs\/kubernetes-traffic\.md\)/);
    assert.deepEqual(await adapter.traffic(), []);
    assert.equal(adapter.knows('web-2-a'), false);
    assert.equal(await adapter.waitIdle('web-2-a', 10), true);
  }
});

test('with a client: Services before the route, an unchanged object is not written again, a rollout gone is deleted route first, a restart re-applies', async () => {
  const { calls, client, objects } = recordingClient();
  const open = () => dataPlaneNamed('gatewayApi')!.open!({ stateDir: '/nonexistent', log: () => undefined, kube: { client, namespace: 'shop' } });
  const plane = open();
  assert.deepEqual(await plane.apply(1, []), { failed: [] });
  assert.equal(calls.join('; '), '', 'an empty table before anything was written calls no API');

  await plane.apply(2, [main('web', 20), main('api', 20, { namespace: 'payments' })]);
  const lists = calls.filter((c) => c.startsWith('list'));
  assert.deepEqual(
    lists.sort(),
    [
      `list httproutes payments app.kubernetes.io/managed-by=sluice,${DATA_PLANE_LABEL}=gatewayApi`,
      `list httproutes shop app.kubernetes.io/managed-by=sluice,${DATA_PLANE_LABEL}=gatewayApi`,
      `list services payments app.kubernetes.io/managed-by=sluice,${DATA_PLANE_LABEL}=gatewayApi`,
      `list services shop app.kubernetes.io/managed-by=sluice,${DATA_PLANE_LABEL}=gatewayApi`,
    ],
    'what exists is listed once per namespace, by the plane label',
  );
  const applies = calls.filter((c) => c.startsWith('apply'));
  assert.deepEqual(
    applies.filter((c) => c.includes('shop/')),
    ['apply Service shop/web-stable', 'apply Service shop/web-canary', 'apply HTTPRoute shop/web'],
  );
  assert.deepEqual(
    applies.filter((c) => c.includes('payments/')),
    ['apply Service payments/api-stable', 'apply Service payments/api-canary', 'apply HTTPRoute payments/api'],
    "the listener's namespace (spec.kubernetes.namespace) wins over the control plane's",
  );

  calls.length = 0;
  await plane.apply(3, [main('web', 20), main('api', 20, { namespace: 'payments' })]);
  assert.equal(calls.join('; '), '', 'the same table again: nothing written, nothing listed');

  await plane.apply(4, [main('web', 50), main('api', 20, { namespace: 'payments' })]);
  assert.deepEqual(calls, ['apply HTTPRoute shop/web'], 'only what changed is written');

  // Meanwhile another plane took web-canary over (the rollout moved to istio): not this plane's to delete any more.
  const taken = objects.get('services/shop/web-canary')!;
  objects.set('services/shop/web-canary', { metadata: { ...taken.metadata, labels: { ...taken.metadata.labels, [DATA_PLANE_LABEL]: 'istio' } } });
  calls.length = 0;
  await plane.apply(5, [main('api', 20, { namespace: 'payments' })]);
  assert.deepEqual(calls, ['delete httproutes shop/web', 'delete services shop/web-stable'], 'routes before Services; only what is still its own');
  assert.ok(objects.has('services/shop/web-canary'));
  objects.delete('services/shop/web-canary');

  // A restart: the cache is empty, so what is rendered is written again and what is left over found and deleted.
  objects.set('services/shop/orphan-stable', {
    metadata: { name: 'orphan-stable', labels: { 'app.kubernetes.io/managed-by': 'sluice', [DATA_PLANE_LABEL]: 'gatewayApi' } },
  });
  objects.set('services/shop/someone-else', {
    metadata: { name: 'someone-else', labels: { 'app.kubernetes.io/managed-by': 'sluice', [DATA_PLANE_LABEL]: 'istio' } },
  });
  calls.length = 0;
  const restarted = open();
  await restarted.apply(6, [main('api', 20, { namespace: 'payments' })]);
  assert.deepEqual(
    calls.filter((c) => !c.startsWith('list')),
    ['apply Service payments/api-stable', 'apply Service payments/api-canary', 'apply HTTPRoute payments/api', 'delete services shop/orphan-stable'],
  );
  assert.ok(objects.has('services/shop/someone-else'), "another plane's object is never deleted");
});

test('a render refusal rejects before anything is written; a plane without its settings says what to add', async () => {
  const { calls, client } = recordingClient();
  const plane = dataPlaneNamed('services')!.open!({ stateDir: '/nonexistent', log: () => undefined, kube: { client, namespace: 'shop' } });
  const withRule = main('api', 20, {
    dataPlane: 'services',
    dataPlaneSettings: undefined,
    rules: [{ name: 'testers', header: { name: 'x', exact: '1' }, revision: 2 }],
  });
  await assert.rejects(
    plane.apply(1, [main('web', 20, { dataPlane: 'services', dataPlaneSettings: undefined }), withRule]),
    /rollout api: match rule testers cannot be expressed/,
  );
  assert.deepEqual(
    calls.filter((c) => !c.startsWith('list')),
    [],
  );
  const gw = dataPlaneNamed('gatewayApi')!.open!({ stateDir: '/nonexistent', log: () => undefined, kube: { client, namespace: 'shop' } });
  await assert.rejects(gw.apply(1, [main('web', 20, { dataPlaneSettings: undefined })]), {
    message: 'data plane gatewayApi: rollout web gives no traffic.gatewayApi settings; add traffic.gatewayApi: {parentRefs: [{name: public-gateway}]}',
  });
});

const rolloutDoc = (traffic: string, extra = '') => `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
${extra}  template: {version: v1, command: node, image: web:v1}
  traffic:
    listen: 127.0.0.1:8080
${traffic}
  strategy: {rolling: {}}
`;

test('specs name them in traffic.router; istio and services take defaults, gatewayApi refuses no settings; spec.kubernetes.namespace reaches the listeners', () => {
  const [istio] = loadRollouts(rolloutDoc('    router: istio'), 'web.yaml');
  assert.deepEqual(istio!.spec.traffic.dataPlaneSettings, { hosts: [], gateways: [], port: 80, targetPort: 'http' });
  const [services] = loadRollouts(rolloutDoc('    router: {services: {port: 8080}}'), 'web.yaml');
  assert.deepEqual(services!.spec.traffic.dataPlaneSettings, { port: 8080, targetPort: 'http' });
  assert.throws(
    () => loadRollouts(rolloutDoc('    router: gatewayApi'), 'web.yaml'),
    /web\.yaml:\d+:\d+: spec\.traffic.*is required with router: gatewayApi — add traffic\.gatewayApi: \{parentRefs: \[\{name: public-gateway\}\]\}/,
  );
  const [gw] = loadRollouts(
    rolloutDoc(
      '    router: gatewayApi\n    gatewayApi: {parentRefs: [{name: public-gateway}]}',
      '  platform: kubernetes\n  kubernetes: {namespace: payments}\n',
    ),
    'web.yaml',
  );
  const table = buildRouteTable(1, [{ spec: gw!.spec, routes: { main: [{ revision: 1, weight: 100 }] }, revisions: [] }], []);
  assert.equal(table.listeners[0]?.dataPlane, 'gatewayApi');
  assert.equal(table.listeners[0]?.namespace, 'payments');
  const [builtin] = loadRollouts(rolloutDoc('', '  platform: kubernetes\n  kubernetes: {namespace: payments}\n'), 'web.yaml');
  const plain = buildRouteTable(1, [{ spec: builtin!.spec, routes: { main: [{ revision: 1, weight: 100 }] }, revisions: [] }], []);
  assert.equal(plain.listeners[0]?.namespace, undefined, "the builtin router's tables do not change");
});

/**
 * The Kubernetes traffic renderers (src/dataplane/kubernetes/) against golden files: the
 * route tables come from the engine sim driving real releases step by step, so the
 * goldens follow what the engine produces. `UPDATE_GOLDEN=1 node --test
 * dist/test/unit/k8s-traffic.test.js` rewrites them (then review the diff by hand against
 * the peer documents named in each golden's header). Also: what each kind refuses, the
 * settings decoders, and a property test over random splits, rules and mirrors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { LineCounter, parseDocument, stringify, type Document, type Node } from 'yaml';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';
import type { ListenerRoutes } from '../../src/core/route-table.js';
import { Ctx, type Decoder, schemaOf } from '../../src/spec/schema.js';
import { UserError } from '../../src/util/errors.js';
import type { KubeObject } from '../../src/dataplane/kubernetes/common.js';
import { renderServices } from '../../src/dataplane/kubernetes/services.js';
import { renderGatewayApi } from '../../src/dataplane/kubernetes/gateway-api.js';
import { renderIstio } from '../../src/dataplane/kubernetes/istio.js';
import { renderNginxIngress } from '../../src/dataplane/kubernetes/nginx-ingress.js';
import { gatewayApiSettings, istioSettings, nginxIngressSettings, servicesSettings } from '../../src/dataplane/kubernetes/settings.js';

type Sim = ReturnType<typeof makeSim>;

/** Decodes YAML text with a spec decoder, as `spec.traffic.<kind>` would be. */
function decode<T>(d: Decoder<T>, text: string): T {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  return d(doc.contents as Node, new Ctx(doc as Document, 'traffic.yaml', lines));
}

const SETTINGS = {
  services: decode(servicesSettings, '{}'),
  gatewayApi: decode(gatewayApiSettings, '{parentRefs: [{name: public-gateway, namespace: gateway-system}], hostnames: [web.example.com]}'),
  istio: decode(istioSettings, '{hosts: [web.example.com], gateways: [istio-system/public-gateway]}'),
  nginxIngress: decode(nginxIngressSettings, '{ingress: web, host: web.example.com}'),
};

type Kind = 'services' | 'gateway-api' | 'istio' | 'nginx-ingress';
const RENDER: Record<Kind, (listeners: ListenerRoutes[]) => KubeObject[]> = {
  services: (listeners) => renderServices({ rollout: 'web', namespace: 'shop', listeners, settings: SETTINGS.services }),
  'gateway-api': (listeners) => renderGatewayApi({ rollout: 'web', namespace: 'shop', listeners, settings: SETTINGS.gatewayApi }),
  istio: (listeners) => renderIstio({ rollout: 'web', namespace: 'shop', listeners, settings: SETTINGS.istio }),
  'nginx-ingress': (listeners) => renderNginxIngress({ rollout: 'web', namespace: 'shop', listeners, settings: SETTINGS.nginxIngress }),
};
const KINDS = Object.keys(RENDER) as Kind[];

/** Objects as one multi-document YAML text, as `kubectl apply -f` takes them. */
function toYaml(objects: KubeObject[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

async function apply(sim: Sim, version: string, strategy: string, traffic = '') {
  await sim.controller.apply(
    rolloutManifest({ ...SIM_APP, version, strategy }).replace('    listen: 127.0.0.1:18080\n', `    listen: 127.0.0.1:18080\n${traffic}`),
    '/tmp/web.yaml',
    sim.by,
  );
}

/** The applied table's listeners of rollout web, as the adapter would get them. */
function listenersOf(sim: Sim): ListenerRoutes[] {
  const table = sim.router.current;
  assert.ok(table, 'a route table was applied');
  return structuredClone(table.listeners.filter((l) => l.rollout === 'web'));
}

/** Deploys v1, releases v2 and records the listeners at each named step. */
type Scenario = (sim: Sim, at: (step: string) => void) => Promise<void>;

async function start(sim: Sim, strategy: string, traffic = '') {
  await apply(sim, 'v1', strategy, traffic);
  await sim.run(3000);
  assert.equal((await sim.status('web')).phase, 'Healthy');
  await apply(sim, 'v2', strategy, traffic);
  await sim.run(3000);
}

async function promote(sim: Sim) {
  await sim.controller.promote('web', {}, sim.by);
  await sim.run(5000);
}

const CANARY = `    canary:
      steps:
        - setWeight: 20
        - pause: {}
        - setWeight: 50
        - pause: {}
`;
const OUTLIERS = '    outlierDetection: {consecutiveErrors: 5, baseEjectionSeconds: 30s}\n';
const HEADER_ROUTE = `    canary:
      steps:
        - setWeight: 20
        - setHeaderRoute: {name: testers, match: [{headerName: X-Canary, headerValue: {exact: "1"}}]}
        - pause: {}
`;
const BLUE_GREEN = `    blueGreen:
      previewListen: 127.0.0.1:18081
      autoPromotionEnabled: false
`;
const AB = `    abTest:
      variants:
        - {name: a, weight: 50}
        - {name: b, weight: 50}
`;
const AB_ROUTES = `    routes:
      - {name: variant-a, match: {header: {name: x-variant, exact: a}}, to: a}
      - {name: variant-b, match: {header: {name: x-variant, exact: b}}, to: b}
`;
const SHADOW = `    shadow:
      mirror: {name: dark, percentage: 50}
`;

const SCENARIOS: Record<string, Scenario> = {
  canary: async (sim, at) => {
    await start(sim, CANARY, OUTLIERS);
    assert.deepEqual(sim.router.split('web'), { v1: 80, v2: 20 });
    at('20');
    await promote(sim);
    assert.deepEqual(sim.router.split('web'), { v1: 50, v2: 50 });
    at('50');
    await promote(sim);
    const s = await sim.status('web');
    assert.equal(s.phase, 'Healthy', s.message);
    assert.deepEqual(sim.router.split('web'), { v2: 100 });
    at('promoted');
  },
  'header-route': async (sim, at) => {
    await start(sim, HEADER_ROUTE);
    assert.equal((await sim.status('web')).phase, 'Paused');
    assert.equal(listenersOf(sim).find((l) => l.role === 'main')?.rules.length, 1);
    at('testers');
  },
  'blue-green': async (sim, at) => {
    await start(sim, BLUE_GREEN);
    assert.deepEqual(sim.router.split('web'), { v1: 100 });
    assert.deepEqual(sim.router.split('web', 'preview'), { v2: 100 });
    at('preview');
    await promote(sim);
    assert.deepEqual(sim.router.split('web'), { v2: 100 });
    at('switched');
  },
  'ab-test': async (sim, at) => {
    await start(sim, AB, AB_ROUTES);
    assert.equal((await sim.status('web')).reason, 'Experimenting');
    assert.deepEqual(sim.router.split('web'), { v1: 50, v2: 50 });
    at('by-header');
  },
  shadow: async (sim, at) => {
    await start(sim, SHADOW);
    assert.equal((await sim.status('web')).reason, 'Shadowing');
    assert.equal(listenersOf(sim).find((l) => l.role === 'main')?.mirrors?.[0]?.percent, 50);
    at('mirror-50');
  },
};

/** Each golden's header: what it is and which peer documents its objects were checked against. */
const PEERS: Record<Kind, Record<string, string>> = {
  services: {
    canary:
      'Argo Rollouts: canary without trafficRouting (one Service over both ReplicaSets: split by replica count), and canaryService/stableService (docs/features/canary/index.md; the selector Argo injects is rollouts-pod-template-hash, here sluice.dev/revision).',
    'blue-green': 'Argo Rollouts: blue-green activeService/previewService (docs/features/bluegreen.md): the main Service switches revision at promotion.',
  },
  'gateway-api': {
    canary:
      'argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi (docs/quick-start.md, pkg/plugin/httproute.go setHTTPRouteWeight) and Flagger pkg/router/gateway_api.go (weighted primary/canary backendRefs, PathPrefix /).',
    'header-route':
      'rollouts-plugin-trafficrouter-gatewayapi docs/features/header-based-routing.md: a rule per header route, one canary backendRef without weight.',
    'blue-green': 'Flagger gateway_api.go SetRoutes (primary 100 / canary 0 until the switch); the preview is the preview Service (Argo previewService).',
    'ab-test': 'Flagger gateway_api.go A/B (header matches → canary, then the weighted rule); per-backend ResponseHeaderModifier names the variant.',
    shadow:
      'rollouts-plugin-trafficrouter-gatewayapi docs/features/mirror-routing.md (a rule with the split and a RequestMirror filter with percent, GEP-3171).',
  },
  istio: {
    canary:
      'Argo Rollouts docs/features/traffic-management/istio.md, subset-level traffic splitting (VirtualService route `primary`, DestinationRule subsets stable/canary); Flagger pkg/router/istio.go for hosts/gateways.',
    'header-route':
      'Argo Rollouts rollout/trafficrouting/istio/istio.go createHeaderRoute: a named route with header matches to the canary subset, weight 100.',
    'blue-green': 'Argo Rollouts istio.md subset splitting, stable 100 / canary 0 before the switch; Flagger istio.go SetRoutes.',
    'ab-test': 'Flagger pkg/router/istio.go A/B (header-matched route before the weighted one); destination headers.response.set names the variant.',
    shadow: 'Argo Rollouts istio.go createMirrorRoute (the split plus mirror and mirrorPercentage) and Flagger istio.go (mirror, mirrorPercentage).',
  },
  'nginx-ingress': {
    canary: 'Flagger pkg/router/ingress.go (<ingress>-canary, canary: "true", canary-weight) and Argo Rollouts docs/features/traffic-management/nginx.md.',
    'header-route':
      'Flagger pkg/router/ingress.go makeHeaderAnnotations (canary-by-header, canary-by-header-value) and Argo Rollouts docs/features/traffic-management/nginx.md (additionalIngressAnnotations canary-by-header/-value).',
    'blue-green': 'Flagger ingress.go with canary-weight 0 until the switch (Flagger blue/green on nginx: weight 0, then promotion).',
  },
};

/** What a kind refuses for a scenario, instead of a golden. */
const REFUSED: Record<Kind, Record<string, RegExp>> = {
  services: {
    'header-route': /match rule testers cannot be expressed by plain Services/,
    'ab-test': /match rule variant-a cannot be expressed by plain Services/,
    shadow: /a mirror cannot be expressed by plain Services/,
  },
  'gateway-api': {},
  istio: {},
  'nginx-ingress': {
    'ab-test': /match rule variant-a routes to revision 1; a canary Ingress sends matching requests to the canary only/,
    shadow: /a mirror cannot be expressed by a canary Ingress/,
  },
};

const GOLDEN_DIR = fileURLToPath(new URL('../../../test/fixtures/k8s-traffic/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function header(kind: Kind, scenario: string, step: string): string {
  return [
    `# Golden file: sluice's ${kind} objects for the ${scenario} scenario at step "${step}" (rollout web, namespace shop),`,
    "# rendered from the engine sim's route table by test/unit/k8s-traffic.test.ts; UPDATE_GOLDEN=1 rewrites it.",
    `# Checked by hand against: ${PEERS[kind][scenario]}`,
    '',
  ].join('\n');
}

for (const [scenario, drive] of Object.entries(SCENARIOS)) {
  test(`golden: ${scenario}`, async () => {
    const sim = makeSim();
    const steps: [string, ListenerRoutes[]][] = [];
    await drive(sim, (step) => steps.push([step, listenersOf(sim)]));
    assert.ok(steps.length > 0);
    for (const kind of KINDS) {
      for (const [step, listeners] of steps) {
        const refused = REFUSED[kind][scenario];
        if (refused) {
          assert.throws(
            () => RENDER[kind](listeners),
            (e: unknown) => e instanceof UserError && refused.test(e.message),
            `${kind} refuses ${scenario}`,
          );
          continue;
        }
        const file = `${GOLDEN_DIR}${kind}/${scenario}-${step}.yaml`;
        const text = header(kind, scenario, step) + toYaml(RENDER[kind](listeners));
        if (UPDATE) {
          mkdirSync(dirname(file), { recursive: true });
          writeFileSync(file, text);
          continue;
        }
        assert.equal(text, readFileSync(file, 'utf8'), `${file} (UPDATE_GOLDEN=1 rewrites it)`);
      }
    }
  });
}

// ---- Hand-built listeners: what the scenarios above do not reach ----

const backend = (revision: number, variant?: string) => ({
  revision,
  version: `v${revision}`,
  ...(variant !== undefined ? { variant } : {}),
  endpoints: [{ id: `web-${revision}-a`, host: '127.0.0.1', port: 20000 + revision }],
});

function main(over: Partial<ListenerRoutes> = {}): ListenerRoutes {
  return {
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
  };
}

const mirror = (revision: number, percent: number, match?: ListenerRoutes['rules'][number]) => ({
  name: 'dark',
  revision,
  percent,
  ...(match ? { match } : {}),
  queueLimit: 100,
  maxBodyBytes: 1048576,
});

type Obj = Record<string, unknown> & { kind: string; metadata: { name: string }; spec: Record<string, unknown> };
const route = (objects: KubeObject[]) => objects.find((o) => o.kind === 'HTTPRoute') as unknown as Obj;
const vs = (objects: KubeObject[]) => objects.find((o) => o.kind === 'VirtualService') as unknown as Obj;
type Rule = { name: string; matches: Record<string, unknown>[]; filters?: Record<string, unknown>[]; backendRefs?: { name: string; weight?: number }[] };
type Http = { name: string; match?: Record<string, unknown>[]; route?: { destination: { subset: string }; weight: number }[]; mirror?: { subset: string } };

test('a header route overlapping a mirror: the overlap routes like the header route and copies only what it does not send to the shadow', () => {
  const onApi = { name: 'm', pathPrefix: '/api', methods: ['GET'] };
  for (const target of [2, 1]) {
    const listeners = [main({ rules: [{ name: 'testers', header: { name: 'X-Canary', exact: '1' }, revision: target }], mirrors: [mirror(2, 35, onApi)] })];
    const rules = route(RENDER['gateway-api'](listeners)).spec.rules as Rule[];
    assert.deepEqual(
      rules.map((r) => r.name),
      ['testers-dark', 'testers', 'dark', 'primary'],
    );
    assert.deepEqual(rules[0]!.matches, [
      { path: { type: 'PathPrefix', value: '/api' }, method: 'GET', headers: [{ type: 'Exact', name: 'X-Canary', value: '1' }] },
    ]);
    assert.deepEqual(
      rules[0]!.backendRefs?.map((b) => b.name),
      [target === 2 ? 'web-canary' : 'web-stable'],
    );
    assert.equal(rules[0]!.filters !== undefined, target === 1, 'the overlap copies only requests it routes away from the shadow');
    assert.deepEqual(rules[2]!.filters, [
      { type: 'RequestMirror', requestMirror: { backendRef: { group: '', kind: 'Service', name: 'web-canary', port: 80 }, percent: 35 } },
    ]);
    const http = vs(RENDER.istio(listeners)).spec.http as Http[];
    assert.deepEqual(
      http.map((h) => [h.name, h.mirror?.subset]),
      [
        ['testers-dark', target === 1 ? 'canary' : undefined],
        ['testers', undefined],
        ['dark', 'canary'],
        ['primary', undefined],
      ],
    );
    assert.deepEqual(http[0]!.match, [{ uri: { prefix: '/api' }, method: { exact: 'GET' }, headers: { 'x-canary': { exact: '1' } } }]);
  }
});

test('stop-traffic: Gateway API rules without backendRefs (503), Istio the maintenance answer; the others and any pause refuse', () => {
  const maintenance = { status: 503, body: 'back soon', retryAfterSeconds: 30 };
  const stopped = [main({ hold: { mode: 'stopped' }, maintenance })];
  const rules = route(RENDER['gateway-api'](stopped)).spec.rules as Rule[];
  assert.deepEqual(rules, [{ name: 'primary', matches: [{ path: { type: 'PathPrefix', value: '/' } }] }]);
  assert.deepEqual(vs(RENDER.istio(stopped)).spec.http, [
    { name: 'primary', directResponse: { status: 503, body: { string: 'back soon' } }, headers: { response: { set: { 'retry-after': '30' } } } },
  ]);
  assert.throws(() => RENDER.services(stopped), /stop-traffic cannot be expressed by plain Services/);
  assert.throws(() => RENDER['nginx-ingress'](stopped), /stop-traffic cannot be expressed by a canary Ingress/);
  const paused = [main({ hold: { mode: 'paused', pauseTimeoutMs: 1000 } })];
  for (const kind of KINDS)
    assert.throws(
      () => RENDER[kind](paused),
      (e: unknown) => e instanceof UserError && /pause-traffic/.test(e.message),
      kind,
    );
});

test('mirror shares: a fraction for a fractional percentage, none with mirrorPercent: false (which refuses less than 100 %)', () => {
  const at = (percent: number, mirrorPercent = true) =>
    route(
      renderGatewayApi({
        rollout: 'web',
        namespace: 'shop',
        listeners: [main({ split: [{ revision: 1, weight: 100 }], mirrors: [mirror(2, percent)] })],
        settings: { ...SETTINGS.gatewayApi, mirrorPercent },
      }),
    ).spec.rules as Rule[];
  const filter = (rules: Rule[]) => (rules[0]!.filters![0] as { requestMirror: Record<string, unknown> }).requestMirror;
  assert.deepEqual(filter(at(12.5)).fraction, { numerator: 1250, denominator: 10000 });
  assert.equal(filter(at(100, false)).percent, undefined);
  assert.throws(() => at(50, false), /a mirror of 50 % needs RequestMirror's percent/);
  assert.deepEqual((vs(RENDER.istio([main({ mirrors: [mirror(2, 12.5)] })])).spec.http as { mirrorPercentage?: unknown }[])[0]!.mirrorPercentage, {
    value: 12.5,
  });
});

test('A/B with three variants: the third gets its own Service and subset; a canary Ingress refuses a third backend', () => {
  const listeners = [
    main({
      split: [
        { revision: 1, weight: 40 },
        { revision: 2, weight: 30 },
        { revision: 3, weight: 30 },
      ],
      backends: [backend(1, 'a'), backend(2, 'b'), backend(3, 'c')],
      variantHeader: 'x-sluice-variant',
    }),
  ];
  const gw = RENDER['gateway-api'](listeners);
  assert.deepEqual(
    gw.filter((o) => o.kind === 'Service').map((o) => o.metadata.name),
    ['web-stable', 'web-canary', 'web-variant-c'],
  );
  assert.deepEqual(
    (route(gw).spec.rules as Rule[])[0]!.backendRefs!.map((b) => [b.name, b.weight]),
    [
      ['web-stable', 40],
      ['web-canary', 30],
      ['web-variant-c', 30],
    ],
  );
  const dr = RENDER.istio(listeners).find((o) => o.kind === 'DestinationRule')!;
  assert.deepEqual(
    (dr.spec.subsets as { name: string }[]).map((s) => s.name),
    ['stable', 'canary', 'variant-c'],
  );
  assert.throws(() => RENDER['nginx-ingress'](listeners), /revision 3 would be a third backend/);
  const services = RENDER.services(listeners);
  assert.deepEqual(services[0]!.spec.selector, { 'sluice.dev/rollout': 'web' }, 'several revisions: every pod of the rollout, split by replica count');
});

test('cookies: a RegularExpression on the Cookie header; ingress-nginx routes only a cookie set to always', () => {
  const rule = (exact: string) => [main({ rules: [{ name: 'beta', cookie: { name: 'beta', exact }, revision: 2 }] })];
  const match = (route(RENDER['gateway-api'](rule('yes'))).spec.rules as Rule[])[0]!.matches[0]!;
  assert.deepEqual(match.headers, [{ type: 'RegularExpression', name: 'Cookie', value: '^(?:.*;\\s*)?beta=yes(?:;.*)?$' }]);
  const re = new RegExp((match.headers as { value: string }[])[0]!.value);
  assert.ok(re.test('a=1; beta=yes; c=2') && re.test('beta=yes') && !re.test('xbeta=yes') && !re.test('beta=yesno'));
  const ingress = RENDER['nginx-ingress'](rule('always')).find((o) => o.kind === 'Ingress')!;
  assert.equal(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/canary-by-cookie'], 'beta');
  assert.throws(() => RENDER['nginx-ingress'](rule('yes')), /write exact: always/);
});

test('a header prefix or regex: RegularExpression in Gateway API, prefix/regex in Istio, canary-by-header-pattern in ingress-nginx', () => {
  const rule = (header: { name: string; prefix?: string; regex?: string }) => [main({ rules: [{ name: 'beta', header, revision: 2 }] })];
  const gwValue = (l: ListenerRoutes[]) => ((route(RENDER['gateway-api'](l)).spec.rules as Rule[])[0]!.matches[0]!.headers as { value: string }[])[0]!.value;
  assert.equal(gwValue(rule({ name: 'X-Tier', prefix: 'gold.' })), '^gold\\..*');
  assert.equal(gwValue(rule({ name: 'X-Tier', regex: 'gold|silver' })), '^(?:gold|silver)$');
  assert.deepEqual((vs(RENDER.istio(rule({ name: 'X-Tier', prefix: 'gold.' }))).spec.http as Http[])[0]!.match, [
    { headers: { 'x-tier': { prefix: 'gold.' } } },
  ]);
  const pattern = (l: ListenerRoutes[]) =>
    RENDER['nginx-ingress'](l).find((o) => o.kind === 'Ingress')!.metadata.annotations?.['nginx.ingress.kubernetes.io/canary-by-header-pattern'];
  assert.equal(pattern(rule({ name: 'X-Tier', regex: 'gold|silver' })), '^(?:gold|silver)$');
});

test('refused everywhere: a source address match; a rule to a revision without a backend; listeners of another rollout', () => {
  const bySource = [main({ rules: [{ name: 'office', sourceCidr: '10.0.0.0/8', revision: 2 }] })];
  for (const kind of ['gateway-api', 'istio'] as const) assert.throws(() => RENDER[kind](bySource), /matches the client address 10\.0\.0\.0\/8/);
  const orphan = [main({ rules: [{ name: 'x', header: { name: 'x', exact: '1' }, revision: 7 }] })];
  assert.throws(() => RENDER.istio(orphan), /revision 7 is routed to but has no backend/);
  assert.throws(() => RENDER.istio([main({ rollout: 'api' })]), /listener 127\.0\.0\.1:18080 belongs to rollout api/);
  assert.throws(() => RENDER.istio([]), /needs exactly one main listener, got 0/);
});

test('the canary listener names the released revision even at weight 0; between releases canary is stable', () => {
  const canaryListener: ListenerRoutes = { ...main(), listen: '127.0.0.1:18082', role: 'canary', split: [{ revision: 2, weight: 100 }] };
  const objects = RENDER.services([main({ split: [{ revision: 1, weight: 100 }] }), canaryListener]);
  assert.deepEqual(
    objects.map((o) => [o.metadata.name, (o.spec.selector as Record<string, string>)['sluice.dev/revision']]),
    [
      ['web', '1'],
      ['web-stable', '1'],
      ['web-canary', '2'],
    ],
  );
  const idle = RENDER.services([main({ split: [{ revision: 1, weight: 100 }], backends: [backend(1)] })]);
  assert.equal((idle[2]!.spec.selector as Record<string, string>)['sluice.dev/revision'], '1');
});

test('Istio maps the balancer and the connect timeout; fractional weights are rounded to integers summing to 100', () => {
  const listeners = [
    main({
      balancer: 'least-requests',
      resilience: { timeouts: { connectMs: 1500 } },
      split: [
        { revision: 1, weight: 66.6 },
        { revision: 2, weight: 33.4 },
      ],
    }),
  ];
  const objects = RENDER.istio(listeners);
  assert.deepEqual(objects.find((o) => o.kind === 'DestinationRule')!.spec.trafficPolicy, {
    loadBalancer: { simple: 'LEAST_REQUEST' },
    connectionPool: { tcp: { connectTimeout: '1500ms' } },
  });
  assert.deepEqual(
    (vs(objects).spec.http as Http[])[0]!.route!.map((r) => r.weight),
    [67, 33],
  );
});

// ---- Settings ----

test('settings: defaults, and one positioned line per mistake', () => {
  assert.deepEqual(SETTINGS.services, { port: 80, targetPort: 'http' });
  assert.deepEqual(SETTINGS.gatewayApi, {
    parentRefs: [{ name: 'public-gateway', namespace: 'gateway-system' }],
    hostnames: ['web.example.com'],
    mirrorPercent: true,
    port: 80,
    targetPort: 'http',
  });
  assert.deepEqual(SETTINGS.istio, { hosts: ['web.example.com'], gateways: ['istio-system/public-gateway'], port: 80, targetPort: 'http' });
  assert.deepEqual(SETTINGS.nginxIngress, {
    ingress: 'web',
    host: 'web.example.com',
    path: '/',
    pathType: 'Prefix',
    ingressClassName: 'nginx',
    port: 80,
    targetPort: 'http',
  });
  assert.equal(decode(servicesSettings, '{port: 8080, targetPort: 3000}').targetPort, 3000);
  // A JSON Schema for editors and CRDs, as every spec decoder has (spec/schema.ts).
  for (const d of [servicesSettings, gatewayApiSettings, istioSettings, nginxIngressSettings]) assert.equal(schemaOf(d).additionalProperties, false);
  assert.throws(() => decode(gatewayApiSettings, '{}'), /traffic\.yaml:1:1: parentRefs: missing required field — add parentRefs: \[\{name: public-gateway\}\]/);
  assert.throws(() => decode(gatewayApiSettings, '{parentRefs: []}'), /parentRefs: has no parentRefs/);
  assert.throws(() => decode(servicesSettings, '{targetPort: HTTP_PORT}'), /targetPort: must be a port number or a container port name/);
  assert.throws(() => decode(servicesSettings, '{port: 70000}'), /port: must be between 1 and 65535/);
  assert.throws(() => decode(istioSettings, '{gatewayz: [mesh]}'), /unknown field "gatewayz" — did you mean "gateways"\?/);
  assert.throws(() => decode(nginxIngressSettings, '{ingress: web}'), /host: missing required field/);
  assert.throws(
    () => decode(nginxIngressSettings, '{ingress: web, host: web.example.com, pathType: prefix}'),
    /pathType: must be one of Prefix, Exact, ImplementationSpecific/,
  );
});

// ---- Properties ----

const arbCase = fc.record({
  revisions: fc.uniqueArray(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 }),
  raw: fc.array(fc.double({ min: 0.01, max: 100, noNaN: true }), { minLength: 4, maxLength: 4 }),
  splitSize: fc.integer({ min: 1, max: 4 }),
  rules: fc.array(
    fc.record({ target: fc.nat(), value: fc.stringMatching(/^[a-z0-9]{1,8}$/), kind: fc.constantFrom('exact' as const, 'prefix' as const, 'regex' as const) }),
    { maxLength: 3 },
  ),
  mirror: fc.option(fc.record({ target: fc.nat(), percent: fc.double({ min: 0.5, max: 100, noNaN: true }) }), { nil: undefined }),
  variants: fc.boolean(),
});

type Case = typeof arbCase extends fc.Arbitrary<infer T> ? T : never;

function listenersFor(c: Case): { listeners: ListenerRoutes[]; share: Map<number, number> } {
  const inSplit = c.revisions.slice(0, Math.min(c.splitSize, c.revisions.length));
  const split = inSplit.map((revision, i) => ({ revision, weight: c.raw[i]! }));
  const total = split.reduce((n, t) => n + t.weight, 0);
  const share = new Map(split.map((t) => [t.revision, (t.weight * 100) / total]));
  const pick = (n: number) => c.revisions[n % c.revisions.length]!;
  const l = main({
    split,
    backends: c.revisions.map((r, i) => backend(r, c.variants ? String.fromCharCode(97 + i) : undefined)),
    rules: c.rules.map((r, i) => ({ name: `r${i}`, header: { name: `x-h${i}`, [r.kind]: r.value }, revision: pick(r.target) })),
    ...(c.mirror ? { mirrors: [mirror(pick(c.mirror.target), c.mirror.percent)] } : {}),
    ...(c.variants ? { variantHeader: 'x-sluice-variant' } : {}),
  });
  return { listeners: [l], share };
}

/** Service name → the revision it selects, checking every selector names a revision with a backend. */
function servicesOf(objects: KubeObject[], listeners: ListenerRoutes[]): Map<string, number | 'all'> {
  const known = new Set(listeners[0]!.backends.map((b) => b.revision));
  const out = new Map<string, number | 'all'>();
  for (const o of objects.filter((x) => x.kind === 'Service')) {
    const rev = (o.spec.selector as Record<string, string>)['sluice.dev/revision'];
    assert.equal((o.spec.selector as Record<string, string>)['sluice.dev/rollout'], 'web');
    if (rev !== undefined) assert.ok(known.has(Number(rev)), `Service ${o.metadata.name} selects revision ${rev}, which has a backend`);
    out.set(o.metadata.name, rev === undefined ? 'all' : Number(rev));
  }
  return out;
}

function checkWeights(weights: number[], where: string) {
  for (const w of weights) assert.ok(Number.isInteger(w) && w >= 0 && w <= 100, `${where}: weight ${w} is an integer 0..100`);
  assert.equal(
    weights.reduce((n, w) => n + w, 0),
    100,
    `${where}: weights sum to 100`,
  );
}

/** The rendered share of each revision is the split's within rounding (< 1). */
function checkShares(byRevision: Map<number, number>, share: Map<number, number>, where: string) {
  for (const [r, exact] of share) assert.ok(Math.abs((byRevision.get(r) ?? 0) - exact) < 1, `${where}: revision ${r} gets ${byRevision.get(r)} for ${exact}`);
  for (const [r, w] of byRevision) if (!share.has(r)) assert.equal(w, 0, `${where}: revision ${r} is not in the split`);
}

test('property: integer weights summing to 100 that follow the split, references to existing revisions, deterministic output', () => {
  fc.assert(
    fc.property(arbCase, (c) => {
      const { listeners, share } = listenersFor(c);
      const all: [string, KubeObject[]][] = [];

      const gw = RENDER['gateway-api'](listeners);
      all.push(['gateway-api', gw]);
      const services = servicesOf(gw, listeners);
      for (const rule of route(gw).spec.rules as Rule[]) {
        for (const b of rule.backendRefs ?? []) assert.ok(services.has(b.name), `backendRef ${b.name} is a rendered Service`);
        for (const f of rule.filters ?? []) assert.ok(services.has((f as { requestMirror: { backendRef: { name: string } } }).requestMirror.backendRef.name));
        const weights = (rule.backendRefs ?? []).filter((b) => b.weight !== undefined).map((b) => b.weight!);
        if (weights.length > 0) checkWeights(weights, `HTTPRoute rule ${rule.name}`);
        if (rule.name === 'primary') {
          const by = new Map<number, number>();
          for (const b of rule.backendRefs!) by.set(services.get(b.name) as number, (by.get(services.get(b.name) as number) ?? 0) + b.weight!);
          checkShares(by, share, 'HTTPRoute primary');
        }
      }

      const istio = RENDER.istio(listeners);
      all.push(['istio', istio]);
      servicesOf(istio, listeners);
      const subsets = new Map(
        ((istio.find((o) => o.kind === 'DestinationRule')!.spec.subsets as { name: string; labels: Record<string, string> }[]) ?? []).map((s) => [
          s.name,
          Number(s.labels['sluice.dev/revision']),
        ]),
      );
      for (const r of subsets.values())
        assert.ok(
          listeners[0]!.backends.some((b) => b.revision === r),
          `subset revision ${r} has a backend`,
        );
      for (const h of vs(istio).spec.http as Http[]) {
        for (const d of h.route ?? []) assert.ok(subsets.has(d.destination.subset), `subset ${d.destination.subset} exists`);
        if (h.mirror) assert.ok(subsets.has(h.mirror.subset));
        checkWeights(
          (h.route ?? []).map((d) => d.weight),
          `VirtualService route ${h.name}`,
        );
        if (h.name === 'primary') {
          const by = new Map<number, number>();
          for (const d of h.route!) by.set(subsets.get(d.destination.subset)!, (by.get(subsets.get(d.destination.subset)!) ?? 0) + d.weight);
          checkShares(by, share, 'VirtualService primary');
        }
      }

      const simple = c.rules.length === 0 && c.mirror === undefined;
      if (simple) {
        const objects = RENDER.services(listeners);
        all.push(['services', objects]);
        servicesOf(objects, listeners);
      } else assert.throws(() => RENDER.services(listeners), UserError);

      let ingress: KubeObject[] | undefined;
      try {
        ingress = RENDER['nginx-ingress'](listeners);
      } catch (e) {
        assert.ok(e instanceof UserError, String(e));
        assert.ok(!(simple && c.revisions.length <= 2), `a plain two-revision split renders: ${(e as Error).message}`);
      }
      if (ingress) {
        all.push(['nginx-ingress', ingress]);
        const svc = servicesOf(ingress, listeners);
        const ing = ingress.find((o) => o.kind === 'Ingress')!;
        const weight = ing.metadata.annotations!['nginx.ingress.kubernetes.io/canary-weight']!;
        assert.match(weight, /^(?:\d|[1-9]\d|100)$/, 'canary-weight is an integer 0..100');
        const canary = svc.get('web-canary') as number;
        const stable = svc.get('web-stable') as number;
        checkShares(
          new Map(
            canary === stable
              ? [[stable, 100]]
              : [
                  [canary, Number(weight)],
                  [stable, 100 - Number(weight)],
                ],
          ),
          share,
          'canary Ingress',
        );
      }

      // Deterministic: the same listeners (a copy) give the same text, keys in the same order.
      for (const [kind, objects] of all) assert.equal(toYaml(RENDER[kind as Kind](structuredClone(listeners))), toYaml(objects), `${kind} is deterministic`);
    }),
    { numRuns: 300 },
  );
});

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
import { Ctx, type Decoder } from '../../src/spec/schema.js';
import { UserError } from '../../src/util/errors.js';
import type { KubeObject, TrafficInput } from '../../src/dataplane/kubernetes/common.js';
import { renderServices } from '../../src/dataplane/kubernetes/services.js';
import { renderGatewayApi } from '../../src/dataplane/kubernetes/gateway-api.js';
import { renderIstio } from '../../src/dataplane/kubernetes/istio.js';
import { renderNginxIngress } from '../../src/dataplane/kubernetes/nginx-ingress.js';
import {
  gatewayApiSettings,
  type GatewayApiSettings,
  istioSettings,
  type IstioSettings,
  nginxIngressSettings,
  type NginxIngressSettings,
  servicesSettings,
  type ServicesSettings,
} from '../../src/dataplane/kubernetes/settings.js';

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
      'Argo Rollouts: canary without trafficRouting (one Service over both ReplicaSets: split by replica count), and canaryService/stableService (docs/features/canary.md; the selector Argo injects is rollouts-pod-template-hash, here sluice.dev/revision).',
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
    'header-route': 'Flagger pkg/router/ingress.go makeHeaderAnnotations (canary-by-header, canary-by-header-value) and Argo Rollouts nginx.md setHeaderRoute.',
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

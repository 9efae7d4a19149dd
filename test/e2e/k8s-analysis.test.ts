/**
 * Issue 17: a canary on the cluster aborted by a failing Prometheus analysis. A real
 * Prometheus scrapes a seeded metric (the canary's error ratio, 0.4) from a small HTTP
 * server of the test; `sluice up --kubeconfig` releases v2 of `web` behind a Gateway API
 * HTTPRoute (real API server, official CRDs) with an analysis step on that metric. The
 * analysis fails, the rollout aborts, and the HTTPRoute sends everything back to the stable
 * Service within one analysis interval of the failing measurement; the canary ReplicaSet
 * goes to zero. The measured time is printed; the bound is the interval itself.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { installCrds, type K8sCluster, k8sCrdFiles, k8sCrdsMissing, k8sMissing, startCluster, waitK8s } from '../helpers/k8s.js';
import { PLANES } from '../helpers/k8s-planes.js';
import { freePort } from '../helpers/ports.js';
import { prometheusBinary, type RunningPrometheus, startPrometheus } from '../helpers/prometheus.js';
import { SluiceUnderTest } from '../helpers/sluice.js';
import { waitFor } from '../helpers/wait.js';

const missingProm = prometheusBinary() ? false : 'prometheus is not installed (apt-get install prometheus)';
if (missingProm && process.env.CI) throw new Error(`${missingProm}; CI must run this test`);
if (missingProm) console.error(`\n*** SKIPPED: ${missingProm} ***\n`);
const skip = k8sMissing() || k8sCrdsMissing() || missingProm;
const NS = 'shop';
const INTERVAL_S = 3;

interface HttpRoute {
  spec: { rules: { name?: string; backendRefs: { name: string; weight?: number }[] }[] };
}

describe('a failing Prometheus analysis aborts a canary on the cluster', { skip }, () => {
  let cluster: K8sCluster;
  let sluice: SluiceUnderTest;
  let prom: RunningPrometheus;
  let metrics: Server;

  before(
    async () => {
      cluster = await startCluster();
      const files = k8sCrdFiles();
      const crds = files.gatewayApi
        .flatMap((f) => parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string } }))
        .filter((d) => d?.kind === 'CustomResourceDefinition');
      await installCrds(cluster, crds);
      assert.equal((await cluster.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })).status, 201);
      const port = await freePort();
      // The seeded metric: what the app's own exporter would say about the canary.
      metrics = createServer((_req, res) => {
        res.setHeader('content-type', 'text/plain; version=0.0.4');
        res.end('# TYPE app_error_ratio gauge\napp_error_ratio{rollout="web",track="canary"} 0.4\napp_error_ratio{rollout="web",track="stable"} 0.001\n');
      });
      await new Promise<void>((r) => metrics.listen(port, '127.0.0.1', r));
      prom = await startPrometheus({ scrapeTargets: [`127.0.0.1:${port}`], scrapeIntervalSeconds: 1 });
      await prom.waitForTargetsUp(30_000);
      sluice = await SluiceUnderTest.start(['--kubeconfig', cluster.kubeconfigPath, '--namespace', NS]);
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await sluice?.down();
    await prom?.stop();
    metrics?.close();
    await cluster?.stop();
  });

  test('abort: the HTTPRoute is back on stable within one analysis interval, the canary scaled to zero', { timeout: 400_000 }, async () => {
    const listen = await freePort();
    const manifest = (version: string) => `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  platform: kubernetes
  replicas: 2
  progressDeadlineSeconds: 180
  template:
    version: ${version}
    image: sluice.invalid/web:${version}
  traffic:
    listen: 127.0.0.1:${listen}
${PLANES.gatewayApi.traffic}  strategy:
    canary:
      steps:
        - setWeight: 30
        - analysis:
            metrics:
              - name: canary-error-ratio
                interval: ${INTERVAL_S}s
                count: 3
                failureLimit: 0
                successCondition: result <= 0.05
                provider:
                  prometheus:
                    address: "${prom.address}"
                    query: 'max(app_error_ratio{rollout="web",track="canary"})'
        - setWeight: 100
`;
    await sluice.apply('web.yaml', manifest('v1'));
    await waitFor(
      sluice.rollout('web', (v) => v.status.phase === 'Healthy'),
      { timeoutMs: 180_000, what: 'web Healthy at v1' },
    );
    await sluice.apply('web.yaml', manifest('v2'));
    const route = async () =>
      (await cluster.request<HttpRoute>('GET', `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes/web`)).body.spec.rules.find(
        (r) => r.name === 'primary',
      )!;
    const weights = async () => Object.fromEntries((await route()).backendRefs.map((b) => [b.name, b.weight ?? 1]));
    await waitK8s(
      cluster,
      'the HTTPRoute at 70/30',
      async () => JSON.stringify(await weights()) === JSON.stringify({ 'web-stable': 70, 'web-canary': 30 }),
      120_000,
    );
    // Poll the route closely from now on: when did it go back to stable?
    let restoredAt = 0;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const w = await weights();
      if (w['web-stable'] === 100 && (w['web-canary'] ?? 0) === 0) {
        restoredAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(restoredAt > 0, `the HTTPRoute never went back to stable: ${JSON.stringify(await weights())}\n${sluice.log().slice(-2000)}`);
    const view = await waitFor(
      sluice.rollout('web', (v) => v.status.phase === 'Degraded' || v.status.aborted),
      { timeoutMs: 30_000, what: 'web aborted' },
    );
    const failed = view.events.find((e) => e.reason === 'RolloutAborted');
    assert.ok(failed, `a RolloutAborted event: ${view.events.map((e) => e.reason).join(', ')}`);
    assert.match(failed.message, /canary-error-ratio/);
    const lag = restoredAt - failed.at;
    console.log(`# abort for the failed analysis → HTTPRoute back on stable: ${lag} ms (interval ${INTERVAL_S * 1000} ms)`);
    assert.ok(lag <= INTERVAL_S * 1000, `stable's weight restored ${lag} ms after the abort for the failed measurement, more than one interval`);
    await waitK8s(
      cluster,
      'the canary ReplicaSet at zero',
      async () => {
        const sets = (
          await cluster.request<{ items: { spec: { replicas: number; template: { spec: { containers: { image: string }[] } } } }[] }>(
            'GET',
            `/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=sluice.dev%2Frollout%3Dweb`,
          )
        ).body.items;
        const v2 = sets.find((s) => s.spec.template.spec.containers[0]!.image.endsWith(':v2'));
        const v1 = sets.find((s) => s.spec.template.spec.containers[0]!.image.endsWith(':v1'));
        return v2?.spec.replicas === 0 && v1?.spec.replicas === 2;
      },
      60_000,
    );
  });
});

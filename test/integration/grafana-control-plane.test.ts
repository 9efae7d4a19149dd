/**
 * The control plane's side of deploy/grafana/sluice-dashboard.json and
 * deploy/prometheus/sluice-rules.yml, against a real Prometheus scraping a real `sluice up`
 * on 127.0.0.1: its `GET /v1/metrics` with a viewer token made by `sluice token create`
 * (job sluice-control-plane, as docs/grafana.md configures it) and its router (job
 * sluice-router). Two canaries with a builtin error-rate analysis under bounded load:
 *   - web, healthy: the analysis passes and it waits at its `pause: {}` with 20 % on the canary;
 *   - bad, half its answers 500: its first verdict fails the analysis and it is aborted (Degraded).
 * Then: promtool accepts the exposition text; every dashboard query is valid; the variables
 * list these jobs and rollouts; the control-plane panels show 80/20 and 100, the phases, the
 * steps done, the verdict counts and last values; the observed share agrees with the
 * configured weight; every rule is healthy and SluiceRolloutDegraded holds for bad only
 * (pending with the file's `for: 1m`, firing in a copy with `for: 0s`).
 * Skipped loudly without Prometheus; a failure when CI is set.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { prometheusOrSkip, promtoolBinary, startPrometheus } from '../helpers/prometheus.js';
import { healthyOn, SluiceUnderTest } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { LoadGenerator } from '../helpers/load.js';
import { freePort } from '../helpers/ports.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { adminTokenPath } from '../../src/router/credential.js';

const RULES = fileURLToPath(new URL('../../../deploy/prometheus/sluice-rules.yml', import.meta.url));
const DASHBOARD = fileURLToPath(new URL('../../../deploy/grafana/sluice-dashboard.json', import.meta.url));
const CP_JOB = 'sluice-control-plane';
const ROUTER_JOB = 'sluice-router';
/** Requests per second sent to each rollout's listener (127.0.0.1, stopped at the end, 150 s at most). */
const RATE = 40;
const COUNT = 5;

const strategy = `    canary:
      steps:
        - setWeight: 20
        - analysis:
            metrics:
              - name: error-rate
                interval: 1s
                count: ${COUNT}
                successCondition: result <= 0.05
                provider: {builtin: {metric: error-rate, windowSeconds: 4, minRequests: 5}}
        - pause: {}
`;

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface DashboardPanel {
  title?: string;
  targets?: { expr: string; refId: string }[];
  panels?: DashboardPanel[];
}
interface Dashboard {
  panels: DashboardPanel[];
  templating: { list: { type: string; name: string; query: unknown }[] };
}

function dashboardQueries(d: Dashboard): { panel: string; refId: string; expr: string }[] {
  const out: { panel: string; refId: string; expr: string }[] = [];
  const walk = (panels: DashboardPanel[]) => {
    for (const p of panels) {
      for (const tg of p.targets ?? []) out.push({ panel: p.title ?? '(untitled)', refId: tg.refId, expr: tg.expr });
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  return out;
}

/** A multi-value variable as Grafana substitutes it: regex-escaped values, several as (a|b). */
function grafanaRegex(values: string[]): string {
  const esc = (v: string) => v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
  return values.length === 1 ? esc(values[0]!) : `(${values.map(esc).join('|')})`;
}

function substitute(expr: string, vars: Record<string, string>): string {
  let out = expr.replaceAll('$__rate_interval', '30s').replaceAll('$__interval', '15s').replaceAll('$__range', '5m');
  for (const name of Object.keys(vars).sort((a, b) => b.length - a.length))
    out = out.replaceAll(`\${${name}}`, vars[name]!).replaceAll(`$${name}`, vars[name]!);
  assert.doesNotMatch(out, /\$/, `a variable was left in ${out}`);
  return out;
}

test('the control-plane panels and alerts against a real Prometheus scraping a real sluice', async (t) => {
  if (!prometheusOrSkip(t)) return;

  const sluice = await SluiceUnderTest.start();
  cleanups.push(() => sluice.down());

  // Prometheus' token: a viewer one, as docs/grafana.md has it (not the admin token).
  const created = await sluice.cli(['token', 'create', 'prometheus', '--role', 'viewer', '-o', 'json']);
  assert.equal(created.code, 0, created.stderr);
  const viewerToken = (JSON.parse(created.stdout) as { token: string }).token;
  const tokenDir = mkdtempSync(join(tmpdir(), 'sluice-cp-token-'));
  cleanups.push(() => rmSync(tokenDir, { recursive: true, force: true }));
  const tokenFile = join(tokenDir, 'viewer.token');
  writeFileSync(tokenFile, `${viewerToken}\n`, { mode: 0o600 });
  const api = `127.0.0.1:${sluice.apiPort}`;

  // The exposition text itself: a viewer token reads it; promtool's linter accepts it.
  const scrape = async (token: string) => fetch(`http://${api}/v1/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const first = await scrape(viewerToken);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  await first.body?.cancel();

  // Two canaries at v1, then v2 under load: web healthy, bad answering half its requests 500.
  const ports = { web: await freePort(), bad: await freePort() };
  const manifest = (name: 'web' | 'bad', version: string, env: Record<string, string> = {}) =>
    rolloutManifest({ name, version, listen: ports[name], strategy, replicas: 1, env });
  for (const name of ['web', 'bad'] as const) await sluice.apply(`${name}.yaml`, manifest(name, 'v1'));
  for (const name of ['web', 'bad'] as const) await waitFor(sluice.rollout(name, healthyOn(1, 1)), { timeoutMs: 60_000, what: `${name} v1 healthy` });
  const loads = [new LoadGenerator(ports.web, RATE, 150), new LoadGenerator(ports.bad, RATE, 150)];
  cleanups.push(async () => {
    for (const l of loads) await l.stop();
  });
  await sleep(500);
  await sluice.apply('web.yaml', manifest('web', 'v2'));
  await sluice.apply('bad.yaml', manifest('bad', 'v2', { ERROR_RATE: '0.5' }));
  const web = await waitFor(
    sluice.rollout('web', (v) => v.status.phase === 'Paused' && v.status.stepIndex === 2),
    { timeoutMs: 60_000, what: 'web paused at its pause step after a passing analysis' },
  );
  assert.deepEqual(web.status.weights, [
    { revision: 1, weight: 80 },
    { revision: 2, weight: 20 },
  ]);
  const bad = await waitFor(
    sluice.rollout('bad', (v) => v.status.phase === 'Degraded'),
    { timeoutMs: 60_000, what: 'bad aborted by its analysis' },
  );
  assert.equal(bad.status.reason, 'AnalysisFailed', bad.status.message);

  const text = await (await scrape(viewerToken)).text();
  const promtool = promtoolBinary();
  if (promtool !== undefined) {
    const lint = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
    assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
  }
  assert.match(text, /^sluice_rollout_weight_percent\{rollout="web",revision="2",version="v2"\} 20$/m);

  // Prometheus: the control plane and its router, the rules and a `for: 0s` copy of the alerts.
  const ruleDir = mkdtempSync(join(tmpdir(), 'sluice-cp-rules-'));
  cleanups.push(() => rmSync(ruleDir, { recursive: true, force: true }));
  const rules = parse(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: Record<string, unknown>[] }[] };
  const immediate = {
    groups: rules.groups
      .map((g) => ({
        name: `${g.name}-test-copy`,
        rules: g.rules
          .filter((r) => r.alert !== undefined)
          .map((r) => ({ ...r, for: '0s', labels: { ...(r.labels as Record<string, string>), test_copy: 'for-0s' } })),
      }))
      .filter((g) => g.rules.length > 0),
  };
  const immediateFile = join(ruleDir, 'immediate.yml');
  writeFileSync(immediateFile, stringify(immediate));
  const prom = await startPrometheus({
    scrapeTargets: [`127.0.0.1:${sluice.routerAdminPort}`],
    scrapeIntervalSeconds: 1,
    jobName: ROUTER_JOB,
    bearerTokenFile: adminTokenPath(sluice.stateDir),
    ruleFiles: [RULES, immediateFile],
    moreJobs: [{ jobName: CP_JOB, targets: [api], metricsPath: '/v1/metrics', bearerTokenFile: tokenFile }],
  });
  cleanups.push(() => prom.stop());
  const promApi = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${prom.address}${path}`);
    const body = (await r.json()) as { status: string; error?: string; data: T };
    assert.equal(body.status, 'success', `${path}: ${body.error ?? r.status}`);
    return body.data;
  };
  const query = async (expr: string, time?: number): Promise<Sample[]> => {
    const data = await promApi<{ resultType: string; result: Sample[] }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}${time === undefined ? '' : `&time=${time}`}`,
    );
    assert.equal(data.resultType, 'vector', `${expr}: ${data.resultType}`);
    return data.result;
  };
  const value = (s: Sample) => Number(s.value[1]);

  await prom.waitForTargetsUp(30_000);
  // The router's rate windows need a few scrapes of the ongoing load.
  await waitFor(
    async () => {
      const weights = await query('sluice_rollout_weight_percent{rollout="web"}');
      const share = await query(`sum by (rollout) (rate(sluice_requests_total{job="${ROUTER_JOB}",rollout="web",role="main"}[30s]))`);
      return weights.length === 2 && share.length === 1 && value(share[0]!) > RATE / 2;
    },
    { timeoutMs: 40_000, what: 'Prometheus to have the weights and 30 s of router traffic' },
  );
  const at = Date.now() / 1000;

  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const queries = dashboardQueries(d);
  const oneEach = {
    job: grafanaRegex([ROUTER_JOB]),
    cpjob: grafanaRegex([CP_JOB]),
    rollout: grafanaRegex(['web']),
    listener: grafanaRegex([`127.0.0.1:${ports.web}`]),
    revision: grafanaRegex(['1', '2']),
  };
  // "All" of cpjob is the union of its values (no allValue: `up{job=~".*"}` would list the router too).
  const all = { job: '.*', cpjob: grafanaRegex([CP_JOB]), rollout: '.*', listener: '.*', revision: '.*' };

  await t.test("the variables list this control plane's job and the rollouts", async () => {
    const got = async (name: string, vars: Record<string, string>) => {
      const v = d.templating.list.find((x) => x.name === name)!;
      const [, selector, label] = /^label_values\((.+),\s*(\w+)\)$/.exec(String(v.query))!;
      return (await query(`group by (${label}) (${substitute(selector!, vars)})`, at)).map((s) => s.metric[label!]).sort();
    };
    assert.deepEqual(await got('cpjob', {}), [CP_JOB]);
    assert.deepEqual(await got('job', {}), [ROUTER_JOB]);
    assert.deepEqual(await got('rollout', { job: ROUTER_JOB }), ['bad', 'web']);
  });

  await t.test('every PromQL expression of the dashboard is valid here, with chosen values and with "All"', async () => {
    for (const vars of [oneEach, all]) {
      for (const q of queries) await assert.doesNotReject(query(substitute(q.expr, vars), at), `panel "${q.panel}" ${q.refId}`);
    }
  });

  const panel = async (title: string, vars: Record<string, string> = all, refId = 'A') => {
    const q = queries.find((x) => x.panel === title && x.refId === refId);
    assert.ok(q, `no panel "${title}" ${refId}`);
    const result = await query(substitute(q.expr, vars), at);
    assert.ok(result.length > 0, `panel "${title}" is empty: ${substitute(q.expr, vars)}`);
    return result;
  };
  const keyed = (samples: Sample[], ...labels: string[]) => Object.fromEntries(samples.map((s) => [labels.map((l) => s.metric[l]).join(' '), value(s)]));

  await t.test('the control-plane panels show the configured weights, phases, steps and verdicts', async () => {
    assert.deepEqual(keyed(await panel('Canary weight (configured)'), 'rollout', 'revision', 'version'), {
      'web 1 v1': 80,
      'web 2 v2': 20,
      'bad 1 v1': 100,
    });
    assert.deepEqual(keyed(await panel('Canary weight (configured)', oneEach), 'rollout', 'revision'), { 'web 1': 80, 'web 2': 20 }, 'rollout web only');
    // Phase codes of the state timeline's value mappings: 2 Paused, 3 Degraded.
    assert.deepEqual(keyed(await panel('Rollout phase'), 'rollout'), { web: 2, bad: 3 });
    assert.deepEqual(keyed(await panel('Rollouts by phase'), 'phase'), { Paused: 1, Degraded: 1 });
    assert.equal(value((await panel('Degraded rollouts'))[0]!), 1);
    assert.equal(value((await panel('Degraded rollouts', oneEach))[0]!), 0, 'web is not degraded (vector(0) when none is)');
    const progress = keyed(await panel('Canary progress (steps done)'), 'rollout');
    assert.ok(Math.abs(progress.web! - 2 / 3) < 1e-9 && Math.abs(progress.bad! - 1 / 3) < 1e-9, JSON.stringify(progress));
    assert.deepEqual(keyed(await panel('Control plane scrape target'), 'instance'), { [api]: 1 });

    const verdicts = keyed(await panel('Analysis verdicts'), 'rollout', 'metric', 'phase');
    assert.equal(verdicts['web error-rate Successful'], COUNT, JSON.stringify(verdicts));
    assert.equal(verdicts['web error-rate Failed'], 0);
    assert.equal(verdicts['bad error-rate Failed'], 1, 'the first failed verdict aborts (failureLimit 0)');
    // (A first window with no 500 among its few requests — 0.5^8 — would pass once before the failure.)
    assert.ok(verdicts['bad error-rate Successful']! <= 1, JSON.stringify(verdicts));
    // Metric phase codes: 1 Successful, 2 Failed.
    assert.deepEqual(keyed(await panel('Analysis verdict per metric (newest run)'), 'rollout', 'metric'), { 'web error-rate': 1, 'bad error-rate': 2 });
    const last = keyed(await panel('Analysis: last measured value'), 'rollout');
    assert.ok(last.web! <= 0.05, `web's last error rate ${last.web}`);
    assert.ok(last.bad! > 0.05 && last.bad! <= 1, `bad's last error rate ${last.bad} (half its answers fail)`);
  });

  await t.test("the router's observed share agrees with the configured 80/20", async () => {
    const share = keyed(await panel('Traffic share per revision (observed canary weight)', oneEach), 'revision');
    assert.ok(Math.abs(share['2']! - 0.2) < 0.08 && Math.abs(share['1']! - 0.8) < 0.08, JSON.stringify(share));
  });

  await t.test('every rule is healthy; SluiceRolloutDegraded holds for bad only, SluiceControlPlaneDown not at all', async () => {
    await waitFor(
      async () => {
        const groups = (await promApi<{ groups: { name: string; rules: { health: string }[] }[] }>('/api/v1/rules')).groups;
        return groups.length === rules.groups.length + immediate.groups.length && groups.every((g) => g.rules.every((r) => r.health === 'ok'));
      },
      { timeoutMs: 20_000, what: 'every rule group loaded and healthy' },
    );
    const alerts = await waitFor(
      async () => {
        const a = (await promApi<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts')).alerts;
        const has = (state: string, copy: boolean) =>
          a.some((x) => x.labels.alertname === 'SluiceRolloutDegraded' && x.state === state && (x.labels.test_copy !== undefined) === copy);
        return has('firing', true) && has('pending', false) && a;
      },
      { timeoutMs: 30_000, what: 'SluiceRolloutDegraded firing in the copy, pending with the real for: 1m' },
    );
    const degraded = alerts.filter((a) => a.labels.alertname === 'SluiceRolloutDegraded');
    assert.deepEqual([...new Set(degraded.map((a) => a.labels.rollout))], ['bad']);
    for (const a of degraded) {
      assert.equal(a.labels.severity, 'warning');
      assert.equal(a.labels.job, CP_JOB);
    }
    assert.deepEqual(
      alerts.filter((a) => a.labels.alertname === 'SluiceControlPlaneDown' || a.labels.alertname === 'SluiceRouterDown'),
      [],
    );
  });

  await t.test('an abort shows at once: web back to 100 % on revision 1, Degraded, progress unchanged', async () => {
    const r = await sluice.cli(['abort', 'web']);
    assert.equal(r.code, 0, r.stderr);
    const weights = await waitFor(
      async () => {
        const w = keyed(await query('sluice_rollout_weight_percent{rollout="web"}'), 'revision');
        return Object.keys(w).length === 1 && w;
      },
      { timeoutMs: 20_000, what: "web's split back on one revision in Prometheus" },
    );
    assert.deepEqual(weights, { 1: 100 });
    assert.deepEqual(keyed(await query('sluice_rollout_phase{rollout="web"} == 1'), 'phase'), { Degraded: 1 });
    assert.equal(value((await query('sluice_analysis_measurements{rollout="web",phase="Successful"}'))[0]!), COUNT, 'the run is still counted');
  });

  const reports = await Promise.all(loads.map((l) => l.stop()));
  for (const r of reports) assert.equal(r.errors, 0, 'no connection errors');
});

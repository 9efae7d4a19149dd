/**
 * deploy/grafana/sluice-dashboard.json and deploy/prometheus/sluice-rules.yml against a real
 * Prometheus scraping a real router process (src/router/main.js) on 127.0.0.1:
 *   - promtool accepts the rules;
 *   - after a bounded amount of traffic to two revisions (revision 2 answers every 4th
 *     request 500, and slowly), every PromQL expression of the dashboard (its variables
 *     substituted as Grafana would, one value each and "All") is valid, the variables'
 *     label_values resolve, and the main panels show the numbers the traffic implies;
 *   - Prometheus loads the rule groups and evaluates every rule with health ok;
 *   - the 5xx alerts hold for revision 2 only (pending with the file's `for:`, firing in a
 *     copy with `for: 0s`), and SluiceRouterDown holds for a target nobody listens on.
 * Skipped loudly without Prometheus; a failure when CI is set.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { freePort } from '../helpers/ports.js';
import { prometheusOrSkip, promtoolOrSkip, startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';
import { listenAddr, listener, request, startBackend, table, type Backend } from '../helpers/router-fixtures.js';
import { HttpTrafficRouter, startRouterProcess } from '../../src/router/http-client.js';
import { adminTokenPath } from '../../src/router/credential.js';
import { isProcessAlive } from '../../src/util/process-control.js';
import { sleep, waitFor } from '../helpers/wait.js';

const RULES = fileURLToPath(new URL('../../../deploy/prometheus/sluice-rules.yml', import.meta.url));
const DASHBOARD = fileURLToPath(new URL('../../../deploy/grafana/sluice-dashboard.json', import.meta.url));
/** The job name the rules' SluiceRouterDown expects (docs/grafana.md's scrape config). */
const JOB = 'sluice-router';
/** The control plane's job (docs/grafana.md); nothing scrapes one in this file. */
const CONTROL_PLANE_JOB = 'sluice-control-plane';
/** A dashboard variable named otherwise than the label it lists. */
const VARIABLE_LABEL: Record<string, string> = { cpjob: 'job' };
const ROLLOUT = 'web';
/** Requests sent through the router: half to each revision (smooth weighted round-robin is exact). */
const BATCHES = 4;
const PER_BATCH = 100;
const TOTAL = BATCHES * PER_BATCH;
/** Revision 2 answers every FAIL_EVERY-th request 500, each after SLOW_MS. */
const FAIL_EVERY = 4;
const SLOW_MS = 30;

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('promtool check rules accepts deploy/prometheus/sluice-rules.yml', (t) => {
  const promtool = promtoolOrSkip(t);
  if (!promtool) return;
  const r = spawnSync(promtool, ['check', 'rules', RULES], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `promtool check rules failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /SUCCESS: \d+ rules found/);
});

interface PromAnswer<T> {
  status: string;
  error?: string;
  data: T;
}
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface RuleGroup {
  name: string;
  rules: { name: string; type: string; health: string; lastError?: string; state?: string }[];
}
interface Alert {
  labels: Record<string, string>;
  state: string;
  value: string;
}

interface DashboardPanel {
  title?: string;
  type: string;
  targets?: { expr: string; refId: string }[];
  panels?: DashboardPanel[];
}
interface Dashboard {
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: { list: { type: string; name: string; query: unknown; allValue?: string; multi?: boolean; includeAll?: boolean }[] };
}

function dashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

/** Every (panel, refId, expr) of the dashboard, rows' nested panels included. */
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

/**
 * What Grafana sends for a multi-value variable: each value regex-escaped inside the PromQL
 * string (so `.` becomes `\\.`), several joined as `(a|b)`; "All" is the variable's allValue.
 */
function grafanaRegex(values: string[]): string {
  const esc = (v: string) => v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
  return values.length === 1 ? esc(values[0]) : `(${values.map(esc).join('|')})`;
}

function substitute(expr: string, vars: Record<string, string>): string {
  let out = expr.replaceAll('$__rate_interval', '30s').replaceAll('$__interval', '15s').replaceAll('$__range', '5m');
  // Longest names first, so $rollout never eats a prefix of another variable.
  for (const name of Object.keys(vars).sort((a, b) => b.length - a.length)) out = out.replaceAll(`\${${name}}`, vars[name]).replaceAll(`$${name}`, vars[name]);
  assert.doesNotMatch(out, /\$/, `a variable was left in ${out}`);
  return out;
}

/** A server for revision 2: every FAIL_EVERY-th request answers 500, all after SLOW_MS. */
async function failingBackend(): Promise<{ port: number; close(): Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    n++;
    const status = n % FAIL_EVERY === 0 ? 500 : 200;
    setTimeout(() => res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 500 ? 'boom' : 'v2'), SLOW_MS);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Sends `count` requests, `concurrency` at a time; returns the statuses seen. */
async function send(port: number, count: number, concurrency: number): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const a = await request(port, { path: '/' });
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

test('the dashboard and the rules work against a real Prometheus scraping a real router', async (t) => {
  if (!prometheusOrSkip(t)) return;

  // The router process, two revisions behind one main listener split 50/50.
  const stateDir = mkdtempSync(join(tmpdir(), 'sluice-grafana-'));
  cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }));
  const adminPort = await freePort();
  const admin = `127.0.0.1:${adminPort}`;
  const { pid, token } = await startRouterProcess({ stateDir, admin, logFile: join(stateDir, 'router.log') });
  cleanups.push(async () => {
    if (isProcessAlive(pid)) process.kill(pid, 'SIGTERM');
    await waitFor(() => !isProcessAlive(pid), { timeoutMs: 10_000, what: 'the router to exit' }).catch(() => process.kill(pid, 'SIGKILL'));
  });
  const client = new HttpTrafficRouter(admin, token);
  cleanups.push(() => client.close());
  const v1: Backend = await startBackend('v1');
  cleanups.push(() => v1.close());
  const v2 = await failingBackend();
  cleanups.push(() => v2.close());
  const { listen, port } = await listenAddr();
  await client.apply(
    table(
      1,
      listener(
        listen,
        { 1: ['v1', [v1.endpoint('web-1-a')]], 2: ['v2', [{ id: 'web-2-a', host: '127.0.0.1', port: v2.port }]] },
        { 1: 50, 2: 50 },
        { rollout: ROLLOUT },
      ),
    ),
  );

  // Prometheus with the rules, and a copy of the alerts with `for: 0s` (labelled test_copy)
  // so that "fires" can be seen without waiting minutes. The job has a second target on a
  // port nobody listens on: the router-down alert's case.
  const ruleDir = mkdtempSync(join(tmpdir(), 'sluice-grafana-rules-'));
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
  const deadTarget = `127.0.0.1:${await freePort()}`;
  const prom: RunningPrometheus = await startPrometheus({
    scrapeTargets: [admin, deadTarget],
    scrapeIntervalSeconds: 1,
    bearerTokenFile: adminTokenPath(stateDir),
    jobName: JOB,
    ruleFiles: [RULES, immediateFile],
  });
  cleanups.push(() => prom.stop());

  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${prom.address}${path}`);
    const body = (await r.json()) as PromAnswer<T>;
    assert.equal(body.status, 'success', `${path}: ${body.error ?? r.status}`);
    return body.data;
  };
  const query = async (expr: string, time?: number): Promise<Sample[]> => {
    const data = await api<{ resultType: string; result: Sample[] }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}${time === undefined ? '' : `&time=${time}`}`,
    );
    assert.equal(data.resultType, 'vector', `${expr}: ${data.resultType}`);
    return data.result;
  };
  const value = (s: Sample) => Number(s.value[1]);
  const byRevision = (samples: Sample[]) => new Map(samples.map((s) => [s.metric.revision, value(s)]));

  // The router's zero-valued series must be scraped before any traffic, or rate() sees no increase.
  await waitFor(
    async () => {
      const up = await query(`up{job="${JOB}",instance="${admin}"}`);
      const series = await query(`sluice_requests_total{rollout="${ROLLOUT}"}`);
      return up.length === 1 && value(up[0]) === 1 && series.length === 10;
    },
    { timeoutMs: 30_000, what: 'Prometheus to scrape the router (10 series of sluice_requests_total)' },
  );

  const statuses = new Map<number, number>();
  for (let b = 0; b < BATCHES; b++) {
    for (const [s, n] of await send(port, PER_BATCH, 8)) statuses.set(s, (statuses.get(s) ?? 0) + n);
    await sleep(1000);
  }
  const failures = TOTAL / 2 / FAIL_EVERY;
  assert.deepEqual(Object.fromEntries(statuses), { 200: TOTAL - failures, 500: failures }, 'what the clients got');

  // Every request scraped: from here on, the window queries are evaluated at this instant
  // (time=), so a slow machine cannot let the 30s windows slide past the traffic.
  await waitFor(async () => value((await query(`sum(sluice_requests_total{rollout="${ROLLOUT}"})`))[0]) === TOTAL, {
    timeoutMs: 20_000,
    what: `Prometheus to have scraped all ${TOTAL} requests`,
  });
  await sleep(1500);
  const at = Date.now() / 1000;

  const d = dashboard();
  const queries = dashboardQueries(d);

  await t.test('the dashboard is a schemaVersion ≥ 36 dashboard with a datasource variable and multi-value rollout/listener/revision variables', () => {
    assert.ok(d.schemaVersion >= 36, `schemaVersion ${d.schemaVersion}`);
    const vars = new Map(d.templating.list.map((v) => [v.name, v]));
    assert.equal(vars.get('datasource')?.type, 'datasource');
    assert.equal(vars.get('datasource')?.query, 'prometheus');
    for (const name of ['job', 'rollout', 'listener', 'revision']) {
      const v = vars.get(name);
      assert.equal(v?.type, 'query', name);
      assert.equal(v?.allValue, '.*', name);
      assert.ok(v?.multi && v.includeAll, name);
    }
    // The control-plane job's "All" is the union of its values, not .*: its scrape-target panel shows `up`, which every job has.
    const cpjob = vars.get('cpjob');
    assert.equal(cpjob?.type, 'query');
    assert.equal(cpjob?.allValue, undefined);
    assert.ok(cpjob?.multi && cpjob.includeAll);
    assert.ok(queries.length >= 15, `${queries.length} queries`);
  });

  await t.test("the variables' label_values resolve to this router's rollout, listener and revisions", async () => {
    const vars = { job: JOB, cpjob: CONTROL_PLANE_JOB, rollout: grafanaRegex([ROLLOUT]), listener: grafanaRegex([listen]) };
    // No control plane here (test/integration/grafana-control-plane.test.ts has one): its job variable is empty.
    const expected: Record<string, string[]> = { job: [JOB], cpjob: [], rollout: [ROLLOUT], listener: [listen], revision: ['1', '2'] };
    for (const v of d.templating.list.filter((x) => x.type === 'query')) {
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(String(v.query));
      assert.ok(m, `variable ${v.name}: ${String(v.query)} is not label_values(selector, label)`);
      const [, selector, label] = m;
      assert.equal(label, VARIABLE_LABEL[v.name] ?? v.name);
      const got = (await query(`group by (${label}) (${substitute(selector, vars)})`, at)).map((s) => s.metric[label]).sort();
      assert.deepEqual(got, expected[v.name], `variable ${v.name}`);
    }
  });

  const oneEach = {
    job: grafanaRegex([JOB]),
    cpjob: grafanaRegex([CONTROL_PLANE_JOB]),
    rollout: grafanaRegex([ROLLOUT]),
    listener: grafanaRegex([listen]),
    revision: grafanaRegex(['1', '2']),
  };
  const all = { job: '.*', cpjob: grafanaRegex([CONTROL_PLANE_JOB]), rollout: '.*', listener: '.*', revision: '.*' };

  await t.test('every PromQL expression of the dashboard is valid, with chosen values and with "All"', async () => {
    for (const vars of [oneEach, all]) {
      for (const q of queries) {
        const expr = substitute(q.expr, vars);
        await assert.doesNotReject(query(expr, at), `panel "${q.panel}" ${q.refId}: ${expr}`);
      }
    }
  });

  const panel = async (title: string, refId = 'A', vars: Record<string, string> = oneEach) => {
    const q = queries.find((x) => x.panel === title && x.refId === refId);
    assert.ok(q, `no panel "${title}" ${refId}`);
    const result = await query(substitute(q.expr, vars), at);
    assert.ok(result.length > 0, `panel "${title}" ${refId} is empty: ${substitute(q.expr, vars)}`);
    return result;
  };

  await t.test('the main panels show the traffic: rate, 5xx ratio, p50/p95/p99, traffic share, status classes', async () => {
    for (const vars of [oneEach, all]) {
      const rate = byRevision(await panel('Request rate per revision', 'A', vars));
      assert.deepEqual([...rate.keys()].sort(), ['1', '2']);
      assert.ok(rate.get('1')! > 0 && rate.get('2')! > 0, `rates ${JSON.stringify([...rate])}`);

      const errors = byRevision(await panel('Error ratio per revision (5xx share)', 'A', vars));
      assert.equal(errors.get('1'), 0, 'revision 1 never failed');
      const e2 = errors.get('2')!;
      assert.ok(Math.abs(e2 - 1 / FAIL_EVERY) < 0.05, `revision 2's 5xx ratio ${e2}, expected about ${1 / FAIL_EVERY}`);

      const latencies: Map<string, number>[] = [];
      for (const ref of ['A', 'B', 'C']) {
        const l = byRevision(await panel('Latency p50 / p95 / p99 per revision', ref, vars));
        assert.deepEqual([...l.keys()].sort(), ['1', '2'], `latency ${ref}`);
        for (const [rev, s] of l) assert.ok(Number.isFinite(s) && s > 0 && s <= 10, `latency ${ref} revision ${rev}: ${s}`);
        latencies.push(l);
      }
      // Every answer of revision 2 took ≥ 30 ms: its quantiles lie in buckets above 25 ms.
      assert.ok(latencies[0].get('2')! >= 0.025, `revision 2's p50 ${latencies[0].get('2')}`);
      for (const rev of ['1', '2'])
        assert.ok(latencies[0].get(rev)! <= latencies[1].get(rev)! && latencies[1].get(rev)! <= latencies[2].get(rev)!, 'p50 ≤ p95 ≤ p99');

      const share = byRevision(await panel('Traffic share per revision (observed canary weight)', 'A', vars));
      for (const rev of ['1', '2']) assert.ok(Math.abs(share.get(rev)! - 0.5) < 0.05, `revision ${rev}'s share ${share.get(rev)} of a 50/50 split`);

      const classes = await panel('Requests by status class per revision', 'A', vars);
      const c = (rev: string, cls: string) => value(classes.find((s) => s.metric.revision === rev && s.metric.code_class === cls)!);
      assert.ok(c('2', '5xx') > 0 && c('2', '2xx') > 0 && c('1', '2xx') > 0);
      assert.equal(c('1', '5xx'), 0);

      assert.ok(value((await panel('Requests / s', 'A', vars))[0]) > 0);
      const overall = value((await panel('Error ratio', 'A', vars))[0]);
      assert.ok(Math.abs(overall - 1 / FAIL_EVERY / 2) < 0.05, `overall error ratio ${overall}`);
      const up = new Map((await panel('Router scrape target', 'A', vars)).map((s) => [s.metric.instance, value(s)]));
      assert.deepEqual(Object.fromEntries(up), { [admin]: 1, [deadTarget]: 0 });
    }
    // One revision chosen: only its series.
    const only2 = byRevision(await panel('Error ratio per revision (5xx share)', 'A', { ...oneEach, revision: grafanaRegex(['2']) }));
    assert.deepEqual([...only2.keys()], ['2']);
  });

  await t.test('Prometheus loads every rule group and evaluates every rule with health ok', async () => {
    const groups = await waitFor(
      async () => {
        const g = (await api<{ groups: RuleGroup[] }>('/api/v1/rules')).groups.filter((x) => !x.name.endsWith('-test-copy'));
        return g.length === rules.groups.length && g.every((x) => x.rules.every((r) => r.health === 'ok')) && g;
      },
      {
        timeoutMs: 20_000,
        what: 'every rule evaluated with health ok',
        detail: () => 'see /api/v1/rules',
      },
    );
    // Prometheus lists the groups in its own order (by name): compare as sets, each group's rules in file order.
    assert.deepEqual(groups.map((g) => g.name).sort(), ['sluice-control-plane', 'sluice-red', 'sluice-router']);
    for (const fileGroup of rules.groups) {
      assert.deepEqual(
        groups.find((g) => g.name === fileGroup.name)?.rules.map((r) => r.name),
        fileGroup.rules.map((r) => String(r.record ?? r.alert)),
        fileGroup.name,
      );
    }
    for (const g of groups) for (const r of g.rules) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
  });

  await t.test("the recording rules record revision 2's error ratio and the 50/50 share", async () => {
    const ratio = await waitFor(
      async () => {
        const r = byRevision(await query(`rollout_revision:sluice_requests_errors:ratio_rate1m{rollout="${ROLLOUT}"}`));
        return r.size === 2 && r;
      },
      { timeoutMs: 20_000, what: 'the recorded error ratio of both revisions' },
    );
    assert.equal(ratio.get('1'), 0);
    assert.ok(Math.abs(ratio.get('2')! - 1 / FAIL_EVERY) < 0.05, `recorded ratio ${ratio.get('2')}`);
    const p99 = byRevision(await query(`rollout_revision:sluice_request_duration_seconds:p99_rate1m{rollout="${ROLLOUT}"}`));
    assert.ok(p99.get('2')! >= 0.025 && p99.get('2')! < 1, `recorded p99 of revision 2: ${p99.get('2')}`);
    const share = byRevision(await query(`listener_revision:sluice_requests:share_rate1m{rollout="${ROLLOUT}"}`));
    for (const rev of ['1', '2']) assert.ok(Math.abs(share.get(rev)! - 0.5) < 0.05, `recorded share of ${rev}: ${share.get(rev)}`);
  });

  await t.test('the 5xx alerts hold for revision 2 only, and SluiceRouterDown for the dead target only', async () => {
    const alerts = await waitFor(
      async () => {
        const a = (await api<{ alerts: Alert[] }>('/api/v1/alerts')).alerts;
        const has = (name: string, state: string, copy: boolean) =>
          a.some((x) => x.labels.alertname === name && x.state === state && (x.labels.test_copy !== undefined) === copy);
        return (
          has('SluiceRevisionErrorRatioHigh', 'firing', true) &&
          has('SluiceRevisionErrorRatioHigh', 'pending', false) &&
          has('SluiceRouterDown', 'firing', true) &&
          has('SluiceRouterDown', 'pending', false) &&
          a
        );
      },
      { timeoutMs: 30_000, what: '5xx and router-down alerts (firing in the copy, pending with the real for:)' },
    );
    const of = (name: string) => alerts.filter((a) => a.labels.alertname === name);
    for (const a of [...of('SluiceRevisionErrorRatioHigh'), ...of('SluiceRevisionErrorRatioElevated')]) {
      assert.equal(a.labels.rollout, ROLLOUT);
      assert.equal(a.labels.revision, '2', 'only the failing revision');
      assert.equal(a.labels.version, 'v2');
      assert.equal(a.labels.severity, a.labels.alertname.endsWith('High') ? 'critical' : 'warning');
      assert.ok(Number(a.value) > 0.05, `alert value ${a.value}`);
    }
    for (const a of of('SluiceRouterDown')) {
      assert.equal(a.labels.instance, deadTarget, 'never the live router');
      assert.equal(a.labels.severity, 'critical');
    }
    for (const quiet of [
      'SluiceRevisionLatencyP99High',
      'SluiceRouterMissing',
      'SluiceRouterOverflow',
      'SluiceInstanceEjected',
      'SluiceListenerNoTraffic',
      'SluiceRolloutDegraded',
      'SluiceControlPlaneDown',
    ]) {
      assert.deepEqual(of(quiet), [], `${quiet} should not hold`);
    }
    // And the alert's expression itself, through the query API, at the instant of the traffic.
    const high = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === 'SluiceRevisionErrorRatioHigh')!;
    const held = await waitFor(
      async () => {
        const r = (await query(String(high.expr))).filter((s) => s.metric.rollout === ROLLOUT);
        return r.length > 0 && r;
      },
      {
        timeoutMs: 20_000,
        what: "SluiceRevisionErrorRatioHigh's expression to hold",
      },
    );
    assert.deepEqual(
      held.map((s) => s.metric.revision),
      ['2'],
    );
    assert.ok(value(held[0]) > 0.05);
  });
});

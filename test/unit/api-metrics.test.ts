/**
 * GET /v1/metrics (src/api/metrics-routes.ts): the exposition text for a known engine state
 * (the engine sim: a canary paused at 20 % after a passing analysis, one aborted by a failing
 * one, a blue-green without analysis), the route's roles and content type, and label values
 * escaped so that a parser reads back exactly what was written, whatever they hold.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makeSim, SIM_APP } from '../helpers/engine-sim.js';
import { rolloutManifest } from '../helpers/manifest.js';
import type { MeasurementContext, MetricProvider, ProviderResult } from '../../src/core/analysis.js';
import { escapeLabelValue, formatValue, type MetricsBackend, renderMetrics, VersionCache } from '../../src/api/metrics-routes.js';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import type { Principal } from '../../src/core/auth.js';
import type { JobStatus } from '../../src/core/jobs.js';
import type { RolloutRecord } from '../../src/core/rollout.js';

/** The builtin provider, scripted: each rollout's answer. */
class ScriptedProvider implements MetricProvider<{ metric: string }> {
  readonly kind = 'builtin' as const;
  constructor(private readonly answer: (ctx: MeasurementContext) => ProviderResult) {}
  async measure(_config: { metric: string }, ctx: MeasurementContext): Promise<ProviderResult> {
    return this.answer(ctx);
  }
}

const canary = `    canary:
      steps:
        - setWeight: 20
        - analysis:
            metrics:
              - name: error-rate
                interval: 1s
                count: 3
                successCondition: result <= 0.05
                provider: {builtin: {metric: error-rate, windowSeconds: 2}}
        - pause: {}
`;
const blueGreen = `    blueGreen:
      autoPromotionEnabled: true
`;

/** web: paused at 20 % after 3 good measurements; bad: aborted at its first (0.25 > 0.05); bg: blue-green, healthy. */
async function knownState() {
  const values: Record<string, number> = { web: 0.01, bad: 0.25 };
  const sim = makeSim(500, { builtin: new ScriptedProvider((ctx) => ({ value: values[ctx.rollout]! })) as never });
  const ports: Record<string, number> = { web: 18080, bad: 18081, bg: 18082 };
  const apply = (name: string, version: string, strategy: string) =>
    sim.controller.apply(
      rolloutManifest({ ...SIM_APP, name, version, strategy, replicas: 2, listen: `127.0.0.1:${ports[name]}` }),
      `/tmp/${name}.yaml`,
      sim.by,
    );
  for (const name of ['web', 'bad']) await apply(name, 'v1', canary);
  await apply('bg', 'v1', blueGreen);
  await sim.run(3000);
  for (const name of ['web', 'bad', 'bg']) assert.equal((await sim.status(name)).phase, 'Healthy', name);
  await apply('web', 'v2', canary);
  await apply('bad', 'v2', canary);
  await sim.run(15_000);
  const web = await sim.status('web');
  assert.equal(web.phase, 'Paused', web.message);
  assert.deepEqual(web.weights, [
    { revision: 1, weight: 80 },
    { revision: 2, weight: 20 },
  ]);
  const bad = await sim.status('bad');
  assert.equal(bad.phase, 'Degraded', bad.message);
  return sim;
}

describe('the exposition text of a known state', () => {
  let sim: Awaited<ReturnType<typeof knownState>>;
  before(async () => {
    sim = await knownState();
  });

  test('every family, every series, in order', async () => {
    const runs = (name: string) => sim.store.listJobs(name).filter((j) => j.status.kind === 'analysis');
    assert.equal(runs('web').length, 1);
    assert.equal(runs('bad').length, 1);
    const webLast = runs('web')[0]!.status.metrics![0]!.last!.finishedAt / 1000;
    const badLast = runs('bad')[0]!.status.metrics![0]!.last!.finishedAt / 1000;
    const text = renderMetrics(sim.store);
    assert.equal(
      text,
      [
        '# HELP sluice_rollout_info A rollout of this control plane (always 1): its strategy and metadata.environment ("" without one).',
        '# TYPE sluice_rollout_info gauge',
        'sluice_rollout_info{rollout="bad",strategy="canary",environment=""} 1',
        'sluice_rollout_info{rollout="bg",strategy="blueGreen",environment=""} 1',
        'sluice_rollout_info{rollout="web",strategy="canary",environment=""} 1',
        '# HELP sluice_rollout_phase Phase of the rollout: 1 for the current one (Healthy, Progressing, Paused, Degraded), 0 for the others.',
        '# TYPE sluice_rollout_phase gauge',
        'sluice_rollout_phase{rollout="bad",phase="Healthy"} 0',
        'sluice_rollout_phase{rollout="bad",phase="Progressing"} 0',
        'sluice_rollout_phase{rollout="bad",phase="Paused"} 0',
        'sluice_rollout_phase{rollout="bad",phase="Degraded"} 1',
        'sluice_rollout_phase{rollout="bg",phase="Healthy"} 1',
        'sluice_rollout_phase{rollout="bg",phase="Progressing"} 0',
        'sluice_rollout_phase{rollout="bg",phase="Paused"} 0',
        'sluice_rollout_phase{rollout="bg",phase="Degraded"} 0',
        'sluice_rollout_phase{rollout="web",phase="Healthy"} 0',
        'sluice_rollout_phase{rollout="web",phase="Progressing"} 0',
        'sluice_rollout_phase{rollout="web",phase="Paused"} 1',
        'sluice_rollout_phase{rollout="web",phase="Degraded"} 0',
        "# HELP sluice_rollout_weight_percent Configured traffic split of the rollout's main listener, as last applied to the router: percent of requests per revision (the canary weight). Sums to 100 per rollout; a revision no longer in the split has no series.",
        '# TYPE sluice_rollout_weight_percent gauge',
        'sluice_rollout_weight_percent{rollout="bad",revision="1",version="v1"} 100',
        'sluice_rollout_weight_percent{rollout="bg",revision="1",version="v1"} 100',
        'sluice_rollout_weight_percent{rollout="web",revision="1",version="v1"} 80',
        'sluice_rollout_weight_percent{rollout="web",revision="2",version="v2"} 20',
        '# HELP sluice_rollout_step Canary: steps of the current release done, i.e. the index (from 0) of the step being run; equals sluice_rollout_steps once the release is complete (phase Healthy).',
        '# TYPE sluice_rollout_step gauge',
        'sluice_rollout_step{rollout="bad"} 1',
        'sluice_rollout_step{rollout="web"} 2',
        '# HELP sluice_rollout_steps Canary: number of steps in the spec.',
        '# TYPE sluice_rollout_steps gauge',
        'sluice_rollout_steps{rollout="bad"} 3',
        'sluice_rollout_steps{rollout="web"} 3',
        "# HELP sluice_analysis_measurements Measurements of an analysis metric by verdict, summed over the rollout's analysis runs still kept. A gauge, not a counter: it goes down when the runs of a pruned revision are deleted (revisionHistoryLimit) and its series goes with the rollout. Inconclusive includes measurements taken while the provider's window was filling.",
        '# TYPE sluice_analysis_measurements gauge',
        'sluice_analysis_measurements{rollout="bad",metric="error-rate",phase="Successful"} 0',
        'sluice_analysis_measurements{rollout="bad",metric="error-rate",phase="Failed"} 1',
        'sluice_analysis_measurements{rollout="bad",metric="error-rate",phase="Inconclusive"} 0',
        'sluice_analysis_measurements{rollout="bad",metric="error-rate",phase="Error"} 0',
        'sluice_analysis_measurements{rollout="web",metric="error-rate",phase="Successful"} 3',
        'sluice_analysis_measurements{rollout="web",metric="error-rate",phase="Failed"} 0',
        'sluice_analysis_measurements{rollout="web",metric="error-rate",phase="Inconclusive"} 0',
        'sluice_analysis_measurements{rollout="web",metric="error-rate",phase="Error"} 0',
        "# HELP sluice_analysis_metric_phase Phase of an analysis metric in the rollout's newest run that has it: 1 for the current one (Running, Successful, Failed, Inconclusive, Error), 0 for the others.",
        '# TYPE sluice_analysis_metric_phase gauge',
        'sluice_analysis_metric_phase{rollout="bad",metric="error-rate",phase="Running"} 0',
        'sluice_analysis_metric_phase{rollout="bad",metric="error-rate",phase="Successful"} 0',
        'sluice_analysis_metric_phase{rollout="bad",metric="error-rate",phase="Failed"} 1',
        'sluice_analysis_metric_phase{rollout="bad",metric="error-rate",phase="Inconclusive"} 0',
        'sluice_analysis_metric_phase{rollout="bad",metric="error-rate",phase="Error"} 0',
        'sluice_analysis_metric_phase{rollout="web",metric="error-rate",phase="Running"} 0',
        'sluice_analysis_metric_phase{rollout="web",metric="error-rate",phase="Successful"} 1',
        'sluice_analysis_metric_phase{rollout="web",metric="error-rate",phase="Failed"} 0',
        'sluice_analysis_metric_phase{rollout="web",metric="error-rate",phase="Inconclusive"} 0',
        'sluice_analysis_metric_phase{rollout="web",metric="error-rate",phase="Error"} 0',
        '# HELP sluice_analysis_last_value Newest measured value of an analysis metric, when it is a number (true/false as 1/0).',
        '# TYPE sluice_analysis_last_value gauge',
        'sluice_analysis_last_value{rollout="bad",metric="error-rate"} 0.25',
        'sluice_analysis_last_value{rollout="web",metric="error-rate"} 0.01',
        '# HELP sluice_analysis_last_measurement_timestamp_seconds When the newest numeric measurement of an analysis metric finished, in seconds since the epoch.',
        '# TYPE sluice_analysis_last_measurement_timestamp_seconds gauge',
        `sluice_analysis_last_measurement_timestamp_seconds{rollout="bad",metric="error-rate"} ${badLast}`,
        `sluice_analysis_last_measurement_timestamp_seconds{rollout="web",metric="error-rate"} ${webLast}`,
        '',
      ].join('\n'),
    );
    // The sim's clock starts at 1000 s: the release began at 1003 s, three measurements 1 s apart.
    assert.ok(webLast > 1003 && webLast < 1018, `web's last measurement at ${webLast} s`);
  });

  test('a promotion past the pause moves the weight to 100 % on revision 2 and the phase to Healthy; the run stays counted', async () => {
    await sim.controller.promote('web', { full: false }, sim.by);
    await sim.run(10_000);
    const lines = renderMetrics(sim.store)
      .split('\n')
      .filter((l) => l.includes('rollout="web"'));
    assert.deepEqual(
      lines.filter((l) => l.startsWith('sluice_rollout_weight_percent')),
      ['sluice_rollout_weight_percent{rollout="web",revision="2",version="v2"} 100'],
    );
    assert.ok(lines.includes('sluice_rollout_phase{rollout="web",phase="Healthy"} 1'), lines.join('\n'));
    assert.ok(lines.includes('sluice_rollout_step{rollout="web"} 3'), lines.join('\n'));
    assert.ok(lines.includes('sluice_analysis_measurements{rollout="web",metric="error-rate",phase="Successful"} 3'));
  });
});

describe('GET /v1/metrics', () => {
  const tokens: Record<string, Principal> = {
    viewer: { user: 'grafana', roles: ['viewer'] },
    none: { user: 'nobody', roles: [] },
  };
  let sim: Awaited<ReturnType<typeof knownState>>;
  let api: RunningApiServer;
  let bare: RunningApiServer;
  before(async () => {
    sim = await knownState();
    const authenticate = (bearer: string) => tokens[bearer] ?? { refused: 'wrong token' };
    api = await startApiServer({ listen: '127.0.0.1:0', authenticate, actions: sim.controller, metrics: sim.store });
    bare = await startApiServer({ listen: '127.0.0.1:0', authenticate, actions: sim.controller });
  });
  after(async () => {
    await api?.close();
    await bare?.close();
  });
  const get = (server: RunningApiServer, token?: string, method = 'GET') =>
    fetch(`http://${server.address}/v1/metrics`, { method, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  test('a viewer token gets the text format, as renderMetrics writes it', async () => {
    const r = await get(api, 'viewer');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const text = await r.text();
    assert.equal(text, renderMetrics(sim.store));
    assert.match(text, /^sluice_rollout_weight_percent\{rollout="web",revision="2",version="v2"\} 20$/m);
  });

  test('no token: 401 with WWW-Authenticate; a token without a role: 403; POST: 405', async () => {
    const none = await get(api);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal(((await none.json()) as { code: string }).code, 'unauthorized');
    const wrong = await get(api, 'nope');
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const noRole = await get(api, 'none');
    assert.equal(noRole.status, 403);
    assert.match(((await noRole.json()) as { error: string }).error, /viewer/);
    const post = await get(api, 'viewer', 'POST');
    assert.equal(post.status, 405);
    await post.body?.cancel();
  });

  test('a server started without a metrics backend answers 501', async () => {
    const r = await get(bare, 'viewer');
    assert.equal(r.status, 501);
    assert.equal(((await r.json()) as { code: string }).code, 'not-implemented');
  });
});

/** One parsed sample line. */
interface ParsedSample {
  name: string;
  labels: [string, string][];
  value: string;
}

/**
 * A parser of the text format's sample lines after the format's own grammar (not a regexp of
 * what this writer happens to write): `name{label="value",…} value`, values with the escapes
 * `\\`, `\"` and `\n`; anything else is an error.
 */
function parseSample(line: string): ParsedSample {
  let i = 0;
  const ident = (what: string) => {
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line.slice(i));
    if (!m) throw new Error(`expected ${what} at ${i} in ${JSON.stringify(line)}`);
    i += m[0].length;
    return m[0];
  };
  const name = ident('a metric name');
  const labels: [string, string][] = [];
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const label = ident('a label name');
      if (line.slice(i, i + 2) !== '="') throw new Error(`expected =" at ${i} in ${JSON.stringify(line)}`);
      i += 2;
      let value = '';
      for (;;) {
        const c = line[i++];
        if (c === undefined) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
        if (c === '"') break;
        if (c === '\n') throw new Error('raw line feed in a label value');
        if (c === '\\') {
          const n = line[i++];
          if (n === '\\') value += '\\';
          else if (n === '"') value += '"';
          else if (n === 'n') value += '\n';
          else throw new Error(`bad escape \\${n} in ${JSON.stringify(line)}`);
        } else value += c;
      }
      labels.push([label, value]);
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`expected , or } at ${i} in ${JSON.stringify(line)}`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`expected a space at ${i} in ${JSON.stringify(line)}`);
  const value = line.slice(i + 1);
  if (!/^(NaN|[+-]Inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/.test(value)) throw new Error(`bad value ${value}`);
  return { name, labels, value };
}

function parseExposition(text: string): ParsedSample[] {
  assert.ok(text === '' || text.endsWith('\n'), 'ends with a line feed');
  return text
    .split('\n')
    .slice(0, -1)
    .filter((l) => !l.startsWith('#'))
    .map(parseSample);
}

/** A rollout record and analysis job as renderMetrics reads them (only the fields it reads). */
function fakeBackend(rollouts: { name: string; environment: string; version: string; metric: string; value: number }[]): MetricsBackend {
  const records = rollouts.map(
    (r) =>
      ({
        name: r.name,
        spec: { strategy: { type: 'canary', steps: [{}, {}] }, ...(r.environment === '' ? {} : { environment: r.environment }) },
        status: { phase: 'Progressing', weights: [{ revision: 7, weight: 100 }], stepIndex: 1 },
      }) as unknown as RolloutRecord,
  );
  const jobs = rollouts.map((r) => ({
    status: {
      key: `${r.name}/r7/a0/step`,
      rollout: r.name,
      kind: 'analysis',
      phase: 'Running',
      startedAt: 1000,
      metrics: [
        {
          name: r.metric,
          phase: 'Running',
          measured: 2,
          successful: 1,
          failed: 1,
          inconclusive: 0,
          errors: 0,
          last: { metric: r.metric, phase: 'Failed', value: r.value, startedAt: 1500, finishedAt: 2000 },
        },
      ],
    } as unknown as JobStatus,
  }));
  return {
    listRollouts: () => records,
    listRevisions: (name: string) =>
      rollouts.some((r) => r.name === name) ? [{ number: 7, template: { version: rollouts.find((r) => r.name === name)!.version } }] : [],
    listJobs: () => jobs,
  } as unknown as MetricsBackend;
}

describe('label values and sample values', () => {
  // Strings heavy in what the format must escape, and in what it must not touch.
  const nasty = fc.string({ unit: fc.constantFrom('\\', '"', '\n', 'n', '{', '}', ',', '=', ' ', '#', 'a', 'é', '\u2028', '\r', '\t'), maxLength: 12 });
  const anyText = fc.oneof(nasty, fc.string({ unit: 'binary', maxLength: 12 }));

  test('every label value reads back as written (property: parse what renderMetrics wrote)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            name: anyText,
            environment: anyText,
            version: anyText,
            metric: anyText,
            value: fc.double(),
          }),
          { selector: (r) => r.name, minLength: 1, maxLength: 4 },
        ),
        (rollouts) => {
          const samples = parseExposition(renderMetrics(fakeBackend(rollouts)));
          for (const r of rollouts) {
            const mine = samples.filter((s) => s.labels.some(([k, v]) => k === 'rollout' && v === r.name));
            const labelOf = (name: string, label: string) => mine.find((s) => s.name === name)?.labels.find(([k]) => k === label)?.[1];
            assert.equal(labelOf('sluice_rollout_info', 'environment'), r.environment);
            assert.equal(labelOf('sluice_rollout_weight_percent', 'version'), r.version);
            assert.equal(labelOf('sluice_analysis_last_value', 'metric'), r.metric);
            const last = mine.find((s) => s.name === 'sluice_analysis_last_value')!;
            assert.equal(last.value, formatValue(r.value));
            if (Number.isFinite(r.value)) assert.ok(Number(last.value) === r.value, `${last.value} reads back as ${r.value}`);
            // 1 info, 4 phases, 1 weight, step and steps, 4 counts, 5 metric phases, last value and its time.
            assert.equal(mine.length, 19);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('escapes: backslash, double quote, line feed — and nothing else', () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    assert.equal(escapeLabelValue('\\n'), '\\\\n', 'a backslash then n is not a line feed');
    assert.equal(escapeLabelValue('tab\there\r é'), 'tab\there\r é');
    assert.deepEqual([NaN, Infinity, -Infinity, 0.25, -0, 1e21].map(formatValue), ['NaN', '+Inf', '-Inf', '0.25', '0', '1e+21']);
  });

  test('no rollout: an empty answer (no family without a sample)', () => {
    assert.equal(renderMetrics({ listRollouts: () => [], listRevisions: () => [], listJobs: () => [] } as unknown as MetricsBackend), '');
  });

  test("the versions cache: a rollout's revisions are read once, again for a new revision or a re-created rollout", () => {
    const reads: string[] = [];
    let record = {
      name: 'web',
      createdAt: 1,
      spec: { strategy: { type: 'blueGreen' } },
      status: { phase: 'Healthy', weights: [{ revision: 1, weight: 100 }] },
    };
    let versions: Record<number, string> = { 1: 'v1' };
    const backend = {
      listRollouts: () => [record],
      listRevisions: (name: string) => (reads.push(name), Object.entries(versions).map(([n, v]) => ({ number: Number(n), template: { version: v } }))),
      listJobs: () => [],
    } as unknown as MetricsBackend;
    const cache = new VersionCache();
    const weights = () =>
      renderMetrics(backend, cache)
        .split('\n')
        .filter((l) => l.startsWith('sluice_rollout_weight_percent'));
    assert.deepEqual(weights(), ['sluice_rollout_weight_percent{rollout="web",revision="1",version="v1"} 100']);
    weights();
    assert.equal(reads.length, 1, 'the second scrape reads no revision');
    versions = { 1: 'v1', 2: 'v2' };
    record = { ...record, status: { ...record.status, weights: [{ revision: 2, weight: 100 }] } };
    assert.deepEqual(weights(), ['sluice_rollout_weight_percent{rollout="web",revision="2",version="v2"} 100']);
    assert.equal(reads.length, 2, 'a revision not seen before');
    // Deleted and applied again: revision 2 is another template now.
    versions = { 1: 'v9', 2: 'v10' };
    record = { ...record, createdAt: 2 };
    assert.deepEqual(weights(), ['sluice_rollout_weight_percent{rollout="web",revision="2",version="v10"} 100']);
    assert.equal(reads.length, 3);
  });
});

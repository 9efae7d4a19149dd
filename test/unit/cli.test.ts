import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration } from '../../src/cli/command.js';
import {
  formatAge,
  measuredSummary,
  releaseWeight,
  renderAnalysis,
  renderHistory,
  renderRolloutList,
  renderRolloutView,
  renderTable,
  statusLine,
  weightBar,
} from '../../src/cli/render.js';
import { canaryView, NOW, startFakeApi, type FakeApi } from '../helpers/cli-fakes.js';
import type { AnalysisView } from '../../src/engine/actions.js';
import type { Measurement, MetricSpec } from '../../src/core/analysis.js';
import { metricStatus } from '../../src/analysis/evaluate.js';

const BIN = join(process.cwd(), 'bin', 'sluice.js');

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI as a child process (asynchronously: the API server lives in this process). */
function sluice(args: string[], options: { stateDir?: string; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const full = options.stateDir ? ['--state-dir', options.stateDir, ...args] : args;
    const child = spawn(process.execPath, [BIN, ...full], {
      env: { ...process.env, USER: 'tester', SLUICE_STATE_DIR: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

function oneErrorLine(r: CliResult): string {
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one stderr line, got: ${r.stderr}`);
  assert.match(lines[0]!, /^error: /);
  return lines[0]!;
}

describe('render', () => {
  test('weightBar fills in proportion, 20 cells by default', () => {
    assert.equal(weightBar(80), '████████████████░░░░');
    assert.equal(weightBar(0), '░'.repeat(20));
    assert.equal(weightBar(100), '█'.repeat(20));
    assert.equal(weightBar(150, 10), '█'.repeat(10));
    assert.equal(weightBar(50, 4), '██░░');
  });

  test('renderTable pads columns to the widest cell', () => {
    assert.equal(
      renderTable(
        ['A', 'BB', 'C'],
        [
          ['xxx', 'y', 'z'],
          ['1', '22222', ''],
        ],
      ),
      ['A     BB      C', 'xxx   y       z', '1     22222'].join('\n'),
    );
  });

  test('formatAge is compact', () => {
    assert.equal(formatAge(45_000), '45s');
    assert.equal(formatAge(192_000), '3m12s');
    assert.equal(formatAge(17 * 60_000), '17m');
    assert.equal(formatAge(5 * 3_600_000), '5h');
    assert.equal(formatAge(3 * 86_400_000), '3d');
    assert.equal(formatAge(-5), '0s');
  });

  test('the rollout list shows strategy, step, canary weight and revisions', () => {
    const text = renderRolloutList([canaryView('web')], NOW);
    const [header, row] = text.split('\n');
    assert.match(header!, /^NAME\s+STRATEGY\s+PHASE\s+STEP\s+WEIGHT\s+STABLE\s+CURRENT\s+AGE$/);
    assert.match(row!, /^web\s+canary\s+Paused\s+2\/4\s+20%\s+v1 \(rev 1\)\s+v2 \(rev 2\)\s+10m$/);
    assert.match(renderRolloutList([], NOW), /No rollouts/);
  });

  test('the release weight is only shown while a release is in progress', () => {
    const view = canaryView('web');
    assert.equal(releaseWeight(view), 20);
    view.status.stableRevision = 2;
    assert.equal(releaseWeight(view), undefined);
  });

  test('the rollout view has phase, revisions, bars, instances and events', () => {
    const text = renderRolloutView(canaryView('web'), NOW);
    assert.match(text, /^Name: +web$/m);
    assert.match(text, /^Phase: +Paused \(CanaryPauseStep\): waiting for `sluice promote`$/m);
    assert.match(text, /^Strategy: +canary {3}Step: 2\/4$/m);
    assert.match(text, /^ {2}2 +v2 +current +1\/1 +apply$/m);
    assert.match(text, /^ {2}1 +v1 +stable +3\/3 +apply$/m);
    assert.match(text, /^ {2}v1 \(rev 1\) ████████████████░░░░ 80%$/m);
    assert.match(text, /^ {2}v2 \(rev 2\) ████░░░░░░░░░░░░░░░░ 20%$/m);
    assert.match(text, /^ {2}web-2-1 +2 +Ready +1 +2001 +40011 +50s$/m);
    assert.match(text, /WeightSet +canary weight 20% \[rev 2\]$/m);
    assert.match(text, /RevisionCreated +revision 2 \(v2\) \[rev 2\] \(by alice@box\)$/m);
  });

  test('history marks current and stable', () => {
    const view = canaryView('web');
    const text = renderHistory(view.revisions, view, NOW);
    assert.deepEqual(text.split('\n'), [
      'REVISION      VERSION   CAUSE   CREATED',
      '2 (current)   v2        apply   60s',
      '1 (stable)    v1        apply   10m',
    ]);
  });

  test('status line', () => {
    assert.equal(statusLine(canaryView('web')), 'web: Paused (CanaryPauseStep): waiting for `sluice promote`');
  });

  test('durations accept 30s, 5m, 1h and seconds', () => {
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('90'), 90_000);
    assert.throws(() => parseDuration('soon'), /invalid duration "soon"/);
  });
});

describe('get analysis (issue 9, defect 11)', () => {
  const metric: MetricSpec = {
    name: 'error-rate',
    provider: { builtin: { metric: 'error-rate', revision: 'canary', windowSeconds: 30, minRequests: 20 } },
    interval: 10,
    count: 3,
    initialDelay: 0,
    successCondition: 'result < 0.1',
    failureLimit: 0,
    inconclusiveLimit: 0,
    consecutiveErrorLimit: 4,
    dryRun: false,
  };
  const at = (s: number) => ({ startedAt: NOW - s * 1000 - 50, finishedAt: NOW - s * 1000 });
  // What the outside test saw: one measurement while the window filled, then a failure.
  const measurements: Measurement[] = [
    {
      metric: 'error-rate',
      phase: 'Inconclusive',
      value: null,
      message: 'only 3 requests in the window (need 20)',
      details: { revision: 2, requests: 3, window: 4, inconclusive: true, windowFilling: true, reason: 'only 3 requests in the window (need 20)' },
      ...at(20),
    },
    {
      metric: 'error-rate',
      phase: 'Failed',
      value: 0.3,
      message: 'successCondition `result < 0.1` is false for 0.3',
      details: { revision: 2, requests: 120, window: 30 },
      ...at(10),
    },
  ];
  const status = metricStatus(metric, measurements);
  const view: AnalysisView = {
    job: {
      key: 'web/r2/a0/step-1',
      title: 'step 2 analysis',
      spec: { kind: 'analysis', analysis: { metrics: [metric], args: {}, onFailure: 'abort' } },
      context: { rollout: 'web', canaryRevision: 2, stableRevision: 1, version: 'v2', addresses: { main: '127.0.0.1:1' } },
    },
    status: {
      key: 'web/r2/a0/step-1',
      rollout: 'web',
      title: 'step 2 analysis',
      kind: 'analysis',
      phase: 'Failed',
      message: status.message ?? '',
      startedAt: NOW - 30_000,
      metrics: [status],
    },
    measurements,
  };

  test('the summary adds up: the measurement taken while the window filled is counted as such', () => {
    assert.equal(status.measured, 2);
    assert.equal(measuredSummary(status), '2 measured: 1 failed, 1 while the window filled (not counted)');
  });

  test('each measurement shows its value, request count, window and why it was not a success', () => {
    const text = renderAnalysis([view], NOW);
    assert.doesNotMatch(text, /null\?|0\.3000/, text);
    assert.match(text, /20s ago {2}\? Inconclusive {2}no value {2}3 requests over 4s {2}only 3 requests in the window \(need 20\)/);
    assert.match(text, /10s ago {2}✗ Failed {2}0\.3 {2}120 requests over 30s {2}successCondition `result < 0\.1` is false for 0\.3/);
    assert.match(text, /error-rate \(builtin, every 10s, 3 times; success: result < 0\.1\): Failed/);
  });

  test('a compared metric shows both sides and the copies compared', () => {
    const m: Measurement[] = [
      { metric: 'error-rate', phase: 'Successful', value: 0.01, details: { requests: 50, stableRequests: 200, window: 30 }, ...at(5) },
      { metric: 'error-rate', phase: 'Successful', value: 0, details: { compared: 40, requests: 41, window: 30 }, ...at(1) },
    ];
    const text = renderAnalysis([{ ...view, measurements: m }], NOW);
    assert.match(text, /✓ Successful {2}0\.01 {2}50 requests \(stable 200\) over 30s\n/);
    assert.match(text, /✓ Successful {2}0 {2}40 copies compared over 30s/);
  });
});

describe('sluice CLI against the API', () => {
  let api: FakeApi;
  let logDir: string;
  before(async () => {
    logDir = mkdtempSync(join(tmpdir(), 'sluice-logs-'));
    const healthy = canaryView('healthy', 'Healthy');
    healthy.status.stableRevision = 2;
    healthy.status.weights = [{ revision: 2, weight: 100 }];
    const progressing = canaryView('moving', 'Progressing');
    api = await startFakeApi([canaryView('web', 'Paused', logDir), healthy, canaryView('broken', 'Degraded'), progressing]);
    writeFileSync(join(logDir, 'web-2-1.log'), 'canary line 1\ncanary line 2\n');
    writeFileSync(join(logDir, 'web-1-1.log'), 'stable line\n');
  });
  after(() => api.server.close());

  test('get rollout NAME renders the view', async () => {
    const r = await sluice(['get', 'rollout', 'web'], { stateDir: api.stateDir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Phase: +Paused \(CanaryPauseStep\)/m);
    assert.match(r.stdout, /v1 \(rev 1\) ████████████████░░░░ 80%/);
    assert.match(r.stdout, /web-2-1/);
  });

  test('get rollouts prints the table; -o json the data', async () => {
    const r = await sluice(['get', 'rollouts'], { stateDir: api.stateDir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME +STRATEGY +PHASE/);
    assert.equal(r.stdout.trimEnd().split('\n').length, 5);
    const j = await sluice(['get', 'rollout', 'web', '-o', 'json'], { stateDir: api.stateDir });
    assert.equal(JSON.parse(j.stdout).name, 'web');
    const y = await sluice(['-o', 'yaml', 'get', 'rollout', 'web'], { stateDir: api.stateDir });
    assert.match(y.stdout, /^name: web$/m);
  });

  test('an unknown rollout prints one error line and exits 1', async () => {
    const r = await sluice(['get', 'rollout', 'nope'], { stateDir: api.stateDir });
    assert.equal(r.code, 1);
    assert.equal(oneErrorLine(r), 'error: rollout "nope" not found — see `sluice get rollouts`');
    assert.equal(r.stdout, '');
  });

  test('status exit codes: Healthy 0, Degraded 1, Progressing/Paused 2', async () => {
    const cases: [string, number, RegExp][] = [
      ['healthy', 0, /^healthy: Healthy$/],
      ['broken', 1, /^broken: Degraded \(ProgressDeadlineExceeded\)$/],
      ['moving', 2, /^moving: Progressing$/],
      ['web', 2, /^web: Paused \(CanaryPauseStep\)/],
    ];
    for (const [name, code, line] of cases) {
      const r = await sluice(['status', name], { stateDir: api.stateDir });
      assert.equal(r.code, code, `${name}: ${r.stderr}`);
      assert.match(r.stdout.trim(), line);
    }
  });

  test('status --watch ends on Healthy/Degraded, or exits 3 at the timeout', async () => {
    assert.equal((await sluice(['status', 'healthy', '--watch'], { stateDir: api.stateDir })).code, 0);
    assert.equal((await sluice(['status', 'broken', '-w', '--timeout', '5s'], { stateDir: api.stateDir })).code, 1);
    const r = await sluice(['status', 'moving', '--watch', '--timeout', '1s'], { stateDir: api.stateDir });
    assert.equal(r.code, 3);
    assert.equal(oneErrorLine(r), 'error: timed out after 1s waiting for moving: Progressing');
  });

  test('apply -f sends the file and prints one line per rollout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-apply-'));
    const file = join(dir, 'api.yaml');
    writeFileSync(file, 'metadata:\n  name: api\n');
    const r = await sluice(['apply', '-f', file], { stateDir: api.stateDir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'rollout/api created (revision 3)\n');
    const call = api.actions.calls.filter((c) => c.method === 'apply').at(-1)!;
    assert.deepEqual(call.args[1], file);
    assert.match((call.args[2] as { actor: string }).actor, /^tester@/);

    const stdin = await sluice(['apply', '-f', '-'], { stateDir: api.stateDir, input: 'metadata:\n  name: web\n' });
    assert.equal(stdin.stdout, 'rollout/web configured (revision 3)\n');
  });

  test('actions: promote --full, undo --to-revision, set --env', async () => {
    let r = await sluice(['promote', 'web', '--full'], { stateDir: api.stateDir });
    assert.equal(r.stdout, 'rollout/web promoted (full)\n');
    assert.deepEqual(api.actions.calls.at(-1)!.args.slice(0, 2), ['web', { full: true }]);
    r = await sluice(['undo', 'web', '--to-revision', '1'], { stateDir: api.stateDir });
    assert.equal(r.stdout, 'rollout/web configured (revision 3)\n');
    assert.deepEqual(api.actions.calls.at(-1)!.args.slice(0, 2), ['web', { toRevision: 1 }]);
    r = await sluice(['set', 'web', '--version', 'v3', '--env', 'A=1=2', '--unset-env', 'B'], { stateDir: api.stateDir });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(api.actions.calls.at(-1)!.args.slice(0, 2), ['web', { version: 'v3', env: { A: '1=2', B: null } }]);
    r = await sluice(['abort', 'nope'], { stateDir: api.stateDir });
    assert.equal(r.code, 1);
    oneErrorLine(r);
  });

  test('usage errors exit 2 with the usage line', async () => {
    let r = await sluice(['promote'], { stateDir: api.stateDir });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'error: missing NAME\nusage: sluice promote NAME [--full] [--variant X]\n');
    r = await sluice(['promote', 'web', '--fast'], { stateDir: api.stateDir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: unknown flag --fast\nusage: sluice promote/);
    r = await sluice(['status', 'web', '--watch', '--timeout', 'soon'], { stateDir: api.stateDir });
    assert.equal(r.code, 2);
    r = await sluice(['frobnicate']);
    assert.equal(r.code, 2);
  });

  test('a mistyped command or flag gets a "did you mean"; a far-off one does not', async () => {
    let r = await sluice(['promte', 'web'], { stateDir: api.stateDir });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'error: unknown command "promte" — did you mean `sluice promote`? see `sluice help`\n');
    r = await sluice(['promote', 'web', '--ful'], { stateDir: api.stateDir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: unknown flag --ful — did you mean --full\?\nusage: sluice promote/);
    r = await sluice(['status', 'web', '--wacth'], { stateDir: api.stateDir });
    assert.match(r.stderr, /^error: unknown flag --wacth — did you mean --watch\?/);
    r = await sluice(['help', 'stauts']);
    assert.match(r.stderr, /did you mean `sluice help status`\?/);
    r = await sluice(['frobnicate']);
    assert.equal(r.stderr, 'error: unknown command "frobnicate" — see `sluice help`\n');
  });

  test('history and events', async () => {
    const h = await sluice(['history', 'web'], { stateDir: api.stateDir });
    assert.match(h.stdout, /^2 \(current\) +v2/m);
    const e = await sluice(['events', 'web'], { stateDir: api.stateDir });
    assert.equal(e.stdout.trimEnd().split('\n').length, 3);
    assert.match(e.stdout, /WeightSet/);
  });

  test('logs prints the matching instances, prefixed when more than one', async () => {
    const one = await sluice(['logs', 'web', '--revision', '2'], { stateDir: api.stateDir });
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, 'canary line 1\ncanary line 2\n');
    const all = await sluice(['logs', 'web'], { stateDir: api.stateDir });
    assert.equal(all.stdout, '[web-1-1] stable line\n[web-2-1] canary line 1\n[web-2-1] canary line 2\n');
    const none = await sluice(['logs', 'web', '--revision', '7'], { stateDir: api.stateDir });
    assert.equal(none.code, 1);
    assert.match(oneErrorLine(none), /no running instance of revision 7/);
  });

  test('without a running sluice: one message, whatever is missing, naming the state dir and how to start it', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'sluice-empty-'));
    const r = await sluice(['get', 'rollouts'], { stateDir: empty });
    assert.equal(r.code, 1);
    const expected = `sluice is not running for state directory ${empty} (no control plane found) — start it with \`sluice up -d\``;
    assert.equal(oneErrorLine(r), `error: ${expected}`);
    // A token left by an earlier run, but no api.json: the same words (it used to say "no …/api.json").
    writeFileSync(join(empty, 'token'), 'a'.repeat(64) + '\n');
    assert.equal(oneErrorLine(await sluice(['get', 'rollouts'], { stateDir: empty })), `error: ${expected}`);
  });

  test('help and version', async () => {
    const h = await sluice(['help', 'status']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^usage: sluice status NAME/);
    assert.match(h.stdout, /Exit codes: 0 Healthy/);
    const flag = await sluice(['logs', '--help']);
    assert.match(flag.stdout, /--instance ID/);
    const all = await sluice(['--help']);
    for (const c of ['up', 'down', 'apply', 'lint', 'get', 'status', 'history', 'events', 'logs', 'promote', 'undo', 'set', 'delete']) {
      assert.match(all.stdout, new RegExp(`^  ${c} `, 'm'));
    }
    const v = await sluice(['version']);
    assert.match(v.stdout, /^sluice \d+\.\d+\.\d+/);
  });
});

describe('sluice lint (local)', () => {
  test('a bad file exits 1 with one line naming file:line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-lint-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'apiVersion: sluice.dev/v1alpha1\nkind: Rolout\nmetadata:\n  name: web\n');
    const r = await sluice(['lint', '-f', file]);
    assert.equal(r.code, 1);
    const line = oneErrorLine(r);
    assert.match(line, /bad\.yaml:2:\d+: .*kind/);
    assert.equal(r.stdout, '');
  });

  test('a good file prints ok with its rollout count', async () => {
    const r = await sluice(['lint', '-f', 'examples/canary.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^examples\/canary\.yaml: ok \(\d+ rollouts?\)$/m);
  });

  test('warnings are printed after ok, and do not fail the lint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-lint-'));
    const file = join(dir, 'zero.yaml');
    writeFileSync(file, readFileSync('examples/canary.yaml', 'utf8').replace(/replicas: \d+/, 'replicas: 0'));
    const r = await sluice(['lint', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /zero\.yaml: ok \(1 rollout\)\nwarning: .*zero\.yaml:\d+: .*replicas/);
  });
});

/**
 * `sluice experiment status|report|plan|list`: the real CLI process against a fake API that
 * answers the two experiment routes (GET /v1/rollouts/:name/experiment, GET /v1/experiments)
 * from fixture reports (test/helpers/experiment-fixtures.ts), with the real token check.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { writeApiInfo } from '../../src/api/token.js';
import type { ExperimentSummary, ExperimentView } from '../../src/api/client.js';
import { makePlan, parsePlanFlags } from '../../src/cli/experiment-plan.js';
import { pctInterval, pValue, signedPct } from '../../src/experiments/report/format.js';
import { experimentSeries, freshReport } from '../helpers/experiment-fixtures.js';
import { renderExperimentStatus } from '../../src/cli/render-experiment.js';
import { TEST_TOKEN } from '../helpers/cli-fakes.js';

const BIN = join(process.cwd(), 'bin', 'sluice.js');

const two = experimentSeries({ concluded: true });
const three = experimentSeries({ variants: 3, srmAlarm: true, seed: 7, rollout: 'pricing' });
const guarded = experimentSeries({ guardrailViolation: true, seed: 3, rollout: 'search' });
const EXPERIMENTS = new Map<string, ExperimentView>([
  ['checkout', two],
  ['pricing', three],
  ['search', guarded],
  ['fresh', { report: null, snapshots: [] }],
]);

let server: Server;
let stateDir: string;
const urls: string[] = [];

function sluice(args: string[], dir = stateDir): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--state-dir', dir, ...args], { env: { ...process.env, USER: 'tester', SLUICE_STATE_DIR: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  server = createServer((req, res) => {
    urls.push(req.url ?? '');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${TEST_TOKEN}`) return send(401, { error: 'bad token', code: 'unauthorized' });
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/v1\/rollouts\/([^/]+)\/experiment$/.exec(url.pathname);
    if (req.method === 'GET' && m) {
      const name = decodeURIComponent(m[1]!);
      const data = EXPERIMENTS.get(name);
      return data ? send(200, data) : send(404, { error: `rollout "${name}" not found — see \`sluice get rollouts\``, code: 'not-found' });
    }
    if (req.method === 'GET' && url.pathname === '/v1/experiments') {
      const experiments: ExperimentSummary[] = [...EXPERIMENTS.values()]
        .filter((d) => d.report)
        .map((d) => ({
          rollout: d.report!.rollout,
          experiment: d.report!.experiment,
          verdict: d.report!.recommendation.verdict,
          users: d.report!.variants.reduce((s, v) => s + v.users, 0),
          at: d.report!.at,
        }));
      return send(200, { experiments });
    }
    send(404, { error: 'no such route', code: 'not-found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  stateDir = mkdtempSync(join(tmpdir(), 'sluice-cli-experiment-'));
  writeFileSync(join(stateDir, 'token'), TEST_TOKEN + '\n', { mode: 0o600 });
  writeApiInfo(stateDir, { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, pid: process.pid });
});
after(() => new Promise<void>((r) => server.close(() => r())));

test('status: variants, metrics with lift, interval and p-values, SRM ok, guardrails, concluded, ignored', async () => {
  const r = await sluice(['experiment', 'status', 'checkout']);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  const report = two.report!;
  assert.match(out, /^Experiment: {2}checkout \/ r2a0$/m);
  assert.match(out, /^Verdict: {5}SHIP B: B lifts purchase by .* \(final\)$/m);
  assert.match(out, /^Concluded: {3}SHIP B at 2025-01-15 09:01Z by alice@laptop$/m);
  assert.match(out, /^VARIANT\s+REVISION\s+WEIGHT\s+USERS\s+SHARE\s+EXPECTED$/m);
  const [a, b] = report.variants;
  assert.match(out, new RegExp(`^A \\(control\\)\\s+1\\s+50%\\s+${a!.users.toLocaleString('en-US')}\\s+\\d+\\.\\d\\d%\\s+50\\.00%$`, 'm'));
  assert.match(out, new RegExp(`^B\\s+2\\s+50%\\s+${b!.users.toLocaleString('en-US')}\\s`, 'm'));
  assert.match(out, /^Sample ratio: ok — chi² \d+\.\d\d \(df 1\), p 0\.\d{4}$/m);
  assert.match(out, /^Metric purchase \(binomial, higher is better, primary\)$/m);
  assert.match(out, /^Metric revenue \(continuous, higher is better\)$/m);
  const c = report.metrics[0]!.comparisons[0]!;
  const row = out.split('\n').find((l) => l.startsWith('B vs A'))!;
  assert.deepEqual(row.split(/\s{3,}/), [
    'B vs A',
    signedPct(c.relative.estimate),
    pctInterval(c.sequential.relative),
    pValue(c.fixed.pValue),
    pValue(c.sequential.pValue),
    pValue(c.adjustedPValue),
    'no',
  ]);
  assert.match(row, /\[[+-]\d+\.\d\d%, [+-]\d+\.\d\d%\]/);
  const rate = (report.metrics[0]!.variants[0]!.mean * 100).toFixed(2);
  assert.match(out, new RegExp(`^A\\s+[\\d,]+\\s+[\\d,]+\\s+${rate.replace('.', '\\.')}%\\s+0\\.2\\d{3}$`, 'm'));
  assert.match(out, /^Guardrails\nVARIANT\s+REQUESTS\s+ERRORS\s+P95\s+STATUS\nB\s+[\d,]+\s+0\.40%\s+118 ms\s+ok$/m);
  assert.match(out, /^Ignored: 952 conversions after the metric's window, 3 from users never exposed$/m);
});

test('status with 3 variants and a sample-ratio mismatch: C compared too, the alarm, no SHIP', async () => {
  const r = await sluice(['experiment', 'status', 'pricing']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^A \(control\)\s+1\s+34%/m);
  assert.match(r.stdout, /^C\s+3\s+33%/m);
  assert.match(r.stdout, /^Sample ratio: MISMATCH — chi² [\d.]+ \(df 2\), p (<1e-12|[\d.]+e-\d+): users do not split as the weights say/m);
  assert.match(r.stdout, /^B vs A\s+/m);
  assert.match(r.stdout, /^C vs A\s+-\d+\.\d\d%/m);
  assert.match(r.stdout, /^Verdict: {5}CONTINUE: sample ratio mismatch/m);
  assert.doesNotMatch(r.stdout, /Concluded:/);
  // Holm: the adjusted p-value is at least the raw always-valid one.
  for (const c of three.report!.metrics[0]!.comparisons) assert.ok(c.adjustedPValue >= c.sequential.pValue);
});

test('status with a guardrail violation: STOP B and the violated line', async () => {
  const r = await sluice(['experiment', 'status', 'search']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Verdict: {5}STOP B: B: error rate 7\.90% over the guardrail/m);
  assert.match(r.stdout, /^B\s+[\d,]+\s+7\.90%\s+412 ms\s+VIOLATED: error rate 7\.90% > maxErrorRate 5\.00%$/m);
});

test('status -o json|yaml prints {report, snapshots}; --experiment goes to the query; a rollout without a test; an unknown rollout', async () => {
  const json = await sluice(['experiment', 'status', 'checkout', '-o', 'json']);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), JSON.parse(JSON.stringify(two)));
  const yaml = await sluice(['experiment', 'status', 'checkout', '-o', 'yaml', '--experiment', 'r2a0']);
  assert.equal(yaml.code, 0, yaml.stderr);
  const parsed = parseYaml(yaml.stdout) as ExperimentView;
  assert.equal(parsed.snapshots.length, two.snapshots.length);
  assert.equal(parsed.report!.recommendation.verdict, 'SHIP');
  assert.ok(urls.includes('/v1/rollouts/checkout/experiment?experiment=r2a0'), urls.join(' '));

  const none = await sluice(['experiment', 'status', 'fresh']);
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stdout, 'rollout/fresh: no A/B test with metrics has run yet — nothing to report\n');
  const unknown = await sluice(['experiment', 'status', 'nope']);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, 'error: rollout "nope" not found — see `sluice get rollouts`\n');
  const missing = await sluice(['experiment', 'status']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^error: sluice experiment status needs the rollout's NAME\n/);
});

test('list: a table and -o json', async () => {
  const r = await sluice(['experiment', 'list']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ROLLOUT\s+EXPERIMENT\s+VERDICT\s+USERS\s+UPDATED$/m);
  assert.match(r.stdout, /^checkout\s+r2a0\s+SHIP\s+[\d,]+\s+\S+ ago$/m);
  assert.match(r.stdout, /^search\s+r2a0\s+STOP\s/m);
  const json = JSON.parse((await sluice(['experiment', 'list', '-o', 'json'])).stdout) as { experiments: ExperimentSummary[] };
  assert.equal(json.experiments.length, 3);
});

test('report --html and --markdown write the files (atomically: no temporary file left)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-report-'));
  const html = join(dir, 'checkout.html');
  const md = join(dir, 'checkout.md');
  const r = await sluice(['experiment', 'report', 'checkout', '--html', html, '--markdown', md]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^wrote ${html} \\(56 snapshots\\)\nwrote ${md} and checkout-metric\\.svg, checkout-lift\\.svg \\(56 snapshots\\)\n$`));
  const page = readFileSync(html, 'utf8');
  assert.match(page, /^<!doctype html>/);
  assert.match(page, /<title>Experiment checkout \/ r2a0<\/title>/);
  assert.match(page, /by sluice \d+\.\d+\.\d+/);
  assert.match(readFileSync(md, 'utf8'), /!\[purchase: relative lift .*\]\(checkout-lift\.svg\)/);
  assert.match(readFileSync(join(dir, 'checkout-metric.svg'), 'utf8'), /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<svg xmlns=/);
  assert.deepEqual(readdirSync(dir).sort(), ['checkout-lift.svg', 'checkout-metric.svg', 'checkout.html', 'checkout.md']);

  const none = await sluice(['experiment', 'report', 'fresh', '--html', join(dir, 'fresh.html')]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no A\/B test with metrics has run yet/);
  assert.equal(existsSync(join(dir, 'fresh.html')), false);
  const noFile = await sluice(['experiment', 'report', 'checkout']);
  assert.equal(noFile.code, 2);
  assert.match(noFile.stderr, /^error: sluice experiment report needs --html FILE or --markdown FILE/);
  const badDir = await sluice(['experiment', 'report', 'checkout', '--html', join(dir, 'no', 'such', 'dir.html')]);
  assert.equal(badDir.code, 1);
  assert.match(badDir.stderr, /^error: cannot write .*dir\.html: ENOENT\n$/);
});

test('plan: 5% baseline, 10% MDE → 31,234 per variant (fixed-horizon two-sided z test), days with --daily-users; no daemon needed', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'sluice-plan-'));
  const r = await sluice(['experiment', 'plan', '--baseline', '5%', '--mde', '10%'], empty);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Effect: {12}5\.00% → 5\.50% \(\+10\.00% relative\)$/m);
  assert.match(r.stdout, /^Users per variant: 31,234$/m);
  assert.match(r.stdout, /^Users in all: {6}62,468 \(2 variants, equal weights\)$/m);
  assert.match(r.stdout, /sequentialTuning: 31234/);
  assert.doesNotMatch(r.stdout, /Duration/);

  const days = await sluice(['experiment', 'plan', '--baseline', '0.05', '--mde', '0.1', '--power', '0.8', '--alpha', '0.05', '--daily-users', '5,000'], empty);
  assert.equal(days.code, 0, days.stderr);
  assert.match(days.stdout, /^Users per variant: 31,234$/m);
  assert.match(days.stdout, /^Duration: {10}13 days at 5,000 users a day$/m);

  const json = JSON.parse((await sluice(['experiment', 'plan', '--baseline', '5%', '--mde', '10%', '-o', 'json'], empty)).stdout);
  assert.equal(json.usersPerVariant, 31234);
  assert.equal(json.totalUsers, 62468);

  const threeWay = JSON.parse((await sluice(['experiment', 'plan', '--baseline', '5%', '--mde', '10%', '--variants', '3', '-o', 'json'], empty)).stdout);
  assert.equal(threeWay.alphaPerComparison, 0.025);
  assert.ok(threeWay.usersPerVariant > 31234);
  assert.equal(threeWay.totalUsers, threeWay.usersPerVariant * 3);

  const continuous = await sluice(['experiment', 'plan', '--mean', '50', '--sd', '30', '--mde', '5%', '--daily-users', '1000'], empty);
  assert.equal(continuous.code, 0, continuous.stderr);
  assert.match(continuous.stdout, /^Users per variant: 2,261$/m);
  assert.match(continuous.stdout, /^Duration: {10}5 days at 1,000 users a day \(run at least a full week: weekdays differ\)$/m);
});

test('plan: bad input gets one line naming the flag and what to write (exit 2)', async () => {
  const cases: [string[], RegExp][] = [
    [['--baseline', 'abc', '--mde', '10%'], /^error: --baseline "abc" is not a number — write it as 5% or 0\.05$/],
    [['--baseline', '5', '--mde', '10%'], /^error: --baseline 5: a fraction is at most 1 — write 5% for 5 percent, or 5% or 0\.05$/],
    [['--baseline', '0%', '--mde', '10%'], /^error: --baseline 0%: a conversion rate must be between 0% and 100% \(exclusive\), e\.g\. 5%$/],
    [['--baseline', '5%'], /^error: --mde is missing: the smallest relative change worth finding, e\.g\. --mde 10%$/],
    [['--mde', '10%'], /^error: --baseline is missing: the control's conversion rate, e\.g\. --baseline 5%/],
    [['--baseline', '5%', '--mde=-10%'], /^error: --mde -10%: must be above 0/],
    [['--baseline', '60%', '--mde', '100%'], /^error: --mde 100%: 60\.00% lifted by it is 100% or more — use a smaller --mde$/],
    [['--baseline', '5%', '--mde', '10%', '--power', '1.5'], /^error: --power 1\.5: a fraction is at most 1/],
    [['--baseline', '5%', '--mde', '10%', '--power', '100%'], /^error: --power 100%: must be between 0 and 1 \(exclusive\), e\.g\. 0\.8$/],
    [['--baseline', '5%', '--mde', '10%', '--alpha', '0.7'], /^error: --alpha 0\.7: must be above 0 and at most 0\.5, e\.g\. 0\.05$/],
    [['--baseline', '5%', '--mde', '10%', '--variants', '1'], /^error: --variants "1": must be a whole number of at least 2/],
    [['--baseline', '5%', '--mde', '10%', '--daily-users', '0'], /^error: --daily-users "0": must be a whole number of at least 1, e\.g\. 20000$/],
    [['--mean', '50', '--mde', '10%'], /^error: a continuous metric needs both --mean and --sd \(missing --sd\)$/],
    [['--baseline', '5%', '--mean', '50', '--sd', '3', '--mde', '10%'], /^error: --baseline \(a conversion rate\) and --mean\/--sd/],
  ];
  for (const [args, expected] of cases) {
    const r = await sluice(['experiment', 'plan', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.split('\n')[0]!, expected, args.join(' '));
    assert.match(r.stderr.split('\n')[1]!, /^usage: sluice experiment /);
  }
  const unknown = await sluice(['experiment', 'frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown experiment action "frobnicate" — one of status, report, plan, list/);
});

test('makePlan: the injected sampleSize gets alpha split over the treatments and the kind', () => {
  const seen: unknown[] = [];
  const plan = makePlan(parsePlanFlags({ baseline: '4%', mde: '5%', variants: '4', alpha: '0.06', 'daily-users': '1000' }), (opts) => {
    seen.push(opts);
    return 1000;
  });
  assert.deepEqual(seen, [{ kind: 'binomial', baseline: 0.04, mde: 0.05, alpha: 0.02, power: 0.8 }]);
  assert.deepEqual({ total: plan.totalUsers, days: plan.days, comparisons: plan.comparisons }, { total: 4000, days: 4, comparisons: 3 });
});

test('help lists the command', async () => {
  const r = await sluice(['help', 'experiment']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: sluice experiment status NAME/);
  assert.match(r.stdout, /--daily-users N/);
});

test('a test nobody reached yet (nulls where JSON had NaN): dashes, not NaN or a crash', () => {
  const out = renderExperimentStatus(freshReport(), Date.UTC(2025, 0, 1, 10));
  assert.match(out, /^Started: {5}no exposure yet$/m);
  assert.match(out, /^Verdict: {5}CONTINUE: waiting for users: 0 of 1000 per variant$/m);
  assert.match(out, /^A \(control\)\s+2\s+50%\s+0\s+-\s+50\.00%$/m);
  assert.match(out, /^Sample ratio: ok — chi² - \(df 1\), p -$/m);
  assert.match(out, /^B vs A\s+-\s+\[-, -\]\s+-\s+-\s+-\s+no$/m);
  assert.match(out, /^B\s+0\s+-\s+-\s+ok$/m);
  assert.doesNotMatch(out, /NaN|null|undefined/);
});

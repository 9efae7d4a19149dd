/**
 * Acceptance (issue 15), end to end on one machine: dev, staging and production
 * environments of the demo app, each a real rollout with real processes, driven through the
 * `sluice` CLI with named tokens (SLUICE_TOKEN). `release create` deploys to dev and staging
 * by itself (smoke tests and a soak there); production waits for QA + Tech Lead + DevOps
 * (the Product Owner is optional), refuses a viewer's promote and the creator's own
 * approval, waits outside its window and proceeds inside it; the deployment request lists
 * the approvals as they arrive. Then kill -9 of the control plane while a release waits for
 * approvals: nothing is lost or doubled, and it proceeds after the restart.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceUnderTest, runCli, type CliResult } from '../helpers/sluice.js';
import { rolloutManifest } from '../helpers/manifest.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import type { ReleaseView } from '../../src/engine/pipelines/releases.js';

let sluice: SluiceUnderTest;
const ports: Record<string, number> = {};
const tokens: Record<string, string> = {};

before(async () => {
  sluice = await SluiceUnderTest.start();
  for (const env of ['dev', 'staging', 'production']) ports[env] = await freePort();
  ports.preview = await freePort();
});
after(async () => {
  await sluice?.down();
});

/** The CLI as the holder of a named token. */
function as(user: string, args: string[]): Promise<CliResult> {
  return runCli(['--state-dir', sluice.stateDir, ...args], sluice.dir, undefined, { SLUICE_TOKEN: tokens[user]! });
}

async function ok(user: string, args: string[]): Promise<string> {
  const r = await as(user, args);
  assert.equal(r.code, 0, `sluice ${args.join(' ')} as ${user}: ${r.stderr}`);
  return r.stdout;
}

async function makeToken(name: string, roles: string[]): Promise<void> {
  const admin = readFileSync(join(sluice.stateDir, 'token'), 'utf8').trim();
  const res = await fetch(`http://127.0.0.1:${sluice.apiPort}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, roles }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  tokens[name] = ((await res.json()) as { token: string }).token;
}

function rollout(env: string, version: string): string {
  const strategy =
    env === 'staging'
      ? `    blueGreen: {previewListen: "127.0.0.1:${ports.preview}", scaleDownDelaySeconds: 0}\n`
      : '    rolling: {maxSurge: 1, maxUnavailable: 0}\n';
  // Staging checks the preview before the switch: the release's smoke tests.
  const smoke =
    env === 'staging' ? '  smokeTests:\n    - name: health\n      target: preview\n      checks:\n        - {path: /healthz, maxLatencyMs: 2000}\n' : '';
  return rolloutManifest({ name: `api-${env}`, version, replicas: 1, listen: ports[env]!, strategy, extra: smoke }).replace(
    `  name: api-${env}\n`,
    `  name: api-${env}\n  environment: ${env}\n  service: api\n`,
  );
}

/** HH:MM in UTC, `minutes` from now. */
const utc = (minutes: number): string => new Date(Date.now() + minutes * 60_000).toISOString().slice(11, 16);

function pipeline(window: { start: string; end: string }): string {
  return `apiVersion: sluice.dev/v1alpha1
kind: Pipeline
metadata: {name: shop}
spec:
  services: [api]
  stages:
    - {name: dev, environment: dev}
    - name: staging
      environment: staging
      requiredSoakTime: 3s
    - name: production
      environment: production
      approvals:
        - {role: qa}
        - {role: tech-lead}
        - {role: devops}
        - {role: po, blocking: false}
      windows:
        - {start: "${window.start}", end: "${window.end}", timeZone: UTC}
      checklist:
        - {name: rollback plan, check: rollback-plan}
`;
}

let lastSeen = '';
async function release(id: string): Promise<ReleaseView> {
  const v = JSON.parse(await ok('dana', ['release', 'get', id, '-o', 'json'])) as ReleaseView;
  lastSeen = JSON.stringify({
    stages: v.stages.map((s) => [s.stage, s.phase, s.reason, s.message]),
    events: v.events.slice(-5).map((e) => [e.stage, e.reason, e.message]),
  });
  return v;
}
const stage = (v: ReleaseView, name: string) => v.stages.find((s) => s.stage === name)!;
const version = async (env: string) => (await fetch(`http://127.0.0.1:${ports[env]}/`).then((r) => r.json())) as { version: string };

test('a release goes dev → staging by itself, and into production only with the approvals, inside the window', async () => {
  await makeToken('dana', ['deployer', 'approver:qa']);
  await makeToken('vic', ['viewer']);
  await makeToken('quinn', ['approver:qa']);
  await makeToken('lee', ['approver:tech-lead']);
  await makeToken('otto', ['approver:devops']);
  await makeToken('pam', ['approver:po']);
  // v1 everywhere, then the pipeline, with its production window far from now.
  await sluice.apply('envs.yaml', ['dev', 'staging', 'production'].map((e) => rollout(e, 'v1')).join('---\n'));
  for (const env of ['dev', 'staging', 'production']) {
    await waitFor(
      sluice.rollout(`api-${env}`, (v) => v.status.phase === 'Healthy' && v.status.stableRevision === 1),
      { timeoutMs: 60_000, what: `${env} on v1` },
    );
  }
  const closed = { start: utc(6 * 60), end: utc(7 * 60) };
  await sluice.apply('pipeline.yaml', pipeline(closed));

  writeFileSync(join(sluice.dir, 'notes.md'), '- checkout: pay with one click\n- fix: totals rounding\n');
  assert.match(
    await ok('dana', ['release', 'create', '--version', 'v2', '--commit', 'abc1234def', '--config', 'VERSION=v2', '--notes', join(sluice.dir, 'notes.md')]),
    /release v2 created \(pipeline shop\)/,
  );

  // dev, then staging (smoke tests on the preview, then the soak), by themselves.
  const waiting = await waitFor(
    async () => {
      const v = await release('v2');
      return stage(v, 'production').reason === 'WaitingForApproval' ? v : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250, what: 'v2 to reach the production gate', detail: () => lastSeen },
  );
  assert.equal(stage(waiting, 'dev').phase, 'Healthy');
  assert.equal(stage(waiting, 'staging').phase, 'Healthy');
  assert.ok(stage(waiting, 'production').enteredAt === undefined);
  assert.equal(stage(waiting, 'production').reason, 'WaitingForApproval');
  assert.equal((await version('staging')).version, 'v2');
  assert.equal((await version('production')).version, 'v1');
  const smoke = await sluice.client().analysis('api-staging');
  assert.ok(
    smoke.some((a) => a.job.spec.kind === 'smoke' && a.job.key.includes('/r2/') && a.status.phase === 'Successful'),
    `staging ran its smoke tests on v2: ${JSON.stringify(smoke.map((a) => [a.job.key, a.status.phase]))}`,
  );
  const soakStart = stage(waiting, 'staging').healthyAt!;
  const entered = waiting.events.find((e) => e.stage === 'production' && e.reason === 'WaitingForApproval')!;
  assert.ok(entered.at >= soakStart + 3000, 'production was asked only after the 3 s soak in staging');

  // A viewer cannot promote; the creator cannot approve their own release.
  const viewer = await as('vic', ['release', 'promote', 'v2', '--stage', 'production']);
  assert.equal(viewer.code, 1);
  assert.match(viewer.stderr, /needs role deployer/);
  assert.equal(viewer.stderr.trim().split('\n').length, 1, viewer.stderr);
  const self = await as('dana', ['approve', 'v2', '--stage', 'production']);
  assert.equal(self.code, 1);
  assert.match(self.stderr, /dana created release v2 and stage production forbids self-approval/);

  // The request document lists approvals as they arrive.
  const request = () => ok('dana', ['release', 'request', 'v2', '--stage', 'production']);
  let doc = await request();
  assert.match(doc, /v2/);
  assert.match(doc, /abc1234def/);
  assert.match(doc, /pay with one click/);
  assert.doesNotMatch(doc, /quinn/);
  assert.match(doc, /\[ \] qa 1\/1 \(blocking\): missing/);
  assert.match(doc, /\[ \] po 1\/1 \(optional\): missing/);
  assert.match(doc, /waiting for 3 blocking approval\(s\)/);
  await ok('quinn', ['approve', 'v2', '--stage', 'production', '--comment', 'regression suite green']);
  doc = await request();
  assert.match(doc, /\[x\] qa 1\/1 \(blocking\): @quinn approved .*regression suite green/);
  assert.match(doc, /\[ \] tech-lead 1\/1 \(blocking\): missing/);
  await ok('lee', ['approve', 'v2', '--stage', 'production']);
  doc = await request();
  assert.match(doc, /\[x\] qa 1\/1 \(blocking\): @quinn/);
  assert.match(doc, /\[x\] tech-lead 1\/1 \(blocking\): @lee/);
  assert.match(doc, /\[ \] devops 1\/1 \(blocking\): missing/);
  // Still waiting: DevOps is missing (the optional PO never is waited for).
  await waitFor(async () => stage(await release('v2'), 'production').reason === 'WaitingForApproval', { timeoutMs: 5000, what: 'still waiting for devops' });
  await ok('otto', ['approve', 'v2', '--stage', 'production']);
  doc = await request();
  for (const [role, who] of [
    ['qa', 'quinn'],
    ['tech-lead', 'lee'],
    ['devops', 'otto'],
  ])
    assert.match(doc, new RegExp(`\\[x\\] ${role} 1/1 \\(blocking\\): @${who}`));
  assert.match(doc, /every blocking approval given/);
  assert.match(doc, /api-production/);

  // Every blocking approval given: it waits for the window, and says until when.
  const outside = await waitFor(
    async () => {
      const s = stage(await release('v2'), 'production');
      return s.reason === 'OutsideWindow' ? s : undefined;
    },
    { timeoutMs: 10_000, what: 'production to wait for its window' },
  );
  assert.equal(outside.phase, 'Waiting');
  assert.ok(outside.until !== undefined && outside.until > Date.now() + 5 * 3600_000, `waits until the window opens: ${outside.until}`);
  assert.match((await as('dana', ['get', 'release', 'v2'])).stdout, /OutsideWindow/);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await version('production')).version, 'v1', 'nothing deployed outside the window');

  // The team moves the window to open at the next whole minute (at least 10 s away): the
  // release waits for it, on the real clock, and enters by itself once it opens.
  const opensAt = Math.ceil((Date.now() + 10_000) / 60_000) * 60_000;
  const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);
  await sluice.apply('pipeline.yaml', pipeline({ start: hhmm(opensAt), end: hhmm(opensAt + 3600_000) }));
  const soon = await waitFor(
    async () => {
      const s = stage(await release('v2'), 'production');
      return s.reason === 'OutsideWindow' && s.until === opensAt ? s : undefined;
    },
    { timeoutMs: 10_000, what: 'production to wait for the moved window', detail: () => lastSeen },
  );
  assert.equal(soon.enteredAt, undefined);
  const done = await waitFor(
    async () => {
      const v = await release('v2');
      return stage(v, 'production').phase === 'Healthy' ? v : undefined;
    },
    { timeoutMs: 160_000, intervalMs: 250, what: 'v2 Healthy in production' },
  );
  assert.equal((await version('production')).version, 'v2');
  assert.ok(stage(done, 'production').enteredAt! >= opensAt, `entered at ${stage(done, 'production').enteredAt}, the window opens at ${opensAt}`);

  // The deployment log and the DORA metrics read this history.
  const log = await ok('vic', ['history', '--env', 'production']);
  assert.match(log, /v2/);
  assert.match(log, /production/);
  const kpis = JSON.parse(await ok('vic', ['kpis', '--env', 'production', '-o', 'json'])) as { rows: { environment: string; deployments: number }[] };
  assert.ok(
    kpis.rows.some((r) => r.environment === 'production' && r.deployments >= 1),
    JSON.stringify(kpis),
  );
  // Stage changes are events of the environment's rollouts too: the notification channels hear them.
  const events = await ok('vic', ['events', 'api-production']);
  assert.match(events, /ReleaseEntered.*release v2 production: entered production/);
  assert.match(events, /ReleaseHealthy/);
  const approvals = await ok('vic', ['get', 'approvals', 'v2']);
  assert.match(approvals, /quinn/);
  assert.match(approvals, /optional/);
});

test('kill -9 of the control plane while a release waits for approvals: none lost or doubled, and it proceeds after the restart', async () => {
  await ok('dana', ['release', 'create', '--version', 'v3', '--commit', 'fedcba9876', '--config', 'VERSION=v3']);
  await waitFor(async () => stage(await release('v3'), 'production').reason === 'WaitingForApproval', {
    timeoutMs: 120_000,
    intervalMs: 250,
    what: 'v3 to wait for approvals in production',
  });
  await ok('quinn', ['approve', 'v3', '--stage', 'production']);
  await ok('lee', ['approve', 'v3', '--stage', 'production']);
  await sluice.kill9();
  await sluice.up();
  const after = await release('v3');
  const standing = after.approvals.filter((a) => a.stage === 'production' && a.withdrawnAt === undefined);
  assert.deepEqual(standing.map((a) => a.user).sort(), ['lee', 'quinn'], 'both approvals survived, once each');
  assert.equal(stage(after, 'production').phase, 'Waiting');
  // A second approval by the same user is refused, not doubled.
  const again = await as('quinn', ['approve', 'v3', '--stage', 'production']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already approved/);
  await ok('otto', ['approve', 'v3', '--stage', 'production']);
  await waitFor(async () => stage(await release('v3'), 'production').phase === 'Healthy', {
    timeoutMs: 90_000,
    intervalMs: 250,
    what: 'v3 Healthy in production',
  });
  assert.equal((await version('production')).version, 'v3');
  assert.equal((await release('v3')).events.filter((e) => e.stage === 'production' && e.reason === 'Entered').length, 1, 'entered once');
});

test('bad input: one line naming what and where, and nothing changes', async () => {
  const before = await ok('vic', ['get', 'pipelines', '-o', 'json']);
  // A stage naming an environment no rollout or Environment has: refused with the file and line.
  const bad = pipeline({ start: '22:00', end: '23:00' }).replace('environment: production', 'environment: prod');
  writeFileSync(join(sluice.dir, 'bad.yaml'), bad);
  const r = await sluice.cli(['apply', '-f', join(sluice.dir, 'bad.yaml')]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /bad\.yaml:\d+: pipeline shop: stage production names environment "prod", which is not known — known: dev, production, staging; apply a kind: Environment named prod/,
  );
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  // A time zone this Node does not know.
  writeFileSync(join(sluice.dir, 'tz.yaml'), pipeline({ start: '22:00', end: '23:00' }).replace('timeZone: UTC', 'timeZone: Mars/Olympus'));
  const tz = await sluice.cli(['apply', '-f', join(sluice.dir, 'tz.yaml')]);
  assert.equal(tz.code, 1);
  assert.match(tz.stderr, /tz\.yaml:\d+:\d+: .*"Mars\/Olympus" is not a time zone this Node knows/);
  // A cycle in the stages.
  writeFileSync(
    join(sluice.dir, 'cycle.yaml'),
    pipeline({ start: '22:00', end: '23:00' })
      .replace('- {name: dev, environment: dev}', '- {name: dev, environment: dev, after: production}')
      .replace('    - name: staging\n', '    - name: staging\n      after: dev\n'),
  );
  const cycle = await sluice.cli(['apply', '-f', join(sluice.dir, 'cycle.yaml')]);
  assert.equal(cycle.code, 1);
  assert.match(cycle.stderr, /cycle\.yaml:\d+:\d+: .*stages form a cycle: dev → production → staging → dev|cycle\.yaml:\d+:\d+: .*stages form a cycle/);
  assert.equal(cycle.stderr.trim().split('\n').length, 1, cycle.stderr);
  assert.equal(await ok('vic', ['get', 'pipelines', '-o', 'json']), before, 'the stored pipeline did not change');
  // Unknown release, an existing version again, a bad commit, a stage the pipeline lacks.
  const unknown = await as('quinn', ['approve', 'v9', '--stage', 'production']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /v9/);
  const again = await as('dana', ['release', 'create', '--version', 'v2', '--commit', 'abc1234']);
  assert.match(again.stderr, /release v2 exists already — releases never change/);
  const commit = await as('dana', ['release', 'create', '--version', 'v4', '--commit', 'not-a-sha']);
  assert.match(commit.stderr, /--commit "not-a-sha" is not a commit id/);
  const noStage = await as('dana', ['release', 'request', 'v2', '--stage', 'prod']);
  assert.match(noStage.stderr, /has no stage "prod" — stages: dev, staging, production/);
  const usage = await as('dana', ['release', 'create', '--commit', 'abc1234']);
  assert.equal(usage.code, 2);
  assert.equal((await release('v2')).release.commit, 'abc1234def', 'v2 is as it was');
  assert.equal((await ok('dana', ['release', 'list', '-o', 'json'])).includes('"v4"'), false, 'no v4 was made');
});

/**
 * The playbook's documents (src/pipelines/reports.ts) from hand-made facts: a release of two
 * services going to production behind four approval rules (three blocking, the product owner
 * optional), a window and a freeze, migrations with lint classes, and a failure with its events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApprovalRecord, PipelineRecord, PipelineSpec, ReleaseEvent, ReleaseRecord, ReleaseStageState, StageSpec } from '../../src/core/pipeline.js';
import {
  deploymentLog,
  iso,
  type ReleaseFacts,
  renderDeploymentLog,
  renderDeploymentRequest,
  renderPostDeployReport,
  renderPostMortem,
  type ServiceFacts,
  table,
} from '../../src/pipelines/reports.js';

const T = Date.parse('2026-11-18T20:00:00Z');
const MIN = 60_000;

const staging: StageSpec = {
  name: 'staging',
  environment: 'staging',
  entry: 'auto',
  requiredSoakSeconds: 3600,
  approvals: [],
  selfApproval: false,
  windows: [],
  freezes: [],
  checklist: [],
};
const production: StageSpec = {
  name: 'production',
  environment: 'production',
  after: 'staging',
  entry: 'manual',
  requiredSoakSeconds: 0,
  approvals: [
    { role: 'qa', count: 1, blocking: true },
    { role: 'tech-lead', count: 1, blocking: true },
    { role: 'devops-lead', count: 1, blocking: true },
    { role: 'product-owner', count: 1, blocking: false },
  ],
  selfApproval: false,
  windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '22:00', end: '23:00', timeZone: 'Europe/Madrid' }],
  freezes: [{ from: '2026-12-20', to: '2027-01-06', timeZone: 'Europe/Madrid', reason: 'holidays' }],
  checklist: [{ name: 'backup', check: 'database-backup' }, { name: 'release notes published' }],
};
const pipeline: PipelineSpec = { name: 'shop', services: ['api', 'web'], stages: [staging, production] };
const release: ReleaseRecord = {
  id: 'v1.2.3',
  pipeline: 'shop',
  version: 'v1.2.3',
  commit: 'abc123def456',
  commitAt: T - 86_400_000,
  notes: '- JWT authentication (UC-014)\n- RBAC engine (UC-016)',
  services: [
    { service: 'api', version: 'v1.2.3', env: { SESSION_TIMEOUT: '30m', OLD_FLAG: null } },
    { service: 'web', version: 'v1.2.3', env: {} },
  ],
  createdBy: 'alice',
  createdAt: T - 3_600_000,
};
const api: ServiceFacts = {
  service: 'api',
  rollout: 'api-production',
  environment: 'production',
  fromVersion: 'v1.2.2',
  toVersion: 'v1.2.3',
  strategy: 'canary 10% → 50% → 100%, analysis each step',
  steps: ['setWeight 10', 'analysis error-rate', 'setWeight 50', 'setWeight 100'],
  migrations: [
    { name: '0005_create_user_sessions', phases: ['expand'], lintClasses: ['expand'] },
    { name: '0006_drop_legacy_tokens', phases: ['contract'], lintClasses: ['contract', 'lock'] },
  ],
  rollbackPlan: 'abort the canary: traffic back to the stable revision',
  rollbackEstimateSeconds: 120,
  expectedDowntime: 'none (zero-downtime canary)',
  watch: 'error-rate < 5 % for 30 min',
  events: [
    { at: T + 2 * MIN, type: 'Normal', reason: 'StepStarted', message: 'setWeight 10', actor: 'engine' },
    { at: T + 9 * MIN, type: 'Warning', reason: 'AnalysisFailed', message: 'error-rate 0.12 > 0.05' },
    { at: T + 10 * MIN, type: 'Warning', reason: 'Aborted', message: 'rolled back to revision 4', actor: 'engine' },
  ],
  analysis: [
    { at: T - 20 * MIN, metric: 'error-rate', value: 0.001, verdict: 'Successful' },
    { at: T + 5 * MIN, metric: 'error-rate', value: 0.02, verdict: 'Successful' },
    { at: T + 9 * MIN + 30_000, metric: 'error-rate', value: 0.12, verdict: 'Failed' },
  ],
};
const web: ServiceFacts = {
  service: 'web',
  rollout: 'web-production',
  environment: 'production',
  toVersion: 'v1.2.3',
  strategy: 'recreate',
  steps: [],
  migrations: [],
  rollbackPlan: 'redeploy the previous image',
  expectedDowntime: 'about 20 s while the instance restarts',
  events: [],
  analysis: [],
};
let nextId = 1;
const approval = (role: string, user: string, at: number, more: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  id: nextId++,
  release: 'v1.2.3',
  stage: 'production',
  role,
  user,
  decision: 'approve',
  at,
  ...more,
});
const event = (at: number, actor: string, reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): ReleaseEvent => ({
  id: nextId++,
  release: 'v1.2.3',
  stage: 'production',
  at,
  actor,
  type,
  reason,
  message,
});
const facts = (more: Partial<ReleaseFacts> = {}): ReleaseFacts => ({
  release,
  pipeline,
  stage: production,
  approvals: [],
  events: [],
  services: [api, web],
  now: T,
  ...more,
});

test('table: one Markdown table, cells escaped', () => {
  assert.equal(table(['a', 'b'], [['1', 'x | y']]), '| a | b |\n|---|---|\n| 1 | x \\| y |');
  assert.equal(iso(T), '2026-11-18T20:00:00Z');
});

test('the request ticks each approval as it arrives: one, then three', () => {
  const qa = approval('qa', 'carol', T + MIN, { comment: 'smoke tests pass' });
  const one = renderDeploymentRequest(facts({ approvals: [qa] }));
  assert.match(one, /^# Deployment request: v1\.2\.3 → production/);
  assert.match(one, /- \[x\] qa 1\/1 \(blocking\): @carol approved 2026-11-18T20:01:00Z — “smoke tests pass”/);
  assert.match(one, /- \[ \] tech-lead 1\/1 \(blocking\): missing/);
  assert.match(one, /- \[ \] devops-lead 1\/1 \(blocking\): missing/);
  assert.match(one, /- \[ \] product-owner 1\/1 \(optional\): missing/);
  assert.match(one, /waiting for 2 blocking approval\(s\) — `sluice approve v1\.2\.3 --stage production`/);

  const three = renderDeploymentRequest(facts({ approvals: [qa, approval('tech-lead', 'bob', T + 2 * MIN), approval('devops-lead', 'dana', T + 3 * MIN)] }));
  assert.match(three, /- \[x\] qa 1\/1 \(blocking\): @carol/);
  assert.match(three, /- \[x\] tech-lead 1\/1 \(blocking\): @bob approved 2026-11-18T20:02:00Z/);
  assert.match(three, /- \[x\] devops-lead 1\/1 \(blocking\): @dana approved 2026-11-18T20:03:00Z/);
  // The product owner is optional: still an open box, and not waited for.
  assert.match(three, /- \[ \] product-owner 1\/1 \(optional\): missing/);
  assert.match(three, /every blocking approval given/);
  assert.doesNotMatch(three, /\(blocking\): missing/);
});

test('withdrawn approvals are struck, rejections and self-approvals shown as not counting', () => {
  const text = renderDeploymentRequest(
    facts({
      approvals: [
        approval('tech-lead', 'bob', T + MIN, { withdrawnAt: T + 5 * MIN }),
        approval('qa', 'alice', T + 2 * MIN),
        approval('devops-lead', 'erin', T + 3 * MIN, { decision: 'reject', comment: 'no backup yet' }),
      ],
    }),
  );
  assert.match(text, /- ~~tech-lead: @bob approved 2026-11-18T20:01:00Z~~ — withdrawn 2026-11-18T20:05:00Z/);
  assert.match(text, /- \[ \] tech-lead 1\/1 \(blocking\): missing/);
  // alice created the release and the stage forbids self-approval.
  assert.match(text, /- \[ \] qa 1\/1 \(blocking\): missing/);
  assert.match(text, /- qa: @alice approved 2026-11-18T20:02:00Z — does not count \(created the release/);
  assert.match(text, /- \[ \] ✗ devops-lead: @erin rejected 2026-11-18T20:03:00Z — “no backup yet” — blocks entry until withdrawn/);
  assert.match(text, /rejected: a standing rejection holds the release/);
});

test('the request names version, commit, changes, services in order, migrations, risks, rollback, downtime, window and checklist', () => {
  const text = renderDeploymentRequest(
    facts({
      state: {
        release: 'v1.2.3',
        stage: 'production',
        phase: 'Waiting',
        reason: 'WaitingForApproval',
        message: 'waits for approval',
        serviceIndex: 0,
        deployed: {},
        checked: { 'release notes published': { by: 'alice', at: T + MIN } },
        updatedAt: T,
      },
      windowMessage: 'outside the deployment window (mon,tue,wed,thu,fri 22:00–23:00 Europe/Madrid); opens 2026-11-18T21:00:00.000Z',
    }),
  );
  assert.match(text, /\*\*Version:\*\* v1\.2\.3/);
  assert.match(text, /\*\*Commit:\*\* abc123def456 \(2026-11-17T20:00:00Z\)/);
  assert.match(text, /- JWT authentication \(UC-014\)\n- RBAC engine \(UC-016\)/);
  assert.match(text, /- api configuration: SESSION_TIMEOUT=30m, OLD_FLAG removed/);
  assert.match(
    text,
    /\| 1 \| api \| api-production \| v1\.2\.2 → v1\.2\.3 \| canary 10% → 50% → 100%, analysis each step \| setWeight 10; analysis error-rate;/,
  );
  assert.match(text, /\| 2 \| web \| web-production \| \(new\) → v1\.2\.3 \| recreate \| — \|/);
  assert.match(text, /\| api \| 0006_drop_legacy_tokens \| contract \| contract, lock \|/);
  const risks = text.slice(text.indexOf('## Risks'), text.indexOf('## Rollback plan'));
  assert.match(risks, /api: migration 0006_drop_legacy_tokens is contract, lock/);
  assert.doesNotMatch(risks, /0005_create_user_sessions/);
  assert.match(risks, /web: no analysis and no post-deploy watch/);
  assert.match(risks, /web: first deploy in production — no earlier version to roll back to/);
  assert.match(risks, /web: no rollback time estimate/);
  assert.match(risks, /web: expected downtime about 20 s/);
  assert.doesNotMatch(risks, /api: (no analysis|first deploy|expected downtime)/);
  assert.match(text, /- api: abort the canary: traffic back to the stable revision \(back to v1\.2\.2\); estimate 2 min/);
  assert.match(text, /- all, in reverse order \(web, api\): at least 2 min/);
  assert.match(text, /- window: mon,tue,wed,thu,fri 22:00–23:00 Europe\/Madrid/);
  assert.match(text, /- freeze: 2026-12-20 → 2027-01-06 Europe\/Madrid \(holidays\)/);
  assert.match(text, /- now \(2026-11-18T20:00:00Z\): outside the deployment window/);
  assert.match(text, /- \[ \] backup — sluice checks `database-backup` at entry/);
  assert.match(text, /- \[x\] release notes published — @alice at 2026-11-18T20:01:00Z/);
});

const failed: ReleaseStageState = {
  release: 'v1.2.3',
  stage: 'production',
  phase: 'Failed',
  reason: 'RolloutAborted',
  message: 'api aborted: error-rate 0.12 > 0.05',
  enteredBy: 'dana',
  enteredAt: T + MIN,
  promotedBy: 'dana',
  serviceIndex: 0,
  deployed: { api: { rollout: 'api-production', revision: 5 } },
  failedAt: T + 10 * MIN,
  restoredAt: T + 12 * MIN,
  checked: {},
  updatedAt: T + 12 * MIN,
};
const releaseEvents = [
  event(T + MIN, 'dana', 'Entered', 'promoted to production'),
  event(T + 10 * MIN, 'sluice', 'Failed', 'api aborted', 'Warning'),
  event(T + 12 * MIN, 'sluice', 'Restored', 'production Healthy again on v1.2.2'),
];

test('the post-mortem: timeline merged by time with actors, the metric at the abort, who did what, empty headings', () => {
  const text = renderPostMortem(facts({ state: failed, events: releaseEvents, approvals: [approval('qa', 'carol', T - MIN)], now: T + 30 * MIN }));
  assert.match(text, /^# Post-mortem: failure of v1\.2\.3 in production/);
  assert.match(text, /\*\*Incident:\*\* 2026-11-18T20:10:00Z/);
  assert.match(text, /\*\*Duration:\*\* 2 min \(2026-11-18T20:10:00Z → 2026-11-18T20:12:00Z\)/);
  assert.match(text, /failed at 2026-11-18T20:10:00Z: api aborted: error-rate 0\.12 > 0\.05\. The environment was Healthy again at 2026-11-18T20:12:00Z/);
  const timeline = text
    .slice(text.indexOf('## Timeline'), text.indexOf('## Metrics at the abort'))
    .split('\n')
    .filter((l) => l.startsWith('- '))
    .map((l) => l.split(' — ').slice(0, 2).join(' — '));
  // Release and rollout events by time; at 20:10 the release's Failed comes before api's Aborted (same instant, release first).
  assert.deepEqual(timeline, [
    '- 2026-11-18T20:01:00Z — dana (release): Entered',
    '- 2026-11-18T20:02:00Z — engine (api): StepStarted',
    '- 2026-11-18T20:09:00Z — engine (api): AnalysisFailed',
    '- 2026-11-18T20:10:00Z — sluice (release): Failed',
    '- 2026-11-18T20:10:00Z — engine (api): Aborted',
    '- 2026-11-18T20:12:00Z — sluice (release): Restored',
  ]);
  // Metrics from ten minutes before the failure to one after: 20:05 and 20:09:30, not the 19:40 baseline.
  const metrics = text.slice(text.indexOf('## Metrics at the abort'), text.indexOf('## Who did what'));
  assert.match(metrics, /Analysis from 2026-11-18T20:00:00Z to 2026-11-18T20:11:00Z/);
  assert.match(metrics, /\| 2026-11-18T20:05:00Z \| api \| error-rate \| 0\.02 \| Successful \|/);
  assert.match(metrics, /\| 2026-11-18T20:09:30Z \| api \| error-rate \| 0\.12 \| Failed \|/);
  assert.doesNotMatch(metrics, /19:40:00Z/);
  const who = text.slice(text.indexOf('## Who did what'), text.indexOf('## Root cause'));
  assert.match(who, /- alice: created the release 2026-11-18T19:00:00Z/);
  assert.match(who, /- carol: approved as qa 2026-11-18T19:59:00Z/);
  assert.match(who, /- dana: Entered \(release\) 2026-11-18T20:01:00Z/);
  assert.match(who, /- engine: StepStarted \(api\) 2026-11-18T20:02:00Z; AnalysisFailed \(api\) 2026-11-18T20:09:00Z; Aborted \(api\)/);
  for (const h of ['## Root cause', '## Lessons learned', '## Action items']) assert.ok(text.includes(h), h);
  assert.match(text, /\*\*Severity:\*\* _to fill in_/);
});

test('a post-mortem of a failure never restored says so', () => {
  const { restoredAt: _, ...notRestored } = failed;
  const text = renderPostMortem(facts({ state: { ...notRestored, phase: 'Failed' }, events: releaseEvents.slice(0, 2), now: T + 40 * MIN }));
  assert.match(text, /\*\*Duration:\*\* not restored as of 2026-11-18T20:40:00Z \(30 min so far\)/);
  assert.match(text, /It is not restored yet\./);
});

test('the post-deploy report: steps, watch, analysis per service, timeline', () => {
  const healthy: ReleaseStageState = { ...failed, phase: 'Healthy', reason: 'Healthy', message: 'all services healthy', healthyAt: T + 16 * MIN };
  delete healthy.failedAt;
  delete healthy.restoredAt;
  const text = renderPostDeployReport(facts({ state: healthy, events: releaseEvents.slice(0, 1), now: T + MIN * 60 }));
  assert.match(text, /^# Post-deploy report: v1\.2\.3 in production/);
  assert.match(
    text,
    /\*\*Result:\*\* Healthy \(Healthy\): all services healthy; entered 2026-11-18T20:01:00Z by dana; Healthy 2026-11-18T20:16:00Z; deployed in 15 min/,
  );
  assert.match(text, /### api \(api-production\): v1\.2\.2 → v1\.2\.3/);
  assert.match(text, /\*\*Post-deploy watch:\*\* error-rate < 5 % for 30 min/);
  assert.match(text, /1\. setWeight 10\n2\. analysis error-rate\n3\. setWeight 50\n4\. setWeight 100/);
  assert.match(text, /\| 2026-11-18T19:40:00Z \| api \| error-rate \| 0\.001 \| Successful \|/);
  assert.match(text, /### web \(web-production\): \(new\) → v1\.2\.3[\s\S]*\*\*Post-deploy watch:\*\* none[\s\S]*no steps[\s\S]*no analysis recorded/);
  assert.match(text, /\| 2026-11-18T20:01:00Z \| release \| dana \| Entered \| promoted to production \|/);
  assert.match(text, /\| 2026-11-18T20:09:00Z \| api \| engine \| ⚠ AnalysisFailed \| error-rate 0\.12 > 0\.05 \|/);
});

test('the deployment log: one row per release × stage entered, newest first, the playbook columns', () => {
  const records: PipelineRecord[] = [{ name: 'shop', spec: pipeline, source: '' }];
  const v124: ReleaseRecord = { ...release, id: 'v1.2.4', version: 'v1.2.4', hotfixOf: 'v1.2.3', createdAt: T + 20 * MIN };
  const st = (over: Partial<ReleaseStageState>): ReleaseStageState => ({ ...failed, ...over });
  const states: ReleaseStageState[] = [
    st({
      stage: 'staging',
      phase: 'Healthy',
      enteredBy: 'sluice',
      promotedBy: undefined,
      enteredAt: T - 50 * MIN,
      healthyAt: T - 40 * MIN,
      failedAt: undefined,
      restoredAt: undefined,
    }),
    failed,
    st({
      release: 'v1.2.4',
      stage: 'staging',
      phase: 'Deploying',
      enteredBy: 'sluice',
      promotedBy: undefined,
      enteredAt: T + 25 * MIN,
      failedAt: undefined,
      restoredAt: undefined,
    }),
    st({ release: 'v1.2.4', stage: 'production', phase: 'Waiting', enteredAt: undefined, failedAt: undefined, restoredAt: undefined }),
  ];
  const events = [...releaseEvents, event(T + 9 * MIN, 'sluice', 'Degraded', 'api degraded', 'Warning')];
  const rows = deploymentLog({ releases: [release, v124], states, events, pipelines: records });
  assert.deepEqual(rows, [
    { version: 'v1.2.4', at: T + 25 * MIN, environment: 'staging', stage: 'staging', by: 'sluice', result: 'DEPLOYING', incidents: '0' },
    {
      version: 'v1.2.3',
      at: T + MIN,
      environment: 'production',
      stage: 'production',
      by: 'dana',
      result: 'ROLLED BACK',
      incidents: '2 (Degraded, Failed); hotfix v1.2.4',
    },
    { version: 'v1.2.3', at: T - 50 * MIN, environment: 'staging', stage: 'staging', by: 'sluice', result: 'SUCCESS', incidents: '0; hotfix v1.2.4' },
  ]);
  assert.deepEqual(
    deploymentLog({ releases: [release, v124], states, events, pipelines: records, environment: 'production' }).map((r) => r.stage),
    ['production'],
  );
  const md = renderDeploymentLog(rows);
  assert.match(
    md,
    /^# Deployment log\n\n\| Version \| Date \| Environment \| Stage \| Deployed by \| Result \| Incidents \|\n\|---\|---\|---\|---\|---\|---\|---\|\n\| v1\.2\.4 \|/,
  );
  assert.match(md, /\| v1\.2\.3 \| 2026-11-18T20:01:00Z \| production \| production \| dana \| ROLLED BACK \| 2 \(Degraded, Failed\); hotfix v1\.2\.4 \|/);
  assert.equal(renderDeploymentLog([]), '# Deployment log\n\nno deployments\n');
});

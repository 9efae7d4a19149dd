// kind: Pipeline and kind: Environment (issue 15) through the public loader: what a valid
// document decodes to (every default), and the one-line error each kind of bad input gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadResources } from '../../src/spec/load.js';
import { UserError } from '../../src/util/errors.js';
import type { EnvironmentSpec, PipelineSpec } from '../../src/core/pipeline.js';

const FILE = 'deploy/pipeline.yaml';

function pipeline(stages: string, services = '[api, worker]'): string {
  return `apiVersion: sluice.dev/v1alpha1
kind: Pipeline
metadata:
  name: web
spec:
  services: ${services}
  stages:
${stages}`;
}
/** One stage "prod" in environment production, with `extra` lines (indented 6) added to it. */
const prod = (extra = '') => pipeline(`    - name: prod\n      environment: production\n${extra}`);

function load(text: string) {
  const loaded = loadResources(text, FILE);
  assert.equal(loaded.length, 1);
  return loaded[0]!;
}
const loadPipeline = (text: string): PipelineSpec => {
  const r = load(text);
  assert.equal(r.kind, 'Pipeline');
  return r.value as PipelineSpec;
};
const loadEnvironment = (text: string): EnvironmentSpec => {
  const r = load(text);
  assert.equal(r.kind, 'Environment');
  return r.value as EnvironmentSpec;
};

/** Asserts the exact one-line error. */
function fails(text: string, message: string): void {
  assert.throws(
    () => loadResources(text, FILE),
    (err: unknown) => {
      assert.ok(err instanceof UserError, `expected UserError, got ${String(err)}`);
      assert.equal(err.message, message);
      assert.ok(!err.message.includes('\n'), 'message is one line');
      return true;
    },
  );
}

const DEFAULT_STAGE = {
  entry: 'auto',
  requiredSoakSeconds: 0,
  approvals: [],
  selfApproval: false,
  windows: [],
  freezes: [],
  checklist: [],
};

test('pipeline: every default filled in; after defaults to the previous stage, none for the first', () => {
  const spec = loadPipeline(
    pipeline(`    - name: dev
      environment: dev
    - name: staging
      environment: staging
    - name: production
      environment: production
`),
  );
  assert.deepEqual(spec, {
    name: 'web',
    services: ['api', 'worker'],
    stages: [
      { name: 'dev', environment: 'dev', ...DEFAULT_STAGE },
      { name: 'staging', environment: 'staging', after: 'dev', ...DEFAULT_STAGE },
      { name: 'production', environment: 'production', after: 'staging', ...DEFAULT_STAGE },
    ],
  });
  assert.ok(!('after' in spec.stages[0]!), 'the first stage has no after key at all');
});

test('pipeline: every field given; approvals default count 1 and blocking; requiredSoakTime becomes seconds; windows default all week', () => {
  const spec = loadPipeline(
    pipeline(`    - name: staging
      environment: staging
    - name: preview
      environment: preview
      after: staging
      entry: manual
    - name: production
      environment: production
      after: staging
      entry: manual
      requiredSoakTime: 2h
      selfApproval: true
      approvals:
        - role: qa
        - role: tech-lead
          count: 2
          blocking: false
      windows:
        - start: "22:00"
          end: "06:00"
          timeZone: Europe/Madrid
        - days: [mon, fri]
          start: "09:30"
          end: "11:00"
          timeZone: UTC
      freezes:
        - from: 2026-12-20
          to: 2027-01-06
          reason: year-end
        - from: 2026-02-28
          to: 2026-02-28
          timeZone: America/New_York
      checklist:
        - name: database backup created
          check: database-backup
        - name: team on standby
`),
  );
  assert.deepEqual(spec.stages[1], { name: 'preview', environment: 'preview', ...DEFAULT_STAGE, after: 'staging', entry: 'manual' });
  assert.deepEqual(spec.stages[2], {
    name: 'production',
    environment: 'production',
    after: 'staging',
    entry: 'manual',
    requiredSoakSeconds: 7200,
    approvals: [
      { role: 'qa', count: 1, blocking: true },
      { role: 'tech-lead', count: 2, blocking: false },
    ],
    selfApproval: true,
    windows: [
      { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '22:00', end: '06:00', timeZone: 'Europe/Madrid' },
      { days: ['mon', 'fri'], start: '09:30', end: '11:00', timeZone: 'UTC' },
    ],
    freezes: [
      { from: '2026-12-20', to: '2027-01-06', timeZone: 'UTC', reason: 'year-end' },
      { from: '2026-02-28', to: '2026-02-28', timeZone: 'America/New_York' },
    ],
    checklist: [{ name: 'database backup created', check: 'database-backup' }, { name: 'team on standby' }],
  });
});

test('pipeline: requiredSoakTime takes a number of seconds too; an explicit after to an earlier stage is kept', () => {
  const spec = loadPipeline(
    pipeline(`    - name: a
      environment: dev
    - name: b
      environment: staging
      after: a
      requiredSoakTime: 90
    - name: c
      environment: production
      after: a
`),
  );
  assert.deepEqual(
    spec.stages.map((s) => [s.name, s.after, s.requiredSoakSeconds]),
    [
      ['a', undefined, 0],
      ['b', 'a', 90],
      ['c', 'a', 0],
    ],
  );
});

test('pipeline: a stage may come after one listed later, as long as following after ends at a first stage', () => {
  const spec = loadPipeline(
    pipeline(`    - name: dev
      environment: dev
    - name: prod
      environment: production
      after: staging
    - name: staging
      environment: staging
      after: dev
`),
  );
  assert.deepEqual(
    spec.stages.map((s) => [s.name, s.after]),
    [
      ['dev', undefined],
      ['prod', 'staging'],
      ['staging', 'dev'],
    ],
  );
});

test('environment: defaults (no spec at all), and description and env kept', () => {
  const env = (spec: string) => `apiVersion: sluice.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: staging\n${spec}`;
  assert.deepEqual(loadEnvironment(env('')), { name: 'staging', env: {} });
  assert.deepEqual(loadEnvironment(env('spec: {}\n')), { name: 'staging', env: {} });
  assert.deepEqual(loadEnvironment(env('spec:\n  description: the last stop before production\n  env:\n    LOG_LEVEL: debug\n    _X1: "2"\n')), {
    name: 'staging',
    description: 'the last stop before production',
    env: { LOG_LEVEL: 'debug', _X1: '2' },
  });
});

test('a pipeline and an environment in one file: each loads as its kind, at its line', () => {
  const text = `${pipeline('    - name: staging\n      environment: staging\n')}---\napiVersion: sluice.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: staging\n`;
  assert.deepEqual(
    loadResources(text, FILE).map((r) => [r.kind, (r.value as { name: string }).name, r.line]),
    [
      ['Pipeline', 'web', 1],
      ['Environment', 'staging', 11],
    ],
  );
});

const Z = 'spec.stages[0]';
test('bad windows: unknown time zone, 25:00, 9:00, start == end, no days, a day twice', () => {
  fails(
    prod('      windows: [{start: "22:00", end: "23:00", timeZone: Mars/Olympus}]\n'),
    `${FILE}:10:58: ${Z}.windows[0].timeZone: "Mars/Olympus" is not a time zone this Node knows — write an IANA name, e.g. Europe/Madrid, America/New_York or UTC`,
  );
  fails(
    prod('      windows: [{start: "25:00", end: "23:00", timeZone: UTC}]\n'),
    `${FILE}:10:25: ${Z}.windows[0].start: is not a time HH:MM, got "25:00" — write a 24-hour time HH:MM, e.g. "22:00"`,
  );
  fails(
    prod('      windows: [{start: "9:00", end: "23:00", timeZone: UTC}]\n'),
    `${FILE}:10:25: ${Z}.windows[0].start: is not a time HH:MM, got "9:00" — write a 24-hour time HH:MM, e.g. "22:00"`,
  );
  fails(
    prod('      windows: [{start: "22:00", end: "22:00", timeZone: UTC}]\n'),
    `${FILE}:10:39: ${Z}.windows[0].end: starts and ends at 22:00: the window is empty — give an end other than the start (an end before the start spans midnight)`,
  );
  fails(
    prod('      windows: [{days: [], start: "22:00", end: "23:00", timeZone: UTC}]\n'),
    `${FILE}:10:24: ${Z}.windows[0].days: has no days — list the days it is open, e.g. [mon, tue, wed, thu, fri]`,
  );
  fails(
    prod('      windows: [{days: [mon, mon], start: "22:00", end: "23:00", timeZone: UTC}]\n'),
    `${FILE}:10:24: ${Z}.windows[0].days: names a day twice — list each day once`,
  );
});

test('bad freezes: an impossible date, to before from', () => {
  fails(
    prod('      freezes: [{from: 2026-02-30, to: 2026-03-05}]\n'),
    `${FILE}:10:24: ${Z}.freezes[0].from: "2026-02-30" is not a calendar date — write an existing date YYYY-MM-DD`,
  );
  fails(
    prod('      freezes: [{from: 2026-03-05, to: 2026-03-01}]\n'),
    `${FILE}:10:40: ${Z}.freezes[0].to: ends (2026-03-01) before it starts (2026-03-05) — swap from and to`,
  );
});

test('bad stages: a name twice, an unknown after, a cycle through after (and onto itself), an environment that is not a DNS label', () => {
  fails(
    pipeline('    - name: prod\n      environment: production\n    - name: prod\n      environment: production\n'),
    `${FILE}:8:5: spec.stages: stage "prod" is defined twice — give each stage its own name`,
  );
  fails(
    pipeline('    - name: staging\n      environment: staging\n    - name: prod\n      environment: production\n      after: qa\n'),
    `${FILE}:8:5: spec.stages: stage "prod" comes after "qa", which is not a stage here — use one of staging, prod`,
  );
  fails(
    pipeline('    - name: a\n      environment: staging\n      after: b\n    - name: b\n      environment: production\n'),
    `${FILE}:8:5: spec.stages: stages form a cycle: a → b → a — make one stage the first (no after) and point every other one at an earlier stage`,
  );
  fails(
    pipeline('    - name: a\n      environment: staging\n      after: a\n'),
    `${FILE}:8:5: spec.stages: stages form a cycle: a → a — make one stage the first (no after) and point every other one at an earlier stage`,
  );
  fails(
    pipeline('    - name: prod\n      environment: Prod_1\n'),
    `${FILE}:9:20: ${Z}.environment: must be a lowercase DNS label, got "Prod_1" — use a lowercase DNS label: a-z, 0-9 and "-", starting and ending with a letter or digit, at most 63 characters`,
  );
  fails(
    pipeline('    []\n').replace('  stages:\n    []', '  stages: []'),
    `${FILE}:7:11: spec.stages: is empty — add at least one stage: {name: staging, environment: staging}`,
  );
});

test('bad approvals: a role with capitals, count 0, one role twice (added check)', () => {
  fails(
    prod('      approvals: [{role: QA}]\n'),
    `${FILE}:10:26: ${Z}.approvals[0].role: is not a role name, got "QA" — write a role name: lowercase letters, digits and "-", e.g. qa or tech-lead`,
  );
  fails(
    prod('      approvals: [{role: qa, count: 0}]\n'),
    `${FILE}:10:37: ${Z}.approvals[0].count: must be between 1 and 20, got 0 — write how many people of that role must approve, 1 to 20`,
  );
  fails(
    prod('      approvals: [{role: qa}, {role: qa, count: 2}]\n'),
    `${FILE}:10:18: ${Z}.approvals: asks role "qa" twice — give each role one rule and set its count, e.g. {role: qa, count: 2}`,
  );
});

test('bad checklist: one item name twice (added check: ticks are recorded by name)', () => {
  fails(
    prod('      checklist: [{name: backup}, {name: backup, check: database-backup}]\n'),
    `${FILE}:10:18: ${Z}.checklist: names item "backup" twice — give each checklist item its own name`,
  );
});

test('bad services: empty, a service twice', () => {
  fails(
    pipeline('    - name: prod\n      environment: production\n', '[]'),
    `${FILE}:6:13: spec.services: is empty — list at least one service (a rollout’s metadata.service, or its name)`,
  );
  fails(
    pipeline('    - name: prod\n      environment: production\n', '[api, api]'),
    `${FILE}:6:13: spec.services: names a service twice — list each service once`,
  );
});

test('unknown fields: did you mean, in a stage and in an environment', () => {
  fails(prod('      aproval: []\n'), `${FILE}:10:7: ${Z}.aproval: unknown field "aproval" — did you mean "approvals"?`);
  fails(
    'apiVersion: sluice.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: staging\nspec:\n  descripton: x\n',
    `${FILE}:6:3: spec.descripton: unknown field "descripton" — did you mean "description"?`,
  );
});

test('bad environments: a variable name, a name with capitals', () => {
  fails(
    'apiVersion: sluice.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: staging\nspec:\n  env:\n    1BAD: x\n',
    `${FILE}:7:5: spec.env.1BAD: "1BAD" is not a valid environment variable name — write env as NAME: value lines`,
  );
  fails(
    'apiVersion: sluice.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: Staging\n',
    `${FILE}:4:9: metadata.name: must be a lowercase DNS label, got "Staging" — use a lowercase DNS label: a-z, 0-9 and "-", starting and ending with a letter or digit, at most 63 characters`,
  );
});

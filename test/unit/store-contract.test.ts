// What every Store promises, run against each implementation: the engine's unit tests and
// the control-plane benchmark run on MemoryStore, the product on SqliteStore, so a
// difference between them is a test that passes for the wrong reason.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/core/store.js';
import { initialStatus } from '../../src/engine/controller.js';
import type { DesiredJob, JobStatus } from '../../src/core/jobs.js';
import type { InstanceRecord } from '../../src/core/platform.js';
import type { Measurement } from '../../src/core/analysis.js';
import type { RolloutRecord } from '../../src/core/rollout.js';
import type { ExposureRecord } from '../../src/core/exposure.js';
import type { FlagRecord, FlagState } from '../../src/core/flags.js';
import type { ApprovalDraft, ReleaseRecord, ReleaseStageState } from '../../src/core/pipeline.js';
import fc from 'fast-check';

const implementations: [string, () => Store][] = [
  ['SqliteStore', () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'sluice-contract-')), 'sluice.db'))],
  ['MemoryStore', () => new MemoryStore()],
];

const rollout = (name: string, createdAt = 1): RolloutRecord => ({
  name,
  spec: { name, replicas: 2 } as never,
  source: `name: ${name}`,
  status: initialStatus(1, createdAt),
  createdAt,
});
const revision = (name: string, number: number) => ({
  rollout: name,
  number,
  template: { version: `v${number}` } as never,
  hash: `h${number}`,
  createdAt: number,
  cause: 'apply',
});
const job = (key: string): DesiredJob => ({ key, title: key, spec: { kind: 'approval', gate: 'x' }, context: {} }) as unknown as DesiredJob;
const jobStatus = (key: string, phase: JobStatus['phase'] = 'Running'): JobStatus => ({
  key,
  rollout: key.split('/')[0],
  title: key,
  kind: 'approval',
  phase,
  message: '',
  startedAt: 1,
});
const measurement = (value: number): Measurement => ({ metric: 'm', phase: 'Successful', value, startedAt: value, finishedAt: value + 1 });
const instance = (id: string, port: number): InstanceRecord =>
  ({ id, rollout: 'web', revision: 1, pid: 100, port, startedAt: 1, logFile: `/tmp/${id}.log`, template: { version: 'v1' } }) as never;
const exposure = (experiment: string, variant: string, startedAt: number, revision: number): ExposureRecord => ({
  rollout: 'web',
  experiment,
  variant,
  revision,
  requests: 10,
  users: 2,
  seenRequests: 10,
  seenUsers: 2,
  startedAt,
  updatedAt: startedAt,
});

const flagState = (updatedAt: number, extra: Partial<FlagState> = {}): FlagState => ({ killed: false, updatedAt, ...extra });
const flag = (name: string, createdAt = 1, source = `name: ${name}`): FlagRecord => ({
  name,
  spec: { name, type: 'boolean', variants: { on: true, off: false }, defaultVariant: 'off', offVariant: 'off' } as never,
  source,
  evaluators: { shared: { in: ['x', ['a']] } },
  state: flagState(createdAt),
  createdAt,
});

const environment = (name: string, source = `name: ${name}`) => ({ name, spec: { name, env: { LOG: 'debug' } }, source });
const pipelineRecord = (name: string, source = `name: ${name}`) => ({
  name,
  spec: { name, services: ['api'], stages: [{ name: 'staging', environment: 'staging' }] } as never,
  source,
});
const release = (id: string, pipeline = 'web', createdAt = 1): ReleaseRecord => ({
  id,
  pipeline,
  version: id,
  commit: `c-${id}`,
  notes: '',
  services: [{ service: 'api', version: id, env: { A: '1', B: null } }],
  createdBy: 'ana',
  createdAt,
});
const stageState = (release: string, stage: string, phase: ReleaseStageState['phase'] = 'Pending', updatedAt = 1): ReleaseStageState => ({
  release,
  stage,
  phase,
  reason: '',
  message: '',
  serviceIndex: 0,
  deployed: {},
  checked: {},
  updatedAt,
});
const approvalDraft = (release: string, stage: string, user = 'bob', at = 1): ApprovalDraft => ({ release, stage, role: 'qa', user, decision: 'approve', at });

/** Everything a PipelineStore lists, for comparing stores and before/after. */
function pipelineContents(store: Store) {
  return {
    environments: store.listEnvironments(),
    pipelines: store.listPipelines(),
    releases: store.listReleases(),
    stages: store.listStageStates(),
    approvals: store.listApprovals(),
    events: store.listReleaseEvents(),
  };
}

for (const [implementation, open] of implementations) {
  describe(`Store contract: ${implementation}`, () => {
    test('rollouts: listed by name, put keeps status and creation time, saveStatus writes only known rollouts', () => {
      const store = open();
      for (const name of ['web', 'api', 'a-b', 'a1']) store.putRollout(rollout(name));
      assert.deepEqual(
        store.listRollouts().map((r) => r.name),
        ['a-b', 'a1', 'api', 'web'],
      );
      assert.deepEqual(store.getRollout('web'), rollout('web'));
      assert.equal(store.getRollout('nope'), undefined);

      const moved = { ...initialStatus(1, 1), phase: 'Healthy' as const };
      store.saveStatus('web', moved);
      store.putRollout({ ...rollout('web', 99), source: 'name: web # v2', status: initialStatus(7, 99) });
      const web = store.getRollout('web')!;
      assert.equal(web.source, 'name: web # v2', 'spec and source are replaced');
      assert.deepEqual(web.status, moved, 'status is untouched by putRollout');
      assert.equal(web.createdAt, 1, 'creation time is kept');

      store.saveStatus('ghost', moved);
      assert.equal(store.getRollout('ghost'), undefined, 'saveStatus creates nothing');
      store.close();
    });

    test('flags: listed by name, put keeps state and creation time, saveFlagState writes only known flags, delete keeps usage', () => {
      const store = open();
      for (const name of ['web', 'api', 'a-b', 'a1']) store.putFlag(flag(name));
      assert.deepEqual(
        store.listFlags().map((f) => f.name),
        ['a-b', 'a1', 'api', 'web'],
      );
      assert.deepEqual(store.getFlag('web'), flag('web'));
      assert.equal(store.getFlag('nope'), undefined);

      const killed = flagState(5, { killed: true, percentage: 25 });
      store.saveFlagState('web', killed);
      store.putFlag({ ...flag('web', 99, 'name: web # v2'), evaluators: {}, state: flagState(99) });
      const web = store.getFlag('web')!;
      assert.equal(web.source, 'name: web # v2', 'spec and source are replaced');
      assert.deepEqual(web.evaluators, {}, 'evaluators are replaced');
      assert.deepEqual(web.state, killed, 'state is untouched by putFlag');
      assert.equal(web.createdAt, 1, 'creation time is kept');

      store.saveFlagState('ghost', killed);
      assert.equal(store.getFlag('ghost'), undefined, 'saveFlagState creates nothing');

      store.putFlagUsage({ flag: 'web', variant: 'on', count: 3, lastEvaluatedAt: 10 });
      store.putFlagUsage({ flag: 'web', variant: '', count: 1, lastEvaluatedAt: 9 });
      store.putFlagUsage({ flag: 'api', variant: 'off', count: 2, lastEvaluatedAt: 8 });
      store.putFlagUsage({ flag: 'web', variant: 'on', count: 7, lastEvaluatedAt: 11 });
      assert.deepEqual(store.listFlagUsage(), [
        { flag: 'api', variant: 'off', count: 2, lastEvaluatedAt: 8 },
        { flag: 'web', variant: '', count: 1, lastEvaluatedAt: 9 },
        { flag: 'web', variant: 'on', count: 7, lastEvaluatedAt: 11 },
      ]);
      assert.deepEqual(
        store.listFlagUsage('web').map((u) => u.variant),
        ['', 'on'],
      );
      store.deleteFlag('web');
      assert.equal(store.getFlag('web'), undefined);
      assert.equal(store.listFlagUsage('web').length, 2, 'usage outlives the flag');
      store.close();
    });

    test('flags: a transaction that throws leaves flags and usage as they were; copies in and out', () => {
      const store = open();
      store.putFlag(flag('web'));
      store.putFlagUsage({ flag: 'web', variant: 'on', count: 3, lastEvaluatedAt: 10 });
      const before = { flags: store.listFlags(), usage: store.listFlagUsage() };
      assert.throws(() =>
        store.transaction(() => {
          store.putFlag(flag('new'));
          store.saveFlagState('web', flagState(2, { killed: true }));
          store.putFlagUsage({ flag: 'web', variant: 'on', count: 9, lastEvaluatedAt: 12 });
          store.putFlagUsage({ flag: 'new', variant: 'on', count: 1, lastEvaluatedAt: 12 });
          store.deleteFlag('web');
          throw new Error('boom');
        }),
      );
      assert.deepEqual({ flags: store.listFlags(), usage: store.listFlagUsage() }, before);

      const record = flag('copy');
      store.putFlag(record);
      record.state.killed = true;
      store.getFlag('copy')!.state.killed = true;
      store.listFlags()[0].source = 'changed';
      assert.deepEqual(store.getFlag('copy'), flag('copy'));
      store.close();
    });

    test('what goes in and what comes out are copies: changing them changes nothing stored', () => {
      const store = open();
      const record = rollout('web');
      store.putRollout(record);
      (record.spec as { replicas: number }).replicas = 9;
      store.getRollout('web')!.status.phase = 'Degraded';
      store.listRollouts()[0].source = 'changed';
      assert.deepEqual(store.getRollout('web'), rollout('web'));

      const event = store.appendEvent('web', { type: 'Normal', reason: 'Created', message: 'hi' }, 'ana', 2);
      event.message = 'changed';
      store.listEvents('web')[0].reason = 'changed';
      store.lastEvents('web', 1)[0].actor = 'changed';
      assert.deepEqual(store.listEvents('web'), [{ id: event.id, rollout: 'web', type: 'Normal', reason: 'Created', message: 'hi', actor: 'ana', at: 2 }]);

      const table = { generation: 3, listeners: [] };
      store.saveRouteTable(table);
      table.generation = 4;
      store.loadRouteTable()!.generation = 5;
      assert.deepEqual(store.loadRouteTable(), { generation: 3, listeners: [] });

      store.saveInstance(instance('web-1', 8001));
      store.listInstances()[0].port = 1;
      assert.equal(store.listInstances()[0].port, 8001);

      store.addRevision(revision('web', 1));
      store.listRevisions('web')[0].hash = 'changed';
      store.saveJob(job('web/r1/a1/x'), jobStatus('web/r1/a1/x'));
      store.listJobs()[0].status.phase = 'Failed';
      store.appendMeasurement('web/r1/a1/x', measurement(1));
      store.listMeasurements('web/r1/a1/x')[0].value = 7;
      store.putTemplate({ name: 't', spec: { name: 't' } as never, source: 's' });
      store.listTemplates()[0].source = 'changed';
      store.putExposure(exposure('r1a1', 'a', 1, 1));
      store.listExposures('web')[0].requests = 0;
      assert.equal(store.listRevisions('web')[0].hash, 'h1');
      assert.equal(store.listJobs()[0].status.phase, 'Running');
      assert.equal(store.listMeasurements('web/r1/a1/x')[0].value, 1);
      assert.equal(store.listTemplates()[0].source, 's');
      assert.equal(store.listExposures('web')[0].requests, 10);
      store.close();
    });

    test('revisions: per rollout, by number whatever the order they came in, one number once', () => {
      const store = open();
      store.putRollout(rollout('web'));
      for (const n of [3, 1, 2]) store.addRevision(revision('web', n));
      store.addRevision(revision('api', 1));
      assert.deepEqual(store.listRevisions('web'), [revision('web', 1), revision('web', 2), revision('web', 3)]);
      assert.throws(() => store.addRevision(revision('web', 2)), 'a number is never reused');
      assert.equal(store.listRevisions('web').length, 3);
      store.deleteRevision('web', 2);
      assert.deepEqual(
        store.listRevisions('web').map((r) => r.number),
        [1, 3],
      );
      assert.deepEqual(
        store.listRevisions('api').map((r) => r.number),
        [1],
      );
      assert.deepEqual(store.listRevisions('nope'), []);
      store.close();
    });

    test('events: ids rise across rollouts, listEvents pages oldest first, lastEvents gives the newest oldest first', () => {
      const store = open();
      const ids: number[] = [];
      for (let i = 1; i <= 5; i++) {
        ids.push(store.appendEvent('web', { type: 'Normal', reason: `R${i}`, message: `m${i}`, revision: i }, 'engine', i).id);
        store.appendEvent('api', { type: 'Warning', reason: 'Other', message: 'x' }, 'ana', i);
      }
      assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]));
      const all = store.listEvents('web');
      assert.deepEqual(
        all.map((e) => e.reason),
        ['R1', 'R2', 'R3', 'R4', 'R5'],
      );
      assert.deepEqual(all[0], { id: ids[0], rollout: 'web', at: 1, actor: 'engine', type: 'Normal', reason: 'R1', message: 'm1', revision: 1 });
      assert.equal('revision' in store.listEvents('api')[0], false, 'an event without a revision has no revision field');
      const unset = store.appendEvent('unset', { type: 'Normal', reason: 'X', message: '', revision: undefined }, 'ana', 9);
      assert.deepEqual(store.listEvents('unset'), [unset], 'what appendEvent returns is what is listed');
      assert.equal('revision' in unset, false, 'a revision given as undefined is no revision');
      assert.deepEqual(
        store.listEvents('web', { afterId: ids[1] }).map((e) => e.reason),
        ['R3', 'R4', 'R5'],
      );
      assert.deepEqual(
        store.listEvents('web', { afterId: ids[1], limit: 2 }).map((e) => e.reason),
        ['R3', 'R4'],
      );
      assert.deepEqual(
        store.lastEvents('web', 2).map((e) => e.reason),
        ['R4', 'R5'],
      );
      assert.deepEqual(
        store.lastEvents('web', 50).map((e) => e.reason),
        ['R1', 'R2', 'R3', 'R4', 'R5'],
      );
      assert.deepEqual(store.lastEvents('web', 0), []);
      assert.deepEqual(store.lastEvents('nope', 3), []);
      assert.deepEqual(store.listEvents('nope'), []);
      store.close();
    });

    test('jobs: saving again updates in place, listed in the order first saved', () => {
      const store = open();
      for (const [name, n] of [
        ['web', 1],
        ['web', 12],
        ['web', 2],
        ['api', 1],
      ] as const)
        store.addRevision(revision(name, n));
      const keys = ['web/r1/a1/step0.analysis', 'web/r12/a1/x', 'web/r2/a1/step0.analysis', 'api/r1/a1/x'];
      for (const key of keys) {
        store.saveJob(job(key), jobStatus(key));
        store.appendMeasurement(key, measurement(1));
        store.appendMeasurement(key, measurement(2));
      }
      const updated = { ...job(keys[0]), title: 'step 0 analysis' };
      store.saveJob(updated, jobStatus(keys[0], 'Successful'));
      assert.deepEqual(
        store.listJobs().map((j) => j.job.key),
        keys,
      );
      assert.deepEqual(store.listJobs('web')[0], { job: updated, status: jobStatus(keys[0], 'Successful') });
      assert.deepEqual(
        store.listJobs('api').map((j) => j.job.key),
        ['api/r1/a1/x'],
      );
      assert.deepEqual(store.listMeasurements(keys[1]), [measurement(1), measurement(2)]);
      assert.deepEqual(store.listMeasurements('web/r9/a1/none'), []);
      store.close();
    });

    // Names the spec refuses (it allows DNS labels) are here on purpose: the store matches
    // rollouts and revisions exactly, not as patterns, whatever the names are.
    const neighbours = ['a', 'a-b', 'a_b', 'axb', 'a%', 'A', 'ab'];

    test('deleteRevision prunes that revision with its jobs and measurements; other revisions and rollouts keep theirs', () => {
      const store = open();
      const keys: string[] = [];
      for (const name of neighbours) {
        store.putRollout(rollout(name));
        for (const n of [1, 2, 12]) {
          store.addRevision(revision(name, n));
          for (const where of ['step0.analysis', 'pre-rollout/hook.x_%']) {
            const key = `${name}/r${n}/a1/${where}`;
            keys.push(key);
            store.saveJob(job(key), jobStatus(key, 'Successful'));
            store.appendMeasurement(key, measurement(n));
          }
        }
      }
      store.putExposure({ ...exposure('r1a1', 'a', 1, 1), rollout: 'a_b' });
      store.deleteRevision('a_b', 1);
      store.deleteRevision('a%', 2);

      const gone = (key: string) => key.startsWith('a_b/r1/') || key.startsWith('a%/r2/');
      assert.deepEqual(
        store.listJobs().map((j) => j.job.key),
        keys.filter((k) => !gone(k)),
      );
      for (const key of keys) assert.equal(store.listMeasurements(key).length, gone(key) ? 0 : 1, key);
      assert.deepEqual(
        store.listRevisions('a_b').map((r) => r.number),
        [2, 12],
      );
      assert.deepEqual(
        store.listRevisions('a%').map((r) => r.number),
        [1, 12],
      );
      for (const name of neighbours.filter((n) => n !== 'a_b' && n !== 'a%')) assert.equal(store.listRevisions(name).length, 3, name);
      assert.equal(store.listExposures('a_b').length, 1, 'exposures are recorded results, not pruned');
      store.close();
    });

    test('a job of a revision not stored (never, or pruned since) keeps nothing, nor a measurement of a job not stored', () => {
      const store = open();
      store.putRollout(rollout('web'));
      store.addRevision(revision('web', 1));
      store.addRevision(revision('web', 2));
      const [r1, r2, r3] = ['web/r1/a1/x', 'web/r2/a1/x', 'web/r3/a1/x'];
      for (const key of [r1, r2, r3]) store.saveJob(job(key), jobStatus(key));
      store.appendMeasurement(r1, measurement(1));
      store.appendMeasurement(r3, measurement(1));
      store.appendMeasurement('web/r1/a1/unsaved', measurement(1));
      assert.deepEqual(
        store.listJobs().map((j) => j.job.key),
        [r1, r2],
      );
      assert.deepEqual(store.listMeasurements(r3), []);
      assert.deepEqual(store.listMeasurements('web/r1/a1/unsaved'), []);

      // a run that outlives the pruning of its revision (a detached hook, a measurement in flight)
      store.deleteRevision('web', 1);
      store.saveJob(job(r1), jobStatus(r1, 'Successful'));
      store.appendMeasurement(r1, measurement(2));
      assert.deepEqual(
        store.listJobs().map((j) => j.job.key),
        [r2],
      );
      assert.deepEqual(store.listMeasurements(r1), []);
      store.close();
    });

    test('a job key that does not name its rollout and a revision is refused with one line', () => {
      const store = open();
      store.addRevision(revision('web', 1));
      for (const key of ['web/x/a1/y', 'web/r/a1/y', 'web/r1', 'webb/r1/a1/y', 'api/r1/a1/y']) {
        const refusal = `job key "${key}" does not name rollout web and a revision — it must read web/r<revision>/…`;
        assert.throws(
          () => store.saveJob(job(key), { ...jobStatus(key), rollout: 'web' }),
          (e: Error) => e.message === refusal,
          key,
        );
      }
      assert.deepEqual(store.listJobs(), []);
      store.close();
    });

    test('deleteRollout takes its revisions, jobs and measurements; its exposures and events stay, other rollouts are untouched', () => {
      const store = open();
      for (const name of neighbours) {
        store.putRollout(rollout(name));
        store.addRevision(revision(name, 1));
        store.saveJob(job(`${name}/r1/a1/x`), jobStatus(`${name}/r1/a1/x`));
        store.appendMeasurement(`${name}/r1/a1/x`, measurement(1));
        store.appendEvent(name, { type: 'Normal', reason: 'Created', message: '' }, 'ana', 1);
        store.putExposure({ ...exposure('r1a1', 'a', 1, 1), rollout: name });
      }
      for (const name of ['a_b', 'a%']) store.deleteRollout(name);

      for (const name of ['a_b', 'a%']) {
        assert.equal(store.getRollout(name), undefined);
        assert.deepEqual(store.listRevisions(name), []);
        assert.deepEqual(store.listJobs(name), []);
        assert.deepEqual(store.listMeasurements(`${name}/r1/a1/x`), []);
        assert.equal(store.listExposures(name).length, 1, 'exposures are the A/B record and outlive the rollout');
        assert.equal(store.listEvents(name).length, 1, 'the event log is history');
      }
      const others = neighbours.filter((n) => n !== 'a_b' && n !== 'a%');
      assert.deepEqual(
        store.listRollouts().map((r) => r.name),
        [...others].sort(),
      );
      for (const name of others) {
        assert.equal(store.listRevisions(name).length, 1, name);
        assert.equal(store.listJobs(name).length, 1, name);
        assert.equal(store.listMeasurements(`${name}/r1/a1/x`).length, 1, name);
      }
      store.close();
    });

    test('templates: put replaces by name, listed by name', () => {
      const store = open();
      store.putTemplate({ name: 'latency', spec: { name: 'latency' } as never, source: 'v1' });
      store.putTemplate({ name: 'errors', spec: { name: 'errors' } as never, source: 'v1' });
      store.putTemplate({ name: 'latency', spec: { name: 'latency', args: [] } as never, source: 'v2' });
      assert.deepEqual(store.listTemplates(), [
        { name: 'errors', spec: { name: 'errors' }, source: 'v1' },
        { name: 'latency', spec: { name: 'latency', args: [] }, source: 'v2' },
      ]);
      store.close();
    });

    test('exposures: one per rollout, experiment and variant; oldest experiment first, then revision, experiment, variant', () => {
      const store = open();
      store.putExposure(exposure('r2a1', 'b', 20, 2));
      store.putExposure(exposure('r2a1', 'a', 20, 2));
      store.putExposure(exposure('r1a1', 'b', 10, 1));
      store.putExposure(exposure('r1a1', 'a', 10, 1));
      store.putExposure({ ...exposure('r1a1', 'a', 10, 1), requests: 50, updatedAt: 30 });
      store.putExposure({ ...exposure('r1a1', 'a', 10, 1), rollout: 'api' });
      const listed = store.listExposures('web');
      assert.deepEqual(
        listed.map((e) => `${e.experiment}/${e.variant}`),
        ['r1a1/a', 'r1a1/b', 'r2a1/a', 'r2a1/b'],
      );
      assert.deepEqual(listed[0], { ...exposure('r1a1', 'a', 10, 1), requests: 50, updatedAt: 30 });
      assert.equal(store.listExposures('api').length, 1);
      assert.deepEqual(store.listExposures('nope'), []);
      store.close();
    });

    test('instances: saved by id (again replaces), listed by id, deleted by id', () => {
      const store = open();
      store.saveInstance(instance('web-2', 8002));
      store.saveInstance(instance('web-1', 8001));
      store.saveInstance({ ...instance('web-2', 8002), pid: 200 });
      assert.deepEqual(store.listInstances(), [instance('web-1', 8001), { ...instance('web-2', 8002), pid: 200 }]);
      store.deleteInstance('web-1');
      store.deleteInstance('never-there');
      assert.deepEqual(
        store.listInstances().map((i) => i.id),
        ['web-2'],
      );
      store.close();
    });

    test('route table: none at first, then the last one saved', () => {
      const store = open();
      assert.equal(store.loadRouteTable(), undefined);
      store.saveRouteTable({ generation: 1, listeners: [] });
      const table = { generation: 2, listeners: [{ listen: '127.0.0.1:8080', routes: [] }] } as never;
      store.saveRouteTable(table);
      assert.deepEqual(store.loadRouteTable(), table);
      store.close();
    });

    test('transaction: returns what fn returns and keeps its writes', () => {
      const store = open();
      const out = store.transaction(() => {
        store.putRollout(rollout('web'));
        store.addRevision(revision('web', 1));
        return 42;
      });
      assert.equal(out, 42);
      assert.equal(store.getRollout('web')?.name, 'web');
      assert.equal(store.listRevisions('web').length, 1);
      store.close();
    });

    test('pipelines: environments and pipelines listed by name, put replaces, deletePipeline removes only that one', () => {
      const store = open();
      for (const name of ['staging', 'dev', 'production']) store.putEnvironment(environment(name));
      store.putEnvironment(environment('dev', 'name: dev # v2'));
      assert.deepEqual(store.listEnvironments(), [environment('dev', 'name: dev # v2'), environment('production'), environment('staging')]);
      for (const name of ['web', 'api', 'a-b']) store.putPipeline(pipelineRecord(name));
      store.putPipeline(pipelineRecord('web', 'name: web # v2'));
      assert.deepEqual(store.listPipelines(), [pipelineRecord('a-b'), pipelineRecord('api'), pipelineRecord('web', 'name: web # v2')]);
      store.deletePipeline('api');
      store.deletePipeline('ghost');
      assert.deepEqual(
        store.listPipelines().map((p) => p.name),
        ['a-b', 'web'],
      );
      store.close();
    });

    test('pipelines: addRelease refuses an id already stored and changes nothing; listReleases oldest first, by pipeline', () => {
      const store = open();
      store.addRelease(release('v2', 'web', 5));
      store.addRelease(release('v1', 'web', 9));
      store.addRelease(release('v3', 'api', 7));
      assert.throws(() => store.addRelease({ ...release('v1', 'api', 99), notes: 'again' }));
      assert.deepEqual(store.getRelease('v1'), release('v1', 'web', 9), 'the first v1 is untouched');
      assert.equal(store.getRelease('nope'), undefined);
      assert.deepEqual(
        store.listReleases().map((r) => r.id),
        ['v2', 'v1', 'v3'],
        'in the order they were added, not by id or time',
      );
      assert.deepEqual(
        store.listReleases('web').map((r) => r.id),
        ['v2', 'v1'],
      );
      assert.deepEqual(store.listReleases('ghost'), []);
      // a copy: changing what came back changes nothing stored
      const got = store.getRelease('v2')!;
      got.services[0]!.version = 'changed';
      assert.equal(store.getRelease('v2')!.services[0]!.version, 'v2');
      store.close();
    });

    test('pipelines: putStageState replaces by (release, stage); listed by release then stage', () => {
      const store = open();
      store.putStageState(stageState('v2', 'staging'));
      store.putStageState(stageState('v1', 'staging'));
      store.putStageState(stageState('v1', 'dev'));
      store.putStageState({ ...stageState('v1', 'staging', 'Healthy', 9), deployed: { api: { rollout: 'api-staging', revision: 3 } }, healthyAt: 9 });
      assert.deepEqual(
        store.listStageStates().map((s) => [s.release, s.stage, s.phase]),
        [
          ['v1', 'dev', 'Pending'],
          ['v1', 'staging', 'Healthy'],
          ['v2', 'staging', 'Pending'],
        ],
      );
      assert.deepEqual(store.listStageStates('v1')[1], {
        ...stageState('v1', 'staging', 'Healthy', 9),
        deployed: { api: { rollout: 'api-staging', revision: 3 } },
        healthyAt: 9,
      });
      assert.deepEqual(store.listStageStates('ghost'), []);
      store.close();
    });

    test('pipelines: addApproval ids increase; withdrawApproval stamps once, unknown ids are ignored; listed by id, per release', () => {
      const store = open();
      const a = store.addApproval(approvalDraft('v1', 'production', 'bob', 1));
      const b = store.addApproval({ ...approvalDraft('v2', 'production', 'eve', 2), tokenId: 't1', comment: 'ok' });
      const c = store.addApproval({ ...approvalDraft('v1', 'staging', 'ana', 3), decision: 'reject' });
      assert.ok(a.id < b.id && b.id < c.id, 'ids increase');
      assert.deepEqual(b, { id: b.id, ...approvalDraft('v2', 'production', 'eve', 2), tokenId: 't1', comment: 'ok' });
      store.withdrawApproval(a.id, 10);
      store.withdrawApproval(a.id, 20);
      store.withdrawApproval(9999, 30);
      assert.deepEqual(store.listApprovals(), [{ ...a, withdrawnAt: 10 }, b, c]);
      assert.deepEqual(store.listApprovals('v1'), [{ ...a, withdrawnAt: 10 }, c]);
      assert.deepEqual(store.listApprovals('ghost'), []);
      store.close();
    });

    test('pipelines: appendReleaseEvent returns what is listed; listed in order, per release; stage kept only when given', () => {
      const store = open();
      const e1 = store.appendReleaseEvent('v1', { stage: 'staging', type: 'Normal', reason: 'Entered', message: 'in' }, 'sluice', 1);
      const e2 = store.appendReleaseEvent('v2', { type: 'Warning', reason: 'Created', message: '' }, 'ana', 2);
      const e3 = store.appendReleaseEvent('v1', { type: 'Normal', reason: 'Healthy', message: 'ok' }, 'sluice', 3);
      assert.ok(e1.id < e2.id && e2.id < e3.id);
      assert.deepEqual(e1, { id: e1.id, release: 'v1', stage: 'staging', at: 1, actor: 'sluice', type: 'Normal', reason: 'Entered', message: 'in' });
      assert.ok(!('stage' in e2));
      assert.deepEqual(store.listReleaseEvents(), [e1, e2, e3]);
      assert.deepEqual(store.listReleaseEvents('v1'), [e1, e3]);
      assert.deepEqual(store.listReleaseEvents('ghost'), []);
      store.close();
    });

    test('pipelines: what is returned is what is listed; a key holding undefined is not kept (as JSON in SQLite)', () => {
      const store = open();
      const a = store.addApproval({ ...approvalDraft('v1', 'staging'), comment: undefined, tokenId: undefined });
      const e = store.appendReleaseEvent('v1', { stage: undefined, type: 'Normal', reason: 'x', message: '' }, 'ana', 1);
      store.putStageState({ ...stageState('v1', 'staging'), until: undefined });
      store.addRelease({ ...release('v1'), hotfixOf: undefined });
      assert.deepEqual(a, { id: a.id, ...approvalDraft('v1', 'staging') });
      assert.deepEqual(store.listApprovals(), [a]);
      assert.deepEqual(store.listReleaseEvents(), [e]);
      assert.ok(!('stage' in e));
      assert.deepEqual(store.listStageStates(), [stageState('v1', 'staging')]);
      assert.deepEqual(store.getRelease('v1'), release('v1'));
      store.close();
    });

    test('pipelines: a transaction that throws leaves releases, stage states, approvals, events, pipelines and environments as they were; ids go on as before', () => {
      const store = open();
      store.putEnvironment(environment('staging'));
      store.putPipeline(pipelineRecord('web'));
      store.addRelease(release('v1'));
      store.putStageState(stageState('v1', 'staging'));
      const a = store.addApproval(approvalDraft('v1', 'staging'));
      const e = store.appendReleaseEvent('v1', { type: 'Normal', reason: 'Created', message: '' }, 'ana', 1);
      const before = pipelineContents(store);
      const boom = new Error('boom');
      assert.throws(
        () =>
          store.transaction(() => {
            store.putEnvironment(environment('production'));
            store.putEnvironment(environment('staging', 'changed'));
            store.putPipeline(pipelineRecord('api'));
            store.deletePipeline('web');
            store.addRelease(release('v2'));
            store.putStageState(stageState('v1', 'staging', 'Healthy'));
            store.putStageState(stageState('v2', 'staging'));
            store.addApproval(approvalDraft('v2', 'staging'));
            store.withdrawApproval(a.id, 5);
            store.appendReleaseEvent('v2', { type: 'Normal', reason: 'Created', message: '' }, 'ana', 2);
            throw boom;
          }),
        (x) => x === boom,
      );
      assert.deepEqual(pipelineContents(store), before);
      // what follows the rollback: the next ids are the ones a database hands out (the undone ones again)
      assert.equal(store.addApproval(approvalDraft('v1', 'staging', 'eve')).id, a.id + 1);
      assert.equal(store.appendReleaseEvent('v1', { type: 'Normal', reason: 'After', message: '' }, 'ana', 3).id, e.id + 1);
      store.addRelease(release('v2'));
      assert.deepEqual(
        store.listReleases().map((r) => r.id),
        ['v1', 'v2'],
      );
      store.close();
    });

    test('transaction: a throw inside leaves nothing of it behind, in any table, and the error goes on', () => {
      const store = open();
      const before = fill(store);
      const boom = new Error('boom');
      assert.throws(
        () =>
          store.transaction(() => {
            touchEverything(store);
            throw boom;
          }),
        (e) => e === boom,
      );
      assert.deepEqual(contents(store), before);

      // what follows a rollback works as before
      const e = store.appendEvent('web', { type: 'Normal', reason: 'After', message: '' }, 'ana', 9);
      assert.ok(e.id > before.events.web.at(-1)!.id);
      assert.deepEqual(store.listEvents('web').at(-1), e);
      store.close();
    });

    test('transaction: an inner transaction that throws is undone alone when the outer one catches it', () => {
      const store = open();
      const before = fill(store);
      store.transaction(() => {
        store.putRollout(rollout('outer'));
        try {
          store.transaction(() => {
            touchEverything(store);
            throw new Error('inner');
          });
        } catch {
          // the outer transaction goes on
        }
        store.addRevision(revision('outer', 1));
      });
      const after = contents(store);
      assert.deepEqual(
        after.rollouts.map((r) => r.name),
        ['outer', 'web'],
      );
      assert.deepEqual(after.revisions.outer, [revision('outer', 1)]);
      assert.deepEqual({ ...after, rollouts: before.rollouts, revisions: { ...after.revisions, outer: [] } }, before);
      store.close();
    });
  });
}

test('PipelineStore: everything survives closing and reopening the SQLite file', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sluice-contract-')), 'sluice.db');
  const first = new SqliteStore(file);
  first.putEnvironment(environment('staging'));
  first.putPipeline(pipelineRecord('web'));
  first.addRelease({ ...release('v1'), commitAt: 0, hotfixOf: 'v0' });
  first.addRelease(release('v2', 'api'));
  first.putStageState({ ...stageState('v1', 'staging', 'Waiting'), until: 99, checked: { backup: { by: 'ana', at: 3 } } });
  const a = first.addApproval({ ...approvalDraft('v1', 'staging'), tokenId: 'tok' });
  first.withdrawApproval(a.id, 7);
  first.appendReleaseEvent('v1', { stage: 'staging', type: 'Warning', reason: 'OutsideWindow', message: 'é 🙂' }, 'sluice', 4);
  const before = pipelineContents(first);
  first.close();
  const second = new SqliteStore(file);
  assert.deepEqual(pipelineContents(second), before);
  assert.ok(second.addApproval(approvalDraft('v2', 'staging')).id > a.id, 'ids go on after reopening');
  assert.throws(() => second.addRelease(release('v1')), Error, 'a stored id is still refused');
  second.close();
});

/** One PipelineStore operation on small name pools, so that keys collide and rows get replaced. */
const rel = fc.constantFrom('v1', 'v2', 'v3');
const pipelineOp = fc.oneof(
  fc.record({ op: fc.constant('putEnvironment' as const), name: fc.constantFrom('dev', 'staging'), source: fc.constantFrom('a', 'b') }),
  fc.record({ op: fc.constant('putPipeline' as const), name: fc.constantFrom('web', 'api'), source: fc.constantFrom('a', 'b') }),
  fc.record({ op: fc.constant('deletePipeline' as const), name: fc.constantFrom('web', 'api') }),
  fc.record({ op: fc.constant('addRelease' as const), id: rel, pipeline: fc.constantFrom('web', 'api') }),
  fc.record({
    op: fc.constant('putStageState' as const),
    release: rel,
    stage: fc.constantFrom('dev', 'staging'),
    phase: fc.constantFrom('Pending' as const, 'Healthy' as const),
  }),
  fc.record({ op: fc.constant('addApproval' as const), release: rel, stage: fc.constantFrom('dev', 'staging'), user: fc.constantFrom('ana', 'bob') }),
  fc.record({ op: fc.constant('withdrawApproval' as const), id: fc.integer({ min: 1, max: 6 }), at: fc.nat(100) }),
  fc.record({ op: fc.constant('appendReleaseEvent' as const), release: rel, stage: fc.constantFrom(undefined, 'dev'), reason: fc.constantFrom('A', 'B') }),
);
type PipelineOp = typeof pipelineOp extends fc.Arbitrary<infer T> ? T : never;
/** A step: one operation, or several in a transaction that may throw at its end. */
const pipelineStep = fc.oneof(
  { weight: 3, arbitrary: pipelineOp.map((op) => ({ ops: [op], transaction: false, fail: false })) },
  { weight: 1, arbitrary: fc.record({ ops: fc.array(pipelineOp, { minLength: 1, maxLength: 4 }), transaction: fc.constant(true), fail: fc.boolean() }) },
);

function applyPipelineOp(store: Store, o: PipelineOp, at: number): string {
  switch (o.op) {
    case 'putEnvironment':
      return (void store.putEnvironment(environment(o.name, o.source)), 'ok');
    case 'putPipeline':
      return (void store.putPipeline(pipelineRecord(o.name, o.source)), 'ok');
    case 'deletePipeline':
      return (void store.deletePipeline(o.name), 'ok');
    case 'addRelease':
      try {
        store.addRelease(release(o.id, o.pipeline, at));
        return 'ok';
      } catch {
        return 'refused';
      }
    case 'putStageState':
      return (void store.putStageState(stageState(o.release, o.stage, o.phase, at)), 'ok');
    case 'addApproval':
      return JSON.stringify(store.addApproval(approvalDraft(o.release, o.stage, o.user, at)));
    case 'withdrawApproval':
      return (void store.withdrawApproval(o.id, o.at), 'ok');
    case 'appendReleaseEvent':
      return JSON.stringify(
        store.appendReleaseEvent(o.release, { ...(o.stage ? { stage: o.stage } : {}), type: 'Normal', reason: o.reason, message: '' }, 'ana', at),
      );
  }
}

test('PipelineStore property: a random sequence of operations (some in transactions that throw) gives the same results and listings on both stores', () => {
  fc.assert(
    fc.property(fc.array(pipelineStep, { maxLength: 25 }), (steps) => {
      const stores = implementations.map(([, open]) => open());
      try {
        const outcomes = stores.map((store) =>
          steps.map((step, i) => {
            const results: string[] = [];
            const run = () => {
              for (const o of step.ops) results.push(applyPipelineOp(store, o, i));
              if (step.fail) throw new Error('undo');
            };
            try {
              step.transaction ? store.transaction(run) : run();
            } catch {
              results.push('rolled back');
            }
            return [
              results,
              pipelineContents(store),
              store.listReleases('web'),
              store.listApprovals('v1'),
              store.listReleaseEvents('v2'),
              store.listStageStates('v3'),
            ];
          }),
        );
        assert.deepEqual(outcomes[1], outcomes[0]);
      } finally {
        for (const s of stores) s.close();
      }
    }),
    { numRuns: 60 },
  );
});

/** A rollout with something in every table. */
function fill(store: Store): ReturnType<typeof contents> {
  store.putRollout(rollout('web'));
  store.addRevision(revision('web', 1));
  store.appendEvent('web', { type: 'Normal', reason: 'Created', message: '' }, 'ana', 1);
  store.saveJob(job('web/r1/a1/x'), jobStatus('web/r1/a1/x'));
  store.appendMeasurement('web/r1/a1/x', measurement(1));
  store.putTemplate({ name: 't', spec: { name: 't' } as never, source: 'v1' });
  store.putExposure(exposure('r1a1', 'a', 1, 1));
  store.saveInstance(instance('web-1', 8001));
  store.saveRouteTable({ generation: 1, listeners: [] });
  store.putFlag(flag('web'));
  store.putFlagUsage({ flag: 'web', variant: 'on', count: 1, lastEvaluatedAt: 1 });
  return contents(store);
}

/** Every kind of write, over what fill() left. */
function touchEverything(store: Store): void {
  store.putRollout(rollout('new'));
  store.putRollout({ ...rollout('web'), source: 'changed' });
  store.saveStatus('web', { ...initialStatus(1, 1), phase: 'Degraded' });
  store.addRevision(revision('web', 2));
  store.deleteRevision('web', 1);
  store.appendEvent('web', { type: 'Warning', reason: 'Inside', message: '' }, 'ana', 2);
  store.saveJob(job('web/r1/a1/x'), jobStatus('web/r1/a1/x', 'Failed'));
  store.saveJob(job('web/r2/a1/y'), jobStatus('web/r2/a1/y'));
  store.appendMeasurement('web/r1/a1/x', measurement(2));
  store.appendMeasurement('web/r2/a1/y', measurement(3));
  store.putTemplate({ name: 't', spec: { name: 't' } as never, source: 'v2' });
  store.putTemplate({ name: 'u', spec: { name: 'u' } as never, source: 'v1' });
  store.putExposure({ ...exposure('r1a1', 'a', 1, 1), requests: 99 });
  store.putExposure(exposure('r2a1', 'a', 2, 2));
  store.saveInstance({ ...instance('web-1', 8001), pid: 5 });
  store.saveInstance(instance('web-2', 8002));
  store.saveRouteTable({ generation: 2, listeners: [] });
  store.deleteInstance('web-1');
  store.putFlag(flag('new'));
  store.saveFlagState('web', flagState(2, { killed: true }));
  store.putFlagUsage({ flag: 'web', variant: 'on', count: 5, lastEvaluatedAt: 2 });
  store.deleteFlag('web');
  store.deleteRollout('web');
}

function contents(store: Store) {
  const names = ['web', 'new', 'outer'];
  const per = <T>(read: (name: string) => T) => Object.fromEntries(names.map((n) => [n, read(n)]));
  return {
    rollouts: store.listRollouts(),
    revisions: per((n) => store.listRevisions(n)),
    events: per((n) => store.listEvents(n)),
    jobs: store.listJobs(),
    measurements: Object.fromEntries(['web/r1/a1/x', 'web/r2/a1/y'].map((k) => [k, store.listMeasurements(k)])),
    templates: store.listTemplates(),
    exposures: per((n) => store.listExposures(n)),
    instances: store.listInstances(),
    routeTable: store.loadRouteTable(),
    flags: store.listFlags(),
    flagUsage: store.listFlagUsage(),
  };
}

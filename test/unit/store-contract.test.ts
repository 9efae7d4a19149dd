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

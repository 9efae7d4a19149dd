import Database from 'better-sqlite3';
import type { FlagRecord, FlagState, FlagUsage } from '../core/flags.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { jobRevision, type MetricLookup, storedEvent, type Store, type TemplateRecord } from '../core/store.js';
import type { ApplyRecordsResult, ExperimentRecord, ExperimentReport, ExperimentTotals } from '../core/experiment.js';
import { ExperimentData } from './experiments.js';
import { SqlitePipelineRows } from './pipelines-sqlite.js';
import type { PipelineStore } from '../core/pipeline.js';
import { SqliteExperimentRows } from './experiments-sqlite.js';
import type { DesiredJob, JobStatus } from '../core/jobs.js';
import type { Measurement } from '../core/analysis.js';
import type { InstanceRecord } from '../core/platform.js';
import type { Revision, RolloutEvent, RolloutEventDraft, RolloutRecord, RolloutStatus } from '../core/rollout.js';
import type { RouteTable } from '../core/route-table.js';
import { migrate } from './migrations.js';
import { SqliteAuthStore } from './auth-sqlite.js';
import type { AuditDraft, AuditRecord, TokenRecord } from '../core/auth.js';
import { SPEC_STEPS, STATUS_STEPS, currentFormat, decodeRow } from './row-formats.js';
import type { ExposureRecord } from '../core/exposure.js';

/**
 * The Store on an SQLite file (WAL mode, synchronous=FULL: a write that returned survives
 * a crash of the process or the machine). better-sqlite3 is synchronous, which keeps
 * every engine step a simple sequence of reads and writes.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;

  /** Called after an event is committed (notifications subscribe here). */
  onEvent: ((event: RolloutEvent) => void) | undefined;
  /** Events of the open transaction: told to onEvent when it commits, forgotten if it rolls back. */
  private uncommitted: RolloutEvent[] = [];
  /** Experiments' tables (experiments.ts over experiments-sqlite.ts). */
  private readonly experiments: ExperimentData;
  private readonly pipelineRows: SqlitePipelineRows;

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    this.experiments = new ExperimentData(new SqliteExperimentRows(this.db), (fn) => this.transaction(fn));
    this.pipelineRows = new SqlitePipelineRows(this.db);
    this.auth = new SqliteAuthStore(this.db);
  }

  // Users and roles (issue 15): named tokens and the audit log, in auth-sqlite.ts.
  private readonly auth: SqliteAuthStore;
  putToken(t: TokenRecord): void {
    this.auth.putToken(t);
  }
  tokenByHash(hash: string): TokenRecord | undefined {
    return this.auth.tokenByHash(hash);
  }
  listTokens(): TokenRecord[] {
    return this.auth.listTokens();
  }
  revokeToken(id: string, at: number, by: string): boolean {
    return this.auth.revokeToken(id, at, by);
  }
  appendAudit(a: AuditDraft): AuditRecord {
    return this.auth.appendAudit(a);
  }
  listAudit(options?: { afterId?: number; limit?: number; user?: string }): AuditRecord[] {
    return this.auth.listAudit(options);
  }

  listRollouts(): RolloutRecord[] {
    return (this.db.prepare('SELECT * FROM rollouts ORDER BY name').all() as RolloutRow[]).map(toRollout);
  }

  getRollout(name: string): RolloutRecord | undefined {
    const row = this.db.prepare('SELECT * FROM rollouts WHERE name = ?').get(name) as RolloutRow | undefined;
    return row && toRollout(row);
  }

  putRollout(r: RolloutRecord): void {
    this.db
      .prepare(
        `INSERT INTO rollouts (name, spec, spec_format, source, status, status_format, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, spec_format = excluded.spec_format, source = excluded.source`,
      )
      .run(r.name, JSON.stringify(r.spec), currentFormat(SPEC_STEPS), r.source, JSON.stringify(r.status), currentFormat(STATUS_STEPS), r.createdAt);
  }

  saveStatus(name: string, status: RolloutStatus): void {
    this.db.prepare('UPDATE rollouts SET status = ?, status_format = ? WHERE name = ?').run(JSON.stringify(status), currentFormat(STATUS_STEPS), name);
  }

  deleteRollout(name: string): void {
    this.transaction(() => {
      this.db.prepare('DELETE FROM rollouts WHERE name = ?').run(name);
      this.db.prepare('DELETE FROM revisions WHERE rollout = ?').run(name);
      this.db.prepare('DELETE FROM measurements WHERE job IN (SELECT key FROM jobs WHERE rollout = ?)').run(name);
      this.db.prepare('DELETE FROM jobs WHERE rollout = ?').run(name);
    });
  }

  listRevisions(rollout: string): Revision[] {
    const rows = this.db.prepare('SELECT * FROM revisions WHERE rollout = ? ORDER BY number').all(rollout) as RevisionRow[];
    return rows.map((r) => ({
      rollout: r.rollout,
      number: r.number,
      template: JSON.parse(r.template),
      hash: r.hash,
      cause: r.cause,
      createdAt: r.created_at,
    }));
  }

  addRevision(r: Revision): void {
    this.db
      .prepare('INSERT INTO revisions (rollout, number, template, hash, cause, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(r.rollout, r.number, JSON.stringify(r.template), r.hash, r.cause, r.createdAt);
  }

  deleteRevision(rollout: string, number: number): void {
    this.transaction(() => {
      this.db.prepare('DELETE FROM revisions WHERE rollout = ? AND number = ?').run(rollout, number);
      this.db.prepare('DELETE FROM measurements WHERE job IN (SELECT key FROM jobs WHERE rollout = ? AND revision = ?)').run(rollout, number);
      this.db.prepare('DELETE FROM jobs WHERE rollout = ? AND revision = ?').run(rollout, number);
    });
  }

  appendEvent(rollout: string, e: RolloutEventDraft, actor: string, at: number): RolloutEvent {
    const info = this.db
      .prepare('INSERT INTO events (rollout, at, type, reason, message, revision, actor) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(rollout, at, e.type, e.reason, e.message, e.revision ?? null, actor);
    const event = storedEvent(Number(info.lastInsertRowid), rollout, e, actor, at);
    if (this.db.inTransaction) this.uncommitted.push(event);
    else this.announce([event]);
    return event;
  }

  listEvents(rollout: string, options: { afterId?: number; limit?: number } = {}): RolloutEvent[] {
    const rows = this.db
      .prepare('SELECT * FROM events WHERE rollout = ? AND id > ? ORDER BY id LIMIT ?')
      .all(rollout, options.afterId ?? 0, options.limit ?? 1000) as EventRow[];
    return rows.map((r) => ({
      id: r.id,
      rollout: r.rollout,
      at: r.at,
      type: r.type as RolloutEvent['type'],
      reason: r.reason,
      message: r.message,
      ...(r.revision === null ? {} : { revision: r.revision }),
      actor: r.actor,
    }));
  }

  /** The newest `limit` events, oldest first. */
  lastEvents(rollout: string, limit: number): RolloutEvent[] {
    const rows = this.db.prepare('SELECT id FROM events WHERE rollout = ? ORDER BY id DESC LIMIT 1 OFFSET ?').get(rollout, Math.max(0, limit - 1)) as
      | { id: number }
      | undefined;
    return this.listEvents(rollout, { afterId: rows ? rows.id - 1 : 0, limit });
  }

  saveInstance(record: InstanceRecord): void {
    this.db
      .prepare('INSERT INTO instances (id, rollout, record) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record')
      .run(record.id, record.rollout, JSON.stringify(record));
  }

  deleteInstance(id: string): void {
    this.db.prepare('DELETE FROM instances WHERE id = ?').run(id);
  }

  listInstances(): InstanceRecord[] {
    return (this.db.prepare('SELECT record FROM instances ORDER BY id').all() as { record: string }[]).map((r) => JSON.parse(r.record));
  }

  listTemplates(): TemplateRecord[] {
    return (this.db.prepare('SELECT * FROM templates ORDER BY name').all() as { name: string; spec: string; source: string }[]).map((r) => ({
      name: r.name,
      spec: JSON.parse(r.spec),
      source: r.source,
    }));
  }

  listExposures(rollout: string): ExposureRecord[] {
    const rows = this.db.prepare('SELECT record FROM exposures WHERE rollout = ? ORDER BY experiment, variant').all(rollout) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as ExposureRecord).sort((a, b) => a.startedAt - b.startedAt || a.revision - b.revision);
  }

  putExposure(e: ExposureRecord): void {
    this.db
      .prepare(
        'INSERT INTO exposures (rollout, experiment, variant, record) VALUES (?, ?, ?, ?) ON CONFLICT (rollout, experiment, variant) DO UPDATE SET record = excluded.record',
      )
      .run(e.rollout, e.experiment, e.variant, JSON.stringify(e));
  }

  putTemplate(t: TemplateRecord): void {
    this.db
      .prepare('INSERT INTO templates (name, spec, source) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, source = excluded.source')
      .run(t.name, JSON.stringify(t.spec), t.source);
  }

  saveJob(job: DesiredJob, status: JobStatus): void {
    const revision = jobRevision(job.key, status.rollout);
    this.db
      .prepare(`INSERT INTO jobs (key, rollout, revision, job, status) SELECT ?, ?, ?, ?, ?
         WHERE EXISTS (SELECT 1 FROM revisions WHERE rollout = ? AND number = ?)
         ON CONFLICT (key) DO UPDATE SET rollout = excluded.rollout, revision = excluded.revision, job = excluded.job, status = excluded.status`)
      .run(job.key, status.rollout, revision, JSON.stringify(job), JSON.stringify(status), status.rollout, revision);
  }

  listJobs(rollout?: string): { job: DesiredJob; status: JobStatus }[] {
    const rows = (
      rollout === undefined
        ? this.db.prepare('SELECT job, status FROM jobs ORDER BY rowid').all()
        : this.db.prepare('SELECT job, status FROM jobs WHERE rollout = ? ORDER BY rowid').all(rollout)
    ) as { job: string; status: string }[];
    return rows.map((r) => ({ job: JSON.parse(r.job), status: JSON.parse(r.status) }));
  }

  appendMeasurement(key: string, m: Measurement): void {
    this.db.prepare('INSERT INTO measurements (job, measurement) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM jobs WHERE key = ?)').run(key, JSON.stringify(m), key);
  }

  listMeasurements(key: string): Measurement[] {
    return (this.db.prepare('SELECT measurement FROM measurements WHERE job = ? ORDER BY id').all(key) as { measurement: string }[]).map((r) =>
      JSON.parse(r.measurement),
    );
  }

  listFlags(): FlagRecord[] {
    return (this.db.prepare('SELECT * FROM flags ORDER BY name').all() as FlagRow[]).map(toFlag);
  }
  getFlag(name: string): FlagRecord | undefined {
    const row = this.db.prepare('SELECT * FROM flags WHERE name = ?').get(name) as FlagRow | undefined;
    return row && toFlag(row);
  }
  putFlag(r: FlagRecord): void {
    this.db
      .prepare(
        `INSERT INTO flags (name, spec, source, evaluators, state, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, source = excluded.source, evaluators = excluded.evaluators`,
      )
      .run(r.name, JSON.stringify(r.spec), r.source, JSON.stringify(r.evaluators), JSON.stringify(r.state), r.createdAt);
  }
  saveFlagState(name: string, state: FlagState): void {
    this.db.prepare('UPDATE flags SET state = ? WHERE name = ?').run(JSON.stringify(state), name);
  }
  deleteFlag(name: string): void {
    this.db.prepare('DELETE FROM flags WHERE name = ?').run(name);
  }
  listFlagUsage(flag?: string): FlagUsage[] {
    const rows = (
      flag === undefined
        ? this.db.prepare('SELECT * FROM flag_usage ORDER BY flag, variant').all()
        : this.db.prepare('SELECT * FROM flag_usage WHERE flag = ? ORDER BY variant').all(flag)
    ) as { flag: string; variant: string; count: number; last_evaluated_at: number }[];
    return rows.map((r) => ({ flag: r.flag, variant: r.variant, count: r.count, lastEvaluatedAt: r.last_evaluated_at }));
  }
  putFlagUsage(u: FlagUsage): void {
    this.db
      .prepare(
        `INSERT INTO flag_usage (flag, variant, count, last_evaluated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (flag, variant) DO UPDATE SET count = excluded.count, last_evaluated_at = excluded.last_evaluated_at`,
      )
      .run(u.flag, u.variant, u.count, u.lastEvaluatedAt);
  }

  /** A value of the kv table (not on the Store port: the daemon's flag controller keeps its push generation here). */
  loadValue(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM kv WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }
  saveValue(key: string, value: string): void {
    this.db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  saveRouteTable(table: RouteTable): void {
    this.db.prepare("INSERT INTO kv (key, value) VALUES ('routeTable', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(JSON.stringify(table));
  }

  loadRouteTable(): RouteTable | undefined {
    const row = this.db.prepare("SELECT value FROM kv WHERE key = 'routeTable'").get() as { value: string } | undefined;
    if (!row) return undefined;
    const table = JSON.parse(row.value) as RouteTable;
    // Written before data-plane settings were opaque (spec format 2): `nginx` is now `dataPlaneSettings`.
    for (const l of table.listeners as (RouteTable['listeners'][number] & { nginx?: unknown })[]) {
      if (l.nginx !== undefined) {
        l.dataPlaneSettings = l.nginx;
        delete l.nginx;
      }
    }
    return table;
  }

  // Environments, pipelines and releases (pipelines-{sqlite,memory}.ts).
  listEnvironments = () => this.pipelineRows.listEnvironments();
  putEnvironment: PipelineStore['putEnvironment'] = (e) => this.pipelineRows.putEnvironment(e);
  listPipelines = () => this.pipelineRows.listPipelines();
  putPipeline: PipelineStore['putPipeline'] = (p) => this.pipelineRows.putPipeline(p);
  deletePipeline: PipelineStore['deletePipeline'] = (name) => this.pipelineRows.deletePipeline(name);
  addRelease: PipelineStore['addRelease'] = (r) => this.pipelineRows.addRelease(r);
  getRelease: PipelineStore['getRelease'] = (id) => this.pipelineRows.getRelease(id);
  listReleases: PipelineStore['listReleases'] = (pipeline) => this.pipelineRows.listReleases(pipeline);
  listStageStates: PipelineStore['listStageStates'] = (release) => this.pipelineRows.listStageStates(release);
  putStageState: PipelineStore['putStageState'] = (s) => this.pipelineRows.putStageState(s);
  addApproval: PipelineStore['addApproval'] = (a) => this.pipelineRows.addApproval(a);
  withdrawApproval: PipelineStore['withdrawApproval'] = (id, at) => this.pipelineRows.withdrawApproval(id, at);
  listApprovals: PipelineStore['listApprovals'] = (release) => this.pipelineRows.listApprovals(release);
  appendReleaseEvent: PipelineStore['appendReleaseEvent'] = (release, e, actor, at) => this.pipelineRows.appendReleaseEvent(release, e, actor, at);
  listReleaseEvents: PipelineStore['listReleaseEvents'] = (release) => this.pipelineRows.listReleaseEvents(release);

  experimentCursor(journal: string): number {
    return this.experiments.experimentCursor(journal);
  }
  applyExperimentRecords(journal: string, records: (ExperimentRecord & { seq: number })[], metrics: MetricLookup): ApplyRecordsResult {
    return this.experiments.applyExperimentRecords(journal, records, metrics);
  }
  experimentTotals(rollout: string, experiment: string): ExperimentTotals {
    return this.experiments.experimentTotals(rollout, experiment);
  }
  listExperiments(rollout: string): string[] {
    return this.experiments.listExperiments(rollout);
  }
  putExperimentSnapshot(report: ExperimentReport): void {
    this.experiments.putExperimentSnapshot(report);
  }
  listExperimentSnapshots(rollout: string, experiment: string, limit?: number): ExperimentReport[] {
    return this.experiments.listExperimentSnapshots(rollout, experiment, limit);
  }
  pruneExperimentEvents(beforeMs: number): number {
    return this.experiments.pruneExperimentEvents(beforeMs);
  }

  /** Nested calls are savepoints: an inner throw the caller catches undoes only the inner part. */
  transaction<T>(fn: () => T): T {
    const outermost = !this.db.inTransaction;
    const mark = this.uncommitted.length;
    let result: T;
    try {
      result = this.db.transaction(fn)();
    } catch (e) {
      this.uncommitted.length = mark;
      throw e;
    }
    if (outermost) this.announce(this.uncommitted.splice(0));
    return result;
  }

  private announce(events: RolloutEvent[]): void {
    if (this.onEvent && events.length > 0)
      setImmediate(() => {
        for (const e of events) this.onEvent?.(e);
      });
  }

  close(): void {
    this.db.close();
  }
}

interface RolloutRow {
  name: string;
  spec: string;
  spec_format: number;
  source: string;
  status: string;
  status_format: number;
  created_at: number;
}
interface FlagRow {
  name: string;
  spec: string;
  source: string;
  evaluators: string;
  state: string;
  created_at: number;
}
interface RevisionRow {
  rollout: string;
  number: number;
  template: string;
  hash: string;
  cause: string;
  created_at: number;
}
interface EventRow {
  id: number;
  rollout: string;
  at: number;
  type: string;
  reason: string;
  message: string;
  revision: number | null;
  actor: string;
}

function toRollout(r: RolloutRow): RolloutRecord {
  return {
    name: r.name,
    spec: decodeRow(`rollout ${r.name}: spec`, r.spec, r.spec_format, SPEC_STEPS),
    source: r.source,
    status: decodeRow(`rollout ${r.name}: status`, r.status, r.status_format, STATUS_STEPS),
    createdAt: r.created_at,
  };
}

function toFlag(r: FlagRow): FlagRecord {
  return {
    name: r.name,
    spec: JSON.parse(r.spec),
    source: r.source,
    evaluators: JSON.parse(r.evaluators),
    state: JSON.parse(r.state),
    createdAt: r.created_at,
  };
}

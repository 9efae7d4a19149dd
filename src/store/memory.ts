import { jobRevision, type MetricLookup, storedEvent, type Store, type TemplateRecord } from '../core/store.js';
import type { ApplyRecordsResult, ExperimentRecord, ExperimentReport, ExperimentTotals } from '../core/experiment.js';
import { ExperimentData } from './experiments.js';
import { MemoryPipelineRows } from './pipelines-memory.js';
import type { PipelineStore } from '../core/pipeline.js';
import { MemoryExperimentRows } from './experiments-memory.js';
import { MemoryAuthStore } from './auth-memory.js';
import type { AuditDraft, AuditRecord, TokenRecord } from '../core/auth.js';
import type { DesiredJob, JobStatus } from '../core/jobs.js';
import type { Measurement } from '../core/analysis.js';
import type { InstanceRecord } from '../core/platform.js';
import type { Revision, RolloutEvent, RolloutEventDraft, RolloutRecord, RolloutStatus } from '../core/rollout.js';
import type { RouteTable } from '../core/route-table.js';
import type { ExposureRecord } from '../core/exposure.js';
import type { FlagRecord, FlagState, FlagUsage } from '../core/flags.js';

/**
 * A Store in memory, for the engine's unit tests and the control-plane benchmark. It keeps
 * SqliteStore's contract (test/unit/store-contract.test.ts): values are copied in and out
 * as a database would, lists come in the same order, and a transaction that throws is
 * undone. The undo is a journal of the rows a transaction changed, not a snapshot of
 * everything, because the benchmark holds a thousand rollouts and a transaction touches few.
 */
export class MemoryStore implements Store {
  private readonly rollouts = new Map<string, RolloutRecord>();
  private readonly revisions = new Map<string, Revision>();
  private readonly events: RolloutEvent[] = [];
  private readonly instances = new Map<string, InstanceRecord>();
  private readonly templates = new Map<string, TemplateRecord>();
  /** `order` is when a job was first saved: SQLite lists jobs by rowid. */
  private readonly jobs = new Map<string, { job: DesiredJob; status: JobStatus; revision: number; order: number }>();
  private readonly measurements = new Map<string, Measurement[]>();
  private readonly exposures = new Map<string, ExposureRecord>();
  private readonly routeTable = new Map<'current', RouteTable>();
  private readonly flags = new Map<string, FlagRecord>();
  private readonly flagUsage = new Map<string, FlagUsage>();
  private lastEventId = 0;
  private lastJobOrder = 0;
  /** Undo steps of the open transaction, newest last; undefined outside one. */
  private journal: (() => void)[] | undefined;
  /** Experiments' rows (experiments-memory.ts), written through `write` so a transaction undoes them too. */
  /** Pipelines' rows, written through `write` so a transaction undoes them too. */
  private readonly pipelineRows = new MemoryPipelineRows((table, key, value) => this.write(table, key, value));
  private readonly experiments = new ExperimentData(new MemoryExperimentRows((table, key, value) => this.write(table, key, value)), (fn) =>
    this.transaction(fn),
  );

  // Users and roles (issue 15): named tokens and the audit log, in auth-memory.ts (outside transactions: an audit row stays).
  private readonly auth = new MemoryAuthStore();
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
    return [...this.rollouts.values()].sort((a, b) => byteOrder(a.name, b.name)).map(copy);
  }
  getRollout(name: string): RolloutRecord | undefined {
    const r = this.rollouts.get(name);
    return r && copy(r);
  }
  putRollout(record: RolloutRecord): void {
    const existing = this.rollouts.get(record.name);
    this.write(this.rollouts, record.name, copy(existing ? { ...record, status: existing.status, createdAt: existing.createdAt } : record));
  }
  saveStatus(name: string, status: RolloutStatus): void {
    const r = this.rollouts.get(name);
    if (r) this.write(this.rollouts, name, { ...r, status: copy(status) });
  }
  deleteRollout(name: string): void {
    this.write(this.rollouts, name, undefined);
    for (const [key, r] of this.revisions) if (r.rollout === name) this.write(this.revisions, key, undefined);
    this.deleteJobsWhere((j) => j.status.rollout === name);
  }

  listRevisions(rollout: string): Revision[] {
    return [...this.revisions.values()]
      .filter((r) => r.rollout === rollout)
      .sort((a, b) => a.number - b.number)
      .map(copy);
  }
  addRevision(revision: Revision): void {
    const key = `${revision.rollout}\0${revision.number}`;
    if (this.revisions.has(key)) throw new Error(`revision ${revision.number} of ${revision.rollout} exists already`);
    this.write(this.revisions, key, copy(revision));
  }
  deleteRevision(rollout: string, number: number): void {
    this.write(this.revisions, `${rollout}\0${number}`, undefined);
    this.deleteJobsWhere((j) => j.status.rollout === rollout && j.revision === number);
  }

  appendEvent(rollout: string, event: RolloutEventDraft, actor: string, at: number): RolloutEvent {
    const e = storedEvent(++this.lastEventId, rollout, event, actor, at);
    this.events.push(copy(e));
    this.journal?.push(() => {
      this.events.pop();
      this.lastEventId--;
    });
    return e;
  }
  listEvents(rollout: string, options: { afterId?: number; limit?: number } = {}): RolloutEvent[] {
    return this.events
      .filter((e) => e.rollout === rollout && e.id > (options.afterId ?? 0))
      .slice(0, options.limit ?? 1000)
      .map(copy);
  }
  lastEvents(rollout: string, limit: number): RolloutEvent[] {
    const own = this.events.filter((e) => e.rollout === rollout);
    return own.slice(Math.max(0, own.length - limit)).map(copy);
  }

  saveInstance(record: InstanceRecord): void {
    this.write(this.instances, record.id, copy(record));
  }
  deleteInstance(id: string): void {
    this.write(this.instances, id, undefined);
  }
  listInstances(): InstanceRecord[] {
    return [...this.instances.values()].sort((a, b) => byteOrder(a.id, b.id)).map(copy);
  }

  listTemplates(): TemplateRecord[] {
    return [...this.templates.values()].sort((a, b) => byteOrder(a.name, b.name)).map(copy);
  }
  putTemplate(t: TemplateRecord): void {
    this.write(this.templates, t.name, copy(t));
  }

  listExposures(rollout: string): ExposureRecord[] {
    return [...this.exposures.values()]
      .filter((e) => e.rollout === rollout)
      .sort((a, b) => a.startedAt - b.startedAt || a.revision - b.revision || byteOrder(a.experiment, b.experiment) || byteOrder(a.variant, b.variant))
      .map(copy);
  }
  putExposure(e: ExposureRecord): void {
    this.write(this.exposures, `${e.rollout}\0${e.experiment}\0${e.variant}`, copy(e));
  }

  saveJob(job: DesiredJob, status: JobStatus): void {
    const revision = jobRevision(job.key, status.rollout);
    if (!this.revisions.has(`${status.rollout}\0${revision}`)) return;
    const order = this.jobs.get(job.key)?.order ?? ++this.lastJobOrder;
    this.write(this.jobs, job.key, copy({ job, status, revision, order }));
  }
  listJobs(rollout?: string): { job: DesiredJob; status: JobStatus }[] {
    return [...this.jobs.values()]
      .filter((j) => rollout === undefined || j.status.rollout === rollout)
      .sort((a, b) => a.order - b.order)
      .map((j) => copy({ job: j.job, status: j.status }));
  }
  private deleteJobsWhere(match: (j: { status: JobStatus; revision: number }) => boolean): void {
    for (const [key, j] of this.jobs) {
      if (!match(j)) continue;
      this.write(this.jobs, key, undefined);
      this.write(this.measurements, key, undefined);
    }
  }
  appendMeasurement(key: string, m: Measurement): void {
    if (!this.jobs.has(key)) return;
    this.write(this.measurements, key, [...(this.measurements.get(key) ?? []), copy(m)]);
  }
  listMeasurements(key: string): Measurement[] {
    return copy(this.measurements.get(key) ?? []);
  }

  listFlags(): FlagRecord[] {
    return [...this.flags.values()].sort((a, b) => byteOrder(a.name, b.name)).map(copy);
  }
  getFlag(name: string): FlagRecord | undefined {
    const f = this.flags.get(name);
    return f && copy(f);
  }
  putFlag(record: FlagRecord): void {
    const existing = this.flags.get(record.name);
    this.write(this.flags, record.name, copy(existing ? { ...record, state: existing.state, createdAt: existing.createdAt } : record));
  }
  saveFlagState(name: string, state: FlagState): void {
    const f = this.flags.get(name);
    if (f) this.write(this.flags, name, { ...f, state: copy(state) });
  }
  deleteFlag(name: string): void {
    this.write(this.flags, name, undefined);
  }
  listFlagUsage(flag?: string): FlagUsage[] {
    return [...this.flagUsage.values()]
      .filter((u) => flag === undefined || u.flag === flag)
      .sort((a, b) => byteOrder(a.flag, b.flag) || byteOrder(a.variant, b.variant))
      .map(copy);
  }
  putFlagUsage(u: FlagUsage): void {
    this.write(this.flagUsage, `${u.flag}\0${u.variant}`, copy(u));
  }

  saveRouteTable(table: RouteTable): void {
    this.write(this.routeTable, 'current', copy(table));
  }
  loadRouteTable(): RouteTable | undefined {
    const table = this.routeTable.get('current');
    return table && copy(table);
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

  /** Nested calls nest like SQLite savepoints: an inner throw undoes only the inner part. */
  transaction<T>(fn: () => T): T {
    const outermost = this.journal === undefined;
    const journal = (this.journal ??= []);
    const mark = journal.length;
    try {
      return fn();
    } catch (e) {
      while (journal.length > mark) journal.pop()!();
      throw e;
    } finally {
      if (outermost) this.journal = undefined;
    }
  }
  close(): void {}

  /** Every change to a row goes through here, so a transaction can undo it. */
  private write<K, V>(table: Map<K, V>, key: K, value: V | undefined): void {
    if (this.journal) {
      const had = table.has(key);
      const before = table.get(key) as V;
      this.journal.push(() => (had ? table.set(key, before) : table.delete(key)));
    }
    if (value === undefined) table.delete(key);
    else table.set(key, value);
  }
}

/** The values a database would hand back: nothing shared with the caller. */
const copy = <T>(value: T): T => structuredClone(value);

/** SQLite's default (BINARY) collation, which `ORDER BY name` uses, for the ASCII names the spec allows. */
const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

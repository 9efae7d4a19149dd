import type { ExposureRecord, Store, TemplateRecord } from './store.js';
import type { DesiredJob, JobStatus } from '../engine/jobs.js';
import type { Measurement } from '../analysis/types.js';
import type { InstanceRecord } from '../platform/platform.js';
import type { Revision, RolloutEvent, RolloutEventDraft, RolloutRecord, RolloutStatus } from '../engine/types.js';
import type { RouteTable } from '../router/route-table.js';

/** A Store in memory, for the engine's unit tests and the control-plane benchmark. */
export class MemoryStore implements Store {
  private rollouts = new Map<string, RolloutRecord>();
  private revisions: Revision[] = [];
  private events: RolloutEvent[] = [];
  private instances = new Map<string, InstanceRecord>();
  private table: RouteTable | undefined;
  private nextEventId = 1;
  private templates = new Map<string, TemplateRecord>();
  private jobs = new Map<string, { job: DesiredJob; status: JobStatus }>();
  private measurements = new Map<string, Measurement[]>();

  private exposures = new Map<string, ExposureRecord>();

  listExposures(rollout: string): ExposureRecord[] {
    return [...this.exposures.values()]
      .filter((e) => e.rollout === rollout)
      .map((e) => structuredClone(e))
      .sort((a, b) => a.startedAt - b.startedAt || a.revision - b.revision);
  }
  putExposure(e: ExposureRecord): void {
    this.exposures.set(`${e.rollout}\0${e.experiment}\0${e.variant}`, structuredClone(e));
  }

  listTemplates(): TemplateRecord[] {
    return [...this.templates.values()].map((t) => structuredClone(t));
  }
  putTemplate(t: TemplateRecord): void {
    this.templates.set(t.name, structuredClone(t));
  }
  saveJob(job: DesiredJob, status: JobStatus): void {
    this.jobs.set(job.key, structuredClone({ job, status }));
  }
  listJobs(rollout?: string): { job: DesiredJob; status: JobStatus }[] {
    return [...this.jobs.values()].filter((j) => rollout === undefined || j.status.rollout === rollout).map((j) => structuredClone(j));
  }
  deleteJobsOf(rollout: string, revision: number): void {
    const prefix = `${rollout}/r${revision}/`;
    for (const key of [...this.jobs.keys()]) if (key.startsWith(prefix)) this.jobs.delete(key);
    for (const key of [...this.measurements.keys()]) if (key.startsWith(prefix)) this.measurements.delete(key);
  }
  appendMeasurement(key: string, m: Measurement): void {
    const list = this.measurements.get(key) ?? [];
    list.push(structuredClone(m));
    this.measurements.set(key, list);
  }
  listMeasurements(key: string): Measurement[] {
    return structuredClone(this.measurements.get(key) ?? []);
  }

  listRollouts(): RolloutRecord[] {
    return [...this.rollouts.values()].sort((a, b) => a.name.localeCompare(b.name)).map((r) => structuredClone(r));
  }
  getRollout(name: string): RolloutRecord | undefined {
    const r = this.rollouts.get(name);
    return r && structuredClone(r);
  }
  putRollout(record: RolloutRecord): void {
    const existing = this.rollouts.get(record.name);
    this.rollouts.set(record.name, structuredClone(existing ? { ...record, status: existing.status, createdAt: existing.createdAt } : record));
  }
  saveStatus(name: string, status: RolloutStatus): void {
    const r = this.rollouts.get(name);
    if (r) r.status = structuredClone(status);
  }
  deleteRollout(name: string): void {
    this.rollouts.delete(name);
    this.revisions = this.revisions.filter((r) => r.rollout !== name);
  }
  listRevisions(rollout: string): Revision[] {
    return this.revisions.filter((r) => r.rollout === rollout).sort((a, b) => a.number - b.number).map((r) => structuredClone(r));
  }
  addRevision(revision: Revision): void {
    this.revisions.push(structuredClone(revision));
  }
  deleteRevision(rollout: string, number: number): void {
    this.revisions = this.revisions.filter((r) => !(r.rollout === rollout && r.number === number));
  }
  appendEvent(rollout: string, event: RolloutEventDraft, actor: string, at: number): RolloutEvent {
    const e = { id: this.nextEventId++, rollout, at, actor, ...event };
    this.events.push(e);
    return e;
  }
  listEvents(rollout: string, options: { afterId?: number; limit?: number } = {}): RolloutEvent[] {
    return this.events.filter((e) => e.rollout === rollout && e.id > (options.afterId ?? 0)).slice(0, options.limit ?? 1000);
  }
  lastEvents(rollout: string, limit: number): RolloutEvent[] {
    return this.events.filter((e) => e.rollout === rollout).slice(-limit);
  }
  saveInstance(record: InstanceRecord): void {
    this.instances.set(record.id, structuredClone(record));
  }
  deleteInstance(id: string): void {
    this.instances.delete(id);
  }
  listInstances(): InstanceRecord[] {
    return [...this.instances.values()];
  }
  saveRouteTable(table: RouteTable): void {
    this.table = structuredClone(table);
  }
  loadRouteTable(): RouteTable | undefined {
    return this.table;
  }
  transaction<T>(fn: () => T): T {
    return fn();
  }
  close(): void {}
}

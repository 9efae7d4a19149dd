/** PipelineStore (core/pipeline.ts) in memory, held to SQLite's behaviour by test/unit/store-contract.test.ts. */
import type {
  ApprovalDraft,
  ApprovalRecord,
  EnvironmentRecord,
  PipelineRecord,
  PipelineStore,
  ReleaseEvent,
  ReleaseEventDraft,
  ReleaseRecord,
  ReleaseStageState,
} from '../core/pipeline.js';

/** Writes a row through the owning store, so its transaction can undo it. */
export type RowWriter = <K, V>(table: Map<K, V>, key: K, value: V | undefined) => void;

/** Through JSON, as SQLite stores these rows: a key holding undefined is dropped there, so here too. */
const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export class MemoryPipelineRows implements PipelineStore {
  private readonly environments = new Map<string, EnvironmentRecord>();
  private readonly pipelines = new Map<string, PipelineRecord>();
  private readonly releases = new Map<string, ReleaseRecord>();
  private readonly stages = new Map<string, ReleaseStageState>();
  private readonly approvals = new Map<number, ApprovalRecord>();
  private readonly events = new Map<number, ReleaseEvent>();

  constructor(private readonly write: RowWriter) {}

  listEnvironments(): EnvironmentRecord[] {
    return [...this.environments.values()].sort(byName).map(copy);
  }
  putEnvironment(e: EnvironmentRecord): void {
    this.write(this.environments, e.name, copy(e));
  }
  listPipelines(): PipelineRecord[] {
    return [...this.pipelines.values()].sort(byName).map(copy);
  }
  putPipeline(p: PipelineRecord): void {
    this.write(this.pipelines, p.name, copy(p));
  }
  deletePipeline(name: string): void {
    this.write(this.pipelines, name, undefined);
  }

  addRelease(r: ReleaseRecord): void {
    if (this.releases.has(r.id)) throw new Error(`UNIQUE constraint failed: releases.id (${r.id})`);
    this.write(this.releases, r.id, copy(r));
  }
  getRelease(id: string): ReleaseRecord | undefined {
    const r = this.releases.get(id);
    return r && copy(r);
  }
  listReleases(pipeline?: string): ReleaseRecord[] {
    return [...this.releases.values()].filter((r) => pipeline === undefined || r.pipeline === pipeline).map(copy);
  }

  listStageStates(release?: string): ReleaseStageState[] {
    return [...this.stages.values()]
      .filter((s) => release === undefined || s.release === release)
      .sort((a, b) => (a.release === b.release ? (a.stage < b.stage ? -1 : 1) : a.release < b.release ? -1 : 1))
      .map(copy);
  }
  putStageState(s: ReleaseStageState): void {
    this.write(this.stages, `${s.release}\0${s.stage}`, copy(s));
  }

  addApproval(a: ApprovalDraft): ApprovalRecord {
    // Rows are never deleted and a rolled-back insert is removed again, so size + 1 is the next id, as
    // SQLite's AUTOINCREMENT hands out (its sqlite_sequence rolls back too). A counter would skip the undone ones.
    const record: ApprovalRecord = { id: this.approvals.size + 1, ...copy(a) };
    this.write(this.approvals, record.id, record);
    return copy(record);
  }
  withdrawApproval(id: number, at: number): void {
    const a = this.approvals.get(id);
    if (a && a.withdrawnAt === undefined) this.write(this.approvals, id, { ...a, withdrawnAt: at });
  }
  listApprovals(release?: string): ApprovalRecord[] {
    return [...this.approvals.values()].filter((a) => release === undefined || a.release === release).map(copy);
  }

  appendReleaseEvent(release: string, e: ReleaseEventDraft, actor: string, at: number): ReleaseEvent {
    const event: ReleaseEvent = { id: this.events.size + 1, release, at, actor, ...copy(e) };
    this.write(this.events, event.id, event);
    return copy(event);
  }
  listReleaseEvents(release?: string): ReleaseEvent[] {
    return [...this.events.values()].filter((e) => release === undefined || e.release === release).map(copy);
  }
}

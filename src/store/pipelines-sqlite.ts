/** PipelineStore (core/pipeline.ts) over the SQLite tables of schema step "environments, pipelines and releases". */
import type Database from 'better-sqlite3';
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

export class SqlitePipelineRows implements PipelineStore {
  constructor(private readonly db: Database.Database) {}

  listEnvironments(): EnvironmentRecord[] {
    const rows = this.db.prepare('SELECT name, spec, source FROM environments ORDER BY name').all() as { name: string; spec: string; source: string }[];
    return rows.map((r) => ({ name: r.name, spec: JSON.parse(r.spec), source: r.source }));
  }
  putEnvironment(e: EnvironmentRecord): void {
    this.db.prepare('INSERT OR REPLACE INTO environments (name, spec, source) VALUES (?, ?, ?)').run(e.name, JSON.stringify(e.spec), e.source);
  }
  listPipelines(): PipelineRecord[] {
    const rows = this.db.prepare('SELECT name, spec, source FROM pipelines ORDER BY name').all() as { name: string; spec: string; source: string }[];
    return rows.map((r) => ({ name: r.name, spec: JSON.parse(r.spec), source: r.source }));
  }
  putPipeline(p: PipelineRecord): void {
    this.db.prepare('INSERT OR REPLACE INTO pipelines (name, spec, source) VALUES (?, ?, ?)').run(p.name, JSON.stringify(p.spec), p.source);
  }
  deletePipeline(name: string): void {
    this.db.prepare('DELETE FROM pipelines WHERE name = ?').run(name);
  }

  addRelease(r: ReleaseRecord): void {
    // UNIQUE(id): a second release of one version throws, so a release never changes once made.
    this.db.prepare('INSERT INTO releases (id, pipeline, record) VALUES (?, ?, ?)').run(r.id, r.pipeline, JSON.stringify(r));
  }
  getRelease(id: string): ReleaseRecord | undefined {
    const row = this.db.prepare('SELECT record FROM releases WHERE id = ?').get(id) as { record: string } | undefined;
    return row && (JSON.parse(row.record) as ReleaseRecord);
  }
  listReleases(pipeline?: string): ReleaseRecord[] {
    const rows = (
      pipeline === undefined
        ? this.db.prepare('SELECT record FROM releases ORDER BY seq').all()
        : this.db.prepare('SELECT record FROM releases WHERE pipeline = ? ORDER BY seq').all(pipeline)
    ) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as ReleaseRecord);
  }

  listStageStates(release?: string): ReleaseStageState[] {
    const rows = (
      release === undefined
        ? this.db.prepare('SELECT state FROM release_stages ORDER BY release, stage').all()
        : this.db.prepare('SELECT state FROM release_stages WHERE release = ? ORDER BY stage').all(release)
    ) as { state: string }[];
    return rows.map((r) => JSON.parse(r.state) as ReleaseStageState);
  }
  putStageState(s: ReleaseStageState): void {
    this.db.prepare('INSERT OR REPLACE INTO release_stages (release, stage, state) VALUES (?, ?, ?)').run(s.release, s.stage, JSON.stringify(s));
  }

  addApproval(a: ApprovalDraft): ApprovalRecord {
    const info = this.db.prepare('INSERT INTO release_approvals (release, stage, record) VALUES (?, ?, ?)').run(a.release, a.stage, '{}');
    const json = JSON.stringify({ id: Number(info.lastInsertRowid), ...a });
    this.db.prepare('UPDATE release_approvals SET record = ? WHERE id = ?').run(json, Number(info.lastInsertRowid));
    // What listApprovals will give back (no keys holding undefined), not the caller's object.
    return JSON.parse(json) as ApprovalRecord;
  }
  withdrawApproval(id: number, at: number): void {
    const row = this.db.prepare('SELECT record FROM release_approvals WHERE id = ?').get(id) as { record: string } | undefined;
    if (!row) return;
    const record = JSON.parse(row.record) as ApprovalRecord;
    if (record.withdrawnAt !== undefined) return;
    this.db.prepare('UPDATE release_approvals SET record = ? WHERE id = ?').run(JSON.stringify({ ...record, withdrawnAt: at }), id);
  }
  listApprovals(release?: string): ApprovalRecord[] {
    const rows = (
      release === undefined
        ? this.db.prepare('SELECT record FROM release_approvals ORDER BY id').all()
        : this.db.prepare('SELECT record FROM release_approvals WHERE release = ? ORDER BY id').all(release)
    ) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as ApprovalRecord);
  }

  appendReleaseEvent(release: string, e: ReleaseEventDraft, actor: string, at: number): ReleaseEvent {
    const info = this.db
      .prepare('INSERT INTO release_events (release, stage, at, actor, type, reason, message) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(release, e.stage ?? null, at, actor, e.type, e.reason, e.message);
    // As listReleaseEvents gives it back: the columns only, no stage key when there is none.
    const { stage, type, reason, message } = e;
    return { id: Number(info.lastInsertRowid), release, at, actor, ...(stage === undefined ? {} : { stage }), type, reason, message };
  }
  listReleaseEvents(release?: string): ReleaseEvent[] {
    const rows = (
      release === undefined
        ? this.db.prepare('SELECT * FROM release_events ORDER BY id').all()
        : this.db.prepare('SELECT * FROM release_events WHERE release = ? ORDER BY id').all(release)
    ) as { id: number; release: string; stage: string | null; at: number; actor: string; type: 'Normal' | 'Warning'; reason: string; message: string }[];
    return rows.map(({ stage, ...r }) => (stage === null ? r : { ...r, stage }));
  }
}

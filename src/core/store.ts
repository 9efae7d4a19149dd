import type { ExposureRecord } from './exposure.js';
import type { InstanceRecordStore } from './platform.js';
import type { Revision, RolloutEvent, RolloutEventDraft, RolloutRecord, RolloutStatus } from './rollout.js';
import type { RouteTable } from './route-table.js';
import type { JobStore } from './jobs.js';
import type { AnalysisTemplateSpec } from './analysis.js';

export interface TemplateRecord {
  name: string;
  spec: AnalysisTemplateSpec;
  source: string;
}

/** Persistence port. SQLite today (store/sqlite.ts); every write is durable when it returns. */
export interface Store extends InstanceRecordStore, JobStore {
  listRollouts(): RolloutRecord[];
  getRollout(name: string): RolloutRecord | undefined;
  /** Insert or replace spec + source (status untouched if the rollout exists). */
  putRollout(record: RolloutRecord): void;
  saveStatus(name: string, status: RolloutStatus): void;
  deleteRollout(name: string): void;

  listRevisions(rollout: string): Revision[];
  addRevision(revision: Revision): void;
  deleteRevision(rollout: string, number: number): void;

  appendEvent(rollout: string, event: RolloutEventDraft, actor: string, at: number): RolloutEvent;
  /** Events after `afterId`, oldest first, at most `limit`. */
  listEvents(rollout: string, options?: { afterId?: number; limit?: number }): RolloutEvent[];
  /** The newest `limit` events, oldest first. */
  lastEvents(rollout: string, limit: number): RolloutEvent[];

  /** Forget the jobs (and their measurements) of a revision that left the history. */
  deleteJobsOf(rollout: string, revision: number): void;
  listTemplates(): TemplateRecord[];
  /** Exposures of a rollout's A/B tests, oldest experiment first. Kept when the rollout is deleted. */
  listExposures(rollout: string): ExposureRecord[];
  putExposure(e: ExposureRecord): void;
  putTemplate(t: TemplateRecord): void;

  /** The last route table sent to the data plane. */
  saveRouteTable(table: RouteTable): void;
  loadRouteTable(): RouteTable | undefined;

  /** Run fn in one transaction. */
  transaction<T>(fn: () => T): T;
  close(): void;
}

/** An event as every Store hands it back (a revision given as undefined is no revision, as in SQLite's NULL). */
export function storedEvent(id: number, rollout: string, e: RolloutEventDraft, actor: string, at: number): RolloutEvent {
  return { id, rollout, at, actor, type: e.type, reason: e.reason, message: e.message, ...(e.revision === undefined ? {} : { revision: e.revision }) };
}

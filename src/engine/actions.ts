import type { RolloutEvent, RolloutView, Revision } from '../core/rollout.js';
import type { DesiredJob, JobStatus } from '../core/jobs.js';
import type { Measurement } from '../core/analysis.js';
import type { LogChunk } from '../core/platform.js';

/** One job of a rollout (analysis run, hook, smoke test) with its recent measurements. */
export interface AnalysisView {
  job: DesiredJob;
  status: JobStatus;
  measurements: Measurement[];
}

/** Who asked for an action; recorded on its event. */
export interface Actor {
  actor: string;
}

export interface ApplyResult {
  name: string;
  /** Rollout when absent. */
  kind?: 'Rollout' | 'AnalysisTemplate' | 'FeatureFlag' | 'Environment' | 'Pipeline';
  /** "created", "configured" (new revision), "unchanged". */
  result: 'created' | 'configured' | 'unchanged';
  revision: number;
}

/**
 * Everything users can do to rollouts. The HTTP API (api/server.ts) exposes exactly this,
 * and the CLI calls it through api/client.ts. Implemented by engine/controller.ts.
 * Unknown names throw NotFoundError; bad input throws UserError (both one-line messages).
 */
export interface RolloutActions {
  /** YAML text with one or more Rollout documents; `file` names it in error messages. All or nothing. */
  apply(yamlText: string, file: string, by: Actor): Promise<ApplyResult[]>;
  list(): Promise<RolloutView[]>;
  get(name: string): Promise<RolloutView>;
  history(name: string): Promise<Revision[]>;
  events(name: string, options?: { afterId?: number; limit?: number }): Promise<RolloutEvent[]>;
  /** `variant`: an A/B test's winner. */
  promote(name: string, options: { full?: boolean; variant?: string }, by: Actor): Promise<void>;
  abort(name: string, by: Actor): Promise<void>;
  retry(name: string, by: Actor): Promise<void>;
  pause(name: string, by: Actor): Promise<void>;
  resume(name: string, by: Actor): Promise<void>;
  /** Maintenance: every request to the rollout's listeners gets the maintenance answer until resumeTraffic. */
  stopTraffic(name: string, by: Actor): Promise<void>;
  /** New requests wait (each up to timeoutSeconds, default 30) until resumeTraffic; in-flight ones finish. */
  pauseTraffic(name: string, options: { timeoutSeconds?: number }, by: Actor): Promise<void>;
  resumeTraffic(name: string, by: Actor): Promise<void>;
  undo(name: string, options: { toRevision?: number }, by: Actor): Promise<ApplyResult>;
  restart(name: string, by: Actor): Promise<void>;
  /** Change the template's version and/or env without editing the file; makes a new revision. */
  set(name: string, changes: { version?: string; env?: Record<string, string | null> }, by: Actor): Promise<ApplyResult>;
  delete(name: string, by: Actor): Promise<void>;
  /** Analysis runs, hooks and smoke tests of a rollout, oldest first, with recent measurements. */
  analysis(name: string): Promise<AnalysisView[]>;
  /** Pass the rollout's waiting approval gates; returns how many. */
  approve(name: string, by: Actor): Promise<number>;
  /** Output of one of the rollout's instances from `offset` on (Platform.readLogs); `sluice logs` polls it. */
  logs(name: string, instanceId: string, offset: number, maxBytes: number): Promise<LogChunk>;
}

import type { Template } from './spec.js';

/** Lifecycle of one instance, as the platform observes it. */
export type InstancePhase =
  | 'Starting' // process running, startup/readiness not yet passed
  | 'Ready' // readiness passing
  | 'NotReady' // was ready, readiness now failing
  | 'CrashLoopBackOff' // exited, waiting to be restarted
  | 'Terminating' // being drained and stopped
  | 'Stopped'; // gone for good

export interface InstanceRef {
  id: string;
  rollout: string;
  revision: number;
  /** Bumped by `sluice restart`: instances of an older generation get replaced. */
  generation: number;
}

export interface InstanceStatus extends InstanceRef {
  phase: InstancePhase;
  pid?: number;
  port: number;
  startedAt: number;
  /** When readiness last became true (ms since epoch), if it is true now. */
  readySince?: number;
  restarts: number;
  lastExit?: { code: number | null; signal: string | null; at: number };
  /** Why the process could not be started, when the platform knows (e.g. "command not found: node2"). */
  message?: string;
  logFile: string;
}

/** What the platform persists to re-adopt instances after a control-plane restart. */
export interface InstanceRecord extends InstanceRef {
  pid: number;
  port: number;
  startedAt: number;
  /** Process start time as the OS reports it, to tell a reused pid apart. */
  procStartTime?: string;
  logFile: string;
  template: Template;
}

export interface InstanceRecordStore {
  saveInstance(record: InstanceRecord): void;
  deleteInstance(id: string): void;
  listInstances(): InstanceRecord[];
}

export interface StopOptions {
  /**
   * Called after the instance left the route table and before SIGTERM: the caller
   * waits here for in-flight requests to drain (bounded by shutdown.drainSeconds).
   */
  drain?: () => Promise<void>;
}

/**
 * Runs instances of revisions. Local processes today, Kubernetes pods later.
 * State changes are reported through `onChange` so the engine can reconcile at once.
 */
export interface Platform {
  start(ref: InstanceRef, template: Template): Promise<InstanceStatus>;
  /** Drain, preStop delay, SIGTERM, grace period, SIGKILL. Resolves when the process is gone. */
  stop(id: string, options?: StopOptions): Promise<void>;
  list(rollout?: string): InstanceStatus[];
  /** Take over instances started by an earlier control plane that are still alive. Returns the ids adopted. */
  adopt(): Promise<string[]>;
  onChange(listener: (instance: InstanceStatus) => void): void;
  /** Stop probing and supervising; leaves processes running (for a control-plane restart). */
  detach(): Promise<void>;
}

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
  /** Where the data plane reaches the instance (the platform's choice: 127.0.0.1 for local processes). */
  host: string;
  port: number;
  /** Its process id, where the platform runs it as a process of this machine (local); shown by `sluice get`. */
  pid?: number;
  startedAt: number;
  /** When readiness last became true (ms since epoch), if it is true now. */
  readySince?: number;
  restarts: number;
  lastExit?: { code: number | null; signal: string | null; at: number };
  /** Why the process could not be started, when the platform knows (e.g. "command not found: node2"). */
  message?: string;
}

/** The most a `readLogs` call returns at once (more is asked for with the next offset). */
export const MAX_LOG_CHUNK_BYTES = 1024 * 1024;

/** A piece of an instance's log (`Platform.readLogs`). */
export interface LogChunk {
  text: string;
  /** Where the next read continues (an opaque position for the caller; bytes of the file for local). */
  offset: number;
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
 * What changing a revision's instance count means, as the platform chooses it: how many
 * instances to start and which ones to stop (local: not ready first, then the youngest).
 */
export interface ScalePlan {
  start: number;
  stop: InstanceStatus[];
}

/** A revision's desired count, as the engine asks for it. */
export interface ScaleRequest {
  /** Whose revision (a control plane with several platforms asks the rollout's own). */
  rollout: string;
  /** The revision's instances that are neither stopping nor gone. */
  live: InstanceStatus[];
  replicas: number;
  /**
   * `sluice restart`: instances of an older generation are replaced, one at a time, never
   * going below `replicas` ready instances. Absent: plain scaling.
   */
  replaceOlderThan?: number;
}

/**
 * Runs instances of revisions. Local processes today, Kubernetes pods later.
 * State changes are reported through `onChange` so the engine can reconcile at once.
 * The engine asks for counts (`planScale`) and leaves which instance goes to the platform;
 * it starts and stops what the plan says only once the data plane no longer routes to the
 * instances it stops.
 */
export interface Platform {
  /** Which instances a change of count means; nothing happens yet. */
  planScale(request: ScaleRequest): ScalePlan;
  start(ref: InstanceRef, template: Template): Promise<InstanceStatus>;
  /** Drain, preStop delay, SIGTERM, grace period, SIGKILL. Resolves when the process is gone. */
  stop(id: string, options?: StopOptions): Promise<void>;
  list(rollout?: string): InstanceStatus[];
  /** Take over instances started by an earlier control plane that are still alive. Returns the ids adopted. */
  adopt(): Promise<string[]>;
  onChange(listener: (instance: InstanceStatus) => void): void;
  /**
   * The instance's output (stdout and stderr, plus the platform's own lines about it) from
   * `offset` on, at most about `maxBytes` of it; pass the returned offset to read on. Empty
   * text means nothing new yet. A log shorter than `offset` (rotated, truncated) is read
   * again from its start. A chunk may end mid-line when the app has not finished the line.
   * Rejects with a one-line error for an id the platform does not know.
   */
  readLogs(id: string, offset: number, maxBytes: number): Promise<LogChunk>;
  /** Stop probing and supervising; leaves processes running (for a control-plane restart). */
  detach(): Promise<void>;
}

import { join } from 'node:path';
import type { Template } from '../../core/spec.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { UserError } from '../../util/errors.js';
import { newInstanceId } from '../../core/instance-id.js';
import type {
  InstanceRecord,
  InstanceRecordStore,
  InstanceRef,
  InstanceStatus,
  LogChunk,
  Platform,
  ScalePlan,
  ScaleRequest,
  StopOptions,
} from '../../core/platform.js';
import type { LocalInstanceStatus } from './instance-status.js';
import { readLogFile } from './log-file.js';
import { planLocalScale } from './instance-choice.js';
import { allocatePort, isPortFree, type PortRange } from './ports.js';
import { validateProbes } from './probe-actions.js';
import { isSameProcess } from '../../util/process-control.js';
import { InstanceSupervisor } from './supervisor.js';

export interface LocalPlatformOptions {
  /** Root for everything the platform writes; logs go to `<stateDir>/logs/<rollout>/<revision>/<id>.log`. */
  stateDir: string;
  /** Where instance records are persisted so a later control plane can adopt them. */
  records: InstanceRecordStore;
  clock?: Clock;
  /** Confine instance ports to this range (`sluice up --instance-ports`); default: any free port. */
  instancePorts?: PortRange;
}

/**
 * Runs instances as local processes on 127.0.0.1, each in its own process group and
 * detached from the control plane, so a control-plane crash leaves them serving and
 * `adopt()` takes them over afterwards.
 */
export class LocalPlatform implements Platform {
  private readonly supervisors = new Map<string, InstanceSupervisor>();
  private readonly listeners: ((instance: InstanceStatus) => void)[] = [];
  private readonly clock: Clock;

  constructor(private readonly options: LocalPlatformOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** Not ready before ready, then the youngest; `sluice restart` replaces one at a time (instance-choice.ts). */
  planScale(request: ScaleRequest): ScalePlan {
    return planLocalScale(request);
  }

  /** Starts a process on a fresh port. An empty `ref.id` gets a new `<rollout>-r<revision>-xxxxx` id. */
  async start(ref: InstanceRef, template: Template): Promise<LocalInstanceStatus> {
    const id = ref.id || newInstanceId(ref.rollout, ref.revision);
    if (this.supervisors.has(id)) {
      throw new UserError(`instance ${id} is already running; stop it first or start it under a new id`, 'conflict', 409);
    }
    validateProbes(template, `rollout ${ref.rollout} revision ${ref.revision}`);
    const port = await allocatePort(this.options.instancePorts);
    const supervisor = this.supervise({ ...ref, id }, template, port, this.logFile(ref.rollout, ref.revision, id));
    try {
      supervisor.start();
    } catch (err) {
      this.supervisors.delete(id);
      throw err;
    }
    return supervisor.status();
  }

  /** Resolves at once for an id this platform does not supervise. */
  async stop(id: string, options: StopOptions = {}): Promise<void> {
    await this.supervisors.get(id)?.stop(options);
  }

  list(rollout?: string): LocalInstanceStatus[] {
    return [...this.supervisors.values()].map((supervisor) => supervisor.status()).filter((status) => rollout === undefined || status.rollout === rollout);
  }

  /**
   * Takes over every persisted instance not supervised yet. A live process (same pid and
   * same /proc start time) is adopted as it is and probed again; a record whose process
   * is gone is restarted from its template under the same id, on the same port if free.
   * Returns the ids of both kinds: every instance this platform now supervises from the records.
   */
  async adopt(): Promise<string[]> {
    const taken: string[] = [];
    for (const record of this.options.records.listInstances()) {
      if (this.supervisors.has(record.id)) continue;
      const ref: InstanceRef = { id: record.id, rollout: record.rollout, revision: record.revision, generation: record.generation };
      if (isSameProcess(record.pid, record.procStartTime)) {
        this.supervise(ref, record.template, record.port, record.logFile).adopt(record);
      } else {
        const port = record.port > 0 && (await isPortFree(record.port)) ? record.port : await allocatePort(this.options.instancePorts);
        this.supervise(ref, record.template, port, record.logFile).restartFromRecord();
      }
      taken.push(record.id);
    }
    return taken;
  }

  /** From the instance's log file, `<stateDir>/logs/<rollout>/<revision>/<id>.log`. */
  async readLogs(id: string, offset: number, maxBytes: number): Promise<LogChunk> {
    const supervisor = this.supervisors.get(id);
    if (!supervisor)
      throw new UserError(`instance ${id} is not running on this machine — \`sluice get rollout NAME\` lists the running ones`, 'not-found', 404);
    return readLogFile(supervisor.status().logFile, offset, maxBytes);
  }

  onChange(listener: (instance: InstanceStatus) => void): void {
    this.listeners.push(listener);
  }

  /** Stops probes and timers; processes keep running and their records stay for `adopt()`. */
  async detach(): Promise<void> {
    for (const supervisor of this.supervisors.values()) supervisor.detach();
    this.supervisors.clear();
  }

  private logFile(rollout: string, revision: number, id: string): string {
    return join(this.options.stateDir, 'logs', rollout, String(revision), `${id}.log`);
  }

  private supervise(ref: InstanceRef, template: Template, port: number, logFile: string): InstanceSupervisor {
    const supervisor = new InstanceSupervisor({
      ref,
      template,
      port,
      logFile,
      clock: this.clock,
      onSpawn: (record: InstanceRecord) => this.options.records.saveInstance(record),
      onChange: (status) => this.notify(status),
      onStopped: () => {
        this.options.records.deleteInstance(ref.id);
        if (this.supervisors.get(ref.id) === supervisor) this.supervisors.delete(ref.id);
      },
    });
    this.supervisors.set(ref.id, supervisor);
    return supervisor;
  }

  private notify(status: InstanceStatus): void {
    for (const listener of this.listeners) {
      try {
        listener(status);
      } catch (err) {
        // A failing listener must not stop supervision of the instance that triggered it.
        console.error(`sluice: onChange listener failed for ${status.id}:`, err);
      }
    }
  }
}

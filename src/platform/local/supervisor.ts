import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Probe, Template } from '../../core/spec.js';
import type { Clock } from '../../core/clock.js';
import type { InstancePhase, InstanceRecord, InstanceRef, InstanceStatus } from '../../core/platform.js';
import type { LocalInstanceStatus } from './instance-status.js';
import { RestartBackoff } from './backoff.js';
import { LOCAL_HOST } from './local-host.js';
import { probeAction, type ProbeTarget } from './probe-actions.js';
import { Prober, type ProbeState } from './probes.js';
import { isProcessAlive, readProcStartTime, signalGroup, sweepGroup } from '../../util/process-control.js';
import { resolveSecretEnv, SecretEnvError } from './secret-env.js';

/** How often an adopted process (not our child, so no exit event) is checked for life. */
const ADOPTED_POLL_MS = 500;
/** The same check while stopping, so stop() resolves soon after the process is gone. */
const STOPPING_POLL_MS = 100;
/** After SIGKILL, how long to wait for the process to be reaped before giving up on it. */
const AFTER_KILL_WAIT_MS = 5000;

export interface SupervisorOptions {
  ref: InstanceRef;
  template: Template;
  port: number;
  logFile: string;
  clock: Clock;
  /** A process was spawned (first start or restart): the record to persist. */
  onSpawn(record: InstanceRecord): void;
  /** Any change of phase, readiness, pid or restart count. */
  onChange(status: InstanceStatus): void;
  /** Stopped for good: the instance is gone and will not come back. */
  onStopped(status: InstanceStatus): void;
}

export interface StopRequest {
  drain?: () => Promise<void>;
}

/** One process of the instance, from spawn (or adoption) until it is gone. */
interface ProcessRun {
  pid: number;
  child?: ChildProcess;
  startedAt: number;
  procStartTime?: string;
  gone: boolean;
  whenGone: Promise<void>;
  markGone(): void;
  probers: Prober[];
  timers: { cancel(): void }[];
  /** Liveness poll of an adopted process. */
  poll?: { cancel(): void };
}

/**
 * Supervises one instance: spawns its process in its own process group with output
 * appended to one log file, runs its probes (startup first, then readiness and
 * liveness), restarts it with backoff when it exits or fails liveness, and stops it
 * with drain, preStop delay, SIGTERM, grace period and SIGKILL.
 */
export class InstanceSupervisor {
  private phase: InstancePhase = 'Starting';
  private run?: ProcessRun;
  private startedAt = 0;
  private readySince?: number;
  private restarts = 0;
  private lastExit?: InstanceStatus['lastExit'];
  private message?: string;
  private readonly backoff = new RestartBackoff();
  private backoffTimer?: { cancel(): void };
  private stopping?: Promise<void>;
  private detached = false;

  constructor(private readonly options: SupervisorOptions) {}

  status(): LocalInstanceStatus {
    const { ref, port, logFile } = this.options;
    return {
      ...ref,
      phase: this.phase,
      host: LOCAL_HOST,
      pid: this.run && !this.run.gone ? this.run.pid : undefined,
      port,
      startedAt: this.startedAt,
      readySince: this.readySince,
      restarts: this.restarts,
      lastExit: this.lastExit,
      ...(this.message ? { message: this.message } : {}),
      logFile,
    };
  }

  /** Spawn the first process. */
  start(): void {
    this.spawnProcess();
  }

  /** Restart an instance whose recorded process is gone (after a control-plane restart). */
  restartFromRecord(): void {
    this.restarts++;
    this.spawnProcess();
  }

  /** Take over a live process an earlier control plane started, without restarting it. */
  adopt(record: InstanceRecord): void {
    const run = this.newRun(record.pid, record.startedAt, record.procStartTime);
    this.run = run;
    this.startedAt = record.startedAt;
    this.setPhase('Starting', true);
    this.pollAdopted(run, ADOPTED_POLL_MS);
    this.startProbes(run);
  }

  /** Stop probing and supervising, leaving the process running. */
  detach(): void {
    this.detached = true;
    this.backoffTimer?.cancel();
    if (this.run) this.quiesce(this.run);
  }

  stop(request: StopRequest = {}): Promise<void> {
    // Set before any listener hears of Terminating, so a re-entrant stop() joins this one.
    this.stopping ??= Promise.resolve().then(() => this.runStop(request));
    return this.stopping;
  }

  private async runStop({ drain }: StopRequest): Promise<void> {
    const { shutdown } = this.options.template;
    this.backoffTimer?.cancel();
    const run = this.run;
    if (run) for (const prober of run.probers) prober.stop();
    this.readySince = undefined;
    this.setPhase('Terminating');

    if (run && !run.gone) {
      if (!run.child) this.pollAdopted(run, STOPPING_POLL_MS);
      if (drain) await this.bounded(Promise.resolve().then(drain), shutdown.drainSeconds * 1000);
      await this.bounded(run.whenGone, shutdown.preStopDelaySeconds * 1000);
      await this.terminate(run, shutdown.terminationGracePeriodSeconds * 1000);
      this.quiesce(run);
    }
    this.setPhase('Stopped');
    this.options.onStopped(this.status());
  }

  /** SIGTERM the group, SIGKILL it after the grace period, then sweep any helper left in it. */
  private async terminate(run: ProcessRun, graceMs: number): Promise<void> {
    if (run.gone) return;
    signalGroup(run.pid, 'SIGTERM');
    if (!(await this.bounded(run.whenGone, graceMs))) {
      this.note(`still running ${graceMs / 1000}s after SIGTERM; sending SIGKILL`);
      signalGroup(run.pid, 'SIGKILL');
      await this.bounded(run.whenGone, AFTER_KILL_WAIT_MS);
    }
    if (run.gone) sweepGroup(run.pid);
  }

  private spawnProcess(): void {
    const { ref, template, port, logFile } = this.options;
    mkdirSync(dirname(logFile), { recursive: true });
    let env: NodeJS.ProcessEnv;
    try {
      env = this.processEnv();
    } catch (err) {
      if (!(err instanceof SecretEnvError)) throw err;
      // Like a process that could not start: crash-loop with backoff, so a secret file
      // that appears later is picked up by the next attempt.
      return this.failedToStart(err.message);
    }
    // The controller refuses to apply a rollout for another platform; a template without a command is one.
    const command = template.command;
    if (command === undefined) return this.failedToStart('the template has no command (it runs on platform kubernetes)');
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, template.args, {
        cwd: template.cwd ? resolve(template.cwd) : undefined,
        env,
        detached: true,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    child.unref();
    const now = this.options.clock.now();
    this.startedAt = now;
    this.readySince = undefined;

    if (child.pid === undefined) {
      child.once('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code;
        this.failedToStart(
          code === 'ENOENT'
            ? `command not found: ${command}`
            : code === 'EACCES'
              ? `command not executable: ${command}`
              : `could not start ${command}: ${err.message}`,
        );
      });
      return;
    }
    this.message = undefined;
    const run = this.newRun(child.pid, now, readProcStartTime(child.pid), child);
    this.run = run;
    child.once('exit', (code, signal) => this.handleExit(run, code, signal));
    this.options.onSpawn({ ...ref, pid: run.pid, port, startedAt: now, procStartTime: run.procStartTime, logFile, template });
    this.setPhase('Starting', true);
    this.startProbes(run);
  }

  /** The reason goes to the status (for `get` and events) and the log. */
  private failedToStart(reason: string): void {
    this.message = reason;
    this.note(reason);
    this.handleExit(undefined, null, null);
  }

  /** Exec probes see the process's environment; an adopted process's secret may be gone since, then they go without. */
  private probeEnv(): NodeJS.ProcessEnv {
    try {
      return this.processEnv();
    } catch (err) {
      if (!(err instanceof SecretEnvError)) throw err;
      return this.processEnv({ withSecrets: false });
    }
  }

  private processEnv({ withSecrets = true } = {}): NodeJS.ProcessEnv {
    const { ref, template, port } = this.options;
    return {
      ...process.env,
      ...template.env,
      ...(withSecrets ? resolveSecretEnv(template) : {}),
      PORT: String(port),
      SLUICE_ROLLOUT: ref.rollout,
      SLUICE_REVISION: String(ref.revision),
      SLUICE_INSTANCE: ref.id,
      SLUICE_VERSION: template.version,
    };
  }

  private newRun(pid: number, startedAt: number, procStartTime?: string, child?: ChildProcess): ProcessRun {
    let markGone = (): void => {};
    const whenGone = new Promise<void>((done) => (markGone = done));
    const run: ProcessRun = { pid, child, startedAt, procStartTime, gone: false, whenGone, markGone: () => {}, probers: [], timers: [] };
    run.markGone = () => {
      run.gone = true;
      markGone();
    };
    return run;
  }

  /** An adopted process is not our child: poll for its disappearance instead of an exit event. */
  private pollAdopted(run: ProcessRun, intervalMs: number): void {
    const check = (): void => {
      if (run.gone || this.detached) return;
      if (!isProcessAlive(run.pid)) return this.handleExit(run, null, null);
      run.poll = this.options.clock.setTimeout(check, intervalMs);
    };
    run.poll?.cancel();
    run.poll = this.options.clock.setTimeout(check, intervalMs);
  }

  private handleExit(run: ProcessRun | undefined, code: number | null, signal: NodeJS.Signals | null): void {
    if (run) {
      if (run.gone) return;
      run.markGone();
      this.quiesce(run);
    }
    if (this.detached) return;
    const now = this.options.clock.now();
    this.lastExit = { code, signal, at: now };
    this.readySince = undefined;
    if (this.stopping) return this.emit();
    const delay = this.backoff.next(now - (run?.startedAt ?? now));
    this.note(`process exited (code ${code}, signal ${signal}); restarting in ${delay / 1000}s`);
    this.setPhase('CrashLoopBackOff');
    this.backoffTimer = this.options.clock.setTimeout(() => {
      this.backoffTimer = undefined;
      if (this.stopping || this.detached) return;
      this.restarts++;
      this.spawnProcess();
    }, delay);
  }

  private startProbes(run: ProcessRun): void {
    const { template, port, clock } = this.options;
    const target: ProbeTarget = { port, env: this.probeEnv(), cwd: template.cwd ? resolve(template.cwd) : undefined };
    const prober = (probe: Probe, onTransition: (state: ProbeState) => void): Prober => {
      const p = new Prober({ probe, action: probeAction(probe, target), clock, since: run.startedAt, onTransition });
      run.probers.push(p);
      return p;
    };
    const { startup, readiness, liveness } = template.probes;
    const startSteadyProbes = (): void => {
      prober(readiness, (state) => this.onReadiness(run, state)).start();
      if (liveness) {
        prober(liveness, (state) => {
          if (state === 'failure') this.killForRestart(run, `liveness probe failed ${liveness.failureThreshold} time(s)`);
        }).start();
      }
    };
    if (!startup) return startSteadyProbes();
    const startupProber = prober(startup, (state) => {
      if (state === 'success') {
        startupProber.stop();
        startSteadyProbes();
      } else if (state === 'failure') {
        this.killForRestart(run, `startup probe failed ${startup.failureThreshold} time(s)`);
      }
    });
    startupProber.start();
  }

  private onReadiness(run: ProcessRun, state: ProbeState): void {
    if (run !== this.run || run.gone || this.stopping) return;
    if (state === 'success') {
      this.readySince = this.options.clock.now();
      this.message = undefined;
      this.setPhase('Ready', true);
    } else if (state === 'failure' && this.phase === 'Ready') {
      this.readySince = undefined;
      this.setPhase('NotReady');
    } else if (state === 'failure' && this.phase === 'Starting') {
      // Still Starting (Kubernetes: running, not ready), but the first verdict is in: a
      // restarted control plane need not wait for this one, and `get` can say why.
      this.message = `readiness probe failing (${this.options.template.probes.readiness.failureThreshold} times in a row)`;
      this.emit();
    }
  }

  /** Kubernetes-style kill after a failed liveness/startup probe; the exit then restarts it with backoff. */
  private killForRestart(run: ProcessRun, reason: string): void {
    if (run.gone || this.stopping) return;
    this.note(`${reason}; restarting`);
    for (const prober of run.probers) prober.stop();
    if (this.phase === 'Ready') {
      this.readySince = undefined;
      this.setPhase('NotReady');
    }
    signalGroup(run.pid, 'SIGTERM');
    const graceMs = this.options.template.shutdown.terminationGracePeriodSeconds * 1000;
    run.timers.push(
      this.options.clock.setTimeout(() => {
        if (!run.gone) signalGroup(run.pid, 'SIGKILL');
      }, graceMs),
    );
  }

  /** Stop everything scheduled for this process run. */
  private quiesce(run: ProcessRun): void {
    for (const prober of run.probers) prober.stop();
    for (const timer of run.timers.splice(0)) timer.cancel();
    run.poll?.cancel();
  }

  /** Wait for `promise`, at most `ms`; true if it settled in time. Errors count as settled. */
  private bounded(promise: Promise<unknown>, ms: number): Promise<boolean> {
    return new Promise((done) => {
      const timer = this.options.clock.setTimeout(() => done(false), Math.max(0, ms));
      promise.then(
        () => (timer.cancel(), done(true)),
        () => (timer.cancel(), done(true)),
      );
    });
  }

  private setPhase(phase: InstancePhase, force = false): void {
    if (this.phase === phase && !force) return;
    this.phase = phase;
    this.emit();
  }

  private emit(): void {
    if (!this.detached) this.options.onChange(this.status());
  }

  /** A line from sluice in the instance's log, so the log alone explains restarts and kills. */
  private note(message: string): void {
    try {
      appendFileSync(this.options.logFile, `[sluice ${new Date(this.options.clock.now()).toISOString()}] ${message}\n`);
    } catch {
      // The log is best effort; supervision goes on without it.
    }
  }
}

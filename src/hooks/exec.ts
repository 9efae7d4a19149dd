import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { signalGroup } from '../util/process-control.js';
import { systemClock, type Clock } from '../core/clock.js';
import { formatMs } from './http.js';
import type { ExecHookSpec } from '../core/hooks.js';
import type { HookPayload } from '../core/hook-payload.js';

export interface ExecResult {
  /** Exited 0 in time. */
  ok: boolean;
  /** null when killed by a signal or never started. */
  exitCode: number | null;
  /** The signal that ended it, if one did. */
  signal?: string;
  timedOut: boolean;
  /** Last 4 KiB of each stream. */
  stdoutTail: string;
  stderrTail: string;
  durationMs: number;
  /** One line when not ok: "exited with code 3", "timed out after 60s; killed", "command not found: x". */
  error?: string;
}

export interface ExecOptions {
  signal?: AbortSignal;
  clock?: Clock;
  /** Between SIGTERM and SIGKILL on timeout or abort. Default 2000. */
  killGraceMs?: number;
  /** Environment the hook's `env` is added to. Default process.env. */
  baseEnv?: Record<string, string | undefined>;
}

const TAIL_BYTES = 4096;
/** After the command exits, how long to wait for its pipes to close (a background child may hold them). */
const PIPE_CLOSE_WAIT_MS = 200;

/**
 * Run an exec hook: argv without a shell, in its own process group. The payload JSON is
 * written to stdin and set as SLUICE_HOOK_PAYLOAD, with SLUICE_ROLLOUT, SLUICE_REVISION,
 * SLUICE_STABLE_REVISION (empty on a first release), SLUICE_VERSION, SLUICE_PHASE and
 * SLUICE_KIND beside it. On timeout or abort the whole group gets SIGTERM, then SIGKILL
 * after `killGraceMs`, so helpers the hook forked die with it. Never throws.
 */
export function runExecHook(spec: ExecHookSpec, payload: HookPayload, opts: ExecOptions = {}): Promise<ExecResult> {
  const clock = opts.clock ?? systemClock;
  const start = clock.now();
  const json = JSON.stringify(payload);
  const stdout = new Tail(TAIL_BYTES);
  const stderr = new Tail(TAIL_BYTES);
  const base = { exitCode: null, timedOut: false, stdoutTail: '', stderrTail: '' };
  if (spec.command.length === 0 || spec.command[0] === '') {
    return Promise.resolve({ ...base, ok: false, durationMs: 0, error: 'command is empty' });
  }
  if (spec.cwd !== undefined && !existsSync(spec.cwd)) {
    return Promise.resolve({ ...base, ok: false, durationMs: 0, error: `working directory ${spec.cwd} does not exist` });
  }
  if (opts.signal?.aborted) return Promise.resolve({ ...base, ok: false, durationMs: 0, error: 'aborted' });
  return new Promise((resolve) => {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawnHook(spec, payload, json, opts);
    } catch (err) {
      // spawn throws synchronously for an environment too large for the OS (E2BIG), among others.
      resolve({ ...base, ok: false, durationMs: clock.now() - start, error: describeFailure(spec, undefined, null, null, err as NodeJS.ErrnoException) });
      return;
    }
    let stopping: 'timeout' | 'aborted' | undefined;
    let killTimer: { cancel(): void } | undefined;
    let done = false;
    const stop = (why: 'timeout' | 'aborted') => {
      if (stopping !== undefined || child.pid === undefined) return;
      stopping = why;
      signalGroup(child.pid, 'SIGTERM');
      killTimer = clock.setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), opts.killGraceMs ?? 2000);
    };
    const onAbort = () => stop('aborted');
    const deadline = clock.setTimeout(() => stop('timeout'), spec.timeoutSeconds * 1000);
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: NodeJS.ErrnoException) => {
      if (done) return;
      done = true;
      deadline.cancel();
      killTimer?.cancel();
      opts.signal?.removeEventListener('abort', onAbort);
      // A stopped hook's group goes entirely, even what survived SIGTERM.
      if (stopping !== undefined && child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      const ok = stopping === undefined && spawnError === undefined && exitCode === 0;
      const r: ExecResult = {
        ok,
        exitCode,
        timedOut: stopping === 'timeout',
        stdoutTail: stdout.text(),
        stderrTail: stderr.text(),
        durationMs: clock.now() - start,
      };
      if (signal !== null) r.signal = signal;
      if (!ok) r.error = describeFailure(spec, stopping, exitCode, signal, spawnError);
      resolve(r);
    };

    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    // A hook that ignores stdin may exit before reading it: EPIPE is not its failure.
    child.stdin.on('error', () => {});
    child.stdin.end(json);
    child.on('error', (e: NodeJS.ErrnoException) => finish(null, null, e));
    child.on('exit', (code, signal) => {
      const t = clock.setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(code, signal);
      }, PIPE_CLOSE_WAIT_MS);
      child.on('close', () => {
        t.cancel();
        finish(code, signal);
      });
    });
  });
}

/** argv without a shell, in its own process group, with the payload in the environment. */
function spawnHook(spec: ExecHookSpec, payload: HookPayload, json: string, opts: ExecOptions): ChildProcessWithoutNullStreams {
  return spawn(spec.command[0], spec.command.slice(1), {
    cwd: spec.cwd,
    env: {
      ...(opts.baseEnv ?? process.env),
      ...spec.env,
      SLUICE_HOOK_PAYLOAD: json,
      SLUICE_ROLLOUT: payload.name,
      SLUICE_REVISION: String(payload.revision),
      SLUICE_STABLE_REVISION: payload.stableRevision === null ? '' : String(payload.stableRevision),
      SLUICE_VERSION: payload.version,
      SLUICE_PHASE: payload.phase,
      SLUICE_KIND: payload.kind,
    },
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function describeFailure(
  spec: ExecHookSpec,
  stopping: 'timeout' | 'aborted' | undefined,
  exitCode: number | null,
  signal: NodeJS.Signals | null,
  spawnError: NodeJS.ErrnoException | undefined,
): string {
  if (spawnError !== undefined) {
    if (spawnError.code === 'ENOENT') return `command not found: ${spec.command[0]} (looked up on PATH)`;
    if (spawnError.code === 'EACCES') return `cannot execute ${spec.command[0]}: permission denied`;
    if (spawnError.code === 'E2BIG')
      return `cannot start ${spec.command[0]}: the payload (in SLUICE_HOOK_PAYLOAD) and env are too large for the OS — shorten the hook's metadata or env`;
    return `cannot start ${spec.command[0]}: ${spawnError.message}`;
  }
  if (stopping === 'timeout') return `timed out after ${formatMs(spec.timeoutSeconds * 1000)}; killed`;
  if (stopping === 'aborted') return 'aborted; killed';
  if (signal !== null) return `killed by ${signal}`;
  return `exited with code ${exitCode}`;
}

/** The last `max` bytes written. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}

  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size - this.chunks[0].length >= this.max) this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString('utf8');
  }
}

/**
 * Job metrics: run a command once per measurement (argv, no shell) and read its outcome.
 *
 * What conditions see as `result`:
 * - stdout's last non-empty line is a number → that number, but only when the command
 *   exits 0; a number with a non-zero exit throws (an Error measurement) with the last
 *   stderr line, because a script that crashed after printing is not a measurement;
 * - otherwise exit 0 → `true` and a non-zero exit → `false`. A failing check is meant to be
 *   a Failed measurement, not an Error: that is how smoke tests and `curl -f` style checks
 *   report. The run logic's default for a metric without conditions must therefore treat
 *   `false` as Failed; `successCondition: result == true` says it explicitly.
 * A command that cannot start (ENOENT, EACCES), is killed by a signal, or runs past
 * `timeoutSeconds` throws; on timeout or cancel its whole process group is killed
 * (SIGTERM, then SIGKILL after a grace period).
 *
 * Environment: process.env, then config.env, then SLUICE_ROLLOUT, SLUICE_CANARY_REVISION,
 * SLUICE_STABLE_REVISION (absent on a first deploy), SLUICE_MAIN_ADDRESS and, when the
 * rollout has them, SLUICE_CANARY_ADDRESS / SLUICE_PREVIEW_ADDRESS, then ARG_<NAME> for each
 * arg (upper-cased, anything not a letter or digit → `_`: `service-name` → ARG_SERVICE_NAME).
 * `{{args.x}}` is also substituted in argv, cwd and config.env values.
 * The last 64 KiB of stdout and of stderr are kept; details carry their tails.
 */
import { spawn } from 'node:child_process';
import type { JobProviderConfig, MeasurementContext, MetricProvider, ProviderResult } from '../../core/analysis.js';
import { substitute, substituteValues } from '../template-vars.js';
import { cancelled, MeasurementError } from './web.js';

const MAX_CAPTURE_BYTES = 64 * 1024;
const TAIL_CHARS = 2000;
const KILL_GRACE_MS = 2000;
const DEFAULT_TIMEOUT_SECONDS = 60;
const NUMBER_LINE = /^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/;

export class JobProvider implements MetricProvider<JobProviderConfig> {
  readonly kind = 'job' as const;

  async measure(config: JobProviderConfig, ctx: MeasurementContext, signal: AbortSignal): Promise<ProviderResult> {
    const argv = config.command.map((a) => substitute(a, ctx.args));
    if (argv.length === 0 || argv[0] === '') throw new MeasurementError('job metric has an empty command — give command: [program, args…]');
    if (signal.aborted) throw cancelled(signal);
    const seconds = config.timeoutSeconds > 0 ? config.timeoutSeconds : DEFAULT_TIMEOUT_SECONDS;
    const run = await runCommand(argv, {
      cwd: config.cwd === undefined ? undefined : substitute(config.cwd, ctx.args),
      env: jobEnv(config, ctx),
      timeoutMs: seconds * 1000,
      signal,
    });
    const what = `job ${JSON.stringify(argv.join(' '))}`;
    if (run.spawnError) throw new MeasurementError(`${what} could not start: ${run.spawnError.message} — check the command and cwd`);
    if (run.outcome === 'cancelled') throw cancelled(signal);
    if (run.outcome === 'timeout')
      throw new MeasurementError(`${what} ran past its ${seconds}s timeout and was killed — raise timeoutSeconds or make it faster`);
    const details = { exitCode: run.exitCode, stdoutTail: tail(run.stdout), stderrTail: tail(run.stderr) };
    if (run.exitCode === null) throw new MeasurementError(`${what} was killed by ${run.signal ?? 'a signal'}${lastLine(run.stderr, ': ')}`);
    const last = lastLine(run.stdout, '');
    if (NUMBER_LINE.test(last)) {
      if (run.exitCode !== 0) throw new MeasurementError(`${what} printed ${last} but exited ${run.exitCode}${lastLine(run.stderr, ': ')}`);
      return { value: Number(last), details };
    }
    return { value: run.exitCode === 0, details };
  }
}

function jobEnv(config: JobProviderConfig, ctx: MeasurementContext): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...substituteValues(config.env ?? {}, ctx.args) };
  env.SLUICE_ROLLOUT = ctx.rollout;
  env.SLUICE_CANARY_REVISION = String(ctx.canaryRevision);
  if (ctx.stableRevision !== null) env.SLUICE_STABLE_REVISION = String(ctx.stableRevision);
  else delete env.SLUICE_STABLE_REVISION;
  env.SLUICE_MAIN_ADDRESS = ctx.addresses.main;
  if (ctx.addresses.canary !== undefined) env.SLUICE_CANARY_ADDRESS = ctx.addresses.canary;
  if (ctx.addresses.preview !== undefined) env.SLUICE_PREVIEW_ADDRESS = ctx.addresses.preview;
  for (const [name, value] of Object.entries(ctx.args)) env[argEnvName(name)] = value;
  return env;
}

/** `service-name` → ARG_SERVICE_NAME. */
export function argEnvName(name: string): string {
  return `ARG_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

interface CommandRun {
  outcome: 'exited' | 'timeout' | 'cancelled';
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  spawnError?: Error;
}

function runCommand(argv: string[], opts: { cwd: string | undefined; env: NodeJS.ProcessEnv; timeoutMs: number; signal: AbortSignal }): Promise<CommandRun> {
  return new Promise((resolve) => {
    // detached: the job leads its own process group, so a timeout kills its children too.
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout = new TailBuffer();
    const stderr = new TailBuffer();
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    let outcome: CommandRun['outcome'] = 'exited';
    let graceTimer: NodeJS.Timeout | undefined;
    const stop = (why: 'timeout' | 'cancelled') => {
      if (outcome !== 'exited') return;
      outcome = why;
      killGroup(child.pid, 'SIGTERM');
      graceTimer = setTimeout(() => {
        killGroup(child.pid, 'SIGKILL');
        // A grandchild that left the group may still hold the pipes; stop waiting for them.
        child.stdout.destroy();
        child.stderr.destroy();
      }, KILL_GRACE_MS);
    };
    const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
    const onAbort = () => stop('cancelled');
    opts.signal.addEventListener('abort', onAbort, { once: true });
    const finish = (run: Omit<CommandRun, 'outcome' | 'stdout' | 'stderr'>) => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      opts.signal.removeEventListener('abort', onAbort);
      resolve({ ...run, outcome, stdout: stdout.text(), stderr: stderr.text() });
    };
    child.on('error', (err) => finish({ exitCode: null, signal: null, spawnError: err }));
    // 'close' waits for the pipes too, so the last line of output is never lost.
    child.on('close', (code, sig) => finish({ exitCode: code, signal: sig }));
  });
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}

/** Keeps the last MAX_CAPTURE_BYTES of a stream: the end is where results and errors are. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size - this.chunks[0]!.length >= MAX_CAPTURE_BYTES) this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - MAX_CAPTURE_BYTES)).toString('utf8');
  }
}

function tail(text: string): string {
  return text.length > TAIL_CHARS ? text.slice(text.length - TAIL_CHARS) : text;
}

function lastLine(text: string, prefix: string): string {
  const line = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .pop();
  return line === undefined ? '' : `${prefix}${line}`;
}

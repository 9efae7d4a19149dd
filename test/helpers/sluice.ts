import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../../src/api/client.js';
import type { RolloutView } from '../../src/core/rollout.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { DATA_PLANE } from './manifest.js';
import { REPO } from './templates.js';
import { freePort } from './ports.js';
import { GiveUp, waitFor } from './wait.js';

export const BIN = join(REPO, 'bin', 'sluice.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A real sluice on this machine for end-to-end tests: `sluice up` as a child process with
 * its own state directory and ports, the router and instances as real processes.
 */
export class SluiceUnderTest {
  readonly dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-'));
  readonly stateDir = join(this.dir, '.sluice');
  private child: ChildProcess | undefined;
  private output = '';
  apiPort = 0;
  routerAdminPort = 0;
  /** Where the data plane serves OFREP (`sluice up --flags-listen`). */
  flagsPort = 0;
  /** More arguments for `sluice up` (e.g. `--kubeconfig FILE`). */
  upArgs: string[] = [];

  static async start(upArgs: string[] = []): Promise<SluiceUnderTest> {
    const s = new SluiceUnderTest();
    s.upArgs = upArgs;
    s.apiPort = await freePort();
    s.routerAdminPort = await freePort();
    s.flagsPort = await freePort();
    await s.up();
    return s;
  }

  /** Start the control plane (again) in the foreground as a child process. */
  async up(): Promise<void> {
    this.child = spawn(
      process.execPath,
      [
        BIN,
        'up',
        '--state-dir',
        this.stateDir,
        '--api',
        `127.0.0.1:${this.apiPort}`,
        '--router-admin',
        `127.0.0.1:${this.routerAdminPort}`,
        '--flags-listen',
        `127.0.0.1:${this.flagsPort}`,
        ...this.upArgs,
      ],
      { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child.stdout!.on('data', (d) => (this.output += d));
    this.child.stderr!.on('data', (d) => (this.output += d));
    const child = this.child;
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new GiveUp(`sluice up exited with ${child.exitCode} before its API answered:\n${this.output}`);
        return this.client()
          .list()
          .then(() => true);
      },
      { timeoutMs: 30_000, what: 'sluice up to answer on its API', detail: () => this.output },
    );
  }

  /** kill -9 of the control plane only (router and instances are separate processes). */
  kill9(): Promise<void> {
    const c = this.child!;
    return new Promise((r) => {
      if (c.exitCode !== null || c.signalCode !== null) return r();
      c.once('exit', () => r());
      c.kill('SIGKILL');
    });
  }

  client(): ApiClient {
    return ApiClient.fromStateDir(this.stateDir);
  }

  cli(args: string[], input?: string): Promise<CliResult> {
    return runCli(['--state-dir', this.stateDir, ...args], this.dir, input);
  }

  /** Write a manifest into the test's directory and apply it through the CLI. */
  async apply(fileName: string, yaml: string): Promise<CliResult> {
    const file = join(this.dir, fileName);
    writeFileSync(file, yaml);
    const r = await this.cli(['apply', '-f', file]);
    if (r.code !== 0) throw new Error(`apply failed: ${r.stderr}`);
    return r;
  }

  async get(name: string): Promise<RolloutView> {
    return this.client().get(name);
  }

  /**
   * A check for `waitFor`: the rollout's view once pred(view) holds; until then it throws
   * with the status, the events and the control plane's log tail, which a timeout reports.
   */
  rollout(name: string, pred: (v: RolloutView) => boolean): () => Promise<RolloutView> {
    return async () => {
      const v = await this.get(name);
      if (pred(v)) return v;
      throw new Error(
        `${name}: status ${JSON.stringify(v.status)}\nevents:\n${v.events.map((e) => `  ${e.reason}: ${e.message}`).join('\n')}\nlog tail:\n${this.output.slice(-3000)}`,
      );
    };
  }

  log(): string {
    return this.output;
  }

  /** With the nginx data plane, the traffic really went through nginx (its access log has it). */
  private checkDataPlane(): void {
    if (DATA_PLANE !== 'nginx') return;
    const file = join(this.stateDir, 'nginx', 'logs', 'access.log');
    const lines = existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => l.includes('"ro":')).length
      : 0;
    if (lines === 0) throw new Error(`SLUICE_TEST_DATA_PLANE=nginx but nginx's access log ${file} has no request`);
    console.log(`nginx data plane: ${lines} requests in ${file}`);
  }

  /**
   * Stop everything this test started with `sluice down`, and check that it did: the
   * control plane exited, the router and nginx are gone. A failing `down` fails the test,
   * after everything is killed. A control plane that is not running (a test killed it) is
   * only cleaned up after.
   */
  async down(): Promise<void> {
    const c = this.child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) {
      killLeftovers(this.stateDir);
      return;
    }
    const r = await this.cli(['down']);
    const exited = r.code === 0 && (await exitWithin(c, 30_000));
    const left = exited ? await stillRunning(this.stateDir, 5000) : [];
    if (!exited || left.length > 0) {
      await this.kill9().catch(() => undefined);
      killLeftovers(this.stateDir);
      if (r.code !== 0) throw new Error(`sluice down failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
      if (!exited) throw new Error(`sluice down exited 0 but the control plane was still running 30 s later:\n${this.output.slice(-3000)}`);
      throw new Error(`sluice down exited 0 but left running: ${left.join(', ')}`);
    }
    this.checkDataPlane();
  }
}

function exitWithin(c: ChildProcess, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    c.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** The router and nginx (from their pid files) still alive after `ms`. */
async function stillRunning(stateDir: string, ms: number): Promise<string[]> {
  const left = (): string[] => {
    const found: string[] = [];
    for (const [what, file] of [
      ['router', join(stateDir, 'router', 'router.pid')],
      ['nginx', join(stateDir, 'nginx', 'nginx.pid')],
    ]) {
      const pid = existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : 0;
      if (pid > 0 && alive(pid)) found.push(`${what} (pid ${pid})`);
    }
    return found;
  };
  // Still running after `ms` is the caller's failure to report, not a timeout here.
  return waitFor(() => left().length === 0, { timeoutMs: ms, what: 'the router and nginx to exit' }).then(
    () => [],
    () => left(),
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // An exited process whose parent has not reaped it yet is a zombie: gone for our purpose.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Last resort after a failed test: SIGKILL the router and every recorded instance group. */
export function killLeftovers(stateDir: string): void {
  const pids: number[] = [];
  for (const pidFile of [join(stateDir, 'router', 'router.pid'), join(stateDir, 'nginx', 'nginx.pid')]) {
    if (existsSync(pidFile)) pids.push(Number(readFileSync(pidFile, 'utf8')));
  }
  if (existsSync(join(stateDir, 'sluice.db'))) {
    const store = new SqliteStore(join(stateDir, 'sluice.db'));
    pids.push(...store.listInstances().map((r) => r.pid));
    store.close();
  }
  for (const pid of pids) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

export function runCli(args: string[], cwd: string, input?: string, env?: Record<string, string>): Promise<CliResult> {
  return new Promise((resolveRun) => {
    const c = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (code) => resolveRun({ code: code ?? 1, stdout, stderr }));
    c.stdin.end(input ?? '');
  });
}

/** The rollout is Healthy on `revision`, with only that revision's instances, all ready. */
export const healthyOn =
  (revision: number, replicas = 3) =>
  (v: RolloutView): boolean =>
    v.status.phase === 'Healthy' &&
    v.status.stableRevision === revision &&
    v.instances.filter((i) => i.phase !== 'Stopped').every((i) => i.revision === revision) &&
    v.instances.filter((i) => i.phase === 'Ready').length === replicas;

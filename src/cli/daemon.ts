/** `sluice up` (start the control plane, in the foreground or detached) and `sluice down`. */
import { parsePortRange } from '../platform/local/ports.js';
import { isProcessAlive, isSameProcess } from '../util/process-control.js';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ApiClient } from '../api/client.js';
import { readApiInfo, readToken, removeApiInfo, writeApiInfo, type ApiInfo } from '../api/token.js';
import type { ControlPlaneOptions, KubernetesOptions, RunningControlPlane } from '../daemon/control-plane.js';
import { PLATFORMS, type PlatformName } from '../core/spec.js';
import { isLoopbackHost, tryParseHostPort } from '../util/host-port.js';
import { UserError } from '../util/errors.js';
import { parseDuration } from '../spec/duration.js';
import { boolFlag, positionals, sleep, stringFlag, type Command, type Context } from './command.js';

export const DEFAULT_API = '127.0.0.1:7070';
export const DEFAULT_ROUTER_ADMIN = '127.0.0.1:9901';
const DETACH_TIMEOUT_MS = 20_000;
const DOWN_TIMEOUT_MS = 120_000;
const LOG_FILE = 'control-plane.log';

/** Loaded on demand: the control plane pulls in the store, platform and router, which no other command needs. */
async function startControlPlane(options: ControlPlaneOptions): Promise<RunningControlPlane> {
  const { startControlPlane: start } = await import('../daemon/control-plane.js');
  return start(options);
}

/** A zombie (exited, not yet reaped by its parent) counts as gone. */
export const pidAlive = isProcessAlive;

function tryReadApiInfo(stateDir: string): ApiInfo | undefined {
  try {
    return readApiInfo(stateDir);
  } catch {
    return undefined;
  }
}

/** The control plane named by api.json if it is alive and its API answers. */
async function liveControlPlane(stateDir: string): Promise<ApiInfo | undefined> {
  const info = tryReadApiInfo(stateDir);
  if (!info || !pidAlive(info.pid)) return undefined;
  let token: string;
  try {
    token = readToken(stateDir);
  } catch {
    return undefined;
  }
  return (await new ApiClient({ address: info.address, token }).healthy()) ? info : undefined;
}

async function refuseIfUp(stateDir: string): Promise<void> {
  const live = await liveControlPlane(stateDir);
  if (live) {
    throw new UserError(`sluice is already up (pid ${live.pid}, API at ${live.address}, state in ${stateDir}) — \`sluice down\` stops it`, 'already-up', 409);
  }
}

function lastLine(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    return lines[lines.length - 1]?.trim() ?? '';
  } catch {
    return '';
  }
}

/** flagd's OFREP port. */
export const DEFAULT_FLAGS_LISTEN = '127.0.0.1:8016';

interface UpOptions {
  apiListen: string;
  routerAdmin: string;
  /** Where the data plane serves OFREP (feature flags). */
  flagsListen: string;
  allowRemote: boolean;
  /** `--session-ttl` as given (a duration such as 12h), passed on to a detached control plane. */
  sessionTtl?: string;
  /** `--kubeconfig/--context/--namespace/--platform`: run rollouts on a cluster too. */
  kubernetes?: KubernetesOptions;
}

/** The Kubernetes flags of `up`; absent when none is given (local processes only). */
function kubernetesOptions(ctx: Context): KubernetesOptions | undefined {
  const platform = stringFlag(ctx, 'platform');
  if (platform !== undefined && !(PLATFORMS as readonly string[]).includes(platform))
    throw new UserError(`--platform ${platform}: not a platform — write ${PLATFORMS.join(' or ')}`, 'bad-flag');
  const o: KubernetesOptions = {
    ...(stringFlag(ctx, 'kubeconfig') !== undefined ? { kubeconfig: resolve(stringFlag(ctx, 'kubeconfig')!) } : {}),
    ...(stringFlag(ctx, 'context') !== undefined ? { context: stringFlag(ctx, 'context') } : {}),
    ...(stringFlag(ctx, 'namespace') !== undefined ? { namespace: stringFlag(ctx, 'namespace') } : {}),
    ...(platform !== undefined ? { defaultPlatform: platform as PlatformName } : {}),
  };
  if (Object.keys(o).length === 0 || (Object.keys(o).length === 1 && o.defaultPlatform === 'local')) return undefined;
  if (o.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(o.namespace))
    throw new UserError(`--namespace ${o.namespace}: not a Kubernetes namespace name (lowercase letters, digits and -, at most 63)`, 'bad-flag');
  return o;
}

/** The Kubernetes flags passed on to a detached control plane. */
function kubernetesArgs(k: KubernetesOptions | undefined): string[] {
  if (!k) return [];
  return [
    ...(k.kubeconfig ? ['--kubeconfig', k.kubeconfig] : []),
    ...(k.context ? ['--context', k.context] : []),
    ...(k.namespace ? ['--namespace', k.namespace] : []),
    ...(k.defaultPlatform ? ['--platform', k.defaultPlatform] : []),
  ];
}

/** `--session-ttl 8h` → ms; a clear error for anything else. */
function sessionTtlMs(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  let seconds: number;
  try {
    seconds = parseDuration(raw);
  } catch {
    throw new UserError(`--session-ttl ${raw}: not a duration — write e.g. 30m, 8h or 7d`, 'bad-flag');
  }
  if (seconds < 60) throw new UserError(`--session-ttl ${raw}: a dashboard session must last at least 1m`, 'bad-flag');
  return seconds * 1000;
}

/**
 * The API and the router's admin API are plain HTTP with a bearer token: off loopback only
 * when asked, and then with a warning.
 */
function checkBinds(o: UpOptions): void {
  for (const [flag, address] of [
    ['--api', o.apiListen],
    ['--router-admin', o.routerAdmin],
    ['--flags-listen', o.flagsListen],
  ] as const) {
    // `--api :0` picks a free port (docs/cli.md); the router's addresses need a fixed one.
    const addr = tryParseHostPort(address, { allowPortZero: flag === '--api' });
    if (addr === undefined) throw new UserError(`${flag} ${address}: must be HOST:PORT, e.g. 127.0.0.1:7070`);
    if (isLoopbackHost(addr.host)) continue;
    if (!o.allowRemote) {
      throw new UserError(
        `${flag} ${address}: not a loopback address; it serves plain HTTP with a bearer token — keep it on 127.0.0.1, or pass --allow-remote`,
      );
    }
    process.stderr.write(`warning: ${flag} ${address} is reachable from other machines over plain HTTP; its bearer token travels unencrypted\n`);
  }
}

async function runForeground(ctx: Context, o: UpOptions): Promise<number> {
  const stateDir = ctx.stateDir;
  const { apiListen, routerAdmin } = o;
  await refuseIfUp(stateDir);
  let running: RunningControlPlane;
  try {
    const instancePorts = stringFlag(ctx, 'instance-ports');
    running = await startControlPlane({
      stateDir,
      apiListen,
      routerAdmin,
      flagsListen: o.flagsListen,
      allowRemote: o.allowRemote,
      ...(instancePorts ? { instancePorts: parsePortRange(instancePorts) } : {}),
      ...(o.sessionTtl !== undefined ? { sessionTtlMs: sessionTtlMs(o.sessionTtl) } : {}),
      ...(o.kubernetes ? { kubernetes: o.kubernetes } : {}),
    });
  } catch (err) {
    // Whatever the failed start left open (sockets, timers) must not keep `up` alive.
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(1);
  }
  // The control plane writes api.json itself; this covers one that does not, so clients find it.
  if (tryReadApiInfo(stateDir)?.pid !== process.pid) writeApiInfo(stateDir, { address: running.apiAddress, pid: process.pid });
  ctx.out(
    `sluice is up: API on http://${running.apiAddress}, router admin on ${routerAdmin}, state in ${stateDir}\n` +
      `Dashboard: http://${running.apiAddress}/ (sign in with the token in ${join(stateDir, 'token')})\n` +
      'Ctrl-C stops the control plane (instances and the router keep running); `sluice down` stops everything.',
  );

  let stopping = false;
  const reason = await new Promise<string>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      // A second Ctrl-C while closing: stop waiting.
      if (stopping) process.exit(130);
      stopping = true;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // `sluice down` closes the control plane through the API; then this process is done.
    running.closed.then(
      () => resolve('shutdown'),
      () => resolve('shutdown'),
    );
  });
  if (reason !== 'shutdown') {
    ctx.out(`${reason}: stopping the control plane; instances and the router keep running for the next \`sluice up\``);
    await running.close();
  }
  removeApiInfo(stateDir);
  // Whatever the adapters left behind (sockets, timers) must not keep a stopped control plane alive.
  process.exit(0);
}

/** `--instance-ports` passed on to the detached control plane. */
function instancePortsArgs(ctx: Context): string[] {
  const range = stringFlag(ctx, 'instance-ports');
  return range ? ['--instance-ports', range] : [];
}

async function runDetached(ctx: Context, o: UpOptions): Promise<number> {
  const stateDir = ctx.stateDir;
  const { apiListen, routerAdmin } = o;
  await refuseIfUp(stateDir);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const logFile = join(stateDir, LOG_FILE);
  const log = openSync(logFile, 'a', 0o600);
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      process.argv[1]!,
      'up',
      '--state-dir',
      stateDir,
      '--api',
      apiListen,
      '--router-admin',
      routerAdmin,
      '--flags-listen',
      o.flagsListen,
      ...(o.allowRemote ? ['--allow-remote'] : []),
      ...(o.sessionTtl !== undefined ? ['--session-ttl', o.sessionTtl] : []),
      ...instancePortsArgs(ctx),
      ...kubernetesArgs(o.kubernetes),
    ],
    { detached: true, stdio: ['ignore', log, log], cwd: process.cwd(), env: process.env },
  );
  closeSync(log);
  let exit: string | undefined;
  child.on('exit', (code, signal) => {
    exit = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  });
  child.on('error', (err) => {
    exit = `could not start: ${err.message}`;
  });
  child.unref();

  const deadline = Date.now() + DETACH_TIMEOUT_MS;
  while (Date.now() < deadline) {
    await sleep(200);
    if (exit) {
      const last = lastLine(logFile);
      throw new UserError(`the control plane ${exit}${last ? `: ${last}` : ''} — see ${logFile}`, 'up-failed', 500);
    }
    const info = tryReadApiInfo(stateDir);
    if (!info || info.pid !== child.pid) continue;
    const client = new ApiClient({ address: info.address, token: readToken(stateDir) });
    if (await client.healthy()) {
      ctx.out(
        `sluice is up in the background (pid ${child.pid}): API on http://${info.address}, log in ${logFile}\n` +
          `Dashboard: http://${info.address}/ (sign in with the token in ${join(stateDir, 'token')})`,
      );
      return 0;
    }
  }
  throw new UserError(
    `the control plane (pid ${child.pid}) did not answer on ${apiListen} within ${DETACH_TIMEOUT_MS / 1000}s — see ${logFile}`,
    'up-timeout',
    504,
  );
}

export const upCommand: Command = {
  name: 'up',
  summary: 'start the control plane (API, engine; starts the router if needed)',
  usage:
    '[-d] [--api HOST:PORT] [--router-admin HOST:PORT] [--flags-listen HOST:PORT] [--session-ttl DURATION] [--allow-remote] [--kubeconfig FILE] [--context NAME] [--namespace NS] [--platform local|kubernetes]',
  flags: [
    ['-d, --detach', `run in the background, logging to <state-dir>/${LOG_FILE}; returns once the API answers`],
    ['--api HOST:PORT', `where the control-plane API listens (default ${DEFAULT_API})`],
    ['--router-admin HOST:PORT', `the router's admin API (default ${DEFAULT_ROUTER_ADMIN})`],
    ['--flags-listen HOST:PORT', `where the data plane serves feature flags over OFREP (default ${DEFAULT_FLAGS_LISTEN}, flagd's OFREP port)`],
    ['--instance-ports FROM-TO', 'confine app instances to ports in this range, e.g. 30000-30999 (default: any free port)'],
    ['--session-ttl DURATION', 'how long a dashboard sign-in lasts (default 12h)'],
    ['--allow-remote', 'let --api/--router-admin take a non-loopback address (plain HTTP with a bearer token)'],
    ['--kubeconfig FILE', 'also run rollouts on this Kubernetes cluster (spec.platform: kubernetes); default $KUBECONFIG, ~/.kube/config'],
    ['--context NAME', "the kubeconfig's context (default its current-context)"],
    ['--namespace NS', "where rollouts without spec.kubernetes.namespace run (default the context's namespace)"],
    ['--platform local|kubernetes', 'what a rollout without spec.platform runs on (default local)'],
  ],
  details:
    'In the foreground, Ctrl-C (or SIGTERM) stops the control plane only: app instances and the router keep\n' +
    'serving, and the next `sluice up` adopts them. `sluice down` stops everything.\n' +
    'The API address and pid go to <state-dir>/api.json, its token to <state-dir>/token (mode 0600), the\n' +
    "router's admin token to <state-dir>/router/admin-token. Every start takes the state directory to 0700\n" +
    'and its database to 0600, and refuses a token file others can read.',
  options: {
    detach: { type: 'boolean', short: 'd' },
    api: { type: 'string' },
    'router-admin': { type: 'string' },
    'flags-listen': { type: 'string' },
    'instance-ports': { type: 'string' },
    'allow-remote': { type: 'boolean' },
    'session-ttl': { type: 'string' },
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    namespace: { type: 'string' },
    platform: { type: 'string' },
  },
  async run(ctx) {
    positionals(ctx, []);
    const o: UpOptions = {
      apiListen: stringFlag(ctx, 'api') ?? DEFAULT_API,
      routerAdmin: stringFlag(ctx, 'router-admin') ?? DEFAULT_ROUTER_ADMIN,
      flagsListen: stringFlag(ctx, 'flags-listen') ?? DEFAULT_FLAGS_LISTEN,
      allowRemote: boolFlag(ctx, 'allow-remote'),
      ...(stringFlag(ctx, 'session-ttl') !== undefined ? { sessionTtl: stringFlag(ctx, 'session-ttl') } : {}),
    };
    const kubernetes = kubernetesOptions(ctx);
    if (kubernetes) o.kubernetes = kubernetes;
    checkBinds(o);
    sessionTtlMs(o.sessionTtl);
    return boolFlag(ctx, 'detach') ? runDetached(ctx, o) : runForeground(ctx, o);
  },
};

/** The router (its pid file) or an instance (a store record whose process lives) of this state directory. */
async function anythingRunning(stateDir: string): Promise<boolean> {
  try {
    const pid = Number(readFileSync(join(stateDir, 'router', 'router.pid'), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) return true;
  } catch {
    // no pid file: no router left running
  }
  const db = join(stateDir, 'sluice.db');
  if (!existsSync(db)) return false;
  const { SqliteStore } = await import('../store/sqlite.js');
  const store = new SqliteStore(db);
  try {
    return store.listInstances().some((r) => isSameProcess(r.pid, r.procStartTime));
  } finally {
    store.close();
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

export const downCommand: Command = {
  name: 'down',
  summary: 'stop everything: app instances, the router and the control plane',
  usage: '[--router-admin HOST:PORT]',
  flags: [['--router-admin HOST:PORT', `used only when no control plane runs (default ${DEFAULT_ROUTER_ADMIN})`]],
  details:
    'Asks the running control plane to stop everything and waits until its process is gone. When no\n' +
    'control plane runs (say `sluice up` was stopped with Ctrl-C) but instances or the router are still\n' +
    'running, starts one just long enough to stop them; when nothing runs, says so.',
  options: { 'router-admin': { type: 'string' } },
  async run(ctx) {
    positionals(ctx, []);
    const stateDir = ctx.stateDir;
    const info = tryReadApiInfo(stateDir);
    if (info && pidAlive(info.pid)) {
      await ApiClient.fromStateDir(stateDir).shutdown({ everything: true });
      ctx.out(`stopping sluice (control plane pid ${info.pid}, instances and router)…`);
      if (!(await waitForExit(info.pid, DOWN_TIMEOUT_MS))) {
        throw new UserError(
          `the control plane (pid ${info.pid}) is still running ${DOWN_TIMEOUT_MS / 1000}s after being asked to stop — see ${join(stateDir, LOG_FILE)}`,
          'down-timeout',
          504,
        );
      }
      removeApiInfo(stateDir, info.pid);
      ctx.out('sluice is down');
      return 0;
    }
    if (!existsSync(join(stateDir, 'token'))) {
      ctx.out(`sluice is not up (no state in ${stateDir})`);
      return 0;
    }
    if (!(await anythingRunning(stateDir))) {
      ctx.out(`sluice is not running (no control plane, router or instance of ${stateDir}); nothing to stop`);
      return 0;
    }
    const running = await startControlPlane({
      stateDir,
      apiListen: '127.0.0.1:0',
      routerAdmin: stringFlag(ctx, 'router-admin') ?? DEFAULT_ROUTER_ADMIN,
    });
    await running.close({ everything: true });
    removeApiInfo(stateDir);
    ctx.out('sluice is down');
    return 0;
  },
};

/**
 * The router process: node dist/src/router/main.js --state-dir DIR [--admin 127.0.0.1:9901]
 *   [--drain-timeout-ms N] [--upstream-timeout-ms N] [--sample-capacity N] [--allow-remote]
 * The admin API takes the token in <state-dir>/router/admin-token (created when absent; see
 * admin-protocol.ts, "Access"); --admin off loopback needs --allow-remote.
 * Runs apart from the control plane so that restarting or killing the control plane never
 * drops a request; it serves its last persisted table from the moment it starts.
 *
 * POST /handover restarts it without closing a socket: this process starts its successor
 * (same options, `--takeover`) with an IPC channel and passes it every listening socket, admin
 * included; see the protocol below and src/router/README.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isLoopbackHost, tryParseHostPort } from '../util/host-port.js';
import { createAdminServer, retireAdminServer } from './admin.js';
import { DEFAULT_ROUTER_ADMIN, FLAGS_FILE, ROUTES_FILE, type HandoverOptions, type HandoverResult } from './admin-protocol.js';
import { ensureAdminToken } from './credential.js';
import { secureFile } from '../util/secret-file.js';
import { HANDOVER_IDLE_GRACE_MS } from './listeners.js';
import type { RouteTable } from '../core/route-table.js';
import { DRAIN_TIMEOUT_MS, Router } from './router.js';
import { RouterFlags } from './flags.js';
import { createOfrepService } from '../flags/ofrep.js';
import { EVENTS_PATH, eventsHandler } from './experiments/events.js';
import type { FlagPush } from '../core/flags.js';
import type { ExperimentRecord } from '../core/experiment.js';
import { DEFAULT_SAMPLE_CAPACITY } from './samples.js';

export const ROUTER_PID_FILE = 'router.pid';
/** How long each step of a handover may take the successor before it counts as failed. */
const HANDOVER_STEP_TIMEOUT_MS = 15_000;

/**
 * Handover protocol over the IPC channel (old = the running router, new = its successor):
 *   new → old  hello                    started, options parsed, warmed up (warmUp())
 *   old → new  table {table, flags?, ofrep?}  the table and the flag push in effect (applies and
 *                                       flag pushes are refused from now), where OFREP listens
 *   new → old  table-ok                 compiled; listeners prepared, not accepting; flags served
 *   old → new  listener {listen} +server   one per listening socket: new accepts on it at once
 *   old → new  ofrep {listen} +server   the OFREP socket, if any: new accepts on it at once
 *   old → new  admin +server            the admin socket
 *   old → new  sent                     every socket sent; new binds any the old did not have
 *   new → old  serving {generation, listeners}
 *   old → new  released                 old stopped accepting: new writes the pid file
 *   old → new  drained                  old finished its requests and exits: new disconnects
 * Experiments' journal (src/router/experiments/journal.ts) has one writer: old flushes and
 * suspends it before sending `table`, new opens it on `table`; what old records afterwards
 * goes to new as `records {records}` (new appends them), all before `drained`. On failure new
 * suspends it again, sends `journal-released` and forwards its records to old, which owns
 * the journal again once it gets `journal-released` or new has exited.
 * Failure: new → old `failed {error}` (or it exits, or a step times out): the old router
 * keeps serving and takes applies again; it sends `abort` and the new one drains what it
 * accepted on the shared sockets and exits.
 */
type ToNew =
  | { t: 'table'; table: RouteTable; flags?: FlagPush; ofrep?: string }
  | { t: 'listener'; listen: string }
  | { t: 'ofrep'; listen: string }
  | { t: 'admin' }
  | { t: 'sent' }
  | { t: 'released' }
  | { t: 'drained' }
  | { t: 'abort' }
  | { t: 'records'; records: ExperimentRecord[] };
type ToOld =
  | { t: 'hello' }
  | { t: 'table-ok' }
  | { t: 'serving'; generation: number; listeners: number }
  | { t: 'failed'; error: string }
  | { t: 'records'; records: ExperimentRecord[] }
  | { t: 'journal-released' };

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} sluice-router[${process.pid}] ${line}\n`);
}

/** A reason the process cannot start; main() logs it (and tells the predecessor) and exits 1. */
class StartError extends Error {}

function fail(message: string): never {
  throw new StartError(message);
}

/** Outside main()'s promise chain (event handlers): log and exit at once. */
function exitWith(message: string): never {
  log(message);
  process.exit(1);
}

interface Args {
  stateDir: string;
  admin: string;
  drainMs: number;
  upstreamMs?: number;
  sampleCapacity: number;
  takeover: boolean;
  allowRemote: boolean;
}

function parseArgs(argv: string[]): Args {
  const opts: Record<string, string> = {};
  let takeover = false;
  let allowRemote = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--takeover') {
      takeover = true;
      continue;
    }
    if (argv[i] === '--allow-remote') {
      allowRemote = true;
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (m === null) fail(`unexpected argument ${argv[i]}; usage: main.js --state-dir DIR [--admin host:port]`);
    opts[m[1]] = m[2] ?? argv[++i] ?? fail(`--${m[1]} needs a value`);
  }
  const known = new Set(['state-dir', 'admin', 'drain-timeout-ms', 'upstream-timeout-ms', 'sample-capacity']);
  for (const k of Object.keys(opts)) if (!known.has(k)) fail(`unknown option --${k}; known: ${[...known].map((x) => '--' + x).join(', ')}`);
  if (opts['state-dir'] === undefined) fail('--state-dir DIR is required');
  const num = (k: string): number | undefined => {
    if (opts[k] === undefined) return undefined;
    const n = Number(opts[k]);
    if (!Number.isFinite(n) || n < 0) fail(`--${k} ${opts[k]}: must be a non-negative number`);
    return n;
  };
  const sampleCapacity = num('sample-capacity') ?? DEFAULT_SAMPLE_CAPACITY;
  if (sampleCapacity < 1 || !Number.isInteger(Math.log2(sampleCapacity)))
    fail(`--sample-capacity ${sampleCapacity}: must be a power of two (requests kept per revision)`);
  return {
    stateDir: opts['state-dir'],
    admin: opts.admin ?? DEFAULT_ROUTER_ADMIN,
    drainMs: num('drain-timeout-ms') ?? DRAIN_TIMEOUT_MS,
    upstreamMs: num('upstream-timeout-ms'),
    sampleCapacity,
    takeover,
    allowRemote,
  };
}

function toOld(m: ToOld, then?: () => void): void {
  if (process.send === undefined || !process.connected) return then?.();
  process.send(m, undefined, {}, () => then?.());
}

async function main(): Promise<void> {
  const takeoverMode = process.argv.includes('--takeover');
  if (takeoverMode && process.send === undefined) fail('--takeover: only a running router starts its successor this way (POST /handover)');
  const args = parseArgs(process.argv.slice(2));
  const adminAddr = tryParseHostPort(args.admin) ?? fail(`--admin ${args.admin}: must be host:port`);
  if (!isLoopbackHost(adminAddr.host)) {
    if (!args.allowRemote) fail(`--admin ${args.admin}: not a loopback address; the admin API is plain HTTP — keep it on 127.0.0.1, or pass --allow-remote`);
    log(`warning: admin API on ${args.admin} is reachable from other machines over plain HTTP; its bearer token travels unencrypted`);
  }
  const routerDir = join(args.stateDir, 'router');
  let token: string;
  try {
    token = ensureAdminToken(args.stateDir);
    secureFile(join(routerDir, ROUTES_FILE));
    secureFile(join(routerDir, FLAGS_FILE));
  } catch (e) {
    fail((e as Error).message);
  }
  const pidFile = join(routerDir, ROUTER_PID_FILE);
  const identity = { stateDir: realpathSync(args.stateDir), pid: process.pid, instanceId: randomUUID() };

  const router = new Router({
    stateDir: args.stateDir,
    drainTimeoutMs: args.drainMs,
    upstreamTimeoutMs: args.upstreamMs,
    sampleCapacity: args.sampleCapacity,
    log,
  });
  // The data plane's client API also takes the apps' experiment events (experiments/events.ts).
  const mounts = new Map([[EVENTS_PATH, eventsHandler(router.experiments)]]);
  const flags = new RouterFlags({ stateDir: args.stateDir, drainTimeoutMs: args.drainMs, log, createService: () => createOfrepService({ mounts }) });

  let stopping = false;
  let handingOver = false;
  let successor: number | undefined;
  const shutdown = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${why}: no longer accepting; draining ${router.inflight} request(s) in flight (up to ${args.drainMs / 1000}s)`);
    void Promise.all([router.close(args.drainMs), flags.close(args.drainMs)]).then(() => {
      log(`stopped (${router.inflight} request(s) cut)`);
      admin.close();
      admin.closeAllConnections();
      rmSync(pidFile, { force: true });
      process.exit(0);
    });
  };

  /** Old side of the protocol above. */
  const handover = async (options: HandoverOptions): Promise<HandoverResult> => {
    if (stopping) throw Object.assign(new Error('the router is stopping'), { status: 503 });
    if (handingOver) throw Object.assign(new Error('a handover is already under way'), { status: 409 });
    handingOver = true;
    let table: RouteTable;
    let push: FlagPush | undefined;
    try {
      table = await router.freeze();
      push = await flags.freeze();
      await router.experiments.suspend();
    } catch (e) {
      router.thaw();
      flags.thaw();
      router.experiments.journal.resume();
      handingOver = false;
      throw e;
    }
    const ofrep = flags.listeningServer();
    const base = process.argv.slice(2).filter((a) => a !== '--takeover');
    const drainMs = options.drainTimeoutMs ?? args.drainMs;
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...base, '--takeover'], {
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const pid = child.pid ?? 0;
    log(`handover: started pid ${pid}`);
    child.on('message', (m: ToOld) => {
      if (m.t === 'records') router.experiments.journal.appendMany(m.records);
    });
    let serving: { generation: number; listeners: number };
    try {
      await step(child, 'hello');
      child.send({ t: 'table', table, flags: push, ofrep: ofrep?.[0] } satisfies ToNew);
      await step(child, 'table-ok');
      for (const [listen, server] of router.listeningServers()) child.send({ t: 'listener', listen } satisfies ToNew, server);
      if (ofrep !== undefined) child.send({ t: 'ofrep', listen: ofrep[0] } satisfies ToNew, ofrep[1]);
      child.send({ t: 'admin' } satisfies ToNew, admin);
      child.send({ t: 'sent' } satisfies ToNew);
      serving = (await step(child, 'serving')) as { generation: number; listeners: number };
    } catch (e) {
      // It may have accepted connections on the shared sockets: it drains them, then exits.
      if (child.exitCode === null && child.signalCode === null && child.connected) {
        child.send({ t: 'abort' } satisfies ToNew, (err: Error | null) => void (err && child.kill('SIGKILL')));
        setTimeout(() => child.kill('SIGKILL'), args.drainMs + 1000).unref();
        child.once('exit', () => child.connected && child.disconnect());
      } else if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      child.unref();
      router.thaw();
      flags.thaw();
      // The journal is ours again once the new router no longer writes it.
      let resumed = false;
      const resume = (): void => {
        if (resumed) return;
        resumed = true;
        router.experiments.journal.resume();
      };
      if (child.exitCode !== null || child.signalCode !== null) resume();
      else {
        child.once('exit', resume);
        child.on('message', (m: ToOld) => m.t === 'journal-released' && resume());
      }
      handingOver = false;
      const message = `the new router (pid ${pid}) ${(e as Error).message}; this router (pid ${process.pid}) keeps serving`;
      log(`handover failed: ${message}`);
      throw Object.assign(new Error(message), { status: 500 });
    }
    stopping = true;
    successor = pid;
    router.experiments.journal.forwardTo((records) => {
      if (child.connected) child.send({ t: 'records', records } satisfies ToNew);
    });
    child.send({ t: 'released' } satisfies ToNew);
    log(`handed over to pid ${pid}: no longer accepting; draining ${router.inflight} request(s) in flight (up to ${drainMs / 1000}s)`);
    void Promise.all([
      router.retire(drainMs, HANDOVER_IDLE_GRACE_MS),
      flags.retire(drainMs, HANDOVER_IDLE_GRACE_MS),
      retireAdminServer(admin, drainMs, HANDOVER_IDLE_GRACE_MS),
    ]).then(() => {
      log(`stopped after handover to pid ${pid} (${router.inflight} request(s) cut)`);
      // The pid file is the successor's now.
      const exit = (): never => process.exit(0);
      if (!child.connected) exit();
      child.send({ t: 'drained' } satisfies ToNew, () => {
        if (child.connected) child.disconnect();
        exit();
      });
      setTimeout(exit, 1000).unref();
    });
    return { oldPid: process.pid, newPid: pid, generation: serving.generation, listeners: serving.listeners };
  };

  const admin = createAdminServer(
    router,
    { shutdown: () => shutdown('POST /shutdown'), handover, successor: () => successor },
    { token, host: adminAddr.host, identity },
    flags,
  );
  const serve = (): void => {
    writeFileSync(pidFile, `${process.pid}\n`);
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  };
  const bindAdmin = (): Promise<void> =>
    new Promise<void>((resolve) => {
      admin.once('error', (e: NodeJS.ErrnoException) =>
        exitWith(`cannot listen for admin on ${args.admin}: ${e.code === 'EADDRINUSE' ? 'address in use — is another router running?' : e.message}`),
      );
      admin.listen(adminAddr.port, adminAddr.host, resolve);
    });

  if (!args.takeover) {
    await router.start();
    await flags.start();
    await bindAdmin();
    serve();
    log(`admin API on http://${args.admin}, state in ${routerDir}`);
    return;
  }
  await warmUp();
  takeOver(router, flags, admin, args, serve, bindAdmin);
}

/** Waits for the successor's next message of kind `want`; rejects on `failed`, exit or timeout. */
function step(child: ChildProcess, want: ToOld['t']): Promise<ToOld> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const onMessage = (m: ToOld): void => {
      if (m.t === want) {
        done();
        resolve(m);
      } else if (m.t === 'failed') {
        done();
        reject(new Error(`failed: ${m.error}`));
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      done();
      reject(new Error(signal !== null ? `was killed by ${signal} while starting` : `exited with code ${code} while starting (see the router log)`));
    };
    const onError = (e: Error): void => {
      done();
      reject(new Error(`could not start: ${e.message}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`did not answer "${want}" within ${HANDOVER_STEP_TIMEOUT_MS / 1000}s`));
    }, HANDOVER_STEP_TIMEOUT_MS);
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/** How many requests warmUp() sends, and the most time it may take. */
const WARM_UP_REQUESTS = 400;
const WARM_UP_MAX_MS = 3000;

/**
 * Handover, new side, before anything else: runs the proxy's request path (server, routing,
 * undici pool, response) WARM_UP_REQUESTS times through a throwaway Router and upstream on
 * 127.0.0.1, none of it visible outside. Without it the successor meets every client at once
 * with cold code (interpreted, un-optimized) and, on a busy machine, queues requests for
 * hundreds of ms (bench/results/router-restart.md). Best effort: a failure is logged and
 * the takeover goes on.
 */
async function warmUp(): Promise<void> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-warm-up-'));
  const upstream = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    req.resume();
    res.setHeader('content-type', 'text/plain');
    res.end('warm');
  });
  const scratch = new Router({ stateDir: dir, log: () => {} });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const listenPort = (server: http.Server): Promise<number> =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
      });
    const upstreamPort = await listenPort(upstream);
    const probe = http.createServer();
    const port = await listenPort(probe);
    await new Promise((r) => probe.close(r));
    await scratch.apply({
      generation: 1,
      listeners: [
        {
          listen: `127.0.0.1:${port}`,
          rollout: 'warm-up',
          role: 'main',
          balancer: 'round-robin',
          rules: [],
          split: [{ revision: 1, weight: 100 }],
          backends: [{ revision: 1, version: 'warm-up', endpoints: [{ id: 'warm-up-0', host: '127.0.0.1', port: upstreamPort }] }],
        },
      ],
    });
    const one = (i: number): Promise<void> =>
      new Promise((resolve) => {
        // Every tenth on a new connection, as clients reconnecting after a handover do.
        const headers = i % 10 === 0 ? { connection: 'close' } : {};
        const req = http.request({ host: '127.0.0.1', port, path: `/warm-up/${i}`, agent, headers }, (res) => {
          res.resume();
          res.on('end', resolve);
          res.on('error', () => resolve());
        });
        req.on('error', () => resolve());
        req.end();
      });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < WARM_UP_REQUESTS && Date.now() - started < WARM_UP_MAX_MS) await one(next++);
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    log(`warmed up with ${next} request(s) in ${Date.now() - started} ms`);
  } catch (e) {
    log(`warm-up skipped: ${(e as Error).message}`);
  } finally {
    agent.destroy();
    await scratch.close(0).catch(() => {});
    upstream.closeAllConnections();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** New side of the protocol above. */
function takeOver(router: Router, flags: RouterFlags, admin: http.Server, args: Args, serve: () => void, bindAdmin: () => Promise<void>): void {
  const predecessor = process.ppid;
  let phase: 'waiting' | 'adopting' | 'finishing' | 'serving' | 'released' | 'failed' = 'waiting';
  let adminAdopted = false;
  let markGone: () => void = () => {};
  const gone = new Promise<void>((r) => (markGone = r));

  const failTakeover = (message: string): void => {
    phase = 'failed';
    log(`cannot take over from pid ${predecessor}: ${message}`);
    toOld({ t: 'failed', error: message });
  };
  let aborting = false;
  const abort = (why: string): void => {
    phase = 'failed';
    if (aborting) return;
    aborting = true;
    log(`${why}: handing back; draining ${router.inflight} request(s) accepted meanwhile`);
    void router.experiments.suspend().then(() => {
      router.experiments.journal.forwardTo((records) => toOld({ t: 'records', records }));
      toOld({ t: 'journal-released' });
    });
    void Promise.all([
      router.retire(args.drainMs, HANDOVER_IDLE_GRACE_MS),
      flags.retire(args.drainMs, HANDOVER_IDLE_GRACE_MS),
      adminAdopted ? retireAdminServer(admin, args.drainMs, HANDOVER_IDLE_GRACE_MS) : undefined,
    ]).then(() => process.exit(1));
  };
  /** The predecessor vanished mid-handover: serve on our own. */
  const standAlone = async (): Promise<void> => {
    log(`pid ${predecessor} went away during the handover: serving on my own`);
    if (phase === 'waiting') {
      await router.start();
      await flags.start();
    } else if (phase === 'adopting') {
      await router.finishTakeover();
      await flags.finishTakeover();
    }
    if (!adminAdopted) await bindAdmin();
    phase = 'released';
    serve();
  };

  process.on('message', (m: ToNew, handle?: net.Server) => {
    switch (m.t) {
      case 'table':
        try {
          router.prepareTakeover(m.table, gone);
        } catch (e) {
          failTakeover(`the table in effect: ${(e as Error).message}`);
          return;
        }
        try {
          flags.prepareTakeover(m.flags, m.ofrep);
          phase = 'adopting';
          toOld({ t: 'table-ok' });
        } catch (e) {
          failTakeover(`the flags in effect: ${(e as Error).message}`);
        }
        return;
      case 'ofrep':
        if (phase !== 'adopting' || handle === undefined || !flags.adoptListener(m.listen, handle)) handle?.close();
        return;
      case 'listener':
        // Synchronously: the received server must not see a poll phase without its owner.
        if (phase !== 'adopting' || handle === undefined || !router.adoptListener(m.listen, handle)) handle?.close();
        return;
      case 'admin':
        if (phase !== 'adopting' || handle === undefined) {
          handle?.close();
          return;
        }
        admin.listen(handle);
        adminAdopted = true;
        return;
      case 'sent':
        if (phase !== 'adopting') return;
        phase = 'finishing';
        Promise.all([router.finishTakeover(), flags.finishTakeover()]).then(
          ([r]) => {
            if (!adminAdopted) return failTakeover('no admin socket was passed');
            phase = 'serving';
            toOld({ t: 'serving', generation: r.generation, listeners: r.listeners });
          },
          (e: Error) => failTakeover(e.message),
        );
        return;
      case 'released':
        phase = 'released';
        serve();
        log(
          `took over from pid ${predecessor}: admin API on http://${args.admin}, ${router.table.listeners.length} listener(s), routes generation ${router.table.generation}`,
        );
        return;
      case 'drained':
        markGone();
        process.disconnect();
        return;
      case 'abort':
        abort(`pid ${predecessor} called the handover off`);
        return;
      case 'records':
        router.experiments.journal.appendMany(m.records);
        return;
    }
  });
  process.on('disconnect', () => {
    markGone();
    if (phase === 'released') return;
    if (phase === 'failed') return abort(`pid ${predecessor} went away`);
    standAlone().catch((e: Error) => exitWith(`failed to start: ${e.message}`));
  });
  // The predecessor may have gone during warmUp(), before the handler above was there.
  if (!process.connected) process.emit('disconnect');
  else toOld({ t: 'hello' });
}

main().catch((e: Error) => {
  const message = e instanceof StartError ? e.message : `failed to start: ${e.message}`;
  log(message);
  // A successor that cannot start tells its predecessor why before going.
  toOld({ t: 'failed', error: message }, () => process.exit(1));
  setTimeout(() => process.exit(1), 1000).unref();
});

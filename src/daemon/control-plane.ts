import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../util/clock.js';
import { SqliteStore } from '../store/sqlite.js';
import { LocalPlatform } from '../platform/local/local-platform.js';
import type { PortRange } from '../platform/local/ports.js';
import { HttpTrafficRouter, isRouterUp, startRouterProcess } from '../router/http-client.js';
import { ExposureCollector, EXPOSURE_INTERVAL_MS } from '../engine/exposures.js';
import { Reconciler } from '../engine/reconciler.js';
import { DataPlanes } from '../dataplane/planes.js';
import { NginxDataPlane } from '../dataplane/nginx/data-plane.js';
import { Controller } from '../engine/controller.js';
import { JobRunner } from '../engine/job-runner.js';
import { EventDispatcher } from '../engine/event-dispatch.js';
import { BuiltinProvider } from '../analysis/providers/builtin.js';
import { JudgeProvider } from '../analysis/providers/judge.js';
import { PrometheusProvider } from '../analysis/providers/prometheus.js';
import { WebProvider } from '../analysis/providers/web.js';
import { JobProvider } from '../analysis/providers/job.js';
import { startApiServer } from '../api/server.js';
import { ensureToken, writeApiInfo } from '../api/token.js';
import { redactText } from '../util/redact.js';

/** Wires one control plane together: store, platform, router process, engine, API server. */
export interface ControlPlaneOptions {
  /** Default ".sluice" in the working directory. */
  stateDir: string;
  /** host:port for the API; default 127.0.0.1:7070. */
  apiListen: string;
  /** host:port of the router's admin API; default 127.0.0.1:9901. */
  routerAdmin: string;
  /** Confine instance ports to this range (`--instance-ports 30000-30999`). */
  instancePorts?: PortRange;
}

export interface RunningControlPlane {
  apiAddress: string;
  /** Stop the API and engine. `everything`: also stop all instances and the router (`sluice down`). */
  close(options?: { everything?: boolean }): Promise<void>;
  /** Resolves once close() has finished (however it was called: signal or `sluice down`). */
  closed: Promise<void>;
}

/** How long a restarted control plane waits for adopted instances' first probe before routing. */
const ADOPT_SETTLE_MS = 10_000;

export async function startControlPlane(options: ControlPlaneOptions): Promise<RunningControlPlane> {
  const { stateDir } = options;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  // `sluice up -d` sends stderr to <state-dir>/control-plane.log.
  const log = (line: string) => void process.stderr.write(`${new Date().toISOString()} ${redactText(line)}\n`);
  const token = ensureToken(stateDir);
  const store = new SqliteStore(join(stateDir, 'sluice.db'));
  const dispatcher = new EventDispatcher(store, systemClock, log);
  store.onEvent = (e) => dispatcher.dispatch(e);

  if (!(await isRouterUp(options.routerAdmin))) {
    log(`starting the router (admin ${options.routerAdmin})`);
    await startRouterProcess({ stateDir, admin: options.routerAdmin, logFile: join(stateDir, 'router', 'router.log') });
  } else {
    log(`router already running at ${options.routerAdmin}: re-using it`);
  }
  const builtinRouter = new HttpTrafficRouter(options.routerAdmin);
  const routerGeneration = (await builtinRouter.routes()).generation;
  // Rollouts with traffic.router: nginx are served by nginx (src/dataplane/nginx).
  const nginx = new NginxDataPlane(stateDir, log);
  nginx.adopt();
  const router = new DataPlanes(builtinRouter, nginx);
  const storedGeneration = store.loadRouteTable()?.generation ?? 0;

  const platform = new LocalPlatform({ stateDir, records: store, clock: systemClock, instancePorts: options.instancePorts });
  const adopted = await platform.adopt();
  if (adopted.length > 0) log(`re-adopted ${adopted.length} running instance(s)`);
  await waitForFirstProbes(platform, adopted);

  let reconciler: Reconciler | undefined;
  const jobs = new JobRunner({
    store,
    clock: systemClock,
    providers: {
      builtin: new BuiltinProvider(router),
      judge: new JudgeProvider(router),
      prometheus: new PrometheusProvider(),
      web: new WebProvider(),
      job: new JobProvider(),
    },
    onChange: () => reconciler?.trigger(),
    log,
  });
  reconciler = new Reconciler({ store, platform, router, clock: systemClock, jobs, log });
  const controller = new Controller(store, reconciler, platform, systemClock, jobs);
  reconciler.start(Math.max(routerGeneration, storedGeneration));
  const exposures = new ExposureCollector(store, () => router.traffic(), systemClock);
  const collectTimer = setInterval(() => {
    exposures.collect().catch((e: Error) => log(`exposures: cannot read the router's counters: ${e.message}`));
  }, EXPOSURE_INTERVAL_MS);

  let closing: Promise<void> | undefined;
  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((r) => (markClosed = r));
  const close = (opts: { everything?: boolean } = {}) => {
    closing ??= (async () => {
      await api.close();
      clearInterval(collectTimer);
      await exposures.collect().catch(() => []);
      await reconciler.close();
      jobs.close();
      store.onEvent = undefined;
      dispatcher.close();
      if (opts.everything) {
        log('stopping every instance and the router');
        await Promise.all(platform.list().filter((i) => i.phase !== 'Stopped').map((i) => platform.stop(i.id).catch(() => undefined)));
        await router.shutdown().catch(() => undefined);
      } else {
        await platform.detach();
      }
      router.close();
      store.close();
      markClosed();
    })();
    return closing;
  };

  const restartRouter = async () => {
    const r = await router.builtin.restart();
    log(`router restarted: pid ${r.oldPid} → ${r.newPid} (routes generation ${r.generation}, ${r.listeners} listener(s))`);
    return r;
  };
  const api = await startApiServer({ listen: options.apiListen, token, actions: controller, shutdown: (o) => close(o), routerRestart: () => restartRouter() });
  writeApiInfo(stateDir, { address: api.address, pid: process.pid });
  log(`sluice control plane: API on http://${api.address}, state in ${stateDir}`);
  return { apiAddress: api.address, close, closed };
}

/** Adopted instances report Starting until probed; routing before that would empty the table. */
async function waitForFirstProbes(platform: LocalPlatform, ids: string[]): Promise<void> {
  const deadline = Date.now() + ADOPT_SETTLE_MS;
  while (Date.now() < deadline) {
    const pending = platform.list().filter((i) => ids.includes(i.id) && i.phase === 'Starting');
    if (pending.length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

import { basename, join } from 'node:path';
import { systemClock } from '../core/clock.js';
import { SqliteStore } from '../store/sqlite.js';
import { LocalPlatform } from '../platform/local/local-platform.js';
import type { PortRange } from '../platform/local/ports.js';
import { KubernetesPlatform } from '../platform/kubernetes/kubernetes-platform.js';
import { PlatformSet } from '../platform/platform-set.js';
import { KubeClient } from '../kube/client.js';
import { type KubeConnection, loadKubeconfig } from '../kube/kubeconfig.js';
import type { Platform } from '../core/platform.js';
import { DEFAULT_PLATFORM, type PlatformName, platformOf } from '../core/spec.js';
import type { PlatformSupport } from '../engine/controller.js';
import { foreignRouterError, HttpTrafficRouter, probeRouter, startRouterProcess } from '../router/http-client.js';
import { MAX_GENERATION_STEP } from '../router/admin-protocol.js';
import { ensureAdminToken } from '../router/credential.js';
import { secureFile } from '../util/secret-file.js';
import { ExposureCollector, EXPOSURE_INTERVAL_MS } from '../engine/exposures.js';
import { EXPERIMENT_INTERVAL_MS, ExperimentMonitor } from '../engine/experiments/monitor.js';
import { prometheusCounts } from '../engine/experiments/prometheus-counts.js';
import { Reconciler } from '../engine/reconciler.js';
import { FlagRampRunner } from '../engine/flags/ramp-runner.js';
import { DataPlanes, openDataPlanes } from '../dataplane/planes.js';
import { Controller } from '../engine/controller.js';
import { JobRunner } from '../engine/job-runner.js';
import { EventDispatcher } from '../engine/event-dispatch.js';
import { BuiltinProvider } from '../analysis/providers/builtin.js';
import { JudgeProvider } from '../analysis/providers/judge.js';
import { PrometheusProvider } from '../analysis/providers/prometheus.js';
import { WebProvider } from '../analysis/providers/web.js';
import { JobProvider } from '../analysis/providers/job.js';
import { startApiServer } from '../api/server.js';
import { ReleaseController } from '../engine/pipelines/releases.js';
import { PipelineRunner } from '../engine/pipelines/runner.js';
import { ReleaseDocuments, type MigrationFact } from '../engine/pipelines/documents.js';
import { lintFolder } from '../migrations/lint/folder.js';
import type { DatabaseSpec } from '../core/database.js';
import type { Store } from '../core/store.js';
import type { RolloutEvent } from '../core/rollout.js';
import { TokenService } from '../api/tokens.js';
import { MigrationService } from '../migrations/service.js';
import { ensureToken, writeApiInfo } from '../api/token.js';
import { redactText } from '../util/redact.js';
import { FlagController } from '../engine/flags/controller.js';
import type { FlagPlane, FlagRampActions } from '../core/flags.js';
import { clientTokenRecords, createClientToken, ensureClientTokens, readClientTokens } from '../api/flag-tokens.js';
import { ChangeFeed, observeStore } from '../engine/change-feed.js';
import { Sessions } from '../api/session.js';
import type { StreamMessage } from '../core/live.js';
import { redactDeep, secretValues } from '../util/redact.js';

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
  /** A router started now may take a non-loopback admin address (`up --allow-remote`). */
  allowRemote?: boolean;
  /** host:port the data plane serves OFREP on (`up --flags-listen`); default 127.0.0.1:8016. */
  flagsListen?: string;
  /** The data plane's side of flags; until the router serves them (router helper), whoever starts the control plane may pass one. */
  flagPlane?: FlagPlane;
  /** Flag ramp verbs (engine helper's engine/flags/); absent: those API routes answer 501. */
  flagRamps?: FlagRampActions;
  /** How long a dashboard sign-in lasts (`up --session-ttl`); default 12 h. */
  sessionTtlMs?: number;
  /**
   * Run rollouts on a Kubernetes cluster too (`up --kubeconfig/--context/--namespace`);
   * absent: local processes only.
   */
  kubernetes?: KubernetesOptions;
  /** Called with the store before the engine starts (`sluice controller`: a new leader takes the old one's state from the cluster). */
  seed?: (store: Store) => void;
  /** Every rollout event the engine records, as it is recorded (`sluice controller`: Kubernetes Events). */
  onEvent?: (event: RolloutEvent) => void;
}

/** `sluice up --kubeconfig FILE --context NAME --namespace NS --platform kubernetes`. */
export interface KubernetesOptions {
  kubeconfig?: string;
  context?: string;
  /** Where a rollout without spec.kubernetes.namespace runs; default: the context's namespace. */
  namespace?: string;
  /** What a rollout without spec.platform runs on (default local). */
  defaultPlatform?: PlatformName;
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
  // `sluice up -d` sends stderr to <state-dir>/control-plane.log.
  const log = (line: string) => void process.stderr.write(`${new Date().toISOString()} ${redactText(line)}\n`);
  // Every start takes the state directory to 0700 and its secrets to 0600, and refuses a
  // token others could have read (src/util/secret-file.ts).
  const token = ensureToken(stateDir);
  const routerToken = ensureAdminToken(stateDir);
  // A wrong kubeconfig or an unreachable cluster fails `up` with one line before anything starts.
  const cluster = options.kubernetes ? await connectKubernetes(options.kubernetes) : undefined;

  // Before anything is opened: a failure here leaves no handle that would keep `up` alive.
  const probe = await probeRouter(options.routerAdmin, { stateDir, token: routerToken });
  if (probe.kind === 'foreign') throw foreignRouterError(options.routerAdmin, probe.what);
  if (probe.kind === 'none') {
    log(`starting the router (admin ${options.routerAdmin})`);
    const extraArgs = options.allowRemote ? ['--allow-remote'] : [];
    await startRouterProcess({ stateDir, admin: options.routerAdmin, logFile: join(stateDir, 'router', 'router.log'), extraArgs });
  } else {
    log(`router already running at ${options.routerAdmin} (pid ${probe.identity.pid}): re-using it`);
  }
  const builtinRouter = new HttpTrafficRouter(options.routerAdmin, routerToken);
  const routerGeneration = (await builtinRouter.routes()).generation;

  const dbFile = join(stateDir, 'sluice.db');
  const rawStore = new SqliteStore(dbFile);
  for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) secureFile(f);
  // The dashboard's live stream: every write through `store` is seen by the feed (engine/change-feed.ts).
  const feed = new ChangeFeed({
    store: rawStore,
    now: () => systemClock.now(),
    kv: { get: (k) => rawStore.loadValue(k), set: (k, v) => rawStore.saveValue(k, v) },
  });
  const store = observeStore(rawStore, feed);
  const dispatcher = new EventDispatcher(store, systemClock, log);
  rawStore.onEvent = (e) => {
    dispatcher.dispatch(e);
    feed.event(e);
    options.onEvent?.(e);
  };
  options.seed?.(rawStore);
  // Rollouts whose traffic.router names another data plane (nginx) are served by it (src/dataplane/registry.ts).
  const router = new DataPlanes(
    builtinRouter,
    openDataPlanes({ stateDir, log, ...(cluster ? { kube: { client: cluster.client, namespace: cluster.namespace } } : {}) }),
  );
  const storedGeneration = store.loadRouteTable()?.generation ?? 0;

  const local = new LocalPlatform({ stateDir, records: store, clock: systemClock, instancePorts: options.instancePorts });
  const { platform, support, kube } = platformsOf(options.kubernetes, cluster, local, store, log);
  const adopted = await local.adopt();
  if (adopted.length > 0) log(`re-adopted ${adopted.length} running instance(s)`);
  await waitForFirstProbes(local, adopted);
  const adoptedPods = kube ? await kube.platform.adopt() : [];
  if (adoptedPods.length > 0) log(`re-adopted ${adoptedPods.length} pod(s) in ${kube!.connection.source}`);

  let reconciler: Reconciler | undefined;
  const providers = {
    builtin: new BuiltinProvider(router),
    judge: new JudgeProvider(router),
    prometheus: new PrometheusProvider(),
    web: new WebProvider(),
    job: new JobProvider(),
  };
  // Database migrations (src/migrations/): phases as jobs, backups under <state>/backups/.
  const migrations = new MigrationService({ stateDir });
  const jobs = new JobRunner({ store, clock: systemClock, providers, onChange: (rollout) => reconciler?.trigger(rollout), log, migrations });
  // Feature flags: read-only client tokens (the default one made at first start), every flag
  // pushed to the data plane after each change and once now (it may have missed some).
  ensureClientTokens(stateDir);
  const flags = new FlagController({
    store,
    clock: systemClock,
    // Flags are always served by the builtin router process, whichever plane serves routes.
    plane: options.flagPlane ?? router.flags(),
    listen: options.flagsListen ?? '127.0.0.1:8016',
    tokens: { records: () => clientTokenRecords(readClientTokens(stateDir)), create: (name, list) => createClientToken(stateDir, name, list) },
    kv: { get: (k) => store.loadValue(k), set: (k, v) => store.saveValue(k, v) },
    log,
  });
  // Flag ramps run at the end of each reconciler pass, their analyses on the rollouts' providers.
  const flagRamps = new FlagRampRunner({ store, clock: systemClock, flags, providers, onWake: () => reconciler?.runFlagRamps(), log });
  reconciler = new Reconciler({ store, platform, router, clock: systemClock, jobs, log, flags, flagRamps });
  // Pipelines: releases move through environments (engine/pipelines/); a change asks the runner for a pass.
  let pipelineRunner: PipelineRunner | undefined;
  const releases = new ReleaseController(store, systemClock, () => void pipelineRunner?.tick());
  const controller = new Controller(store, reconciler, platform, systemClock, jobs, flags, migrations, releases, support);
  pipelineRunner = new PipelineRunner({
    store,
    clock: systemClock,
    rollouts: controller,
    tokenValid: (id) => id === undefined || namedTokenValid(store, id, systemClock.now()),
    log,
  });
  pipelineRunner.start(PIPELINE_INTERVAL_MS);
  const documents = new ReleaseDocuments({ store, clock: systemClock, migrations: migrationFacts });
  void flags.start();
  // Continue from the later of the two, but never from further past the router's than it
  // accepts (a router that lost its routes.json starts again at 0).
  reconciler.start(Math.max(routerGeneration, Math.min(storedGeneration, routerGeneration + MAX_GENERATION_STEP - 1)));
  const exposures = new ExposureCollector(store, () => router.traffic(), systemClock);
  const collectTimer = setInterval(() => {
    exposures.collect().catch((e: Error) => log(`exposures: cannot read the router's counters: ${e.message}`));
  }, EXPOSURE_INTERVAL_MS);
  // Experiments: the router's journal into the store, reports, auto-conclusion (engine/experiments/).
  const experiments = new ExperimentMonitor({
    store,
    clock: systemClock,
    journal: {
      records: (after, max) => builtinRouter.experimentRecords(after, max),
      ack: (journal, upTo) => builtinRouter.ackExperimentRecords(journal, upTo),
    },
    windows: router,
    actions: {
      promote: (name, variant) => controller.promote(name, { variant }, { actor: 'experiment' }),
      abort: (name) => controller.abort(name, { actor: 'experiment' }),
    },
    prometheus: prometheusCounts,
    log,
  });
  let experimentTick: Promise<void> = Promise.resolve();
  const experimentTimer = setInterval(() => {
    experimentTick = experimentTick.then(() => experiments.tick().catch((e: Error) => log(`experiments: ${e.message}`)));
  }, EXPERIMENT_INTERVAL_MS);

  let closing: Promise<void> | undefined;
  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((r) => (markClosed = r));
  const close = (opts: { everything?: boolean } = {}) => {
    closing ??= (async () => {
      await api.close();
      await pipelineRunner?.stop();
      clearInterval(collectTimer);
      clearInterval(experimentTimer);
      await exposures.collect().catch(() => []);
      await experimentTick;
      await experiments.pull().catch(() => 0);
      await reconciler.close();
      flagRamps.close();
      await flags.collectUsage().catch(() => undefined);
      await flags.close();
      jobs.close();
      rawStore.onEvent = undefined;
      dispatcher.close();
      if (opts.everything) {
        // Pods on a cluster are the cluster's: `down` stops what runs on this machine only.
        log(kube ? 'stopping every local instance and the router (Kubernetes workloads keep running)' : 'stopping every instance and the router');
        await Promise.all(
          local
            .list()
            .filter((i) => i.phase !== 'Stopped')
            .map((i) => local.stop(i.id).catch(() => undefined)),
        );
        await router.shutdown().catch(() => undefined);
        await kube?.platform.detach();
      } else {
        await platform.detach();
      }
      await kube?.client.close();
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
  // Users and roles: named tokens (hashed in the state database) beside the admin token, and the audit log.
  const tokenService = new TokenService(store, systemClock, token);
  const api = await startApiServer({
    listen: options.apiListen,
    authenticate: (bearer) => tokenService.authenticate(bearer),
    tokens: { service: tokenService, now: () => systemClock.now(), listAudit: (o) => store.listAudit(o) },
    audit: (record) => store.appendAudit(record),
    now: () => systemClock.now(),
    actions: controller,
    shutdown: (o) => close(o),
    routerRestart: () => restartRouter(),
    flags,
    flagRamps: options.flagRamps ?? flagRamps,
    experiments,
    database: migrations,
    pipelines: { releases, documents, environments: () => store.listEnvironments(), pipelines: () => store.listPipelines() },
    metrics: store,
    dashboard: {
      sessions: new Sessions({
        adminToken: token,
        stateDir,
        now: () => systemClock.now(),
        ...(options.sessionTtlMs !== undefined ? { ttlMs: options.sessionTtlMs } : {}),
        tokenPrincipal: (id) => {
          const t = store.listTokens().find((x) => x.id === id);
          return t !== undefined && namedTokenValid(store, id, systemClock.now()) ? { user: t.name, roles: t.roles, tokenId: t.id } : undefined;
        },
      }),
      feed,
      authenticate: (bearer) => tokenService.authenticate(bearer),
      environments: () => store.listEnvironments(),
      exists: (name) => controller.get(name),
      redact: (m) => redactMessage(store, m),
    },
  });
  writeApiInfo(stateDir, { address: api.address, pid: process.pid });
  log(`sluice control plane: API and dashboard on http://${api.address}/, state in ${stateDir}`);
  return { apiAddress: api.address, close, closed };
}

/** A stream message as it may leave: a rollout's secret values cut out of its summaries and events. */
function redactMessage(store: Store, m: StreamMessage): unknown {
  const rollout = m.event === 'rollout' ? m.data.name : m.event === 'event' ? m.data.rollout : undefined;
  if (rollout === undefined) return redactDeep(m.data);
  const record = store.getRollout(rollout);
  const secrets = record === undefined ? [] : secretValues({ spec: record.spec, revisions: store.listRevisions(rollout) });
  return redactDeep(m.data, secrets);
}

/** How often the pipeline runner looks at releases (besides after every change). */
const PIPELINE_INTERVAL_MS = 1000;

/** An approval given with a named token counts while the token is neither revoked nor expired. */
function namedTokenValid(store: Store, id: string, now: number): boolean {
  const t = store.listTokens().find((x) => x.id === id);
  return t !== undefined && t.revokedAt === undefined && (t.expiresAt === undefined || t.expiresAt > now);
}

/** A database's migrations with the phases and lint classes of their statements (the deployment request shows them). */
async function migrationFacts(database: DatabaseSpec): Promise<MigrationFact[]> {
  const report = await lintFolder(database.migrations, database.engine);
  const byFile = new Map<string, { phases: Set<string>; classes: Set<string> }>();
  for (const s of report.statements) {
    const f = byFile.get(s.file) ?? { phases: new Set(), classes: new Set() };
    f.phases.add(s.phase);
    f.classes.add(s.class);
    byFile.set(s.file, f);
  }
  return [...byFile].map(([file, f]) => ({ name: basename(file), phases: [...f.phases], lintClasses: [...f.classes] }));
}

/**
 * The platforms of this control plane: local processes always; a Kubernetes cluster too when
 * `up` was given a kubeconfig (or runs in a pod with --platform kubernetes). The cluster is
 * reached once here so a wrong kubeconfig fails `up` with one line, not the first rollout.
 */
async function connectKubernetes(options: KubernetesOptions): Promise<{ client: KubeClient; connection: KubeConnection; namespace: string }> {
  const connection = loadKubeconfig({ path: options.kubeconfig, context: options.context });
  const namespace = options.namespace ?? connection.namespace;
  const client = new KubeClient(connection.client);
  try {
    await client.list({ group: 'apps', version: 'v1', plural: 'replicasets' }, namespace, 'sluice.dev/rollout');
  } catch (err) {
    await client.close();
    throw err;
  }
  return { client, connection, namespace };
}

function platformsOf(
  options: KubernetesOptions | undefined,
  cluster: { client: KubeClient; connection: KubeConnection; namespace: string } | undefined,
  local: LocalPlatform,
  store: Store,
  log: (line: string) => void,
): { platform: Platform; support: PlatformSupport; kube?: { client: KubeClient; platform: KubernetesPlatform; connection: KubeConnection } } {
  const defaultPlatform = options?.defaultPlatform ?? DEFAULT_PLATFORM;
  if (!cluster) return { platform: local, support: { default: defaultPlatform, configured: [DEFAULT_PLATFORM] } };
  const { client, connection, namespace } = cluster;
  log(`Kubernetes: ${connection.source}, namespace ${namespace}`);
  const specOf = (rollout: string) => store.getRollout(rollout)?.spec;
  // Rollouts stored with a namespace of their own: adopt() looks for their ReplicaSets there too.
  const namespaces = [...new Set(store.listRollouts().flatMap((r) => r.spec.kubernetes?.namespace ?? []))];
  const kubernetes = new KubernetesPlatform({ client, namespace, namespaces, specOf });
  const platforms = new Map<PlatformName, Platform>([
    ['local', local],
    ['kubernetes', kubernetes],
  ]);
  const platform = new PlatformSet(platforms, (rollout) => {
    const spec = specOf(rollout);
    return spec ? platformOf(spec, defaultPlatform) : defaultPlatform;
  });
  return { platform, support: { default: defaultPlatform, configured: ['local', 'kubernetes'] }, kube: { client, platform: kubernetes, connection } };
}

/** Adopted instances report Starting until probed; routing before that would empty the table. */
async function waitForFirstProbes(platform: LocalPlatform, ids: string[]): Promise<void> {
  const deadline = Date.now() + ADOPT_SETTLE_MS;
  while (Date.now() < deadline) {
    // An instance whose readiness already failed (message set) has had its first verdict.
    const pending = platform.list().filter((i) => ids.includes(i.id) && i.phase === 'Starting' && i.message === undefined);
    if (pending.length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `sluice controller`: sluice inside a cluster (issue 17, scope 5). Replicas elect a leader
 * on a Lease (src/kube/lease.ts); only the leader runs the engine, which is the same control
 * plane as `sluice up` with Kubernetes as the default platform:
 *
 * - Rollout custom resources (deploy/kubernetes/crds.yaml) are the specs: listed, then
 *   watched (no polling; a 410 lists again), applied to the engine as if by `sluice apply`
 *   when their generation changes, deleted when they are.
 * - The status subresource is the engine's status (phase, strategy, step, weight, message,
 *   observedGeneration) plus `status.sluice`: the rollout's engine record and revisions, so
 *   that a new leader continues at the same step instead of starting over (it seeds its
 *   store from there before its engine starts, and adopts the ReplicaSets by label).
 * - The engine's events become Kubernetes Events on the Rollout (src/kube/events.ts).
 * - A spec the engine refuses is one line in status.message (phase Invalid) and a Warning
 *   Event; nothing of it is applied, the rest go on.
 *
 * A replica that loses the lease exits (the Deployment starts it again as a candidate), as
 * client-go's controllers do: two replicas never act at once.
 */
import { hostname } from 'node:os';
import { stringify } from 'yaml';
import { ApiClient } from '../api/client.js';
import type { Revision, RolloutEvent, RolloutRecord, RolloutView } from '../core/rollout.js';
import type { Store } from '../core/store.js';
import { KubeApiError, KubeClient, type KubeObject, type Resource } from '../kube/client.js';
import { EventRecorder, type ObjectReference } from '../kube/events.js';
import { loadKubeconfig } from '../kube/kubeconfig.js';
import { LeaderElector } from '../kube/lease.js';
import { type RunningControlPlane, startControlPlane } from './control-plane.js';

export const ROLLOUTS: Resource = { group: 'sluice.dev', version: 'v1alpha1', plural: 'rollouts' };
const API_VERSION = 'sluice.dev/v1alpha1';

export interface ControllerOptions {
  stateDir: string;
  apiListen: string;
  routerAdmin: string;
  flagsListen: string;
  kubeconfig?: string;
  context?: string;
  /** The namespace watched, where the Lease lives and rollouts run; default the context's. */
  namespace?: string;
  /** This replica's name in the Lease; default the pod's hostname and pid. */
  identity?: string;
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: (line: string) => void;
}

/** A Rollout custom resource as the API stores it. */
export interface RolloutResource extends KubeObject {
  spec: Record<string, unknown>;
  status?: RolloutResourceStatus;
}

/** What the controller writes in the status subresource. */
export interface RolloutResourceStatus {
  observedGeneration?: number;
  phase?: string;
  reason?: string;
  message?: string;
  strategy?: string;
  step?: number;
  weight?: number;
  /** The engine's memory of the rollout, for the next leader. */
  sluice?: { record: RolloutRecord; revisions: Revision[] };
}

/** The sluice document a Rollout resource stands for (what `sluice apply` would get). */
export function manifestOf(r: RolloutResource): string {
  const spec = { platform: 'kubernetes', ...r.spec };
  return stringify({ apiVersion: API_VERSION, kind: 'Rollout', metadata: { name: r.metadata.name }, spec }, { lineWidth: 0 });
}

/** The status subresource for an engine view (without `sluice`, which statusOf adds). */
export function publicStatus(view: RolloutView, observedGeneration: number | undefined): RolloutResourceStatus {
  const strategy = view.spec.strategy?.type;
  const current = view.status.weights.find((w) => w.revision === view.status.currentRevision);
  return {
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
    phase: view.status.phase,
    reason: view.status.reason,
    message: view.status.message,
    ...(strategy ? { strategy } : {}),
    step: view.status.stepIndex + 1,
    ...(current ? { weight: current.weight } : {}),
  };
}

/** Runs `sluice controller` until SIGTERM (resolves) or a lost lease (the process exits 1). */
export async function runController(o: ControllerOptions): Promise<void> {
  const log = o.log ?? ((line: string) => void process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  const connection = loadKubeconfig({ path: o.kubeconfig, context: o.context });
  const namespace = o.namespace ?? connection.namespace;
  const client = new KubeClient(connection.client);
  const identity = o.identity ?? `${hostname()}-${process.pid}`;
  const elector = new LeaderElector({
    client,
    namespace,
    name: o.leaseName ?? 'sluice-controller',
    identity,
    leaseDurationMs: o.leaseDurationMs ?? 15_000,
    renewDeadlineMs: o.renewDeadlineMs ?? 10_000,
    retryPeriodMs: o.retryPeriodMs ?? 2_000,
    log,
  });
  const events = new EventRecorder({ client, reportingInstance: identity, log });
  let sync: RolloutSync | undefined;
  let running: RunningControlPlane | undefined;
  let stopping = false;
  const stop = async () => {
    stopping = true;
    sync?.stop();
    await running?.close().catch(() => undefined);
    await events.flush().catch(() => undefined);
    await elector.stop().catch(() => undefined);
    await client.close();
  };
  const signalled = new Promise<void>((resolve) => {
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => void stop().then(resolve));
  });
  log(`sluice controller ${identity}: ${connection.source}, namespace ${namespace}; waiting to lead`);
  const led = elector.run({
    onStartedLeading: async (signal) => {
      log(`${identity} leads: starting the engine`);
      // The API may be busy or restarting (429, 503): keep asking while this replica leads.
      let resources: Awaited<ReturnType<typeof listRollouts>> | undefined;
      for (let wait = 250; !resources; wait = Math.min(wait * 2, 5000)) {
        try {
          resources = await listRollouts(client, namespace);
        } catch (err) {
          if (signal.aborted) return;
          log(`cannot list rollouts yet (${(err as Error).message}); again in ${wait} ms`);
          await new Promise((r) => setTimeout(r, wait));
        }
      }
      sync = new RolloutSync(client, namespace, events, log);
      running = await startControlPlane({
        stateDir: o.stateDir,
        apiListen: o.apiListen,
        routerAdmin: o.routerAdmin,
        flagsListen: o.flagsListen,
        kubernetes: {
          ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
          ...(o.context ? { context: o.context } : {}),
          namespace,
          defaultPlatform: 'kubernetes',
        },
        seed: (store) => seedStore(store, resources.items, log),
        onEvent: (e) => sync?.event(e),
      }).catch((err: Error) => {
        // Half a start is no state to lead from: exit, the Deployment starts a fresh candidate.
        log(`${identity} cannot start the engine: ${err.message}`);
        process.exit(1);
      });
      if (signal.aborted) return;
      const api = ApiClient.fromStateDir(o.stateDir);
      await sync.start(api, resources);
    },
    onStoppedLeading: () => {
      if (stopping) return;
      log(`${identity} lost the lease: exiting so that two replicas never act at once`);
      process.exit(1);
    },
    onNewLeader: (id) => {
      if (id && id !== identity) log(`the leader is ${id}`);
    },
  });
  await Promise.race([signalled, led]);
}

async function listRollouts(client: KubeClient, namespace: string) {
  return client.list<RolloutResource>(ROLLOUTS, namespace);
}

/** A new leader's store takes what the old one wrote in status.sluice, for rollouts it does not know. */
export function seedStore(store: Store, resources: RolloutResource[], log: (line: string) => void): void {
  for (const r of resources) {
    const saved = r.status?.sluice;
    if (!saved?.record || store.getRollout(r.metadata.name)) continue;
    store.putRollout(saved.record);
    for (const rev of saved.revisions ?? []) store.addRevision(rev);
    log(
      `rollout ${r.metadata.name}: continuing from the cluster's status (revision ${saved.record.status.currentRevision}, step ${saved.record.status.stepIndex})`,
    );
  }
}

/** Rollout resources ↔ the engine, while this replica leads. */
class RolloutSync {
  private readonly abort = new AbortController();
  private readonly applied = new Map<string, number>();
  private readonly resources = new Map<string, RolloutResource>();
  private readonly written = new Map<string, string>();
  private readonly invalid = new Map<string, RolloutResourceStatus>();
  private api: ApiClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly events: EventRecorder,
    private readonly log: (line: string) => void,
  ) {}

  async start(api: ApiClient, list: { metadata: { resourceVersion?: string }; items: RolloutResource[] }): Promise<void> {
    this.api = api;
    for (const r of list.items) this.enqueue(() => this.upsert(r));
    // Rollouts the engine has that the cluster no longer does (deleted while no one led).
    const names = new Set(list.items.map((r) => r.metadata.name));
    for (const v of await api.list()) if (!names.has(v.name)) this.enqueue(() => this.remove(v.name));
    this.timer = setInterval(() => this.enqueue(() => this.writeStatuses()), 1000);
    void this.watch(list.metadata.resourceVersion);
  }

  stop(): void {
    this.abort.abort();
    if (this.timer) clearInterval(this.timer);
  }

  /** An engine event → a Kubernetes Event on the Rollout. */
  event(e: RolloutEvent): void {
    const r = this.resources.get(e.rollout);
    if (!r) return;
    this.events.event(refOf(r), e.type, e.reason, e.reason, e.message);
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch((err: Error) => this.log(`controller: ${err.message}`));
  }

  private async watch(resourceVersion: string | undefined): Promise<void> {
    let rv = resourceVersion;
    while (!this.abort.signal.aborted) {
      try {
        await this.client.watch<RolloutResource>(ROLLOUTS, this.namespace, { resourceVersion: rv, signal: this.abort.signal }, (ev) => {
          if (ev.object.metadata.resourceVersion) rv = ev.object.metadata.resourceVersion;
          if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.enqueue(() => this.upsert(ev.object));
          else if (ev.type === 'DELETED') this.enqueue(() => this.remove(ev.object.metadata.name));
        });
      } catch (err) {
        if (this.abort.signal.aborted) return;
        if (err instanceof KubeApiError && err.httpStatus === 410) {
          const list = await listRollouts(this.client, this.namespace).catch(() => undefined);
          if (list) {
            rv = list.metadata.resourceVersion;
            for (const r of list.items) this.enqueue(() => this.upsert(r));
          }
        } else {
          this.log(`controller: watching rollouts failed (${(err as Error).message}); watching again in 1 s`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
  }

  private async upsert(r: RolloutResource): Promise<void> {
    const name = r.metadata.name;
    this.resources.set(name, r);
    const generation = r.metadata.generation ?? 0;
    if (this.applied.get(name) === generation) return;
    this.applied.set(name, generation);
    try {
      await this.api!.apply(manifestOf(r), `rollouts.sluice.dev/${this.namespace}/${name}`, { actor: 'kubernetes' });
      this.invalid.delete(name);
    } catch (err) {
      const message = (err as Error).message.replace(/\s+/g, ' ');
      this.invalid.set(name, { observedGeneration: generation, phase: 'Invalid', reason: 'SpecRefused', message });
      this.events.warning(refOf(r), 'SpecRefused', 'Apply', message);
      this.log(`rollout ${name}: refused: ${message}`);
    }
  }

  private async remove(name: string): Promise<void> {
    this.resources.delete(name);
    this.applied.delete(name);
    this.written.delete(name);
    this.invalid.delete(name);
    try {
      await this.api!.delete(name, { actor: 'kubernetes' });
    } catch (err) {
      if (!/not found|no rollout/i.test((err as Error).message)) throw err;
    }
  }

  /** Status of every rollout whose engine view changed, through the status subresource. */
  private async writeStatuses(): Promise<void> {
    const views = new Map((await this.api!.list()).map((v) => [v.name, v]));
    for (const name of this.resources.keys()) {
      const view = views.get(name);
      const bad = this.invalid.get(name);
      let status: RolloutResourceStatus | undefined = bad;
      if (!bad && view) {
        const record: RolloutRecord = { name: view.name, spec: view.spec, source: view.source, status: view.status, createdAt: view.createdAt };
        status = { ...publicStatus(view, this.applied.get(name)), sluice: { record, revisions: view.revisions } };
      }
      if (!status) continue;
      const text = JSON.stringify(status);
      if (this.written.get(name) === text) continue;
      try {
        await this.client.apply(
          ROLLOUTS,
          this.namespace,
          { apiVersion: API_VERSION, kind: 'Rollout', metadata: { name, namespace: this.namespace }, status } as KubeObject,
          'status',
        );
        this.written.set(name, text);
      } catch (err) {
        this.log(`rollout ${name}: cannot write its status: ${(err as Error).message}`);
      }
    }
  }
}

function refOf(r: RolloutResource): ObjectReference {
  return {
    apiVersion: API_VERSION,
    kind: 'Rollout',
    name: r.metadata.name,
    namespace: r.metadata.namespace,
    ...(r.metadata.uid ? { uid: r.metadata.uid } : {}),
  };
}

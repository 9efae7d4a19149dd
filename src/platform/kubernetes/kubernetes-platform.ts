/**
 * The Kubernetes platform (issue 17): each revision of a rollout is one ReplicaSet
 * `<rollout>-<pod-template-hash>` (as Argo Rollouts names them) whose pod template is
 * `podTemplateOf(spec, revision)`, and each instance is one of its pods. docs/kubernetes.md
 * is the reference; in short:
 *
 * - `planScale` is the local platform's choice (not ready first, then the youngest), which is
 *   also how a ReplicaSet ranks pods to delete.
 * - `start` = create the ReplicaSet with 1 replica, or raise its replicas by one, and resolve
 *   with the new pod once the watch sees it (phase Starting; Ready when kwok or a kubelet
 *   sets the pod's Ready condition).
 * - `stop(id)` = drain, mark the pod `controller.kubernetes.io/pod-deletion-cost` lowest,
 *   lower replicas by one so the ReplicaSet controller deletes that pod, and resolve when the
 *   pod is gone; if the controller chose another pod it is deleted by name.
 * - State comes from one watch of sluice's pods per namespace (no polling); `onChange`
 *   listeners are called for every change of a pod's status.
 * - `adopt` lists the ReplicaSets labelled `sluice.dev/rollout` and their pods; nothing is
 *   created or replaced.
 */
import type { Revision } from '../../core/rollout.js';
import type { RolloutSpec, Template } from '../../core/spec.js';
import type { InstanceRef, InstanceStatus, LogChunk, Platform, ScalePlan, ScaleRequest, StopOptions } from '../../core/platform.js';
import { UserError } from '../../util/errors.js';
import { planLocalScale } from '../local/instance-choice.js';
import { type KubeClient, type KubeList, type KubeObject, KubeApiError, PODS, REPLICA_SETS, type WatchEvent } from '../../kube/client.js';
import { DEFAULT_CONTAINER_PORT, LABELS, type PodTemplateSpec, podTemplateOf } from './pod.js';

export const GENERATION_ANNOTATION = 'sluice.dev/generation';
export const DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';
/** The lowest cost the API accepts (an int32): the pod the ReplicaSet controller deletes first among ready ones. */
const LOWEST_COST = String(-2147483648);

export interface KubernetesPlatformOptions {
  client: KubeClient;
  /** Where a rollout without `spec.kubernetes.namespace` runs. */
  namespace: string;
  /** Other namespaces whose ReplicaSets `adopt()` looks for (a rollout's own namespace is watched once it starts). */
  namespaces?: string[];
  /** The rollout's spec (for its name, service and `spec.kubernetes`); absent: a bare spec of that name. */
  specOf?: (rollout: string) => RolloutSpec | undefined;
  /** How long `start` waits for the ReplicaSet controller to create the new pod (default 60 s). */
  podTimeoutMs?: number;
}

export interface ReplicaSet extends KubeObject {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: PodTemplateSpec };
  status?: { replicas?: number; readyReplicas?: number };
}

export interface Pod extends KubeObject {
  spec: { nodeName?: string; containers: { name: string; ports?: { containerPort: number }[] }[] };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    containerStatuses?: { restartCount?: number; state?: { waiting?: { reason?: string; message?: string } } }[];
  };
}

interface Waiter {
  check: () => boolean;
  resolve: () => void;
}

/** The status sluice reports for a pod. */
export function statusOfPod(pod: Pod): InstanceStatus | undefined {
  const labels = pod.metadata.labels ?? {};
  const rollout = labels[LABELS.rollout];
  const revision = Number(labels[LABELS.revision]);
  if (!rollout || !Number.isInteger(revision)) return undefined;
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  const waiting = pod.status?.containerStatuses?.map((c) => c.state?.waiting).find((w) => w?.reason === 'CrashLoopBackOff');
  const phase = pod.metadata.deletionTimestamp
    ? 'Terminating'
    : pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed'
      ? 'Stopped'
      : ready?.status === 'True'
        ? 'Ready'
        : waiting
          ? 'CrashLoopBackOff'
          : 'Starting';
  const status: InstanceStatus = {
    id: pod.metadata.name,
    rollout,
    revision,
    generation: Number(pod.metadata.annotations?.[GENERATION_ANNOTATION] ?? 0) || 0,
    phase,
    host: pod.status?.podIP ?? '',
    port: pod.spec.containers[0]?.ports?.[0]?.containerPort ?? DEFAULT_CONTAINER_PORT,
    startedAt: Date.parse(pod.metadata.creationTimestamp ?? '') || 0,
    restarts: (pod.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
  };
  if (phase === 'Ready' && ready?.lastTransitionTime) status.readySince = Date.parse(ready.lastTransitionTime);
  if (waiting?.message) status.message = waiting.message;
  return status;
}

/** The ReplicaSet that owns the pod (its controller owner reference). */
function ownerOf(pod: Pod): string | undefined {
  return pod.metadata.ownerReferences?.find((o) => o.kind === 'ReplicaSet' && o.controller)?.name;
}

export class KubernetesPlatform implements Platform {
  private readonly client: KubeClient;
  /** By pod name (the instance id), across the watched namespaces. */
  private readonly pods = new Map<string, Pod>();
  private readonly lastStatus = new Map<string, string>();
  /** ReplicaSets sluice created or adopted, by `namespace/name`. */
  private readonly replicaSets = new Map<string, ReplicaSet>();
  private readonly watches = new Map<string, Promise<void>>();
  private readonly listeners: ((instance: InstanceStatus) => void)[] = [];
  private readonly waiters = new Set<Waiter>();
  /** One change of replicas at a time per ReplicaSet. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly abort = new AbortController();
  private readonly podTimeoutMs: number;

  constructor(private readonly options: KubernetesPlatformOptions) {
    this.client = options.client;
    this.podTimeoutMs = options.podTimeoutMs ?? 60_000;
  }

  /** Not ready first, then the youngest (the local platform's choice, and a ReplicaSet's own ranking). */
  planScale(request: ScaleRequest): ScalePlan {
    return planLocalScale(request);
  }

  /** The namespace of a rollout: `spec.kubernetes.namespace`, else the platform's. */
  namespaceOf(rollout: string): string {
    return this.options.specOf?.(rollout)?.kubernetes?.namespace ?? this.options.namespace;
  }

  /** The ReplicaSet of a revision as sluice creates it. */
  replicaSetOf(ref: Pick<InstanceRef, 'rollout' | 'revision'>, template: Template, replicas: number): ReplicaSet {
    const spec = this.options.specOf?.(ref.rollout) ?? ({ name: ref.rollout } as RolloutSpec);
    const pod = podTemplateOf(spec, { number: ref.revision, template } as Pick<Revision, 'number' | 'template'>);
    const hash = pod.metadata.labels[LABELS.hash] as string;
    const selector = { [LABELS.rollout]: ref.rollout, [LABELS.revision]: String(ref.revision), [LABELS.hash]: hash };
    return {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${ref.rollout}-${hash}`,
        namespace: this.namespaceOf(ref.rollout),
        labels: { [LABELS.name]: pod.metadata.labels[LABELS.name] as string, ...selector },
        annotations: { 'sluice.dev/version': template.version },
      },
      spec: { replicas, selector: { matchLabels: selector }, template: pod },
    };
  }

  /**
   * One more pod of the revision: creates its ReplicaSet with 1 replica (409: it exists, so
   * it is raised instead) or raises the replicas of the existing one by one, then resolves
   * with the pod the ReplicaSet controller made. `ref.id` is ignored: the pod's name is the id.
   */
  async start(ref: InstanceRef, template: Template): Promise<InstanceStatus> {
    const desired = this.replicaSetOf(ref, template, 1);
    const ns = desired.metadata.namespace as string;
    const name = desired.metadata.name;
    await this.watchNamespace(ns);
    return this.locked(`${ns}/${name}`, async () => {
      const before = new Set(this.podsOf(ns, name).map((p) => p.metadata.name));
      let rs: ReplicaSet;
      const existing = await this.client.get<ReplicaSet>(REPLICA_SETS, ns, name);
      if (existing === undefined) {
        try {
          rs = await this.client.create(REPLICA_SETS, ns, desired);
        } catch (err) {
          if (!(err instanceof KubeApiError && err.httpStatus === 409)) throw err;
          rs = await this.scaleBy(ns, name, 1);
        }
      } else {
        rs = await this.scaleBy(ns, name, 1, existing);
      }
      this.replicaSets.set(`${ns}/${name}`, rs);
      const pod = await this.waitForPod(`a new pod of ReplicaSet ${name} in namespace ${ns}`, () =>
        this.podsOf(ns, name).find((p) => !before.has(p.metadata.name) && !p.metadata.deletionTimestamp),
      );
      if (ref.generation) {
        const patched = await this.client.mergePatch<Pod>(PODS, ns, pod.metadata.name, {
          metadata: { annotations: { [GENERATION_ANNOTATION]: String(ref.generation) } },
        });
        this.observe(patched);
      }
      const status = statusOfPod(this.pods.get(pod.metadata.name) ?? pod);
      if (!status) throw new Error(`pod ${pod.metadata.name} lacks sluice's labels`);
      return status;
    });
  }

  /**
   * Drains, then takes that pod out of its ReplicaSet: lowest pod-deletion-cost, replicas
   * one lower, and resolves when the pod is gone. Resolves at once for an unknown id.
   */
  async stop(id: string, options: StopOptions = {}): Promise<void> {
    const pod = this.pods.get(id);
    if (!pod) return;
    const ns = pod.metadata.namespace as string;
    await options.drain?.();
    const owner = ownerOf(pod);
    if (!owner) {
      await this.client.delete(PODS, ns, id);
    } else {
      await this.locked(`${ns}/${owner}`, async () => {
        if (!this.pods.has(id)) return;
        const marked = await this.client.mergePatch<Pod>(PODS, ns, id, { metadata: { annotations: { [DELETION_COST_ANNOTATION]: LOWEST_COST } } });
        this.observe(marked);
        await this.scaleBy(ns, owner, -1);
        // The controller deletes the lowest-cost pod among equals; a pod not ready yet ranks
        // before it, so if ours is not being deleted soon, delete it by name.
        const chosen = await this.waitFor(() => !this.pods.has(id) || this.pods.get(id)?.metadata.deletionTimestamp !== undefined, 10_000);
        if (!chosen) await this.client.delete(PODS, ns, id);
      });
    }
    await this.waitFor(() => !this.pods.has(id), this.podTimeoutMs);
  }

  list(rollout?: string): InstanceStatus[] {
    const out: InstanceStatus[] = [];
    for (const pod of this.pods.values()) {
      const status = statusOfPod(pod);
      if (status && (rollout === undefined || status.rollout === rollout)) out.push(status);
    }
    return out.sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
  }

  /** The ReplicaSets sluice knows (created or adopted), as last seen. */
  knownReplicaSets(): ReplicaSet[] {
    return [...this.replicaSets.values()];
  }

  /**
   * Finds sluice's ReplicaSets (label `sluice.dev/rollout`) in the platform's namespaces and
   * watches their pods. Creates, patches and deletes nothing. Returns the pods' names.
   */
  async adopt(): Promise<string[]> {
    const namespaces = [...new Set([this.options.namespace, ...(this.options.namespaces ?? [])])];
    const ids: string[] = [];
    for (const ns of namespaces) {
      const sets = await this.client.list<ReplicaSet>(REPLICA_SETS, ns, LABELS.rollout);
      for (const rs of sets.items) this.replicaSets.set(`${ns}/${rs.metadata.name}`, rs);
      await this.watchNamespace(ns);
      const names = new Set(sets.items.map((rs) => rs.metadata.name));
      for (const pod of this.pods.values()) {
        if (pod.metadata.namespace === ns && names.has(ownerOf(pod) ?? '')) ids.push(pod.metadata.name);
      }
    }
    return ids;
  }

  onChange(listener: (instance: InstanceStatus) => void): void {
    this.listeners.push(listener);
  }

  async readLogs(id: string, _offset: number, _maxBytes: number): Promise<LogChunk> {
    const pod = this.pods.get(id);
    if (!pod) throw new UserError(`instance ${id} is not a pod sluice watches — \`sluice get rollout NAME\` lists the running ones`, 'not-found', 404);
    throw new UserError(`sluice does not read pod logs yet: kubectl logs -n ${pod.metadata.namespace} ${id}`, 'unsupported', 501);
  }

  /** Ends the watches; ReplicaSets and pods stay as they are, for `adopt()` by the next control plane. */
  async detach(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.watches.values());
    this.watches.clear();
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
  }

  private podsOf(ns: string, replicaSet: string): Pod[] {
    return [...this.pods.values()].filter((p) => p.metadata.namespace === ns && ownerOf(p) === replicaSet);
  }

  private async scaleBy(ns: string, name: string, delta: number, current?: ReplicaSet): Promise<ReplicaSet> {
    let rs = current;
    for (let attempt = 1; ; attempt++) {
      rs ??= await this.client.get<ReplicaSet>(REPLICA_SETS, ns, name);
      if (!rs) throw new UserError(`ReplicaSet ${name} in namespace ${ns} is gone: the next reconcile makes it again`, 'not-found', 404);
      const replicas = Math.max(0, (rs.spec.replicas ?? 0) + delta);
      try {
        // The resourceVersion makes the patch fail (409) if the ReplicaSet changed meanwhile
        // (its status does, often): read it again and retry.
        const patched = await this.client.mergePatch<ReplicaSet>(REPLICA_SETS, ns, name, {
          metadata: { resourceVersion: rs.metadata.resourceVersion },
          spec: { replicas },
        });
        this.replicaSets.set(`${ns}/${name}`, patched);
        return patched;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.httpStatus === 409) || attempt >= 10) throw err;
        rs = undefined;
      }
    }
  }

  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(fn);
    this.locks.set(key, next);
    try {
      return await next;
    } finally {
      if (this.locks.get(key) === next) this.locks.delete(key);
    }
  }

  /** Lists sluice's pods of the namespace, then watches them from that list on (again after every end). */
  private async watchNamespace(ns: string): Promise<void> {
    if (this.watches.has(ns) || this.abort.signal.aborted) return;
    const first = await this.client.list<Pod>(PODS, ns, LABELS.rollout);
    this.replacePods(ns, first);
    const loop = async (resourceVersion: string | undefined) => {
      let rv = resourceVersion;
      while (!this.abort.signal.aborted) {
        try {
          await this.client.watch<Pod>(PODS, ns, { resourceVersion: rv, labelSelector: LABELS.rollout, signal: this.abort.signal }, (event) => {
            rv = event.object.metadata.resourceVersion ?? rv;
            this.onEvent(event);
          });
        } catch (err) {
          if (this.abort.signal.aborted) return;
          // 410 Gone (too old a resourceVersion), a dropped connection, an API server restart: list again.
          if (!(err instanceof KubeApiError && err.httpStatus === 410)) await delay(1000, this.abort.signal);
          try {
            const again = await this.client.list<Pod>(PODS, ns, LABELS.rollout);
            this.replacePods(ns, again);
            rv = again.metadata.resourceVersion;
          } catch {
            rv = undefined;
          }
        }
      }
    };
    this.watches.set(ns, loop(first.metadata.resourceVersion));
  }

  private replacePods(ns: string, list: KubeList<Pod>): void {
    const seen = new Set(list.items.map((p) => p.metadata.name));
    for (const [name, pod] of this.pods) {
      if (pod.metadata.namespace === ns && !seen.has(name)) this.forget(pod);
    }
    for (const pod of list.items) this.observe({ ...pod, metadata: { ...pod.metadata, namespace: ns } });
  }

  private onEvent(event: WatchEvent<Pod>): void {
    if (event.type === 'BOOKMARK') return;
    if (event.type === 'DELETED') this.forget(event.object);
    else this.observe(event.object);
  }

  private observe(pod: Pod): void {
    const known = this.pods.get(pod.metadata.name);
    // An older copy (a patch answer racing the watch) must not undo a newer one.
    if (known && Number(known.metadata.resourceVersion) > Number(pod.metadata.resourceVersion)) return;
    this.pods.set(pod.metadata.name, pod);
    const status = statusOfPod(pod);
    if (status) this.notifyIfChanged(status);
    this.wake();
  }

  private forget(pod: Pod): void {
    if (!this.pods.delete(pod.metadata.name)) return;
    const status = statusOfPod(pod);
    if (status) this.notifyIfChanged({ ...status, phase: 'Stopped' });
    this.lastStatus.delete(pod.metadata.name);
    this.wake();
  }

  private notifyIfChanged(status: InstanceStatus): void {
    const key = JSON.stringify([status.phase, status.host, status.generation, status.restarts, status.readySince]);
    if (this.lastStatus.get(status.id) === key) return;
    this.lastStatus.set(status.id, key);
    for (const listener of this.listeners) {
      try {
        listener(status);
      } catch (err) {
        console.error(`sluice: onChange listener failed for ${status.id}:`, err);
      }
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      if (w.check()) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  /** Whether `check` held within `timeoutMs`, re-checked on every watch event. */
  private waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve(check());
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private async waitForPod(what: string, find: () => Pod | undefined): Promise<Pod> {
    await this.waitFor(() => find() !== undefined, this.podTimeoutMs);
    const pod = find();
    if (!pod) throw new UserError(`timed out after ${this.podTimeoutMs / 1000} s waiting for ${what} (is the controller manager running?)`, 'timeout', 504);
    return pod;
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

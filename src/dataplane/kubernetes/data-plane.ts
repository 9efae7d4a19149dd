/**
 * A Kubernetes traffic renderer (services.ts, gateway-api.ts, istio.ts, nginx-ingress.ts) as
 * a data plane: apply(generation, listeners) groups the listeners by rollout, renders every
 * rollout (a refusal rejects before anything is written), server-side applies the objects
 * (field manager sluice; Services before the routes that name them), then deletes what this
 * plane wrote earlier and no longer renders (routes before Services): a rollout gone from
 * the table loses its objects. Each object carries sluice's labels (common.ts) plus
 * `sluice.dev/data-plane: <kind>`, so a plane only ever lists and deletes its own (read
 * again just before the delete: another plane may have taken the name over).
 *
 * API load at 10k rollouts: an object whose rendering equals what this process last applied
 * is not written again, and what exists is listed once (the first apply with listeners,
 * and for each namespace when it first appears), not on every table; after a restart the
 * cache is empty, so everything is applied once more and orphans of rollouts deleted
 * meanwhile are found by that list. An object changed or deleted by someone else is put
 * back only when its rendering changes, or after a restart.
 *
 * These planes do not see requests: traffic() is empty, window()/samples() reject (the
 * rollout's analysis must query Prometheus), knows() is false.
 */
import type { ListenerRoutes } from '../../core/route-table.js';
import type { ApplyOutcome, RevisionSampleList, RevisionTraffic, WindowStats } from '../../core/traffic-router.js';
import { KubeApiError, type KubeClient, type Resource } from '../../kube/client.js';
import { UserError } from '../../util/errors.js';
import type { DataPlaneAdapter, DataPlaneContext } from '../adapter.js';
import { type KubeObject, MANAGED_BY, type TrafficInput } from './common.js';

/** The label naming the data plane that wrote an object (what its prune lists by). */
export const DATA_PLANE_LABEL = 'sluice.dev/data-plane';

export const SERVICES_RESOURCE: Resource = { group: '', version: 'v1', plural: 'services' };
export const HTTP_ROUTES: Resource = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };
export const DESTINATION_RULES: Resource = { group: 'networking.istio.io', version: 'v1', plural: 'destinationrules' };
export const VIRTUAL_SERVICES: Resource = { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices' };
export const INGRESSES: Resource = { group: 'networking.k8s.io', version: 'v1', plural: 'ingresses' };

/** What one kind is: its renderer, its settings when a spec gives none, and the object kinds it writes, in apply order. */
export interface KubeTrafficKind<S> {
  name: string;
  render(input: TrafficInput<S>): KubeObject[];
  /** Undefined: the kind needs settings (the spec check refuses a spec without them). */
  defaults?: S;
  /** By object kind (`Service`, `HTTPRoute`…), Services first: applied in this order, deleted in the reverse. */
  resources: [kind: string, resource: Resource][];
  /** What to write in `traffic.<name>` (for the error when the settings are missing). */
  settingsHint: string;
}

/** How many rollouts are written at once (each rollout's objects in order). */
const CONCURRENCY = 8;

const key = (kind: string, namespace: string, name: string) => `${kind}/${namespace}/${name}`;

interface Cached {
  kind: string;
  namespace: string;
  name: string;
  /** The JSON last applied; undefined: found on the API server, content not known (re-applied if rendered). */
  json?: string;
}

/** An adapter without a cluster connection: refuses any listener, does nothing for none. */
export class NoClusterDataPlane implements DataPlaneAdapter {
  constructor(private readonly name: string) {}
  async apply(_generation: number, listeners: ListenerRoutes[]): Promise<ApplyOutcome> {
    if (listeners.length > 0) {
      const rollouts = [...new Set(listeners.map((l) => l.rollout))].sort();
      throw new UserError(
        `data plane ${this.name} (rollout ${rollouts.join(', ')}) writes Kubernetes objects, but this control plane has no cluster connection: start sluice with --kubeconfig`,
        'unavailable',
        503,
      );
    }
    return { failed: [] };
  }
  knows(): boolean {
    return false;
  }
  async waitIdle(): Promise<boolean> {
    return true;
  }
  traffic(): RevisionTraffic[] {
    return [];
  }
  window(): Promise<WindowStats> {
    return Promise.reject(notMeasured(this.name));
  }
  samples(): Promise<RevisionSampleList> {
    return Promise.reject(notMeasured(this.name));
  }
  async shutdown(): Promise<void> {}
  close(): void {}
}

export function notMeasured(name: string): UserError {
  return new UserError(`data plane ${name} does not measure requests: give the rollout a prometheus analysis (docs/kubernetes-traffic.md)`, 'unsupported', 501);
}

export class KubeTrafficDataPlane<S> implements DataPlaneAdapter {
  /** What this plane wrote (or found it had written), by `kind/namespace/name`. */
  private readonly cache = new Map<string, Cached>();
  /** Namespaces whose objects of this plane were listed since start. */
  private readonly listed = new Set<string>();
  private lock: Promise<unknown> = Promise.resolve();
  private readonly resourceOf: Map<string, Resource>;

  constructor(
    private readonly kind: KubeTrafficKind<S>,
    private readonly kube: { client: KubeClient; namespace: string },
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.resourceOf = new Map(kind.resources);
  }

  /** Writes are serialized: a table is applied whole before the next one starts. */
  apply(generation: number, listeners: ListenerRoutes[]): Promise<ApplyOutcome> {
    const next = this.lock.then(() => this.applyNow(generation, listeners));
    this.lock = next.catch(() => undefined);
    return next.then(() => ({ failed: [] }));
  }

  private async applyNow(_generation: number, listeners: ListenerRoutes[]): Promise<void> {
    // Nothing to serve and nothing written since start: no API call (every plane gets every table).
    if (listeners.length === 0 && this.cache.size === 0) return;
    const rendered = this.renderAll(listeners);
    const namespaces = new Set([...rendered.map((r) => r.namespace), ...[...this.cache.values()].map((c) => c.namespace)]);
    if (listeners.length > 0) namespaces.add(this.kube.namespace);
    for (const ns of namespaces) if (!this.listed.has(ns)) await this.listNamespace(ns);

    await pool(rendered, CONCURRENCY, (r) => this.applyRollout(r.rollout, r.objects));

    const wanted = new Set(rendered.flatMap((r) => r.objects.map((o) => key(o.kind, o.metadata.namespace, o.metadata.name))));
    const order = this.kind.resources.map(([k]) => k).reverse();
    const stale = [...this.cache.entries()]
      .filter(([k]) => !wanted.has(k))
      .sort(([, a], [, b]) => order.indexOf(a.kind) - order.indexOf(b.kind) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const [k, c] of stale) {
      const resource = this.resourceOf.get(c.kind)!;
      try {
        // Another plane may have taken the name over (a rollout moved between kinds: the same Service names).
        const now = await this.kube.client.get(resource, c.namespace, c.name);
        if (now && now.metadata.labels?.[DATA_PLANE_LABEL] === this.kind.name) await this.kube.client.delete(resource, c.namespace, c.name);
      } catch (err) {
        throw new UserError(
          `data plane ${this.kind.name}: could not delete ${c.kind} ${c.name} in namespace ${c.namespace}, which no rollout uses any more: ${oneLine(err)}`,
          err instanceof UserError ? err.code : 'kubernetes',
          err instanceof UserError ? err.status : 502,
        );
      }
      this.cache.delete(k);
    }
    if (stale.length > 0)
      this.log(
        `${this.kind.name}: deleted ${stale
          .slice(0, 5)
          .map(([, c]) => `${c.kind} ${c.namespace}/${c.name}`)
          .join(', ')}${stale.length > 5 ? ` and ${stale.length - 5} more` : ''} (no rollout uses them any more)`,
      );
  }

  /** Every rollout's objects, with this plane's label; throws the first refusal before anything is written. */
  private renderAll(listeners: ListenerRoutes[]): { rollout: string; namespace: string; objects: KubeObject[] }[] {
    const byRollout = new Map<string, ListenerRoutes[]>();
    for (const l of listeners) byRollout.set(l.rollout, [...(byRollout.get(l.rollout) ?? []), l]);
    return [...byRollout].map(([rollout, ls]) => {
      const withSettings = ls.find((l) => l.dataPlaneSettings !== undefined);
      const settings = (withSettings?.dataPlaneSettings as S | undefined) ?? this.kind.defaults;
      if (settings === undefined) {
        throw new UserError(
          `data plane ${this.kind.name}: rollout ${rollout} gives no traffic.${this.kind.name} settings; add ${this.kind.settingsHint}`,
          'invalid',
          400,
        );
      }
      const namespace = namespaceOf(ls, this.kube.namespace);
      const objects = this.kind.render({ rollout, namespace, listeners: ls, settings }).map((o) => this.labelled(o));
      for (const o of objects) if (!this.resourceOf.has(o.kind)) throw new Error(`data plane ${this.kind.name} rendered a ${o.kind}, which it does not prune`);
      return { rollout, namespace, objects };
    });
  }

  private labelled(o: KubeObject): KubeObject {
    return { ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, [DATA_PLANE_LABEL]: this.kind.name } } };
  }

  /** What this plane wrote in a namespace (by its labels), into the cache; a CRD not installed means none. */
  private async listNamespace(namespace: string): Promise<void> {
    const selector = `${MANAGED_BY}=sluice,${DATA_PLANE_LABEL}=${this.kind.name}`;
    for (const [kind, resource] of this.kind.resources) {
      let items: { metadata: { name: string } }[];
      try {
        items = (await this.kube.client.list(resource, namespace, selector)).items;
      } catch (err) {
        if (err instanceof KubeApiError && err.httpStatus === 404 && resource.group !== '') continue;
        throw new UserError(`data plane ${this.kind.name}: cannot read what it wrote: ${oneLine(err)}`, 'unavailable', 503);
      }
      for (const item of items) {
        const k = key(kind, namespace, item.metadata.name);
        if (!this.cache.has(k)) this.cache.set(k, { kind, namespace, name: item.metadata.name });
      }
    }
    this.listed.add(namespace);
  }

  /** One rollout's objects in order (Services first); the first refusal rejects, saying what was written before it. */
  private async applyRollout(rollout: string, objects: KubeObject[]): Promise<void> {
    const order = this.kind.resources.map(([k]) => k);
    const sortedObjects = [...objects].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
    const written: string[] = [];
    for (const o of sortedObjects) {
      const k = key(o.kind, o.metadata.namespace, o.metadata.name);
      const json = JSON.stringify(o);
      const before = this.cache.get(k);
      if (before?.json === json) continue;
      try {
        await this.kube.client.apply(this.resourceOf.get(o.kind)!, o.metadata.namespace, o as never);
      } catch (err) {
        // Its state is unknown now: the next table writes it again.
        if (before) before.json = undefined;
        const half = written.length > 0 ? `; rollout ${rollout} is half-applied (written before it: ${written.join(', ')}), the next route table retries` : '';
        throw new UserError(
          `data plane ${this.kind.name}: rollout ${rollout}: ${o.kind} ${o.metadata.name} in namespace ${o.metadata.namespace} was not applied: ${oneLine(err)}${half}`,
          err instanceof UserError ? err.code : 'kubernetes',
          err instanceof UserError ? err.status : 502,
        );
      }
      this.cache.set(k, { kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name, json });
      written.push(`${o.kind} ${o.metadata.name}`);
    }
  }

  knows(): boolean {
    return false;
  }

  /** Nothing to wait for here: the peer (a gateway, a mesh, ingress-nginx) drains on its own. */
  async waitIdle(): Promise<boolean> {
    return true;
  }

  /** These planes do not count requests (the peer does, in its own metrics). */
  traffic(): RevisionTraffic[] {
    return [];
  }

  window(): Promise<WindowStats> {
    return Promise.reject(notMeasured(this.kind.name));
  }

  samples(): Promise<RevisionSampleList> {
    return Promise.reject(notMeasured(this.kind.name));
  }

  /** Nothing runs: the objects stay and keep routing. */
  async shutdown(): Promise<void> {}

  close(): void {}

  /** For tests: how many objects the cache holds. */
  get cachedObjects(): number {
    return this.cache.size;
  }
}

/** The namespace of a rollout's objects: its `spec.kubernetes.namespace` (`ListenerRoutes.namespace`), else the control plane's. */
export function namespaceOf(listeners: ListenerRoutes[], fallback: string): string {
  return listeners.find((l) => l.namespace !== undefined)?.namespace ?? fallback;
}

/** Opens a kind: against the control plane's cluster, or refusing every listener without one. */
export function openKind<S>(kind: KubeTrafficKind<S>, ctx: DataPlaneContext): DataPlaneAdapter {
  return ctx.kube ? new KubeTrafficDataPlane(kind, ctx.kube, ctx.log) : new NoClusterDataPlane(kind.name);
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}

/** Runs `f` over `items`, at most `n` at a time; rejects with the first failure once the running ones settled. */
async function pool<T>(items: T[], n: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await f(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure) throw failure.err;
}

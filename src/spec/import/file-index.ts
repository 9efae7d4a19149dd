import { isMap, isScalar, type Document, type Node } from 'yaml';

/** A Deployment a Canary's targetRef or a Rollout's workloadRef names: its pod template comes along. */
export const DEPLOYMENT = 'apps/v1 Deployment';

export function headerOf(root: Node): { key: string; name?: string } | undefined {
  if (!isMap(root)) return undefined;
  const get = (k: string) => root.items.find((p) => isScalar(p.key) && p.key.value === k)?.value;
  const api = get('apiVersion');
  const kind = get('kind');
  if (!isScalar(api) || !isScalar(kind)) return undefined;
  const meta = get('metadata');
  const name = isMap(meta) ? meta.items.find((p) => isScalar(p.key) && p.key.value === 'name')?.value : undefined;
  return { key: `${String(api.value)} ${String(kind.value)}`, ...(isScalar(name) ? { name: String(name.value) } : {}) };
}

/** What a peer document may look up elsewhere in its file: Deployments and Flagger MetricTemplates. */
export class FileIndex {
  private readonly deployments = new Map<string, { root: Node; used: boolean }>();
  readonly metricTemplates = new Map<string, { root: Node; doc: Document }>();
  /** Warnings for the documents left out (Services, Istio and Gateway API routes…). */
  readonly skipped: string[] = [];

  constructor(docs: readonly Document[]) {
    for (const doc of docs) {
      const root = doc.contents as Node | null;
      const h = root ? headerOf(root) : undefined;
      if (!root || !h?.name) continue;
      if (h.key === DEPLOYMENT) this.deployments.set(h.name, { root, used: false });
      if (h.key === 'flagger.app/v1beta1 MetricTemplate') this.metricTemplates.set(h.name, { root, doc });
    }
  }

  /** The named Deployment's `spec.template` and `spec.replicas` nodes; marks it used. */
  deployment(name: string): { template: Node; replicas?: Node; rest: Array<{ key: Node; name: string; value: Node }> } | undefined {
    const d = this.deployments.get(name);
    if (!d || !isMap(d.root)) return undefined;
    const spec = d.root.items.find((p) => isScalar(p.key) && p.key.value === 'spec')?.value;
    if (!isMap(spec)) return undefined;
    const get = (k: string) => spec.items.find((p) => isScalar(p.key) && p.key.value === k)?.value as Node | undefined;
    const template = get('template');
    if (!template) return undefined;
    d.used = true;
    const replicas = get('replicas');
    const rest = spec.items.flatMap((p) => {
      const key = String(isScalar(p.key) ? p.key.value : '');
      return key === 'template' || key === 'replicas' ? [] : [{ key: p.key as Node, name: key, value: p.value as Node }];
    });
    return { template, rest, ...(replicas ? { replicas } : {}) };
  }

  /** Whether a Canary or Rollout of the file took this Deployment's pod template. */
  used(name: string): boolean {
    return this.deployments.get(name)?.used === true;
  }

  isDeployment(root: Node): boolean {
    return headerOf(root)?.key === DEPLOYMENT;
  }
}

/**
 * The traffic resources peer manifests come with: sluice's router does their work, so they
 * are left out with a warning rather than refused.
 */
export function isTrafficResource(key: string): boolean {
  const [api = '', kind = ''] = key.split(' ');
  if (key === 'v1 Service' || key === 'networking.k8s.io/v1 Ingress') return true;
  if (api.startsWith('networking.istio.io/') && ['VirtualService', 'DestinationRule', 'Gateway'].includes(kind)) return true;
  return api.startsWith('gateway.networking.k8s.io/') && ['HTTPRoute', 'Gateway'].includes(kind);
}

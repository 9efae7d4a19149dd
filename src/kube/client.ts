/**
 * A tiny typed REST client of the Kubernetes API over HTTPS (undici), shared by the
 * Kubernetes platform, the Kubernetes data planes and the controller (issue 17): get, list,
 * create, update (PUT, optimistic concurrency), merge-patch, server-side apply, delete and
 * watch. `namespace` undefined addresses a cluster-scoped collection (namespaces, CRDs). Why not @kubernetes/client-node: its 2.x
 * needs undici 8, i.e. Node ≥ 22.19 (sluice runs on Node 20), and brings ~15 packages for
 * the few verbs used here; kubeconfig loading is src/kube/kubeconfig.ts.
 * Every failure is one UserError line naming the verb, the object and the API's reason:
 *
 *   Kubernetes API: cannot create replicasets.apps web-3d3602b572 in namespace shop: namespaces "shop" not found (NotFound, 404)
 *   Kubernetes API: cannot list replicasets.apps in namespace shop: forbidden: User "ci" cannot list resource "replicasets" … (Forbidden, 403)
 *   the Kubernetes API at https://10.0.0.1:6443 is unreachable (ECONNREFUSED) while trying to list pods in namespace shop
 */
import { Agent, fetch } from 'undici';
import { UserError } from '../util/errors.js';

export interface KubeClientOptions {
  /** https://host:port of the API server. */
  server: string;
  /**
   * A bearer token, or a function giving the current one (a rotated service-account token);
   * absent: authenticate with the client certificate, or anonymously.
   */
  token?: string | (() => string);
  /** PEM of the CA that signed the API server's certificate; absent: the system's CAs. */
  ca?: string;
  /** PEM client certificate and key (kubeconfig `client-certificate(-data)`/`client-key(-data)`). */
  cert?: string;
  key?: string;
  /** kubeconfig `insecure-skip-tls-verify`: the server's certificate is not checked. */
  insecureSkipTlsVerify?: boolean;
  /** Server-side apply's field manager (default `sluice`). */
  fieldManager?: string;
  /** More headers on every request (`Impersonate-User: system:serviceaccount:ns:sa`, a tracing header). */
  headers?: Record<string, string>;
}

/** Which collection: `{ group: 'apps', version: 'v1', plural: 'replicasets' }`; group '' is the core API. */
export interface Resource {
  group: string;
  version: string;
  plural: string;
}

export const PODS: Resource = { group: '', version: 'v1', plural: 'pods' };
export const REPLICA_SETS: Resource = { group: 'apps', version: 'v1', plural: 'replicasets' };

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface KubeList<T> {
  metadata: { resourceVersion?: string };
  items: T[];
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

interface Status {
  kind?: string;
  reason?: string;
  message?: string;
  code?: number;
}

/** An API error with its HTTP status and reason kept for callers that handle one (404, 409, 410). */
export class KubeApiError extends UserError {
  constructor(
    message: string,
    readonly httpStatus: number,
    readonly reason: string,
  ) {
    super(message, httpStatus === 404 ? 'not-found' : httpStatus === 403 ? 'forbidden' : httpStatus === 409 ? 'conflict' : 'kubernetes', 502);
    this.name = 'KubeApiError';
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function resourceName(r: Resource): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

export class KubeClient {
  private readonly agent: Agent;
  readonly server: string;
  private readonly fieldManager: string;

  constructor(private readonly options: KubeClientOptions) {
    this.server = options.server.replace(/\/+$/, '');
    const connect = {
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
      ...(options.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
    };
    this.agent = new Agent(Object.keys(connect).length > 0 ? { connect } : {});
    this.fieldManager = options.fieldManager ?? 'sluice';
  }

  /** The path of a collection, or of one object in it. */
  path(r: Resource, namespace: string | undefined, name?: string, subresource?: string): string {
    const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
    const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
    const one = name === undefined ? '' : `/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ''}`;
    return `${base}${ns}/${r.plural}${one}`;
  }

  /** The object, or undefined when the API answers 404. */
  async get<T extends KubeObject>(r: Resource, namespace: string | undefined, name: string): Promise<T | undefined> {
    try {
      return await this.call<T>('GET', 'get', r, namespace, name);
    } catch (err) {
      if (err instanceof KubeApiError && err.httpStatus === 404) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject>(r: Resource, namespace: string | undefined, labelSelector?: string): Promise<KubeList<T>> {
    const query = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    return this.call<KubeList<T>>('GET', 'list', r, namespace, undefined, { query });
  }

  async create<T extends KubeObject>(r: Resource, namespace: string | undefined, object: T): Promise<T> {
    return this.call<T>('POST', 'create', r, namespace, undefined, {
      body: JSON.stringify(object),
      contentType: 'application/json',
      what: object.metadata.name,
    });
  }

  /**
   * Replaces the object (PUT). With `metadata.resourceVersion` set this is optimistic
   * concurrency: someone else's write since that version fails with 409 Conflict
   * (KubeApiError.httpStatus), and the caller reads again.
   */
  async update<T extends KubeObject>(r: Resource, namespace: string | undefined, object: T, subresource?: string): Promise<T> {
    return this.call<T>('PUT', 'update', r, namespace, object.metadata.name, {
      body: JSON.stringify(object),
      contentType: 'application/json',
      subresource,
    });
  }

  /** A JSON merge patch (RFC 7386). */
  async mergePatch<T extends KubeObject>(r: Resource, namespace: string | undefined, name: string, patch: unknown, subresource?: string): Promise<T> {
    return this.call<T>('PATCH', 'patch', r, namespace, name, { body: JSON.stringify(patch), contentType: 'application/merge-patch+json', subresource });
  }

  /**
   * Server-side apply as `fieldManager` (JSON is YAML), forcing ownership of the fields sluice
   * sets; `subresource: 'status'` applies the status of an object with a status subresource.
   */
  async apply<T extends KubeObject>(r: Resource, namespace: string | undefined, object: T, subresource?: string): Promise<T> {
    const query = `?fieldManager=${encodeURIComponent(this.fieldManager)}&force=true`;
    return this.call<T>('PATCH', 'patch', r, namespace, object.metadata.name, {
      body: JSON.stringify(object),
      contentType: 'application/apply-patch+yaml',
      query,
      subresource,
    });
  }

  /** Deletes the object; an object already gone is no error. */
  async delete(r: Resource, namespace: string | undefined, name: string): Promise<void> {
    try {
      await this.call('DELETE', 'delete', r, namespace, name);
    } catch (err) {
      if (err instanceof KubeApiError && err.httpStatus === 404) return;
      throw err;
    }
  }

  /**
   * Watches a collection from `resourceVersion` and calls `onEvent` per event (one JSON
   * object a line of the chunked response). Resolves when the server ends the watch or
   * `signal` aborts; rejects on an API error (410 Gone: list again and watch from there).
   */
  async watch<T extends KubeObject>(
    r: Resource,
    namespace: string | undefined,
    opts: { resourceVersion?: string; labelSelector?: string; signal: AbortSignal },
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<void> {
    const params = new URLSearchParams({ watch: '1', allowWatchBookmarks: 'true' });
    if (opts.resourceVersion) params.set('resourceVersion', opts.resourceVersion);
    if (opts.labelSelector) params.set('labelSelector', opts.labelSelector);
    const res = await this.send('GET', `${this.path(r, namespace)}?${params}`, 'watch', r, namespace, undefined, {}, opts.signal);
    if (!res.ok) throw this.apiError(res.status, await res.text(), 'watch', r, namespace, undefined);
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let nl = buffer.indexOf('\n');
        while (nl >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          nl = buffer.indexOf('\n');
          if (!line) continue;
          const event = JSON.parse(line) as WatchEvent<T>;
          if (event.type === 'ERROR') {
            const status = event.object as unknown as Status;
            throw this.apiError(status.code ?? 500, JSON.stringify(status), 'watch', r, namespace, undefined);
          }
          onEvent(event);
        }
      }
    } catch (err) {
      if (opts.signal.aborted) return;
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async call<T>(
    method: string,
    verb: string,
    r: Resource,
    namespace: string | undefined,
    name: string | undefined,
    o: { body?: string; contentType?: string; query?: string; what?: string; subresource?: string } = {},
  ): Promise<T> {
    const res = await this.send(method, `${this.path(r, namespace, name, o.subresource)}${o.query ?? ''}`, verb, r, namespace, name ?? o.what, o);
    const text = await res.text();
    if (!res.ok) throw this.apiError(res.status, text, verb, r, namespace, name ?? o.what);
    return JSON.parse(text) as T;
  }

  private async send(
    method: string,
    path: string,
    verb: string,
    r: Resource,
    namespace: string | undefined,
    name: string | undefined,
    o: { body?: string; contentType?: string },
    signal?: AbortSignal,
  ) {
    try {
      return await fetch(`${this.server}${path}`, {
        method,
        dispatcher: this.agent,
        signal,
        headers: {
          ...this.options.headers,
          ...this.authorization(),
          accept: 'application/json',
          ...(o.contentType ? { 'content-type': o.contentType } : {}),
        },
        body: o.body,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new UserError(
        `the Kubernetes API at ${this.server} is unreachable (${oneLine(String(why))}) while trying to ${verb} ${describe(r, namespace, name)}`,
        'unavailable',
        503,
      );
    }
  }

  private authorization(): { authorization?: string } {
    const { token } = this.options;
    const value = typeof token === 'function' ? token() : token;
    return value ? { authorization: `Bearer ${value}` } : {};
  }

  private apiError(status: number, text: string, verb: string, r: Resource, namespace: string | undefined, name: string | undefined): KubeApiError {
    let parsed: Status | undefined;
    try {
      parsed = JSON.parse(text) as Status;
    } catch {
      // not a Status object
    }
    const reason = parsed?.reason ?? (status === 403 ? 'Forbidden' : status === 404 ? 'NotFound' : `HTTP ${status}`);
    const message = oneLine(parsed?.message ?? text).slice(0, 400) || 'no message';
    return new KubeApiError(`Kubernetes API: cannot ${verb} ${describe(r, namespace, name)}: ${message} (${reason}, ${status})`, status, reason);
  }
}

function describe(r: Resource, namespace: string | undefined, name: string | undefined): string {
  return `${resourceName(r)}${name ? ` ${name}` : ''}${namespace === undefined ? '' : ` in namespace ${namespace}`}`;
}

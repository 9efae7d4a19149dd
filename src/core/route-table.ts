import type { ExperimentRoutes } from './experiment.js';

/**
 * The one contract between the engine and every data plane (the builtin router today,
 * nginx and Gateway API later). The engine computes a RouteTable; a data plane makes the
 * network behave like it. Plain JSON so it can be persisted and sent over HTTP as is.
 */
export interface Endpoint {
  /** Instance id; stable for the instance's life, used for draining. */
  id: string;
  host: string;
  port: number;
}

/** A revision's backends as the data plane sees them: only ready, non-draining instances. */
export interface Backend {
  /** Revision number within the rollout. */
  revision: number;
  /** The revision's version label (for metrics and headers). */
  version: string;
  /**
   * A/B: the variant this revision plays ("a", "b"...), sent in `variantHeader`. Exposures are
   * counted per revision (RevisionTraffic.requests, .newUsers); the control plane maps them to variants.
   */
  variant?: string;
  endpoints: Endpoint[];
}

export interface WeightedTarget {
  revision: number;
  /** Share of requests, 0..100. The weights of a split sum to 100. */
  weight: number;
}

/** Request conditions; every one given must hold (an empty match matches everything). */
export interface RequestMatch {
  header?: { name: string; exact?: string; prefix?: string; regex?: string };
  cookie?: { name: string; exact?: string; regex?: string };
  query?: { name: string; exact?: string; regex?: string };
  pathPrefix?: string;
  /** Client address or CIDR (IPv4 or IPv6). */
  sourceCidr?: string;
  /** Request methods (upper case); absent = any. */
  methods?: string[];
}

/**
 * Ordered match rules, tried before the weighted split; the first that matches picks the
 * target. Exactly one of `revision` (everything matching goes there) or `split` (matching
 * requests are split by these weights — sticky like the default split when the listener
 * is — e.g. premium users 50/50 while everyone else stays on stable).
 */
export interface MatchRule extends RequestMatch {
  name: string;
  revision?: number;
  split?: WeightedTarget[];
}

/**
 * Copies a share of requests to another revision (Argo's setMirrorRoute, the shadow
 * strategy). The client always gets the primary's answer; copies are sent asynchronously
 * from a bounded queue (overflow is dropped and counted) and never delay the primary.
 */
export interface MirrorRoute {
  name: string;
  /** Revision receiving the copies; it needs a backend in `backends`. */
  revision: number;
  /** Share of matching requests copied, 0..100 (deterministic: within one request of it over any run). */
  percent: number;
  /** Which requests may be copied. `methods` defaults to GET, HEAD, OPTIONS (idempotent only). */
  match?: RequestMatch;
  /** Copies waiting or in flight at most; beyond it a copy is dropped (and counted). */
  queueLimit: number;
  /** Largest request body copied (bytes); a larger request is not mirrored (counted). */
  maxBodyBytes: number;
  /**
   * Compare the copy's response with the primary's: status, then the JSON body (when both
   * are JSON) except `ignorePaths` (JSONPath-like `$.a.b`, `$.items[*].id`), else the raw
   * bytes. A mismatch is counted per revision: `sluice_mirror_mismatches_total`, /window's
   * `mismatches`/`mismatchRate`, the builtin analysis metric `mismatch-rate`, and the last 20
   * in GET /mismatches. Absent: copies are sent and their status/latency recorded, not compared.
   * Copies are recorded in the shadow revision's samples (/window), never in client traffic
   * (/traffic, sluice_requests_total). See src/router/mirror.ts.
   */
  compare?: { ignorePaths: string[] };
}

/**
 * How the router shields clients from a bad instance. Every field optional; absent = off /
 * default. A listener without `resilience` (and `hold`) pays nothing for it.
 */
export interface Resilience {
  /**
   * Passive outlier ejection: `consecutiveFailures` failures in a row (5xx answers, connect
   * errors, resets, upstream timeouts; any other answer resets the count) take an endpoint
   * out of rotation for `baseEjectionMs` × (times ejected, at most 10×; forgiven after a
   * healthy spell of 20 × baseEjectionMs). At most `maxEjectedPercent` of a revision's
   * endpoints are ejected at once, rounded down, but one may be when the revision has 2+
   * endpoints (0 % never ejects). It returns on its own when the time is up. If every
   * endpoint of a revision is ejected they all serve anyway. State is kept by endpoint id,
   * so it survives route updates that keep the endpoint.
   */
  outlier?: { consecutiveFailures: number; baseEjectionMs: number; maxEjectedPercent: number };
  /**
   * Circuit breaking: at most `maxConnections` requests in flight per endpoint (its count
   * across every listener that routes to it); when every endpoint of the revision is full,
   * a request waits in a FIFO of at most `maxPending` per (listener, revision), for at most
   * `queueTimeoutMs`; queue full or wait over: 503 + `Retry-After: 1` (counted in
   * sluice_router_overflow_total). A retry may exceed the limit by one.
   */
  limits?: { maxConnections: number; maxPending: number; queueTimeoutMs: number };
  /**
   * Upstream timeouts. `connectMs` (default 10 s; undici times it with ~0.5–1 s
   * granularity): a connect timeout counts as "never connected", so the request is retried
   * on another endpoint. `responseMs` (default the
   * router's upstream timeout, 60 s): silence allowed before the response head (then 504)
   * and between body chunks (then the response is cut). Upgrades keep the defaults.
   */
  timeouts?: { connectMs?: number; responseMs?: number };
  /**
   * Read the whole request body (up to `maxBytes`, else 413 and the connection is closed)
   * before choosing an endpoint, so a slow upload never holds an instance that is about to
   * drain; a buffered body of an idempotent request can be retried like a request without one.
   */
  bufferRequests?: { maxBytes: number };
}

export interface Maintenance {
  status: number;
  body: string;
  retryAfterSeconds: number;
}

export type ListenerRole = 'main' | 'preview' | 'canary';

/**
 * Keeps a user on one revision of the weighted split (match rules still come first).
 * Exactly one key: `cookie`, a bucket the router draws for a new client and sets in that
 * cookie (Max-Age defaults to 86400 s, Flagger's default); `header`, a hash of that request
 * header's value (a user id); `hashCookie`, a hash of that application cookie's value (a
 * session id). A request without its key gets the plain weighted split. How buckets map
 * to revisions, so that raising a canary's weight only moves users onto the canary: see
 * BucketSplit in split.ts.
 */
export interface Stickiness {
  cookie?: { name: string; maxAgeSeconds?: number };
  header?: string;
  hashCookie?: string;
}

/** Everything one listening address does. */
export interface ListenerRoutes {
  /** host:port */
  listen: string;
  rollout: string;
  role: ListenerRole;
  balancer: 'round-robin' | 'least-requests';
  rules: MatchRule[];
  /** Weighted default split. Empty, or all backends empty: the maintenance answer. */
  split: WeightedTarget[];
  backends: Backend[];
  /** Served (instead of a bare 503) when the chosen revision has no ready instance. */
  maintenance?: Maintenance;
  /** Sticky split; absent, each request is split on its own. */
  sticky?: Stickiness;
  /** Copies of requests to other revisions (shadow / setMirrorRoute). */
  mirrors?: MirrorRoute[];
  /** A/B: response header naming the variant that answered (from `Backend.variant`). */
  variantHeader?: string;
  /**
   * An experiment (A/B test with metrics, src/core/experiment.ts): the router assigns users
   * by the salted hash of their key instead of `sticky`, records exposures and goals, and
   * takes the app's events for it. Main listener only.
   */
  experiment?: ExperimentRoutes;
  resilience?: Resilience;
  /**
   * Operator override. `stopped`: every request gets the maintenance answer (`sluice
   * stop-traffic`). `paused`: new requests wait (up to `pauseTimeoutMs`, default 30000,
   * then the maintenance answer) until a table without the pause arrives (kamal-proxy's
   * pause), then go on under that table; requests already in flight finish; a waiting
   * request whose client leaves is dropped. The answer is `maintenance` when given, else
   * 503 "… stopped/paused by the operator" with `Retry-After: 1`. Absent: serving.
   */
  hold?: { mode: 'stopped' | 'paused'; pauseTimeoutMs?: number };
  /** The data plane serving this listener (a name in src/dataplane/registry.ts); absent = the builtin router. */
  dataPlane?: string;
  /** That data plane's own settings (`spec.traffic.<name>`), opaque to the engine and to the builtin router. */
  dataPlaneSettings?: unknown;
  /** `spec.kubernetes.namespace`, for a data plane (the Kubernetes ones write the rollout's objects there); absent: the control plane's. */
  namespace?: string;
}

export interface RouteTable {
  /** Monotonic; a data plane ignores a table older than the one it has. */
  generation: number;
  listeners: ListenerRoutes[];
}

export function emptyRouteTable(): RouteTable {
  return { generation: 0, listeners: [] };
}

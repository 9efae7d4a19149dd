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
  endpoints: Endpoint[];
}

export interface WeightedTarget {
  revision: number;
  /** Share of requests, 0..100. The weights of a split sum to 100. */
  weight: number;
}

/**
 * Ordered match rules, tried before the weighted split; the first that matches picks the
 * revision. The builtin router evaluates them; the core engine emits none yet.
 */
export interface MatchRule {
  name: string;
  header?: { name: string; exact?: string; prefix?: string; regex?: string };
  cookie?: { name: string; exact?: string; regex?: string };
  query?: { name: string; exact?: string; regex?: string };
  pathPrefix?: string;
  sourceCidr?: string;
  revision: number;
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
}

export interface RouteTable {
  /** Monotonic; a data plane ignores a table older than the one it has. */
  generation: number;
  listeners: ListenerRoutes[];
}

export function emptyRouteTable(): RouteTable {
  return { generation: 0, listeners: [] };
}

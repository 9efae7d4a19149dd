import type { ListenerRole, RouteTable } from './route-table.js';

/** Per-revision counters a data plane reports (cumulative since it started). */
export interface RevisionTraffic {
  listen: string;
  rollout: string;
  revision: number;
  /** Requests answered to clients (mirrored copies never count here). */
  requests: number;
  errors5xx: number;
  /**
   * Exposures: new clients the router gave its sticky cookie (Stickiness.cookie) that put
   * them on this revision. 0 without cookie stickiness. With `requests`, what the control
   * plane stores per A/B variant (Backend.variant).
   */
  newUsers: number;
}

/** A listener of an applied table that the data plane could not open (bind error, bad host). */
export interface ListenerFailure {
  rollout: string;
  listen: string;
  role: ListenerRole;
  /** One line: what failed, e.g. "listen EADDRINUSE 127.0.0.1:8080". */
  error: string;
}

/**
 * What a data plane did with a table it accepted. The table is in effect for every other
 * listener; a failed listener serves nothing (its address stays closed) and only its own
 * rollout is affected.
 */
export interface ApplyOutcome {
  failed: ListenerFailure[];
}

/**
 * The engine's view of a data plane. `apply` resolves only once the table is in effect
 * (the next request is routed by it); it rejects if the data plane refused the table as a
 * whole, and reports listeners it could not open in `failed`.
 */
export interface TrafficRouter {
  apply(table: RouteTable): Promise<ApplyOutcome>;
  /**
   * The generation of the table the data plane serves now, if it can tell: the engine
   * re-pushes its table when this differs from what it last applied (a restarted or
   * replaced router). Absent: never checked.
   */
  generationInEffect?(): Promise<number>;
  /** Resolves when no request is in flight to the endpoint, or after timeoutMs. Returns true if idle. */
  waitIdle(endpointId: string, timeoutMs: number): Promise<boolean>;
  traffic(): Promise<RevisionTraffic[]>;
}

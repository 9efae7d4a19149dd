import type { RouteTable } from './route-table.js';

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

/**
 * The engine's view of a data plane. `apply` resolves only once the table is in effect
 * (the next request is routed by it); it rejects if the data plane refused it.
 */
export interface TrafficRouter {
  apply(table: RouteTable): Promise<void>;
  /** Resolves when no request is in flight to the endpoint, or after timeoutMs. Returns true if idle. */
  waitIdle(endpointId: string, timeoutMs: number): Promise<boolean>;
  traffic(): Promise<RevisionTraffic[]>;
}

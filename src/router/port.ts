import type { RouteTable } from './route-table.js';

/** Per-revision counters a data plane reports (cumulative since it started). */
export interface RevisionTraffic {
  listen: string;
  rollout: string;
  revision: number;
  requests: number;
  errors5xx: number;
  /** Clients newly assigned to this revision (the router set its sticky cookie). */
  newUsers?: number;
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

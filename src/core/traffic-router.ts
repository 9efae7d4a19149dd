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

/**
 * GET /window. Rates over [from, to] (epoch ms; `to` is the router's clock at the query,
 * `from` is sinceMs, or later when `truncated`). errorRate is the 5xx share, successRate the
 * non-5xx share (Flagger's request-success-rate); both 0 with no request. Latencies are in
 * seconds, exact over the samples, percentiles by linear interpolation between closest
 * ranks (numpy's default); null with no request.
 */
export interface WindowStats {
  rollout: string;
  revision: number;
  /** Present when the query narrowed to one listener role. */
  role?: ListenerRole;
  from: number;
  to: number;
  requests: number;
  errors5xx: number;
  /** Requests per second over [from, to]. */
  requestRate: number;
  errorRate: number;
  successRate: number;
  latency: { p50: number | null; p90: number | null; p95: number | null; p99: number | null; mean: number | null };
  /** The ring no longer holds every request since sinceMs: the stats cover [from, to] only. */
  truncated: boolean;
  /**
   * Of `requests`, the mirrored copies this revision answered as a shadow (MirrorRoute):
   * they count in requests, errors and latencies above, never in client traffic (/traffic,
   * sluice_requests_total). `compared`: copies whose answer was compared with the primary's;
   * `mismatches`: those that differed; mismatchRate = mismatches / compared (0 with none).
   */
  mirrored: number;
  compared: number;
  mismatches: number;
  mismatchRate: number;
}

/** GET /samples: one entry per request, oldest first, in both arrays. */
export interface RevisionSampleList {
  /** Seconds from request received to response finished. */
  latencies: number[];
  /** 1 for a 5xx (the router's own included), else 0. */
  errors: number[];
  /** Some requests since sinceMs are missing: more than `max` matched, or the ring overwrote them. */
  truncated: boolean;
}

/**
 * What the builtin and judge providers read: a data plane's own per-revision measurements
 * over a sliding window. HttpTrafficRouter (the builtin router's admin client) implements
 * it; tests can hand in anything with the same shape.
 */
export interface TrafficWindows {
  /** Aggregates over the requests of one revision that ended at or after sinceMs (epoch ms). */
  window(rollout: string, revision: number, sinceMs: number): Promise<WindowStats>;
  /** The most recent per-request samples (at most `max`) of one revision since sinceMs. */
  samples(rollout: string, revision: number, sinceMs: number, max?: number): Promise<RevisionSampleList>;
}

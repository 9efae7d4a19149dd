/**
 * What one A/B variant was shown: requests served to clients and users newly assigned to
 * it (the router's sticky cookie), summed over the experiment. `seen*` are the router's
 * cumulative counters at the last collection (a lower reading means the router restarted).
 */
export interface ExposureRecord {
  rollout: string;
  /** The A/B test: `r<revision>a<attempt>`. */
  experiment: string;
  variant: string;
  revision: number;
  requests: number;
  users: number;
  seenRequests: number;
  seenUsers: number;
  startedAt: number;
  updatedAt: number;
}

import type { Clock } from '../core/clock.js';
import type { RevisionTraffic } from '../core/traffic-router.js';
import type { Store } from '../core/store.js';
import { experimentId, variantArms } from './strategies/ab-test.js';
import type { ExposureRecord } from '../core/exposure.js';

/** How often the control plane reads the data plane's counters during an A/B test. */
export const EXPOSURE_INTERVAL_MS = 2000;

/**
 * Stores what each A/B variant was shown (requests to clients, newly assigned users),
 * per experiment, for the experiment statistics to come. The data plane's counters are
 * cumulative per revision since it started; each collection adds the growth since the
 * last one (a lower reading means the data plane restarted: the reading itself is the
 * growth). Both arms start counting at the first collection after the split began
 * (within EXPOSURE_INTERVAL_MS), so neither is credited with traffic from before the test.
 */
export class ExposureCollector {
  constructor(
    private readonly store: Store,
    private readonly traffic: () => Promise<RevisionTraffic[]>,
    private readonly clock: Clock,
  ) {}

  /** One collection over every rollout whose A/B split is live. Returns the records written. */
  async collect(): Promise<ExposureRecord[]> {
    const live = this.store.listRollouts().filter((r) => {
      const s = r.status;
      return r.spec.strategy.type === 'abTest' && s.stableRevision !== null && s.currentRevision !== s.stableRevision && !s.aborted && s.weights.length >= 2;
    });
    if (live.length === 0) return [];
    const readings = await this.traffic();
    const now = this.clock.now();
    const written: ExposureRecord[] = [];
    for (const r of live) {
      const st = r.spec.strategy;
      if (st.type !== 'abTest') continue;
      const s = r.status;
      const experiment = experimentId(s);
      const known = new Map(
        this.store
          .listExposures(r.name)
          .filter((e) => e.experiment === experiment)
          .map((e) => [e.variant, e]),
      );
      const arms = variantArms(st, s).map((a) => ({ variant: a.name, revision: a.revision }));
      for (const arm of arms) {
        // Only the main listener's client traffic counts (preview/canary listeners are for testers).
        const rows = readings.filter((t) => t.rollout === r.name && t.revision === arm.revision && t.listen === r.spec.traffic.listen);
        const requests = rows.reduce((n, t) => n + t.requests, 0);
        const users = rows.reduce((n, t) => n + (t.newUsers ?? 0), 0);
        const prev = known.get(arm.variant);
        const grow = (cur: number, seen: number) => (cur >= seen ? cur - seen : cur);
        const rec: ExposureRecord = prev
          ? {
              ...prev,
              requests: prev.requests + grow(requests, prev.seenRequests),
              users: prev.users + grow(users, prev.seenUsers),
              seenRequests: requests,
              seenUsers: users,
              updatedAt: now,
            }
          : // Both arms start from the same moment, so neither is credited with earlier traffic.
            { rollout: r.name, experiment, ...arm, requests: 0, users: 0, seenRequests: requests, seenUsers: users, startedAt: now, updatedAt: now };
        this.store.putExposure(rec);
        written.push(rec);
      }
    }
    return written;
  }
}

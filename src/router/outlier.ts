import type { CompiledEndpoint } from './balancer.js';
import { EndpointHealth } from './endpoint-health.js';
import type { Resilience } from '../core/route-table.js';

/** The ejection time grows with each ejection up to this many times `baseEjectionMs` (Envoy caps it too). */
export const MAX_EJECTION_MULTIPLIER = 10;

export type OutlierConfig = NonNullable<Resilience['outlier']>;

/** Counts and logs ejections; owned by the Router, outlives tables. */
export interface OutlierEvents {
  ejected(group: OutlierGroup, e: CompiledEndpoint, ms: number): void;
  returned(health: EndpointHealth, address: string): void;
}

/**
 * One revision's endpoints in one listener with `resilience.outlier`: where a request's
 * outcome is reported, and where the maxEjectedPercent cap is checked (over this revision's
 * endpoints). Compiled with the table; the per-endpoint state is in EndpointHealth.
 */
export class OutlierGroup {
  /** How many of the endpoints may be ejected at once. */
  readonly maxEjected: number;
  constructor(
    readonly config: OutlierConfig,
    readonly endpoints: CompiledEndpoint[],
    readonly rollout: string,
    readonly revision: number,
    private readonly events: OutlierEvents,
  ) {
    const n = endpoints.length;
    let max = Math.floor((n * config.maxEjectedPercent) / 100);
    // Like Envoy: a percentage that rounds down to zero still allows one, when there is another to take the traffic.
    if (max === 0 && n >= 2 && config.maxEjectedPercent > 0) max = 1;
    this.maxEjected = max;
  }

  success(e: CompiledEndpoint): void {
    e.health!.consecutive = 0;
  }

  /** A 5xx answer, a connect error, a reset or an upstream timeout from `e`. */
  failure(e: CompiledEndpoint): void {
    const h = e.health!;
    if (h.ejected) return;
    if (++h.consecutive < this.config.consecutiveFailures) return;
    let ejectedNow = 0;
    for (const x of this.endpoints) if (x.health!.ejected) ejectedNow++;
    // Over the cap: the streak stays, so the next failure tries again (maybe after another returned).
    if (ejectedNow >= this.maxEjected) return;
    const now = Date.now();
    // A long healthy spell since the last return forgives the earlier ejections.
    if (h.returnedAt > 0 && now - h.returnedAt > this.config.baseEjectionMs * MAX_EJECTION_MULTIPLIER * 2) h.ejections = 0;
    h.ejections++;
    const ms = this.config.baseEjectionMs * Math.min(h.ejections, MAX_EJECTION_MULTIPLIER);
    h.ejected = true;
    h.consecutive = 0;
    const address = `${e.host}:${e.port}`;
    h.timer = setTimeout(() => {
      h.timer = undefined;
      h.ejected = false;
      h.consecutive = 0;
      h.returnedAt = Date.now();
      this.events.returned(h, address);
    }, ms);
    h.timer.unref();
    this.events.ejected(this, e, ms);
  }
}

/** EndpointHealth by endpoint id, kept across table swaps for endpoints that stay. */
export class HealthRegistry {
  private readonly byId = new Map<string, EndpointHealth>();

  health(id: string): EndpointHealth {
    let h = this.byId.get(id);
    if (h === undefined) {
      h = new EndpointHealth(id);
      this.byId.set(id, h);
    }
    return h;
  }

  /** After a swap: forgets (and un-ejects) the endpoints the table in effect no longer checks. */
  retain(ids: Set<string>): void {
    for (const [id, h] of this.byId) {
      if (ids.has(id)) continue;
      if (h.timer !== undefined) clearTimeout(h.timer);
      this.byId.delete(id);
    }
  }

  isEjected(id: string): boolean {
    return this.byId.get(id)?.ejected ?? false;
  }

  /** [endpoint id, ejected] for every endpoint checked. */
  *entries(): IterableIterator<[string, boolean]> {
    for (const [id, h] of this.byId) yield [id, h.ejected];
  }
}

import type { Pool } from 'undici';
import type { EndpointLoad } from './inflight.js';
import type { EndpointHealth } from './endpoint-health.js';

/** An endpoint as the hot path uses it: address plus its shared in-flight counter. */
export interface CompiledEndpoint {
  id: string;
  host: string;
  port: number;
  load: EndpointLoad;
  /** Its connection pool, looked up on first use (UpstreamPools). */
  pool?: Pool | undefined;
  /** Passive health (outlier ejection); only on listeners with `resilience.outlier`. */
  health?: EndpointHealth | undefined;
}

/** Chooses one of a revision's ready endpoints for each request. */
export interface Balancer {
  pick(): CompiledEndpoint;
  /** Another endpoint than `except` (for the one retry), or undefined when there is none. */
  pickOther(except: CompiledEndpoint): CompiledEndpoint | undefined;
}

export type BalancerKind = 'round-robin' | 'least-requests';

/** `endpoints` must not be empty: a revision without endpoints gets no balancer. */
export function createBalancer(kind: BalancerKind, endpoints: CompiledEndpoint[]): Balancer {
  return kind === 'least-requests' ? new LeastRequestsBalancer(endpoints) : new RoundRobinBalancer(endpoints);
}

export class RoundRobinBalancer implements Balancer {
  private next = 0;
  constructor(private readonly endpoints: CompiledEndpoint[]) {}

  pick(): CompiledEndpoint {
    const e = this.endpoints[this.next];
    if (++this.next === this.endpoints.length) this.next = 0;
    return e;
  }

  pickOther(except: CompiledEndpoint): CompiledEndpoint | undefined {
    for (let i = 0; i < this.endpoints.length; i++) {
      const e = this.pick();
      if (e !== except) return e;
    }
    return undefined;
  }
}

/**
 * Fewest in-flight requests wins. The scan starts at a rotating offset so that ties (the
 * common case at low load) are broken round-robin instead of always hitting the first.
 */
export class LeastRequestsBalancer implements Balancer {
  private start = 0;
  constructor(private readonly endpoints: CompiledEndpoint[]) {}

  pick(): CompiledEndpoint {
    return this.scan(undefined)!;
  }

  pickOther(except: CompiledEndpoint): CompiledEndpoint | undefined {
    return this.scan(except);
  }

  private scan(except: CompiledEndpoint | undefined): CompiledEndpoint | undefined {
    const eps = this.endpoints;
    const n = eps.length;
    const first = this.start;
    if (++this.start === n) this.start = 0;
    let best: CompiledEndpoint | undefined;
    let bestLoad = Infinity;
    for (let k = 0, i = first; k < n; k++) {
      const e = eps[i];
      if (e !== except && e.load.inflight < bestLoad) {
        best = e;
        bestLoad = e.load.inflight;
      }
      if (++i === n) i = 0;
    }
    return best;
  }
}

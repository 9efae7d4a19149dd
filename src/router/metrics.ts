import { MirrorStats } from './mirror.js';
import type { RevisionTraffic } from '../core/traffic-router.js';
import type { ListenerRole } from '../core/route-table.js';
import { ROLE_CODES, type RevisionSamples } from './samples.js';

/** Prometheus' default buckets, in seconds. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface SeriesLabels {
  listen: string;
  rollout: string;
  role: string;
  /** Undefined for answers given before any revision was chosen (empty split). */
  revision: number | undefined;
  version: string;
}

/**
 * Counters for one (listener, revision), and the revision's sample ring. The compiled route
 * table holds a direct reference, so recording a request is a few increments and stores
 * with no lookup or allocation.
 */
export class RevisionSeries {
  c2xx = 0;
  c3xx = 0;
  c4xx = 0;
  c5xx = 0;
  /** Answers the router made itself (502/503/504): the backend never answered. */
  cError = 0;
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  inflight = 0;
  /** New clients given the router's sticky cookie for this revision (A/B exposures). */
  newUsers = 0;
  /** The label set, rendered once. */
  readonly labelText: string;
  /** The revision's ring (shared by its listeners), set when a table is compiled. */
  samples: RevisionSamples | undefined = undefined;
  private readonly roleCode: number;

  constructor(readonly labels: SeriesLabels) {
    this.roleCode = ROLE_CODES[labels.role as ListenerRole] ?? 255;
    this.labelText =
      `listener="${esc(labels.listen)}",rollout="${esc(labels.rollout)}",role="${esc(labels.role)}",` +
      `revision="${labels.revision ?? ''}",version="${esc(labels.version)}"`;
  }

  observe(status: number, byRouter: boolean, seconds: number): void {
    if (byRouter) this.cError++;
    else if (status < 300) this.c2xx++;
    else if (status < 400) this.c3xx++;
    else if (status < 500) this.c4xx++;
    else this.c5xx++;
    this.time(seconds);
    if (this.samples !== undefined) this.samples.record(status, seconds, this.roleCode);
  }

  /** A client that left before any answer: counted like nginx's 499, sampled as status 0. */
  observeAbandoned(seconds: number): void {
    this.c4xx++;
    this.time(seconds);
    if (this.samples !== undefined) this.samples.record(0, seconds, this.roleCode);
  }

  private time(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    this.buckets[i]++;
    this.sum += seconds;
    this.count++;
  }
}

/** Every series ever used, cumulative since the router started (they survive table swaps). */
export class RouterMetrics {
  private readonly series = new Map<string, RevisionSeries>();
  /** Mirror routes' counters and recent mismatches (mirror.ts). */
  readonly mirrors = new MirrorStats();

  /** Called when a table is compiled, never per request. */
  seriesFor(labels: SeriesLabels): RevisionSeries {
    const key = `${labels.listen}\0${labels.rollout}\0${labels.role}\0${labels.revision ?? ''}\0${labels.version}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = new RevisionSeries(labels);
      this.series.set(key, s);
    }
    return s;
  }

  traffic(): RevisionTraffic[] {
    const byKey = new Map<string, RevisionTraffic>();
    for (const s of this.series.values()) {
      const { listen, rollout, revision } = s.labels;
      if (revision === undefined) continue;
      const key = `${listen}\0${rollout}\0${revision}`;
      let t = byKey.get(key);
      if (t === undefined) {
        t = { listen, rollout, revision, requests: 0, errors5xx: 0, newUsers: 0 };
        byKey.set(key, t);
      }
      t.requests += s.count;
      t.errors5xx += s.c5xx + s.cError;
      t.newUsers += s.newUsers;
    }
    return [...byKey.values()];
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const all = [...this.series.values()];
    const out: string[] = [];
    out.push(
      '# HELP sluice_requests_total Requests answered, by status class; "error" means the router answered itself (502/503/504) because no backend did.',
      '# TYPE sluice_requests_total counter',
    );
    for (const s of all) {
      const l = s.labelText;
      out.push(
        `sluice_requests_total{${l},code_class="2xx"} ${s.c2xx}`,
        `sluice_requests_total{${l},code_class="3xx"} ${s.c3xx}`,
        `sluice_requests_total{${l},code_class="4xx"} ${s.c4xx}`,
        `sluice_requests_total{${l},code_class="5xx"} ${s.c5xx}`,
        `sluice_requests_total{${l},code_class="error"} ${s.cError}`,
      );
    }
    out.push('# HELP sluice_request_duration_seconds Time from request received to response finished.', '# TYPE sluice_request_duration_seconds histogram');
    for (const s of all) {
      const l = s.labelText;
      let cumulative = 0;
      for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
        cumulative += s.buckets[i];
        out.push(`sluice_request_duration_seconds_bucket{${l},le="${LATENCY_BUCKETS[i]}"} ${cumulative}`);
      }
      out.push(
        `sluice_request_duration_seconds_bucket{${l},le="+Inf"} ${s.count}`,
        `sluice_request_duration_seconds_sum{${l}} ${s.sum}`,
        `sluice_request_duration_seconds_count{${l}} ${s.count}`,
      );
    }
    out.push('# HELP sluice_inflight_requests Requests and upgraded connections in flight.', '# TYPE sluice_inflight_requests gauge');
    for (const s of all) out.push(`sluice_inflight_requests{${s.labelText}} ${s.inflight}`);
    out.push('# HELP sluice_sticky_assignments_total New clients given the sticky cookie for this revision.', '# TYPE sluice_sticky_assignments_total counter');
    for (const s of all) out.push(`sluice_sticky_assignments_total{${s.labelText}} ${s.newUsers}`);
    return out.join('\n') + '\n' + this.mirrors.render();
  }
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

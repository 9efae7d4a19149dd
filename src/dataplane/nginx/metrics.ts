/**
 * Per-revision measurements from nginx's access log, kept exactly like the builtin router
 * keeps its own (SampleStore rings in src/router/samples.ts), so `window()` and `samples()`
 * answer the same WindowStats for the builtin and judge providers.
 */
import type { RevisionSampleList, RevisionTraffic, WindowStats } from '../../core/traffic-router.js';
import type { ListenerRole, RouteTable } from '../../core/route-table.js';
import { ROLE_CODES, SampleStore } from '../../router/samples.js';

interface LogLine {
  t: number;
  s: number;
  rt: number;
  /** $upstream_response_time: "0.004", or per upstream tried "0.001, 0.003" / "0.001 : 0.002", "-" for none. */
  ut?: string;
  /** "1" when copies of the request were mirrored (render.ts). */
  m?: string;
  ro: string;
  rv: string;
  role: string;
  l: string;
}

export class NginxMetrics {
  readonly samples = new SampleStore();
  private readonly counters = new Map<string, RevisionTraffic>();
  /** Lines that were not sluice's JSON (someone else's format in the same file). */
  skipped = 0;

  /** One access-log line. nginx's 499 (the client left before an answer) is status 0, not an error, as in the builtin router. */
  line(text: string): void {
    let v: LogLine;
    try {
      v = JSON.parse(text) as LogLine;
    } catch {
      this.skipped++;
      return;
    }
    if (!v.ro || !v.rv) return; // maintenance without a revision, status server
    const revision = Number(v.rv);
    const status = v.s === 499 ? 0 : v.s;
    const role = ROLE_CODES[v.role as ListenerRole] ?? 0;
    // nginx finishes (and logs) a mirrored request only once its copies are done, so its
    // $request_time includes the shadow's (cut off after MIRROR_TIMEOUT): take the primary's
    // upstream time instead, and the end time less the difference.
    let seconds = Number(v.rt) || 0;
    let end = v.t;
    if (v.m === '1') {
      const upstream = upstreamSeconds(v.ut);
      if (upstream !== undefined && upstream < seconds) {
        end -= seconds - upstream;
        seconds = upstream;
      }
    }
    this.samples.ringFor(v.ro, revision).record(status, seconds, role, 0, Math.round(end * 1000));
    const key = `${v.l}\0${v.ro}\0${revision}`;
    let c = this.counters.get(key);
    if (c === undefined) this.counters.set(key, (c = { listen: v.l, rollout: v.ro, revision, requests: 0, errors5xx: 0, newUsers: 0 }));
    c.requests++;
    if (status >= 500) c.errors5xx++;
  }

  retain(table: RouteTable): void {
    this.samples.retain(table);
  }

  window(rollout: string, revision: number, sinceMs: number, role?: ListenerRole): WindowStats {
    return this.samples.window(rollout, revision, sinceMs, role);
  }

  list(rollout: string, revision: number, sinceMs: number, max?: number, role?: ListenerRole): RevisionSampleList {
    return this.samples.samples(rollout, revision, sinceMs, max, role);
  }

  traffic(): RevisionTraffic[] {
    return [...this.counters.values()].map((c) => ({ ...c }));
  }
}

/** The sum of an `$upstream_response_time` list; undefined when none was measured. */
export function upstreamSeconds(ut: string | undefined): number | undefined {
  if (!ut) return undefined;
  const times = ut
    .split(/\s*[,:]\s*/)
    .map(Number)
    .filter((x) => Number.isFinite(x));
  return times.length === 0 ? undefined : times.reduce((a, b) => a + b, 0);
}

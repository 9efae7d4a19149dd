/**
 * The engine has one TrafficRouter; with `traffic.router: nginx` a rollout's listeners go
 * to nginx instead of the builtin router. DataPlanes splits each table by
 * `ListenerRoutes.dataPlane`, applies both parts (the table is in effect when both
 * acknowledged; either refusing rejects the apply, so the engine keeps the old instances),
 * and answers the analysis windows from the data plane that serves the rollout.
 */
import type { HttpTrafficRouter } from '../router/http-client.js';
import type { ApplyOutcome, RevisionTraffic, TrafficRouter } from '../router/port.js';
import type { ListenerRole, RouteTable } from '../router/route-table.js';
import type { RevisionSampleList, TrafficWindows, WindowStats } from '../analysis/window.js';
import type { NginxDataPlane } from './nginx/data-plane.js';

export class DataPlanes implements TrafficRouter, TrafficWindows {
  /** Rollouts nginx served in the last table applied. */
  private onNginx = new Set<string>();

  constructor(
    readonly builtin: HttpTrafficRouter,
    readonly nginx: NginxDataPlane,
  ) {}

  async apply(table: RouteTable): Promise<ApplyOutcome> {
    const mine = table.listeners.filter((l) => l.dataPlane === 'nginx');
    const rest = table.listeners.filter((l) => l.dataPlane !== 'nginx');
    const results = await Promise.allSettled([this.builtin.apply({ generation: table.generation, listeners: rest }), this.nginx.apply(table.generation, mine)]);
    const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (refused) throw refused.reason;
    this.onNginx = new Set(mine.map((l) => l.rollout));
    return { failed: (results[0] as PromiseFulfilledResult<ApplyOutcome>).value.failed };
  }

  /** The builtin router receives every generation (its part may be empty); nginx keeps its own file. */
  generationInEffect(): Promise<number> {
    return this.builtin.generationInEffect();
  }

  async waitIdle(endpointId: string, timeoutMs: number): Promise<boolean> {
    if (!this.nginx.knows(endpointId)) return this.builtin.waitIdle(endpointId, timeoutMs);
    const [a, b] = await Promise.all([this.builtin.waitIdle(endpointId, timeoutMs), this.nginx.waitIdle(endpointId, timeoutMs)]);
    return a && b;
  }

  async traffic(): Promise<RevisionTraffic[]> {
    const builtin = await this.builtin.traffic();
    return this.nginx.active ? [...builtin, ...this.nginx.traffic()] : builtin;
  }

  async window(rollout: string, revision: number, sinceMs: number, role?: ListenerRole): Promise<WindowStats> {
    return this.onNginx.has(rollout) ? this.nginx.window(rollout, revision, sinceMs, role) : this.builtin.window(rollout, revision, sinceMs, role);
  }

  async samples(rollout: string, revision: number, sinceMs: number, max?: number, role?: ListenerRole): Promise<RevisionSampleList> {
    return this.onNginx.has(rollout) ? this.nginx.samples(rollout, revision, sinceMs, max, role) : this.builtin.samples(rollout, revision, sinceMs, max, role);
  }

  /** `sluice down`: the builtin router and a managed nginx stop. */
  async shutdown(): Promise<void> {
    await Promise.all([this.builtin.shutdown().catch(() => undefined), this.nginx.shutdown().catch(() => undefined)]);
  }

  close(): void {
    this.nginx.close();
  }
}

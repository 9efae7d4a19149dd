/**
 * The engine has one TrafficRouter: DataPlanes. A rollout's listeners go to the data plane
 * its spec names (`traffic.router`, src/dataplane/registry.ts), the builtin router when
 * none. DataPlanes splits each table by `ListenerRoutes.dataPlane`, applies every part (the
 * table is in effect when all acknowledged; any refusing rejects the apply, so the engine
 * keeps the old instances), and answers the analysis windows from the plane that serves
 * the rollout. Feature flags (`flags()`) are always served by the builtin router.
 */
import type { HttpTrafficRouter } from '../router/http-client.js';
import type { ApplyOutcome, RevisionSampleList, RevisionTraffic, TrafficRouter, TrafficWindows, WindowStats } from '../core/traffic-router.js';
import type { ListenerRole, RouteTable } from '../core/route-table.js';
import type { DataPlaneAdapter, DataPlaneContext } from './adapter.js';
import { BUILTIN, DATA_PLANES } from './registry.js';
import { BuiltinFlagPlane } from './builtin/flags.js';

/** Every registered data plane the control plane runs besides the builtin router, opened. */
export function openDataPlanes(ctx: DataPlaneContext): Map<string, DataPlaneAdapter> {
  return new Map(DATA_PLANES.filter((p) => p.open).map((p) => [p.name, p.open!(ctx)]));
}

export class DataPlanes implements TrafficRouter, TrafficWindows {
  /** Which plane served each rollout in the last table applied (absent: builtin). */
  private servedBy = new Map<string, string>();

  private readonly flagPlane: BuiltinFlagPlane;

  constructor(
    readonly builtin: HttpTrafficRouter,
    readonly others: ReadonlyMap<string, DataPlaneAdapter>,
  ) {
    this.flagPlane = new BuiltinFlagPlane(builtin);
  }

  /** Flags are served by the builtin router process, whichever plane serves routes (src/router/flags.ts). */
  flags(): BuiltinFlagPlane {
    return this.flagPlane;
  }

  async apply(table: RouteTable): Promise<ApplyOutcome> {
    const unknown = table.listeners.find((l) => l.dataPlane !== undefined && l.dataPlane !== BUILTIN && !this.others.has(l.dataPlane));
    if (unknown)
      throw new Error(
        `listener ${unknown.listen} of rollout ${unknown.rollout} names data plane ${JSON.stringify(unknown.dataPlane)}, which this control plane does not run`,
      );
    const onBuiltin = table.listeners.filter((l) => (l.dataPlane ?? BUILTIN) === BUILTIN);
    // Every plane gets its part of every table, an empty one included: that is how it stops serving a rollout.
    const results = await Promise.allSettled([
      this.builtin.apply({ generation: table.generation, listeners: onBuiltin }),
      ...[...this.others].map(([name, plane]) =>
        plane.apply(
          table.generation,
          table.listeners.filter((l) => l.dataPlane === name),
        ),
      ),
    ]);
    const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (refused) throw refused.reason;
    this.servedBy = new Map(table.listeners.filter((l) => l.dataPlane !== undefined && l.dataPlane !== BUILTIN).map((l) => [l.rollout, l.dataPlane!]));
    const failed = results.flatMap((r) => (r as PromiseFulfilledResult<ApplyOutcome>).value.failed);
    return { failed };
  }

  /** The builtin router receives every generation (its part may be empty); the others keep their own state. */
  generationInEffect(): Promise<number> {
    return this.builtin.generationInEffect();
  }

  async waitIdle(endpointId: string, timeoutMs: number): Promise<boolean> {
    const knowing = [...this.others.values()].filter((p) => p.knows(endpointId));
    const answers = await Promise.all([this.builtin.waitIdle(endpointId, timeoutMs), ...knowing.map((p) => p.waitIdle(endpointId, timeoutMs))]);
    return answers.every(Boolean);
  }

  async traffic(): Promise<RevisionTraffic[]> {
    const parts = await Promise.all([this.builtin.traffic(), ...[...this.others.values()].map((p) => p.traffic())]);
    return parts.flat();
  }

  async window(rollout: string, revision: number, sinceMs: number, role?: ListenerRole): Promise<WindowStats> {
    return this.planeOf(rollout).window(rollout, revision, sinceMs, role);
  }

  async samples(rollout: string, revision: number, sinceMs: number, max?: number, role?: ListenerRole): Promise<RevisionSampleList> {
    return this.planeOf(rollout).samples(rollout, revision, sinceMs, max, role);
  }

  /** `sluice down`: the builtin router and what the other planes run stop. */
  async shutdown(): Promise<void> {
    await Promise.all([this.builtin.shutdown().catch(() => undefined), ...[...this.others.values()].map((p) => p.shutdown().catch(() => undefined))]);
  }

  close(): void {
    for (const p of this.others.values()) p.close();
  }

  private planeOf(rollout: string): Pick<DataPlaneAdapter, 'window' | 'samples'> {
    const name = this.servedBy.get(rollout);
    return (name !== undefined ? this.others.get(name) : undefined) ?? this.builtin;
  }
}

/**
 * What a data plane adapter does for DataPlanes (src/dataplane/planes.ts): serve its part
 * of every route table (the listeners whose `dataPlane` names it) and measure it. The
 * engine never sees an adapter: it has one TrafficRouter, DataPlanes, which splits each
 * table between the adapters by `ListenerRoutes.dataPlane`.
 */
import type { ListenerRole, ListenerRoutes } from '../core/route-table.js';
import type { ApplyOutcome, RevisionSampleList, RevisionTraffic, WindowStats } from '../core/traffic-router.js';
import type { KubeClient } from '../kube/client.js';
import type { Decoder } from '../spec/schema.js';

export interface DataPlaneAdapter {
  /**
   * Serve exactly these listeners (possibly none) from now on; resolves once they are in
   * effect, rejects if the plane refused them (the engine then keeps the old instances).
   */
  apply(generation: number, listeners: ListenerRoutes[]): Promise<ApplyOutcome>;
  /** Whether the plane ever routed to this endpoint (and may still have requests in flight to it). */
  knows(endpointId: string): boolean;
  waitIdle(endpointId: string, timeoutMs: number): Promise<boolean>;
  /** Cumulative per-revision counters, as RevisionTraffic; empty while the plane serves nothing. */
  traffic(): Promise<RevisionTraffic[]> | RevisionTraffic[];
  window(rollout: string, revision: number, sinceMs: number, role?: ListenerRole): Promise<WindowStats> | WindowStats;
  samples(rollout: string, revision: number, sinceMs: number, max?: number, role?: ListenerRole): Promise<RevisionSampleList> | RevisionSampleList;
  /** `sluice down`: stop what the plane runs (a managed proxy). */
  shutdown(): Promise<void>;
  /** The control plane stops: release handles; what serves traffic keeps serving. */
  close(): void;
}

/** What a data plane is given when the control plane opens it. */
export interface DataPlaneContext {
  stateDir: string;
  log: (line: string) => void;
  /**
   * The control plane's cluster connection (`--kubeconfig`) and the namespace of rollouts
   * without `spec.kubernetes.namespace`; absent without one (the Kubernetes data planes then
   * refuse any listener).
   */
  kube?: { client: KubeClient; namespace: string };
}

/** A problem with the rest of `spec.traffic` for this plane: [field, problem, fix]. */
export type TrafficProblem = [field: string, problem: string, fix: string];

/**
 * One entry of the registry (src/dataplane/registry.ts): everything sluice needs to know
 * about a data plane, from the spec (`traffic.router: <name>`, `traffic.<name>: settings`)
 * to running it.
 */
export interface DataPlaneDefinition {
  /** The name specs write in `traffic.router`. */
  name: string;
  /** Decoder for `traffic.<name>` (defaults applied); absent: the plane takes no settings. */
  settings?: Decoder<unknown>;
  /** The settings a spec gets when it names the plane without any. */
  defaultSettings?: unknown;
  /** Checks of `spec.traffic` this plane needs beyond the common schema (e.g. names it can route on). */
  checkTraffic?(traffic: unknown): TrafficProblem | undefined;
  /** Whether the plane compares a mirrored copy's answer with the primary's (mismatch-rate). */
  comparesMirrors: boolean;
  /**
   * Opens the adapter in the control plane. Absent for the builtin router, which the control
   * plane runs as its own process (src/daemon/control-plane.ts) and which receives every table.
   */
  open?(ctx: DataPlaneContext): DataPlaneAdapter;
}

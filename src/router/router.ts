import type net from 'node:net';
import { join } from 'node:path';
import { compileTable, type CompiledListener, type CompiledTable } from './compile.js';
import { InflightRegistry, type IdleResult } from './inflight.js';
import { ListenerServer } from './listeners.js';
import { RouterMetrics } from './metrics.js';
import { readJsonFile, writeFileAtomic } from './persist.js';
import { ResilienceState } from './resilience.js';
import { RouterProxy, UPSTREAM_TIMEOUT_MS } from './proxy.js';
import { emptyRouteTable, type RouteTable } from '../core/route-table.js';
import { MAX_GENERATION_STEP, ROUTES_FILE, type ApplyAnswer } from './admin-protocol.js';
import type { ListenerFailure, RevisionSampleList, RevisionTraffic, WindowStats } from '../core/traffic-router.js';
import type { ListenerRole } from '../core/route-table.js';
import type { MismatchRecord } from './mirror.js';
import { DEFAULT_SAMPLE_CAPACITY, SampleStore } from './samples.js';
import { UpstreamPools } from './upstream.js';
import { RouteTableError, validateRouteTable } from './validate.js';
import { ExperimentPlane, type LiveExperiment } from './experiments/plane.js';

/** How long a removed listener, or the whole router at shutdown, waits for in-flight requests. */
export const DRAIN_TIMEOUT_MS = 30_000;

export interface RouterOptions {
  /** The router keeps its files in <stateDir>/router/. */
  stateDir: string;
  upstreamTimeoutMs?: number;
  drainTimeoutMs?: number;
  /** Requests kept per (rollout, revision) for windows and samples; a power of two. */
  sampleCapacity?: number;
  /** One line per lifecycle event (never per request). */
  log?: (line: string) => void;
  /** How long the exposed users of an experiment that left the table are kept (experiments/exposures.ts). */
  exposedGraceMs?: number;
}

/**
 * The builtin data plane: owns the compiled route table, the listening sockets and the
 * counters. A request reads `this.compiled` once, so a swap (one assignment) is atomic.
 */
export class Router {
  readonly routesFile: string;
  private compiled: CompiledTable;
  /** The table being applied: lets a freshly opened listener serve before the swap. */
  private pending: CompiledTable | undefined;
  private readonly servers = new Map<string, ListenerServer>();
  private readonly registry = new InflightRegistry();
  private readonly metrics = new RouterMetrics();
  private readonly samples: SampleStore;
  private readonly pools: UpstreamPools;
  private readonly proxy: RouterProxy;
  private readonly resilience: ResilienceState;
  /** Experiments: signed user cookie, exposures, goals, the journal (experiments/). */
  readonly experiments: ExperimentPlane;
  private readonly drainMs: number;
  private readonly log: (line: string) => void;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Handover, old side: set while a successor starts; applies are refused meanwhile. */
  private handingOver = false;
  /** Handover, new side: the table received from the predecessor, until finishTakeover(). */
  private takeover: { next: CompiledTable; release: () => void } | undefined;
  /** Handover, new side: settles once the predecessor has drained and exited. */
  private predecessor: Promise<void> = Promise.resolve();

  constructor(opts: RouterOptions) {
    this.routesFile = join(opts.stateDir, 'router', ROUTES_FILE);
    this.drainMs = opts.drainTimeoutMs ?? DRAIN_TIMEOUT_MS;
    this.log = opts.log ?? (() => {});
    this.samples = new SampleStore(opts.sampleCapacity ?? DEFAULT_SAMPLE_CAPACITY);
    const upstreamTimeoutMs = opts.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS;
    this.pools = new UpstreamPools(upstreamTimeoutMs);
    this.resilience = new ResilienceState(this.log);
    this.experiments = new ExperimentPlane({ stateDir: opts.stateDir, log: this.log, exposedGraceMs: opts.exposedGraceMs });
    this.compiled = compileTable(emptyRouteTable(), this.registry, this.metrics, this.samples, this.resilience);
    this.proxy = new RouterProxy({
      pools: this.pools,
      upstreamTimeoutMs,
      registry: this.registry,
      lookup: (listen) => this.lookup(listen),
      resilience: this.resilience,
    });
  }

  get table(): RouteTable {
    return this.compiled.table;
  }

  /**
   * Serves the table persisted by a previous run, so a restarted router routes at once. A
   * listener that cannot bind is logged and retried at the next apply rather than fatal:
   * the control plane must still be able to reach the admin API and fix things.
   */
  async start(): Promise<void> {
    this.experiments.open();
    let saved: unknown;
    try {
      saved = await readJsonFile(this.routesFile);
    } catch (e) {
      this.log(`ignoring unreadable ${this.routesFile}: ${(e as Error).message}; starting with no routes`);
      return;
    }
    if (saved === undefined) {
      this.log(`no saved routes at ${this.routesFile}; starting with no routes`);
      return;
    }
    let table: RouteTable;
    try {
      table = validateRouteTable(saved);
    } catch (e) {
      this.log(`ignoring invalid ${this.routesFile}: ${(e as Error).message}; starting with no routes`);
      return;
    }
    const next = compileTable(table, this.registry, this.metrics, this.samples, this.resilience, this.experiments);
    this.pending = next;
    for (const l of table.listeners) {
      try {
        await this.openListener(l.listen);
      } catch (e) {
        this.log(`${(e as Error).message}; will retry at the next route update`);
      }
    }
    this.swap(next);
    this.log(`loaded routes generation ${table.generation} (${table.listeners.length} listener(s)) from ${this.routesFile}`);
  }

  /**
   * Validates, compiles, opens new listeners, persists, then swaps. Resolves once the next
   * request is routed by the new table, with the listeners that could not be opened (they
   * serve nothing; the rest of the table is in effect; the next apply tries them again);
   * rejects with RouteTableError (400/409) and changes nothing when the table is refused.
   * Applies run one at a time.
   */
  apply(input: unknown): Promise<ApplyAnswer> {
    const run = this.queue.then(() => this.applyNow(input));
    this.queue = run.catch(() => {});
    return run;
  }

  private async applyNow(input: unknown): Promise<ApplyAnswer> {
    if (this.closed) throw new RouteTableError('router is shutting down', 409, this.table.generation);
    if (this.handingOver) throw new RouteTableError('router is handing over to a new router process; retry in a moment', 503);
    const table = validateRouteTable(input);
    if (table.generation < this.table.generation) {
      throw new RouteTableError(
        `route table generation ${table.generation} is older than generation ${this.table.generation} in effect`,
        409,
        this.table.generation,
      );
    }
    if (table.generation > this.table.generation + MAX_GENERATION_STEP) {
      throw new RouteTableError(
        `route table generation ${table.generation} jumps more than ${MAX_GENERATION_STEP} past generation ${this.table.generation} in effect; continue from ${this.table.generation + 1}`,
        409,
        this.table.generation,
      );
    }
    const next = compileTable(table, this.registry, this.metrics, this.samples, this.resilience, this.experiments);
    const opened: string[] = [];
    const failed: ListenerFailure[] = [];
    this.pending = next;
    try {
      for (const l of table.listeners) {
        if (this.servers.has(l.listen)) continue;
        try {
          await this.openListener(l.listen);
          opened.push(l.listen);
        } catch (e) {
          failed.push({ rollout: l.rollout, listen: l.listen, role: l.role, error: (e as Error).message });
        }
      }
      await writeFileAtomic(this.routesFile, JSON.stringify(table, null, 2) + '\n').catch((e: Error) => {
        throw new RouteTableError(`cannot save routes to ${this.routesFile}: ${e.message}`, 500);
      });
    } catch (e) {
      this.pending = undefined;
      for (const listen of opened) void this.closeListener(listen, 0);
      throw e;
    }
    const previous = this.compiled;
    this.swap(next);
    for (const listen of previous.listeners.keys()) {
      if (!next.listeners.has(listen)) void this.closeListener(listen, this.drainMs);
    }
    if (opened.length > 0) this.log(`listening on ${opened.join(', ')}`);
    for (const f of failed) this.log(`${f.error} (rollout ${f.rollout}); will retry at the next route update`);
    return { generation: table.generation, failed };
  }

  private swap(next: CompiledTable): void {
    this.compiled = next;
    this.pending = undefined;
    this.registry.adopt(next.loads);
    this.samples.retain(next.table);
    this.metrics.mirrors.retain(next.table);
    this.pools.retain(next.table);
    this.resilience.adopt(next.listeners.values(), this.proxy);
    const live: LiveExperiment[] = [];
    for (const l of next.listeners.values()) if (l.experiment !== undefined) live.push(l.experiment.exp);
    this.experiments.adopt(live);
  }

  private lookup(listen: string): CompiledListener | undefined {
    return this.compiled.listeners.get(listen) ?? this.pending?.listeners.get(listen);
  }

  private async openListener(listen: string): Promise<void> {
    const server = new ListenerServer(listen, this.proxy);
    await server.open();
    this.servers.set(listen, server);
  }

  private async closeListener(listen: string, drainMs: number): Promise<void> {
    const server = this.servers.get(listen);
    if (server === undefined) return;
    this.servers.delete(listen);
    await server.close(drainMs);
    this.log(`stopped listening on ${listen}`);
  }

  /**
   * After a handover the predecessor may still be finishing requests to the endpoint, which
   * this process cannot count: wait for it to be gone first (it exits once drained).
   */
  async waitIdle(endpointId: string, timeoutMs: number): Promise<IdleResult> {
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const gone = await Promise.race([this.predecessor.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
    clearTimeout(timer);
    if (!gone) return { idle: false, inflight: this.registry.inflightOf(endpointId) };
    return this.registry.waitIdle(endpointId, Math.max(0, deadline - Date.now()));
  }

  // ---- handover (src/router/README.md, "Restart without dropping a request") ----

  /**
   * Old side, first step: waits for the apply in progress, then refuses applies until
   * thaw() or retire(). Returns the table in effect, the one the successor must serve.
   */
  async freeze(): Promise<RouteTable> {
    if (this.closed) throw new RouteTableError('router is shutting down', 409, this.table.generation);
    this.handingOver = true;
    await this.queue;
    return this.table;
  }

  /** Old side: the successor failed; take applies again. */
  thaw(): void {
    this.handingOver = false;
  }

  /** Old side: the listening servers of the table in effect, by address, to pass on. */
  listeningServers(): Map<string, net.Server> {
    const out = new Map<string, net.Server>();
    for (const [listen, server] of this.servers) if (this.compiled.listeners.has(listen) && server.listening) out.set(listen, server.handle);
    return out;
  }

  /**
   * Old side, last step, once the successor accepts on the same sockets: stops accepting,
   * finishes what is in flight (see ConnectionTracker.retire), then releases upstream pools.
   */
  async retire(drainMs: number, idleGraceMs: number): Promise<void> {
    this.closed = true;
    const retiring = [...this.servers.values()].map((s) => s.retire(drainMs, idleGraceMs));
    this.servers.clear();
    await this.registry.waitAllIdle(drainMs);
    await Promise.all(retiring);
    await this.pools.destroy();
    // After a handover: what was recorded meanwhile goes to the successor (main.ts).
    await this.experiments.flush();
  }

  /**
   * New side, first step: compiles the predecessor's table and prepares its listeners (not
   * accepting yet); requests on adopted sockets are routed by it at once. Applies wait
   * until finishTakeover(). Throws RouteTableError when this version refuses the table.
   */
  prepareTakeover(input: unknown, predecessorGone: Promise<void>): void {
    const table = validateRouteTable(input);
    // The predecessor suspended its journal before sending the table: this process owns it now.
    this.experiments.open();
    const next = compileTable(table, this.registry, this.metrics, this.samples, undefined, this.experiments);
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    this.queue = this.queue.then(() => held);
    this.takeover = { next, release };
    this.pending = next;
    this.predecessor = predecessorGone;
    for (const l of table.listeners) this.servers.set(l.listen, new ListenerServer(l.listen, this.proxy));
  }

  /** New side: serve `listen` on the predecessor's socket from now on. Synchronous. */
  adoptListener(listen: string, received: net.Server): boolean {
    const server = this.servers.get(listen);
    if (this.takeover === undefined || server === undefined || server.listening) return false;
    server.adopt(received);
    return true;
  }

  /** New side, last step: binds the listeners that came without a socket, swaps the table in. */
  async finishTakeover(): Promise<{ generation: number; listeners: number }> {
    const t = this.takeover;
    if (t === undefined) throw new Error('finishTakeover without prepareTakeover');
    for (const [listen, server] of [...this.servers]) {
      if (server.listening) continue;
      try {
        await server.open();
      } catch (e) {
        this.servers.delete(listen);
        this.log(`${(e as Error).message}; will retry at the next route update`);
      }
    }
    this.takeover = undefined;
    this.swap(t.next);
    t.release();
    return { generation: t.next.table.generation, listeners: t.next.table.listeners.length };
  }

  traffic(): RevisionTraffic[] {
    return this.metrics.traffic();
  }

  /** Aggregates over one revision's requests that ended at or after sinceMs (GET /window). */
  window(rollout: string, revision: number, sinceMs: number, role?: ListenerRole): WindowStats {
    return this.samples.window(rollout, revision, sinceMs, role);
  }

  /** One revision's most recent raw samples since sinceMs (GET /samples). */
  sampleList(rollout: string, revision: number, sinceMs: number, max?: number, role?: ListenerRole): RevisionSampleList {
    return this.samples.samples(rollout, revision, sinceMs, max, role);
  }

  /** The last mismatches of mirrored copies of a rollout (GET /mismatches), newest first. */
  mismatches(rollout: string, revision?: number): MismatchRecord[] {
    return this.metrics.mirrors.mismatches(rollout, revision);
  }

  metricsText(): string {
    return this.metrics.render() + this.resilience.render();
  }

  /** Requests and upgraded connections in flight, all endpoints together. */
  get inflight(): number {
    return this.registry.total;
  }

  /** Stops accepting on every listener, waits (bounded) for in-flight requests, then cuts the rest. */
  async close(drainMs = this.drainMs): Promise<void> {
    this.closed = true;
    await this.queue;
    this.resilience.close(this.proxy);
    const closing = [...this.servers.keys()].map((listen) => this.closeListener(listen, drainMs));
    await this.registry.waitAllIdle(drainMs);
    await Promise.all(closing);
    await this.pools.destroy();
    await this.experiments.close();
  }
}

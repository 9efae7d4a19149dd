/**
 * In-flight request counts per endpoint id. They live outside the compiled route table so
 * that a table swap does not reset them: draining an instance means removing it from the
 * table and then waiting here until the requests it already has are done.
 */
export class EndpointLoad {
  inflight = 0;
  /** In the table in effect. An unreferenced load is forgotten as soon as it is idle. */
  referenced = false;
  waiters: Set<() => void> | null = null;
  constructor(readonly id: string) {}
}

export interface IdleResult {
  idle: boolean;
  inflight: number;
}

export class InflightRegistry {
  private readonly byId = new Map<string, EndpointLoad>();
  private totalWaiters: Set<() => void> | null = null;
  /** Requests (and upgraded connections) in flight across every endpoint. */
  total = 0;

  load(id: string): EndpointLoad {
    let load = this.byId.get(id);
    if (load === undefined) {
      load = new EndpointLoad(id);
      this.byId.set(id, load);
    }
    return load;
  }

  acquire(load: EndpointLoad): void {
    load.inflight++;
    this.total++;
  }

  release(load: EndpointLoad): void {
    if (--load.inflight === 0) {
      if (load.waiters !== null) wake(load.waiters);
      if (!load.referenced && this.byId.get(load.id) === load) this.byId.delete(load.id);
    }
    if (--this.total === 0 && this.totalWaiters !== null) wake(this.totalWaiters);
  }

  /**
   * Called right after a table swap with every load the new table uses. A load compiled
   * into the table may have been forgotten meanwhile (it went idle while the table was being
   * persisted), so it is put back: in-flight counts must be found by id.
   */
  adopt(loads: Iterable<EndpointLoad>): void {
    for (const load of this.byId.values()) load.referenced = false;
    for (const load of loads) {
      load.referenced = true;
      this.byId.set(load.id, load);
    }
    for (const [id, load] of this.byId) {
      if (!load.referenced && load.inflight === 0) this.byId.delete(id);
    }
  }

  inflightOf(id: string): number {
    return this.byId.get(id)?.inflight ?? 0;
  }

  waitIdle(id: string, timeoutMs: number): Promise<IdleResult> {
    const load = this.byId.get(id);
    if (load === undefined || load.inflight === 0) return Promise.resolve({ idle: true, inflight: 0 });
    load.waiters ??= new Set();
    return waitOn(load.waiters, timeoutMs, () => load.inflight);
  }

  waitAllIdle(timeoutMs: number): Promise<IdleResult> {
    if (this.total === 0) return Promise.resolve({ idle: true, inflight: 0 });
    this.totalWaiters ??= new Set();
    return waitOn(this.totalWaiters, timeoutMs, () => this.total);
  }
}

function wake(waiters: Set<() => void>): void {
  for (const w of [...waiters]) w();
}

function waitOn(waiters: Set<() => void>, timeoutMs: number, count: () => number): Promise<IdleResult> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      waiters.delete(done);
      const inflight = count();
      resolve({ idle: inflight === 0, inflight });
    };
    const timer = setTimeout(done, Math.max(0, timeoutMs));
    waiters.add(done);
  });
}

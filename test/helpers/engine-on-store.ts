import { FakeClock } from './fake-clock.js';
import { FakePlatform, FakeRouter } from './engine-sim.js';
import type { Store } from '../../src/core/store.js';
import { Reconciler } from '../../src/engine/reconciler.js';
import { Controller } from '../../src/engine/controller.js';
import { JobRunner, type ProviderRegistry } from '../../src/engine/job-runner.js';

/**
 * The engine sim's parts over a store the test gives (a pre-filled MemoryStore, a real
 * SqliteStore file), not yet started: `reconciler.start(0)` does what a starting control
 * plane does.
 */
export function engineOn(store: Store, providers: ProviderRegistry = {}, readyMs = 500) {
  const clock = new FakeClock();
  const platform = new FakePlatform(clock, readyMs);
  const router = new FakeRouter();
  let reconciler: Reconciler | undefined;
  const jobs = new JobRunner({ store, clock, providers, onChange: () => reconciler?.trigger() });
  reconciler = new Reconciler({ store, platform, router, clock, jobs });
  const controller = new Controller(store, reconciler, platform, clock, jobs);
  const r = reconciler;
  return {
    clock,
    store,
    platform,
    router,
    reconciler: r,
    controller,
    jobs,
    by: { actor: 'test' },
    async run(ms: number, stepMs = 100) {
      await r.settle();
      const end = clock.now() + ms;
      while (clock.now() < end) {
        clock.advanceTo(Math.min(end, clock.now() + stepMs));
        await r.settle();
        await new Promise((done) => setImmediate(done));
        await r.settle();
      }
    },
    close() {
      jobs.close();
      return r.close();
    },
  };
}

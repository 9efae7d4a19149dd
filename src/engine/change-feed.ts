/**
 * What changed, for the dashboard's live stream (issue 16): every write to the store is seen
 * through `observeStore`, which marks what it touched; within FLUSH_MS the feed reads the
 * touched rollouts back from the store and tells its listeners (`GET /v1/stream`). Reading
 * back rather than forwarding the write means a listener always sees committed state, and a
 * burst of writes to one rollout (one reconciler pass) is one message.
 *
 * The feed also keeps each rollout's traffic timeline (the applied split each time it
 * changed), saved through `kv` at every change so a restarted control plane keeps it.
 */
import type { JobStore } from '../core/jobs.js';
import type { RolloutSummary, StreamMessage, WeightPoint } from '../core/live.js';
import type { RolloutEvent, RolloutRecord } from '../core/rollout.js';
import type { Store } from '../core/store.js';

/** Coalescing window of a burst of writes. */
export const FLUSH_MS = 100;
/** Points kept per rollout's traffic timeline (the oldest go first). */
export const MAX_WEIGHT_POINTS = 500;

type Topic = 'flags' | 'releases' | 'experiments';

/** Store write methods and what they touch: a rollout (by name or job key), or a topic. */
const WRITES: Record<string, ((args: unknown[]) => { rollout?: string; jobsOf?: string; topic?: Topic }) | undefined> = {
  putRollout: (a) => ({ rollout: (a[0] as RolloutRecord).name }),
  saveStatus: (a) => ({ rollout: a[0] as string }),
  deleteRollout: (a) => ({ rollout: a[0] as string }),
  addRevision: (a) => ({ rollout: (a[0] as { rollout: string }).rollout }),
  deleteRevision: (a) => ({ rollout: a[0] as string }),
  appendEvent: (a) => ({ rollout: a[0] as string }),
  // A job's state shows in the summary too (an approval gate waiting).
  saveJob: (a) => ({ rollout: (a[1] as { rollout: string }).rollout, jobsOf: (a[1] as { rollout: string }).rollout }),
  appendMeasurement: (a) => ({ jobsOf: rolloutOfKey(a[0] as string) }),
  putFlag: () => ({ topic: 'flags' }),
  saveFlagState: () => ({ topic: 'flags' }),
  deleteFlag: () => ({ topic: 'flags' }),
  addRelease: () => ({ topic: 'releases' }),
  putStageState: () => ({ topic: 'releases' }),
  addApproval: () => ({ topic: 'releases' }),
  withdrawApproval: () => ({ topic: 'releases' }),
  appendReleaseEvent: () => ({ topic: 'releases' }),
  putEnvironment: () => ({ topic: 'releases' }),
  putPipeline: () => ({ topic: 'releases' }),
  putExperimentSnapshot: () => ({ topic: 'experiments' }),
};

/** A job key is `<rollout>/r<revision>/…` (core/store.ts, jobRevision); rollout names hold no `/`. */
function rolloutOfKey(key: string): string | undefined {
  return /^([^/]+)\/r\d+\//.exec(key)?.[1];
}

export type FeedListener = (message: StreamMessage) => void;

export interface ChangeFeedOptions {
  /** The store as it is, not observed (reads only). */
  store: Store;
  now(): number;
  /** Timers (tests pass a fake). */
  schedule?(fn: () => void, ms: number): { cancel(): void };
  /** Where the traffic timelines are kept across restarts (the state database's key-value table); absent: in memory only. */
  kv?: { get(key: string): string | undefined; set(key: string, value: string): void };
}

const timelineKey = (rollout: string) => `dashboard.weights/${rollout}`;

export class ChangeFeed {
  private readonly listeners = new Set<FeedListener>();
  private readonly rollouts = new Set<string>();
  private readonly jobs = new Set<string>();
  private readonly topics = new Set<Topic>();
  private readonly timelines = new Map<string, WeightPoint[]>();
  private pending: { cancel(): void } | undefined;
  private readonly schedule: NonNullable<ChangeFeedOptions['schedule']>;

  constructor(private readonly options: ChangeFeedOptions) {
    this.schedule =
      options.schedule ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref();
        return { cancel: () => clearTimeout(t) };
      });
    for (const r of options.store.listRollouts()) {
      const saved = this.loadTimeline(r.name);
      this.timelines.set(r.name, saved);
      this.notePoint(r, r.status.updatedAt);
    }
  }

  private loadTimeline(name: string): WeightPoint[] {
    const text = this.options.kv?.get(timelineKey(name));
    if (text === undefined || text === '') return [];
    try {
      const points = JSON.parse(text) as WeightPoint[];
      return Array.isArray(points) ? points.slice(-MAX_WEIGHT_POINTS) : [];
    } catch {
      // A damaged timeline is only a chart's history: start it again.
      return [];
    }
  }

  /** Listen to every message; returns the unsubscribe. */
  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** A write touched this (observeStore calls it). */
  touched(what: { rollout?: string; jobsOf?: string; topic?: Topic }): void {
    if (what.rollout !== undefined) this.rollouts.add(what.rollout);
    if (what.jobsOf !== undefined) this.jobs.add(what.jobsOf);
    if (what.topic !== undefined) this.topics.add(what.topic);
    this.pending ??= this.schedule(() => this.flush(), FLUSH_MS);
  }

  /** An event was committed (the store's onEvent): sent at once, it is already final. */
  event(e: RolloutEvent): void {
    this.rollouts.add(e.rollout);
    this.pending ??= this.schedule(() => this.flush(), FLUSH_MS);
    this.send({ event: 'event', data: e });
  }

  /** Sends what was touched since the last flush (the timer calls it; tests may too). */
  flush(): void {
    this.pending?.cancel();
    this.pending = undefined;
    const { store } = this.options;
    const names = [...this.rollouts];
    this.rollouts.clear();
    const jobs = [...this.jobs];
    this.jobs.clear();
    const topics = [...this.topics];
    this.topics.clear();
    for (const name of names) {
      const record = store.getRollout(name);
      if (record === undefined) {
        if (this.timelines.delete(name)) {
          this.options.kv?.set(timelineKey(name), '');
          this.send({ event: 'removed', data: { name } });
        }
        continue;
      }
      // Only the touched rollouts' jobs: a burst on one rollout never reads every rollout's.
      this.send({ event: 'rollout', data: this.summaryOf(record, this.awaitingApproval(store, name).has(name)) });
      const point = this.notePoint(record);
      if (point !== undefined) this.send({ event: 'weights', data: { name, point } });
    }
    for (const rollout of jobs) this.send({ event: 'jobs', data: { rollout } });
    for (const topic of topics) this.send({ event: topic, data: {} });
  }

  /** Every rollout as the overview shows it, by name. */
  overview(): RolloutSummary[] {
    const { store } = this.options;
    const approvals = this.awaitingApproval(store);
    return store
      .listRollouts()
      .map((r) => this.summaryOf(r, approvals.has(r.name)))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** One rollout's summary, or undefined. */
  summary(name: string): RolloutSummary | undefined {
    const record = this.options.store.getRollout(name);
    return record === undefined ? undefined : this.summaryOf(record, this.awaitingApproval(this.options.store, name).has(name));
  }

  /** A rollout's traffic timeline, oldest first. */
  weights(name: string): WeightPoint[] {
    const known = this.timelines.get(name);
    if (known !== undefined) return [...known];
    const record = this.options.store.getRollout(name);
    return record === undefined ? [] : [{ at: record.status.updatedAt, weights: record.status.weights.map((w) => ({ ...w })) }];
  }

  private notePoint(record: RolloutRecord, at = this.options.now()): WeightPoint | undefined {
    const weights = record.status.weights.map((w) => ({ revision: w.revision, weight: w.weight }));
    const line = this.timelines.get(record.name) ?? [];
    const last = line.at(-1);
    if (last !== undefined && sameSplit(last.weights, weights)) return undefined;
    const point = { at: Math.max(at, last?.at ?? 0), weights };
    line.push(point);
    if (line.length > MAX_WEIGHT_POINTS) line.splice(0, line.length - MAX_WEIGHT_POINTS);
    this.timelines.set(record.name, line);
    this.options.kv?.set(timelineKey(record.name), JSON.stringify(line));
    return point;
  }

  private awaitingApproval(store: JobStore, rollout?: string): Set<string> {
    const waiting = new Set<string>();
    for (const { status } of store.listJobs(rollout)) {
      if (status.kind === 'approval' && (status.phase === 'Running' || status.phase === 'Pending')) waiting.add(status.rollout);
    }
    return waiting;
  }

  private summaryOf(record: RolloutRecord, approval: boolean): RolloutSummary {
    const { spec, status } = record;
    const steps = spec.strategy.type === 'canary' ? spec.strategy.steps.length : undefined;
    const last = this.options.store.lastEvents(record.name, 1)[0];
    const current = this.options.store.listRevisions(record.name).find((r) => r.number === status.currentRevision);
    // A pause without an end waits for `sluice promote`; a timed one ends by itself.
    const waitsForPerson = status.phase === 'Paused' && status.pauses.some((p) => p.until === undefined);
    return {
      name: record.name,
      ...(spec.environment !== undefined ? { environment: spec.environment } : {}),
      ...(spec.service !== undefined ? { service: spec.service } : {}),
      strategy: spec.strategy.type,
      phase: status.phase,
      reason: status.reason,
      message: status.message,
      // At rest (current is stable) every step is done, as `sluice get rollouts` says.
      ...(steps !== undefined && steps > 0
        ? { step: status.currentRevision === status.stableRevision ? steps : Math.min(status.stepIndex + 1, steps), steps }
        : {}),
      weights: status.weights.map((w) => ({ revision: w.revision, weight: w.weight })),
      currentRevision: status.currentRevision,
      stableRevision: status.stableRevision ?? 0,
      version: current?.template.version ?? spec.template.version,
      ...(approval ? { awaiting: 'approval' as const } : waitsForPerson ? { awaiting: 'promotion' as const } : {}),
      updatedAt: status.updatedAt,
      ...(last !== undefined
        ? { lastEvent: { id: last.id, at: last.at, type: last.type, reason: last.reason, message: last.message, actor: last.actor } }
        : {}),
    };
  }

  private send(message: StreamMessage): void {
    for (const l of this.listeners) {
      try {
        l(message);
      } catch {
        // One broken listener (a closed socket) never stops the others.
      }
    }
  }
}

function sameSplit(a: readonly { revision: number; weight: number }[], b: readonly { revision: number; weight: number }[]): boolean {
  return a.length === b.length && a.every((w, i) => w.revision === b[i]!.revision && w.weight === b[i]!.weight);
}

/**
 * The store, with every write method reporting to `feed` what it touched. Reads and the
 * rest pass through untouched; `this` stays the real store.
 */
export function observeStore<S extends Store>(store: S, feed: ChangeFeed): S {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const cached = wrapped.get(prop);
      if (cached !== undefined) return cached;
      const what = typeof prop === 'string' ? WRITES[prop] : undefined;
      const fn = value as (...args: unknown[]) => unknown;
      const bound =
        what === undefined
          ? fn.bind(target)
          : (...args: unknown[]) => {
              const result = fn.apply(target, args);
              feed.touched(what(args));
              return result;
            };
      wrapped.set(prop, bound);
      return bound;
    },
  });
}

/**
 * The data-plane half of experiments in the router process: the signing key, the journal,
 * the exposed-user sets, and the experiments of the table in effect (for the events
 * endpoint). The compiled table holds one ExperimentSplit per experiment listener; this
 * object is what they record through.
 */
import { join } from 'node:path';
import type { ExperimentRecord } from '../../core/experiment.js';
import type { ListenerRoutes } from '../../core/route-table.js';
import { assignmentBucket, assignmentSeed } from '../../experiments/assign.js';
import { BucketSplit } from '../split.js';
import { userHash } from './exposed-set.js';
import { ExposureSets, fileId } from './exposures.js';
import type { ExperimentRecorder, LiveExperiment } from './types.js';

export type { LiveExperiment };
import { compileGoals } from './goals.js';
import { ExperimentJournal, FLUSH_MS } from './journal.js';
import { ExperimentSplit } from './split.js';
import { loadExperimentKey, UserCookieSigner } from './user-cookie.js';

export interface ExperimentPlaneOptions {
  stateDir: string;
  log?: (line: string) => void;
  /** How long the exposed users of an experiment out of the table are kept (exposures.ts). */
  exposedGraceMs?: number;
  segmentBytes?: number;
}

/** A backend's variant name in records: its `variant`, else `r<revision>`. */
export function variantName(l: ListenerRoutes, revision: number): string {
  return l.backends.find((b) => b.revision === revision)?.variant ?? `r${revision}`;
}

export class ExperimentPlane implements ExperimentRecorder {
  readonly signer: UserCookieSigner;
  readonly journal: ExperimentJournal;
  private readonly sets: ExposureSets;
  private live: LiveExperiment[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly log: (line: string) => void;

  constructor(opts: ExperimentPlaneOptions) {
    this.log = opts.log ?? (() => {});
    this.signer = new UserCookieSigner(loadExperimentKey(opts.stateDir));
    const dir = join(opts.stateDir, 'router', 'experiments');
    this.journal = new ExperimentJournal(join(dir, 'journal'), opts.segmentBytes, this.log);
    this.sets = new ExposureSets(join(dir, 'exposed'), opts.exposedGraceMs, this.log);
  }

  /** Owns the journal from now on (start, or a takeover once the predecessor suspended it). */
  open(): void {
    this.journal.open();
  }

  /** The split of an experiment listener (compile time: loads its exposed set). */
  compile<T>(l: ListenerRoutes, buckets: BucketSplit<T>): ExperimentSplit<T> {
    const routes = l.experiment!;
    const exp: LiveExperiment = {
      rollout: l.rollout,
      experiment: routes.experiment,
      routes,
      seed: assignmentSeed(routes.salt),
      variants: new BucketSplit(l.split.map((w) => ({ revision: w.revision, weight: w.weight, item: variantName(l, w.revision) }))),
      exposures: this.sets.get(l.rollout, routes.experiment),
      events: new Map(routes.events.map((e) => [e.event, { metric: e.metric, kind: e.kind, allowNegative: e.allowNegative }])),
    };
    return new ExperimentSplit(this, exp, buckets, compileGoals(routes));
  }

  /** The table in effect changed: its experiments are the live ones. */
  adopt(experiments: LiveExperiment[]): void {
    this.live = experiments;
    void this.sets.retain(new Set(experiments.map((e) => fileId(e.rollout, e.experiment)))).catch((e: Error) => this.log(`experiments: ${e.message}`));
  }

  /** The experiments of the table in effect. */
  get experiments(): readonly LiveExperiment[] {
    return this.live;
  }

  /** The variant a user is assigned in an experiment (the same hash as the request path). */
  variantOf(exp: LiveExperiment, user: string): string {
    return exp.variants.at(assignmentBucket(exp.seed, user))!;
  }

  isExposed(exp: LiveExperiment, user: string): boolean {
    return exp.exposures.set.has(userHash(user));
  }

  /** A user served: journals the exposure the first time this state dir's router sees them in the test. */
  expose(exp: LiveExperiment, user: string, variant: string): void {
    if (!exp.exposures.add(userHash(user))) return;
    this.journal.append({ type: 'exposure', rollout: exp.rollout, experiment: exp.experiment, user, variant, at: Date.now() });
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush().catch((e: Error) => this.log(`experiments: cannot write exposed users: ${e.message}`));
      }, FLUSH_MS);
    }
  }

  convert(exp: LiveExperiment, user: string, variant: string, metric: string, value: number, source: 'goal' | 'event', at = Date.now(), pre?: boolean): void {
    const r: ExperimentRecord = { type: 'conversion', rollout: exp.rollout, experiment: exp.experiment, user, variant, metric, value, at, source };
    if (pre === true) r.pre = true;
    this.journal.append(r);
  }

  /** Journal first, then the exposed sets: a user is never in a set without their exposure on disk. */
  async flush(): Promise<void> {
    await this.journal.flush();
    await this.sets.flush();
  }

  /** Handover, old side: everything on disk; the journal queues from now on. */
  async suspend(): Promise<void> {
    await this.flush();
    await this.journal.suspend();
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    await this.journal.close();
  }
}

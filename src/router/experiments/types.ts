/** What the request path (split.ts, goals.ts) and the events endpoint see of the experiment plane (plane.ts). */
import type { ExperimentRoutes, MetricKind } from '../../core/experiment.js';
import type { BucketSplit } from '../split.js';
import type { ExposureFile } from './exposures.js';
import type { UserCookieSigner } from './user-cookie.js';

/** Longest user key (characters): a longer header or cookie value is not used as one (events refuse it too). */
export const MAX_USER_LENGTH = 256;

/** One experiment of the table, compiled. */
export interface LiveExperiment {
  rollout: string;
  experiment: string;
  routes: ExperimentRoutes;
  /** assignmentSeed(salt). */
  seed: number;
  /** Bucket → variant name (the backend's `variant`, else `r<revision>`), whatever is ready. */
  variants: BucketSplit<string>;
  exposures: ExposureFile;
  /** Event name → the metric it feeds. */
  events: Map<string, { metric: string; kind: MetricKind; allowNegative: boolean }>;
}

/** Where exposures and conversions are recorded (ExperimentPlane). */
export interface ExperimentRecorder {
  readonly signer: UserCookieSigner;
  expose(exp: LiveExperiment, user: string, variant: string): void;
  convert(exp: LiveExperiment, user: string, variant: string, metric: string, value: number, source: 'goal' | 'event', at?: number, pre?: boolean): void;
}

import type { Stickiness, WeightedTarget } from '../core/route-table.js';
import { BucketSplit, SmoothWeightedSplit } from './split.js';
import { StickySplit } from './sticky.js';

/**
 * The target of a match rule with `split` (premium users 50/50 while everyone else stays on
 * stable): the same machinery as the listener's default split. With a sticky listener a
 * user keeps its bucket, mapped through this rule's own BucketSplit, so it stays on one of
 * the rule's revisions; a new client of cookie stickiness is given a bucket here.
 */
export interface RuleSplit<T> {
  split: SmoothWeightedSplit<T>;
  /** Present when the listener is sticky; it then chooses instead of `split`. */
  sticky: StickySplit<T> | undefined;
}

/** Undefined when none of the targets has a ready instance (the request falls to the default split). */
export function compileRuleSplit<T>(
  targets: WeightedTarget[],
  backends: Map<number, T>,
  sticky: Stickiness | undefined,
  rollout: string,
): RuleSplit<T> | undefined {
  const live = targets.filter((w) => backends.has(w.revision));
  if (!live.some((w) => w.weight > 0)) return undefined;
  const split = new SmoothWeightedSplit(live.map((w) => ({ item: backends.get(w.revision)!, weight: w.weight })));
  if (sticky === undefined) return { split, sticky: undefined };
  const buckets = new BucketSplit(targets.map((w) => ({ ...w, item: backends.get(w.revision) })));
  return { split, sticky: new StickySplit(sticky, rollout, buckets, split) };
}

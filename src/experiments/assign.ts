/**
 * Experiment assignment: a user's variant is a pure function of the test's salt and the
 * user's key — the same in every router process, after restarts and on every device that
 * sends the same key, whatever order users arrive in, and not something a client can pick
 * (the router's own user cookie is signed: src/router/experiments/). The bucket maps to a
 * variant through the listener's BucketSplit (weights × 100 buckets each).
 */
import { hashBucket, stickySeed } from '../util/bucket-hash.js';

/** The hash state after a test's salt (`<rollout>/<experiment>`): compute once per route table. */
export function assignmentSeed(salt: string): number {
  return stickySeed(salt);
}

/** The user's bucket, 0..BUCKET_COUNT-1 (src/util/bucket-hash.ts). */
export function assignmentBucket(seed: number, userKey: string): number {
  return hashBucket(seed, userKey);
}

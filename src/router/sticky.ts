import type { IncomingMessage } from 'node:http';
import type { Stickiness } from '../core/route-table.js';
import { hashBucket, stickySeed } from '../util/bucket-hash.js';
import { BUCKETS, cookieValue, type BucketSplit, type SmoothWeightedSplit } from './split.js';

/** Re-exported for tests that check buckets against the router's. */
export { hashBucket, stickySeed };

/** Flagger's default for its session-affinity cookie: one day. */
export const DEFAULT_STICKY_MAX_AGE_SECONDS = 86_400;

/**
 * A sticky split, compiled once per table: finds the request's bucket (its cookie, or a
 * hash of its header or application cookie) and maps it through the BucketSplit. Without
 * a key the request gets the plain smooth weighted split; with `cookie` it is then also
 * given a bucket among those of the revision it got, so that its next requests stay there.
 */
export class StickySplit<T> {
  /**
   * Written by every choose(): the Set-Cookie value for the request just routed when it was
   * given a new bucket, else undefined. Read it right after choose().
   */
  assigned: string | undefined = undefined;
  private readonly assignCookie: string | undefined;
  private readonly cookiePrefix: string = '';
  private readonly cookieSuffix: string = '';
  /** Header name (lower case) or application cookie name whose value is hashed. */
  private readonly hashHeader: string | undefined;
  private readonly hashCookie: string | undefined;
  /** FNV-1a state after the salt: the rollout name, so rollouts' buckets are unrelated. */
  private readonly seed: number;

  constructor(
    sticky: Stickiness,
    rollout: string,
    private readonly buckets: BucketSplit<T>,
    private readonly fallback: SmoothWeightedSplit<T>,
  ) {
    if (sticky.cookie !== undefined) {
      this.assignCookie = sticky.cookie.name;
      this.cookiePrefix = `${sticky.cookie.name}=`;
      this.cookieSuffix = `; Path=/; HttpOnly; SameSite=Lax; Max-Age=${sticky.cookie.maxAgeSeconds ?? DEFAULT_STICKY_MAX_AGE_SECONDS}`;
    }
    this.hashHeader = sticky.header?.toLowerCase();
    this.hashCookie = sticky.hashCookie;
    this.seed = stickySeed(rollout);
  }

  choose(req: IncomingMessage): T | undefined {
    this.assigned = undefined;
    if (this.assignCookie !== undefined) {
      const bucket = parseBucket(cookieValue(req.headers.cookie, this.assignCookie));
      if (bucket >= 0) return this.buckets.at(bucket);
      const item = this.fallback.next();
      if (item === undefined) return undefined;
      const drawn = this.buckets.draw(item);
      // A revision whose weight is under one bucket serves none: draw among all instead.
      const bucketFor = drawn ?? Math.floor(Math.random() * BUCKETS);
      this.assigned = this.cookiePrefix + bucketFor + this.cookieSuffix;
      return drawn === undefined ? this.buckets.at(bucketFor) : item;
    }
    let key: string | undefined;
    if (this.hashHeader !== undefined) {
      const v = req.headers[this.hashHeader];
      key = Array.isArray(v) ? v.join(', ') : v;
    } else {
      key = cookieValue(req.headers.cookie, this.hashCookie!);
    }
    if (key === undefined || key === '') return this.fallback.next();
    return this.buckets.at(hashBucket(this.seed, key));
  }
}

/** A bucket cookie's value, 0..9999 in decimal; -1 when absent or not one (a new client). */
function parseBucket(v: string | undefined): number {
  if (v === undefined || v.length === 0 || v.length > 4) return -1;
  let b = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    b = b * 10 + d;
  }
  return b;
}

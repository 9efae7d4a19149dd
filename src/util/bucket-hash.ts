/**
 * The bucket hash shared by the router's sticky split and experiment assignment
 * (src/experiments/assign.ts): FNV-1a 32 over a salt, then the key, finished with murmur3's
 * fmix32, modulo BUCKETS. Pure and fast: it runs once per routed request of a sticky listener.
 */

/** Buckets a user can hold, 0..9999: a weight of w % owns w × 100 of them. */
export const BUCKET_COUNT = 10_000;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * A header or cookie value's bucket: FNV-1a 32 over the salt bytes (the rollout name in
 * UTF-8, then a 0 byte) and then the value's bytes as received (Node gives header values
 * as latin1, one char per byte), finished with murmur3's fmix32 so that near-identical keys
 * (user-1, user-2) spread, then modulo 10000.
 */
export function hashBucket(seed: number, value: string): number {
  let h = fnv1a(seed, value);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % BUCKET_COUNT;
}

/** The FNV-1a state after a rollout's salt: what hashBucket continues from. */
export function stickySeed(rollout: string): number {
  return fnv1a(FNV_OFFSET, Buffer.from(`${rollout}\0`, 'utf8').toString('latin1'));
}

function fnv1a(h: number, bytes: string): number {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    // Above 0xff only for a value that did not come off the wire: both bytes count.
    if (c > 0xff) h = Math.imul(h ^ (c >>> 8), FNV_PRIME);
    h = Math.imul(h ^ (c & 0xff), FNV_PRIME);
  }
  return h;
}

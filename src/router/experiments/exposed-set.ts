/**
 * The users an experiment has exposed, as 52-bit hashes of their keys in an open-addressing
 * hash set (linear probing) over one Float64Array: 8 bytes a slot, at most 70 % full, so
 * 1M users take 16 MiB (2^21 slots) instead of the ~100 MiB a Set<string> of ids would.
 * Two different keys share a hash with probability ~n²/2^53 (1e-4 at 1M users): at worst one
 * exposure is not journaled twice. 0 marks an empty slot (a hash of 0 is stored as 1).
 */

const TWO_32 = 4294967296;

/** A 52-bit hash of a user key (two 32-bit FNV-1a passes with different offsets, murmur3-finished). */
export function userHash(key: string): number {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  const h = (fmix(a) & 0xfffff) * TWO_32 + (fmix(b ^ 0x9e3779b9) >>> 0);
  return h === 0 ? 1 : h;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class ExposedSet {
  private slots: Float64Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1024) {
    let n = 1024;
    while (n * 0.7 < capacity) n *= 2;
    this.slots = new Float64Array(n);
    this.mask = n - 1;
  }

  has(h: number): boolean {
    const slots = this.slots;
    let i = (h % TWO_32) & this.mask;
    for (;;) {
      const v = slots[i];
      if (v === h) return true;
      if (v === 0) return false;
      i = (i + 1) & this.mask;
    }
  }

  /** Adds h; false when it was there already. */
  add(h: number): boolean {
    if (this.size + 1 > this.slots.length * 0.7) this.grow();
    const slots = this.slots;
    let i = (h % TWO_32) & this.mask;
    for (;;) {
      const v = slots[i];
      if (v === h) return false;
      if (v === 0) {
        slots[i] = h;
        this.size++;
        return true;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.slots.byteLength;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    this.mask = this.slots.length - 1;
    this.size = 0;
    for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.add(old[i]);
  }
}

/**
 * A small seeded generator for the face data set: every stream is keyed by a list of integers
 * (seed, purpose, identity, image, ...), so any image can be drawn alone, in any order, on any thread,
 * and comes out the same.
 */

/** murmur3's 32-bit finaliser. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes integer keys (each taken modulo 2^32, plus its high part for larger seeds) into a 32-bit state. */
export function hashKeys(keys: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const key of keys) {
    const low = key >>> 0;
    const high = Math.floor(key / 2 ** 32) >>> 0;
    h = mix(h ^ mix(low + 0x7f4a7c15));
    h = mix(h ^ mix(high + 0x2545f491));
  }
  return h;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | undefined;

  /** sfc32 seeded from the hash of `keys`. */
  constructor(...keys: number[]) {
    const h = hashKeys(keys);
    this.a = mix(h ^ 0x243f6a88);
    this.b = mix(h ^ 0x85a308d3);
    this.c = mix(h ^ 0x13198a2e);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform in [-r, r]. */
  symmetric(r: number): number {
    return r * (2 * this.next() - 1);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u = 1 - this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

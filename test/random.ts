/** A small seeded generator (mulberry32) so that a failing case can be replayed from its seed. */
export class Random {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** A fresh seed per run, printed so that any failure can be replayed with MVFACE_TEST_SEED. */
export function freshSeed(): number {
  const fixed = process.env.MVFACE_TEST_SEED;
  const seed = fixed ? Number(fixed) : (Date.now() ^ (process.pid << 8)) >>> 0;
  console.log(`random seed ${seed} (replay with MVFACE_TEST_SEED=${seed})`);
  return seed;
}

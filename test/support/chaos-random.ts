// A seeded PRNG for the chaos suite, so a failing run can be replayed: every file prints the seed it
// used, and CHAOS_SEED=<that seed> makes every random choice of the run the same again.
import { createHash } from 'node:crypto';

/** The run's seed: CHAOS_SEED if set, else a fresh one (printed by each file). */
export function chaosSeed(): number {
  const fromEnv = process.env.CHAOS_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`CHAOS_SEED must be a non-negative integer, got ${fromEnv}`);
    return n >>> 0;
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

export class Rng {
  readonly seed: number;
  private state: number;

  /** An independent stream per `stream` label, so adding draws in one file never shifts another's. */
  constructor(seed: number, stream: string) {
    this.seed = seed;
    this.state = createHash('sha256').update(`${seed}:${stream}`).digest().readUInt32LE(0) || 1;
  }

  /** mulberry32: uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  between(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

// Small numeric helpers shared by the scenarios and the report writers.

export function quantile(values: number[], q: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest rank, so p99 of 600 samples is a sample that happened, not an interpolation.
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: number[]): number => {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  const ok = values.filter((v) => Number.isFinite(v));
  return { median: median(ok), min: ok.length ? Math.min(...ok) : NaN, max: ok.length ? Math.max(...ok) : NaN };
}

/** 201 points (every half percent) of a distribution: enough for a CDF, small enough to commit. */
export function cdfPoints(values: number[]): number[] {
  if (!values.length) return [];
  return Array.from({ length: 201 }, (_, i) => round(quantile(values, i / 200), 1));
}

export const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs fn over items with at most `concurrency` in flight. Plain workers on a shared index rather
 * than a queue library: the floor's timings should carry as little client overhead as possible.
 */
export async function forEachConcurrent<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

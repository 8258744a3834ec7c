/*
 * Fixed latency buckets of the usage rollups (ADR 0009). A bucket i covers [BOUNDS[i-1], BOUNDS[i]) ms; bucket 0
 * is [0, 5) and the last one [300000, ∞). Neighbouring bounds differ by at most 1.5× from 10 ms up, so a
 * percentile read from the buckets lies in the same bucket as the exact one.
 *
 * WARNING: the rollup tables store counts by position. Changing these bounds silently reinterprets every stored
 * row; it takes a migration that rebuilds the rollups from usage_records.
 */
export const LATENCY_BUCKET_BOUNDS_MS: readonly number[] = [
  5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 7500, 10000,
  15000, 20000, 30000, 40000, 50000, 75000, 100000, 150000, 200000, 300000,
];

/** How many buckets a histogram has: one more than there are bounds. */
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKET_BOUNDS_MS.length + 1;

/** The bucket of a latency, as PostgreSQL's `width_bucket(latency, bounds)` numbers it. */
export function latencyBucketOf(latencyMs: number): number {
  let i = 0;
  while (i < LATENCY_BUCKET_BOUNDS_MS.length && latencyMs >= LATENCY_BUCKET_BOUNDS_MS[i]) {
    i++;
  }
  return i;
}

/**
 * The q-quantile (0 < q ≤ 1) of a histogram by nearest rank, interpolated linearly inside its bucket; null for an
 * empty histogram. The true value lies in the same bucket, so the error is at most that bucket's width. The open
 * last bucket answers its lower bound.
 */
export function latencyPercentile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) {
    return null;
  }
  const rank = Math.max(1, Math.ceil(q * total));
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (n > 0 && below + n >= rank) {
      const lo = i === 0 ? 0 : LATENCY_BUCKET_BOUNDS_MS[i - 1];
      if (i >= LATENCY_BUCKET_BOUNDS_MS.length) {
        return lo;
      }
      const hi = LATENCY_BUCKET_BOUNDS_MS[i];
      return Math.round(lo + ((hi - lo) * (rank - below)) / n);
    }
    below += n;
  }
  return null;
}

/** Element-wise sum of histograms into `into` (which must have LATENCY_BUCKET_COUNT entries). */
export function addHistogram(into: number[], counts: readonly number[]): number[] {
  for (let i = 0; i < into.length; i++) {
    into[i] += counts[i] ?? 0;
  }
  return into;
}

export function emptyHistogram(): number[] {
  return new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
}

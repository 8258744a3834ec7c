import {
  LATENCY_BUCKET_BOUNDS_MS,
  LATENCY_BUCKET_COUNT,
  addHistogram,
  emptyHistogram,
  latencyBucketOf,
  latencyPercentile,
} from './latency-histogram';

function histogramOf(latencies: number[]): number[] {
  const h = emptyHistogram();
  for (const l of latencies) {
    h[latencyBucketOf(l)]++;
  }
  return h;
}

function exactPercentile(latencies: number[], q: number): number {
  const s = [...latencies].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil(q * s.length)) - 1];
}

describe('latency histogram', () => {
  it('numbers buckets as width_bucket does: lower bound inclusive', () => {
    expect(latencyBucketOf(0)).toBe(0);
    expect(latencyBucketOf(4)).toBe(0);
    expect(latencyBucketOf(5)).toBe(1);
    expect(latencyBucketOf(299_999)).toBe(LATENCY_BUCKET_COUNT - 2);
    expect(latencyBucketOf(300_000)).toBe(LATENCY_BUCKET_COUNT - 1);
    expect(latencyBucketOf(10_000_000)).toBe(LATENCY_BUCKET_COUNT - 1);
  });

  it('keeps neighbouring bounds within 1.5x from 10 ms up', () => {
    for (let i = 2; i < LATENCY_BUCKET_BOUNDS_MS.length; i++) {
      expect(LATENCY_BUCKET_BOUNDS_MS[i] / LATENCY_BUCKET_BOUNDS_MS[i - 1]).toBeLessThanOrEqual(1.5);
    }
  });

  it('estimates a percentile inside the bucket of the exact one', () => {
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const latencies = Array.from({ length: 5000 }, () => Math.round(20 * Math.exp(rand() * 7)));
    const h = histogramOf(latencies);
    for (const q of [0.5, 0.9, 0.95, 0.99]) {
      const exact = exactPercentile(latencies, q);
      const estimate = latencyPercentile(h, q);
      expect(estimate).not.toBeNull();
      const b = latencyBucketOf(exact);
      const lo = b === 0 ? 0 : LATENCY_BUCKET_BOUNDS_MS[b - 1];
      const hi = LATENCY_BUCKET_BOUNDS_MS[b] ?? lo;
      expect(estimate).toBeGreaterThanOrEqual(lo);
      expect(estimate).toBeLessThanOrEqual(hi);
    }
  });

  it('interpolates inside a bucket, answers the open bucket by its lower bound, and null when empty', () => {
    expect(latencyPercentile(emptyHistogram(), 0.95)).toBeNull();
    // 10 requests in [100, 150): the 5th is half way.
    expect(latencyPercentile(histogramOf(new Array<number>(10).fill(120)), 0.5)).toBe(125);
    expect(latencyPercentile(histogramOf([1, 400_000]), 0.95)).toBe(300_000);
    expect(latencyPercentile(histogramOf([1, 400_000]), 0.5)).toBe(5);
  });

  it('adds histograms element-wise', () => {
    expect(addHistogram(histogramOf([1, 7]), histogramOf([7])).slice(0, 3)).toEqual([1, 2, 0]);
  });
});

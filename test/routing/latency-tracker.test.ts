import type Redis from 'ioredis';
import { LatencyTracker, foldSamples } from '@aigw/routing';
import { connect, deleteKeys, uniquePrefix } from './redis';

describe('LatencyTracker (real Redis)', () => {
  let workerA: Redis;
  let workerB: Redis;
  let prefix: string;
  let now: number;
  const clock = (): number => now;

  beforeAll(() => {
    workerA = connect();
    workerB = connect();
  });

  afterAll(async () => {
    await Promise.all([workerA.quit(), workerB.quit()]);
  });

  beforeEach(() => {
    prefix = uniquePrefix();
    now = 1_700_000_000_000;
  });

  afterEach(async () => {
    await deleteKeys(workerA, prefix);
  });

  it('keeps an exponentially weighted moving average shared by workers', async () => {
    const a = new LatencyTracker(workerA, prefix, { alpha: 0.5, clock });
    const b = new LatencyTracker(workerB, prefix, { alpha: 0.5, clock });
    expect(await a.record('p/m', 100)).toBe(100);
    expect(await b.record('p/m', 200)).toBe(150);
    expect(await a.record('p/m', 50)).toBe(100);
    expect((await b.get(['p/m'])).get('p/m')).toBe(100);
  });

  it('keeps fractions (alpha 0.2)', async () => {
    const t = new LatencyTracker(workerA, prefix, { alpha: 0.2, clock });
    await t.record('p/m', 100);
    expect(await t.record('p/m', 333)).toBeCloseTo(146.6, 3);
  });

  it('folds a batch of samples per deployment in one call, as if recorded one by one', async () => {
    const batched = new LatencyTracker(workerA, prefix, { alpha: 0.3, clock });
    const single = new LatencyTracker(workerB, `${prefix}single:`, { alpha: 0.3, clock });
    await batched.record('p/m', 200);
    await single.record('p/m', 200);
    const samples = [120, 80, 400, 95.5];
    let expected = 0;
    for (const ms of samples) {
      expected = await single.record('p/m', ms);
    }
    const [average, fresh] = await batched.recordMany([
      ['p/m', samples],
      ['q/n', [50, 150]],
    ]);
    expect(average).toBeCloseTo(expected, 2);
    // Nothing to blend with: starts from the first sample, then folds the rest.
    expect(fresh).toBeCloseTo(0.3 * 150 + 0.7 * 50, 6);
    expect((await batched.get(['p/m', 'q/n'])).get('q/n')).toBeCloseTo(80, 6);
    await expect(batched.recordMany([])).resolves.toEqual([]);
    await expect(batched.recordMany([['p/m', []]])).rejects.toThrow(/non-negative/);
  });

  it('restarts a stale average from the first sample of a batch', async () => {
    const t = new LatencyTracker(workerA, prefix, { alpha: 0.5, maxAgeMs: 1000, clock });
    await t.record('p/m', 1000);
    now += 1001;
    expect(await t.recordMany([['p/m', [40, 60]]])).toEqual([50]);
    expect(foldSamples([40, 60], 0.5)).toEqual({ restart: 50, weight: 0.25, contribution: 40 });
  });

  it('reads many deployments in one call and omits the unknown', async () => {
    const t = new LatencyTracker(workerA, prefix, { alpha: 0.3, clock });
    await t.record('a/x', 10);
    await t.record('b/y', 20);
    const got = await t.get(['a/x', 'missing/z', 'b/y']);
    expect([...got.entries()]).toEqual([
      ['a/x', 10],
      ['b/y', 20],
    ]);
    expect((await t.get([])).size).toBe(0);
  });

  it('ignores stale averages and restarts them from the next sample', async () => {
    const t = new LatencyTracker(workerA, prefix, { alpha: 0.5, maxAgeMs: 1000, clock });
    await t.record('p/m', 1000);
    now += 1000;
    expect((await t.get(['p/m'])).get('p/m')).toBe(1000);
    now += 1;
    expect((await t.get(['p/m'])).has('p/m')).toBe(false);
    expect(await t.record('p/m', 40)).toBe(40);
  });

  it('rejects bad samples and a bad alpha', async () => {
    const t = new LatencyTracker(workerA, prefix, { alpha: 0.5, clock });
    await expect(t.record('p/m', -1)).rejects.toThrow(/non-negative/);
    await expect(t.record('p/m', Number.NaN)).rejects.toThrow(/non-negative/);
    expect(() => new LatencyTracker(workerA, prefix, { alpha: 0 })).toThrow(/alpha/);
    expect(() => new LatencyTracker(workerA, prefix, { alpha: 1.5 })).toThrow(/alpha/);
  });
});

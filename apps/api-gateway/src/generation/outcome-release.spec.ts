import { OutcomeRelease, RELEASE_BATCH } from './outcome-release';

describe('OutcomeRelease', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('deletes the keys released within one period with one UNLINK, and nothing while idle', () => {
    const calls: string[][] = [];
    const release = new OutcomeRelease((keys) => (calls.push(keys), Promise.resolve(keys.length)), jest.fn(), 100);
    release.release('a');
    release.release('b');
    expect(calls).toEqual([]);
    jest.advanceTimersByTime(100);
    expect(calls).toEqual([['a', 'b']]);
    jest.advanceTimersByTime(1_000);
    expect(calls).toHaveLength(1);
    release.release('c');
    jest.advanceTimersByTime(100);
    expect(calls).toEqual([['a', 'b'], ['c']]);
  });

  it('splits a burst into commands of at most RELEASE_BATCH keys', async () => {
    const sizes: number[] = [];
    const release = new OutcomeRelease((keys) => (sizes.push(keys.length), Promise.resolve(0)), jest.fn(), 100);
    for (let i = 0; i < RELEASE_BATCH * 2 + 1; i++) {
      release.release(`k${i}`);
    }
    await release.flush();
    expect(sizes).toEqual([RELEASE_BATCH, RELEASE_BATCH, 1]);
  });

  it('reports a failed delete and carries on (the keys expire with their TTL)', async () => {
    const failed = jest.fn();
    const release = new OutcomeRelease(() => Promise.reject(new Error('down')), failed, 100);
    release.release('a');
    // Resolves (never rejects) once the failure was reported.
    await release.flush();
    expect(failed).toHaveBeenCalledWith(expect.any(Error));
  });
});

import { sleep } from './sleep';

describe('sleep', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('resolves after the delay', async () => {
    let done = false;
    const waiting = sleep(1000, new AbortController().signal).then(() => (done = true));
    await jest.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await waiting;
    expect(done).toBe(true);
  });

  it('resolves early when the signal aborts, and at once when it already had', async () => {
    const controller = new AbortController();
    let done = false;
    const waiting = sleep(60_000, controller.signal).then(() => (done = true));
    await jest.advanceTimersByTimeAsync(10);
    controller.abort();
    await waiting;
    expect(done).toBe(true);
    expect(jest.getTimerCount()).toBe(0);
    await expect(sleep(60_000, controller.signal)).resolves.toBeUndefined();
  });
});

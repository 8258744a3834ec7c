import { waitFor } from './wait-for';

describe('waitFor', () => {
  it('resolves with the first truthy value', async () => {
    let calls = 0;
    await expect(waitFor(() => (++calls >= 3 ? { calls } : null), { intervalMs: 1 })).resolves.toEqual({ calls: 3 });
  });

  it('awaits async conditions and treats throws as "not yet"', async () => {
    let calls = 0;
    const value = await waitFor(
      async () => {
        calls++;
        if (calls < 2) {
          throw new Error('not ready');
        }
        return Promise.resolve('ready');
      },
      { intervalMs: 1 },
    );
    expect(value).toBe('ready');
  });

  it('throws the given message on timeout, with the last error as cause', async () => {
    const cause = new Error('still down');
    const err = (await waitFor(
      () => {
        throw cause;
      },
      { timeoutMs: 30, intervalMs: 5, message: 'service never came up' },
    ).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('service never came up');
    expect(err.cause).toBe(cause);
  });

  it('keeps polling on falsy values such as 0 and empty string', async () => {
    await expect(waitFor(() => 0, { timeoutMs: 20, intervalMs: 5 })).rejects.toThrow(/within 20 ms/);
  });
});

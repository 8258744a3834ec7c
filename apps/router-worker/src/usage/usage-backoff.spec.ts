import { usageJobOptions, usageRetryDelayMs, USAGE_BACKOFF } from './usage-backoff';

describe('usageRetryDelayMs', () => {
  it('doubles from 250 ms within the upper half of each step', () => {
    expect(usageRetryDelayMs(1, () => 0)).toBe(125);
    expect(usageRetryDelayMs(1, () => 1)).toBe(250);
    expect(usageRetryDelayMs(3, () => 1)).toBe(1000);
  });

  it('never waits more than 30 s, however many attempts were made', () => {
    expect(usageRetryDelayMs(8, () => 1)).toBe(30_000);
    expect(usageRetryDelayMs(999, () => 1)).toBe(30_000);
    expect(usageRetryDelayMs(10_000, () => 0)).toBe(15_000);
  });
});

describe('usageJobOptions', () => {
  it('retries for hours and keeps failed jobs', () => {
    expect(usageJobOptions()).toEqual({
      attempts: 1000,
      backoff: { type: USAGE_BACKOFF },
      removeOnComplete: true,
      removeOnFail: false,
    });
  });
});

import { costOf } from './cost';

describe('costOf', () => {
  const price = { promptPer1k: 3, completionPer1k: 15, cachedPromptPer1k: 0.3, cacheWritePer1k: 3.75 };

  it('bills cache reads and cache writes at their own rates, each prompt token exactly once', () => {
    const usage = {
      promptTokens: 1000,
      completionTokens: 100,
      totalTokens: 1100,
      cachedPromptTokens: 600,
      cacheWritePromptTokens: 300,
    };
    // 100 plain * 3 + 600 read * 0.3 + 300 written * 3.75 + 100 out * 15, per 1K tokens
    expect(costOf(usage, price)).toBeCloseTo((300 + 180 + 1125 + 1500) / 1000, 9);
  });

  it('falls back to the prompt price for unpriced cache writes, and caps counts at the prompt', () => {
    const usage = {
      promptTokens: 100,
      completionTokens: 0,
      totalTokens: 100,
      cachedPromptTokens: 0,
      cacheWritePromptTokens: 500,
    };
    expect(costOf(usage, { promptPer1k: 1, completionPer1k: 1 })).toBe(0.1);
  });

  it('bills writes to the 1-hour cache at twice the prompt price, within the writes, never under the write price', () => {
    const usage = {
      promptTokens: 1000,
      completionTokens: 0,
      totalTokens: 1000,
      cachedPromptTokens: 0,
      cacheWritePromptTokens: 300,
      cacheWrite1hPromptTokens: 200,
    };
    // 700 plain * 3 + 100 written for 5 minutes * 3.75 + 200 written for an hour * 6, per 1K tokens
    expect(costOf(usage, price)).toBeCloseTo((2100 + 375 + 1200) / 1000, 9);
    // More 1-hour writes than writes: only the writes are.
    expect(costOf({ ...usage, cacheWrite1hPromptTokens: 900 }, price)).toBeCloseTo((2100 + 1800) / 1000, 9);
    // A catalog write price above twice the prompt's is kept.
    expect(costOf(usage, { ...price, cacheWritePer1k: 10 })).toBeCloseTo((2100 + 1000 + 2000) / 1000, 9);
  });
});

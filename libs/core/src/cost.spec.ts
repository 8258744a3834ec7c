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
});

import type { Usage } from './domain';

export interface Pricing {
  /** USD per 1K prompt tokens. */
  promptPer1k: number;
  /** USD per 1K completion tokens. */
  completionPer1k: number;
  /** USD per 1K prompt tokens served from the provider's prompt cache; defaults to the prompt price. */
  cachedPromptPer1k?: number | null;
  /** USD per 1K prompt tokens written to the provider's prompt cache (Anthropic: 1.25x input); defaults to the prompt price. */
  cacheWritePer1k?: number | null;
}

/**
 * Cost in USD, rounded to 1e-9 so sums in PostgreSQL numeric columns stay exact. `promptTokens` counts every
 * prompt token once: cache reads and cache writes are parts of it, each billed at its own rate and never
 * again at the plain prompt rate.
 */
export function costOf(usage: Usage, price: Pricing): number {
  const cached = Math.min(usage.cachedPromptTokens, usage.promptTokens);
  const written = Math.min(usage.cacheWritePromptTokens ?? 0, usage.promptTokens - cached);
  const uncached = usage.promptTokens - cached - written;
  const cachedRate = price.cachedPromptPer1k ?? price.promptPer1k;
  const writeRate = price.cacheWritePer1k ?? price.promptPer1k;
  const usd =
    (uncached * price.promptPer1k +
      cached * cachedRate +
      written * writeRate +
      usage.completionTokens * price.completionPer1k) /
    1000;
  return Math.round(usd * 1e9) / 1e9;
}

import type { Usage } from './domain';

export interface Pricing {
  /** USD per 1K prompt tokens. */
  promptPer1k: number;
  /** USD per 1K completion tokens. */
  completionPer1k: number;
  /** USD per 1K prompt tokens served from the provider's prompt cache; defaults to the prompt price. */
  cachedPromptPer1k?: number | null;
}

/** Cost in USD, rounded to 1e-9 so sums in PostgreSQL numeric columns stay exact. */
export function costOf(usage: Usage, price: Pricing): number {
  const cached = Math.min(usage.cachedPromptTokens, usage.promptTokens);
  const uncached = usage.promptTokens - cached;
  const cachedRate = price.cachedPromptPer1k ?? price.promptPer1k;
  const usd =
    (uncached * price.promptPer1k + cached * cachedRate + usage.completionTokens * price.completionPer1k) / 1000;
  return Math.round(usd * 1e9) / 1e9;
}

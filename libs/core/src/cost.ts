import type { ProviderSpec } from './catalog';
import type { Route, Usage } from './domain';

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
 * What a prompt token written to a cache that lives an hour costs, per 1K: Anthropic bills such writes at twice the
 * input price (a 5-minute write at 1.25x: `cacheWritePer1k`), and never less than the write price the catalog sets.
 */
export function longCacheWritePer1k(price: Pricing): number {
  return Math.max(2 * price.promptPer1k, price.cacheWritePer1k ?? price.promptPer1k);
}

/**
 * Cost in USD, rounded to 1e-9 so sums in PostgreSQL numeric columns stay exact. `promptTokens` counts every
 * prompt token once: cache reads and cache writes are parts of it, each billed at its own rate and never
 * again at the plain prompt rate; writes to the 1-hour cache (`cacheWrite1hPromptTokens`) at `longCacheWritePer1k`.
 */
export function costOf(usage: Usage, price: Pricing): number {
  const cached = Math.min(usage.cachedPromptTokens, usage.promptTokens);
  const written = Math.min(usage.cacheWritePromptTokens ?? 0, usage.promptTokens - cached);
  const writtenLong = Math.min(usage.cacheWrite1hPromptTokens ?? 0, written);
  const uncached = usage.promptTokens - cached - written;
  const cachedRate = price.cachedPromptPer1k ?? price.promptPer1k;
  const writeRate = price.cacheWritePer1k ?? price.promptPer1k;
  const usd =
    (uncached * price.promptPer1k +
      cached * cachedRate +
      (written - writtenLong) * writeRate +
      (writtenLong === 0 ? 0 : writtenLong * longCacheWritePer1k(price)) +
      usage.completionTokens * price.completionPer1k) /
    1000;
  return Math.round(usd * 1e9) / 1e9;
}

/** Per base URL, so that an answer pays a map lookup, not a URL parse (bounded: a catalog has a few dozen). */
const reportingHosts = new Map<string, boolean>();

/** OpenRouter's API (`https://openrouter.ai/api/v1`), whose `usage.cost` is what it charged for the call. */
function reportsCost(baseUrl: string): boolean {
  let reports = reportingHosts.get(baseUrl);
  if (reports === undefined) {
    try {
      reports = new URL(baseUrl).hostname.toLowerCase() === 'openrouter.ai';
    } catch {
      reports = false;
    }
    if (reportingHosts.size < 1024) {
      reportingHosts.set(baseUrl, reports);
    }
  }
  return reports;
}

/**
 * The cost of an answer as its provider reported it, rounded as `costOf` rounds, where the gateway trusts the report:
 * OpenRouter called directly, whose `usage.cost` is what it took from the account (docs: openrouter.ai, Usage
 * Accounting; BYOK's upstream charge added by the adapter). Its price varies with the upstream it picked, its
 * discounts, cache writes and per-request fees, which no catalog price per token can follow. Undefined otherwise: a
 * server whose `usage.cost` means something else, or a gateway route (a LiteLLM in front of it reports its own
 * view), is priced from the catalog.
 */
export function reportedCostOf(
  provider: Pick<ProviderSpec, 'baseUrl'>,
  route: Route,
  usage: Usage,
): number | undefined {
  const reported = usage.reportedCostUsd;
  if (reported === undefined || route !== 'direct' || !reportsCost(provider.baseUrl)) {
    return undefined;
  }
  return Math.round(reported * 1e9) / 1e9;
}

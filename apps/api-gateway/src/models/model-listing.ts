import { DEFAULT_QUALITY, type Capability, type Deployment } from '@aigw/core';
import type { ProviderHealthStatus } from '@aigw/entities';
import type { CircuitStatus } from '@aigw/routing';
import { cooldownUntilOf, unavailabilityOf, type SlowSignals, type Unavailability } from './deployment-signals.service';

/** One deployment in `GET /api/v1/ai/models` (the contract the console and clients rely on). */
export interface ModelListItem {
  /** `provider/model`: what a request's `model` pins. */
  id: string;
  provider: string;
  model: string;
  displayName: string;
  /** The provider's display name (the id when the catalog gives none). */
  providerDisplayName: string;
  description: string | null;
  capabilities: Capability[];
  contextWindow: number;
  pricing: { promptPer1k: number; completionPer1k: number };
  /** Mean latency of the successful provider calls of the last 24 h; null without any. */
  avgLatencyMs: number | null;
  /** Share of the last 24 h's provider calls that succeeded (0..1); null without any. */
  successRate: number | null;
  /** Requests the 24 h figures are based on. */
  requests24h: number;
  /** The health monitor's verdict on the provider. */
  health: ProviderHealthStatus;
  /** Enabled, circuit not open, not cooling down, health not failing and the model in its provider's model list. */
  available: boolean;
  /**
   * Why it is not available (null when it is): `circuit_open` after repeated failures, `cooldown` while its provider's
   * wait runs (it answered a 429, 503 or 529 with Retry-After: nothing failed), or the others as named.
   */
  unavailableReason: Unavailability | null;
  /** With `cooldown`: when the wait its provider asked for ends (ISO time); null otherwise. */
  cooldownUntil: string | null;
  recommended: boolean;
}

export interface ModelListing {
  object: 'list';
  data: ModelListItem[];
}

/**
 * The price floor of the quality-per-price rule (USD per 1K tokens, prompt plus completion), so that a free
 * deployment (a local server) ranks by its quality instead of dividing by zero.
 */
export const PRICE_FLOOR_PER_1K = 0.000001;

/** Quality per price as the `recommended` rule ranks it (higher is better). */
export function valueOf(d: Deployment): number {
  const q = d.model.quality;
  const quality = q !== undefined && Number.isFinite(q) ? q : DEFAULT_QUALITY;
  return quality / Math.max(d.model.promptPer1k + d.model.completionPer1k, PRICE_FLOOR_PER_1K);
}

/**
 * The `recommended` rule. When the catalog flags any enabled deployment `recommended: true`, exactly the flagged
 * enabled ones are recommended (the operator's choice wins). Otherwise one deployment is: among the available
 * chat deployments whose provider is not degraded, the best quality per price (`quality / (promptPer1k +
 * completionPer1k)`, quality 0.5 when unset, a price floor for free ones); ties go to the higher quality, then
 * to catalog order.
 */
export function recommendedIds(deployments: readonly Deployment[], usable: (d: Deployment) => boolean): Set<string> {
  const flagged = deployments.filter((d) => d.model.recommended === true && d.provider.enabled && d.model.enabled);
  if (flagged.length > 0) {
    return new Set(flagged.map((d) => d.id));
  }
  let best: Deployment | null = null;
  for (const d of deployments) {
    if (!d.model.capabilities.includes('chat') || !usable(d)) {
      continue;
    }
    if (best === null || valueOf(d) > valueOf(best)) {
      best = d;
    } else if (
      valueOf(d) === valueOf(best) &&
      (d.model.quality ?? DEFAULT_QUALITY) > (best.model.quality ?? DEFAULT_QUALITY)
    ) {
      best = d;
    }
  }
  return new Set(best === null ? [] : [best.id]);
}

/**
 * Every deployment of the catalog, enabled or not, with what it costs and can do, how it did over the last
 * day and whether it can take a request now. Field by field on purpose: the catalog objects hold the
 * provider's base URL and API key.
 */
export function modelListing(
  deployments: readonly Deployment[],
  signals: SlowSignals,
  circuits: ReadonlyMap<string, CircuitStatus>,
  unserved: ReadonlySet<string> = new Set(),
): ModelListing {
  const health = (d: Deployment): ProviderHealthStatus => signals.health.get(d.provider.id) ?? 'unknown';
  const unavailability = (d: Deployment) => unavailabilityOf(d, circuits.get(d.id), health(d), unserved.has(d.id));
  const available = (d: Deployment): boolean => unavailability(d) === null;
  const recommended = recommendedIds(deployments, (d) => available(d) && health(d) !== 'degraded');
  return {
    object: 'list',
    data: deployments.map((d) => {
      const stats = signals.stats.get(d.id);
      const circuit = circuits.get(d.id);
      const unavailable = unavailability(d);
      return {
        id: d.id,
        provider: d.provider.id,
        model: d.model.name,
        displayName: d.model.displayName ?? d.model.name,
        providerDisplayName: d.provider.displayName ?? d.provider.id,
        description: d.model.description ?? null,
        capabilities: [...d.model.capabilities],
        contextWindow: d.model.contextWindow,
        pricing: { promptPer1k: d.model.promptPer1k, completionPer1k: d.model.completionPer1k },
        avgLatencyMs: stats === undefined || stats.avgLatencyMs === null ? null : Math.round(stats.avgLatencyMs),
        successRate:
          stats === undefined || stats.requests === 0
            ? null
            : Math.round((stats.successes / stats.requests) * 10_000) / 10_000,
        requests24h: stats?.requests ?? 0,
        health: health(d),
        available: unavailable === null,
        unavailableReason: unavailable,
        cooldownUntil: unavailable === 'cooldown' ? cooldownUntilOf(circuit) : null,
        recommended: recommended.has(d.id),
      };
    }),
  };
}

import { ErrorCode, GatewayError } from '../errors';
import type { CallerLimits, CallerPolicy } from './caller';
import { DEFAULT_TIER, type TierLimits, type TierTable } from './tiers';

/** A key's own governance columns (api_keys). */
export interface KeyGovernance {
  /** Epoch ms; null: never expires. */
  expiresAt: number | null;
  allowedModels: readonly string[] | null;
  rpm: number | null;
  tpm: number | null;
}

/** The user's quota row (user_quotas); a null limit defers to the tier. */
export interface UserQuotaLimits {
  tier: string;
  dailyRequestLimit: number | null;
  monthlyRequestLimit: number | null;
  dailySpendLimitUsd: number | null;
  monthlySpendLimitUsd: number | null;
}

/** RATE_LIMIT_RPM / RATE_LIMIT_TPM: the last word when neither the key nor the tier sets a rate. */
export interface RateLimitDefaults {
  rpm: number | null;
  tpm: number | null;
}

const UNLIMITED_TIER: TierLimits = {
  rpm: null,
  tpm: null,
  dailyRequestLimit: null,
  monthlyRequestLimit: null,
  dailySpendLimitUsd: null,
  monthlySpendLimitUsd: null,
};

/**
 * The tier's limits; a tier no longer configured (removed from TIERS_FILE after users were given it) falls
 * back to the `default` tier rather than locking its users out or lifting every limit.
 */
export function tierLimitsOf(tiers: TierTable, tier: string): TierLimits {
  return tiers[tier] ?? tiers[DEFAULT_TIER] ?? UNLIMITED_TIER;
}

/**
 * Resolves every limit of a caller, most specific first: the key's own value, then the user's quota row,
 * then the user's tier, then the configured default (rates only). Per-user rates never take the key's
 * value: they bound all the user's keys together.
 */
export function resolveCallerPolicy(
  key: KeyGovernance,
  quota: UserQuotaLimits | null,
  tiers: TierTable,
  defaults: RateLimitDefaults,
): CallerPolicy {
  const tier = quota?.tier ?? DEFAULT_TIER;
  const t = tierLimitsOf(tiers, tier);
  const userRpm = t.rpm ?? defaults.rpm;
  const userTpm = t.tpm ?? defaults.tpm;
  const limits: CallerLimits = {
    keyRpm: key.rpm ?? userRpm,
    keyTpm: key.tpm ?? userTpm,
    userRpm,
    userTpm,
    dailyRequestLimit: quota?.dailyRequestLimit ?? t.dailyRequestLimit,
    monthlyRequestLimit: quota?.monthlyRequestLimit ?? t.monthlyRequestLimit,
    dailySpendLimitUsd: quota?.dailySpendLimitUsd ?? t.dailySpendLimitUsd,
    monthlySpendLimitUsd: quota?.monthlySpendLimitUsd ?? t.monthlySpendLimitUsd,
  };
  return {
    tier,
    expiresAt: key.expiresAt,
    allowedModels: key.allowedModels === null ? null : [...key.allowedModels],
    limits,
  };
}

/** True once the key's expiry has passed (checked on every request: a cached key can expire meanwhile). */
export function isExpired(policy: Pick<CallerPolicy, 'expiresAt'>, now: number): boolean {
  return policy.expiresAt !== null && now >= policy.expiresAt;
}

/** The 401 an unknown or revoked key gets, wherever it is checked (the gateway's guard, a queued job's re-check). */
export function invalidApiKeyError(): GatewayError {
  // Never echo the key: it may be a real key from another system pasted by mistake.
  return new GatewayError(ErrorCode.InvalidApiKey, 'Invalid API key.');
}

/** The 401 a key past its expiry gets, wherever it is checked. */
export function keyExpiredError(): GatewayError {
  return new GatewayError(ErrorCode.KeyExpired, 'This API key has expired.');
}

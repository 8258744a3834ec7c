import { NO_LIMITS } from './caller';
import { isExpired, resolveCallerPolicy, tierLimitsOf, type KeyGovernance, type UserQuotaLimits } from './policy';
import { BUILT_IN_TIERS, DEFAULT_TIER, tiersFrom } from './tiers';

const plainKey: KeyGovernance = { expiresAt: null, allowedModels: null, rpm: null, tpm: null };
const noDefaults = { rpm: null, tpm: null };
const quota = (tier: string, over: Partial<UserQuotaLimits> = {}): UserQuotaLimits => ({
  tier,
  dailyRequestLimit: null,
  monthlyRequestLimit: null,
  dailySpendLimitUsd: null,
  monthlySpendLimitUsd: null,
  ...over,
});

describe('resolveCallerPolicy', () => {
  it('gives no limits to a user without a quota row and no defaults (the default tier)', () => {
    const p = resolveCallerPolicy(plainKey, null, BUILT_IN_TIERS, noDefaults);
    expect(p).toEqual({ tier: DEFAULT_TIER, expiresAt: null, allowedModels: null, limits: NO_LIMITS });
  });

  it('takes every limit from the tier when nothing more specific is set', () => {
    const p = resolveCallerPolicy(plainKey, quota('free'), BUILT_IN_TIERS, { rpm: 999, tpm: 999 });
    expect(p.tier).toBe('free');
    expect(p.limits).toEqual({
      keyRpm: 20,
      keyTpm: 40_000,
      userRpm: 20,
      userTpm: 40_000,
      dailyRequestLimit: 200,
      monthlyRequestLimit: 2_000,
      dailySpendLimitUsd: 1,
      monthlySpendLimitUsd: 10,
    });
  });

  it("prefers the key's own rates for the key, never for the user", () => {
    const p = resolveCallerPolicy({ ...plainKey, rpm: 5, tpm: 500 }, quota('pro'), BUILT_IN_TIERS, noDefaults);
    expect(p.limits).toMatchObject({ keyRpm: 5, keyTpm: 500, userRpm: 300, userTpm: 1_000_000 });
  });

  it("prefers the user's own quota limits to the tier's", () => {
    const p = resolveCallerPolicy(
      plainKey,
      quota('free', { dailyRequestLimit: 7, monthlySpendLimitUsd: 2.5 }),
      BUILT_IN_TIERS,
      noDefaults,
    );
    expect(p.limits).toMatchObject({
      dailyRequestLimit: 7,
      monthlyRequestLimit: 2_000,
      dailySpendLimitUsd: 1,
      monthlySpendLimitUsd: 2.5,
    });
  });

  it('falls back to RATE_LIMIT_* for rates the tier leaves unlimited, and only for rates', () => {
    const p = resolveCallerPolicy(plainKey, quota('enterprise'), BUILT_IN_TIERS, { rpm: 60, tpm: 6_000 });
    expect(p.limits).toEqual({ ...NO_LIMITS, keyRpm: 60, keyTpm: 6_000, userRpm: 60, userTpm: 6_000 });
    const own = resolveCallerPolicy({ ...plainKey, rpm: 2 }, null, BUILT_IN_TIERS, { rpm: 60, tpm: null });
    expect(own.limits).toMatchObject({ keyRpm: 2, userRpm: 60, keyTpm: null, userTpm: null });
  });

  it('uses tiers from TIERS_FILE, and the default tier for a tier no longer configured', () => {
    const tiers = tiersFrom({ tiers: { team: { rpm: 42 }, default: { dailyRequestLimit: 3 } } });
    expect(resolveCallerPolicy(plainKey, quota('team'), tiers, noDefaults).limits.keyRpm).toBe(42);
    const gone = resolveCallerPolicy(plainKey, quota('retired-tier'), tiers, noDefaults);
    expect(gone.tier).toBe('retired-tier');
    expect(gone.limits.dailyRequestLimit).toBe(3);
    expect(tierLimitsOf(tiers, 'retired-tier')).toEqual(tiers[DEFAULT_TIER]);
  });

  it('carries the expiry and a copy of the allow-list', () => {
    const allowed = ['gpt-4o'];
    const p = resolveCallerPolicy(
      { ...plainKey, expiresAt: 1_000, allowedModels: allowed },
      null,
      BUILT_IN_TIERS,
      noDefaults,
    );
    allowed.push('later');
    expect(p.expiresAt).toBe(1_000);
    expect(p.allowedModels).toEqual(['gpt-4o']);
  });
});

describe('isExpired', () => {
  it('is false without an expiry and true from the expiry on', () => {
    expect(isExpired({ expiresAt: null }, Date.now())).toBe(false);
    expect(isExpired({ expiresAt: 1_000 }, 999)).toBe(false);
    expect(isExpired({ expiresAt: 1_000 }, 1_000)).toBe(true);
  });
});

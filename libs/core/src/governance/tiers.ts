import { ConfigurationError } from '../env';

/**
 * Usage tiers: each user has one (stored in user_quotas.tier). A tier gives the defaults of every limit a user
 * or key does not set itself. `null` means unlimited. Operators add or override tiers with TIERS_FILE.
 */
export interface TierLimits {
  /** Requests per minute, per key (a key's own `rpm` wins) and per user (all their keys together). */
  rpm: number | null;
  /** Tokens per minute, per key and per user, as `rpm`. */
  tpm: number | null;
  dailyRequestLimit: number | null;
  monthlyRequestLimit: number | null;
  dailySpendLimitUsd: number | null;
  monthlySpendLimitUsd: number | null;
}

export type TierTable = Readonly<Record<string, TierLimits>>;

/** Tier of users created without one, and of every user before governance existed: no limits. */
export const DEFAULT_TIER = 'default';

const UNLIMITED: TierLimits = {
  rpm: null,
  tpm: null,
  dailyRequestLimit: null,
  monthlyRequestLimit: null,
  dailySpendLimitUsd: null,
  monthlySpendLimitUsd: null,
};

export const BUILT_IN_TIERS: TierTable = {
  [DEFAULT_TIER]: UNLIMITED,
  free: {
    rpm: 20,
    tpm: 40_000,
    dailyRequestLimit: 200,
    monthlyRequestLimit: 2_000,
    dailySpendLimitUsd: 1,
    monthlySpendLimitUsd: 10,
  },
  pro: {
    rpm: 300,
    tpm: 1_000_000,
    dailyRequestLimit: 10_000,
    monthlyRequestLimit: 200_000,
    dailySpendLimitUsd: 50,
    monthlySpendLimitUsd: 500,
  },
  enterprise: UNLIMITED,
};

export const TIER_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const LIMIT_FIELDS: readonly (keyof TierLimits)[] = [
  'rpm',
  'tpm',
  'dailyRequestLimit',
  'monthlyRequestLimit',
  'dailySpendLimitUsd',
  'monthlySpendLimitUsd',
];
const INTEGER_FIELDS: ReadonlySet<keyof TierLimits> = new Set([
  'rpm',
  'tpm',
  'dailyRequestLimit',
  'monthlyRequestLimit',
]);

export class TierConfigError extends ConfigurationError {
  constructor(readonly problems: string[]) {
    super(`invalid tiers: ${problems.join('; ')}`);
    this.name = 'TierConfigError';
  }
}

/**
 * Merges a parsed TIERS_FILE (`tiers: { name: { rpm, tpm, ... } }`) over the built-in tiers. A field left out
 * of a built-in tier keeps its built-in value; one left out of a new tier is unlimited. Throws TierConfigError
 * listing every problem with its path.
 */
export function tiersFrom(doc: unknown): TierTable {
  const problems: string[] = [];
  const root = doc as { tiers?: unknown } | null;
  const raw = root?.tiers;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new TierConfigError(['tiers must be a mapping of tier name to limits']);
  }
  const out: Record<string, TierLimits> = { ...BUILT_IN_TIERS };
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!TIER_NAME.test(name)) {
      problems.push(`tiers.${name}: a tier name is 1-32 lower-case letters, digits, _ or -, starting with a letter`);
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`tiers.${name} must be a mapping of limits`);
      continue;
    }
    const limits: TierLimits = { ...(BUILT_IN_TIERS[name] ?? UNLIMITED) };
    for (const [field, v] of Object.entries(value as Record<string, unknown>)) {
      const key = field as keyof TierLimits;
      if (!LIMIT_FIELDS.includes(key)) {
        problems.push(`tiers.${name}.${field} is not a limit (one of ${LIMIT_FIELDS.join(', ')})`);
      } else if (v === null) {
        limits[key] = null;
      } else if (
        typeof v !== 'number' ||
        !Number.isFinite(v) ||
        v < 0 ||
        (INTEGER_FIELDS.has(key) && !Number.isInteger(v))
      ) {
        problems.push(
          `tiers.${name}.${field} must be ${INTEGER_FIELDS.has(key) ? 'an integer' : 'a number'} >= 0 or null`,
        );
      } else {
        limits[key] = v;
      }
    }
    out[name] = limits;
  }
  if (problems.length > 0) {
    throw new TierConfigError(problems);
  }
  return out;
}

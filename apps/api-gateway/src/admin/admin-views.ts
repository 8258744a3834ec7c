import type { CallerLimits } from '@aigw/core';
import type { ApiKeyInfo, QuotaRow } from '@aigw/entities';
import type { AuthContext } from '../http/request-context';
import type { QuotaCounters } from './quota-counters.port';

/** A key as the admin API shows it: never the key, never its hash. */
export interface KeyView {
  id: string;
  prefix: string;
  name: string | null;
  role: 'user' | 'admin';
  userId: string;
  userName: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  expiresAt: string | null;
  allowedModels: string[] | null;
  rpm: number | null;
  tpm: number | null;
}

/** A user's quota: its own limits (null: the tier's applies) and the limits in force. */
export interface QuotaView {
  userId: string;
  tier: string;
  dailyRequestLimit: number | null;
  monthlyRequestLimit: number | null;
  dailySpendLimitUsd: number | null;
  monthlySpendLimitUsd: number | null;
  /** What applies after the tier is consulted (per-user rates included); null: unlimited. */
  effective: Omit<CallerLimits, 'keyRpm' | 'keyTpm'>;
  dailyResetAt: string | null;
  monthlyResetAt: string | null;
}

export interface QuotaUsageView extends QuotaView {
  dailyRequests: number;
  monthlyRequests: number;
  dailySpendUsd: number;
  monthlySpendUsd: number;
  resetsAt: { daily: string; monthly: string };
}

function iso(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

export function keyView(k: ApiKeyInfo): KeyView {
  return {
    id: k.id,
    prefix: k.prefix,
    name: k.name,
    role: k.role,
    userId: k.userId,
    userName: k.userName,
    createdAt: k.createdAt.toISOString(),
    lastUsedAt: iso(k.lastUsedAt),
    revokedAt: iso(k.revokedAt),
    expiresAt: iso(k.expiresAt),
    allowedModels: k.allowedModels,
    rpm: k.rpm,
    tpm: k.tpm,
  };
}

export function quotaView(q: QuotaRow, effective: QuotaView['effective']): QuotaView {
  return {
    userId: q.userId,
    tier: q.tier,
    dailyRequestLimit: q.dailyRequestLimit,
    monthlyRequestLimit: q.monthlyRequestLimit,
    dailySpendLimitUsd: q.dailySpendLimitUsd,
    monthlySpendLimitUsd: q.monthlySpendLimitUsd,
    effective,
    dailyResetAt: iso(q.dailyResetAt),
    monthlyResetAt: iso(q.monthlyResetAt),
  };
}

export function withCounters(view: QuotaView, c: QuotaCounters): QuotaUsageView {
  return {
    ...view,
    dailyRequests: c.dailyRequests,
    monthlyRequests: c.monthlyRequests,
    dailySpendUsd: c.dailySpendUsd,
    monthlySpendUsd: c.monthlySpendUsd,
    resetsAt: { daily: c.dailyResetsAt, monthly: c.monthlyResetsAt },
  };
}

/** Who made an admin change, as audit entries name it: the key's id and visible prefix, never the key. */
export function actorOf(auth: AuthContext): string {
  return auth.keyPrefix === undefined ? `api-key:${auth.apiKeyId}` : `api-key:${auth.apiKeyId}:${auth.keyPrefix}`;
}

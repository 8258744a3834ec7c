/** API shapes the console reads, as the issues' contracts name them. Optional where an endpoint may not say. */

export interface ModelItem {
  id: string;
  provider: string;
  model: string;
  displayName?: string;
  description?: string | null;
  capabilities: string[];
  contextWindow: number;
  pricing: { promptPer1k: number; completionPer1k: number };
  avgLatencyMs?: number | null;
  successRate?: number | null;
  health?: string | null;
  available?: boolean;
  /** Why not available: `circuit_open`, `cooldown` (its provider asked for a wait, until `cooldownUntil`), ... */
  unavailableReason?: string | null;
  cooldownUntil?: string | null;
  recommended?: boolean;
  routing?: string;
}

export interface Preference {
  /** '' is the user's default. */
  context: string;
  /** `provider/model`. */
  id: string;
  provider: string | null;
  model: string;
  providerDisplayName?: string | null;
  modelDisplayName?: string;
  available?: boolean;
  unavailableReason?: string | null;
  cooldownUntil?: string | null;
  usageCount?: number;
  lastUsedAt?: string | null;
  last30Days?: { requests: number; costUsd: number };
}

export interface UsageTotals {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens?: number;
  costUsd: number;
  /** Requests answered from the response cache: the admin analytics' name. */
  cacheHits?: number;
  /** The same count as the caller's own usage view (`GET /api/v1/ai/usage`) names it. */
  cachedRequests?: number;
}

export type UsageGroup = UsageTotals & Record<string, unknown>;

export interface UsageView {
  from: string;
  to: string;
  groupBy: string;
  totals: UsageTotals;
  groups: UsageGroup[];
  quota?: {
    tier: string;
    dailyRequestLimit: number | null;
    monthlyRequestLimit: number | null;
    dailySpendLimitUsd: number | null;
    monthlySpendLimitUsd: number | null;
    dailyRequests: number;
    monthlyRequests: number;
    dailySpendUsd: number;
    monthlySpendUsd: number;
    remaining: {
      dailyRequests: number | null;
      monthlyRequests: number | null;
      dailySpendUsd: number | null;
      monthlySpendUsd: number | null;
    };
    /** When the daily and monthly counters start over: the next UTC midnight and first of a month. */
    resetsAt?: { daily: string; monthly: string };
  };
}

export interface ProviderHealth {
  status: string;
  consecutiveFailures: number;
  lastCheckAt: string | null;
  lastError: string | null;
  /** Its models (catalog names) its own model list lacked at the last check: routed to last. Absent: older gateway. */
  unservedModels?: string[];
}

/** One rate-limit window as the provider's headers last reported it. */
export interface QuotaWindow {
  limit: number | null;
  remaining: number | null;
  resetAt: string | null;
  /** The reset has passed: the window has refilled since. */
  stale: boolean;
}

export interface ProviderQuota {
  requests: QuotaWindow | null;
  tokens: QuotaWindow | null;
  observedAt: string;
  route: string;
}

export interface ProviderItem {
  id: string;
  kind?: string;
  name?: string;
  displayName?: string;
  baseUrl?: string;
  enabled: boolean;
  routing?: string;
  routeInUse?: string | null;
  gatewayId?: string | null;
  health?: ProviderHealth;
  /** Per deployment (`provider/model`). */
  circuits?: { id: string; state: string; cooldownUntil?: string | null }[];
  usage24h?: { requests: number; failures: number; cacheHits: number; costUsd: number };
  /** Null: no response of the provider carried rate-limit headers. */
  quota?: ProviderQuota | null;
  hasApiKey?: boolean;
  /** `kind: plugin`: the adapter's module. */
  plugin?: string;
  healthPath?: string;
  probe?: string;
  models?: { id: string; name: string; upstreamName?: string; enabled?: boolean }[];
}

export interface Diagnosis {
  code: string;
  message: string;
  suggestion: string;
}

export interface RouteResult {
  route: string;
  ok: boolean;
  latencyMs: number;
  status?: number;
  models?: string[];
  diagnosis?: Diagnosis;
}

/** The monitor's suggestion to move a provider onto its gateway, with the exact change. */
export interface RouteSuggestion {
  code: string;
  message: string;
  yaml?: string;
  patch?: Record<string, unknown>;
}

export interface ConnectionTest {
  /** null for settings that are not saved. */
  providerId: string | null;
  routes: RouteResult[];
  suggestion?: RouteSuggestion;
}

export interface HealthHistory {
  uptime: number | null;
  checks: {
    at: string;
    route: string;
    ok: boolean;
    latencyMs: number;
    status?: number;
    errorClass?: string;
    message?: string;
  }[];
}

export interface UserItem {
  id: string;
  name: string;
  tier?: string;
  createdAt?: string;
}

export interface KeyItem {
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
}

export interface QuotaItem {
  userId: string;
  tier: string;
  dailyRequestLimit: number | null;
  monthlyRequestLimit: number | null;
  dailySpendLimitUsd: number | null;
  monthlySpendLimitUsd: number | null;
  dailyRequests: number;
  monthlyRequests: number;
  dailySpendUsd: number;
  monthlySpendUsd: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  bypasses: number;
  /** Expired entries served when every provider failed. */
  stale?: number;
  hitRate: number | null;
  entries: number;
  bytes: number;
  /** CACHE_ENABLED: a model without a catalog setting of its own is cached. */
  enabledByDefault: boolean;
  /** The deployments whose answers are cached. */
  enabledDeployments: string[];
}

/**
 * `POST /api/v1/ai/admin/cache/warm`: per request, in order, what happened, a skipped answer's reason (answered, not
 * stored) and a failure's error code.
 */
export interface WarmReport {
  requested: number;
  warmed: number;
  alreadyCached: number;
  /** Absent from gateways of earlier versions, which reported these `warmed`. */
  skipped?: number;
  failed: number;
  results: { status: 'warmed' | 'already_cached' | 'skipped' | 'failed'; reason?: string; error?: string }[];
}

export interface GatewayItem {
  id: string;
  name?: string;
  baseUrl: string;
  enabled?: boolean;
  hasApiKey?: boolean;
}

/** A list answer: `{data: [...]}` (the admin API's shape) or a bare array. */
export function listOf<T>(body: { data?: T[]; items?: T[] } | T[]): T[] {
  if (Array.isArray(body)) {
    return body;
  }
  return body.data ?? body.items ?? [];
}

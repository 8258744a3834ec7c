import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { cacheKeyOf, type GenerationRequest, type GenerationResult, type UsageEvent } from '@aigw/core';
import { ENV, RedisErrors, RedisKeys, ResponseCache } from '@aigw/platform';
import { GatewayEnv } from '../config/gateway-env';
import type { CacheStatus } from '../http/result-headers';
import type { CacheDirective } from './cache-directive';
import { UsageQueue } from './usage-queue';

export type CacheDecision =
  { status: 'hit'; result: GenerationResult } | { status: Exclude<CacheStatus, 'hit' | 'stale'> };

const BYPASS: CacheDecision = { status: 'bypass' };

/**
 * The response cache stage of the pipeline (ADR 0005), after admission: a hit is the answer (no job, no worker),
 * recorded as a cached usage row with zero cost. Otherwise the request is marked for the worker to store its
 * answer (`request.cache`) when the request allows it. Redis failing here means `bypass`, never an error.
 */
@Injectable()
export class CacheStage implements OnApplicationShutdown {
  /** Null when the cache is off (CACHE_ENABLED=false): every answer is a `bypass`. */
  private readonly cache: ResponseCache | null;

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    keys: RedisKeys,
    errors: RedisErrors,
    private readonly usage: UsageQueue,
  ) {
    this.cache = env.CACHE_ENABLED ? new ResponseCache(env.CACHE_REDIS_URL ?? env.REDIS_URL, keys, errors) : null;
  }

  /** `lookup: false` (async jobs) only marks the request for filling. */
  async lookup(request: GenerationRequest, directive: CacheDirective, lookup: boolean): Promise<CacheDecision> {
    if (this.cache === null || directive === 'no-store') {
      return BYPASS;
    }
    const key = cacheKeyOf(request, this.env.CACHE_SCOPE);
    request.cache = { key, ttlS: this.env.CACHE_TTL_S, maxEntryBytes: this.env.CACHE_MAX_ENTRY_BYTES };
    if (this.env.CACHE_STALE_TTL_S > 0) {
      request.cache.staleTtlS = this.env.CACHE_STALE_TTL_S;
    }
    if (directive === 'no-cache' || !lookup) {
      return BYPASS;
    }
    const found = await this.cache.lookup(key);
    if (found.status !== 'hit') {
      return found;
    }
    const result = servedFromCache(found.result, request);
    void this.usage.record(hitUsageEvent(request, found.result, result));
    return { status: 'hit', result };
  }

  /**
   * The last fallback of a request whose every provider failed: the answer kept past its freshness for it, if
   * the request's model keeps stale answers. Its usage row is the failed job's (no second row for one request).
   */
  async stale(request: GenerationRequest): Promise<GenerationResult | null> {
    const fill = request.cache;
    if (this.cache === null || fill?.staleTtlS === undefined || fill.staleTtlS <= 0) {
      return null;
    }
    const stored = await this.cache.lookupStale(fill.key);
    return stored === null ? null : servedFromCache(stored, request);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.cache?.close();
  }
}

/** The stored answer as this request's: its id and latency, no provider cost, no attempts made. */
export function servedFromCache(stored: GenerationResult, request: GenerationRequest): GenerationResult {
  return {
    ...stored,
    requestId: request.requestId,
    latencyMs: Math.max(0, Date.now() - request.receivedAt),
    providerLatencyMs: 0,
    costUsd: 0,
    attempts: [],
    cached: true,
  };
}

/** The usage row of an answer that cost this request no provider call: zero cost, the stored answer's cost saved. */
export function hitUsageEvent(
  request: GenerationRequest,
  stored: GenerationResult,
  served: GenerationResult,
): UsageEvent {
  return {
    requestId: request.requestId,
    userId: request.userId,
    apiKeyId: request.apiKeyId,
    requestedModel: request.model,
    provider: stored.provider,
    model: stored.model,
    context: request.context ?? null,
    promptTokens: stored.usage.promptTokens,
    completionTokens: stored.usage.completionTokens,
    cachedTokens: stored.usage.cachedPromptTokens,
    costUsd: 0,
    costSavedUsd: stored.costUsd,
    latencyMs: Math.round(served.latencyMs),
    cached: true,
    status: 'success',
    errorClass: null,
    errorCode: null,
    attempts: 0,
    policy: request.policy ?? null,
    stream: request.stream,
    createdAt: new Date(request.receivedAt).toISOString(),
  };
}

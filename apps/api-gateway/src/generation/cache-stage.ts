import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  answerCacheable,
  answerStorable,
  cacheAccessOf,
  completionIdOf,
  cacheKeyOf,
  cacheModelTagOf,
  cachePolicyOf,
  fillAllowedBy,
  isModelAlias,
  mayServeAnswer,
  preferencesRouting,
  reachableDeployments,
  type CachePolicy,
  type GenerationRequest,
  type GenerationResult,
  type UsageEvent,
  merged,
  usageRecordOf,
} from '@aigw/core';
import { cacheEntryOf, cacheRedisOf, CatalogService, ENV, RedisErrors, RedisKeys, ResponseCache } from '@aigw/platform';
import { CacheStats } from '../cache/cache-stats';
import { GatewayEnv } from '../config/gateway-env';
import type { CacheStatus } from '../http/result-headers';
import type { CacheDirective } from './cache-directive';
import { FreshToolCallIds } from './fresh-tool-call-ids';
import { UsageQueue } from './usage-queue';

export type CacheDecision =
  { status: 'hit'; result: GenerationResult } | { status: Exclude<CacheStatus, 'hit' | 'stale'> };

const BYPASS: CacheDecision = { status: 'bypass' };

/**
 * Why a warming job's answer is not in the cache: a content filter cut it short, the model that answered has its
 * cache off, it is over CACHE_MAX_ENTRY_BYTES, or none of these and the entry is not there (the cache's Redis refused
 * the write, or it was evicted already), or the cache's Redis could not be asked.
 */
export const WARM_SKIP_REASONS = [
  'content_filtered',
  'cache_disabled',
  'too_large',
  'not_stored',
  'cache_unavailable',
] as const;
export type WarmSkipReason = (typeof WARM_SKIP_REASONS)[number];

/**
 * The response cache stage of the pipeline (ADR 0005), after admission: a hit is the answer (no job, no worker),
 * recorded as a cached usage row with zero cost. Otherwise the request is marked for the worker to store its
 * answer (`request.cache`) when the request allows it. Redis failing here means `bypass`, never an error.
 * Whether a model's answers are cached, and how long, is its catalog `cache` setting over CACHE_ENABLED/CACHE_TTL_S.
 */
@Injectable()
export class CacheStage implements OnApplicationShutdown {
  private readonly cache: ResponseCache;
  private readonly defaults: CachePolicy;

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    keys: RedisKeys,
    errors: RedisErrors,
    private readonly usage: UsageQueue,
    private readonly catalog: CatalogService,
    private readonly stats: CacheStats,
  ) {
    // Always connected: a model's catalog setting may turn the cache on while CACHE_ENABLED is false.
    const { url, variable } = cacheRedisOf(env);
    this.cache = new ResponseCache(url, keys, errors, variable);
    this.defaults = { enabled: env.CACHE_ENABLED, ttlS: env.CACHE_TTL_S, staleTtlS: env.CACHE_STALE_TTL_S };
  }

  /**
   * `lookup: false` (async jobs) only marks the request for filling, and is counted nowhere: the statistics count how
   * requests that could be answered from the cache used it (`bypass`: the cache off, skipped by the request, or
   * unreachable), and an async job never is one (it was counted a `bypass`, as if its caller had turned the cache
   * off). `preferences`: the caller's model preferences (`AuthContext.preferences`), part of the key of requests they
   * may route.
   */
  async lookup(
    request: GenerationRequest,
    directive: CacheDirective,
    lookup: boolean,
    preferences: string | null = null,
  ): Promise<CacheDecision> {
    const decision = await this.decide(request, directive, lookup, true, preferences);
    if (lookup) {
      this.stats.count(decision.status);
    }
    return decision;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.cache.close();
  }

  private async decide(
    request: GenerationRequest,
    directive: CacheDirective,
    lookup: boolean,
    recordHit = true,
    preferences: string | null = null,
  ): Promise<CacheDecision> {
    if (directive === 'no-store') {
      return BYPASS;
    }
    const policy = this.policyOf(request);
    if (!policy.enabled) {
      return BYPASS;
    }
    const providerIds = this.catalog.knownProviderIds();
    // '' (none) where preferences may route the request: the worker then routes it by none, whatever it read before.
    const routing = preferencesRouting(request, preferences ?? '', providerIds);
    const key = cacheKeyOf(request, this.env.CACHE_SCOPE, {
      access: this.accessOf(request),
      preferences: routing === '' ? null : routing,
    });
    const modelTag = cacheModelTagOf(request.model, providerIds);
    request.cache = { key, modelTag, ttlS: policy.ttlS, maxEntryBytes: this.env.CACHE_MAX_ENTRY_BYTES };
    if (policy.staleTtlS > 0) {
      request.cache.staleTtlS = policy.staleTtlS;
    }
    if (routing !== null) {
      request.cache.preferences = routing;
    }
    if (directive === 'no-cache' || !lookup) {
      return BYPASS;
    }
    const found = await this.cache.lookup(modelTag, key);
    if (found.status !== 'hit') {
      return found;
    }
    if (!this.mayServe(request, found.result)) {
      return { status: 'miss' };
    }
    const result = servedFromCache(found.result, request);
    if (recordHit) {
      this.usage.record(hitUsageEvent(request, found.result, result));
    }
    return { status: 'hit', result };
  }

  /**
   * Cache warming: marks the request for filling and tells whether it is already answered; no statistics, no
   * usage row. `off` when the request's model is not cached.
   */
  async peek(request: GenerationRequest): Promise<'hit' | 'miss' | 'off' | 'bypass'> {
    if (!this.policyOf(request).enabled) {
      return 'off';
    }
    const decision = await this.decide(request, 'use', true, false);
    return decision.status === 'hit' ? 'hit' : decision.status === 'miss' ? 'miss' : 'bypass';
  }

  /**
   * Cache warming, once a job answered the request `peek` marked: null when its answer is in the cache now (an
   * identical request would hit), else why not. The worker's reasons for not storing an answer are read off the
   * answer, as the worker read them (`answerStorable`, `fillAllowedBy`, the entry size); otherwise the entry is looked
   * up (one GET, no statistics), as the worker's write may have failed.
   */
  async unstored(request: GenerationRequest, answer: GenerationResult): Promise<WarmSkipReason | null> {
    const fill = request.cache;
    if (fill === undefined) {
      return 'cache_disabled';
    }
    if (!answerStorable(answer)) {
      return 'content_filtered';
    }
    const allowed = fillAllowedBy(fill, this.catalog.routing(`${answer.provider}/${answer.model}`)?.model);
    if (allowed === null) {
      return 'cache_disabled';
    }
    if (cacheEntryOf(allowed, answer) === null) {
      return 'too_large';
    }
    switch (await this.peek(request)) {
      case 'hit':
        return null;
      case 'miss':
        return 'not_stored';
      case 'off':
        return 'cache_disabled';
      case 'bypass':
        return 'cache_unavailable';
    }
  }

  /**
   * The last fallback of a request whose every provider failed: the answer kept past its freshness for it, if
   * the request's model keeps stale answers. Its usage row is the failed job's (no second row for one request).
   * Counted `stale` (its lookup was already counted a miss).
   */
  async stale(request: GenerationRequest): Promise<GenerationResult | null> {
    const fill = request.cache;
    if (fill?.staleTtlS === undefined || fill.staleTtlS <= 0) {
      return null;
    }
    const stored = await this.cache.lookupStale(fill.modelTag, fill.key);
    if (stored === null || !this.mayServe(request, stored)) {
      return null;
    }
    this.stats.count('stale');
    return servedFromCache(stored, request);
  }

  /**
   * What a restricted key's allow-list does to the deployments this request reaches (`cacheAccessOf`): only keys
   * with an allow-list pay the catalog scan.
   */
  private accessOf(request: GenerationRequest): string[] | null {
    if (request.allowedModels === undefined) {
      return null;
    }
    return cacheAccessOf(
      request.allowedModels,
      reachableDeployments(this.catalog.deployments(), {
        model: request.model,
        allowFallback: request.allowFallback,
        embeddings: request.embeddings !== undefined,
      }),
    );
  }

  /**
   * A stored answer is served only while its deployment is enabled (an operator who disables a provider stops its
   * answers too), while its model's cache is not turned off (an alias's entry, stored under the global settings
   * before the worker narrowed fills by the answering model, or before the operator turned it off), when it is no
   * answer a content filter cut short (`answerStorable`: one a worker of an earlier version stored), and to keys
   * that may use it (stored before the catalog changed under the key's access material). Otherwise a miss: the
   * request's own answer replaces it (or, its model's cache off, is not stored).
   */
  private mayServe(request: GenerationRequest, answer: GenerationResult): boolean {
    const [deployment] = this.catalog.servingDeployments(`${answer.provider}/${answer.model}`);
    return (
      deployment !== undefined &&
      answerCacheable(deployment.model) &&
      answerStorable(answer) &&
      mayServeAnswer(request.allowedModels, answer)
    );
  }

  /**
   * Aliases (`auto`, ...) may reach any model: they follow the global settings. Otherwise every deployment the
   * request may be answered by must allow caching (a pinned deployment with fallback reaches its model name's others).
   */
  private policyOf(request: Pick<GenerationRequest, 'model' | 'allowFallback'>): CachePolicy {
    const { model } = request;
    if (isModelAlias(model)) {
      return this.defaults;
    }
    const deployments =
      request.allowFallback === true
        ? reachableDeployments(this.catalog.deployments(), { model, allowFallback: true })
        : this.catalog.servingDeployments(model);
    return cachePolicyOf(
      deployments.map((d) => d.model),
      this.defaults,
    );
  }
}

/** The completion id and time of an answer another request's call made (two requests never share a completion id). */
export function servedIdsOf(request: GenerationRequest): { id: string; created: number } {
  return { id: completionIdOf(request.requestId), created: Math.floor(Date.now() / 1000) };
}

/**
 * The stored answer as this request's: its request and completion ids, its time and latency (`servedIdsOf`), fresh
 * tool call ids (`ids`: those a stream of it already named), no provider cost, no attempts made.
 */
export function servedFromCache(
  stored: GenerationResult,
  request: GenerationRequest,
  ids?: FreshToolCallIds,
): GenerationResult {
  const { id, created } = servedIdsOf(request);
  const served = merged(stored, {
    requestId: request.requestId,
    id,
    created,
    latencyMs: Math.max(0, Date.now() - request.receivedAt),
    providerLatencyMs: 0,
    costUsd: 0,
    attempts: [],
    cached: true,
  });
  if (stored.toolCalls !== undefined && stored.toolCalls.length > 0) {
    served.toolCalls = (ids ?? new FreshToolCallIds()).calls(stored.toolCalls);
  }
  return served;
}

/** The usage row of an answer that cost this request no provider call: zero cost, the stored answer's cost saved. */
export function hitUsageEvent(
  request: GenerationRequest,
  stored: GenerationResult,
  served: GenerationResult,
): UsageEvent {
  return usageRecordOf(request, {
    provider: stored.provider,
    model: stored.model,
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
  });
}

import { createHash } from 'node:crypto';
import type { GenerationRequest, GenerationResult } from '../domain';
import { mayUseDeployment } from '../governance/model-access';
import { isModelAlias, resolveModelRef } from '../model-ref';
import { policyOfAlias } from '../routing/policies';

/** `global`: one cache for every caller; `user`: each user's answers are kept apart. */
export type CacheScope = 'global' | 'user';
export const CACHE_SCOPES: readonly CacheScope[] = ['global', 'user'];

/** What the worker needs to fill the cache with a request's answer; absent when the request may not be stored. */
export interface CacheFill {
  key: string;
  /** `cacheModelTag` of the requested model: the entry's Redis key holds it (invalidation by model). */
  modelTag: string;
  ttlS: number;
  maxEntryBytes: number;
  /** Seconds an answer is kept past `ttlS` for stale answers, the last fallback when every provider failed. */
  staleTtlS?: number;
  /**
   * The caller's preferences as the key holds them ('' for none), when they may route the request
   * (`preferencesRouting`): the worker routes by these, not by a copy it read before they changed.
   */
  preferences?: string;
}

/**
 * JSON with object keys sorted at every level and numbers normalised (`-0` is `0`), so two requests that differ
 * only in key order or number spelling serialise alike. `undefined` fields are dropped, as JSON does.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalise(value));
}

function normalise(value: unknown): unknown {
  if (typeof value === 'number') {
    return Object.is(value, -0) ? 0 : value;
  }
  if (Array.isArray(value)) {
    return value.map((v) => (v === undefined ? null : normalise(v)));
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) {
        out[k] = normalise(v);
      }
    }
    return out;
  }
  return value;
}

/**
 * The response cache key of a request: SHA-256 (hex) of everything that can change its answer — the model as
 * resolved by the caller (`resolvedModel`), the messages (system prompt included), tools, response format and
 * every generation option, the routing context and policy (they choose the deployment), embeddings input, and
 * `access`: the deployments a restricted key may be answered by, when its allow-list narrows what the request
 * would otherwise reach (see `cacheAccessOf`; absent for everyone else, so their keys do not change).
 *
 * Never the caller: `userId`, `apiKeyId`, the end-user id for provider abuse monitoring (`options.user`) and
 * `metadata` are left out, as are per-request bookkeeping fields (ids, deadlines, reservation) and `stream` (a
 * hit replays a whole answer as a stream too). With `scope: 'user'` the user id is part of the key. `preferences`:
 * the caller's model preferences when the request may be routed by them (see `preferencesRouting`), so a user who
 * prefers another deployment is not given the answer of the one everyone else's `auto` went to.
 */
export function cacheKeyOf(
  request: Pick<
    GenerationRequest,
    'model' | 'messages' | 'options' | 'context' | 'policy' | 'allowFallback' | 'embeddings' | 'userId'
  >,
  scope: CacheScope,
  {
    resolvedModel = request.model,
    access = null,
    preferences = null,
  }: { resolvedModel?: string; access?: readonly string[] | null; preferences?: string | null } = {},
): string {
  // Destructured out: they never change the answer, or they name the caller.
  const { user: _user, metadata: _metadata, maxTokensField: _field, ...options } = request.options;
  const material = {
    v: 1,
    model: resolvedModel,
    messages: request.messages,
    options,
    context: request.context ?? null,
    policy: request.policy ?? null,
    allowFallback: request.allowFallback ?? null,
    embeddings: request.embeddings ?? null,
    scope: scope === 'user' ? request.userId : null,
    // Left out (undefined) when unrestricted: the keys of every entry stored before it existed stay valid.
    access: access ?? undefined,
    // Likewise left out for callers without preferences (or requests they cannot route).
    preferences: preferences ?? undefined,
  };
  return createHash('sha256').update(canonicalJson(material)).digest('hex');
}

/**
 * The access material of a request's cache key: null when the key is unrestricted or its allow-list keeps every
 * deployment the request reaches (it then shares entries with everyone); otherwise the sorted ids of the reachable
 * deployments it may use, so its entries are filled only by answers from those. An alias or model name answered
 * by a deployment outside a key's allow-list is never served to that key from the cache, nor by coalescing (whose
 * key is the cache key).
 */
export function cacheAccessOf(
  allowed: readonly string[] | null | undefined,
  reachable: readonly Parameters<typeof mayUseDeployment>[1][],
): string[] | null {
  if (allowed === null || allowed === undefined) {
    return null;
  }
  const usable = reachable.filter((d) => mayUseDeployment(allowed, d));
  return usable.length === reachable.length ? null : usable.map((d) => d.id).sort();
}

/** May a key with this allow-list be given an answer the deployment `provider`/`model` produced? */
export function mayServeAnswer(
  allowed: readonly string[] | null | undefined,
  answer: Pick<GenerationResult, 'provider' | 'model'>,
): boolean {
  return mayUseDeployment(allowed, {
    id: `${answer.provider}/${answer.model}`,
    provider: { id: answer.provider },
    model: { name: answer.model },
  });
}

/**
 * The preferences that may route a request, or null: a user's preferences count unless the request names another
 * policy (in its body or by a `cheapest`/`fastest`/`best` alias) or pins one deployment without fallback. The
 * gateway cannot know the workers' ROUTING_DEFAULT_POLICY, so a request without a policy counts as one they may
 * route (only users with preferences lose sharing by it).
 */
export function preferencesRouting(
  request: Pick<GenerationRequest, 'model' | 'policy' | 'allowFallback'>,
  preferences: string | null | undefined,
  providerIds: ReadonlySet<string>,
): string | null {
  if (preferences === null || preferences === undefined) {
    return null;
  }
  if (request.policy !== undefined && request.policy !== 'preference') {
    return null;
  }
  if (isModelAlias(request.model)) {
    return policyOfAlias(request.model) === null ? preferences : null;
  }
  const pinned = resolveModelRef(request.model, providerIds).provider !== null;
  return pinned && request.allowFallback !== true ? null : preferences;
}

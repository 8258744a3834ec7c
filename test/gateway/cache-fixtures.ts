import { cacheModelTag, type GenerationResult } from '@aigw/core';

/** The model tag the response-cache store tests file their entries under. */
export const TAG = cacheModelTag('m');

/** A logger that says nothing (RedisErrors' once-per-outage lines). */
export const quiet = { warn: (): void => undefined, log: (): void => undefined };

/** A small successful answer to store in the cache. */
export function result(text: string): GenerationResult {
  return {
    requestId: 'r1',
    id: 'c1',
    created: 1,
    text,
    finishReason: 'stop',
    provider: 'p',
    model: 'm',
    route: 'direct',
    usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3, cachedPromptTokens: 0 },
    costUsd: 0.001,
    latencyMs: 5,
    providerLatencyMs: 4,
    attempts: [],
  };
}

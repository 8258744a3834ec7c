import { countTextTokens, ErrorClass, ProviderCallError, type Usage } from '@aigw/core';
import type { EmbeddingsAdapterRequest } from '../types';

/*
 * What every embeddings adapter checks the same way: an API that embeds text only refuses token arrays before any
 * call, and a 2xx answer must hold one vector (a list of numbers) per input. The wire formats differ; these do not.
 */

/**
 * The inputs as texts, for an API that embeds text only: a token array is refused (InvalidRequest, before any call).
 * `api` names the API in the message ("the Gemini API", "Ollama").
 */
export function textInputs(req: EmbeddingsAdapterRequest, api: string): string[] {
  const texts: string[] = [];
  for (const item of req.input) {
    if (typeof item !== 'string') {
      throw new ProviderCallError(ErrorClass.InvalidRequest, `${api} embeds text only, not token arrays`);
    }
    texts.push(item);
  }
  return texts;
}

/** An answer's list of vectors, checked to hold exactly `count` (one per input); its items are checked by `vectorOf`. */
export function vectorList(list: unknown, count: number, status: number): unknown[] {
  if (!Array.isArray(list) || list.length !== count) {
    throw new ProviderCallError(
      ErrorClass.Provider,
      `upstream HTTP ${status}: expected ${count} embeddings, got ${Array.isArray(list) ? list.length : 'none'}`,
      { status },
    );
  }
  return list;
}

/** One vector of an answer: a list of numbers, or the answer is a provider failure. */
export function vectorOf(v: unknown, status: number): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: an embedding is not a vector`, {
      status,
    });
  }
  return v;
}

/** The usage of an embeddings call: prompt tokens only. */
export function embedUsage(promptTokens: number): Usage {
  return { promptTokens, completionTokens: 0, totalTokens: promptTokens, cachedPromptTokens: 0 };
}

/**
 * The usage of an API that reports none (Gemini; Ollama servers too old to send `prompt_eval_count`): the prompt
 * tokens are estimated with the gateway's own tokenizer (the one routing sizes requests with), so billing and usage
 * rows are not left at zero.
 */
export function estimatedEmbedUsage(texts: readonly string[]): Usage {
  let promptTokens = 0;
  for (const t of texts) {
    promptTokens += countTextTokens(t);
  }
  return embedUsage(promptTokens);
}

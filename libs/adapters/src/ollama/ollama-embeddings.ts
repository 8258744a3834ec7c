import { countTextTokens, ErrorClass, ProviderCallError } from '@aigw/core';
import type { EmbeddingsAdapterRequest, EmbeddingsResponse } from '../types';

/**
 * The `POST /api/embed` body. `truncate: false`: Ollama otherwise cuts an input longer than the context window and
 * embeds only its start, silently; refused, it fails as OpenAI does (context_length_exceeded). The context window
 * goes as `num_ctx`, as for chat (Ollama would load the model with its own, smaller default). Text only: Ollama
 * takes no token ids.
 */
export function ollamaEmbedBody(req: EmbeddingsAdapterRequest): string {
  for (const item of req.input) {
    if (typeof item !== 'string') {
      throw new ProviderCallError(ErrorClass.InvalidRequest, 'Ollama embeds text only, not token arrays');
    }
  }
  return JSON.stringify({
    model: req.target.model,
    input: req.input,
    truncate: false,
    dimensions: req.dimensions,
    options: req.target.contextWindow === undefined ? undefined : { num_ctx: req.target.contextWindow },
  });
}

/**
 * A 2xx `/api/embed` body: `embeddings` (one per input, in order) and `prompt_eval_count` (the input tokens). `texts`
 * are the inputs sent (strings: `ollamaEmbedBody` refuses token arrays).
 */
export function readOllamaEmbeddings(json: unknown, status: number, texts: readonly string[]): EmbeddingsResponse {
  const count = texts.length;
  const body = json as { embeddings?: unknown; prompt_eval_count?: unknown } | null;
  const list = body?.embeddings;
  if (!Array.isArray(list) || list.length !== count) {
    throw new ProviderCallError(
      ErrorClass.Provider,
      `upstream HTTP ${status}: expected ${count} embeddings, got ${Array.isArray(list) ? list.length : 'none'}`,
      { status },
    );
  }
  const embeddings = list.map((v: unknown) => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) {
      throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: an embedding is not a vector`, {
        status,
      });
    }
    return v;
  });
  const evalCount = body?.prompt_eval_count;
  // Older servers leave the count out: estimated then with the gateway's tokenizer, as for Gemini.
  const promptTokens =
    typeof evalCount === 'number' && Number.isFinite(evalCount) && evalCount > 0
      ? evalCount
      : texts.reduce((sum, t) => sum + countTextTokens(t), 0);
  return { embeddings, usage: { promptTokens, completionTokens: 0, totalTokens: promptTokens, cachedPromptTokens: 0 } };
}

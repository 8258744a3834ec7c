import { countTextTokens, ErrorClass, ProviderCallError, type Usage } from '@aigw/core';
import type { EmbeddingsAdapterRequest } from '../types';

/** `batchEmbedContents` takes at most 100 requests: a longer input list is split into calls of this many. */
export const GEMINI_EMBED_BATCH_MAX = 100;

/** The texts of an embeddings request: the Gemini API embeds text only (no token ids). */
export function geminiEmbedTexts(req: EmbeddingsAdapterRequest): string[] {
  const texts: string[] = [];
  for (const item of req.input) {
    if (typeof item !== 'string') {
      throw new ProviderCallError(ErrorClass.InvalidRequest, 'the Gemini API embeds text only, not token arrays');
    }
    texts.push(item);
  }
  return texts;
}

/** Splits the texts into `batchEmbedContents` calls of at most GEMINI_EMBED_BATCH_MAX, in order. */
export function geminiEmbedBatches(texts: readonly string[]): string[][] {
  const batches: string[][] = [];
  for (let i = 0; i < texts.length; i += GEMINI_EMBED_BATCH_MAX) {
    batches.push(texts.slice(i, i + GEMINI_EMBED_BATCH_MAX));
  }
  return batches;
}

/**
 * `POST models/{model}:batchEmbedContents`: one `EmbedContentRequest` per text, each naming the model (`models/...`)
 * and, when the client asked for `dimensions`, its `outputDimensionality`.
 */
export function geminiEmbedBody(model: string, texts: readonly string[], dimensions: number | undefined): string {
  const name = model.includes('/') ? model : `models/${model}`;
  return JSON.stringify({
    requests: texts.map((text) => ({
      model: name,
      content: { parts: [{ text }] },
      outputDimensionality: dimensions,
    })),
  });
}

/** A 2xx `batchEmbedContents` body: `embeddings[].values`, one per request, in request order. */
export function readGeminiEmbeddings(json: unknown, status: number, count: number): number[][] {
  const list = (json as { embeddings?: unknown } | null)?.embeddings;
  if (!Array.isArray(list) || list.length !== count) {
    throw new ProviderCallError(
      ErrorClass.Provider,
      `upstream HTTP ${status}: expected ${count} embeddings, got ${Array.isArray(list) ? list.length : 'none'}`,
      { status },
    );
  }
  return list.map((e: unknown) => {
    const values = (e as { values?: unknown } | null)?.values;
    if (!Array.isArray(values) || !values.every((x) => typeof x === 'number')) {
      throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: an embedding is not a vector`, {
        status,
      });
    }
    return values;
  });
}

/**
 * The Gemini API reports no token usage for embeddings: the prompt tokens are estimated with the gateway's own
 * tokenizer (the one routing sizes requests with), so billing and usage rows are not left at zero.
 */
export function estimatedEmbedUsage(texts: readonly string[]): Usage {
  let promptTokens = 0;
  for (const t of texts) {
    promptTokens += countTextTokens(t);
  }
  return { promptTokens, completionTokens: 0, totalTokens: promptTokens, cachedPromptTokens: 0 };
}

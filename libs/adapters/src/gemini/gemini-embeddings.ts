import { GEMINI_EMBEDDING_INPUTS } from '@aigw/core';
import { vectorList, vectorOf } from '../embeddings/embedding-checks';

/** `batchEmbedContents` takes at most 100 requests: a longer input list is split into calls of this many. */
export const GEMINI_EMBED_BATCH_MAX = GEMINI_EMBEDDING_INPUTS;

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
  const list = vectorList((json as { embeddings?: unknown } | null)?.embeddings, count, status);
  return list.map((e: unknown) => vectorOf((e as { values?: unknown } | null)?.values, status));
}

import { vectorList, vectorOf } from '../embeddings/embedding-checks';

/** `batchEmbedContents` takes at most 100 requests: a longer input list is split into calls of this many. */
export const GEMINI_EMBED_BATCH_MAX = 100;

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
  const list = vectorList((json as { embeddings?: unknown } | null)?.embeddings, count, status);
  return list.map((e: unknown) => vectorOf((e as { values?: unknown } | null)?.values, status));
}

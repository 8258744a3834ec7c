import { embedUsage, estimatedEmbedUsage, vectorList, vectorOf } from '../embeddings/embedding-checks';
import type { EmbeddingsAdapterRequest, EmbeddingsResponse } from '../types';

/**
 * The `POST /api/embed` body. `truncate: false`: Ollama otherwise cuts an input longer than the context window and
 * embeds only its start, silently; refused, it fails as OpenAI does (context_length_exceeded). The context window
 * goes as `num_ctx`, as for chat (Ollama would load the model with its own, smaller default). `texts` are the
 * inputs (Ollama takes no token ids: see `textInputs`).
 */
export function ollamaEmbedBody(req: EmbeddingsAdapterRequest, texts: readonly string[]): string {
  return JSON.stringify({
    model: req.target.model,
    input: texts,
    truncate: false,
    dimensions: req.dimensions,
    options: req.target.contextWindow === undefined ? undefined : { num_ctx: req.target.contextWindow },
  });
}

/** A 2xx `/api/embed` body: `embeddings` (one per input, in order) and `prompt_eval_count` (the input tokens). */
export function readOllamaEmbeddings(json: unknown, status: number, texts: readonly string[]): EmbeddingsResponse {
  const body = json as { embeddings?: unknown; prompt_eval_count?: unknown } | null;
  const embeddings = vectorList(body?.embeddings, texts.length, status).map((v) => vectorOf(v, status));
  const evalCount = body?.prompt_eval_count;
  // Older servers leave the count out: estimated then with the gateway's tokenizer, as for Gemini.
  const usage =
    typeof evalCount === 'number' && Number.isFinite(evalCount) && evalCount > 0
      ? embedUsage(evalCount)
      : estimatedEmbedUsage(texts);
  return { embeddings, usage };
}

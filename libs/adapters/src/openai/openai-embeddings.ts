import { ErrorClass, ProviderCallError, merged } from '@aigw/core';
import { vectorOf } from '../embeddings/embedding-checks';
import type { EmbeddingsAdapterRequest, EmbeddingsResponse } from '../types';
import { usageOf } from './openai-wire';

/**
 * Request body for `POST /embeddings`. Floats are asked for: the gateway encodes base64 itself when a client wants it.
 * Pass-through fields go first so that a modelled field always wins over one of the same name.
 */
export function embeddingsBody(req: EmbeddingsAdapterRequest): string {
  const body = {
    model: req.target.model,
    input: req.input,
    encoding_format: 'float',
    dimensions: req.dimensions,
    user: req.user,
  };
  return JSON.stringify(req.extra === undefined ? body : merged(req.extra, body));
}

/** A vector as floats: servers that ignore `encoding_format` may still answer base64 (little-endian float32). */
function floatsOf(v: unknown, status: number): number[] {
  if (typeof v !== 'string') {
    return vectorOf(v, status);
  }
  const bytes = Buffer.from(v, 'base64');
  const out = new Array<number>(Math.floor(bytes.length / 4));
  for (let i = 0; i < out.length; i++) {
    out[i] = bytes.readFloatLE(i * 4);
  }
  return out;
}

interface WireEmbedding {
  index?: unknown;
  embedding?: unknown;
}

/** A 2xx `/embeddings` body: `data[]` (put in input order by `index`) and `usage`. */
export function readEmbeddings(json: unknown, status: number, count: number): Omit<EmbeddingsResponse, 'rateLimit'> {
  const body = json as { data?: unknown; usage?: Parameters<typeof usageOf>[0]; error?: unknown } | null;
  if (typeof body !== 'object' || body === null || !Array.isArray(body.data)) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: body is not an embedding list`, {
      status,
    });
  }
  const embeddings = new Array<number[]>(count);
  (body.data as WireEmbedding[]).forEach((item, position) => {
    const index = typeof item?.index === 'number' ? item.index : position;
    if (index >= 0 && index < count) {
      embeddings[index] = floatsOf(item?.embedding, status);
    }
  });
  for (let i = 0; i < count; i++) {
    if (embeddings[i] === undefined) {
      throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: no embedding for input ${i}`, {
        status,
      });
    }
  }
  const usage = usageOf(body.usage);
  // Embeddings have no completion, so every token is a prompt token: some servers leave total_tokens out, others
  // send only it (Voyage AI's `usage: {total_tokens}`), whose count would otherwise give way to the gateway's estimate.
  const promptTokens = usage.promptTokens > 0 ? usage.promptTokens : usage.totalTokens;
  return { embeddings, usage: merged(usage, { promptTokens, completionTokens: 0, totalTokens: promptTokens }) };
}

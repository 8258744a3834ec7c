import { createHash } from 'node:crypto';
import { estimateTokens } from './answers';
import { asRecord, type WireProblem } from './wire';

/** Vector length when the request does not ask for `dimensions`. */
export const DEFAULT_EMBEDDING_DIMENSIONS = 16;
const MAX_DIMENSIONS = 4096;

export interface EmbeddingsCall {
  model: string;
  /** One string per item (token arrays as their JSON text: the vector only has to be a function of the input). */
  items: string[];
  /** Token count per item. */
  tokens: number[];
  dimensions: number;
  base64: boolean;
}

function itemOf(v: unknown): { text: string; tokens: number } | null {
  if (typeof v === 'string' && v !== '') {
    return { text: v, tokens: estimateTokens(v.length) };
  }
  if (Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t))) {
    return { text: JSON.stringify(v), tokens: v.length };
  }
  return null;
}

export function isEmbeddingsProblem(v: EmbeddingsCall | WireProblem): v is WireProblem {
  return (v as WireProblem).problem !== undefined;
}

/** An OpenAI `/v1/embeddings` body, or what is wrong with it (400 in OpenAI's error shape). */
export function parseEmbeddings(body: unknown): EmbeddingsCall | WireProblem {
  const b = asRecord(body);
  if (b === null || typeof b.model !== 'string' || b.model === '') {
    return { problem: 'model is required', param: 'model' };
  }
  const raw = b.input;
  const list: unknown[] =
    typeof raw === 'string' || (Array.isArray(raw) && raw.length > 0 && typeof raw[0] === 'number')
      ? [raw]
      : Array.isArray(raw)
        ? raw
        : [];
  const items: string[] = [];
  const tokens: number[] = [];
  for (const v of list) {
    const item = itemOf(v);
    if (item === null) {
      return { problem: 'input must be a non-empty string, token array, or list of them', param: 'input' };
    }
    items.push(item.text);
    tokens.push(item.tokens);
  }
  if (items.length === 0) {
    return { problem: 'input must not be empty', param: 'input' };
  }
  const dims = b.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS;
  if (typeof dims !== 'number' || !Number.isInteger(dims) || dims < 1 || dims > MAX_DIMENSIONS) {
    return { problem: `dimensions must be an integer from 1 to ${MAX_DIMENSIONS}`, param: 'dimensions' };
  }
  const format = b.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    return { problem: "encoding_format must be 'float' or 'base64'", param: 'encoding_format' };
  }
  return { model: b.model, items, tokens, dimensions: dims, base64: format === 'base64' };
}

/**
 * A unit vector that depends only on the model, the text and the length: SHA-256 of them, stretched by counter, read
 * as bytes mapped to [-1, 1]. Tests can recompute it (`simulatedEmbedding`) and compare exactly.
 */
export function simulatedEmbedding(model: string, text: string, dimensions: number): number[] {
  const out = new Array<number>(dimensions);
  let block = Buffer.alloc(0);
  for (let i = 0; i < dimensions; i++) {
    const at = i % 32;
    if (at === 0) {
      block = createHash('sha256')
        .update(`${model}\n${i / 32}\n${text}`)
        .digest();
    }
    out[i] = block[at] / 127.5 - 1;
  }
  const norm = Math.sqrt(out.reduce((s, x) => s + x * x, 0)) || 1;
  // Rounded to float32, as real providers return them: the base64 and float forms then agree exactly.
  return out.map((x) => Math.fround(x / norm));
}

function base64Of(vector: readonly number[]): string {
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  vector.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
}

/** The response body OpenAI sends. */
export function embeddingsJson(call: EmbeddingsCall): string {
  const promptTokens = call.tokens.reduce((s, t) => s + t, 0);
  return JSON.stringify({
    object: 'list',
    data: call.items.map((text, index) => {
      const v = simulatedEmbedding(call.model, text, call.dimensions);
      return { object: 'embedding', index, embedding: call.base64 ? base64Of(v) : v };
    }),
    model: call.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  });
}

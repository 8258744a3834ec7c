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
  /**
   * Gemini: the length of the model's whole vector when `outputDimensionality` asked for fewer values. The answer is
   * then the first `dimensions` values of the whole (unit-length) vector, as they are: the Gemini API scales only its
   * full-length vectors to unit length.
   */
  shortenedFrom?: number;
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

/** The Gemini API's limit on `batchEmbedContents` requests per call. */
export const GEMINI_BATCH_EMBED_MAX = 100;

function geminiText(content: unknown): string | null {
  const parts = asRecord(content)?.parts;
  if (!Array.isArray(parts)) {
    return null;
  }
  const text = parts
    .map((p) => {
      const t = asRecord(p)?.text;
      return typeof t === 'string' ? t : '';
    })
    .join('');
  return text !== '' ? text : null;
}

function geminiDims(v: unknown): number | WireProblem {
  const dims = v ?? DEFAULT_EMBEDDING_DIMENSIONS;
  if (typeof dims !== 'number' || !Number.isInteger(dims) || dims < 1 || dims > MAX_DIMENSIONS) {
    return { problem: `outputDimensionality must be an integer from 1 to ${MAX_DIMENSIONS}`, param: null };
  }
  return dims;
}

/**
 * A Gemini `models/{model}:embedContent` (`batch` false) or `:batchEmbedContents` body. Like the real API, a batch
 * takes at most 100 requests, each naming the model of the path (`models/...`); every text is embedded with its own
 * `outputDimensionality` (all of a batch's must agree here, which is what the gateway sends).
 */
export function parseGeminiEmbed(model: string, body: unknown, batch: boolean): EmbeddingsCall | WireProblem {
  const b = asRecord(body);
  const requests: unknown[] = batch ? (Array.isArray(b?.requests) ? (b?.requests as unknown[]) : []) : [b];
  if (requests.length === 0) {
    return { problem: '* BatchEmbedContentsRequest.requests: requests must not be empty', param: null };
  }
  if (requests.length > GEMINI_BATCH_EMBED_MAX) {
    return {
      problem: `* BatchEmbedContentsRequest.requests: at most ${GEMINI_BATCH_EMBED_MAX} requests can be in one batch`,
      param: null,
    };
  }
  const items: string[] = [];
  const tokens: number[] = [];
  let dimensions = DEFAULT_EMBEDDING_DIMENSIONS;
  let shortened = false;
  for (const [i, raw] of requests.entries()) {
    const r = asRecord(raw);
    if (batch && r?.model !== `models/${model}`) {
      return { problem: `Model in request ${i} does not match the model of the batch (models/${model})`, param: null };
    }
    const text = geminiText(r?.content);
    if (text === null) {
      return { problem: '* EmbedContentRequest.content: contains an empty Part', param: null };
    }
    const dims = geminiDims(r?.outputDimensionality);
    if (typeof dims !== 'number') {
      return dims;
    }
    dimensions = dims;
    shortened = asRecord(raw)?.outputDimensionality !== undefined && dims < DEFAULT_EMBEDDING_DIMENSIONS;
    items.push(text);
    tokens.push(estimateTokens(text.length));
  }
  const call: EmbeddingsCall = { model, items, tokens, dimensions, base64: false };
  if (shortened) {
    call.shortenedFrom = DEFAULT_EMBEDDING_DIMENSIONS;
  }
  return call;
}

/**
 * What Gemini answers: `{embedding: {values}}` for embedContent, `{embeddings: [{values}]}` for a batch (no usage).
 * The model's whole vector is DEFAULT_EMBEDDING_DIMENSIONS long (Gemini's is 3072): a shorter `outputDimensionality`
 * gets its first values, not of unit length, as from the Gemini API; a longer one a unit vector of that length.
 */
export function geminiEmbedJson(call: EmbeddingsCall, batch: boolean): string {
  const vectors = call.items.map((text) => ({
    values:
      call.shortenedFrom === undefined
        ? simulatedEmbedding(call.model, text, call.dimensions)
        : simulatedEmbedding(call.model, text, call.shortenedFrom).slice(0, call.dimensions),
  }));
  return JSON.stringify(batch ? { embeddings: vectors } : { embedding: vectors[0] });
}

/** An Ollama `/api/embed` call: the inputs and whether one exceeded the context window with `truncate: false`. */
export interface OllamaEmbedCall extends EmbeddingsCall {
  tooLong: boolean;
}

/**
 * An Ollama `POST /api/embed` body: `input` a string or a list of strings, `dimensions`, `truncate` (default true)
 * and `options.num_ctx`. An input over `num_ctx` tokens is cut to fit (embedded from its start) unless `truncate` is
 * false, when Ollama refuses the call.
 */
export function parseOllamaEmbed(body: unknown): OllamaEmbedCall | WireProblem {
  const b = asRecord(body);
  if (b === null || typeof b.model !== 'string' || b.model === '') {
    return { problem: 'model is required', param: null };
  }
  const raw = b.input;
  const list: unknown[] = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : [];
  if (list.length === 0 || !list.every((v) => typeof v === 'string' && v !== '')) {
    return { problem: 'invalid input type', param: null };
  }
  const dims = b.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS;
  if (typeof dims !== 'number' || !Number.isInteger(dims) || dims < 1 || dims > MAX_DIMENSIONS) {
    return { problem: 'invalid dimensions', param: null };
  }
  const numCtx = asRecord(b.options)?.num_ctx;
  const limit = typeof numCtx === 'number' && numCtx > 0 ? numCtx : Number.POSITIVE_INFINITY;
  const items: string[] = [];
  const tokens: number[] = [];
  let tooLong = false;
  for (const v of list as string[]) {
    const t = estimateTokens(v.length);
    if (t > limit) {
      tooLong = true;
      items.push(v.slice(0, limit * 4));
      tokens.push(limit);
    } else {
      items.push(v);
      tokens.push(t);
    }
  }
  return { model: b.model, items, tokens, dimensions: dims, base64: false, tooLong: tooLong && b.truncate === false };
}

/** What Ollama answers: `embeddings` in input order, durations in ns and `prompt_eval_count`. */
export function ollamaEmbedJson(call: EmbeddingsCall): string {
  return JSON.stringify({
    model: call.model,
    embeddings: call.items.map((text) => simulatedEmbedding(call.model, text, call.dimensions)),
    total_duration: 1_000_000,
    load_duration: 100_000,
    prompt_eval_count: call.tokens.reduce((s, t) => s + t, 0),
  });
}

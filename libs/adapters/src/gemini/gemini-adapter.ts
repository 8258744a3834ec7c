import { ErrorClass, ProviderCallError, type StreamDelta } from '@aigw/core';
import { classifyError } from '../errors/classify';
import { probe } from '../health';
import { jsonCall, streamCall } from '../http/calls';
import type { ResponseHeaders } from '../http/headers';
import type { HttpPool } from '../http/http-pool';
import type {
  AdapterRequest,
  AdapterResponse,
  AdapterTarget,
  EmbeddingsAdapterRequest,
  EmbeddingsResponse,
  HealthResult,
  ProviderAdapter,
} from '../types';
import { estimatedEmbedUsage, textInputs, unitVector } from '../embeddings/embedding-checks';
import { geminiEmbedBatches, geminiEmbedBody, readGeminiEmbeddings } from './gemini-embeddings';
import { geminiBody } from './gemini-mapping';
import { GeminiStreamDecoder, readGenerateContent } from './gemini-wire';

function headersOf(target: AdapterTarget, json: boolean): Record<string, string> {
  const h: Record<string, string> = json ? { 'content-type': 'application/json' } : {};
  if (target.apiKey !== undefined && target.apiKey.length > 0) {
    // A header, not the `?key=` query parameter: URLs end up in logs.
    h['x-goog-api-key'] = target.apiKey;
  }
  return h;
}

/** `models/{model}`; tuned models are named with their own collection (`tunedModels/...`). */
function modelPath(model: string): string {
  return model.includes('/') ? `/${model}` : `/models/${encodeURIComponent(model)}`;
}

function readModels(json: unknown, _headers: ResponseHeaders, status: number): string[] {
  const models = (json as { models?: unknown } | null)?.models;
  if (!Array.isArray(models)) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: model list has no models array`, {
      status,
    });
  }
  const names: string[] = [];
  for (const m of models) {
    const name = (m as { name?: unknown } | null)?.name;
    if (typeof name === 'string') {
      names.push(name.startsWith('models/') ? name.slice('models/'.length) : name);
    }
  }
  return names;
}

function readGeneration(
  json: unknown,
  _headers: ResponseHeaders,
  status: number,
  apiKey: string | undefined,
): AdapterResponse {
  // The Gemini API sends no rate-limit headers; its 429s say RESOURCE_EXHAUSTED (classified as RateLimit).
  return readGenerateContent(json, status, apiKey);
}

/**
 * Google's Gemini API, natively (`generateContent`, `streamGenerateContent?alt=sse`). `baseUrl` includes the version:
 * `https://generativelanguage.googleapis.com/v1beta`. The key goes in `x-goog-api-key`.
 */
export class GeminiAdapter implements ProviderAdapter {
  readonly kind = 'gemini' as const;

  constructor(private readonly pool: HttpPool) {}

  // async: a request the mapping refuses (InvalidRequest) rejects instead of throwing synchronously.
  async generate(req: AdapterRequest, signal: AbortSignal): Promise<AdapterResponse> {
    const call = {
      method: 'POST',
      path: `${modelPath(req.target.model)}:generateContent`,
      headers: headersOf(req.target, true),
      body: geminiBody(req),
    } as const;
    return jsonCall(this.pool, req.target, call, signal, readGeneration);
  }

  async *stream(req: AdapterRequest, signal: AbortSignal): AsyncIterable<StreamDelta> {
    const call = {
      method: 'POST',
      path: `${modelPath(req.target.model)}:streamGenerateContent?alt=sse`,
      headers: headersOf(req.target, true),
      body: geminiBody(req),
    } as const;
    yield* streamCall(this.pool, req.target, call, signal, new GeminiStreamDecoder(req.target.apiKey));
  }

  /**
   * `batchEmbedContents`, at most 100 texts a call: a longer list is sent as consecutive calls whose vectors are
   * joined in input order (any failing call fails the whole request). Usage is estimated (the API reports none).
   * Vectors shortened by `dimensions` are scaled to unit length (see `unitVector`). A call failing after earlier ones
   * succeeded fails with their usage as `billed`: Google charged for those texts, and the failure is billed so.
   */
  async embed(req: EmbeddingsAdapterRequest, signal: AbortSignal): Promise<EmbeddingsResponse> {
    const texts = textInputs(req, 'the Gemini API');
    const embeddings: number[][] = [];
    for (const batch of geminiEmbedBatches(texts)) {
      const call = {
        method: 'POST',
        path: `${modelPath(req.target.model)}:batchEmbedContents`,
        headers: headersOf(req.target, true),
        body: geminiEmbedBody(req.target.model, batch, req.dimensions),
      } as const;
      let vectors: number[][];
      try {
        vectors = await jsonCall(this.pool, req.target, call, signal, (json, _headers, status) =>
          readGeminiEmbeddings(json, status, batch.length),
        );
      } catch (err) {
        throw embeddings.length === 0 ? err : withBilled(classifyError(err, signal), texts.slice(0, embeddings.length));
      }
      // Shortened by outputDimensionality, Gemini's vectors are not of unit length (its full 3072 are): scaled, as
      // OpenAI's `dimensions` answers are.
      embeddings.push(...(req.dimensions === undefined ? vectors : vectors.map(unitVector)));
    }
    return { embeddings, usage: estimatedEmbedUsage(texts) };
  }

  listModels(target: AdapterTarget, signal: AbortSignal): Promise<string[]> {
    // One page of 1000 holds every model Google lists; paging would only add round trips.
    const call = { method: 'GET', path: '/models?pageSize=1000', headers: headersOf(target, false) } as const;
    return jsonCall(this.pool, target, call, signal, readModels);
  }

  healthCheck(target: AdapterTarget, signal: AbortSignal): Promise<HealthResult> {
    return probe(() => this.listModels(target, signal), signal);
  }

  classifyError(err: unknown, signal?: AbortSignal): ProviderCallError {
    return classifyError(err, signal);
  }
}

/**
 * The failure of a later batch, carrying what the batches before it were charged for (estimated, as on success), and
 * all else it said as the same failure of a first batch says it (the field a refusal names is the client's `param`).
 * Never `untranslatable`: the earlier batches were sent, and another deployment would pay for them again.
 */
function withBilled(err: ProviderCallError, embedded: readonly string[]): ProviderCallError {
  return new ProviderCallError(err.errorClass, err.message, {
    status: err.status,
    retryAfterMs: err.retryAfterMs,
    overloaded: err.overloaded,
    charged: err.charged,
    param: err.param,
    cause: err,
    billed: estimatedEmbedUsage(embedded),
  });
}

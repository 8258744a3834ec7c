import { ErrorClass, ProviderCallError, type StreamDelta } from '@aigw/core';
import { classifyError } from '../errors/classify';
import { probe } from '../health';
import { jsonCall, originCall, streamCall } from '../http/calls';
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
import { embedInBatches, estimatedEmbedUsage, textInputs, unitVector } from '../embeddings/embedding-checks';
import { GEMINI_EMBED_BATCH_MAX, geminiEmbedBody, readGeminiEmbeddings } from './gemini-embeddings';
import { geminiBody } from './gemini-mapping';
import { GeminiStreamDecoder, readGenerateContent } from './gemini-wire';
import type { CallerSignal } from '../http/caller-signal';

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
  async generate(req: AdapterRequest, signal: CallerSignal): Promise<AdapterResponse> {
    const call = {
      method: 'POST',
      path: `${modelPath(req.target.model)}:generateContent`,
      headers: headersOf(req.target, true),
      body: geminiBody(req),
    } as const;
    return jsonCall(this.pool, req.target, call, signal, readGeneration);
  }

  async *stream(req: AdapterRequest, signal: CallerSignal): AsyncIterable<StreamDelta> {
    const call = {
      method: 'POST',
      path: `${modelPath(req.target.model)}:streamGenerateContent?alt=sse`,
      headers: headersOf(req.target, true),
      body: geminiBody(req),
    } as const;
    yield* streamCall(this.pool, req.target, call, signal, new GeminiStreamDecoder(req.target.apiKey));
  }

  /**
   * `batchEmbedContents`, at most 100 texts a call (fewer when the provider's `maxEmbeddingInputs` says so): a longer
   * list is sent as consecutive calls whose vectors are joined in input order (`embedInBatches`: any failing call fails
   * the whole request, billed for the calls before it, as Google charged for those texts). Usage is estimated (the
   * API reports none). Vectors shortened by `dimensions` are scaled to unit length (see `unitVector`).
   */
  async embed(req: EmbeddingsAdapterRequest, signal: CallerSignal): Promise<EmbeddingsResponse> {
    const texts = textInputs(req, 'the Gemini API');
    const max = Math.min(GEMINI_EMBED_BATCH_MAX, req.target.maxEmbeddingInputs ?? GEMINI_EMBED_BATCH_MAX);
    return embedInBatches(
      texts,
      max,
      async (batch) => {
        const call = {
          method: 'POST',
          path: `${modelPath(req.target.model)}:batchEmbedContents`,
          headers: headersOf(req.target, true),
          body: geminiEmbedBody(req.target.model, batch, req.dimensions),
        } as const;
        const vectors = await jsonCall(this.pool, req.target, call, signal, (json, _headers, status) =>
          readGeminiEmbeddings(json, status, batch.length),
        );
        // Shortened by outputDimensionality, Gemini's vectors are not of unit length (its full 3072 are): scaled, as
        // OpenAI's `dimensions` answers are.
        return {
          embeddings: req.dimensions === undefined ? vectors : vectors.map(unitVector),
          usage: estimatedEmbedUsage(batch),
        };
      },
      (err) => classifyError(err, signal),
    );
  }

  listModels(target: AdapterTarget, signal: CallerSignal): Promise<string[]> {
    // One page of 1000 holds every model Google lists; paging would only add round trips.
    const call = { method: 'GET', path: '/models?pageSize=1000', headers: headersOf(target, false) } as const;
    return jsonCall(this.pool, target, call, signal, readModels);
  }

  /** The model list, or the `healthPath` the catalog sets (a server in front of Gemini), with the key. */
  healthCheck(target: AdapterTarget, signal: CallerSignal): Promise<HealthResult> {
    const path = target.healthPath;
    if (path !== undefined) {
      return probe(() => originCall(this.pool, target, path, signal, headersOf(target, false)), signal);
    }
    return probe(() => this.listModels(target, signal), signal);
  }

  classifyError(err: unknown, signal?: CallerSignal): ProviderCallError {
    return classifyError(err, signal);
  }
}

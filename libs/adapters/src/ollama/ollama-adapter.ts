import type { ProviderCallError, StreamDelta } from '@aigw/core';
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
import { embedInBatches, textInputs } from '../embeddings/embedding-checks';
import { ollamaEmbedBody, readOllamaEmbeddings } from './ollama-embeddings';
import { OllamaStreamDecoder, ollamaBody, readChat, readTags } from './ollama-wire';
import type { CallerSignal } from '../http/caller-signal';

function headersOf(target: AdapterTarget, json: boolean): Record<string, string> {
  const h: Record<string, string> = json ? { 'content-type': 'application/json' } : {};
  // Ollama itself takes no key; one set here is for an authenticating reverse proxy in front of it.
  if (target.apiKey !== undefined && target.apiKey.length > 0) {
    h.authorization = `Bearer ${target.apiKey}`;
  }
  return h;
}

function readGeneration(
  json: unknown,
  _headers: ResponseHeaders,
  status: number,
  apiKey: string | undefined,
): AdapterResponse {
  return readChat(json, status, apiKey);
}

function readModels(json: unknown, _headers: ResponseHeaders, status: number): string[] {
  return readTags(json, status);
}

/**
 * Ollama's native API: `/api/chat` (NDJSON when streaming), `/api/embed` and `/api/tags`. `baseUrl` is the server's origin
 * (`http://127.0.0.1:11434`). Its OpenAI-compatible `/v1` is served by the `openai` kind instead.
 */
export class OllamaAdapter implements ProviderAdapter {
  readonly kind = 'ollama' as const;

  constructor(private readonly pool: HttpPool) {}

  // async: a request the mapping refuses (InvalidRequest) rejects instead of throwing synchronously.
  async generate(req: AdapterRequest, signal: CallerSignal): Promise<AdapterResponse> {
    const call = {
      method: 'POST',
      path: '/api/chat',
      headers: headersOf(req.target, true),
      body: ollamaBody(req, false),
    } as const;
    return jsonCall(this.pool, req.target, call, signal, readGeneration);
  }

  async *stream(req: AdapterRequest, signal: CallerSignal): AsyncIterable<StreamDelta> {
    const call = {
      method: 'POST',
      path: '/api/chat',
      headers: headersOf(req.target, true),
      body: ollamaBody(req, true),
    } as const;
    yield* streamCall(this.pool, req.target, call, signal, new OllamaStreamDecoder(req.target.apiKey));
  }

  // async: token arrays, refused by `textInputs`, reject instead of throwing synchronously.
  async embed(req: EmbeddingsAdapterRequest, signal: CallerSignal): Promise<EmbeddingsResponse> {
    const texts = textInputs(req, 'Ollama');
    // All inputs in one call unless the provider sets `maxEmbeddingInputs` (Ollama states no limit of its own).
    return embedInBatches(
      texts,
      req.target.maxEmbeddingInputs ?? texts.length,
      (batch) => {
        const call = {
          method: 'POST',
          path: '/api/embed',
          headers: headersOf(req.target, true),
          body: ollamaEmbedBody(req, batch),
        } as const;
        return jsonCall(this.pool, req.target, call, signal, (json, _headers, status) =>
          readOllamaEmbeddings(json, status, batch),
        );
      },
      (err) => classifyError(err, signal),
    );
  }

  listModels(target: AdapterTarget, signal: CallerSignal): Promise<string[]> {
    const call = { method: 'GET', path: '/api/tags', headers: headersOf(target, false) } as const;
    return jsonCall(this.pool, target, call, signal, readModels);
  }

  /**
   * `/api/tags` reads the local model directory: no model is loaded, nothing is generated. A `healthPath` the catalog
   * sets (a proxy in front of Ollama) is read instead, with the key.
   */
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

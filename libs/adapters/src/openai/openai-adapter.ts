import type { ProviderCallError, StreamDelta } from '@aigw/core';
import { classifyError } from '../errors/classify';
import { jsonCall, originCall, streamCall } from '../http/calls';
import { anyRateLimit, type ResponseHeaders } from '../http/headers';
import type { HttpPool } from '../http/http-pool';
import { probe } from '../health';
import type {
  AdapterRequest,
  AdapterResponse,
  AdapterTarget,
  EmbeddingsAdapterRequest,
  EmbeddingsResponse,
  HealthResult,
  ProviderAdapter,
} from '../types';
import { readModelList } from '../model-list';
import { embeddingsBody, readEmbeddings } from './openai-embeddings';
import { OpenAiStreamDecoder, openAiBody, readCompletion, saysStopForToolCalls } from './openai-wire';

/**
 * `betas`: the client's Anthropic beta features (`/v1/messages`' `anthropic-beta` header), sent in that header to a
 * gateway in front of Claude only (`claudeOptions`): LiteLLM passes it on to Claude where the operator lets it
 * forward client headers (docs.litellm.ai, Forward Client Headers to LLM API). Other servers have no use for it.
 */
function headersOf(target: AdapterTarget, json: boolean, betas?: readonly string[]): Record<string, string> {
  const h: Record<string, string> = json ? { 'content-type': 'application/json' } : {};
  if (target.apiKey !== undefined && target.apiKey.length > 0) {
    h.authorization = `Bearer ${target.apiKey}`;
  }
  if (target.claudeOptions === true && betas !== undefined && betas.length > 0) {
    h['anthropic-beta'] = betas.join(',');
  }
  return h;
}

function readGeneration(
  json: unknown,
  headers: ResponseHeaders,
  status: number,
  apiKey: string | undefined,
  stopForToolCalls: boolean,
  stops: readonly string[] | undefined,
): AdapterResponse {
  const res: AdapterResponse = readCompletion(json, status, apiKey, stopForToolCalls, stops);
  const rateLimit = anyRateLimit(headers);
  if (rateLimit !== undefined) {
    res.rateLimit = rateLimit;
  }
  return res;
}

function readModels(json: unknown, _headers: ResponseHeaders, status: number): string[] {
  return readModelList(json, status);
}

/**
 * The OpenAI Chat Completions wire format, spoken by OpenAI, Z.ai, DeepSeek, vLLM, llama.cpp, Ollama `/v1`,
 * the HuggingFace router and LiteLLM-style proxies. `baseUrl` includes the version segment (`.../v1`).
 */
export class OpenAiAdapter implements ProviderAdapter {
  readonly kind = 'openai' as const;

  constructor(private readonly pool: HttpPool) {}

  generate(req: AdapterRequest, signal: AbortSignal): Promise<AdapterResponse> {
    const call = {
      method: 'POST',
      path: '/chat/completions',
      headers: headersOf(req.target, true, req.options.anthropicBeta),
      body: openAiBody(req, false),
    } as const;
    const stopForToolCalls = saysStopForToolCalls(req.target.baseUrl);
    return jsonCall(this.pool, req.target, call, signal, (json, headers, status, apiKey) =>
      readGeneration(json, headers, status, apiKey, stopForToolCalls, req.options.stop),
    );
  }

  stream(req: AdapterRequest, signal: AbortSignal): AsyncIterable<StreamDelta> {
    const call = {
      method: 'POST',
      path: '/chat/completions',
      headers: headersOf(req.target, true, req.options.anthropicBeta),
      body: openAiBody(req, true),
    } as const;
    const decoder = new OpenAiStreamDecoder(
      req.target.apiKey,
      saysStopForToolCalls(req.target.baseUrl),
      req.options.stop,
    );
    return streamCall(this.pool, req.target, call, signal, decoder);
  }

  embed(req: EmbeddingsAdapterRequest, signal: AbortSignal): Promise<EmbeddingsResponse> {
    const call = {
      method: 'POST',
      path: '/embeddings',
      headers: headersOf(req.target, true),
      body: embeddingsBody(req),
    } as const;
    const count = req.input.length;
    return jsonCall(this.pool, req.target, call, signal, (json, headers, status) => {
      const res: EmbeddingsResponse = readEmbeddings(json, status, count);
      const rateLimit = anyRateLimit(headers);
      if (rateLimit !== undefined) {
        res.rateLimit = rateLimit;
      }
      return res;
    });
  }

  listModels(target: AdapterTarget, signal: AbortSignal): Promise<string[]> {
    const call = { method: 'GET', path: '/models', headers: headersOf(target, false) } as const;
    return jsonCall(this.pool, target, call, signal, readModels);
  }

  healthCheck(target: AdapterTarget, signal: AbortSignal): Promise<HealthResult> {
    if (target.healthPath !== undefined) {
      // llama.cpp and vLLM answer `/health` (on the origin, beside `/v1`) without touching a model.
      return probe(() => originCall(this.pool, target, target.healthPath ?? '/health', signal), signal);
    }
    return probe(() => this.listModels(target, signal), signal);
  }

  classifyError(err: unknown, signal?: AbortSignal): ProviderCallError {
    return classifyError(err, signal);
  }
}

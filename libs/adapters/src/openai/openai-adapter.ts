import { ErrorClass, merged, ProviderCallError, setBounded, type StreamDelta } from '@aigw/core';
import { classifyError } from '../errors/classify';
import { jsonCall, originCall, streamCall } from '../http/calls';
import { anyRateLimit, type ResponseHeaders } from '../http/headers';
import type { HttpPool } from '../http/http-pool';
import { embedInBatches } from '../embeddings/embedding-checks';
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
import type { CallerSignal } from '../http/caller-signal';

const AZURE_HOST = /\.(?:openai\.azure\.com|cognitiveservices\.azure\.com|services\.ai\.azure\.com)$/i;
const azureEndpoints = new Map<string, boolean>();

/**
 * Azure OpenAI: a deployment URL with its `?api-version=` (`https://x.openai.azure.com/openai/deployments/gpt-4o?
 * api-version=2024-10-21`), or an Azure AI host. Azure takes an API key in its own `api-key` header and answers a key
 * sent as a bearer token (which it reads as a Microsoft Entra ID token) with 401 "Access denied due to invalid
 * subscription key", so such a provider never answered. The key goes in both headers, as Azure's own SDK sends it: a
 * key in `api-key`, an Entra token in `Authorization`. Decided once per base URL (a map lookup per call).
 */
function isAzureEndpoint(baseUrl: string): boolean {
  let azure = azureEndpoints.get(baseUrl);
  if (azure === undefined) {
    try {
      const url = new URL(baseUrl);
      azure = url.searchParams.has('api-version') || AZURE_HOST.test(url.hostname);
    } catch {
      azure = false;
    }
    if (azureEndpoints.size < 1024) {
      azureEndpoints.set(baseUrl, azure);
    }
  }
  return azure;
}

/** An Azure OpenAI deployment URL's path: `/openai/deployments/<deployment>` (its `api-version` in the query). */
const AZURE_DEPLOYMENT_PATH = /^\/openai\/deployments\/[^/]+\/?$/;

/**
 * Where an Azure OpenAI deployment URL is health-checked: the resource's model list (`GET /openai/models?api-version=`,
 * Azure's "Models - List"), since the deployment serves none. Undefined for any other base URL (Azure's `/openai/v1`
 * serves `/models` as OpenAI does). Only on a health check.
 */
function azureHealthPath(baseUrl: string): string | undefined {
  if (!URL.canParse(baseUrl)) {
    return undefined;
  }
  const url = new URL(baseUrl);
  return url.searchParams.has('api-version') && AZURE_DEPLOYMENT_PATH.test(url.pathname) ? '/openai/models' : undefined;
}

/**
 * `betas`: the client's Anthropic beta features (`/v1/messages`' `anthropic-beta` header), sent in that header to a
 * gateway in front of Claude only (`claudeOptions`): LiteLLM passes it on to Claude where the operator lets it
 * forward client headers (docs.litellm.ai, Forward Client Headers to LLM API). Other servers have no use for it.
 */
function headersOf(target: AdapterTarget, json: boolean, betas?: readonly string[]): Record<string, string> {
  const h: Record<string, string> = json ? { 'content-type': 'application/json' } : {};
  if (target.apiKey !== undefined && target.apiKey.length > 0) {
    h.authorization = `Bearer ${target.apiKey}`;
    if (isAzureEndpoint(target.baseUrl)) {
      h['api-key'] = target.apiKey;
    }
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

/** Servers whose stated embeddings batch limit one worker remembers (a catalog holds a few dozen). */
const MAX_LEARNT_LIMITS = 256;

/**
 * Text Embeddings Inference's refusal of more inputs than its `--max-client-batch-size`: a 422 whose `error` says
 * "batch size 100 > maximum allowed batch size 32", sent before anything is embedded (SiliconFlow's API refuses an
 * oversized input list in the same words).
 */
const STATED_BATCH_LIMIT = /maximum allowed batch size (\d+)/i;

/** The batch limit a first request's refusal states (TEI's), or undefined. Never one that charged for anything. */
function statedBatchLimit(err: unknown): number | undefined {
  if (!(err instanceof ProviderCallError) || err.billed !== undefined) {
    return undefined;
  }
  if (err.errorClass !== ErrorClass.InvalidRequest && err.errorClass !== ErrorClass.ContextLength) {
    return undefined;
  }
  const match = STATED_BATCH_LIMIT.exec(err.message);
  const limit = match === null ? NaN : Number(match[1]);
  return Number.isSafeInteger(limit) && limit >= 1 ? limit : undefined;
}

/**
 * Where a stated batch limit holds: the pool and base URL, the model (a gateway route's pool and URL are shared by
 * every model behind it, a LiteLLM in front of a TEI and of OpenAI; a multi-model API may limit each model its own
 * way) and the limit the deployment was called with. A new setting (the operator raised the server's limit and set
 * `maxEmbeddingInputs` so, as docs/providers.md says to) is a new key: what was learnt under the old one is not used.
 */
function learntLimitKey(target: AdapterTarget): string {
  return `${target.poolKey} ${target.baseUrl} ${target.model} ${target.maxEmbeddingInputs ?? ''}`;
}

/**
 * The OpenAI Chat Completions wire format, spoken by OpenAI, Z.ai, DeepSeek, vLLM, llama.cpp, Ollama `/v1`,
 * the HuggingFace router and LiteLLM-style proxies. `baseUrl` includes the version segment (`.../v1`).
 */
export class OpenAiAdapter implements ProviderAdapter {
  readonly kind = 'openai' as const;

  /** Batch limits servers stated in a refusal (`statedBatchLimit`), by `learntLimitKey`. */
  private readonly embeddingLimits = new Map<string, number>();

  constructor(private readonly pool: HttpPool) {}

  generate(req: AdapterRequest, signal: CallerSignal): Promise<AdapterResponse> {
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

  stream(req: AdapterRequest, signal: CallerSignal): AsyncIterable<StreamDelta> {
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

  /**
   * `POST /embeddings`, in requests of at most the deployment's `maxEmbeddingInputs` (TEI refuses more than its
   * `--max-client-batch-size`, 32 by default; Cohere's compatibility API 96): see `embedInBatches`. A server whose
   * limit is not set that refuses a request as TEI does, stating its limit ("batch size 100 > maximum allowed batch
   * size 32", a 422 before anything was embedded), is asked again in requests of that many, and every later request
   * to it is split so from the start (remembered in this process, as `hostnameOf` remembers: see `learntLimitKey`).
   */
  async embed(req: EmbeddingsAdapterRequest, signal: CallerSignal): Promise<EmbeddingsResponse> {
    const key = learntLimitKey(req.target);
    const learnt = this.embeddingLimits.get(key);
    const max = Math.min(req.target.maxEmbeddingInputs ?? req.input.length, learnt ?? req.input.length);
    try {
      return await this.embedInBatchesOf(req, max, signal);
    } catch (err) {
      const stated = statedBatchLimit(err);
      if (stated === undefined || stated >= Math.min(max, req.input.length)) {
        throw err;
      }
      setBounded(this.embeddingLimits, key, stated, MAX_LEARNT_LIMITS);
      return this.embedInBatchesOf(req, stated, signal);
    }
  }

  private embedInBatchesOf(
    req: EmbeddingsAdapterRequest,
    max: number,
    signal: CallerSignal,
  ): Promise<EmbeddingsResponse> {
    return embedInBatches<string | number[]>(
      req.input,
      max,
      (input) => this.embedOnce(merged(req, { input: input as string[] | number[][] }), signal),
      (err) => classifyError(err, signal),
    );
  }

  private embedOnce(req: EmbeddingsAdapterRequest, signal: CallerSignal): Promise<EmbeddingsResponse> {
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

  /**
   * Forgets the batch limits learnt of servers none of `targets` (every route of the catalog's deployments) calls:
   * a provider deleted and re-created with the same id and URL starts afresh, as its routing state does
   * (DeletedRouting), instead of being split by what its predecessor's server stated until the worker restarts. On
   * each catalog reload only.
   */
  retainLearntLimits(targets: Iterable<AdapterTarget>): void {
    if (this.embeddingLimits.size === 0) {
      return;
    }
    const kept = new Set<string>();
    for (const t of targets) {
      kept.add(learntLimitKey(t));
    }
    for (const key of this.embeddingLimits.keys()) {
      if (!kept.has(key)) {
        this.embeddingLimits.delete(key);
      }
    }
  }

  /**
   * `GET {baseUrl}/models`. An Azure OpenAI deployment URL serves none (Azure answers 404), and Azure's data plane has
   * no list of a resource's deployments: its "Models - List" (`GET /openai/models`) names the base and fine-tuned models
   * the resource may deploy, not the deployments a catalog names, so as a discovered list it would report every catalog
   * model as no longer served. Such a URL is refused here, before any call (`untranslatable`): discovery skips it.
   */
  listModels(target: AdapterTarget, signal: CallerSignal): Promise<string[]> {
    if (azureHealthPath(target.baseUrl) !== undefined) {
      return Promise.reject(
        new ProviderCallError(
          ErrorClass.NotFound,
          'an Azure OpenAI deployment URL serves no model list (Azure lists no deployments on its data plane)',
          { untranslatable: true },
        ),
      );
    }
    const call = { method: 'GET', path: '/models', headers: headersOf(target, false) } as const;
    return jsonCall(this.pool, target, call, signal, readModels);
  }

  /**
   * The model list, or `healthPath` on the origin (llama.cpp and vLLM answer `/health` beside `/v1` without touching a
   * model), sent the key as every call is (an Azure resource answers no call without it). An Azure deployment URL serves
   * no model list: without a `healthPath` it is checked on the resource's (`azureHealthPath`), which proves the
   * resource answers and takes the key but names base models, not deployments, so no list is returned to judge the
   * catalog's models by.
   */
  healthCheck(target: AdapterTarget, signal: CallerSignal): Promise<HealthResult> {
    const path = target.healthPath ?? azureHealthPath(target.baseUrl);
    if (path !== undefined) {
      return probe(() => originCall(this.pool, target, path, signal, headersOf(target, false)), signal);
    }
    return probe(() => this.listModels(target, signal), signal);
  }

  classifyError(err: unknown, signal?: CallerSignal): ProviderCallError {
    return classifyError(err, signal);
  }
}

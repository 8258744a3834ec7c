import type { ProviderCallError, StreamDelta } from '@aigw/core';
import { classifyError } from '../errors/classify';
import { probe } from '../health';
import { jsonCall, originCall, streamCall } from '../http/calls';
import { anthropicRateLimit, type ResponseHeaders } from '../http/headers';
import type { HttpPool } from '../http/http-pool';
import { readModelList } from '../model-list';
import type { AdapterRequest, AdapterResponse, AdapterTarget, HealthResult, ProviderAdapter } from '../types';
import { anthropicBody } from './anthropic-mapping';
import { AnthropicStreamDecoder, readMessage } from './anthropic-wire';
import type { CallerSignal } from '../http/caller-signal';

const API_VERSION = '2023-06-01';

function headersOf(target: AdapterTarget, json: boolean, betas?: readonly string[]): Record<string, string> {
  const h: Record<string, string> = json
    ? { 'content-type': 'application/json', 'anthropic-version': API_VERSION }
    : { 'anthropic-version': API_VERSION };
  if (target.apiKey !== undefined && target.apiKey.length > 0) {
    h['x-api-key'] = target.apiKey;
  }
  if (betas !== undefined && betas.length > 0) {
    h['anthropic-beta'] = betas.join(',');
  }
  return h;
}

/** The documented baseUrl is the bare origin; a baseUrl that already ends in `/v1` is accepted too. */
function apiPath(target: AdapterTarget, path: string): string {
  return target.baseUrl.endsWith('/v1') || target.baseUrl.endsWith('/v1/') ? path : `/v1${path}`;
}

function readGeneration(
  json: unknown,
  headers: ResponseHeaders,
  status: number,
  apiKey: string | undefined,
): AdapterResponse {
  const res: AdapterResponse = readMessage(json, status, apiKey);
  const rateLimit = anthropicRateLimit(headers);
  if (rateLimit !== undefined) {
    res.rateLimit = rateLimit;
  }
  return res;
}

function readModels(json: unknown, _headers: ResponseHeaders, status: number): string[] {
  return readModelList(json, status);
}

/** The Anthropic Messages API. `baseUrl` is the origin (`https://api.anthropic.com`); paths add `/v1`. */
export class AnthropicAdapter implements ProviderAdapter {
  readonly kind = 'anthropic' as const;

  constructor(private readonly pool: HttpPool) {}

  generate(req: AdapterRequest, signal: CallerSignal): Promise<AdapterResponse> {
    const call = {
      method: 'POST',
      path: apiPath(req.target, '/messages'),
      headers: headersOf(req.target, true, req.options.anthropicBeta),
      body: anthropicBody(req, false),
    } as const;
    return jsonCall(this.pool, req.target, call, signal, readGeneration);
  }

  stream(req: AdapterRequest, signal: CallerSignal): AsyncIterable<StreamDelta> {
    const call = {
      method: 'POST',
      path: apiPath(req.target, '/messages'),
      headers: headersOf(req.target, true, req.options.anthropicBeta),
      body: anthropicBody(req, true),
    } as const;
    return streamCall(this.pool, req.target, call, signal, new AnthropicStreamDecoder(req.target.apiKey));
  }

  listModels(target: AdapterTarget, signal: CallerSignal): Promise<string[]> {
    // One page of up to 1000 is every model Anthropic offers; paging would only add round trips.
    const call = {
      method: 'GET',
      path: apiPath(target, '/models?limit=1000'),
      headers: headersOf(target, false),
    } as const;
    return jsonCall(this.pool, target, call, signal, readModels);
  }

  /** The model list, or the `healthPath` the catalog sets (an Anthropic-compatible server without one), with the key. */
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

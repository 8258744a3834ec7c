import type { ProviderCallError, StreamDelta } from '@aigw/core';
import { classifyError } from '../errors/classify';
import { probe } from '../health';
import { jsonCall, originCall, streamCall } from '../http/calls';
import { anyRateLimit, type ResponseHeaders } from '../http/headers';
import type { HttpPool } from '../http/http-pool';
import type { AdapterRequest, AdapterResponse, AdapterTarget, HealthResult, ProviderAdapter } from '../types';
import { grammarRefusal, readGeneration as readBody, readInfo, TgiStreamDecoder, tgiBody } from './tgi-wire';
import type { CallerSignal } from '../http/caller-signal';

function headersOf(target: AdapterTarget, json: boolean): Record<string, string> {
  const h: Record<string, string> = json ? { 'content-type': 'application/json' } : {};
  if (target.apiKey !== undefined && target.apiKey.length > 0) {
    h.authorization = `Bearer ${target.apiKey}`;
  }
  return h;
}

function readGeneration(
  json: unknown,
  headers: ResponseHeaders,
  status: number,
  apiKey: string | undefined,
  stops: readonly string[] | undefined,
): AdapterResponse {
  const res: AdapterResponse = readBody(json, status, stops, apiKey);
  // A bare TGI sends none; HuggingFace's hosted endpoints send the IETF RateLimit header.
  const rateLimit = anyRateLimit(headers);
  if (rateLimit !== undefined) {
    res.rateLimit = rateLimit;
  }
  return res;
}

function readModels(json: unknown, _headers: ResponseHeaders, status: number): string[] {
  return readInfo(json, status);
}

/**
 * A HuggingFace text-generation-inference server through its native API (`/generate`, `/generate_stream`, `/info`,
 * `/health`). `baseUrl` is the server's origin. The served model is whatever TGI was started with: the request's
 * model name is not sent.
 */
export class TgiAdapter implements ProviderAdapter {
  readonly kind = 'tgi' as const;

  constructor(private readonly pool: HttpPool) {}

  // async: a request the mapping refuses (InvalidRequest) rejects instead of throwing synchronously.
  async generate(req: AdapterRequest, signal: CallerSignal): Promise<AdapterResponse> {
    const call = {
      method: 'POST',
      path: '/generate',
      headers: headersOf(req.target, true),
      body: tgiBody(req, false),
    } as const;
    try {
      return await jsonCall(this.pool, req.target, call, signal, (json, headers, status, apiKey) =>
        readGeneration(json, headers, status, apiKey, req.options.stop),
      );
    } catch (err) {
      throw grammarRefusal(err, req);
    }
  }

  async *stream(req: AdapterRequest, signal: CallerSignal): AsyncIterable<StreamDelta> {
    const call = {
      method: 'POST',
      path: '/generate_stream',
      headers: headersOf(req.target, true),
      body: tgiBody(req, true),
    } as const;
    try {
      yield* streamCall(this.pool, req.target, call, signal, new TgiStreamDecoder(req.options.stop, req.target.apiKey));
    } catch (err) {
      throw grammarRefusal(err, req);
    }
  }

  listModels(target: AdapterTarget, signal: CallerSignal): Promise<string[]> {
    const call = { method: 'GET', path: '/info', headers: headersOf(target, false) } as const;
    return jsonCall(this.pool, target, call, signal, readModels);
  }

  /** TGI's `/health` answers 200 once the model is loaded and the shard can generate. */
  healthCheck(target: AdapterTarget, signal: CallerSignal): Promise<HealthResult> {
    return probe(
      () => originCall(this.pool, target, target.healthPath ?? '/health', signal, headersOf(target, false)),
      signal,
    );
  }

  classifyError(err: unknown, signal?: CallerSignal): ProviderCallError {
    return classifyError(err, signal);
  }
}

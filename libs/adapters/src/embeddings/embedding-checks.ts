import { countTextTokens, embeddingInputTokens, ErrorClass, merged, ProviderCallError, type Usage } from '@aigw/core';
import type { EmbeddingsAdapterRequest, EmbeddingsResponse } from '../types';

/*
 * What every embeddings adapter checks the same way: an API that embeds text only refuses token arrays before any
 * call, and a 2xx answer must hold one vector (a list of numbers) per input. The wire formats differ; these do not.
 */

/**
 * The inputs as texts, for an API that embeds text only: a token array is refused (InvalidRequest, before any call).
 * `api` names the API in the message ("the Gemini API", "Ollama"). Routing keeps such a request from these families
 * (TOKEN_INPUT_PARAM); this is the backstop, `untranslatable` so that a worker whose catalog lags still tries the
 * model's other deployments instead of answering 400 for all of them.
 */
export function textInputs(req: EmbeddingsAdapterRequest, api: string): string[] {
  const texts: string[] = [];
  for (const item of req.input) {
    if (typeof item !== 'string') {
      throw new ProviderCallError(ErrorClass.InvalidRequest, `${api} embeds text only, not token arrays`, {
        untranslatable: true,
      });
    }
    texts.push(item);
  }
  return texts;
}

/** An answer's list of vectors, checked to hold exactly `count` (one per input); its items are checked by `vectorOf`. */
export function vectorList(list: unknown, count: number, status: number): unknown[] {
  if (!Array.isArray(list) || list.length !== count) {
    throw new ProviderCallError(
      ErrorClass.Provider,
      `upstream HTTP ${status}: expected ${count} embeddings, got ${Array.isArray(list) ? list.length : 'none'}`,
      { status },
    );
  }
  return list;
}

/** One vector of an answer: a list of numbers, or the answer is a provider failure. */
export function vectorOf(v: unknown, status: number): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) {
    throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${status}: an embedding is not a vector`, {
      status,
    });
  }
  return v;
}

/** How far a squared length may be from 1 for a float32 vector of unit length (rounding is about 1.2e-7). */
const UNIT_TOLERANCE = 1e-6;

/**
 * `v` scaled to unit length, in float32 as the APIs send vectors. OpenAI's embeddings are of length 1, `dimensions`
 * shortened ones too, and clients rely on it: a dot product is their cosine similarity (OpenAI's documentation says
 * so, and vector stores' `inner product` indexes take it). An API that shortens without scaling (Gemini's
 * `outputDimensionality`: only its full 3072 values are of unit length) needs this to answer OpenAI's contract. A
 * vector already of unit length to float32 precision, or one of zeros, is returned as it came (no rounding of its
 * last bits).
 */
export function unitVector(v: number[]): number[] {
  let squares = 0;
  for (const x of v) {
    squares += x * x;
  }
  if (squares === 0 || !Number.isFinite(squares) || Math.abs(squares - 1) <= UNIT_TOLERANCE) {
    return v;
  }
  const norm = Math.sqrt(squares);
  return v.map((x) => Math.fround(x / norm));
}

/** The usage of an embeddings call: prompt tokens only. */
export function embedUsage(promptTokens: number): Usage {
  return { promptTokens, completionTokens: 0, totalTokens: promptTokens, cachedPromptTokens: 0 };
}

/**
 * The usage of an API that reports none (Gemini; Ollama servers too old to send `prompt_eval_count`): the prompt
 * tokens are estimated with the gateway's own tokenizer (the one routing sizes requests with), so billing and usage
 * rows are not left at zero.
 */
export function estimatedEmbedUsage(texts: readonly string[]): Usage {
  let promptTokens = 0;
  for (const t of texts) {
    promptTokens += countTextTokens(t);
  }
  return embedUsage(promptTokens);
}

/** `a` and `b` added up, field by field (the optional counts only where either has them; a reported cost where both do). */
function usageSum(a: Usage, b: Usage): Usage {
  const sum: Usage = {
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
    totalTokens: a.totalTokens + b.totalTokens,
    cachedPromptTokens: a.cachedPromptTokens + b.cachedPromptTokens,
  };
  if (a.cacheWritePromptTokens !== undefined || b.cacheWritePromptTokens !== undefined) {
    sum.cacheWritePromptTokens = (a.cacheWritePromptTokens ?? 0) + (b.cacheWritePromptTokens ?? 0);
  }
  if (a.reasoningTokens !== undefined || b.reasoningTokens !== undefined) {
    sum.reasoningTokens = (a.reasoningTokens ?? 0) + (b.reasoningTokens ?? 0);
  }
  // A cost the provider reported (OpenRouter's usage.cost, billed instead of the catalog's price) holds for the whole
  // call only when every request reported one: else the catalog prices the summed counts, as for any other server.
  if (a.reportedCostUsd !== undefined && b.reportedCostUsd !== undefined) {
    sum.reportedCostUsd = a.reportedCostUsd + b.reportedCostUsd;
  }
  return sum;
}

/**
 * The usage of one of several requests whose answer reported none (a server, or a proxy in front of several, that
 * sends `usage` with some answers only): its inputs counted as routing counts them (`embeddingInputTokens`). Without
 * it the sum of the others' counts was billed, which is more than 0, so the fallback to the routing estimate for an
 * answer without usage (`usageOf` in the worker) never applied, and those inputs were free. Only for such a request:
 * one that reported usage costs one comparison.
 */
function unreportedBatchUsage<T extends string | number[]>(
  input: readonly T[],
  offset: number,
  size: number,
  reported: Usage,
): Usage {
  let promptTokens = 0;
  const end = Math.min(input.length, offset + size);
  for (let i = offset; i < end; i++) {
    promptTokens += embeddingInputTokens(input[i]);
  }
  // A reported cost (and any other count) stays as it came: usageSum drops a cost that not every request reported.
  return merged(reported, embedUsage(promptTokens));
}

/** An input item named by index (`input[3]`, `input.3`), as a provider may name the field it refused. */
const INPUT_ITEM_PARAM = /^input(\[|\.)(\d+)/;

/**
 * The failure of the request carrying the inputs from `offset` on, as the failure of the client's whole request: the
 * item a refusal names is renumbered to the client's list (the provider counted from the start of its request), and
 * when earlier requests succeeded, what they were charged for goes with it as `billed` (their provider charged for
 * them; see ProviderCallError.billed: the request is then neither retried nor sent elsewhere, which would pay for them
 * again). Never `untranslatable`: the earlier requests were sent.
 */
function batchFailure(err: ProviderCallError, offset: number, billed: Usage | undefined): ProviderCallError {
  const match = err.param === undefined || offset === 0 ? null : INPUT_ITEM_PARAM.exec(err.param);
  const param =
    match === null || err.param === undefined
      ? err.param
      : `input${match[1]}${Number(match[2]) + offset}${err.param.slice(match[0].length)}`;
  if (billed === undefined && param === err.param) {
    return err;
  }
  return new ProviderCallError(err.errorClass, err.message, {
    status: err.status,
    retryAfterMs: err.retryAfterMs,
    overloaded: err.overloaded,
    charged: err.charged,
    param,
    cause: err,
    ...(billed === undefined ? {} : { billed }),
  });
}

/**
 * Embeds `input` in consecutive requests of at most `max` items (`call` sends one, `offset` being the index of its
 * first item in `input`), one after the other: the vectors are joined in input order, the usage added up and the
 * last answer's rate-limit info kept. A list within `max` is one request, as it came. Any failing request fails the
 * whole call (no later request is sent): see `batchFailure` for what it says. Sequential rather than parallel: a
 * server with a small batch limit (TEI's 32) is usually one with few slots, and a failure is then never one whose
 * siblings were cancelled mid-way, leaving unknown whether they were charged for.
 */
export async function embedInBatches<T extends string | number[]>(
  input: readonly T[],
  max: number,
  call: (batch: T[], offset: number) => Promise<EmbeddingsResponse>,
  classify: (err: unknown) => ProviderCallError,
): Promise<EmbeddingsResponse> {
  const size = Math.max(1, Math.floor(max));
  if (input.length <= size) {
    return call(input as T[], 0);
  }
  const embeddings: number[][] = [];
  let usage: Usage | undefined;
  let rateLimit: EmbeddingsResponse['rateLimit'];
  for (let offset = 0; offset < input.length; offset += size) {
    let res: EmbeddingsResponse;
    try {
      res = await call(input.slice(offset, offset + size), offset);
    } catch (err) {
      throw batchFailure(classify(err), offset, usage);
    }
    embeddings.push(...res.embeddings);
    const batchUsage = res.usage.promptTokens > 0 ? res.usage : unreportedBatchUsage(input, offset, size, res.usage);
    usage = usage === undefined ? batchUsage : usageSum(usage, batchUsage);
    rateLimit = res.rateLimit ?? rateLimit;
  }
  const out: EmbeddingsResponse = { embeddings, usage: usage ?? embedUsage(0) };
  if (rateLimit !== undefined) {
    out.rateLimit = rateLimit;
  }
  return out;
}

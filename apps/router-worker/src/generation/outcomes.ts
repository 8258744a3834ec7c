import {
  costOf,
  countTextTokens,
  embeddingInputsLimit,
  reportedCostOf,
  type AnswerDetails,
  type Attempt,
  type Charge,
  type Deployment,
  type GenerationRequest,
  type GenerationResult,
  type ProviderCallError,
  type Route,
  type Spent,
  type Usage,
} from '@aigw/core';
import type { AdapterTarget } from '@aigw/adapters';

/** What a provider call produced, streamed or not. */
export interface ProviderAnswer extends AnswerDetails {
  id: string;
  /** Epoch seconds. */
  created: number;
  text: string;
  finishReason: string | null;
  usage: Usage;
}

/** The successful call of a routed request. */
export interface Routed {
  deployment: Deployment;
  route: Route;
  answer: ProviderAnswer;
  /** Every attempt, the successful one last. */
  attempts: Attempt[];
  providerLatencyMs: number;
  /** Failed calls their provider charged for (AttemptLoop), when there were some. */
  charged?: Charge[];
}

/** Where to send a deployment's calls. Holds the secret: never log it. */
export function targetOf(d: Deployment): AdapterTarget {
  const target: AdapterTarget = {
    baseUrl: d.provider.baseUrl,
    apiKey: d.provider.apiKey,
    model: d.model.upstreamName ?? d.model.name,
    timeoutMs: d.provider.timeoutMs,
    poolKey: d.provider.id,
    maxConnections: d.provider.maxConnections,
    contextWindow: d.model.contextWindow,
  };
  const maxEmbeddingInputs = embeddingInputsLimit(d.provider);
  if (maxEmbeddingInputs !== undefined) {
    target.maxEmbeddingInputs = maxEmbeddingInputs;
  }
  // llama.cpp, vLLM and TGI health checks read this instead of the model list.
  if (d.provider.healthPath !== undefined) {
    target.healthPath = d.provider.healthPath;
  }
  return target;
}

export function successAttempt(d: Deployment, route: Route, latencyMs: number, retries: number): Attempt {
  return {
    provider: d.provider.id,
    model: d.model.name,
    route,
    ok: true,
    latencyMs: round(latencyMs),
    retries,
  };
}

/** The message is the classified one: adapters strip secrets from it (`safeMessage`). */
export function failedAttempt(
  d: Deployment,
  route: Route,
  err: ProviderCallError,
  latencyMs: number,
  retries: number,
): Attempt {
  const attempt: Attempt = {
    provider: d.provider.id,
    model: d.model.name,
    route,
    ok: false,
    errorClass: err.errorClass,
    message: err.message,
    latencyMs: round(latencyMs),
    retries,
  };
  if (err.status !== undefined) {
    attempt.status = err.status;
  }
  if (err.overloaded) {
    attempt.overloaded = true;
  }
  return attempt;
}

/** Everything a cut stream had generated: its text, reasoning and tool calls. */
function generatedText(a: ProviderAnswer): string {
  let text = a.text + (a.reasoning ?? '') + (a.refusal ?? '');
  for (const call of a.toolCalls ?? []) {
    text += call.function.name + call.function.arguments;
  }
  return text;
}

/**
 * The bill of a stream cut after it reached the client: the prompt tokens its provider reported, where it had, else
 * `promptEstimate`, the routing estimate (`estimateRequestTokens`: tool definitions, audio and file parts by their
 * size included), as `usageOf` takes it; the completion tokens the provider reported or what was streamed counted
 * with the prompt tokenizer, whichever is larger (providers report output only at the end); priced as a whole answer
 * would be. Only on this failure path: a request that completes pays nothing for it.
 */
export function spentOf(d: Deployment, partial: ProviderAnswer, promptEstimate: number): Spent {
  const reported = partial.usage;
  const promptTokens = reported.promptTokens > 0 ? reported.promptTokens : promptEstimate;
  // A count from the stream's start (Anthropic's message_start says output_tokens: 1) is no total: the larger wins.
  const completionTokens = Math.max(reported.completionTokens, countTextTokens(generatedText(partial)));
  const usage = billedUsage(promptTokens, completionTokens, reported);
  return { provider: d.provider.id, model: d.model.name, usage, costUsd: costOf(usage, d.model) };
}

/**
 * The usage a whole answer is billed by: the provider's counts, and for a count it left out (an OpenAI-compatible
 * server that ignores `stream_options.include_usage`, a proxy that strips `usage`) `promptEstimate`, the routing
 * estimate (`estimateRequestTokens`: tool definitions, audio and file parts by their size included, as admission
 * reserved them), and the generated text counted with the prompt tokenizer, as for a cut stream. Without it such a
 * provider's answers were recorded as 0 tokens and $0, past every spend limit; without the media parts a 3 MB PDF was
 * billed as the few tokens of its text. An answer whose provider reported both counts pays two comparisons.
 */
export function usageOf(answer: ProviderAnswer, promptEstimate: number): Usage {
  const reported = answer.usage;
  if (reported.promptTokens > 0 && reported.completionTokens > 0) {
    return reported;
  }
  const promptTokens = reported.promptTokens > 0 ? reported.promptTokens : promptEstimate;
  const completionTokens =
    reported.completionTokens > 0 ? reported.completionTokens : countTextTokens(generatedText(answer));
  return billedUsage(promptTokens, completionTokens, reported);
}

/**
 * Usage from the counts billed, the provider's cached prompt tokens kept within the prompt, and its cache writes
 * (Anthropic's `cache_creation_input_tokens`, priced at `cacheWritePer1k`) kept within the rest of it.
 */
function billedUsage(promptTokens: number, completionTokens: number, reported: Usage): Usage {
  const cachedPromptTokens = Math.min(reported.cachedPromptTokens, promptTokens);
  const usage: Usage = {
    promptTokens,
    completionTokens,
    totalTokens: promptTokens + completionTokens,
    cachedPromptTokens,
  };
  const written = Math.min(reported.cacheWritePromptTokens ?? 0, promptTokens - cachedPromptTokens);
  if (written > 0) {
    usage.cacheWritePromptTokens = written;
    const long = Math.min(reported.cacheWrite1hPromptTokens ?? 0, written);
    if (long > 0) {
      usage.cacheWrite1hPromptTokens = long;
    }
  }
  return usage;
}

/**
 * The counts alone: a reported cost is billed as the result's `costUsd` (`reportedCostOf`), and is no token count to
 * show in a response's `usage` (the native API's is the result's). Copied only for an answer that reported one.
 */
function withoutReportedCost(usage: Usage): Usage {
  if (usage.reportedCostUsd === undefined) {
    return usage;
  }
  const { reportedCostUsd: _billed, ...counts } = usage;
  return counts;
}

/**
 * The result of a routed request, `now` (epoch ms) ending its latency; `promptEstimate` (the routing estimate) stands
 * in for a prompt count the provider did not report (`usageOf`).
 */
export function resultOf(
  request: GenerationRequest,
  routed: Routed,
  now: number,
  promptEstimate: number,
): GenerationResult {
  const { deployment: d, answer } = routed;
  const usage = withoutReportedCost(usageOf(answer, promptEstimate));
  const result: GenerationResult = {
    requestId: request.requestId,
    id: answer.id,
    created: answer.created,
    text: answer.text,
    finishReason: answer.finishReason,
    provider: d.provider.id,
    model: d.model.name,
    route: routed.route,
    usage,
    // What OpenRouter charged, where it said (its price follows the upstream it picked), else the catalog's price.
    costUsd: reportedCostOf(d.provider, routed.route, answer.usage) ?? costOf(usage, d.model),
    latencyMs: Math.max(0, now - request.receivedAt),
    providerLatencyMs: round(routed.providerLatencyMs),
    attempts: routed.attempts,
  };
  if (routed.charged !== undefined) {
    result.charged = routed.charged;
  }
  copyDetails(answer, result);
  return result;
}

/**
 * Only the detail fields, and only those present: an adapter's response may hold more (rate-limit info) that
 * must not travel to the gateway.
 */
function copyDetails(from: AnswerDetails, to: AnswerDetails): void {
  if (from.toolCalls !== undefined && from.toolCalls.length > 0) {
    to.toolCalls = from.toolCalls;
  }
  if (from.refusal !== undefined) {
    to.refusal = from.refusal;
  }
  if (from.reasoning !== undefined) {
    to.reasoning = from.reasoning;
  }
  if (from.thinkingBlocks !== undefined) {
    to.thinkingBlocks = from.thinkingBlocks;
  }
  if (from.logprobs !== undefined) {
    to.logprobs = from.logprobs;
  }
  if (from.systemFingerprint !== undefined) {
    to.systemFingerprint = from.systemFingerprint;
  }
  if (from.stopSequence !== undefined) {
    to.stopSequence = from.stopSequence;
  }
  if (from.anthropicStopReason !== undefined) {
    to.anthropicStopReason = from.anthropicStopReason;
  }
  if (from.embeddings !== undefined) {
    to.embeddings = from.embeddings;
  }
  if (from.citations !== undefined) {
    to.citations = from.citations;
  }
  if (from.searchResults !== undefined) {
    to.searchResults = from.searchResults;
  }
  if (from.serviceTier !== undefined) {
    to.serviceTier = from.serviceTier;
  }
  if (from.annotations !== undefined) {
    to.annotations = from.annotations;
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

import { ErrorClass, ProviderCallError, type Usage } from '@aigw/core';

/** OpenAI's finish reasons: the only ones an answer carries, whatever its provider's family. */
const OPENAI_FINISH_REASONS = new Set(['stop', 'length', 'tool_calls', 'content_filter', 'function_call']);

/**
 * Other servers' words for them (OpenAI-compatible servers, families' own vocabularies), lower-cased. Besides the
 * families' own: Z.ai's `sensitive` (docs.bigmodel.cn: "the content was intercepted by the safety review") and its and
 * Anthropic's `model_context_window_exceeded`; Amazon Bedrock's stop reasons (Converse `StopReason`, also passed on by
 * its OpenAI-compatible endpoint and proxies) `guardrail_intervened` (a guardrail policy stopped the generation) and
 * `content_filtered`. As `stop`, a filtered answer looked complete to its client and was cached as one.
 */
const SYNONYMS: Readonly<Record<string, string>> = {
  eos: 'stop',
  eos_token: 'stop',
  end_turn: 'stop',
  stop_sequence: 'stop',
  model_length: 'length',
  max_tokens: 'length',
  max_output_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
  safety: 'content_filter',
  sensitive: 'content_filter',
  guardrail_intervened: 'content_filter',
  content_filtered: 'content_filter',
};

/**
 * Finish reasons that say the generation failed rather than ended: `error` (Mistral's and other OpenAI-compatible
 * servers' "generation failed"), `abort` (vLLM's and SGLang's: the engine aborted the request, on shutdown, sleep mode,
 * a scale-down or an abort call, and sent what it had with HTTP 200 and `[DONE]`), `insufficient_system_resource`
 * (DeepSeek's: "the request is interrupted due to insufficient resource of the inference system"), `network_error`
 * (Z.ai's: "model inference exception"), `malformed_model_output` and `malformed_tool_use` (Amazon Bedrock's: the model
 * produced output, or a tool call, that could not be parsed, as Gemini's MALFORMED_FUNCTION_CALL). OpenAI's vocabulary
 * has no word for a cut answer: as `stop` a client would take the fragment for the whole answer.
 */
const FAILED_FINISHES = new Set([
  'error',
  'abort',
  'insufficient_system_resource',
  'network_error',
  'malformed_model_output',
  'malformed_tool_use',
]);

/**
 * A provider's finish reason in OpenAI's vocabulary, the one both entrances translate from (Anthropic's stop reasons
 * are derived from it). Known synonyms are mapped; a reason nobody documents ends a complete answer, so it is `stop`:
 * strict clients (typed SDKs, Anthropic's stop-reason enum) never see a value outside the enum. A failed finish
 * (`error`, `abort`, `insufficient_system_resource`: `isErrorFinish`) is no answer at all: a provider failure, retried and failed over like one, never
 * billed as a success; but the tokens such an answer reports (`usage`) were consumed and billed by its provider, so the
 * failure carries them (`ProviderCallError.charged`). Null (not finished yet) stays null.
 */
export function openAiFinishReason(reason: string | null | undefined, usage?: Usage): string | null {
  if (reason === null || reason === undefined) {
    return null;
  }
  if (OPENAI_FINISH_REASONS.has(reason)) {
    return reason;
  }
  const lower = reason.toLowerCase();
  if (FAILED_FINISHES.has(lower)) {
    throw errorFinish(usage, lower);
  }
  return knownFinishReason(reason) ?? 'stop';
}

/**
 * A finish reason in OpenAI's vocabulary when it is one, or a known synonym (`SYNONYMS`), in any case; undefined for
 * any other word. Never throws: the families with their own stop reasons (Anthropic's) read a word they do not know
 * through it. Own keys only: a server's `constructor` or `__proto__` is no synonym.
 */
export function knownFinishReason(reason: string): string | undefined {
  if (OPENAI_FINISH_REASONS.has(reason)) {
    return reason;
  }
  const lower = reason.toLowerCase();
  if (OPENAI_FINISH_REASONS.has(lower)) {
    return lower;
  }
  return Object.hasOwn(SYNONYMS, lower) ? SYNONYMS[lower] : undefined;
}

/** Whether a provider's finish reason says the generation failed (`FAILED_FINISHES`, any case). */
export function isErrorFinish(reason: unknown): reason is string {
  return typeof reason === 'string' && FAILED_FINISHES.has(reason.toLowerCase());
}

/** The failure of an answer ended with a failed finish (`reason`), charged with the tokens it reported, if any. */
export function errorFinish(usage?: Usage, reason = 'error'): ProviderCallError {
  const charged = usage !== undefined && usage.promptTokens + usage.completionTokens > 0 ? usage : undefined;
  return new ProviderCallError(
    ErrorClass.Provider,
    `upstream ended the answer with finish_reason "${reason}"`,
    charged === undefined ? {} : { charged },
  );
}

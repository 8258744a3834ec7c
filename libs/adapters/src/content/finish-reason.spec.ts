import { ErrorClass, ProviderCallError } from '@aigw/core';
import { finishReasonOf as geminiFinishReason } from '../gemini/gemini-wire';
import { openAiFinishReason } from './finish-reason';

describe('openAiFinishReason', () => {
  it.each([
    ['stop', 'stop'],
    ['length', 'length'],
    ['tool_calls', 'tool_calls'],
    ['content_filter', 'content_filter'],
    ['function_call', 'function_call'],
    ['STOP', 'stop'],
    ['eos_token', 'stop'],
    ['end_turn', 'stop'],
    ['model_length', 'length'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['something_new', 'stop'],
    // A word that names an Object.prototype member is no synonym (a function is no finish reason).
    ['constructor', 'stop'],
    ['__proto__', 'stop'],
    [null, null],
    [undefined, null],
  ])('%p -> %p, never a value outside OpenAI enum', (reason, expected) => {
    expect(openAiFinishReason(reason)).toBe(expected);
  });

  it('"error" (Mistral: generation failed) is a provider failure, not an answer', () => {
    const failure = (): unknown => openAiFinishReason('error');
    expect(failure).toThrow(ProviderCallError);
    expect(failure).toThrow(expect.objectContaining({ errorClass: ErrorClass.Provider }) as Error);
  });

  it('"error" with the usage the provider billed carries it as charged; none without tokens', () => {
    const usage = { promptTokens: 1000, completionTokens: 20, totalTokens: 1020, cachedPromptTokens: 0 };
    expect(() => openAiFinishReason('error', usage)).toThrow(expect.objectContaining({ charged: usage }) as Error);
    const none = { promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedPromptTokens: 0 };
    expect(() => openAiFinishReason('error', none)).toThrow(
      expect.not.objectContaining({ charged: expect.anything() as unknown }) as Error,
    );
  });
});

describe('"abort" (vLLM, SGLang: the engine aborted the request)', () => {
  // vLLM ends a request its engine aborted (shutdown, sleep mode, a scale-down, an abort call) with a terminal
  // finish_reason "abort" and then [DONE]: the answer is cut, and none of OpenAI's reasons says so.
  it.each(['abort', 'ABORT'])('%p is a provider failure, never "stop" (a complete answer)', (reason) => {
    expect(() => openAiFinishReason(reason)).toThrow(
      expect.objectContaining({
        errorClass: ErrorClass.Provider,
        message: 'upstream ended the answer with finish_reason "abort"',
      }) as Error,
    );
  });

  it('carries the usage the provider reported as charged', () => {
    const usage = { promptTokens: 800, completionTokens: 57, totalTokens: 857, cachedPromptTokens: 0 };
    expect(() => openAiFinishReason('abort', usage)).toThrow(expect.objectContaining({ charged: usage }) as Error);
  });
});

describe('"insufficient_system_resource" (DeepSeek: the request was interrupted for want of resources)', () => {
  it('is a provider failure charged with its usage, never "stop"', () => {
    const usage = { promptTokens: 300, completionTokens: 25, totalTokens: 325, cachedPromptTokens: 0 };
    expect(() => openAiFinishReason('insufficient_system_resource', usage)).toThrow(
      expect.objectContaining({
        errorClass: ErrorClass.Provider,
        charged: usage,
        message: 'upstream ended the answer with finish_reason "insufficient_system_resource"',
      }) as Error,
    );
  });
});

describe("providers' documented words for a filtered, cut or failed answer", () => {
  it.each([
    // Amazon Bedrock (Converse StopReason): a guardrail stopped the generation; its content filters did.
    ['guardrail_intervened', 'content_filter'],
    ['content_filtered', 'content_filter'],
    // Z.ai (docs.bigmodel.cn, finish_reason): intercepted by the safety review.
    ['sensitive', 'content_filter'],
    // Z.ai and Anthropic: the context window was reached.
    ['model_context_window_exceeded', 'length'],
  ])('%p -> %p, not "stop" (a complete answer)', (reason, expected) => {
    expect(openAiFinishReason(reason)).toBe(expected);
  });

  // Z.ai's `network_error` ("model inference exception"), Bedrock's malformed output or tool use: no answer at all.
  it.each(['network_error', 'malformed_model_output', 'malformed_tool_use'])('%p is a provider failure', (reason) => {
    const usage = { promptTokens: 40, completionTokens: 3, totalTokens: 43, cachedPromptTokens: 0 };
    expect(() => openAiFinishReason(reason, usage)).toThrow(
      expect.objectContaining({
        errorClass: ErrorClass.Provider,
        charged: usage,
        message: `upstream ended the answer with finish_reason "${reason}"`,
      }) as Error,
    );
  });
});

describe("Gemini's finishReason", () => {
  it.each([
    ['STOP', false, 'stop'],
    ['STOP', true, 'tool_calls'],
    ['MAX_TOKENS', false, 'length'],
    ['SAFETY', false, 'content_filter'],
    ['RECITATION', false, 'content_filter'],
    ['IMAGE_PROHIBITED_CONTENT', false, 'content_filter'],
    ['IMAGE_RECITATION', false, 'content_filter'],
    ['OTHER', false, 'stop'],
    ['FINISH_REASON_UNSPECIFIED', false, 'stop'],
  ])('%p (calls made: %p) -> %p', (reason, calls, expected) => {
    expect(geminiFinishReason(reason, calls)).toBe(expected);
  });

  it.each([
    'MALFORMED_FUNCTION_CALL',
    'UNEXPECTED_TOOL_CALL',
    'MISSING_THOUGHT_SIGNATURE',
    'TOO_MANY_TOOL_CALLS',
    'MALFORMED_RESPONSE',
  ])('%p is a provider failure, not an empty success', (r) => {
    expect(() => geminiFinishReason(r, false)).toThrow(
      expect.objectContaining({ errorClass: ErrorClass.Provider }) as Error,
    );
  });

  it('a failed finish carries the usage Google billed as charged', () => {
    const usage = { promptTokens: 300, completionTokens: 12, totalTokens: 312, cachedPromptTokens: 0 };
    expect(() => geminiFinishReason('MALFORMED_FUNCTION_CALL', false, usage)).toThrow(
      expect.objectContaining({ charged: usage }) as Error,
    );
  });
});

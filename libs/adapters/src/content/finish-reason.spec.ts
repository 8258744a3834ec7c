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
});

describe("Gemini's finishReason", () => {
  it.each([
    ['STOP', false, 'stop'],
    ['STOP', true, 'tool_calls'],
    ['MAX_TOKENS', false, 'length'],
    ['SAFETY', false, 'content_filter'],
    ['RECITATION', false, 'content_filter'],
    ['OTHER', false, 'stop'],
    ['FINISH_REASON_UNSPECIFIED', false, 'stop'],
  ])('%p (calls made: %p) -> %p', (reason, calls, expected) => {
    expect(geminiFinishReason(reason, calls)).toBe(expected);
  });

  it.each(['MALFORMED_FUNCTION_CALL', 'UNEXPECTED_TOOL_CALL'])(
    '%p is a provider failure, not an empty success',
    (r) => {
      expect(() => geminiFinishReason(r, false)).toThrow(
        expect.objectContaining({ errorClass: ErrorClass.Provider }) as Error,
      );
    },
  );
});

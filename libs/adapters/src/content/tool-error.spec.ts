import type { ChatMessage } from '@aigw/core';
import { toAnthropicPrompt } from '../anthropic/anthropic-mapping';
import { toGeminiPrompt } from '../gemini/gemini-mapping';
import { ollamaBody } from '../ollama/ollama-wire';
import { openAiBody } from '../openai/openai-wire';

/** A failed tool call's result (Anthropic's `tool_result` with `is_error`), as each family receives it. */
const history: ChatMessage[] = [
  { role: 'user', content: 'Oslo?' },
  {
    role: 'assistant',
    content: null,
    tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
  },
  { role: 'tool', tool_call_id: 'call_1', content: 'weather service down', is_error: true },
];
const target = { baseUrl: 'http://x/v1', model: 'm', timeoutMs: 1000, poolKey: 'p' };

describe("a failed tool call's result", () => {
  it('reaches Claude as a tool_result with is_error, its content as sent', () => {
    const { messages } = toAnthropicPrompt(history);
    expect(messages[messages.length - 1].content).toEqual([
      { type: 'tool_result', tool_use_id: 'call_1', content: 'weather service down', is_error: true },
    ]);
  });

  it("reaches the OpenAI family led by 'Error:', without the flag OpenAI does not take", () => {
    const sent = JSON.parse(openAiBody({ target, messages: history, options: {} }, false)) as {
      messages: Record<string, unknown>[];
    };
    expect(sent.messages[2]).toEqual({ role: 'tool', tool_call_id: 'call_1', content: 'Error: weather service down' });
    // The caller's history is not changed.
    expect(history[2]).toMatchObject({ content: 'weather service down', is_error: true });
  });

  it("reaches Gemini under the functionResponse's error key", () => {
    const { contents } = toGeminiPrompt(history);
    expect(contents[contents.length - 1].parts[0]).toEqual({
      functionResponse: { name: 'get_weather', response: { error: 'weather service down' } },
    });
  });

  it("reaches Ollama led by 'Error:'", () => {
    const sent = JSON.parse(ollamaBody({ target, messages: history, options: {} }, false)) as {
      messages: Record<string, unknown>[];
    };
    expect(sent.messages[2]).toMatchObject({ role: 'tool', content: 'Error: weather service down' });
  });
});

import type { ChatMessage, ContentPart } from '@aigw/core';
import { toGeminiPrompt } from '../gemini/gemini-mapping';
import { ollamaBody } from '../ollama/ollama-wire';

/**
 * A tool result of several text parts (an Anthropic `tool_result` with text and image blocks, or an OpenAI tool
 * message with a list of text parts): its texts reach every family one per line, as `/v1/messages` joins an
 * all-text tool result, not run together ("Line oneLine two").
 */
function history(content: ContentPart[], isError = false): ChatMessage[] {
  const tool: ChatMessage = { role: 'tool', tool_call_id: 'call_1', content };
  if (isError) {
    tool.is_error = true;
  }
  return [
    { role: 'user', content: 'Read the page' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'read_page', arguments: '{}' } }],
    },
    tool,
  ];
}

const texts: ContentPart[] = [
  { type: 'text', text: 'Line one' },
  { type: 'text', text: 'Line two' },
];
const withImage: ContentPart[] = [
  ...texts,
  { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
];
const target = { baseUrl: 'http://x', model: 'm', timeoutMs: 1000, poolKey: 'p' };

function ollamaTool(messages: ChatMessage[]): Record<string, unknown> {
  const sent = JSON.parse(ollamaBody({ target, messages, options: {} }, false)) as {
    messages: Record<string, unknown>[];
  };
  return sent.messages[2];
}

describe('a tool result of several text parts', () => {
  it('reaches Gemini one text per line, with or without images, as output and as error', () => {
    for (const content of [texts, withImage]) {
      const { contents } = toGeminiPrompt(history(content));
      expect(contents[contents.length - 1].parts[0]).toEqual({
        functionResponse: { name: 'read_page', response: { content: 'Line one\nLine two' } },
      });
    }
    const { contents } = toGeminiPrompt(history(texts, true));
    expect(contents[contents.length - 1].parts[0]).toEqual({
      functionResponse: { name: 'read_page', response: { error: 'Line one\nLine two' } },
    });
  });

  it('reaches Ollama one text per line, with or without images, led by Error: when it failed', () => {
    expect(ollamaTool(history(texts))).toMatchObject({ role: 'tool', content: 'Line one\nLine two' });
    expect(ollamaTool(history(withImage))).toMatchObject({
      role: 'tool',
      content: 'Line one\nLine two',
      images: ['iVBORw0KGgo='],
    });
    expect(ollamaTool(history(texts, true))).toMatchObject({ role: 'tool', content: 'Error:\nLine one\nLine two' });
  });
});

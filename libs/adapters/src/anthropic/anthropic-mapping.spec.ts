import type { AdapterRequest } from '../types';
import { anthropicBody, DEFAULT_ANTHROPIC_MAX_TOKENS, finishReasonOf, toAnthropicPrompt } from './anthropic-mapping';

describe('toAnthropicPrompt', () => {
  it('hoists every system message into one top-level system prompt', () => {
    expect(
      toAnthropicPrompt([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'system', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'assistant', content: 'Salut' },
      ]),
    ).toEqual({
      system: 'Be brief.\n\nAnswer in French.',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Salut' },
      ],
    });
  });

  it('has no system field without system messages', () => {
    expect(toAnthropicPrompt([{ role: 'user', content: 'Hi' }])).toEqual({
      messages: [{ role: 'user', content: 'Hi' }],
    });
  });

  it('merges consecutive same-role messages so roles alternate', () => {
    expect(
      toAnthropicPrompt([
        { role: 'user', content: 'one' },
        { role: 'user', content: 'two' },
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'three' },
        { role: 'assistant', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'tool', content: 'tool output', tool_call_id: 'c1' },
        { role: 'user', content: 'four' },
      ]).messages,
    ).toEqual([
      { role: 'user', content: 'one\n\ntwo\n\nthree' },
      { role: 'assistant', content: 'a\n\nb' },
      { role: 'user', content: 'tool output\n\nfour' },
    ]);
  });

  it('maps content parts to blocks (images by data URL or URL) and merges them with plain text', () => {
    expect(
      toAnthropicPrompt([
        { role: 'user', content: 'Look:' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?' },
            { type: 'text', text: '' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          ],
        },
      ]).messages,
    ).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look:' },
          { type: 'text', text: 'what is this?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
    ]);
  });

  it('treats null content as empty and does not leave empty text behind when merging', () => {
    expect(
      toAnthropicPrompt([
        { role: 'user', content: null },
        { role: 'user', content: 'hi' },
      ]).messages,
    ).toEqual([{ role: 'user', content: 'hi' }]);
  });

  it('does not mutate the input messages', () => {
    const parts = [{ type: 'text' as const, text: 'x' }];
    const input = [
      { role: 'user' as const, content: parts },
      { role: 'user' as const, content: 'y' },
    ];
    toAnthropicPrompt(input);
    expect(input[0].content).toEqual([{ type: 'text', text: 'x' }]);
  });
});

describe('anthropicBody', () => {
  const target = { baseUrl: 'http://x', model: 'claude-x', timeoutMs: 1000, poolKey: 'p' };

  it('maps options and defaults max_tokens', () => {
    const req: AdapterRequest = {
      target,
      messages: [
        { role: 'system', content: 'S' },
        { role: 'user', content: 'U' },
      ],
      options: { temperature: 0.2, topP: 0.9, stop: ['END'] },
    };
    expect(JSON.parse(anthropicBody(req, true))).toEqual({
      model: 'claude-x',
      max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS,
      system: 'S',
      messages: [{ role: 'user', content: 'U' }],
      temperature: 0.2,
      top_p: 0.9,
      stop_sequences: ['END'],
      stream: true,
    });
  });

  it('leaves unset options out', () => {
    const req: AdapterRequest = {
      target,
      messages: [{ role: 'user', content: 'U' }],
      options: { maxTokens: 5, stop: [] },
    };
    expect(JSON.parse(anthropicBody(req, false))).toEqual({
      model: 'claude-x',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'U' }],
    });
  });
});

describe('finishReasonOf', () => {
  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['something_new', 'something_new'],
    [null, null],
  ])('%p -> %p', (stop, finish) => {
    expect(finishReasonOf(stop)).toBe(finish);
  });
});

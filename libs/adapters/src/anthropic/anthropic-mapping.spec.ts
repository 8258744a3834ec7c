import { ErrorClass, type ChatMessage } from '@aigw/core';
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
        { role: 'user', content: 'four' },
      ]).messages,
    ).toEqual([
      { role: 'user', content: 'one\n\ntwo\n\nthree' },
      { role: 'assistant', content: 'a\n\nb' },
      { role: 'user', content: 'four' },
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

  it('leaves out an assistant turn that says nothing (null content, an empty string): Anthropic refuses empty content', () => {
    expect(
      toAnthropicPrompt([
        { role: 'user', content: 'one' },
        { role: 'assistant', content: null },
        { role: 'user', content: 'two' },
        { role: 'assistant', content: '' },
      ]).messages,
    ).toEqual([{ role: 'user', content: 'one\n\ntwo' }]);
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

  describe('to a model that takes only one of temperature and top_p (Opus 4.1, the 4.5 generation and later)', () => {
    const body = (model: string, options: AdapterRequest['options']): unknown => {
      try {
        return JSON.parse(
          anthropicBody({ target: { ...target, model }, messages: [{ role: 'user', content: 'U' }], options }, false),
        ) as unknown;
      } catch (err) {
        return err;
      }
    };
    const newer = [
      'claude-sonnet-4-5',
      'claude-sonnet-4-5-20250929',
      'claude-opus-4-1-20250805',
      'claude-haiku-4-5',
      'claude-opus-4-6',
      'claude-sonnet-5',
      'anthropic.claude-sonnet-4-5-20250929-v1:0',
      'us.anthropic.claude-opus-4-1-20250805-v1:0',
      'claude-sonnet-4-5@20250929',
    ];

    it('leaves out a top_p of 1 beside a temperature, and a temperature of 1 beside a top_p below 1', () => {
      for (const model of newer) {
        expect([model, body(model, { temperature: 0.2, topP: 1 })]).toEqual([
          model,
          expect.objectContaining({ temperature: 0.2 }),
        ]);
        expect([model, body(model, { temperature: 0.2, topP: 1 })]).toEqual([
          model,
          expect.not.objectContaining({ top_p: expect.anything() as unknown }),
        ]);
        expect(body(model, { temperature: 1, topP: 0.9 })).toMatchObject({ top_p: 0.9 });
        expect(body(model, { temperature: 1, topP: 0.9 })).not.toHaveProperty('temperature');
        expect(body(model, { temperature: 1, topP: 1 })).toMatchObject({ temperature: 1 });
        expect(body(model, { temperature: 1, topP: 1 })).not.toHaveProperty('top_p');
        // One alone goes as it is.
        expect(body(model, { topP: 1 })).toMatchObject({ top_p: 1 });
        expect(body(model, { temperature: 1 })).toMatchObject({ temperature: 1 });
      }
    });

    it('refuses both meaningful before sending, naming top_p, so routing can move on', () => {
      for (const model of newer) {
        expect([model, body(model, { temperature: 0.2, topP: 0.9 })]).toEqual([
          model,
          expect.objectContaining({ errorClass: ErrorClass.InvalidRequest, untranslatable: true, param: 'top_p' }),
        ]);
      }
    });

    it('with thinking on, sends the top_p Claude takes and leaves its one temperature out', () => {
      const sent = body('claude-sonnet-4-5', { reasoningEffort: 'low', temperature: 1, topP: 0.95 });
      expect(sent).toMatchObject({ thinking: { type: 'enabled' }, top_p: 0.95 });
      expect(sent).not.toHaveProperty('temperature');
    });

    it('sends both, as they came, to the models that take both', () => {
      for (const model of [
        'claude-sonnet-4-20250514',
        'claude-sonnet-4-0',
        'claude-opus-4-20250514',
        'claude-opus-4-0',
        'claude-3-7-sonnet-20250219',
        'claude-3-5-haiku-latest',
        'anthropic.claude-sonnet-4-20250514-v1:0',
        'claude-sonnet-4@20250514',
        'claude-sonnet-latest',
      ]) {
        expect([model, body(model, { temperature: 0.2, topP: 0.9 })]).toEqual([
          model,
          expect.objectContaining({ temperature: 0.2, top_p: 0.9 }),
        ]);
        expect([model, body(model, { temperature: 0.2, topP: 1 })]).toEqual([
          model,
          expect.objectContaining({ temperature: 0.2, top_p: 1 }),
        ]);
      }
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
    ['model_context_window_exceeded', 'length'],
    // Amazon Bedrock's, in Claude's message_delta when its guardrail stopped the answer.
    ['guardrail_intervened', 'content_filter'],
    ['something_new', 'stop'],
    ['constructor', 'stop'],
    [null, null],
  ])('%p -> %p', (stop, finish) => {
    expect(finishReasonOf(stop)).toBe(finish);
  });
});

describe('tools to the Messages API', () => {
  const target = { baseUrl: 'http://x', model: 'claude-x', timeoutMs: 1000, poolKey: 'p' };
  const weather = {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Weather now',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  };

  it('turns assistant tool calls into tool_use blocks and tool messages into one user turn of tool_result blocks', () => {
    expect(
      toAnthropicPrompt([
        { role: 'user', content: 'Weather in Oslo and Rome?' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
            { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '12C' },
        { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: '20C' }] },
        { role: 'user', content: 'Thanks' },
      ]).messages,
    ).toEqual([
      { role: 'user', content: 'Weather in Oslo and Rome?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '12C' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '20C' }] },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ]);
  });

  it('sends tools with input_schema, translates tool_choice and parallel_tool_calls, user as metadata.user_id', () => {
    const body = (options: AdapterRequest['options']): Record<string, unknown> =>
      JSON.parse(anthropicBody({ target, messages: [{ role: 'user', content: 'U' }], options }, false)) as Record<
        string,
        unknown
      >;
    const noParams = { type: 'function' as const, function: { name: 'now' } };
    expect(body({ tools: [weather, noParams], user: 'u-1' })).toMatchObject({
      tools: [
        { name: 'get_weather', description: 'Weather now', input_schema: weather.function.parameters },
        { name: 'now', input_schema: { type: 'object', properties: {} } },
      ],
      metadata: { user_id: 'u-1' },
    });
    expect(body({ tools: [weather] }).tool_choice).toBeUndefined();
    expect(body({ tools: [weather], toolChoice: 'required' }).tool_choice).toEqual({ type: 'any' });
    expect(body({ tools: [weather], toolChoice: 'none' }).tool_choice).toEqual({ type: 'none' });
    expect(
      body({ tools: [weather], toolChoice: { type: 'function', function: { name: 'get_weather' } } }).tool_choice,
    ).toEqual({ type: 'tool', name: 'get_weather' });
    expect(body({ tools: [weather], parallelToolCalls: false }).tool_choice).toEqual({
      type: 'auto',
      disable_parallel_tool_use: true,
    });
    // Anthropic rejects a tool_choice without tools.
    expect(body({ toolChoice: 'auto' }).tool_choice).toBeUndefined();
  });

  it('declares the functions a history called, none callable, when the request offers no tools (Anthropic needs them)', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Weather in Oslo and Rome?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
          { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
          { id: 'toolu_3', type: 'function', function: { name: 'now', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: '12C' },
      { role: 'tool', tool_call_id: 'toolu_2', content: '20C' },
      { role: 'tool', tool_call_id: 'toolu_3', content: 'noon' },
      { role: 'user', content: 'Summarise.' },
    ];
    const body = (options: AdapterRequest['options']): Record<string, unknown> =>
      JSON.parse(anthropicBody({ target, messages, options }, false)) as Record<string, unknown>;
    expect(body({})).toMatchObject({
      tools: [
        { name: 'get_weather', input_schema: { type: 'object', properties: {} } },
        { name: 'now', input_schema: { type: 'object', properties: {} } },
      ],
      tool_choice: { type: 'none' },
    });
    // Offered tools are sent as they are, with the client's choice.
    expect(body({ tools: [weather] })).toMatchObject({ tools: [{ name: 'get_weather' }] });
    expect(body({ tools: [weather] }).tool_choice).toBeUndefined();
    // A history without tool calls declares none.
    const plain = JSON.parse(
      anthropicBody({ target, messages: [{ role: 'user', content: 'U' }], options: {} }, false),
    ) as Record<string, unknown>;
    expect(plain.tools).toBeUndefined();
    expect(plain.tool_choice).toBeUndefined();
  });

  it("takes OpenAI's replacements of `user`: safety_identifier as metadata.user_id, prompt_cache_key left out", () => {
    const body = (options: AdapterRequest['options']): Record<string, unknown> =>
      JSON.parse(anthropicBody({ target, messages: [{ role: 'user', content: 'U' }], options }, false)) as Record<
        string,
        unknown
      >;
    expect(body({ extra: { safety_identifier: 'hash-1', prompt_cache_key: 'k' } })).toEqual({
      model: 'claude-x',
      max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS,
      messages: [{ role: 'user', content: 'U' }],
      metadata: { user_id: 'hash-1' },
    });
    // `user` names the end user when both are sent.
    expect(body({ user: 'u-1', extra: { safety_identifier: 'hash-1' } }).metadata).toEqual({ user_id: 'u-1' });
    expect(body({ extra: { prompt_cache_key: 'k' } }).metadata).toBeUndefined();
    // OpenAI's `metadata` tags stored completions (Claude's metadata holds only user_id): left out, never refused.
    expect(body({ metadata: { team: 'search' } }).metadata).toBeUndefined();
    expect(body({ user: 'u-1', metadata: { user_id: 'other' } }).metadata).toEqual({ user_id: 'u-1' });
  });

  it('refuses (never drops) what the Messages API cannot express', () => {
    const send = (options: AdapterRequest['options'], content: ChatMessage['content'] = 'U'): unknown => {
      try {
        return anthropicBody({ target, messages: [{ role: 'user', content }], options }, false);
      } catch (err) {
        return err;
      }
    };
    for (const options of [
      { logitBias: { '1': 1 } },
      { seed: 1 },
      { responseFormat: { type: 'json_object' as const } },
      { extra: { service_tier: 'flex' } },
      { temperature: 1.5 },
      { stop: ['END', '\n'] },
    ]) {
      expect(send(options)).toMatchObject({ errorClass: ErrorClass.InvalidRequest });
    }
    expect(send({}, [{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }])).toMatchObject({
      errorClass: ErrorClass.InvalidRequest,
    });
    expect(typeof send({ responseFormat: { type: 'text' } })).toBe('string');
    expect(typeof send({ temperature: 1 })).toBe('string');
    expect(typeof send({ stop: ['END'] })).toBe('string');
  });
  it('turns a reasoning effort into a thinking budget that fits under max_tokens, and sends a named budget as it is', () => {
    const body = (options: AdapterRequest['options']): Record<string, unknown> =>
      JSON.parse(anthropicBody({ target, messages: [{ role: 'user', content: 'U' }], options }, false)) as Record<
        string,
        unknown
      >;
    expect(body({ reasoningEffort: 'low' })).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 2048 },
      max_tokens: 2048 + DEFAULT_ANTHROPIC_MAX_TOKENS,
    });
    expect(body({ reasoningEffort: 'high', maxTokens: 5000 })).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 4999 },
      max_tokens: 5000,
    });
    expect(body({ reasoningEffort: 'medium', reasoningBudget: 5000, maxTokens: 6000 })).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 5000 },
      max_tokens: 6000,
    });
    expect(body({ reasoningEffort: 'none', maxTokens: 100 })).not.toHaveProperty('thinking');
    expect(() => body({ reasoningEffort: 'minimal', maxTokens: 1024 })).toThrow(/reasoning_effort/);
    // Adaptive thinking (`/v1/messages`): no budget, the answer's max_tokens as the client set it.
    const adaptive = body({ reasoningEffort: 'medium', adaptiveThinking: true, maxTokens: 1000 });
    expect(adaptive).toMatchObject({ thinking: { type: 'adaptive' }, max_tokens: 1000 });
    expect(body({ reasoningEffort: 'none', adaptiveThinking: true })).not.toHaveProperty('thinking');
    // How Claude returns its thinking, as the client named it.
    expect(body({ reasoningEffort: 'medium', adaptiveThinking: true, thinkingDisplay: 'summarized' })).toMatchObject({
      thinking: { type: 'adaptive', display: 'summarized' },
    });
    expect(body({ reasoningEffort: 'low', reasoningBudget: 2000, thinkingDisplay: 'omitted' }).thinking).toEqual({
      type: 'enabled',
      budget_tokens: 2000,
      display: 'omitted',
    });
  });

  it("sends Anthropic's service_tier as the client set it, and none without one", () => {
    const body = (options: AdapterRequest['options']): Record<string, unknown> =>
      JSON.parse(anthropicBody({ target, messages: [{ role: 'user', content: 'U' }], options }, false)) as Record<
        string,
        unknown
      >;
    expect(body({ anthropicServiceTier: 'standard_only' }).service_tier).toBe('standard_only');
    expect(body({ anthropicServiceTier: 'auto' }).service_tier).toBe('auto');
    expect(body({})).not.toHaveProperty('service_tier');
  });

  it('sends signed thinking back first in its turn, and leaves out blocks nobody signed', () => {
    const call = { id: 'toolu_1', type: 'function' as const, function: { name: 'now', arguments: '{}' } };
    expect(
      toAnthropicPrompt([
        { role: 'user', content: 'U' },
        {
          role: 'assistant',
          content: 'Let me check.',
          tool_calls: [call],
          thinking_blocks: [
            { type: 'thinking', thinking: 'hm', signature: 'sig-1' },
            { type: 'thinking', thinking: 'from another family', signature: '' },
            { type: 'redacted_thinking', data: 'opaque' },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '12:00' },
      ]).messages[1],
    ).toEqual({
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'hm', signature: 'sig-1' },
        { type: 'redacted_thinking', data: 'opaque' },
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_1', name: 'now', input: {} },
      ],
    });
  });
  it('refuses before sending a conversation with no turn that has content, naming messages', () => {
    for (const messages of [
      [{ role: 'system', content: 'S' }],
      [{ role: 'user', content: '' }],
      [
        { role: 'system', content: 'S' },
        { role: 'assistant', content: null },
      ],
    ] as ChatMessage[][]) {
      let refusal: unknown;
      try {
        anthropicBody({ target, messages, options: {} }, false);
      } catch (err) {
        refusal = err;
      }
      expect(refusal).toMatchObject({ untranslatable: true, param: 'messages' });
    }
  });

  it('refuses before sending what Claude refuses with thinking on, so routing can move on to another family', () => {
    const call = { id: 'toolu_1', type: 'function' as const, function: { name: 'now', arguments: '{}' } };
    const loop = (thinking_blocks?: ChatMessage['thinking_blocks']): ChatMessage[] => [
      { role: 'user', content: 'U' },
      { role: 'assistant', content: null, tool_calls: [call], ...(thinking_blocks ? { thinking_blocks } : {}) },
      { role: 'tool', tool_call_id: 'toolu_1', content: '12:00' },
    ];
    const send = (options: AdapterRequest['options'], messages: ChatMessage[] = [{ role: 'user', content: 'U' }]) => {
      try {
        return anthropicBody({ target, messages, options }, false);
      } catch (err) {
        return err;
      }
    };
    // Each refusal names the field it is about: the client's 400 names it when no other family takes the request.
    const refused: [string, AdapterRequest['options']][] = [
      ['temperature', { reasoningEffort: 'low', temperature: 0.5 }],
      ['top_k', { reasoningEffort: 'low', topK: 5 }],
      ['top_p', { reasoningEffort: 'low', topP: 0.9 }],
      ['tool_choice', { reasoningEffort: 'low', tools: [weather], toolChoice: 'required' }],
    ];
    for (const [param, options] of refused) {
      expect(send(options)).toMatchObject({ errorClass: ErrorClass.InvalidRequest, untranslatable: true, param });
    }
    // A named budget (/v1/messages) on a loop without its thinking is refused as Claude refuses it; an effort (the
    // OpenAI endpoint, whose SDK helpers drop thinking_blocks) goes without thinking for that request.
    expect(send({ reasoningEffort: 'low', reasoningBudget: 2048 }, loop())).toMatchObject({
      untranslatable: true,
      param: 'messages',
    });
    // Adaptive thinking may have skipped thinking in that turn: Claude takes the loop, thinking adaptively.
    const adaptive = JSON.parse(
      send({ reasoningEffort: 'medium', adaptiveThinking: true }, loop()) as string,
    ) as object;
    expect(adaptive).toMatchObject({ thinking: { type: 'adaptive' } });
    const unthinking = JSON.parse(send({ reasoningEffort: 'low', temperature: 0.5 }, loop()) as string) as object;
    expect(unthinking).not.toHaveProperty('thinking');
    expect(unthinking).toMatchObject({ max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS, temperature: 0.5 });
    // The same requests without thinking, or the loop with its signed thinking, are Claude's to serve.
    expect(typeof send({ temperature: 0.5, topK: 5 })).toBe('string');
    expect(typeof send({ reasoningEffort: 'low', temperature: 1, topP: 0.95 })).toBe('string');
    expect(typeof send({ reasoningEffort: 'low' }, loop([{ type: 'thinking', thinking: 'hm', signature: 's' }]))).toBe(
      'string',
    );
  });

  it("takes a tool loop of several steps whose thinking opens the turn: Claude thinks once, at the turn's start", () => {
    const call = (id: string) => ({ id, type: 'function' as const, function: { name: 'now', arguments: '{}' } });
    const signed = [{ type: 'thinking' as const, thinking: 'hm', signature: 's' }];
    // Without interleaved thinking Claude writes no thinking after a tool result until the next user turn: the
    // assistant messages after the first one of a tool loop hold none, and Claude takes them back so.
    const loop = (thinking_blocks?: typeof signed): ChatMessage[] => [
      { role: 'user', content: 'U' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [call('toolu_1')],
        ...(thinking_blocks ? { thinking_blocks } : {}),
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: '12:00' },
      { role: 'assistant', content: null, tool_calls: [call('toolu_2')] },
      { role: 'tool', tool_call_id: 'toolu_2', content: '13:00' },
    ];
    const body = (messages: ChatMessage[], options: AdapterRequest['options']): unknown => {
      try {
        return JSON.parse(anthropicBody({ target, messages, options }, false));
      } catch (err) {
        return err;
      }
    };
    const budget = { reasoningEffort: 'low' as const, reasoningBudget: 2048 };
    expect(body(loop(signed), budget)).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 2048 } });
    expect(body(loop(signed), { reasoningEffort: 'low' })).toMatchObject({ thinking: { type: 'enabled' } });
    // No thinking anywhere in the turn: refused for a named budget, without thinking for an effort, as before.
    expect(body(loop(), budget)).toMatchObject({ untranslatable: true, param: 'messages' });
    expect(body(loop(), { reasoningEffort: 'low' })).not.toHaveProperty('thinking');
    // Thinking of an earlier turn (before the user's last message) does not open this one.
    const earlier: ChatMessage[] = [
      { role: 'user', content: 'U0' },
      { role: 'assistant', content: 'A0', thinking_blocks: signed },
      ...loop(),
    ];
    expect(body(earlier, budget)).toMatchObject({ untranslatable: true, param: 'messages' });
  });

  it('sees a tool loop whose results are followed by a user message: Claude gets them in one turn', () => {
    const call = { id: 'toolu_1', type: 'function' as const, function: { name: 'shot', arguments: '{}' } };
    // What agents send when a tool's output is an image (a tool message takes text only): the tool result, then a
    // user message carrying the image. Claude gets both in one user turn, which ends the tool loop as a lone result does.
    const messages: ChatMessage[] = [
      { role: 'user', content: 'U' },
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'see the screenshot' },
      { role: 'system', content: 'S' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/shot.png' } }] },
    ];
    const effort = JSON.parse(
      anthropicBody({ target, messages, options: { reasoningEffort: 'low' } }, false),
    ) as object;
    expect(effort).not.toHaveProperty('thinking');
    let refusal: unknown;
    try {
      anthropicBody({ target, messages, options: { reasoningEffort: 'low', reasoningBudget: 2048 } }, false);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toMatchObject({ untranslatable: true, param: 'messages' });
    // A user turn of its own after the assistant answered in text is a new turn: thinking as asked.
    const answered: ChatMessage[] = [...messages, { role: 'assistant', content: 'A' }, { role: 'user', content: 'U2' }];
    expect(
      JSON.parse(anthropicBody({ target, messages: answered, options: { reasoningEffort: 'low' } }, false)),
    ).toMatchObject({
      thinking: { type: 'enabled' },
    });
  });
});

import { Answer } from './answers';
import { openAiWire } from './openai-wire';
import { type Generation, isProblem } from './wire';

const gen = (patch: Partial<Generation> = {}): Generation => ({
  id: 'chatcmpl-simtest',
  created: 1_700_000_000,
  model: 'sim-"quoted"',
  answer: new Answer(['Hi', ' "there"']),
  promptTokens: 12,
  cachedTokens: 5,
  truncated: false,
  includeUsage: false,
  ...patch,
});

const dataLines = (sse: string): unknown[] =>
  sse
    .split('\n\n')
    .filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]')
    .map((e) => JSON.parse(e.slice(6)) as unknown);

describe('openAiWire.parse', () => {
  it('refuses temperature with top_p for a Claude model that takes only one, as LiteLLM in front of Claude answers', () => {
    const ask = (model: string) =>
      openAiWire.parse({ model, messages: [{ role: 'user', content: 'x' }], temperature: 0.2, top_p: 0.9 });
    expect(ask('claude-sonnet-4-5-20250929')).toMatchObject({ param: null });
    expect(isProblem(ask('claude-sonnet-4-20250514'))).toBe(false);
    expect(isProblem(ask('gpt-4o'))).toBe(false);
  });

  it('extracts what the simulator needs', () => {
    const parsed = openAiWire.parse({
      model: 'sim-a',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 9,
      max_completion_tokens: 4,
      messages: [
        { role: 'system', content: 'abcd' },
        { role: 'user', content: [{ type: 'text', text: 'first' }] },
        { role: 'assistant', content: 'x' },
        { role: 'user', content: 'last one' },
      ],
    });
    expect(parsed).toEqual({
      model: 'sim-a',
      stream: true,
      maxTokens: 4,
      includeUsage: true,
      promptChars: 4 + 5 + 1 + 8,
      lastUserText: 'last one',
      tools: [],
      forcedTool: null,
      lastToolResult: null,
      json: null,
      reasoning: false,
    });
  });

  it.each([
    [null, null],
    [{ messages: [{ role: 'user', content: 'x' }] }, 'model'],
    [{ model: 'm', messages: [] }, 'messages'],
    [{ model: 'm', messages: ['nope'] }, 'messages'],
    [{ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }, 'max_tokens'],
    [{ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: 'yes' }, 'stream'],
  ])('rejects %p naming param %p', (body, param) => {
    const parsed = openAiWire.parse(body);
    expect(isProblem(parsed) && parsed.param).toBe(param);
  });
});

describe('openAiWire rendering', () => {
  it('renders a chat.completion with usage and cached tokens', () => {
    const body = JSON.parse(openAiWire.render(gen()).json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      id: 'chatcmpl-simtest',
      object: 'chat.completion',
      model: 'sim-"quoted"',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi "there"' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14, prompt_tokens_details: { cached_tokens: 5 } },
    });
  });

  it('reports finish_reason length when truncated', () => {
    const body = JSON.parse(openAiWire.render(gen({ truncated: true })).json()) as {
      choices: { finish_reason: string }[];
    };
    expect(body.choices[0].finish_reason).toBe('length');
  });

  it('renders a stream: role chunk, content chunks, finish, usage, [DONE]', () => {
    const r = openAiWire.render(gen({ includeUsage: true }));
    const sse = r.streamStart() + r.streamToken(0) + r.streamToken(1) + r.streamEnd();
    expect(sse.endsWith('data: [DONE]\n\n')).toBe(true);
    const chunks = dataLines(sse) as {
      choices: { delta: Record<string, unknown>; finish_reason: unknown }[];
      usage: unknown;
    }[];
    expect(chunks).toHaveLength(5);
    expect(chunks[0].choices[0].delta).toMatchObject({ role: 'assistant' });
    expect(chunks.slice(1, 3).map((c) => c.choices[0].delta.content)).toEqual(['Hi', ' "there"']);
    expect(chunks[3].choices[0].finish_reason).toBe('stop');
    expect(chunks.slice(0, 4).every((c) => c.usage === null)).toBe(true);
    expect(chunks[4]).toMatchObject({ choices: [], usage: { completion_tokens: 2, prompt_tokens: 12 } });
  });

  it('omits usage entirely unless asked', () => {
    const r = openAiWire.render(gen());
    const chunks = dataLines(r.streamStart() + r.streamEnd()) as Record<string, unknown>[];
    expect(chunks).toHaveLength(2);
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
  });

  it('renders in-band errors and a broken line', () => {
    const r = openAiWire.render(gen());
    expect(dataLines(r.streamError(503))).toEqual([{ error: expect.objectContaining({ type: 'server_error' }) }]);
    expect(() => dataLines(r.streamBroken())).toThrow(SyntaxError);
  });

  it('shapes errors like OpenAI', () => {
    expect(JSON.parse(openAiWire.errorBody(429))).toEqual({
      error: {
        message: expect.stringContaining('simulator'),
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
    expect(JSON.parse(openAiWire.errorBody(400, 'bad', 'model'))).toMatchObject({ error: { param: 'model' } });
  });
});

describe('openAiWire: tools, JSON mode and reasoning', () => {
  const base = { model: 'm', messages: [{ role: 'user', content: 'Oslo' }] };
  const tool = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } };

  it('reads tools, tool_choice, a trailing tool result, response_format and reasoning_effort', () => {
    expect(
      openAiWire.parse({
        ...base,
        tools: [tool],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } },
        reasoning_effort: 'low',
      }),
    ).toMatchObject({
      tools: [{ name: 'get_weather', parameters: { type: 'object' } }],
      forcedTool: 'get_weather',
      json: { schema: { type: 'object' } },
      reasoning: true,
    });
    expect(openAiWire.parse({ ...base, tools: [tool], tool_choice: 'none' })).toMatchObject({ tools: [] });
    const afterTool = openAiWire.parse({
      ...base,
      messages: [...base.messages, { role: 'assistant', content: null }, { role: 'tool', content: '12C' }],
      response_format: { type: 'json_object' },
    });
    expect(afterTool).toMatchObject({ lastToolResult: '12C', json: { schema: null } });
  });

  it('renders a tool call: JSON with null content, streamed as a head fragment and argument pieces', () => {
    const g = gen({
      answer: new Answer(['{"ci', 'ty":"Oslo"}']),
      toolCall: { id: 'call_1', name: 'get_weather', pieces: new Answer(['{"ci', 'ty":"Oslo"}']) },
      reasoning: new Answer(['Thinking']),
    });
    const r = openAiWire.render(g);
    expect(JSON.parse(r.json())).toMatchObject({
      choices: [
        {
          message: {
            content: null,
            reasoning_content: 'Thinking',
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { completion_tokens: 3, completion_tokens_details: { reasoning_tokens: 1 } },
    });
    const chunks = dataLines(r.streamStart() + r.streamToken(0) + r.streamToken(1) + r.streamEnd()) as {
      choices: { delta: Record<string, unknown>; finish_reason: string | null }[];
    }[];
    expect(chunks.map((c) => c.choices[0].delta)).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { reasoning_content: 'Thinking' },
      { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"ci' } }] },
      { tool_calls: [{ index: 0, function: { arguments: 'ty":"Oslo"}' } }] },
      {},
    ]);
    expect(chunks[5].choices[0].finish_reason).toBe('tool_calls');
  });
});

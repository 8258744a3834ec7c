import { Answer } from './answers';
import { anthropicWire } from './anthropic-wire';
import { type Generation, isProblem } from './wire';
import { parseSse } from '../sse';

const gen = (patch: Partial<Generation> = {}): Generation => ({
  id: 'msg_simtest',
  created: 1_700_000_000,
  model: 'sim-claude',
  answer: new Answer(['Hello', ' you']),
  promptTokens: 10,
  cachedTokens: 4,
  truncated: false,
  includeUsage: true,
  ...patch,
});

describe('anthropicWire.parse', () => {
  it('refuses temperature with top_p for the models that take only one of them, as Anthropic does', () => {
    const ask = (model: string, sampling: Record<string, number>) =>
      anthropicWire.parse({ model, max_tokens: 8, messages: [{ role: 'user', content: 'x' }], ...sampling });
    for (const model of [
      'claude-sonnet-4-5',
      'claude-opus-4-1-20250805',
      'claude-haiku-4-5-20251001',
      'claude-opus-4-6',
      'claude-sonnet-5',
      'anthropic.claude-sonnet-4-5-20250929-v1:0',
      'claude-sonnet-4-5@20250929',
    ]) {
      expect([model, ask(model, { temperature: 0.2, top_p: 1 })]).toEqual([
        model,
        {
          problem: '`temperature` and `top_p` cannot both be specified for this model. Please use only one.',
          param: null,
        },
      ]);
      expect(isProblem(ask(model, { temperature: 0.2 }))).toBe(false);
      expect(isProblem(ask(model, { top_p: 0.9 }))).toBe(false);
    }
    for (const model of ['claude-sonnet-4-20250514', 'claude-opus-4-0', 'claude-3-7-sonnet-20250219', 'sim-claude']) {
      expect([model, isProblem(ask(model, { temperature: 0.2, top_p: 0.9 }))]).toEqual([model, false]);
    }
  });

  it('counts the system prompt and finds the last user text', () => {
    const parsed = anthropicWire.parse({
      model: 'sim-claude',
      max_tokens: 100,
      system: [{ type: 'text', text: 'sys' }],
      messages: [
        { role: 'user', content: 'abc' },
        { role: 'assistant', content: 'de' },
        { role: 'user', content: [{ type: 'text', text: 'last' }] },
      ],
    });
    expect(parsed).toEqual({
      model: 'sim-claude',
      stream: false,
      maxTokens: 100,
      includeUsage: true,
      promptChars: 3 + 3 + 2 + 4,
      lastUserText: 'last',
      tools: [],
      forcedTool: null,
      lastToolResult: null,
      json: null,
      reasoning: false,
    });
  });

  it('requires max_tokens like the real API', () => {
    const parsed = anthropicWire.parse({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(isProblem(parsed) && parsed.param).toBe('max_tokens');
  });
});

describe('anthropicWire rendering', () => {
  it('splits prompt tokens into input and cache reads', () => {
    const body = JSON.parse(anthropicWire.render(gen()).json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: 'Hello you' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 6, cache_read_input_tokens: 4, output_tokens: 2 },
    });
  });

  it('renders the event sequence with matching event names and data types', () => {
    const r = anthropicWire.render(gen({ truncated: true }));
    const events = parseSse(r.streamStart() + r.streamToken(0) + r.streamToken(1) + r.streamEnd());
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const e of events) {
      expect((JSON.parse(e.data) as { type: string }).type).toBe(e.event);
    }
    expect(JSON.parse(events[6].data)).toMatchObject({
      delta: { stop_reason: 'max_tokens' },
      usage: { output_tokens: 2 },
    });
  });

  it('renders error events and errors shaped like Anthropic', () => {
    const r = anthropicWire.render(gen());
    const [e] = parseSse(r.streamError(529));
    expect(e.event).toBe('error');
    expect(JSON.parse(e.data)).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: expect.any(String) },
    });
    expect(JSON.parse(anthropicWire.errorBody(401))).toMatchObject({ error: { type: 'authentication_error' } });
    expect(JSON.parse(anthropicWire.errorBody(429))).toMatchObject({ error: { type: 'rate_limit_error' } });
    expect(() => JSON.parse(parseSse(r.streamBroken())[0].data) as unknown).toThrow(SyntaxError);
  });
});

describe('anthropicWire: tool use', () => {
  it('reads tools, a forced tool and a trailing tool_result turn', () => {
    expect(
      anthropicWire.parse({
        model: 'm',
        max_tokens: 10,
        tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
        tool_choice: { type: 'tool', name: 'get_weather' },
        messages: [
          { role: 'user', content: 'Oslo?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'get_weather', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: '12C' }] },
        ],
      }),
    ).toMatchObject({
      tools: [{ name: 'get_weather', parameters: { type: 'object' } }],
      forcedTool: 'get_weather',
      lastToolResult: '12C',
      lastUserText: 'Oslo?',
    });
  });

  it('renders a tool_use block, streamed as input_json_delta pieces, stop_reason tool_use', () => {
    const pieces = new Answer(['{"city"', ':"Oslo"}']);
    const r = anthropicWire.render({
      id: 'msg_1',
      created: 1,
      model: 'm',
      answer: pieces,
      promptTokens: 5,
      cachedTokens: 0,
      truncated: false,
      includeUsage: true,
      toolCall: { id: 'toolu_1', name: 'get_weather', pieces },
    });
    expect(JSON.parse(r.json())).toMatchObject({
      content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } }],
      stop_reason: 'tool_use',
    });
    const events = parseSse(r.streamStart() + r.streamToken(0) + r.streamToken(1) + r.streamEnd());
    const data = events.map((e) => JSON.parse(e.data) as Record<string, unknown>);
    expect(data[1]).toMatchObject({ content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather' } });
    expect(data.filter((d) => d.type === 'content_block_delta').map((d) => d.delta)).toEqual([
      { type: 'input_json_delta', partial_json: '{"city"' },
      { type: 'input_json_delta', partial_json: ':"Oslo"}' },
    ]);
    expect(data.find((d) => d.type === 'message_delta')).toMatchObject({ delta: { stop_reason: 'tool_use' } });
  });
});

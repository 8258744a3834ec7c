import { DEFAULT_SIMULATOR_CONFIG, ProviderSimulator } from '@aigw/testing';
import { DEFAULT_PROMPT_CHARS, events, json, message, postJson } from './support';

interface AnthropicMessage {
  id: string;
  type: string;
  role: string;
  model: string;
  content: { type: string; text: string }[];
  stop_reason: string;
  usage: { input_tokens: number; output_tokens: number; cache_read_input_tokens: number };
}

/** The fields of the stream events these tests look at. */
interface StreamEvent {
  type: string;
  message?: { usage: { input_tokens: number } };
  delta?: { text?: string; stop_reason?: string };
  usage?: { output_tokens: number };
}

describe('simulator: Anthropic messages', () => {
  const sim = new ProviderSimulator({ completionTokens: 4 });
  let endpoint: string;
  const headers = { 'x-api-key': 'sk-ant-simulated', 'anthropic-version': '2023-06-01' };

  beforeAll(async () => {
    await sim.start();
    endpoint = `${sim.url}/v1/messages`;
  });
  afterAll(() => sim.stop());
  beforeEach(() => {
    sim.configure({ ...DEFAULT_SIMULATOR_CONFIG, completionTokens: 4 });
    sim.reset();
  });

  it('answers JSON shaped like the Messages API', async () => {
    const reply = await postJson(endpoint, message(), headers);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-simulator')).toBe('true');
    expect(reply.headers.get('request-id')).toMatch(/^req_sim/);
    const body = json<AnthropicMessage>(reply);
    expect(body).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'sim-claude',
      content: [{ type: 'text', text: expect.any(String) }],
      stop_reason: 'end_turn',
      usage: { input_tokens: Math.ceil(DEFAULT_PROMPT_CHARS / 4), output_tokens: 4, cache_read_input_tokens: 0 },
    });
    expect(body.id).toMatch(/^msg_sim/);
  });

  it('streams the full event sequence ending in message_stop', async () => {
    const reply = await postJson(endpoint, message({ stream: true }), headers);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const evs = events(reply);
    expect(evs.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      ...Array<string>(4).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const data = evs.map((e) => JSON.parse(e.data) as StreamEvent);
    expect(data.every((d, i) => d.type === evs[i].event)).toBe(true);
    expect(data[0].message?.usage.input_tokens).toBe(Math.ceil(DEFAULT_PROMPT_CHARS / 4));
    const text = data
      .filter((d) => d.type === 'content_block_delta')
      .map((d) => d.delta?.text)
      .join('');
    const whole = json<AnthropicMessage>(await postJson(endpoint, message(), headers));
    expect(text).toBe(whole.content[0].text);
    expect(data.at(-2)).toMatchObject({ delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 4 } });
  });

  it('caps at max_tokens with stop_reason max_tokens', async () => {
    const body = json<AnthropicMessage>(await postJson(endpoint, message({ max_tokens: 2 }), headers));
    expect(body.usage.output_tokens).toBe(2);
    expect(body.stop_reason).toBe('max_tokens');
    const evs = events(await postJson(endpoint, message({ max_tokens: 1, stream: true }), headers));
    expect(evs.filter((e) => e.event === 'content_block_delta')).toHaveLength(1);
    expect(JSON.parse(evs.at(-2)!.data)).toMatchObject({
      delta: { stop_reason: 'max_tokens' },
      usage: { output_tokens: 1 },
    });
  });

  it('reports cached prompt tokens as cache_read_input_tokens', async () => {
    sim.configure({ cachedTokens: 3 });
    const body = json<AnthropicMessage>(await postJson(endpoint, message(), headers));
    expect(body.usage.cache_read_input_tokens).toBe(3);
    expect(body.usage.input_tokens + body.usage.cache_read_input_tokens).toBe(Math.ceil(DEFAULT_PROMPT_CHARS / 4));
  });

  it('echoes the last user message', async () => {
    sim.configure({ echo: true });
    const body = json<AnthropicMessage>(
      await postJson(
        endpoint,
        message({ messages: [{ role: 'user', content: [{ type: 'text', text: 'which provider am I on?' }] }] }),
        headers,
      ),
    );
    expect(body.content[0].text).toBe('which provider am I on?');
    expect(body.usage.output_tokens).toBe(5);
  });

  it('rejects a request without max_tokens like the real API', async () => {
    const reply = await postJson(
      endpoint,
      { model: 'sim-claude', messages: [{ role: 'user', content: 'x' }] },
      headers,
    );
    expect(reply.status).toBe(400);
    expect(json(reply)).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.any(String) },
    });
  });

  it('rejects tool_use and tool_result blocks without tools like the real API, and takes them with tools', async () => {
    const messages = [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '12C' }] },
    ];
    const without = await postJson(endpoint, { model: 'sim-claude', max_tokens: 20, messages }, headers);
    expect(without.status).toBe(400);
    expect(json(without)).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.stringContaining('must define tools') },
    });
    const tools = [{ name: 'get_weather', input_schema: { type: 'object' } }];
    const withTools = await postJson(endpoint, { model: 'sim-claude', max_tokens: 20, messages, tools }, headers);
    expect(withTools.status).toBe(200);
  });

  it('serves the model list in a shape Anthropic clients read too', async () => {
    const res = await fetch(`${sim.url}/v1/models`, { headers });
    const body = (await res.json()) as {
      data: { id: string; type: string; display_name: string }[];
      has_more: boolean;
    };
    expect(body.has_more).toBe(false);
    expect(body.data[0]).toMatchObject({ id: 'sim-gpt', type: 'model', display_name: expect.any(String) });
  });

  it('answers Anthropic-shaped errors to Anthropic clients', async () => {
    sim.configure({ failNext: 1, failStatus: [529] });
    const reply = await postJson(endpoint, message(), headers);
    expect(reply.status).toBe(529);
    expect(json(reply)).toEqual({ type: 'error', error: { type: 'overloaded_error', message: expect.any(String) } });
  });
});

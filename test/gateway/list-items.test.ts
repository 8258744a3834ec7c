import { chat, GatewayHarness, type ErrorEnvelope } from './support';

interface AnthropicErrorBody {
  type: 'error';
  error: { type: string; message: string; code: string; param: string | null };
}

/**
 * A list of objects (messages, tools, tool calls, thinking blocks) whose item is itself a list: class-validator's
 * nested validation walks into an inner list item by item, so `[[]]` passed validation and reached code that reads
 * the item's fields (500 internal_error), or went to the provider as a message (a paid call with a broken body).
 * Every such list is a 400 naming the field, and nothing is queued.
 */
describe('list items that are lists', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  const tool = { type: 'function', function: { name: 'f', parameters: { type: 'object' } } };
  const call = { id: 't1', type: 'function', function: { name: 'f', arguments: '{}' } };

  const openAiCases: [string, string, Record<string, unknown>, string][] = [
    ['chat messages', '/v1/chat/completions', { model: 'sim-gpt', messages: [[]] }, 'messages'],
    [
      'chat messages holding a message',
      '/v1/chat/completions',
      { model: 'sim-gpt', messages: [[{ role: 'user', content: 'x' }]] },
      'messages',
    ],
    ['chat tools', '/v1/chat/completions', chat('x', { tools: [[]] }), 'tools'],
    ['chat tools holding a tool', '/v1/chat/completions', chat('x', { tools: [[tool]] }), 'tools'],
    [
      'tool calls',
      '/v1/chat/completions',
      {
        model: 'sim-gpt',
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: null, tool_calls: [[call]] },
          { role: 'tool', tool_call_id: 't1', content: 'r' },
        ],
      },
      'messages[1].tool_calls',
    ],
    [
      'thinking blocks',
      '/v1/chat/completions',
      {
        model: 'sim-gpt',
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: 'a', thinking_blocks: [[]] },
          { role: 'user', content: 'y' },
        ],
      },
      'messages[1].thinking_blocks',
    ],
    ['native messages', '/api/v1/ai/generate', { model: 'sim-gpt', messages: [[]] }, 'messages'],
    ['native job messages', '/api/v1/ai/jobs', { model: 'sim-gpt', messages: [[]] }, 'messages'],
  ];

  it.each(openAiCases)('%s: 400 naming the field', async (_name, route, body, param) => {
    const before = h.jobsSeen.length;
    const res = await h.post(route, body);
    const text = await res.text();
    expect(res.status).toBe(400);
    const envelope = JSON.parse(text) as ErrorEnvelope;
    expect(envelope.error.code).toBe('invalid_request');
    expect(envelope.error.param).toBe(param);
    expect(h.jobsSeen.length).toBe(before);
  });

  const anthropicCases: [string, string, Record<string, unknown>, string][] = [
    ['messages', '/v1/messages', { model: 'sim-gpt', max_tokens: 5, messages: [[]] }, 'messages'],
    [
      'messages holding a message',
      '/v1/messages',
      { model: 'sim-gpt', max_tokens: 5, messages: [[{ role: 'user', content: 'x' }]] },
      'messages',
    ],
    [
      'tools',
      '/v1/messages',
      { model: 'sim-gpt', max_tokens: 5, messages: [{ role: 'user', content: 'x' }], tools: [[]] },
      'tools',
    ],
    ['count_tokens messages', '/v1/messages/count_tokens', { model: 'sim-gpt', messages: [[]] }, 'messages'],
    [
      'count_tokens tools',
      '/v1/messages/count_tokens',
      { model: 'sim-gpt', messages: [{ role: 'user', content: 'x' }], tools: [[]] },
      'tools',
    ],
  ];

  it.each(anthropicCases)('Anthropic %s: 400 in Anthropic shape', async (_name, route, body, param) => {
    const before = h.jobsSeen.length;
    const res = await h.post(route, body);
    const text = await res.text();
    expect(res.status).toBe(400);
    const envelope = JSON.parse(text) as AnthropicErrorBody;
    expect(envelope.type).toBe('error');
    expect(envelope.error.type).toBe('invalid_request_error');
    expect(envelope.error.param).toBe(param);
    expect(h.jobsSeen.length).toBe(before);
  });

  it('still takes well-formed lists', async () => {
    expect((await h.post('/v1/chat/completions', chat('fine'))).status).toBe(200);
    const counted = await h.post('/v1/messages/count_tokens', {
      model: 'sim-gpt',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }],
    });
    expect(counted.status).toBe(200);
  });
});

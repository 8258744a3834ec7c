import OpenAI, { APIError } from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { TestSystem } from './harness';

/**
 * The official OpenAI SDK (v6) through the whole system for what agents and structured-output clients need:
 * tool calling (plain and streamed, assembled by the SDK), JSON schema output, images, reasoning, the
 * pass-through of fields the gateway does not model, and the same agent loop against an Anthropic deployment.
 */
describe('OpenAI SDK: tools, JSON mode, vision (e2e)', () => {
  const system = new TestSystem({
    workers: 1,
    env: { RETRY_MAX: '0' },
    catalog: (s) => `providers:
  - id: sim0
    kind: openai
    baseUrl: ${s.sim.url}/v1
    apiKey: sk-sim-secret-0
    timeoutMs: 10000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming, tools, json, vision] }
      - { name: sim-plain, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: sim0-anthropic
    kind: anthropic
    baseUrl: ${s.sim.url}
    apiKey: sk-sim-secret-a0
    timeoutMs: 10000
    models:
      - { name: sim-claude, promptPer1k: 0.003, completionPer1k: 0.015, cachedPromptPer1k: 0.0003, cacheWritePer1k: 0.00375, contextWindow: 8192, capabilities: [chat, streaming, tools, vision] }
`,
  });
  let client: OpenAI;

  const weather: ChatCompletionTool = {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, days: { type: 'integer' } },
        required: ['city'],
      },
    },
  };

  beforeAll(async () => {
    await system.start();
    client = new OpenAI({ baseURL: `${system.gatewayUrl}/v1`, apiKey: system.adminKey, maxRetries: 0 });
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  /** Model asks for the tool, the client answers it, the model finishes in text using the result. */
  async function roundTrip(model: string): Promise<void> {
    const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Oslo' }];
    const first = await client.chat.completions.create({ model, messages, tools: [weather] });
    const choice = first.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const call = choice.message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') {
      throw new Error('expected a function call');
    }
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Oslo', days: 4 });
    expect(call.id).toMatch(/\S/);

    messages.push(choice.message, { role: 'tool', tool_call_id: call.id, content: '12C and sunny' });
    const second = await client.chat.completions.create({ model, messages, tools: [weather] });
    expect(second.choices[0].finish_reason).toBe('stop');
    expect(second.choices[0].message.content).toBe('Tool result: 12C and sunny');
  }

  it('runs a tool-calling round trip', async () => {
    await roundTrip('sim0/sim-gpt');
  });

  it('runs the same round trip against an Anthropic deployment (tool_use / tool_result translated)', async () => {
    await roundTrip('sim0-anthropic/sim-claude');
    const sent = system.sim.lastRequests(1)[0].body as { messages: { role: string; content: unknown }[] };
    expect(sent.messages[1].content).toEqual([
      expect.objectContaining({ type: 'tool_use', name: 'get_weather', input: { city: 'Oslo', days: 4 } }),
    ]);
    expect(sent.messages[2].content).toEqual([
      expect.objectContaining({ type: 'tool_result', content: '12C and sunny' }),
    ]);
  });

  it.each(['sim0/sim-gpt', 'sim0-anthropic/sim-claude'])(
    'streams tool calls that the SDK assembles (%s)',
    async (model) => {
      const runner = client.chat.completions.stream({
        model,
        messages: [{ role: 'user', content: 'Rome' }],
        tools: [weather],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        stream_options: { include_usage: true },
      });
      const fragments: string[] = [];
      runner.on('chunk', (chunk) => {
        for (const t of chunk.choices[0]?.delta?.tool_calls ?? []) {
          fragments.push(t.function?.arguments ?? '');
        }
      });
      const final = await runner.finalChatCompletion();
      const call = final.choices[0].message.tool_calls?.[0];
      expect(final.choices[0].finish_reason).toBe('tool_calls');
      expect(call?.type === 'function' && call.function.name).toBe('get_weather');
      expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: 'Rome', days: 4 });
      // Arguments arrived in several fragments, in order.
      expect(fragments.filter((f) => f !== '').length).toBeGreaterThan(1);
      expect(final.usage?.completion_tokens).toBeGreaterThan(0);
    },
  );

  it('takes back a tool call id that carries a Gemini thought signature (hundreds of characters), on both APIs', async () => {
    // What the Gemini adapter (and LiteLLM) answers for a signed call: the id, then the signature in base64url.
    const id = `call_0123456789abcdef01234567__thought__${'CiQBVKhc7-_aN1vX3T2m0f9sK4Q'.repeat(60)}`;
    const call = { id, type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } };
    for (const model of ['sim0/sim-gpt', 'sim0-anthropic/sim-claude']) {
      const res = await client.chat.completions.create({
        model,
        tools: [weather],
        messages: [
          { role: 'user', content: 'Oslo' },
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: id, content: '12C' },
        ],
      });
      expect(res.choices[0].message.content).toContain('12C');
    }
    const res = await fetch(`${system.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': system.adminKey },
      body: JSON.stringify({
        model: 'sim0/sim-gpt',
        max_tokens: 64,
        tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
        messages: [
          { role: 'user', content: 'Oslo' },
          { role: 'assistant', content: [{ type: 'tool_use', id, name: 'get_weather', input: { city: 'Oslo' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: '12C' }] },
        ],
      }),
    });
    expect(res.status).toBe(200);
  });

  it('answers a tool-call history sent without tools (a summary turn) on Claude, which needs them declared', async () => {
    const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Oslo' }];
    const first = await client.chat.completions.create({ model: 'sim-claude', messages, tools: [weather] });
    const call = first.choices[0].message.tool_calls?.[0];
    if (call?.type !== 'function') {
      throw new Error('expected a function call');
    }
    messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '12C and sunny' });
    const summary = await client.chat.completions.create({ model: 'sim-claude', messages });
    expect(summary.choices[0]).toMatchObject({
      finish_reason: 'stop',
      message: { content: 'Tool result: 12C and sunny' },
    });
    const sent = system.sim.lastRequests(1)[0].body as { tools: { name: string }[]; tool_choice: unknown };
    expect(sent.tools.map((t) => t.name)).toEqual(['get_weather']);
    expect(sent.tool_choice).toEqual({ type: 'none' });
  });

  it("takes OpenAI's allowed_tools tool choice, on the OpenAI family and on Claude: the allowed tools, in its mode", async () => {
    const clock: ChatCompletionTool = { type: 'function', function: { name: 'get_time' } };
    const ask = (model: string): OpenAI.ChatCompletionCreateParamsNonStreaming => ({
      model,
      messages: [{ role: 'user', content: 'Oslo' }],
      tools: [clock, weather],
      tool_choice: {
        type: 'allowed_tools',
        allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'get_weather' } }] },
      },
    });
    const openai = await client.chat.completions.create(ask('sim0/sim-gpt'));
    expect(openai.choices[0].message.tool_calls?.[0]).toMatchObject({ function: { name: 'get_weather' } });
    const sent = system.sim.lastRequests(1)[0].body as {
      tools: { function: { name: string } }[];
      tool_choice: unknown;
    };
    expect(sent.tools.map((t) => t.function.name)).toEqual(['get_weather']);
    expect(sent.tool_choice).toBe('required');

    const claude = await client.chat.completions.create(ask('sim-claude'));
    expect(claude.choices[0].message.tool_calls?.[0]).toMatchObject({ function: { name: 'get_weather' } });
    const toClaude = system.sim.lastRequests(1)[0].body as { tools: { name: string }[]; tool_choice: unknown };
    expect(toClaude.tools.map((t) => t.name)).toEqual(['get_weather']);
    expect(toClaude.tool_choice).toEqual({ type: 'any' });
  });

  it('answers response_format json_schema with conforming JSON', async () => {
    const res = await client.chat.completions.create({
      model: 'sim-gpt',
      messages: [{ role: 'user', content: 'Paris' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'city_info',
          strict: true,
          schema: {
            type: 'object',
            properties: { name: { type: 'string' }, population: { type: 'integer' }, capital: { type: 'boolean' } },
            required: ['name', 'population', 'capital'],
            additionalProperties: false,
          },
        },
      },
    });
    expect(JSON.parse(res.choices[0].message.content ?? '')).toEqual({ name: 'Paris', population: 5, capital: true });
    const sent = system.sim.lastRequests(1)[0].body as { response_format: unknown };
    expect(sent.response_format).toMatchObject({
      type: 'json_schema',
      json_schema: { name: 'city_info', strict: true },
    });
  });

  it('takes an image part on a vision deployment, and names the missing capability elsewhere', async () => {
    const image =
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==';
    const messages: ChatCompletionMessageParam[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is this' },
          { type: 'image_url', image_url: { url: image, detail: 'low' } },
        ],
      },
    ];
    const res = await client.chat.completions.create({ model: 'sim0-anthropic/sim-claude', messages });
    expect(res.choices[0].message.content).toBe('what is this');
    const sent = system.sim.lastRequests(1)[0].body as { messages: { content: unknown }[] };
    expect(sent.messages[0].content).toEqual([
      { type: 'text', text: 'what is this' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: image.split(',')[1] } },
    ]);

    const err = await client.chat.completions.create({ model: 'sim-plain', messages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(400);
    expect((err as APIError).code).toBe('unsupported_capability');
    expect((err as APIError).message).toContain('vision');
  });

  it('relays reasoning_content and keeps the reasoning tokens in usage', async () => {
    const res = await client.chat.completions.create({
      model: 'sim0/sim-gpt',
      messages: [{ role: 'user', content: 'why' }],
      reasoning_effort: 'low',
    });
    expect((res.choices[0].message as { reasoning_content?: string }).reasoning_content).toBe('Thinking about: why');
    expect(res.usage?.completion_tokens_details?.reasoning_tokens).toBe(3);

    const stream = await client.chat.completions.create({
      model: 'sim0/sim-gpt',
      messages: [{ role: 'user', content: 'why not' }],
      reasoning_effort: 'low',
      stream: true,
    });
    let reasoning = '';
    let content = '';
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as { reasoning_content?: string; content?: string } | undefined;
      reasoning += delta?.reasoning_content ?? '';
      content += delta?.content ?? '';
    }
    expect(reasoning).toBe('Thinking about: why not');
    expect(content).toBe('why not');
  });

  it('forwards fields it does not model to OpenAI-compatible providers, and refuses them for Anthropic', async () => {
    // The SDK sends unknown body fields as given.
    const body: OpenAI.ChatCompletionCreateParamsNonStreaming = {
      model: 'sim0/sim-gpt',
      messages: [{ role: 'user', content: 'hi' }],
      seed: 42,
      logit_bias: { '50256': -100 },
      service_tier: 'flex',
      prediction: { type: 'content', content: 'hi' },
    };
    await client.chat.completions.create(body);
    const sent = system.sim.lastRequests(1)[0].body as Record<string, unknown>;
    expect(sent).toMatchObject({
      seed: 42,
      logit_bias: { '50256': -100 },
      service_tier: 'flex',
      prediction: { type: 'content', content: 'hi' },
    });

    const before = system.sim.stats().total;
    for (const [field, extra] of [
      ['logit_bias', { logit_bias: { '50256': -100 } }],
      ['service_tier', { service_tier: 'flex' }],
    ] as const) {
      const err = await client.chat.completions
        .create({
          model: 'sim-claude',
          messages: [{ role: 'user', content: 'hi' }],
          ...(extra as Partial<OpenAI.ChatCompletionCreateParamsNonStreaming>),
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIError);
      expect((err as APIError).status).toBe(400);
      expect((err as APIError).code).toBe('unsupported_parameter');
      expect((err as APIError).param).toBe(field);
    }
    expect(system.sim.stats().total).toBe(before);

    // Spelled-out defaults ask for nothing Claude lacks: answered (LangChain and others send penalties of 0).
    const answer = await client.chat.completions.create({
      model: 'sim-claude',
      messages: [{ role: 'user', content: 'defaults' }],
      presence_penalty: 0,
      frequency_penalty: 0,
      logprobs: false,
      parallel_tool_calls: true,
      metadata: {},
      store: false,
      // OpenAI's documented defaults of fields Claude lacks: text output, the project's tier, no bias.
      modalities: ['text'],
      service_tier: 'auto',
      logit_bias: {},
    });
    expect(answer.choices[0].message.content).toBe('defaults');
  });
  it('asks Claude to think for a reasoning_effort, and takes its signed thinking back in an agent loop', async () => {
    type Thinking = { type: 'thinking'; thinking: string; signature: string };
    type WithThinking = { reasoning_content?: string; thinking_blocks?: Thinking[] };
    const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Oslo' }];
    const ask = { model: 'sim0-anthropic/sim-claude', messages, tools: [weather], reasoning_effort: 'low' as const };
    const first = await client.chat.completions.create(ask);
    // `low` is a 2,048-token budget; without a limit from the client the answer keeps its usual 4,096 on top.
    expect(system.sim.lastRequests(1)[0].body).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 2048 },
      max_tokens: 6144,
    });
    const message = first.choices[0].message as (typeof first.choices)[0]['message'] & WithThinking;
    expect(message.reasoning_content).toBe('Thinking about: Oslo');
    expect(message.thinking_blocks).toEqual([
      { type: 'thinking', thinking: 'Thinking about: Oslo', signature: expect.stringMatching(/^sim-sig-/) },
    ]);
    const call = message.tool_calls?.[0];
    if (call?.type !== 'function') {
      throw new Error(`expected a tool call, got ${JSON.stringify(message)}`);
    }

    // Streamed: the reasoning in pieces, then the whole signed block once, as the whole answer has it.
    const chunks: WithThinking[] = [];
    const stream = await client.chat.completions.create({ ...ask, stream: true });
    for await (const chunk of stream) {
      chunks.push((chunk.choices[0]?.delta ?? {}) as WithThinking);
    }
    expect(chunks.map((d) => d.reasoning_content ?? '').join('')).toBe('Thinking about: Oslo');
    expect(chunks.flatMap((d) => d.thinking_blocks ?? [])).toEqual(message.thinking_blocks);

    // The assistant turn goes back with its thinking_blocks: Claude checks the signature and needs the block first.
    messages.push({
      role: 'assistant',
      content: null,
      tool_calls: [call],
      thinking_blocks: message.thinking_blocks,
    } as ChatCompletionMessageParam);
    messages.push({ role: 'tool', tool_call_id: call.id, content: '12C and sunny' });
    const second = await client.chat.completions.create(ask);
    expect(second.choices[0].message.content).toBe('Tool result: 12C and sunny');
    const sent = system.sim.lastRequests(1)[0].body as { messages: { content: { type: string }[] }[] };
    expect(sent.messages[1].content.map((b) => b.type)).toEqual(['thinking', 'tool_use']);

    // A block whose text was changed fails the provider's check (its 400, relayed), and an OpenAI-compatible
    // deployment never sees thinking_blocks, which it would refuse.
    const forged = [{ ...message.thinking_blocks![0], thinking: 'Thinking about: Bergen' }];
    messages[1] = {
      role: 'assistant',
      content: null,
      tool_calls: [call],
      thinking_blocks: forged,
    } as ChatCompletionMessageParam;
    const err = await client.chat.completions.create(ask).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(400);
    expect((err as APIError).message).toContain('signature');
    await client.chat.completions.create({ ...ask, model: 'sim0/sim-gpt' });
    const toGpt = system.sim.lastRequests(1)[0].body as { messages: object[]; reasoning_effort?: string };
    expect(toGpt.messages[1]).not.toHaveProperty('thinking_blocks');
    expect(toGpt.reasoning_effort).toBe('low');
  });

  it("finishes the SDK's runTools loop on Claude with a reasoning_effort: the turn it rebuilds without thinking_blocks goes without thinking", async () => {
    const runner = client.chat.completions.runTools({
      model: 'sim0-anthropic/sim-claude',
      reasoning_effort: 'low',
      messages: [{ role: 'user', content: 'Oslo' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather in a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            function: () => '12C and sunny',
            parse: JSON.parse,
          },
        },
      ],
    });
    expect(await runner.finalContent()).toBe('Tool result: 12C and sunny');
    const [first, second] = system.sim.lastRequests(2).map((r) => r.body as { thinking?: object });
    expect(first.thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });
    expect(second).not.toHaveProperty('thinking');
  });

  it('takes a tool loop on Claude with a reasoning_effort when a user message follows the tool results', async () => {
    // Agents whose tool returns an image send it as a user message after the tool message (which takes text only);
    // Claude gets both in one turn, which it takes with thinking on only after the assistant turn's thinking blocks.
    const res = await client.chat.completions.create({
      model: 'sim0-anthropic/sim-claude',
      reasoning_effort: 'low',
      tools: [weather],
      messages: [
        { role: 'user', content: 'Oslo' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '12C and sunny' },
        { role: 'user', content: 'and the forecast chart is attached' },
      ],
    });
    expect(res.choices[0].finish_reason).toBe('stop');
    expect(system.sim.lastRequests(1)[0].body).not.toHaveProperty('thinking');
  });

  it("refuses before calling Claude a conversation it cannot take (a system prompt alone, an empty message), naming 'messages'", async () => {
    const before = system.sim.stats().total;
    for (const messages of [
      [{ role: 'system', content: 'You are terse.' }],
      [{ role: 'user', content: '' }],
    ] as ChatCompletionMessageParam[][]) {
      const err = await client.chat.completions
        .create({ model: 'sim0-anthropic/sim-claude', messages })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIError);
      expect([(err as APIError).status, (err as APIError).param]).toEqual([400, 'messages']);
    }
    expect(system.sim.stats().total).toBe(before);
    // The OpenAI family takes such a conversation.
    const answer = await client.chat.completions.create({
      model: 'sim0/sim-gpt',
      messages: [{ role: 'system', content: 'You are terse.' }],
    });
    expect(answer.choices[0].finish_reason).toBe('stop');
  });

  it('refuses a reasoning_effort whose thinking budget cannot fit under the token limit Claude is given', async () => {
    const before = system.sim.stats().total;
    const err = await client.chat.completions
      .create({
        model: 'sim0-anthropic/sim-claude',
        messages: [{ role: 'user', content: 'think briefly' }],
        reasoning_effort: 'high',
        max_completion_tokens: 1000,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(400);
    expect((err as APIError).message).toContain('reasoning_effort');
    expect((err as APIError).param).toBe('reasoning_effort');
    // What Claude refuses with thinking on is a 400 naming the field, as the SDK's `param`.
    const forced = await client.chat.completions
      .create({
        model: 'sim0-anthropic/sim-claude',
        messages: [{ role: 'user', content: 'Oslo' }],
        reasoning_effort: 'low',
        tools: [weather],
        tool_choice: 'required',
      })
      .catch((e: unknown) => e);
    expect(forced).toBeInstanceOf(APIError);
    expect([(forced as APIError).status, (forced as APIError).param]).toEqual([400, 'tool_choice']);
    expect(system.sim.stats().total).toBe(before);
    // With room for the minimum budget, the effort's budget is cut to fit under the limit.
    await client.chat.completions.create({
      model: 'sim0-anthropic/sim-claude',
      messages: [{ role: 'user', content: 'think briefly' }],
      reasoning_effort: 'high',
      max_completion_tokens: 5000,
    });
    expect(system.sim.lastRequests(1)[0].body).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 4999 },
      max_tokens: 5000,
    });
  });
});

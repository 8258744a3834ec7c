import Anthropic from '@anthropic-ai/sdk';
import type { Message, MessageParam, Tool, ToolUseBlock } from '@anthropic-ai/sdk/resources/messages';
import { Redis } from 'ioredis';
import { REDACTED_THINKING_TRIGGER, type SimulatorConfig } from '@aigw/testing';
import { REDIS_URL, TestSystem } from './harness';

/** The tool call of an answer that made one. */
function toolUseOf(answer: Message): ToolUseBlock {
  const use = answer.content.find((b) => b.type === 'tool_use');
  if (use?.type !== 'tool_use') {
    throw new Error(`expected a tool_use block, got ${JSON.stringify(answer.content)}`);
  }
  return use;
}

/**
 * The official Anthropic SDK against `POST /v1/messages`, through the whole system: plain and streamed answers and
 * a tool-use round trip, against an OpenAI-compatible deployment (translated both ways) and an Anthropic one.
 * Bad input gets a 400 in Anthropic's error shape naming the field, and nothing is enqueued.
 */
describe('Anthropic SDK: /v1/messages (e2e)', () => {
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
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming, tools, vision] }
  - id: sim0-anthropic
    kind: anthropic
    baseUrl: ${s.sim.url}
    apiKey: sk-sim-secret-a0
    timeoutMs: 10000
    models:
      - { name: sim-claude, promptPer1k: 0.003, completionPer1k: 0.015, cachedPromptPer1k: 0.0003, cacheWritePer1k: 0.00375, contextWindow: 8192, capabilities: [chat, streaming, tools, vision] }
`,
  });
  let client: Anthropic;
  let redis: Redis;

  const weather: Tool = {
    name: 'get_weather',
    description: 'Current weather in a city',
    input_schema: {
      type: 'object',
      properties: { city: { type: 'string' }, days: { type: 'integer' } },
      required: ['city'],
    },
  };

  beforeAll(async () => {
    await system.start();
    client = new Anthropic({ baseURL: system.gatewayUrl, apiKey: system.adminKey, maxRetries: 0 });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  }, 90_000);

  afterAll(async () => {
    await redis?.quit();
    await system.stop();
  }, 30_000);

  const deployments = [
    ['an OpenAI-compatible deployment', 'sim0/sim-gpt'],
    ['an Anthropic deployment', 'sim0-anthropic/sim-claude'],
  ] as const;

  /** Asks `model` for Oslo's weather: the conversation so far (the question, the answer with its call) and the call. */
  async function weatherCall(model: string): Promise<{ messages: MessageParam[]; use: ToolUseBlock }> {
    const messages: MessageParam[] = [{ role: 'user', content: 'Oslo' }];
    const first = await client.messages.create({ model, max_tokens: 256, messages, tools: [weather] });
    messages.push({ role: 'assistant', content: first.content });
    return { messages, use: toolUseOf(first) };
  }

  describe.each(deployments)('against %s', (_label, model) => {
    it('answers a plain request as an Anthropic Message', async () => {
      const {
        data: msg,
        response,
        request_id: requestId,
      } = await client.messages
        .create({
          model,
          max_tokens: 64,
          system: 'Answer briefly.',
          messages: [{ role: 'user', content: 'Hello there, gateway' }],
        })
        .withResponse();
      expect(msg.type).toBe('message');
      expect(msg.role).toBe('assistant');
      expect(msg.id).toMatch(/^msg_/);
      expect(msg.model).toBe(model);
      expect(msg.content).toEqual([{ type: 'text', text: 'Hello there, gateway' }]);
      expect(msg.stop_reason).toBe('end_turn');
      expect(msg.usage.input_tokens).toBeGreaterThan(0);
      expect(msg.usage.output_tokens).toBeGreaterThan(0);
      // Read from `request-id`, as from Anthropic's API: the gateway's request id.
      expect(requestId).toBe(response.headers.get('x-request-id'));
      expect(response.headers.get('x-gateway-provider')).toBe(model.split('/')[0]);
      expect(Number(response.headers.get('x-gateway-cost-usd'))).toBeGreaterThan(0);
    });

    it('streams with Anthropic event types, assembled by the SDK', async () => {
      const stream = client.messages.stream({
        model,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Stream these five words please' }],
      });
      const types: string[] = [];
      let text = '';
      let startInput = -1;
      stream.on('streamEvent', (e) => {
        types.push(e.type);
        if (e.type === 'message_start') {
          startInput = e.message.usage.input_tokens;
        }
      });
      stream.on('text', (t) => {
        text += t;
      });
      const final = await stream.finalMessage();
      expect(text).toBe('Stream these five words please');
      expect(final.content).toEqual([{ type: 'text', text }]);
      expect(final.stop_reason).toBe('end_turn');
      expect(final.usage.input_tokens).toBeGreaterThan(0);
      expect(final.usage.output_tokens).toBeGreaterThan(0);
      expect(types[0]).toBe('message_start');
      expect(types).toContain('content_block_start');
      expect(types).toContain('content_block_delta');
      expect(types).toContain('content_block_stop');
      expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
      // message_start says the input tokens (Claude's own count, or the gateway's estimate for other families).
      expect(startInput).toBeGreaterThan(0);
    });

    it('runs a tool-use round trip (tool_use, then tool_result)', async () => {
      const messages: MessageParam[] = [{ role: 'user', content: 'Oslo' }];
      const first = await client.messages.create({ model, max_tokens: 256, messages, tools: [weather] });
      expect(first.stop_reason).toBe('tool_use');
      const use = toolUseOf(first);
      expect(use.name).toBe('get_weather');
      expect(use.input).toEqual({ city: 'Oslo', days: 4 });
      messages.push(
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '12C and sunny' }] },
      );
      const second = await client.messages.create({ model, max_tokens: 256, messages, tools: [weather] });
      expect(second.stop_reason).toBe('end_turn');
      expect(second.content).toEqual([{ type: 'text', text: 'Tool result: 12C and sunny' }]);
    });

    it("sends a failed tool call's result to Claude with its is_error flag, to other families led by 'Error:'", async () => {
      const { messages, use } = await weatherCall(model);
      messages.push({
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: use.id, content: 'weather service down', is_error: true }],
      });
      await client.messages.create({ model, max_tokens: 256, messages, tools: [weather] });
      const sent = system.sim.lastRequests(1)[0].body as { messages: { role: string; content: unknown }[] };
      const last = sent.messages[sent.messages.length - 1];
      if (model.includes('anthropic')) {
        expect(last.content).toEqual([
          { type: 'tool_result', tool_use_id: use.id, content: 'weather service down', is_error: true },
        ]);
      } else {
        expect(last).toMatchObject({ role: 'tool', content: 'Error: weather service down' });
        expect(JSON.stringify(sent)).not.toContain('is_error');
      }
    });

    it('sends prompt-cache breakpoints (cache_control) to Claude where the client put them, and to no other family', async () => {
      const ephemeral = { type: 'ephemeral' as const };
      const { messages, use } = await weatherCall(model);
      // As Claude Code marks the last block of a recent assistant turn: here its tool_use block.
      const blocks = messages[1].content as Anthropic.ContentBlockParam[];
      blocks[blocks.length - 1] = {
        ...blocks[blocks.length - 1],
        cache_control: ephemeral,
      } as Anthropic.ToolUseBlockParam;
      messages.push(
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: use.id, content: '12C', cache_control: ephemeral }],
        },
        { role: 'assistant', content: [{ type: 'text', text: 'It is 12C.', cache_control: ephemeral }] },
        { role: 'user', content: [{ type: 'text', text: 'And tomorrow?', cache_control: ephemeral }] },
      );
      await client.messages.create({
        model,
        max_tokens: 256,
        system: [
          { type: 'text', text: 'You are a weather bot.' },
          { type: 'text', text: 'A long, stable prompt.', cache_control: { type: 'ephemeral', ttl: '1h' } },
        ],
        messages,
        tools: [{ ...weather, cache_control: ephemeral }],
      });
      const sent = system.sim.lastRequests(1)[0].body as Record<string, unknown>;
      if (!model.includes('anthropic')) {
        expect(JSON.stringify(sent)).not.toContain('cache_control');
        return;
      }
      expect(sent.system).toEqual([
        { type: 'text', text: 'You are a weather bot.' },
        { type: 'text', text: 'A long, stable prompt.', cache_control: { type: 'ephemeral', ttl: '1h' } },
      ]);
      expect(sent.tools).toEqual([expect.objectContaining({ name: 'get_weather', cache_control: ephemeral })]);
      const turns = sent.messages as { role: string; content: { type: string; cache_control?: unknown }[] }[];
      expect(turns[1].content.at(-1)).toMatchObject({ type: 'tool_use', id: use.id, cache_control: ephemeral });
      expect(turns[2].content[0]).toMatchObject({ type: 'tool_result', cache_control: ephemeral });
      expect(turns[3].content).toEqual([{ type: 'text', text: 'It is 12C.', cache_control: ephemeral }]);
      expect(turns[4].content).toEqual([{ type: 'text', text: 'And tomorrow?', cache_control: ephemeral }]);
    });

    it('carries the images of a tool_result (a screenshot or file-reading tool) to the model', async () => {
      const { messages, use } = await weatherCall(model);
      const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
      messages.push({
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: use.id,
            content: [
              { type: 'text', text: 'the radar' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
            ],
          },
        ],
      });
      const second = await client.messages.create({ model, max_tokens: 256, messages, tools: [weather] });
      expect(second.type).toBe('message');
      // The provider got the image, in the tool result (Anthropic) or in a user turn right after it (OpenAI, whose
      // tool messages take text only).
      const sent = JSON.stringify(system.sim.lastRequests(1)[0].body);
      expect(sent).toContain(png);
      expect(sent).toContain('the radar');
    });

    it('carries a PDF document of a tool_result (a file-reading tool, as Claude Code reads a PDF) to the model', async () => {
      const { messages, use } = await weatherCall(model);
      const pdf = Buffer.from('%PDF-1.4 the forecast').toString('base64');
      messages.push({
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: use.id,
            content: [
              { type: 'text', text: 'the forecast' },
              {
                type: 'document',
                title: 'forecast.pdf',
                source: { type: 'base64', media_type: 'application/pdf', data: pdf },
              },
            ],
          },
        ],
      });
      const second = await client.messages.create({ model, max_tokens: 256, messages, tools: [weather] });
      expect(second.type).toBe('message');
      const body = system.sim.lastRequests(1)[0].body as { messages: { content: unknown }[] };
      const sent = JSON.stringify(body);
      expect(sent).toContain(pdf);
      expect(sent).toContain('the forecast');
      if (model.includes('anthropic')) {
        // In the tool_result, as a document block again.
        expect(body.messages[2].content).toEqual([
          expect.objectContaining({
            type: 'tool_result',
            content: [
              { type: 'text', text: 'the forecast' },
              expect.objectContaining({ type: 'document', source: expect.objectContaining({ data: pdf }) }),
            ],
          }),
        ]);
      }
    });

    it('streams a tool call as input_json_delta, assembled into the tool input', async () => {
      const stream = client.messages.stream({
        model,
        max_tokens: 256,
        messages: [{ role: 'user', content: 'Bergen' }],
        tools: [weather],
        tool_choice: { type: 'tool', name: 'get_weather' },
      });
      const deltas: string[] = [];
      stream.on('streamEvent', (e) => {
        if (e.type === 'content_block_delta') {
          deltas.push(e.delta.type);
        }
      });
      const final = await stream.finalMessage();
      expect(final.stop_reason).toBe('tool_use');
      const use = final.content.find((b) => b.type === 'tool_use');
      expect(use).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'Bergen', days: 6 } });
      expect(deltas).toContain('input_json_delta');
    });
  });

  it('says which stop sequence ended a Claude answer, whole and streamed', async () => {
    const ask = {
      model: 'sim0-anthropic/sim-claude',
      max_tokens: 64,
      stop_sequences: ['###', 'END'],
      messages: [{ role: 'user' as const, content: 'one two END three' }],
    };
    const msg = await client.messages.create(ask);
    expect([msg.stop_reason, msg.stop_sequence]).toEqual(['stop_sequence', 'END']);
    expect(msg.content).toEqual([{ type: 'text', text: 'one two ' }]);
    const final = await client.messages.stream(ask).finalMessage();
    expect([final.stop_reason, final.stop_sequence]).toEqual(['stop_sequence', 'END']);
    // Without one in the answer: end_turn, as before.
    const plain = await client.messages.create({ ...ask, messages: [{ role: 'user', content: 'no stop here' }] });
    expect([plain.stop_reason, plain.stop_sequence]).toEqual(['end_turn', null]);
  });

  it.each([
    ['in reads of their own', 20],
    ['read at once with the error', 0],
  ])(
    "keeps Claude's overloaded_error that cuts a stream midway (chunks %s): the SDK's error says overloaded, chat's event too",
    async (_reads, chunkDelayMs) => {
      const cut = (): Partial<SimulatorConfig> => ({
        failNext: 1,
        failMode: 'error_mid_stream',
        failAfterChunks: 2,
        failStatus: [529],
        chunkDelayMs,
      });
      const ask = {
        model: 'sim0-anthropic/sim-claude',
        max_tokens: 64,
        messages: [{ role: 'user' as const, content: 'a long answer please' }],
      };
      try {
        system.sim.configure(cut());
        const seen: string[] = [];
        let text = '';
        const err: unknown = await (async () => {
          for await (const event of await client.messages.create({ ...ask, stream: true })) {
            seen.push(event.type);
            if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
              text += event.delta.text;
            }
          }
        })().catch((e: unknown) => e);
        // The text the provider streamed before its error, however the reads cut it.
        expect(seen).toContain('content_block_delta');
        expect(text.length).toBeGreaterThan(0);
        expect(err).toBeInstanceOf(Anthropic.APIError);
        expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
          type: 'error',
          error: { type: 'overloaded_error', code: 'provider_overloaded' },
        });

        system.sim.configure(cut());
        const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${system.adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ ...ask, stream: true }),
        });
        expect(res.status).toBe(200);
        const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: '));
        expect(events).not.toContain('data: [DONE]');
        expect(events.filter((e) => e.includes('"content":"')).length).toBeGreaterThan(0);
        expect(events.filter((e) => e.includes('"error"'))).toHaveLength(1);
        expect(JSON.parse(events[events.length - 1].slice('data: '.length))).toMatchObject({
          error: { type: 'service_unavailable_error', code: 'provider_overloaded' },
        });
      } finally {
        system.sim.configure({ failNext: 0, failMode: 'status', failStatus: [503], chunkDelayMs: 0 });
      }
    },
  );

  it("answers Claude's 529 before the answer began with a 503 overloaded_error that says to retry, and the SDK's retry gets the answer", async () => {
    const ask = {
      model: 'sim0-anthropic/sim-claude',
      max_tokens: 64,
      messages: [{ role: 'user' as const, content: 'overloaded then fine' }],
    };
    const post = (path: string, body: object): Promise<Response> =>
      fetch(`${system.gatewayUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${system.adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // Earlier tests' failures must not have this run meet an open circuit (no_healthy_provider) instead.
    const reset = await post('/api/v1/ai/admin/providers/sim0-anthropic/circuit/reset', {});
    expect(reset.status).toBe(200);
    try {
      for (const stream of [true, false]) {
        system.sim.configure({ failNext: 1, failStatus: [529] });
        const res = await post('/v1/messages', { ...ask, stream });
        expect(res.status).toBe(503);
        expect(res.headers.get('x-should-retry')).toBe('true');
        // Claude's 529 names no wait: the gateway's short one.
        expect(res.headers.get('retry-after')).toBe('1');
        expect(await res.json()).toMatchObject({
          type: 'error',
          error: { type: 'overloaded_error', code: 'all_providers_overloaded' },
        });
      }
      system.sim.configure({ failNext: 1, failStatus: [529] });
      const chat = await post('/v1/chat/completions', { ...ask, stream: true });
      expect(chat.status).toBe(503);
      expect(chat.headers.get('x-should-retry')).toBe('true');
      expect(await chat.json()).toMatchObject({
        error: { type: 'service_unavailable_error', code: 'all_providers_overloaded', attempts: [{ status: 529 }] },
      });

      system.sim.configure({ failNext: 1, failStatus: [529] });
      const retrying = new Anthropic({ baseURL: system.gatewayUrl, apiKey: system.adminKey, maxRetries: 1 });
      const answer = await retrying.messages.create(ask);
      expect(answer.content).toEqual([{ type: 'text', text: expect.any(String) as string }]);
    } finally {
      system.sim.configure({ failNext: 0, failStatus: [503] });
    }
  });

  it('sends Claude its own top_k (and any other family its equivalent)', async () => {
    // The Messages API takes top_k; this SDK's types leave it out, so the body is built apart from the call.
    const sample = (model: string, topK: number) =>
      ({
        model,
        max_tokens: 16,
        top_k: topK,
        messages: [{ role: 'user', content: 'sample narrowly' }],
      }) as unknown as Parameters<typeof client.messages.create>[0] & { stream?: false };
    const msg = await client.messages.create(sample('sim0-anthropic/sim-claude', 5));
    expect(msg.stop_reason).toBe('end_turn');
    expect((system.sim.lastRequests(1)[0].body as { top_k?: number }).top_k).toBe(5);
    await client.messages.create(sample('sim0/sim-gpt', 3));
    expect((system.sim.lastRequests(1)[0].body as { top_k?: number }).top_k).toBe(3);
  });

  describe('extended thinking with Claude', () => {
    const model = 'sim0-anthropic/sim-claude';
    const thinking = { type: 'enabled', budget_tokens: 2048 } as const;

    it.each([
      ['whole', false],
      ['streamed', true],
    ])(
      'returns signed thinking (%s), which sent back before the tool result satisfies Claude',
      async (_l, streamed) => {
        const messages: MessageParam[] = [{ role: 'user', content: 'Oslo' }];
        const ask = { model, max_tokens: 4096, thinking, messages, tools: [weather] };
        const deltas: string[] = [];
        const first = streamed
          ? await client.messages
              .stream(ask)
              .on('streamEvent', (e) => {
                if (e.type === 'content_block_delta') {
                  deltas.push(e.delta.type);
                }
              })
              .finalMessage()
          : await client.messages.create(ask);
        // The exact budget goes to Claude, not a level it was rounded to.
        expect(system.sim.lastRequests(1)[0].body).toMatchObject({ thinking, max_tokens: 4096 });
        expect(first.content[0]).toEqual({
          type: 'thinking',
          thinking: 'Thinking about: Oslo',
          signature: expect.stringMatching(/^sim-sig-/),
        });
        if (streamed) {
          expect(deltas).toEqual(expect.arrayContaining(['thinking_delta', 'signature_delta', 'input_json_delta']));
        }
        const use = toolUseOf(first);
        messages.push(
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '12C' }] },
        );
        const second = await client.messages.create(ask);
        expect(second.content.at(-1)).toEqual({ type: 'text', text: 'Tool result: 12C' });

        // Without its thinking the same turn is refused by Claude (thinking enabled, tool results following).
        messages[1] = { role: 'assistant', content: first.content.filter((b) => b.type !== 'thinking') };
        const err = await client.messages.create(ask).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Anthropic.BadRequestError);
      },
    );

    it('takes back a tool loop of several steps whose thinking opens the turn, as Claude writes it', async () => {
      // Claude thinks once, at the start of its turn (thinking not interleaved): after a tool result it calls the next
      // tool without thinking, and takes the loop back so.
      const messages: MessageParam[] = [{ role: 'user', content: 'Oslo' }];
      const ask = { model, max_tokens: 4096, thinking, messages, tools: [weather] };
      const first = await client.messages.create(ask);
      const use = toolUseOf(first);
      messages.push(
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '12C' }] },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'toolu_step2', name: use.name, input: { city: 'Bergen' } }],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_step2', content: '9C' }] },
      );
      const last = await client.messages.create(ask);
      expect(last.content.at(-1)).toEqual({ type: 'text', text: 'Tool result: 9C' });
      expect(system.sim.lastRequests(1)[0].body).toMatchObject({ thinking });
    });

    it('an Idempotency-Key replay streams the same signed thinking as the live stream', async () => {
      const ask = { model, max_tokens: 4096, thinking, messages: [{ role: 'user' as const, content: 'Replay me' }] };
      const options = { headers: { 'Idempotency-Key': `think-${Date.now()}`, 'x-gateway-cache': 'no-store' } };
      const live = await client.messages.stream(ask, options).finalMessage();
      expect(live.content[0]).toMatchObject({ type: 'thinking', thinking: 'Thinking about: Replay me' });
      const replayed = await client.messages.stream(ask, options).finalMessage();
      expect(replayed.content).toEqual(live.content);
    });

    it('passes redacted thinking through both ways', async () => {
      const messages: MessageParam[] = [{ role: 'user', content: `${REDACTED_THINKING_TRIGGER} Oslo` }];
      const ask = { model, max_tokens: 4096, thinking, messages, tools: [weather] };
      for (const streamed of [false, true]) {
        const first = streamed ? await client.messages.stream(ask).finalMessage() : await client.messages.create(ask);
        expect(first.content[0]).toEqual({ type: 'redacted_thinking', data: expect.stringMatching(/^sim-redacted-/) });
        const use = toolUseOf(first);
        const second = await client.messages.create({
          ...ask,
          messages: [
            ...messages,
            { role: 'assistant', content: first.content },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'mild' }] },
          ],
        });
        expect(second.content.at(-1)).toEqual({ type: 'text', text: 'Tool result: mild' });
      }
    });

    it('thinks with other families at the level its budget names, and sends them no thinking blocks', async () => {
      const first = await client.messages.create({
        model,
        max_tokens: 4096,
        thinking,
        messages: [{ role: 'user', content: 'why' }],
      });
      await client.messages.create({
        model: 'sim0/sim-gpt',
        max_tokens: 6000,
        thinking: { type: 'enabled', budget_tokens: 5000 },
        messages: [
          { role: 'user', content: 'why' },
          { role: 'assistant', content: first.content },
          { role: 'user', content: 'and then?' },
        ],
      });
      const sent = system.sim.lastRequests(1)[0].body as { reasoning_effort?: string; messages: object[] };
      expect(sent.reasoning_effort).toBe('medium');
      expect(sent.messages[1]).toEqual({ role: 'assistant', content: 'why' });
    });

    it('refuses what Claude refuses with thinking on with a 400 naming the field, in the words this client used', async () => {
      const before = system.sim.stats().total;
      const ask = { model, max_tokens: 4096, thinking, messages: [{ role: 'user' as const, content: 'why' }] };
      type Refused = { temperature?: number; top_k?: number; tools?: Tool[]; tool_choice?: { type: 'any' } };
      const refused: [string, Refused, boolean][] = [
        ['temperature', { temperature: 0.2 }, false],
        ['top_k', { top_k: 5 }, false],
        ['tool_choice', { tools: [weather], tool_choice: { type: 'any' } }, false],
        ['temperature', { temperature: 0.2 }, true],
      ];
      for (const [param, extra, streamed] of refused) {
        const err = await (
          streamed
            ? client.messages.stream({ ...ask, ...extra }).finalMessage()
            : client.messages.create({ ...ask, ...extra })
        ).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Anthropic.BadRequestError);
        const body = (err as InstanceType<typeof Anthropic.BadRequestError>).error as {
          error: { param: string | null; message: string };
        };
        expect([param, body.error.param]).toEqual([param, param]);
        expect(body.error.message).toContain("'thinking'");
        // This client sent no reasoning_effort: the OpenAI name of thinking is not in the answer.
        expect(body.error.message).not.toContain('reasoning_effort');
      }
      expect(system.sim.stats().total).toBe(before);
    });
  });

  it("counts a request's input tokens without calling a provider (count_tokens)", async () => {
    const before = system.sim.stats().total;
    const messages: MessageParam[] = [{ role: 'user', content: 'How warm is Oslo today, and should I bring a coat?' }];
    const plain = await client.messages.countTokens({
      model: 'sim0-anthropic/sim-claude',
      messages,
      system: 'Be brief.',
    });
    expect(plain.input_tokens).toBeGreaterThan(10);
    expect(plain._request_id).toMatch(/^req_/);
    const withTools = await client.messages.countTokens({ model: 'sim-claude', messages, tools: [weather] });
    expect(withTools.input_tokens).toBeGreaterThan(plain.input_tokens);
    expect(system.sim.stats().total).toBe(before);
    // Checked as a Messages request is: a bad block is a 400 naming it, in Anthropic's shape.
    const err = await client.messages
      .countTokens({
        model: 'sim-claude',
        messages: [
          {
            role: 'user',
            content: [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'x' } }],
          },
        ],
      } as unknown as Parameters<typeof client.messages.countTokens>[0])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.BadRequestError>).message).toContain('media_type');
  });

  it('reports prompt-cache reads in Anthropic usage fields', async () => {
    system.sim.configure({ cachedTokens: 3 });
    try {
      const msg = await client.messages.create({
        model: 'sim0-anthropic/sim-claude',
        max_tokens: 32,
        messages: [{ role: 'user', content: 'a prompt long enough to have some cached tokens in it' }],
      });
      expect(msg.usage.cache_read_input_tokens).toBe(3);
      expect(msg.usage.cache_creation_input_tokens).toBe(0);
      expect(msg.usage.input_tokens).toBeGreaterThan(0);

      // Streamed, message_start splits the input as Anthropic does (not the total as input_tokens), as
      // message_delta does at the end: a client costing the request from either gets the same figures.
      // (The raw events: MessageStream would fold message_delta's usage into message_start's object.)
      const stream = await client.messages.create({
        model: 'sim0-anthropic/sim-claude',
        max_tokens: 32,
        stream: true,
        messages: [{ role: 'user', content: 'a prompt long enough to have some cached tokens in it' }],
      });
      let startUsage: Anthropic.Usage | undefined;
      let deltaUsage: Anthropic.MessageDeltaUsage | undefined;
      for await (const e of stream) {
        if (e.type === 'message_start') {
          startUsage = structuredClone(e.message.usage);
        } else if (e.type === 'message_delta') {
          deltaUsage = e.usage;
        }
      }
      const split = {
        input_tokens: msg.usage.input_tokens,
        cache_read_input_tokens: 3,
        cache_creation_input_tokens: 0,
      };
      expect(startUsage).toMatchObject(split);
      expect(deltaUsage).toMatchObject(split);
    } finally {
      system.sim.configure({ cachedTokens: 0 });
    }
  });

  it('accepts Authorization: Bearer as well as x-api-key', async () => {
    const res = await fetch(`${system.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim0/sim-gpt', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { type: string }).type).toBe('message');
  });

  describe('bad input', () => {
    interface AnthropicError {
      type: string;
      error: { type: string; message: string; param?: string | null };
    }

    /** Jobs ever added: BullMQ counts every add in the queue's `id` key (a sync job leaves the queue as it completes). */
    async function jobCount(): Promise<number> {
      return Number((await redis.get(`{${system.prefix}}:generation:id`)) ?? 0);
    }

    async function post(
      body: string,
      headers: Record<string, string> = { 'x-api-key': system.adminKey, 'content-type': 'application/json' },
    ): Promise<{ status: number; body: AnthropicError }> {
      const res = await fetch(`${system.gatewayUrl}/v1/messages`, { method: 'POST', headers, body });
      return { status: res.status, body: (await res.json()) as AnthropicError };
    }

    const ok = { model: 'sim0/sim-gpt', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };

    const cases: [string, unknown, string, RegExp][] = [
      ['missing max_tokens', { model: 'sim0/sim-gpt', messages: ok.messages }, 'max_tokens', /max_tokens/],
      ['a bad role', { ...ok, messages: [{ role: 'system', content: 'x' }] }, 'messages[0].role', /role/],
      [
        'a bad image media type',
        {
          ...ok,
          messages: [
            {
              role: 'user',
              content: [{ type: 'image', source: { type: 'base64', media_type: 'image/tiff', data: 'AAAA' } }],
            },
          ],
        },
        'messages[0].content[0].source.media_type',
        /media_type/,
      ],
      [
        'a tool_result answering no tool_use',
        {
          ...ok,
          messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'x' }] }],
        },
        'messages[0].content[0].tool_use_id',
        /toolu_x/,
      ],
      [
        'a malformed tool schema',
        { ...ok, tools: [{ name: 'f', input_schema: { type: 'object', properties: { a: { type: 'text' } } } }] },
        'tools[0].input_schema',
        /type/,
      ],
      [
        'a tool_choice naming no tool',
        { ...ok, tool_choice: { type: 'tool', name: 'nope' } },
        'tool_choice.name',
        /nope/,
      ],
      ['a field the gateway cannot translate', { ...ok, mcp_servers: [] }, 'mcp_servers', /mcp_servers/],
      ['temperature above 1', { ...ok, temperature: 1.5 }, 'temperature', /temperature/],
      // A server tool has no input_schema: what is wrong with it is its type, which the answer names.
      [
        'an Anthropic server tool',
        { ...ok, tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }] },
        'tools[0].type',
        /server tools/,
      ],
    ];

    it.each(cases)('%s -> 400 in Anthropic shape naming the field, nothing enqueued', async (_l, body, param, re) => {
      const jobsBefore = await jobCount();
      const callsBefore = system.sim.stats().total;
      const r = await post(JSON.stringify(body));
      expect(r.status).toBe(400);
      expect(r.body.type).toBe('error');
      expect(r.body.error.type).toBe('invalid_request_error');
      expect(r.body.error.param).toBe(param);
      expect(r.body.error.message).toMatch(re);
      expect(await jobCount()).toBe(jobsBefore);
      expect(system.sim.stats().total).toBe(callsBefore);
    });

    it('malformed JSON and a missing key are answered in Anthropic shape', async () => {
      const bad = await post('{"model": ');
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });

      const anon = await post(JSON.stringify(ok), { 'content-type': 'application/json' });
      expect(anon.status).toBe(401);
      expect(anon.body).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    });

    it('the SDK raises its typed errors', async () => {
      const err: unknown = await client.messages
        .create({ model: 'no-such-model', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.NotFoundError);
      expect((err as InstanceType<typeof Anthropic.NotFoundError>).requestID).toMatch(/^req_/);
      expect((err as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({
        type: 'error',
        error: { type: 'not_found_error' },
      });
    });
  });
});

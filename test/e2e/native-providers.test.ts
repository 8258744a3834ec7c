import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

interface UsageRow {
  request_id: string;
  provider: string;
  model: string;
  status: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
}

/**
 * The official OpenAI SDK (v6) through the whole system to the native provider families, each served by the simulator
 * in its own wire format: Gemini (generateContent / streamGenerateContent SSE), Ollama (/api/chat, NDJSON) and TGI
 * (/generate, /generate_stream). The gateway translates both ways; usage reaches usage_records.
 */
describe('OpenAI SDK to Gemini, Ollama and TGI deployments (e2e)', () => {
  const system = new TestSystem({
    workers: 1,
    env: { RETRY_MAX: '0' },
    catalog: (s) => `providers:
  - id: gemini
    kind: gemini
    baseUrl: ${s.sim.url}/v1beta
    apiKey: AIzaSy-sim-secret
    timeoutMs: 10000
    models:
      - { name: sim-gemini, promptPer1k: 0.0003, completionPer1k: 0.0025, cachedPromptPer1k: 0.000075, contextWindow: 8192, capabilities: [chat, streaming, tools, json] }
      - { name: flash-2, upstreamName: gemini-2.5-flash, promptPer1k: 0.0003, completionPer1k: 0.0025, contextWindow: 8192, capabilities: [chat, streaming, tools, json] }
  - id: ollama
    kind: ollama
    baseUrl: ${s.sim.url}
    timeoutMs: 10000
    models:
      - { name: sim-llama, promptPer1k: 0, completionPer1k: 0, contextWindow: 8192, capabilities: [chat, streaming] }
  - id: tgi
    kind: tgi
    baseUrl: ${s.sim.url}
    timeoutMs: 10000
    models:
      - { name: sim-tgi, promptPer1k: 0, completionPer1k: 0, contextWindow: 4096, capabilities: [chat, streaming] }
`,
  });
  let client: OpenAI;
  /** Request ids of the answers given, with the provider that gave them, checked against usage_records at the end. */
  const answered: { requestId: string; provider: string }[] = [];

  const weather: ChatCompletionTool = {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, days: { type: 'integer' } },
        required: ['city'],
        additionalProperties: false,
      },
    },
  };

  beforeAll(async () => {
    await system.start();
    client = new OpenAI({ baseURL: `${system.gatewayUrl}/v1`, apiKey: system.adminKey, maxRetries: 0 });
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  function remember(response: Response, provider: string): void {
    expect(response.headers.get('x-gateway-provider')).toBe(provider);
    answered.push({ requestId: response.headers.get('x-request-id') ?? '', provider });
  }

  /** The routes the simulator saw since `before` requests ago. */
  const lastRoutes = (n: number): string[] => system.sim.lastRequests(n).map((r) => r.route);

  async function plain(model: string, provider: string, route: string): Promise<OpenAI.ChatCompletion> {
    const { data, response } = await client.chat.completions
      .create({
        model,
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: `hello ${provider}` },
        ],
      })
      .withResponse();
    remember(response, provider);
    expect(lastRoutes(1)).toEqual([route]);
    expect(data.choices[0].message.content).toBe(`hello ${provider}`);
    expect(data.choices[0].finish_reason).toBe('stop');
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(data.usage?.completion_tokens).toBeGreaterThan(0);
    // Ollama and TGI give no completion id: the gateway's, never an empty one.
    expect(data.id).toMatch(/^\S+$/);
    return data;
  }

  async function streamed(model: string, provider: string, route: string): Promise<void> {
    const { data: stream, response } = await client.chat.completions
      .create({
        model,
        messages: [{ role: 'user', content: 'one two three four five' }],
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    remember(response, provider);
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(lastRoutes(1)).toEqual([route]);
    expect(text).toBe('one two three four five');
    expect(chunks).toBeGreaterThan(3);
    expect(finish).toBe('stop');
    expect(usage?.prompt_tokens).toBeGreaterThan(0);
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  }

  describe('Gemini (native generateContent)', () => {
    it('answers a completion, with the system message as systemInstruction, and its cost', async () => {
      const { response } = await client.chat.completions
        .create({ model: 'sim-gemini', messages: [{ role: 'user', content: 'priced' }] })
        .withResponse();
      remember(response, 'gemini');
      expect(Number(response.headers.get('x-gateway-cost-usd'))).toBeGreaterThan(0);
      await plain('sim-gemini', 'gemini', 'POST /v1beta/models/sim-gemini:generateContent');
      const sent = system.sim.lastRequests(1)[0].body as { systemInstruction: unknown; contents: unknown[] };
      expect(sent.systemInstruction).toEqual({ parts: [{ text: 'be brief' }] });
      expect(sent.contents).toEqual([{ role: 'user', parts: [{ text: 'hello gemini' }] }]);
      expect(system.sim.lastRequests(1)[0].hadAuth).toBe(true);
    });

    it('streams through streamGenerateContent SSE with usage in the last chunk', async () => {
      await streamed('sim-gemini', 'gemini', 'POST /v1beta/models/sim-gemini:streamGenerateContent');
    });

    it('answers logprobs and top_logprobs (responseLogprobs, logprobs) as OpenAI logprobs, whole and streamed', async () => {
      const ask = {
        model: 'sim-gemini',
        messages: [{ role: 'user' as const, content: 'alpha beta gamma' }],
        logprobs: true,
        top_logprobs: 2,
      };
      const whole = await client.chat.completions.create(ask);
      const entries = whole.choices[0].logprobs?.content ?? [];
      expect(entries.map((e) => e.token).join('')).toBe(whole.choices[0].message.content);
      expect(entries[0].logprob).toBeLessThan(0);
      expect(entries[0].top_logprobs.map((t) => t.token)).toEqual([entries[0].token]);
      const sent = system.sim.lastRequests(1)[0].body as { generationConfig: Record<string, unknown> };
      expect(sent.generationConfig).toMatchObject({ responseLogprobs: true, logprobs: 2 });

      const stream = await client.chat.completions.create({ ...ask, stream: true });
      const tokens: string[] = [];
      for await (const chunk of stream) {
        const content = chunk.choices[0]?.delta?.content ?? '';
        if (content !== '') {
          expect((chunk.choices[0].logprobs?.content ?? []).map((e) => e.token)).toEqual([content]);
          tokens.push(content);
        }
      }
      expect(tokens.join('')).toBe(whole.choices[0].message.content);
    });

    it('runs a tool-call round trip: functionCall out, functionResponse back, the answer in text', async () => {
      const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Oslo' }];
      const first = await client.chat.completions.create({ model: 'sim-gemini', messages, tools: [weather] });
      const choice = first.choices[0];
      expect(choice.finish_reason).toBe('tool_calls');
      const call = choice.message.tool_calls?.[0];
      if (call?.type !== 'function') {
        throw new Error('expected a function call');
      }
      expect(call.function.name).toBe('get_weather');
      expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Oslo', days: 4 });
      // The schema reached Gemini without the keywords its Schema object refuses.
      const declared = system.sim.lastRequests(1)[0].body as {
        tools: { functionDeclarations: { parameters: Record<string, unknown> }[] }[];
      };
      expect(declared.tools[0].functionDeclarations[0].parameters).not.toHaveProperty('additionalProperties');

      messages.push(choice.message, { role: 'tool', tool_call_id: call.id, content: '12C and sunny' });
      const { data: second, response } = await client.chat.completions
        .create({ model: 'sim-gemini', messages, tools: [weather] })
        .withResponse();
      remember(response, 'gemini');
      expect(second.choices[0].finish_reason).toBe('stop');
      expect(second.choices[0].message.content).toBe('Tool result: 12C and sunny');
      const sent = system.sim.lastRequests(1)[0].body as { contents: { role: string; parts: unknown[] }[] };
      expect(sent.contents.map((c) => c.role)).toEqual(['user', 'model', 'user']);
      expect(sent.contents[2].parts).toEqual([
        { functionResponse: { name: 'get_weather', response: { content: '12C and sunny' } } },
      ]);
    });

    it('refuses JSON mode with tools for a Gemini model before 3 (Gemini answers 400) before calling it', async () => {
      const ask = {
        model: 'flash-2',
        messages: [{ role: 'user' as const, content: 'Oslo' }],
        tools: [weather],
        response_format: { type: 'json_object' as const },
      };
      const callsBefore = system.sim.stats().total;
      const err: unknown = await client.chat.completions.create(ask).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
        code: 'unsupported_parameter',
        param: 'response_format',
      });
      expect(system.sim.stats().total).toBe(callsBefore);
      // Either one alone goes to it.
      const { tools: _tools, ...jsonOnly } = ask;
      await client.chat.completions.create(jsonOnly);
      expect(system.sim.lastRequests(1)[0].route).toBe('POST /v1beta/models/gemini-2.5-flash:generateContent');
      // A Gemini model without a version in its name gets both: the provider decides.
      await client.chat.completions.create({ ...ask, model: 'sim-gemini' });
      const sent = system.sim.lastRequests(1)[0].body as {
        tools?: unknown[];
        generationConfig: Record<string, unknown>;
      };
      expect(sent.tools).toHaveLength(1);
      expect(sent.generationConfig.responseMimeType).toBe('application/json');
    });

    it('refuses a tool name Gemini refuses (a digit first) before calling it, naming the tool in the body', async () => {
      // Gemini's function names start with a letter or an underscore; OpenAI's and Anthropic's may start with a digit.
      const digitFirst: ChatCompletionTool = { type: 'function', function: { name: '1lookup' } };
      const callsBefore = system.sim.stats().total;
      const refused = async (ask: Parameters<typeof client.chat.completions.create>[0]): Promise<unknown> => {
        const err: unknown = await client.chat.completions.create(ask).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(OpenAI.BadRequestError);
        return (err as InstanceType<typeof OpenAI.BadRequestError>).error;
      };
      const messages = [{ role: 'user' as const, content: 'Oslo' }];
      expect(await refused({ model: 'sim-gemini', messages, tools: [weather, digitFirst] })).toMatchObject({
        code: 'unsupported_parameter',
        param: 'tools[1].function.name',
        message: expect.stringContaining("'1lookup'") as string,
      });
      // Streamed too; an allowed_tools choice offers only the tools it names: the index is still the body's.
      const allowed = {
        type: 'allowed_tools' as const,
        allowed_tools: { mode: 'auto' as const, tools: [{ type: 'function' as const, function: { name: '1lookup' } }] },
      };
      const stream = {
        model: 'sim-gemini',
        messages,
        tools: [weather, digitFirst],
        tool_choice: allowed,
        stream: true,
      };
      expect(await refused(stream)).toMatchObject({ param: 'tools[1].function.name' });
      // The Messages API names its own field.
      const res = await fetch(`${system.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': system.adminKey },
        body: JSON.stringify({
          model: 'sim-gemini',
          max_tokens: 50,
          messages,
          tools: [{ name: '2fa', input_schema: { type: 'object' } }],
        }),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: unknown }).error).toMatchObject({
        code: 'unsupported_parameter',
        param: 'tools[0].name',
      });
      expect(system.sim.stats().total).toBe(callsBefore);
      // A letter or an underscore first goes to it.
      await client.chat.completions.create({
        model: 'sim-gemini',
        messages,
        tools: [{ type: 'function', function: { name: '_lookup1' } }],
      });
      const sent = system.sim.lastRequests(1)[0].body as { tools: { functionDeclarations: { name: string }[] }[] };
      expect(sent.tools[0].functionDeclarations[0].name).toBe('_lookup1');
    });

    it('streams a tool call the SDK assembles', async () => {
      const stream = client.chat.completions.stream({
        model: 'sim-gemini',
        messages: [{ role: 'user', content: 'Bergen' }],
        tools: [weather],
      });
      const done = await stream.finalChatCompletion();
      const call = done.choices[0].message.tool_calls?.[0];
      expect(done.choices[0].finish_reason).toBe('tool_calls');
      expect(call?.type === 'function' ? JSON.parse(call.function.arguments) : null).toEqual({
        city: 'Bergen',
        days: 6,
      });
    });
  });

  describe('Ollama (native /api/chat)', () => {
    it('answers a completion', async () => {
      await plain('sim-llama', 'ollama', 'POST /api/chat');
      const sent = system.sim.lastRequests(1)[0].body as { model: string; stream: boolean };
      // The catalog's context window, so that Ollama does not cut the prompt at its default (2048 or 4096 tokens).
      expect(sent).toMatchObject({ model: 'sim-llama', stream: false, options: { num_ctx: 8192 } });
    });

    it('streams NDJSON as SSE chunks with usage', async () => {
      await streamed('sim-llama', 'ollama', 'POST /api/chat');
      expect(system.sim.lastRequests(1)[0].body).toMatchObject({ stream: true, options: { num_ctx: 8192 } });
    });
  });

  describe('TGI (native /generate)', () => {
    it('answers a completion from the transcript it sends', async () => {
      await plain('sim-tgi', 'tgi', 'POST /generate');
      const sent = system.sim.lastRequests(1)[0].body as { inputs: string };
      expect(sent.inputs).toBe('System: be brief\n\nUser: hello tgi\n\nAssistant:');
    });

    it('streams /generate_stream with usage', async () => {
      await streamed('sim-tgi', 'tgi', 'POST /generate_stream');
    });

    it('cuts the stop sequence TGI keeps in its text, whole and streamed', async () => {
      const ask = {
        model: 'sim-tgi',
        messages: [{ role: 'user' as const, content: 'one two END three' }],
        stop: ['END'],
      };
      const whole = await client.chat.completions.create(ask);
      expect(system.sim.lastRequests(1)[0].body).toMatchObject({ parameters: { stop: ['END'] } });
      expect([whole.choices[0].message.content, whole.choices[0].finish_reason]).toEqual(['one two ', 'stop']);
      let text = '';
      for await (const chunk of await client.chat.completions.create({ ...ask, stream: true })) {
        text += chunk.choices[0]?.delta?.content ?? '';
      }
      expect(text).toBe('one two ');
    });
  });

  it.each([
    ['sim-gemini', 'gemini', { generationConfig: { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } } }],
    ['sim-llama', 'ollama', { think: true }],
  ])(
    'asks %s to think for a reasoning_effort and relays its reasoning, whole and streamed',
    async (model, provider, asked) => {
      const ask = { model, messages: [{ role: 'user' as const, content: 'why' }], reasoning_effort: 'low' as const };
      const { data, response } = await client.chat.completions.create(ask).withResponse();
      remember(response, provider);
      expect(system.sim.lastRequests(1)[0].body).toMatchObject(asked);
      const message = data.choices[0].message as (typeof data.choices)[0]['message'] & { reasoning_content?: string };
      expect([message.reasoning_content, message.content]).toEqual(['Thinking about: why', 'why']);
      let reasoning = '';
      for await (const chunk of await client.chat.completions.create({ ...ask, stream: true })) {
        reasoning += (chunk.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '';
      }
      expect(reasoning).toBe('Thinking about: why');
      // `none` turns thinking off.
      await client.chat.completions.create({ ...ask, reasoning_effort: 'none' });
      const off = system.sim.lastRequests(1)[0].body as { think?: boolean; generationConfig?: object };
      expect(provider === 'ollama' ? off.think : off.generationConfig).toEqual(
        provider === 'ollama' ? false : expect.objectContaining({ thinkingConfig: { thinkingBudget: 0 } }),
      );
    },
  );

  it("refuses before calling Gemini a conversation it cannot take (a system prompt alone, an empty message), naming 'messages'", async () => {
    const before = system.sim.stats().total;
    for (const messages of [
      [{ role: 'system', content: 'You are terse.' }],
      [{ role: 'user', content: '' }],
    ] as ChatCompletionMessageParam[][]) {
      const err = await client.chat.completions.create({ model: 'sim-gemini', messages }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      const { status, param } = err as InstanceType<typeof OpenAI.APIError>;
      expect([status, param]).toEqual([400, 'messages']);
    }
    expect(system.sim.stats().total).toBe(before);
  });

  it('keeps a reasoning_effort away from TGI, which cannot think on request', async () => {
    const err = await client.chat.completions
      .create({ model: 'sim-tgi', messages: [{ role: 'user', content: 'why' }], reasoning_effort: 'low' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect((err as InstanceType<typeof OpenAI.APIError>).param).toBe('reasoning_effort');
    // Asking for none is asking for nothing TGI lacks.
    const none = await client.chat.completions.create({
      model: 'sim-tgi',
      messages: [{ role: 'user', content: 'why' }],
      reasoning_effort: 'none',
    });
    expect(none.choices[0].message.content).toBe('why');
  });

  it("serves the end user's id (chat's user, Claude Code's metadata.user_id) on every family, sending it to none of these", async () => {
    for (const model of ['sim-gemini', 'sim-llama', 'sim-tgi']) {
      const res = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'who' }],
        user: 'end-user-42',
      });
      expect(res.choices[0].message.content).toBeTruthy();
      expect(JSON.stringify(system.sim.lastRequests(1)[0].body)).not.toContain('end-user-42');
    }
    const res = await fetch(`${system.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': system.adminKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'sim-gemini',
        max_tokens: 20,
        metadata: { user_id: 'user_abc_account_def_session_ghi' },
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { type: string }).type).toBe('message');
    expect(JSON.stringify(system.sim.lastRequests(1)[0].body)).not.toContain('user_abc');
  });

  it("serves OpenAI's replacements of `user` (safety_identifier, prompt_cache_key) on every family, sending them to none of these", async () => {
    for (const model of ['sim-gemini', 'sim-llama', 'sim-tgi']) {
      const res = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'who' }],
        safety_identifier: 'hashed-user-42',
        prompt_cache_key: 'bucket-7',
      });
      expect(res.choices[0].message.content).toBeTruthy();
      const sent = JSON.stringify(system.sim.lastRequests(1)[0].body);
      expect(sent).not.toContain('hashed-user-42');
      expect(sent).not.toContain('bucket-7');
    }
  });

  it('records the usage of every answer in usage_records, priced by deployment', async () => {
    expect(answered.length).toBeGreaterThanOrEqual(8);
    const ids = answered.map((a) => a.requestId);
    const rows = await waitFor(
      async () => {
        const r = await system.query<UsageRow>(
          'SELECT request_id, provider, model, status, prompt_tokens, completion_tokens, cost_usd FROM usage_records WHERE request_id = ANY($1)',
          [ids],
        );
        return r.length === ids.length ? r : null;
      },
      { timeoutMs: 10_000, message: 'usage records not written' },
    );
    for (const { requestId, provider } of answered) {
      const row = rows.find((r) => r.request_id === requestId);
      expect(row).toMatchObject({ provider, status: 'success' });
      expect(row?.prompt_tokens).toBeGreaterThan(0);
      expect(row?.completion_tokens).toBeGreaterThan(0);
      if (provider === 'gemini') {
        expect(Number(row?.cost_usd)).toBeGreaterThan(0);
      } else {
        expect(Number(row?.cost_usd)).toBe(0);
      }
    }
    expect(new Set(rows.map((r) => r.model))).toEqual(new Set(['sim-gemini', 'sim-llama', 'sim-tgi']));
  });
});

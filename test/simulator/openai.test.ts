import { DEFAULT_SIMULATOR_CONFIG, ProviderSimulator } from '@aigw/testing';
import OpenAI from 'openai';
import { chat, DEFAULT_PROMPT_CHARS, json, type OpenAiChunk, openAiChunks, postJson } from './support';

describe('simulator: OpenAI chat completions', () => {
  const sim = new ProviderSimulator({ completionTokens: 5 }, { name: 'openai-sim' });
  let endpoint: string;

  beforeAll(async () => {
    await sim.start();
    endpoint = `${sim.url}/v1/chat/completions`;
  });
  afterAll(() => sim.stop());
  beforeEach(() => {
    sim.configure({ ...DEFAULT_SIMULATOR_CONFIG, completionTokens: 5 });
    sim.reset();
  });

  it('answers JSON shaped like OpenAI, marked as a simulator', async () => {
    const reply = await postJson(endpoint, chat());
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-simulator')).toBe('true');
    expect(reply.headers.get('x-simulator-name')).toBe('openai-sim');
    expect(reply.headers.get('x-ratelimit-remaining-requests')).toMatch(/^\d+$/);
    const body = json(reply);
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'sim-gpt',
      choices: [{ index: 0, message: { role: 'assistant', content: expect.any(String) }, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: Math.ceil(DEFAULT_PROMPT_CHARS / 4),
        completion_tokens: 5,
        total_tokens: Math.ceil(DEFAULT_PROMPT_CHARS / 4) + 5,
        prompt_tokens_details: { cached_tokens: 0 },
      },
    });
    expect(body.id).toMatch(/^chatcmpl-sim/);
  });

  it('streams: role chunk, one chunk per token, finish chunk, [DONE]', async () => {
    const reply = await postJson(endpoint, chat({ stream: true }));
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(reply.headers.get('x-simulator')).toBe('true');
    const chunks = openAiChunks(reply);
    expect(chunks.at(-1)).toBe('[DONE]');
    const data = chunks.slice(0, -1) as OpenAiChunk[];
    expect(data).toHaveLength(1 + 5 + 1);
    expect(data[0].choices[0].delta.role).toBe('assistant');
    const tokens = data.slice(1, 6).map((c) => c.choices[0].delta.content);
    expect(tokens.every((t) => typeof t === 'string' && t.length > 0)).toBe(true);
    expect(data[6].choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(data.every((c) => !('usage' in c))).toBe(true);

    const whole = json<{ choices: { message: { content: string } }[] }>(await postJson(endpoint, chat()));
    expect(tokens.join('')).toBe(whole.choices[0].message.content);
  });

  it('adds a usage chunk with empty choices when include_usage is set', async () => {
    sim.configure({ cachedTokens: 2 });
    const chunks = openAiChunks(
      await postJson(endpoint, chat({ stream: true, stream_options: { include_usage: true } })),
    );
    expect(chunks.at(-1)).toBe('[DONE]');
    const usageChunk = chunks.at(-2) as OpenAiChunk;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toMatchObject({
      prompt_tokens: Math.ceil(DEFAULT_PROMPT_CHARS / 4),
      completion_tokens: 5,
      prompt_tokens_details: { cached_tokens: 2 },
    });
    expect((chunks.slice(0, -2) as OpenAiChunk[]).every((c) => c.usage === null)).toBe(true);
  });

  it('caps the answer at max_tokens / max_completion_tokens with finish_reason length', async () => {
    const capped = json<{ choices: { finish_reason: string }[]; usage: { completion_tokens: number } }>(
      await postJson(endpoint, chat({ max_tokens: 2 })),
    );
    expect(capped.usage.completion_tokens).toBe(2);
    expect(capped.choices[0].finish_reason).toBe('length');

    const chunks = openAiChunks(await postJson(endpoint, chat({ stream: true, max_completion_tokens: 3 }))).slice(
      0,
      -1,
    );
    const content = (chunks as OpenAiChunk[]).filter((c) => c.choices[0]?.delta.content !== undefined);
    expect(content).toHaveLength(4); // role chunk (empty content) + 3 tokens
    expect((chunks.at(-1) as OpenAiChunk).choices[0].finish_reason).toBe('length');

    const roomy = json<{ choices: { finish_reason: string }[] }>(await postJson(endpoint, chat({ max_tokens: 50 })));
    expect(roomy.choices[0].finish_reason).toBe('stop');
  });

  it('never reports more cached tokens than prompt tokens', async () => {
    sim.configure({ cachedTokens: 1_000_000 });
    const body = json<{ usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } } }>(
      await postJson(endpoint, chat()),
    );
    expect(body.usage.prompt_tokens_details.cached_tokens).toBe(body.usage.prompt_tokens);
  });

  it('echoes the last user message in echo mode, JSON and streamed', async () => {
    sim.configure({ echo: true });
    const messages = [
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'an answer' },
      { role: 'user', content: [{ type: 'text', text: 'route me to  provider B' }] },
    ];
    const body = json<{ choices: { message: { content: string } }[]; usage: { completion_tokens: number } }>(
      await postJson(endpoint, chat({ messages })),
    );
    expect(body.choices[0].message.content).toBe('route me to  provider B');
    expect(body.usage.completion_tokens).toBe(5);

    const chunks = openAiChunks(await postJson(endpoint, chat({ messages, stream: true }))).slice(
      0,
      -1,
    ) as OpenAiChunk[];
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('route me to  provider B');

    const capped = json<{ choices: { message: { content: string }; finish_reason: string }[] }>(
      await postJson(endpoint, chat({ messages, max_tokens: 2 })),
    );
    expect(capped.choices[0]).toMatchObject({ message: { content: 'route me' }, finish_reason: 'length' });
  });

  it('rejects bad requests with OpenAI-shaped 400s naming the parameter', async () => {
    const noModel = await postJson(endpoint, { messages: [{ role: 'user', content: 'x' }] });
    expect(noModel.status).toBe(400);
    expect(json(noModel)).toEqual({
      error: { message: expect.any(String), type: 'invalid_request_error', param: 'model', code: null },
    });
    const badJson = await postJson(endpoint, '{"model": ');
    expect(badJson.status).toBe(400);
    expect(json(badJson)).toMatchObject({ error: { type: 'invalid_request_error' } });
    const badLimit = await postJson(endpoint, chat({ max_tokens: -1 }));
    expect(json(badLimit)).toMatchObject({ error: { param: 'max_tokens' } });
  });

  it('answers 404 for unknown routes and counts them', async () => {
    const reply = await postJson(`${sim.url}/v1/completions`, chat());
    expect(reply.status).toBe(404);
    expect(reply.headers.get('x-simulator')).toBe('true');
    expect(json(reply)).toMatchObject({ error: { type: 'invalid_request_error' } });
    expect(sim.stats().byRoute['POST /v1/completions']).toBe(1);
  });

  it('lists the configured models', async () => {
    sim.configure({ models: ['sim-a', 'sim-b'] });
    const res = await fetch(`${sim.url}/v1/models`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { object: string; data: { id: string; object: string; owned_by: string }[] };
    expect(body.object).toBe('list');
    expect(body.data.map((m) => m.id)).toEqual(['sim-a', 'sim-b']);
    expect(body.data[0]).toMatchObject({ object: 'model', owned_by: expect.any(String) });
  });

  it('works with the official OpenAI SDK, JSON and streaming', async () => {
    const client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'sk-simulated', maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'sim-gpt',
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(completion.choices[0].message.content).toEqual(expect.any(String));
    expect(completion.usage?.completion_tokens).toBe(5);

    const stream = await client.chat.completions.create({
      model: 'sim-gpt',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(completion.choices[0].message.content);
    expect(usage?.completion_tokens).toBe(5);

    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(DEFAULT_SIMULATOR_CONFIG.models);
    expect(sim.stats().authorized).toBe(3);
  });
});

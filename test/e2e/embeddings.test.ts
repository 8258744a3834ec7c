import OpenAI, { APIError } from 'openai';
import { Redis } from 'ioredis';
import { countTextTokens } from '@aigw/core';
import { DEFAULT_EMBEDDING_DIMENSIONS, simulatedEmbedding, waitFor } from '@aigw/testing';
import { REDIS_URL, TestSystem } from './harness';

/**
 * `POST /v1/embeddings` with the official OpenAI SDK (v6) through the whole system: routed only to deployments with
 * the `embeddings` capability, falling back when one fails, usage and cost recorded like chat.
 */
describe('OpenAI SDK: embeddings (e2e)', () => {
  const system = new TestSystem({
    workers: 1,
    simulators: 2,
    env: { RETRY_MAX: '0', ROUTING_DEFAULT_POLICY: 'cost' },
    catalog: (s) => `providers:
  - id: sim0
    kind: openai
    baseUrl: ${s.sims[0].url}/v1
    apiKey: sk-sim-secret-0
    timeoutMs: 10000
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
      - { name: sim-embed, promptPer1k: 0.0001, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
  - id: sim1
    kind: openai
    baseUrl: ${s.sims[1].url}/v1
    apiKey: sk-sim-secret-1
    timeoutMs: 10000
    models:
      - { name: sim-embed, promptPer1k: 0.0002, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
      - { name: bge-m3, promptPer1k: 0.0004, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
  - id: gem
    kind: gemini
    baseUrl: ${s.sims[0].url}/v1beta
    apiKey: AIzaSy-sim-secret
    timeoutMs: 10000
    models:
      - { name: gem-embed, upstreamName: gemini-embedding-001, promptPer1k: 0.00015, completionPer1k: 0, contextWindow: 2048, capabilities: [embeddings] }
  - id: oll
    kind: ollama
    baseUrl: ${s.sims[1].url}
    timeoutMs: 10000
    models:
      - { name: nomic-embed-text, promptPer1k: 0.001, completionPer1k: 0, contextWindow: 64, capabilities: [embeddings] }
      - { name: bge-m3, promptPer1k: 0.0003, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
`,
  });
  let client: OpenAI;
  let redis: Redis;

  beforeAll(async () => {
    await system.start();
    client = new OpenAI({ baseURL: `${system.gatewayUrl}/v1`, apiKey: system.adminKey, maxRetries: 0 });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  }, 90_000);

  afterAll(async () => {
    await redis?.quit();
    await system.stop();
  }, 30_000);

  it('embeds one string (the SDK asks for base64 and decodes it) with the deterministic vector', async () => {
    const { data: res, response } = await client.embeddings
      .create({ model: 'sim-embed', input: 'hello gateway' })
      .withResponse();
    expect(res.object).toBe('list');
    expect(res.data).toHaveLength(1);
    expect(res.data[0].index).toBe(0);
    expect(res.data[0].embedding).toEqual(
      simulatedEmbedding('sim-embed', 'hello gateway', DEFAULT_EMBEDDING_DIMENSIONS),
    );
    // The cost policy picks the cheaper deployment.
    expect(res.model).toBe('sim0/sim-embed');
    expect(res.usage.prompt_tokens).toBeGreaterThan(0);
    expect(res.usage.total_tokens).toBe(res.usage.prompt_tokens);
    expect(response.headers.get('x-gateway-provider')).toBe('sim0');
    expect(response.headers.get('x-gateway-model')).toBe('sim-embed');
    expect(response.headers.get('x-gateway-attempts')).toBe('1');
    expect(Number(response.headers.get('x-gateway-cost-usd'))).toBeCloseTo(
      (res.usage.prompt_tokens / 1000) * 0.0001,
      9,
    );

    const requestId = response.headers.get('x-request-id');
    const rows = await waitFor(
      async () => {
        const found = await system.query<{
          prompt_tokens: number;
          completion_tokens: number;
          cost_usd: string;
          status: string;
          provider: string;
        }>(
          'SELECT prompt_tokens, completion_tokens, cost_usd, status, provider FROM usage_records WHERE request_id = $1',
          [requestId],
        );
        return found.length > 0 ? found : null;
      },
      { timeoutMs: 10_000, intervalMs: 100, message: 'usage record' },
    );
    expect(rows[0]).toMatchObject({
      prompt_tokens: res.usage.prompt_tokens,
      completion_tokens: 0,
      status: 'success',
      provider: 'sim0',
    });
    expect(Number(rows[0].cost_usd)).toBeGreaterThan(0);
  });

  it('embeds a batch as floats with dimensions, in input order', async () => {
    const input = ['first', 'second one', 'third and last'];
    const res = await client.embeddings.create({
      model: 'sim-embed',
      input,
      encoding_format: 'float',
      dimensions: 8,
      user: 'end-user-7',
    });
    expect(res.data.map((d) => d.index)).toEqual([0, 1, 2]);
    res.data.forEach((d, i) => expect(d.embedding).toEqual(simulatedEmbedding('sim-embed', input[i], 8)));
    const sent = system.sims[0].lastRequests(1)[0];
    expect(sent.route).toBe('POST /v1/embeddings');
    expect(sent.body).toMatchObject({ model: 'sim-embed', input, dimensions: 8, user: 'end-user-7' });
  });

  it('embeds token arrays', async () => {
    const res = await client.embeddings.create({
      model: 'sim-embed',
      input: [
        [1, 2, 3],
        [4, 5],
      ],
      encoding_format: 'float',
    });
    expect(res.data[0].embedding).toEqual(simulatedEmbedding('sim-embed', '[1,2,3]', DEFAULT_EMBEDDING_DIMENSIONS));
    expect(res.data[1].embedding).toEqual(simulatedEmbedding('sim-embed', '[4,5]', DEFAULT_EMBEDDING_DIMENSIONS));
    expect(res.usage.prompt_tokens).toBe(5);
  });

  it("passes the fields it does not model (a server's own, such as input_type) through to the provider", async () => {
    // NVIDIA NIM, Cohere or Voyage (through LiteLLM) embed a query and a passage differently; vLLM truncates.
    const body = {
      model: 'sim0/sim-embed',
      input: ['what is a gateway?'],
      input_type: 'query',
      truncate_prompt_tokens: 64,
    };
    const res = await client.embeddings.create(body);
    expect(res.data).toHaveLength(1);
    const sent = system.sims[0].lastRequests(1)[0];
    expect(sent.route).toBe('POST /v1/embeddings');
    expect(sent.body).toMatchObject({
      model: 'sim-embed',
      input: body.input,
      input_type: 'query',
      truncate_prompt_tokens: 64,
    });
  });

  it('falls back to the next embeddings deployment when one fails', async () => {
    system.sims[0].configure({ failNext: 1, failStatus: [503] });
    const { data: res, response } = await client.embeddings
      .create({ model: 'sim-embed', input: 'fallback please' })
      .withResponse();
    expect(res.model).toBe('sim1/sim-embed');
    expect(response.headers.get('x-gateway-attempts')).toBe('2');
  });

  it("a server that ignores dimensions (llama.cpp's, LM Studio) is not relayed: the next deployment answers, or a 400", async () => {
    // sim0 answers its 16 values whatever `dimensions` says: the client that asked for 8 got 16.
    system.sims[0].configure({ ignoreDimensions: true });
    try {
      const res = await client.embeddings.create({
        model: 'sim-embed',
        input: 'shorten me',
        dimensions: 8,
        encoding_format: 'float',
      });
      expect(res.model).toBe('sim1/sim-embed');
      expect(res.data[0].embedding).toEqual(simulatedEmbedding('sim-embed', 'shorten me', 8));
      system.sims[1].configure({ ignoreDimensions: true });
      const err: unknown = await client.embeddings
        .create({ model: 'sim-embed', input: 'shorten me', dimensions: 8 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIError);
      expect((err as APIError).status).toBe(400);
      expect((err as APIError).code).toBe('invalid_request');
      expect((err as APIError).message).toContain('vectors of 16 values, not the 8 asked for');
      // Without dimensions, the same servers serve.
      const whole = await client.embeddings.create({ model: 'sim-embed', input: 'shorten me' });
      expect(whole.data[0].embedding).toHaveLength(DEFAULT_EMBEDDING_DIMENSIONS);
    } finally {
      system.sims[0].configure({ ignoreDimensions: false });
      system.sims[1].configure({ ignoreDimensions: false });
    }
  });

  it('the cheapest alias ranges over embeddings deployments only', async () => {
    const res = await client.embeddings.create({ model: 'cheapest', input: 'alias' });
    expect(res.model).toBe('sim0/sim-embed');
  });

  describe('native Gemini and Ollama deployments', () => {
    it('Gemini: batchEmbedContents in calls of at most 100, vectors joined in input order, usage estimated', async () => {
      const input = Array.from({ length: 150 }, (_, i) => `passage number ${i}`);
      const { data: res, response } = await client.embeddings
        .create({ model: 'gem-embed', input, dimensions: 8, encoding_format: 'float' })
        .withResponse();
      expect(res.model).toBe('gem/gem-embed');
      expect(res.data.map((d) => d.index)).toEqual(input.map((_, i) => i));
      // Gemini answers the first 8 values of its whole vector, not of unit length (the simulator too): scaled to
      // unit length, as OpenAI answers `dimensions`, they are the simulator's 8-value vector to float32 rounding.
      res.data.forEach((d, i) => {
        const expected = simulatedEmbedding('gemini-embedding-001', input[i], 8);
        expect(d.embedding).toHaveLength(8);
        d.embedding.forEach((x, j) => expect(x).toBeCloseTo(expected[j], 6));
      });
      // The Gemini API reports no usage for embeddings: the gateway's own count stands in for it.
      const tokens = input.reduce((sum, t) => sum + countTextTokens(t), 0);
      expect(res.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
      const sent = system.sims[0].lastRequests(2);
      expect(sent.map((r) => r.route)).toEqual([
        'POST /v1beta/models/gemini-embedding-001:batchEmbedContents',
        'POST /v1beta/models/gemini-embedding-001:batchEmbedContents',
      ]);
      const batches = sent.map((r) => (r.body as { requests: { outputDimensionality: number }[] }).requests);
      expect(batches.map((b) => b.length)).toEqual([100, 50]);
      expect(batches[0][0]).toMatchObject({
        model: 'models/gemini-embedding-001',
        content: { parts: [{ text: 'passage number 0' }] },
        outputDimensionality: 8,
      });

      const requestId = response.headers.get('x-request-id');
      const rows = await waitFor(
        async () => {
          const found = await system.query<{ prompt_tokens: number; cost_usd: string; provider: string }>(
            'SELECT prompt_tokens, cost_usd, provider FROM usage_records WHERE request_id = $1',
            [requestId],
          );
          return found.length > 0 ? found : null;
        },
        { timeoutMs: 10_000, intervalMs: 100, message: 'usage record' },
      );
      expect(rows[0]).toMatchObject({ prompt_tokens: tokens, provider: 'gem' });
      expect(Number(rows[0].cost_usd)).toBeCloseTo((tokens / 1000) * 0.00015, 9);
    });

    it('Gemini: base64 as the SDK asks for it by default', async () => {
      const res = await client.embeddings.create({ model: 'gem-embed', input: 'hello gemini' });
      expect(res.data[0].embedding).toEqual(
        simulatedEmbedding('gemini-embedding-001', 'hello gemini', DEFAULT_EMBEDDING_DIMENSIONS),
      );
    });

    it('Ollama: /api/embed with truncate false and num_ctx, usage from prompt_eval_count', async () => {
      const input = ['an ollama text', 'another'];
      const res = await client.embeddings.create({ model: 'nomic-embed-text', input, dimensions: 12 });
      expect(res.model).toBe('oll/nomic-embed-text');
      res.data.forEach((d, i) => expect(d.embedding).toEqual(simulatedEmbedding('nomic-embed-text', input[i], 12)));
      // The simulator counts ceil(chars / 4) per input.
      expect(res.usage.prompt_tokens).toBe(Math.ceil(input[0].length / 4) + Math.ceil(input[1].length / 4));
      const sent = system.sims[1].lastRequests(1)[0];
      expect(sent.route).toBe('POST /api/embed');
      expect(sent.body).toEqual({
        model: 'nomic-embed-text',
        input,
        truncate: false,
        dimensions: 12,
        options: { num_ctx: 64 },
      });
    });

    it('an input longer than every context window: 400 context_length_exceeded naming input', async () => {
      // nomic-embed-text's window is 64 tokens; OpenAI names `input` for an embeddings input that is too long.
      const callsBefore = system.sims[1].stats().total;
      const err: unknown = await client.embeddings
        .create({ model: 'nomic-embed-text', input: ['short', 'word '.repeat(200)] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIError);
      expect((err as APIError).status).toBe(400);
      expect((err as APIError).code).toBe('context_length_exceeded');
      expect((err as APIError).param).toBe('input');
      expect(system.sims[1].stats().total).toBe(callsBefore);
    });

    it('an input Ollama itself finds too long (truncate false): 400 context_length_exceeded naming input', async () => {
      // 50 tokens by the gateway's count, so routing lets it through; 100 by the simulated Ollama's, over num_ctx 64.
      const err: unknown = await client.embeddings
        .create({ model: 'nomic-embed-text', input: 'a'.repeat(400) })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIError);
      expect((err as APIError).status).toBe(400);
      expect((err as APIError).code).toBe('context_length_exceeded');
      expect((err as APIError).param).toBe('input');
      expect(system.sims[1].lastRequests(1)[0].route).toBe('POST /api/embed');
    });

    it('token arrays, which neither API takes, go to the OpenAI-compatible deployment of the same model', async () => {
      // bge-m3 costs less on Ollama: the cost policy put it first, and its adapter's refusal was the answer (400)
      // although sim1 serves the same model through /v1/embeddings, which takes token ids.
      const ollamaCalls = system.sims[1].lastRequests(100).filter((r) => r.route === 'POST /api/embed').length;
      const { data: res, response } = await client.embeddings
        .create({ model: 'bge-m3', input: [[1, 2, 3]], encoding_format: 'float' })
        .withResponse();
      expect(res.model).toBe('sim1/bge-m3');
      expect(res.data[0].embedding).toEqual(simulatedEmbedding('bge-m3', '[1,2,3]', DEFAULT_EMBEDDING_DIMENSIONS));
      expect(response.headers.get('x-gateway-attempts')).toBe('1');
      expect(system.sims[1].lastRequests(1)[0].route).toBe('POST /v1/embeddings');
      expect(system.sims[1].lastRequests(100).filter((r) => r.route === 'POST /api/embed')).toHaveLength(ollamaCalls);
      // Text still goes to the cheapest, Ollama.
      const text = await client.embeddings.create({ model: 'bge-m3', input: 'some text' });
      expect(text.model).toBe('oll/bge-m3');
    });
  });

  describe('bad input: 400 naming the field, nothing enqueued', () => {
    /** Jobs ever added: BullMQ counts every add in the queue's `id` key (a sync job leaves the queue as it completes). */
    async function jobCount(): Promise<number> {
      return Number((await redis.get(`{${system.prefix}}:generation:id`)) ?? 0);
    }

    const cases: [string, Record<string, unknown>, string, string?][] = [
      ['an empty input', { model: 'sim-embed', input: '' }, 'input'],
      ['mixed input kinds', { model: 'sim-embed', input: ['a', [1, 2]] }, 'input'],
      ['a bad encoding format', { model: 'sim-embed', input: 'x', encoding_format: 'hex' }, 'encoding_format'],
      ['zero dimensions', { model: 'sim-embed', input: 'x', dimensions: 0 }, 'dimensions'],
      ['a chat model', { model: 'sim-gpt', input: 'x' }, 'model', 'unsupported_capability'],
      // Neither the Gemini API nor Ollama takes token ids: refused before queueing, naming input (it was a 400 from
      // the worker's adapter, after a queue hop, with no param).
      [
        'token arrays on a Gemini-only model',
        { model: 'gem-embed', input: [[1, 2, 3]] },
        'input',
        'unsupported_parameter',
      ],
      [
        'token ids on an Ollama deployment',
        { model: 'oll/bge-m3', input: [1, 2, 3] },
        'input',
        'unsupported_parameter',
      ],
      // Pass-through fields go to the OpenAI-compatible family only: Gemini's own taskType is not one of its fields.
      [
        'a pass-through field on a Gemini-only model',
        { model: 'gem-embed', input: 'x', task_type: 'RETRIEVAL_QUERY' },
        'task_type',
        'unsupported_parameter',
      ],
    ];

    it.each(cases)('%s', async (_label, body, param, code = 'invalid_request') => {
      const jobsBefore = await jobCount();
      const callsBefore = system.sims[0].stats().total + system.sims[1].stats().total;
      const err: unknown = await client.embeddings.create(body as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIError);
      expect((err as APIError).status).toBe(400);
      expect((err as APIError).param).toBe(param);
      expect((err as APIError).code).toBe(code);
      expect(await jobCount()).toBe(jobsBefore);
      expect(system.sims[0].stats().total + system.sims[1].stats().total).toBe(callsBefore);
    });

    it('an empty list or an empty string says so, naming input', async () => {
      const cases: [string | string[], string][] = [
        [[], "Invalid 'input': input must not be an empty array."],
        ['', "Invalid 'input': input must not be an empty string."],
        [['a', ''], "Invalid 'input': input[1] must be a non-empty string"],
      ];
      for (const [input, says] of cases) {
        const err: unknown = await client.embeddings.create({ model: 'sim-embed', input }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(APIError);
        expect((err as APIError).status).toBe(400);
        expect((err as APIError).param).toBe('input');
        expect((err as APIError).message).toContain(says);
      }
    });

    it('an embeddings model is not a chat model', async () => {
      const err: unknown = await client.chat.completions
        .create({ model: 'sim-embed', messages: [{ role: 'user', content: 'hi' }] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIError);
      expect((err as APIError).status).toBe(400);
    });
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ErrorCode, type Attempt } from '@aigw/core';
import { parseSse, waitFor } from '@aigw/testing';
import { createKey, createUser, recordUsage, usageEvent } from '../admin/admin-support';
import { chat, GatewayHarness, lastUserText, type GenerateJob } from '../support';
import { ResponseContract, type Json, type OpenApiDocument } from './contract';

const CATALOG = `providers:
  - id: sim
    kind: openai
    baseUrl: http://127.0.0.1:9/v1
    apiKey: sk-sim
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming, tools] }
      - { name: sim-embed, promptPer1k: 0.0001, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
  - id: sim-b
    kind: anthropic
    baseUrl: http://127.0.0.1:9
    apiKey: sk-sim-b
    models:
      - { name: sim-claude, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192 }
`;

/**
 * The client-facing routes answered for real (the in-process gateway, a stand-in worker) and each answer checked
 * against what the OpenAPI document declares for its route and status: the body against the schema of its media
 * type, and the headers the document says are always there.
 */
describe('OpenAPI response schemas against real answers', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-docs-'));
  const catalog = path.join(dir, 'providers.yaml');
  writeFileSync(catalog, CATALOG);
  const h = new GatewayHarness({ PROVIDERS_FILE: catalog });
  let contract: ResponseContract;

  beforeAll(async () => {
    await h.start();
    const res = await h.get('/docs-json', {});
    contract = new ResponseContract((await res.json()) as OpenApiDocument);
  }, 60_000);
  afterAll(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);
  beforeEach(() => h.handle((job) => h.answer(job, lastUserText(job.data.request))));

  const conforms = (method: string, route: string, res: Response): Promise<Json> =>
    contract.conforms(method, route, res);
  const expectValid = (at: string, schema: unknown, body: unknown): void => contract.expectValid(at, schema, body);
  const component = (name: string) => contract.component(name);
  const attempts: Attempt[] = [
    {
      provider: 'sim',
      model: 'sim-gpt',
      route: 'direct',
      ok: false,
      errorClass: 'server',
      status: 500,
      message: 'boom',
      latencyMs: 3,
      retries: 1,
    },
    {
      provider: 'sim-b',
      model: 'sim-claude',
      route: 'direct',
      ok: false,
      errorClass: 'timeout',
      latencyMs: 9,
      retries: 0,
    },
  ];
  const allFailed = (job: GenerateJob) =>
    h.fail(job, {
      message: 'Every provider failed.',
      type: 'provider_error',
      code: ErrorCode.AllProvidersFailed,
      param: null,
      attempts,
    });
  /** An answer with every optional part: tool calls, reasoning with signed blocks, logprobs, a fingerprint. */
  const fullAnswer = async (job: GenerateJob) => {
    const result = h.result(job.data.request, '', {
      finishReason: 'tool_calls',
      toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }],
      reasoning: 'thinking it over',
      thinkingBlocks: [
        { type: 'thinking', thinking: 'thinking it over', signature: 'sig' },
        { type: 'redacted_thinking', data: 'opaque' },
      ],
      logprobs: { content: [] },
      systemFingerprint: 'fp_1',
      usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5, cachedPromptTokens: 1, reasoningTokens: 1 },
    });
    await h.publish(job, { t: 'result', jobId: job.id ?? '', result });
    return { ok: true as const, result };
  };

  describe('POST /v1/chat/completions', () => {
    const route = '/v1/chat/completions';

    it('a text answer and one with every optional part', async () => {
      await conforms('post', route, await h.post(route, chat('hello')));
      h.handle(fullAnswer);
      const body = await conforms('post', route, await h.post(route, chat('use the tool')));
      expect(body).toMatchObject({ system_fingerprint: 'fp_1' });
    });

    it('a stream: text/event-stream whose every event is a ChatCompletionChunk, then [DONE]', async () => {
      const res = await h.post(route, chat('one two three', { stream: true, stream_options: { include_usage: true } }));
      const { text } = (await conforms('post', route, res)) as { text: string };
      const data = parseSse(text).map((e) => e.data);
      expect(data[data.length - 1]).toBe('[DONE]');
      for (const chunk of data.slice(0, -1)) {
        expectValid('chunk', component('ChatCompletionChunk'), JSON.parse(chunk));
      }
    });

    it('502 all_providers_failed lists the attempts', async () => {
      h.handle(allFailed);
      const body = await conforms('post', route, await h.post(route, chat('fail')));
      expect(body).toMatchObject({ error: { code: 'all_providers_failed', attempts } });
    });
  });

  describe('the Anthropic routes', () => {
    it('POST /v1/messages: a message with every kind of block, a stream, and an error in their shape', async () => {
      const route = '/v1/messages';
      const ask = { model: 'sim-gpt', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] };
      await conforms('post', route, await h.post(route, ask));
      h.handle(fullAnswer);
      await conforms('post', route, await h.post(route, ask));
      h.handle((job) => h.answer(job, lastUserText(job.data.request)));
      await conforms('post', route, await h.post(route, { ...ask, stream: true }));
      h.handle(allFailed);
      await conforms('post', route, await h.post(route, ask));
      await conforms('post', route, await h.post(route, { ...ask, max_tokens: 'many' }));
    });

    it('POST /v1/messages/count_tokens', async () => {
      const route = '/v1/messages/count_tokens';
      await conforms(
        'post',
        route,
        await h.post(route, { model: 'sim-gpt', messages: [{ role: 'user', content: 'hi' }] }),
      );
    });
  });

  it('POST /v1/embeddings: floats and base64', async () => {
    const route = '/v1/embeddings';
    h.handle(async (job) => {
      const result = h.result(job.data.request, '', {
        model: 'sim-embed',
        embeddings: [
          [0.25, -0.5],
          [1, 0],
        ],
      });
      await h.publish(job, { t: 'result', jobId: job.id ?? '', result });
      return { ok: true, result };
    });
    for (const encoding_format of ['float', 'base64']) {
      const body = await conforms(
        'post',
        route,
        await h.post(route, { model: 'sim-embed', input: ['a', 'b'], encoding_format }),
      );
      expect((body.data as unknown[]).length).toBe(2);
    }
  });

  it('GET /v1/models and /v1/models/{id} (the slash of a deployment id plain and encoded)', async () => {
    await conforms('get', '/v1/models', await h.get('/v1/models'));
    for (const id of ['sim/sim-gpt', 'sim%2Fsim-gpt', 'sim-gpt']) {
      await conforms('get', '/v1/models/{id}', await h.get(`/v1/models/${id}`));
    }
    await conforms('get', '/v1/models/{id}', await h.get('/v1/models/nope'));
  });

  it("GET /v1/models and /v1/models/{id} with anthropic-version: Anthropic's page and model, as the components say", async () => {
    const anthropic = { ...h.headers(), 'anthropic-version': '2023-06-01' };
    const first = await h.get('/v1/models?limit=1', anthropic);
    expect(first.status).toBe(200);
    const page = (await first.json()) as { last_id: string };
    contract.expectValid('page', contract.component('AnthropicModelPage'), page);
    const next = await h.get(`/v1/models?after_id=${encodeURIComponent(page.last_id)}&limit=1000`, anthropic);
    contract.expectValid('next page', contract.component('AnthropicModelPage'), await next.json());
    const one = await h.get('/v1/models/sim-gpt', anthropic);
    contract.expectValid('model', contract.component('AnthropicModel'), await one.json());
  });

  describe('the native API', () => {
    it('POST /api/v1/ai/generate: an answer and a failure with its attempts', async () => {
      const route = '/api/v1/ai/generate';
      await conforms('post', route, await h.post(route, { prompt: 'hi', options: { maxTokens: 8 } }));
      h.handle(fullAnswer);
      await conforms('post', route, await h.post(route, { prompt: 'hi' }));
      h.handle(async (job) => {
        const result = h.result(job.data.request, '', { refusal: 'No.' });
        await h.publish(job, { t: 'result', jobId: job.id ?? '', result });
        return { ok: true as const, result };
      });
      expect(await conforms('post', route, await h.post(route, { prompt: 'refused' }))).toMatchObject({
        text: '',
        refusal: 'No.',
      });
      // The reasoning a provider returned, as chat's `reasoning_content` and `thinking_blocks` carry it: found by
      // review, the native answer dropped both.
      const thinkingBlocks = [
        { type: 'thinking' as const, thinking: 'Compare digits.', signature: 'sig-1' },
        { type: 'redacted_thinking' as const, data: 'sealed' },
      ];
      h.handle(async (job) => {
        const result = h.result(job.data.request, '9.8', { reasoning: 'Compare digits.', thinkingBlocks });
        await h.publish(job, { t: 'result', jobId: job.id ?? '', result });
        return { ok: true as const, result };
      });
      expect(await conforms('post', route, await h.post(route, { prompt: 'think' }))).toMatchObject({
        text: '9.8',
        reasoning: 'Compare digits.',
        thinkingBlocks,
      });
      h.handle(allFailed);
      await conforms('post', route, await h.post(route, { prompt: 'hi' }));
      await conforms('post', route, await h.post(route, { prompt: 'hi', options: { maxTokens: 1.5 } }));
    });

    it('POST /api/v1/ai/jobs, then GET /api/v1/ai/jobs/{id} running, completed and failed', async () => {
      let release = (): void => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      h.handle(async (job) => {
        await held;
        return h.answer(job, 'done', { publish: false });
      });
      const accepted = await h.post('/api/v1/ai/jobs', { prompt: 'later' });
      const location = accepted.headers.get('location');
      const { jobId } = (await conforms('post', '/api/v1/ai/jobs', accepted)) as { jobId: string };
      expect(location).toBe(`/api/v1/ai/jobs/${jobId}`);
      const status = async () => {
        const res = await h.get(`/api/v1/ai/jobs/${jobId}`);
        return (await conforms('get', '/api/v1/ai/jobs/{id}', res)).status;
      };
      // Released whatever happens: a job held forever would keep the stand-in worker from closing.
      await waitFor(async () => (await status()) === 'running', { timeoutMs: 10_000 }).finally(release);
      await waitFor(async () => (await status()) === 'completed', { timeoutMs: 10_000 });

      // A replay with the same Idempotency-Key answers the job it found in its state: the 202's schema says so (it
      // said `queued` alone, which a client's generated types then refused for a replay of a finished job).
      const keyed = h.headers(h.adminKey, { 'idempotency-key': `replayed-state-${jobId}` });
      const first = (await conforms(
        'post',
        '/api/v1/ai/jobs',
        await h.post('/api/v1/ai/jobs', { prompt: 'twice' }, keyed),
      )) as {
        jobId: string;
      };
      const read = async (): Promise<string> =>
        ((await (await h.get(`/api/v1/ai/jobs/${first.jobId}`)).json()) as { status: string }).status;
      await waitFor(async () => (await read()) === 'completed', { timeoutMs: 10_000 });
      const replay = await h.post('/api/v1/ai/jobs', { prompt: 'twice' }, keyed);
      expect(replay.headers.get('x-gateway-idempotent-replay')).toBe('true');
      expect(await conforms('post', '/api/v1/ai/jobs', replay)).toEqual({ jobId: first.jobId, status: 'completed' });

      h.handle(allFailed);
      const failed = (await (await h.post('/api/v1/ai/jobs', { prompt: 'fails' })).json()) as { jobId: string };
      await waitFor(
        async () => {
          const res = await h.get(`/api/v1/ai/jobs/${failed.jobId}`);
          const body = await conforms('get', '/api/v1/ai/jobs/{id}', res);
          return body.status === 'failed' && JSON.stringify(body.error).includes('"attempts"');
        },
        { timeoutMs: 10_000 },
      );
      await conforms('get', '/api/v1/ai/jobs/{id}', await h.get('/api/v1/ai/jobs/unknown-job'));
    });

    it('GET /api/v1/ai/models, and its 304 for the current ETag', async () => {
      const route = '/api/v1/ai/models';
      const first = await h.get(route);
      const etag = first.headers.get('etag') ?? '';
      const body = await conforms('get', route, first);
      expect((body.data as unknown[]).length).toBeGreaterThan(0);
      const again = await h.get(route, h.headers(h.adminKey, { 'if-none-match': etag }));
      expect(again.status).toBe(304);
      await conforms('get', route, again);
    });

    it('GET, PUT and DELETE /api/v1/ai/preferences', async () => {
      const route = '/api/v1/ai/preferences';
      const put = (body: unknown) =>
        fetch(`${h.url}${route}`, { method: 'PUT', headers: h.headers(), body: JSON.stringify(body) });
      const del = (suffix: string) => fetch(`${h.url}${route}${suffix}`, { method: 'DELETE', headers: h.headers() });
      await conforms('put', route, await put({ context: 'coding', provider: 'sim', model: 'sim-gpt' }));
      await conforms('put', route, await put({ provider: 'sim-b', model: 'sim-claude' }));
      await conforms('put', route, await put({ provider: 'sim', model: 'nope' }));
      const list = await conforms('get', route, await h.get(route));
      expect((list.data as unknown[]).length).toBe(2);
      await conforms('delete', `${route}/{context}`, await del('/coding'));
      await conforms('delete', route, await del(''));
      await conforms('delete', route, await del(''));
    });

    it('GET /api/v1/ai/usage: groups (a null provider too) and the quota, with and without limits', async () => {
      const alice = await createUser(h, 'docs-alice', 'free');
      const aliceKey = (await createKey(h, { userId: alice.id })).key;
      const bob = await createUser(h, 'docs-bob');
      const bobKey = (await createKey(h, { userId: bob.id })).key;
      const at = new Date(Date.UTC(2026, 10, 2, 12)).toISOString();
      await recordUsage(h, [
        usageEvent(alice.id, { createdAt: at, cachedTokens: 2, costUsd: 0.5 }),
        usageEvent(alice.id, { createdAt: at, provider: null, model: null, requestedModel: 'auto', status: 'error' }),
        usageEvent(bob.id, { createdAt: at, cached: true }),
      ]);
      for (const [key, groupBy] of [
        [aliceKey, 'provider'],
        [aliceKey, 'model'],
        [aliceKey, 'day'],
        [bobKey, 'day'],
      ]) {
        const res = await h.get(
          `/api/v1/ai/usage?from=2026-11-01&to=2026-11-04T00:00:00Z&groupBy=${groupBy}`,
          h.headers(key),
        );
        const body = await conforms('get', '/api/v1/ai/usage', res);
        expect((body.groups as unknown[]).length).toBeGreaterThan(0);
      }
      const bad = await h.get('/api/v1/ai/usage?from=yesterday', h.headers(aliceKey));
      await conforms('get', '/api/v1/ai/usage', bad);
    });
  });
});

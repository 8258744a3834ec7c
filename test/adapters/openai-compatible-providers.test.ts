import {
  AdapterRegistry,
  type AdapterRequest,
  type AdapterTarget,
  HttpPool,
  type ProviderAdapter,
} from '@aigw/adapters';
import { ErrorClass, ProviderCallError, costOf } from '@aigw/core';
import { collect, failure, textOf } from './support/calls';
import { FakeUpstream, sendJson, sseEvent, startSse } from './support/fake-upstream';

/*
 * The OpenAI-compatible providers whose answers differ from OpenAI's own, each as its documentation shows them:
 * - DeepSeek (api-docs.deepseek.com, "Create Chat Completion" and "Reasoning Model"): usage has
 *   `prompt_cache_hit_tokens` + `prompt_cache_miss_tokens` (= prompt_tokens) and `completion_tokens_details
 *   .reasoning_tokens`; deepseek-reasoner sends `reasoning_content` beside `content`, streamed as
 *   `delta.reasoning_content` before the answer.
 * - HuggingFace Inference Providers router (huggingface.co/docs/inference-providers; the Hub's rate limits): 429s carry
 *   the IETF `RateLimit: "api";r=<remaining>;t=<seconds to reset>` header (and `RateLimit-Policy`), sometimes
 *   `Retry-After`; 402 when the account's included credits are spent.
 * - llama.cpp server and vLLM: OpenAI-compatible under `/v1`, with their own `GET /health` on the origin (llama.cpp
 *   answers 503 `{"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}` until the model
 *   is loaded; vLLM 200 with an empty body).
 */

describe('OpenAI-compatible providers: DeepSeek, the HuggingFace router, llama.cpp and vLLM', () => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let adapter: ProviderAdapter;
  let target: AdapterTarget;
  const never = new AbortController().signal;
  const request = (t: AdapterTarget = target): AdapterRequest => ({
    target: t,
    messages: [{ role: 'user', content: '9.11 or 9.8: which is larger?' }],
    options: { maxTokens: 64 },
  });

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool();
    adapter = new AdapterRegistry(pool).get('openai');
    target = {
      baseUrl: up.origin,
      apiKey: 'sk-deepseek-0005',
      model: 'deepseek-reasoner',
      timeoutMs: 2000,
      poolKey: 'p',
    };
  });

  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  describe('DeepSeek', () => {
    const usage = {
      prompt_tokens: 30,
      completion_tokens: 90,
      total_tokens: 120,
      prompt_cache_hit_tokens: 24,
      prompt_cache_miss_tokens: 6,
      completion_tokens_details: { reasoning_tokens: 70 },
    };

    it('reads prompt_cache_hit_tokens as cached prompt tokens, reasoning tokens and reasoning_content', async () => {
      up.handler = (_req, res) =>
        sendJson(res, 200, {
          id: 'a1b2c3',
          object: 'chat.completion',
          created: 1_760_000_000,
          model: 'deepseek-reasoner',
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: '9.8 is larger.', reasoning_content: 'Compare 0.11 and 0.8.' },
              logprobs: null,
              finish_reason: 'stop',
            },
          ],
          usage,
          system_fingerprint: 'fp_ds_1',
        });
      const res = await adapter.generate(request(), never);
      expect(up.requests[0].url).toBe('/chat/completions');
      expect(res).toMatchObject({ text: '9.8 is larger.', reasoning: 'Compare 0.11 and 0.8.', finishReason: 'stop' });
      expect(res.usage).toEqual({
        promptTokens: 30,
        completionTokens: 90,
        totalTokens: 120,
        cachedPromptTokens: 24,
        reasoningTokens: 70,
      });
    });

    it('streams reasoning_content before the answer and takes the cache hits from the usage chunk', async () => {
      const chunk = (delta: Record<string, unknown>, finish: string | null = null): Record<string, unknown> => ({
        id: 'a1b2c3',
        object: 'chat.completion.chunk',
        created: 1_760_000_000,
        model: 'deepseek-reasoner',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      });
      up.handler = (_req, res) => {
        startSse(res);
        res.write(sseEvent(chunk({ role: 'assistant', content: null, reasoning_content: '' })));
        res.write(sseEvent(chunk({ content: null, reasoning_content: 'Compare ' })));
        res.write(sseEvent(chunk({ content: null, reasoning_content: '0.11 and 0.8.' })));
        res.write(sseEvent(chunk({ content: '9.8', reasoning_content: null })));
        res.write(sseEvent(chunk({ content: ' is larger.', reasoning_content: null })));
        // DeepSeek puts the usage on the chunk that finishes the choice.
        res.write(sseEvent({ ...chunk({ content: '', reasoning_content: null }, 'stop'), usage }));
        res.end(sseEvent('[DONE]'));
      };
      const deltas = await collect(adapter.stream(request(), never));
      expect(deltas.map((d) => d.reasoning ?? '').join('')).toBe('Compare 0.11 and 0.8.');
      expect(textOf(deltas)).toBe('9.8 is larger.');
      const firstText = deltas.findIndex((d) => d.text.length > 0);
      expect(deltas.slice(firstText).every((d) => d.reasoning === undefined)).toBe(true);
      const last = deltas.filter((d) => d.usage !== undefined).at(-1);
      expect(last?.usage).toMatchObject({ promptTokens: 30, cachedPromptTokens: 24, reasoningTokens: 70 });
      expect(deltas.find((d) => d.finishReason !== undefined)?.finishReason).toBe('stop');
    });
  });

  /*
   * Groq (console.groq.com/docs): a stream whose request Groq does not give the usage chunk to (its older API, a proxy
   * in front that drops `stream_options`) carries the counts on the finishing chunk under `x_groq.usage` (with its
   * timings) and no `usage`.
   */
  describe('Groq', () => {
    it("takes a stream's usage from x_groq.usage on the finishing chunk when no usage comes", async () => {
      const chunk = (delta: Record<string, unknown>, finish: string | null = null): Record<string, unknown> => ({
        id: 'chatcmpl-8566e76f',
        object: 'chat.completion.chunk',
        created: 1_716_131_679,
        model: 'llama-3.3-70b-versatile',
        system_fingerprint: 'fp_179b0f92c9',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      });
      up.handler = (_req, res) => {
        startSse(res);
        res.write(sseEvent({ ...chunk({ role: 'assistant', content: '' }), x_groq: { id: 'req_01hy8ppk' } }));
        res.write(sseEvent(chunk({ content: '9.8 is larger.' })));
        const usage = {
          queue_time: 0.075,
          prompt_tokens: 23,
          prompt_time: 0.006,
          completion_tokens: 19,
          completion_time: 0.022,
          total_tokens: 42,
          total_time: 0.028,
        };
        res.write(sseEvent({ ...chunk({}, 'stop'), x_groq: { id: 'req_01hy8ppk', usage } }));
        res.end(sseEvent('[DONE]'));
      };
      const deltas = await collect(adapter.stream(request({ ...target, model: 'llama-3.3-70b-versatile' }), never));
      expect(textOf(deltas)).toBe('9.8 is larger.');
      const last = deltas.filter((d) => d.usage !== undefined).at(-1);
      expect(last?.usage).toMatchObject({ promptTokens: 23, completionTokens: 19, totalTokens: 42 });
    });
  });

  /*
   * Mistral's reasoning models (docs.mistral.ai, "Reasoning"; magistral-*-2507 and later, mistral-small/medium with
   * `reasoning_effort`): `content` is a list of chunks, `{"type": "thinking", "thinking": [{"type": "text", "text"}]}`
   * then `{"type": "text", "text"}`; streamed, `delta.content` is such a list while it thinks and a plain string after.
   */
  describe('Mistral reasoning (content as a list of chunks)', () => {
    const think = (text: string) => ({ type: 'thinking', thinking: [{ type: 'text', text }] });

    it('reads the text chunks as the answer and the thinking chunks as its reasoning', async () => {
      up.handler = (_req, res) =>
        sendJson(res, 200, {
          id: 'm1',
          object: 'chat.completion',
          created: 1_760_000_000,
          model: 'magistral-medium-2509',
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: [think('Compare 0.11 '), think('and 0.8.'), { type: 'text', text: '9.8 is larger.' }],
              },
              finish_reason: 'stop',
            },
          ],
          usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 },
        });
      const res = await adapter.generate(request(), never);
      expect(res).toMatchObject({ text: '9.8 is larger.', reasoning: 'Compare 0.11 and 0.8.', finishReason: 'stop' });
    });

    it('streams thinking chunks as reasoning and text chunks as text, then the plain string deltas', async () => {
      const chunk = (delta: Record<string, unknown>, finish: string | null = null): Record<string, unknown> => ({
        id: 'm2',
        object: 'chat.completion.chunk',
        created: 1_760_000_000,
        model: 'magistral-medium-2509',
        choices: [{ index: 0, delta, finish_reason: finish }],
      });
      up.handler = (_req, res) => {
        startSse(res);
        res.write(sseEvent(chunk({ role: 'assistant', content: '' })));
        res.write(sseEvent(chunk({ content: [think('Compare ')] })));
        res.write(sseEvent(chunk({ content: [think('0.11 and 0.8.')] })));
        res.write(sseEvent(chunk({ content: [{ type: 'text', text: '9.8' }] })));
        res.write(sseEvent(chunk({ content: ' is larger.' })));
        res.write(sseEvent({ ...chunk({ content: '' }, 'stop'), usage: { prompt_tokens: 10, completion_tokens: 20 } }));
        res.end(sseEvent('[DONE]'));
      };
      const deltas = await collect(adapter.stream(request(), never));
      expect(deltas.map((d) => d.reasoning ?? '').join('')).toBe('Compare 0.11 and 0.8.');
      expect(textOf(deltas)).toBe('9.8 is larger.');
      expect(deltas.find((d) => d.finishReason !== undefined)?.finishReason).toBe('stop');
    });
  });

  /*
   * Prompt-cache writes of an Anthropic model behind an OpenAI-compatible gateway, which Anthropic bills at 1.25x its
   * input price (cacheWritePer1k):
   * - OpenRouter (openrouter.ai/docs, "Usage Accounting"): `prompt_tokens_details.cache_write_tokens` beside
   *   `cached_tokens` (reads), both parts of `prompt_tokens`.
   * - LiteLLM (litellm/llms/anthropic/chat/transformation.py, calculate_usage): top-level `cache_creation_input_tokens`
   *   and `cache_read_input_tokens`, and in its newer releases `prompt_tokens_details.cache_creation_tokens`, with
   *   `prompt_tokens` = input + reads + writes; releases of mid-2025 left the writes out of `prompt_tokens`
   *   (input + reads only, BerriAI/litellm#13207).
   */
  describe('cache writes through OpenRouter and LiteLLM', () => {
    const price = { promptPer1k: 3, completionPer1k: 15, cachedPromptPer1k: 0.3, cacheWritePer1k: 3.75 };
    const completion = (usage: Record<string, unknown>): Record<string, unknown> => ({
      id: 'gen-1',
      object: 'chat.completion',
      created: 1_760_000_000,
      model: 'anthropic/claude-sonnet-4',
      choices: [{ index: 0, message: { role: 'assistant', content: '9.8' }, finish_reason: 'stop' }],
      usage,
    });

    it("reads OpenRouter's cache_write_tokens as cache writes within prompt_tokens, billed at the write price", async () => {
      up.handler = (_req, res) =>
        sendJson(
          res,
          200,
          completion({
            prompt_tokens: 1200,
            completion_tokens: 10,
            total_tokens: 1210,
            prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 1100, audio_tokens: 0 },
            cost: 0.00456,
          }),
        );
      const res = await adapter.generate(request(), never);
      expect(res.usage).toEqual({
        promptTokens: 1200,
        completionTokens: 10,
        totalTokens: 1210,
        cachedPromptTokens: 0,
        cacheWritePromptTokens: 1100,
        // What OpenRouter charged (usage.cost, in credits: US dollars), which the worker bills instead of the price.
        reportedCostUsd: 0.00456,
      });
      // 100 plain * 3 + 1100 written * 3.75 + 10 out * 15, per 1K tokens
      expect(costOf(res.usage, price)).toBeCloseTo((300 + 4125 + 150) / 1000, 9);
    });

    it("reads OpenRouter's usage.cost, adding the upstream's charge only for a BYOK call (is_byok)", async () => {
      const answer = async (usage: Record<string, unknown>) => {
        up.handler = (_req, res) =>
          sendJson(res, 200, completion({ prompt_tokens: 20, completion_tokens: 5, total_tokens: 25, ...usage }));
        return (await adapter.generate(request(), never)).usage.reportedCostUsd;
      };
      // Not BYOK: upstream_inference_cost repeats the cost OpenRouter charged.
      expect(
        await answer({ cost: 0.0009056, is_byok: false, cost_details: { upstream_inference_cost: 0.0009056 } }),
      ).toBe(0.0009056);
      // BYOK: `cost` is OpenRouter's fee, the provider billed the key's own account for the rest.
      expect(await answer({ cost: 0.0012, is_byok: true, cost_details: { upstream_inference_cost: 0.0345 } })).toBe(
        0.0012 + 0.0345,
      );
      expect(await answer({})).toBeUndefined();
      expect(await answer({ cost: 'free' })).toBeUndefined();
      expect(await answer({ cost: -1 })).toBeUndefined();
    });

    it("streams OpenRouter's cache reads and writes from the usage chunk", async () => {
      up.handler = (_req, res) => {
        startSse(res);
        const base = { id: 'gen-2', object: 'chat.completion.chunk', created: 1_760_000_000, model: 'm' };
        res.write(sseEvent({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '9.8' } }] }));
        res.write(sseEvent({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
        const usage = {
          prompt_tokens: 2000,
          completion_tokens: 3,
          total_tokens: 2003,
          prompt_tokens_details: { cached_tokens: 1500, cache_write_tokens: 400 },
        };
        res.write(sseEvent({ ...base, choices: [], usage }));
        res.end(sseEvent('[DONE]'));
      };
      const deltas = await collect(adapter.stream(request(), never));
      const last = deltas.filter((d) => d.usage !== undefined).at(-1);
      expect(last?.usage).toEqual({
        promptTokens: 2000,
        completionTokens: 3,
        totalTokens: 2003,
        cachedPromptTokens: 1500,
        cacheWritePromptTokens: 400,
      });
    });

    it("reads LiteLLM's cache_creation_tokens (prompt_tokens counting input, reads and writes) without counting them twice", async () => {
      up.handler = (_req, res) =>
        sendJson(
          res,
          200,
          completion({
            prompt_tokens: 98805,
            completion_tokens: 5120,
            total_tokens: 103925,
            prompt_tokens_details: { text_tokens: 10, cached_tokens: 66360, cache_creation_tokens: 32435 },
            cache_read_input_tokens: 66360,
            cache_creation_input_tokens: 32435,
          }),
        );
      const res = await adapter.generate(request(), never);
      expect(res.usage).toEqual({
        promptTokens: 98805,
        completionTokens: 5120,
        totalTokens: 103925,
        cachedPromptTokens: 66360,
        cacheWritePromptTokens: 32435,
      });
    });

    it('adds the writes of a LiteLLM release whose prompt_tokens left them out (only cache_creation_input_tokens)', async () => {
      up.handler = (_req, res) =>
        sendJson(
          res,
          200,
          completion({
            prompt_tokens: 120357,
            completion_tokens: 4156,
            total_tokens: 124513,
            prompt_tokens_details: { cached_tokens: 120269 },
            cache_creation_input_tokens: 21002,
            cache_read_input_tokens: 120269,
          }),
        );
      const res = await adapter.generate(request(), never);
      expect(res.usage).toEqual({
        promptTokens: 120357 + 21002,
        completionTokens: 4156,
        totalTokens: 124513 + 21002,
        cachedPromptTokens: 120269,
        cacheWritePromptTokens: 21002,
      });
      // 88 plain * 3 + 120269 read * 0.3 + 21002 written * 3.75 + 4156 out * 15, per 1K tokens
      expect(costOf(res.usage, price)).toBeCloseTo((264 + 36080.7 + 78757.5 + 62340) / 1000, 9);
    });

    it('leaves a plain OpenAI answer without cache writes', async () => {
      up.handler = (_req, res) =>
        sendJson(
          res,
          200,
          completion({
            prompt_tokens: 2006,
            completion_tokens: 300,
            total_tokens: 2306,
            prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
          }),
        );
      const res = await adapter.generate(request(), never);
      expect(res.usage).toEqual({
        promptTokens: 2006,
        completionTokens: 300,
        totalTokens: 2306,
        cachedPromptTokens: 1920,
      });
    });
  });

  describe('HuggingFace Inference Providers router', () => {
    beforeEach(() => {
      target = {
        ...target,
        baseUrl: `${up.origin}/v1`,
        apiKey: 'hf_router_token_0006',
        model: 'meta-llama/Llama-3.1-8B-Instruct',
      };
    });

    it('classifies a free-tier 429 as a rate limit retried after the RateLimit reset', async () => {
      up.handler = (_req, res) =>
        sendJson(
          res,
          429,
          { error: 'You have exceeded our hourly quotas for action: api. Retry later.' },
          { ratelimit: '"api";r=0;t=55', 'ratelimit-policy': '"fixed window";"api";q=500;w=300' },
        );
      const e = await failure(adapter.generate(request(), never));
      expect(e).toMatchObject({ errorClass: ErrorClass.RateLimit, status: 429, retryAfterMs: 55_000 });
      expect(e.message).toContain('exceeded our hourly quotas');
      expect(e.message).not.toContain('hf_router_token_0006');
      // A stream request meets the same 429 before any event.
      const s = await failure(collect(adapter.stream(request(), never)));
      expect(s).toMatchObject({ errorClass: ErrorClass.RateLimit, retryAfterMs: 55_000 });
      expect(up.requests[0].headers.authorization).toBe('Bearer hf_router_token_0006');
    });

    it('prefers Retry-After to the RateLimit reset when both come', async () => {
      up.handler = (_req, res) =>
        sendJson(res, 429, { error: 'Rate limit reached' }, { 'retry-after': '12', ratelimit: '"api";r=0;t=55' });
      expect(await failure(adapter.generate(request(), never))).toMatchObject({
        errorClass: ErrorClass.RateLimit,
        retryAfterMs: 12_000,
      });
    });

    it('reports the remaining budget of a successful answer, and spent credits (402) as an account problem', async () => {
      up.handler = (_req, res) =>
        sendJson(
          res,
          200,
          {
            id: 'hf-1',
            object: 'chat.completion',
            created: 1_760_000_000,
            model: 'meta-llama/Llama-3.1-8B-Instruct',
            choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
          },
          { ratelimit: '"api";r=41;t=120' },
        );
      const res = await adapter.generate(request(), never);
      expect(res.rateLimit).toEqual({ remainingRequests: 41, resetRequestsMs: 120_000 });

      up.handler = (_req, res) =>
        sendJson(res, 402, {
          error:
            'You have exceeded your monthly included credits for Inference Providers. Subscribe to PRO to get 20x more.',
        });
      // Auth-class: no retry on this deployment, but another deployment may answer (an invalid request would not).
      expect(await failure(adapter.generate(request(), never))).toMatchObject({
        errorClass: ErrorClass.Auth,
        status: 402,
      });
    });
  });

  describe("TGI's Messages API (/v1/chat/completions)", () => {
    beforeEach(() => {
      target = { baseUrl: `${up.origin}/v1`, model: 'tgi', timeoutMs: 2000, poolKey: 'tgi' };
    });

    it("classifies a stream's validation event (status 200, before any chunk) as its 422: the request's fault", async () => {
      // TGI runs a streamed chat's validation inside the stream it opened (router server.rs, chat_completions through
      // generate_stream_internal): one event `{"error", "error_type": "validation"}`, no `choices`.
      up.handler = (_req, res) => {
        startSse(res);
        res.end(
          sseEvent({ error: 'Input validation error: `top_p` must be > 0.0 and < 1.0', error_type: 'validation' }),
        );
      };
      expect(await failure(collect(adapter.stream(request(), never)))).toMatchObject({
        errorClass: ErrorClass.InvalidRequest,
        param: 'top_p',
        message: 'upstream error: Input validation error: `top_p` must be > 0.0 and < 1.0',
      });
      // A generation that broke off is still the server's.
      up.handler = (_req, res) => {
        startSse(res);
        res.end(sseEvent({ error: 'Request failed during generation: CUDA OOM', error_type: 'generation' }));
      };
      expect((await failure(collect(adapter.stream(request(), never)))).errorClass).toBe(ErrorClass.Provider);
    });
  });

  describe('llama.cpp and vLLM health', () => {
    beforeEach(() => {
      target = { baseUrl: `${up.origin}/v1`, model: 'local', timeoutMs: 2000, poolKey: 'local' };
    });

    it('reads healthPath on the origin (not under /v1) instead of listing models', async () => {
      up.handler = (req, res) => {
        if (req.url === '/health') {
          sendJson(res, 200, { status: 'ok' });
        } else {
          sendJson(res, 500, { error: { message: `unexpected ${req.url ?? ''}` } });
        }
      };
      const health = await adapter.healthCheck({ ...target, healthPath: '/health' }, never);
      expect(health).toMatchObject({ ok: true, status: 200 });
      expect(up.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /health']);
    });

    it("reports llama.cpp's 503 while the model loads as unhealthy, with its message", async () => {
      up.handler = (_req, res) =>
        sendJson(res, 503, { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } });
      const health = await adapter.healthCheck({ ...target, healthPath: '/health' }, never);
      expect(health).toMatchObject({ ok: false, status: 503 });
      expect(health.message).toContain('Loading model');
    });

    it("accepts vLLM's empty 200 and keeps the path given (a server behind a prefix)", async () => {
      up.handler = (_req, res) => {
        res.writeHead(200, { 'content-length': 0 });
        res.end();
      };
      const health = await adapter.healthCheck({ ...target, healthPath: '/vllm/health' }, never);
      expect(health.ok).toBe(true);
      expect(up.requests[0].url).toBe('/vllm/health');
    });

    it('lists models to check health when no healthPath is set', async () => {
      up.handler = (_req, res) => sendJson(res, 200, { object: 'list', data: [{ id: 'local', object: 'model' }] });
      expect((await adapter.healthCheck(target, never)).ok).toBe(true);
      expect(up.requests[0].url).toBe('/v1/models');
    });
  });

  /*
   * Answer sources. Perplexity (docs.perplexity.ai, Chat Completions; its SDK's `StreamChunk`): top-level `citations`
   * (URLs) and `search_results` (`{title, url, date, ...}`), on the whole answer and on stream chunks (every chunk,
   * the same lists). OpenAI: top-level `service_tier` (on every chunk too) and, from its search models,
   * `message.annotations` (`{type: "url_citation", url_citation: {start_index, end_index, url, title}}`), streamed
   * on a delta.
   */
  describe('answer sources: Perplexity citations and search_results, OpenAI service_tier and annotations', () => {
    const citations = ['https://en.wikipedia.org/wiki/Decimal', 'https://www.mathsisfun.com/decimals.html'];
    const searchResults = [
      { title: 'Decimal - Wikipedia', url: citations[0], date: '2024-11-02' },
      { title: 'Decimals', url: citations[1], date: null },
    ];
    const annotations = [
      {
        type: 'url_citation',
        url_citation: { start_index: 0, end_index: 14, url: citations[0], title: 'Decimal - Wikipedia' },
      },
    ];
    const usage = { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 };

    it("reads Perplexity's citations and search_results of a whole answer", async () => {
      up.handler = (_req, res) =>
        sendJson(res, 200, {
          id: 'pplx-1',
          model: 'sonar',
          created: 1_760_000_000,
          object: 'chat.completion',
          citations,
          search_results: searchResults,
          choices: [
            { index: 0, finish_reason: 'stop', message: { role: 'assistant', content: '9.8 is larger [1][2].' } },
          ],
          usage,
        });
      const res = await adapter.generate(request(), never);
      expect(res.text).toBe('9.8 is larger [1][2].');
      expect(res.citations).toEqual(citations);
      expect(res.searchResults).toEqual(searchResults);
      expect(res.serviceTier).toBeUndefined();
      expect(res.annotations).toBeUndefined();
    });

    it("streams Perplexity's citations and search_results once, from the first chunk that carries them", async () => {
      const chunk = (delta: Record<string, unknown>, finish: string | null = null): Record<string, unknown> => ({
        id: 'pplx-2',
        model: 'sonar',
        created: 1_760_000_000,
        object: 'chat.completion.chunk',
        citations,
        search_results: searchResults,
        choices: [{ index: 0, delta, finish_reason: finish }],
      });
      up.handler = (_req, res) => {
        startSse(res);
        res.write(sseEvent(chunk({ role: 'assistant', content: '9.8' })));
        res.write(sseEvent(chunk({ content: ' is larger' })));
        res.write(sseEvent(chunk({ content: ' [1][2].' })));
        res.write(sseEvent({ ...chunk({ content: '' }, 'stop'), usage }));
        res.end(sseEvent('[DONE]'));
      };
      const deltas = await collect(adapter.stream(request(), never));
      expect(textOf(deltas)).toBe('9.8 is larger [1][2].');
      expect(deltas[0].citations).toEqual(citations);
      expect(deltas[0].searchResults).toEqual(searchResults);
      expect(deltas.slice(1).every((d) => d.citations === undefined && d.searchResults === undefined)).toBe(true);
    });

    it('streams a list again when it changes mid-stream, also to one of the same length, and not when it repeats', async () => {
      const revised = [citations[0], 'https://www.britannica.com/science/decimal'];
      const revisedResults = [searchResults[0], { title: 'Decimal | Britannica', url: revised[1], date: null }];
      const chunk = (delta: Record<string, unknown>, lists: [string[], unknown[]]): Record<string, unknown> => ({
        id: 'pplx-3',
        model: 'sonar',
        created: 1_760_000_000,
        object: 'chat.completion.chunk',
        citations: lists[0],
        search_results: lists[1],
        choices: [{ index: 0, delta, finish_reason: null }],
      });
      up.handler = (_req, res) => {
        startSse(res);
        res.write(sseEvent(chunk({ role: 'assistant', content: '9.8' }, [citations, searchResults])));
        res.write(sseEvent(chunk({ content: ' is' }, [citations, searchResults])));
        res.write(sseEvent(chunk({ content: ' larger' }, [revised, revisedResults])));
        res.write(sseEvent(chunk({ content: ' [1][2].' }, [revised, revisedResults])));
        res.write(sseEvent({ ...chunk({ content: '' }, [revised, revisedResults]), usage }));
        res.write(
          sseEvent({
            ...chunk({}, [revised, revisedResults]),
            choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
          }),
        );
        res.end(sseEvent('[DONE]'));
      };
      const deltas = await collect(adapter.stream(request(), never));
      expect(deltas.map((d) => d.citations)).toEqual([citations, undefined, revised, undefined, undefined, undefined]);
      expect(deltas.map((d) => d.searchResults)).toEqual([
        searchResults,
        undefined,
        revisedResults,
        undefined,
        undefined,
        undefined,
      ]);
    });

    /*
     * A LiteLLM proxy in front of Perplexity (BerriAI/litellm: convert_to_model_response_object sets every top-level
     * field it does not model, `citations` and `search_results` included, on the answer, and newer releases add the
     * citations as `url_citation` annotations on the message too; CustomStreamWrapper copies the upstream chunk's
     * `citations` onto each chunk it streams, `null` where that chunk had none).
     */
    it('keeps what a LiteLLM proxy passes on of Perplexity sources, whole and streamed (null lists in between)', async () => {
      const litellmAnnotations = [
        { type: 'url_citation', url_citation: { start_index: 14, end_index: 17, url: citations[0], title: '' } },
      ];
      up.handler = (_req, res) =>
        sendJson(res, 200, {
          id: 'chatcmpl-lite',
          object: 'chat.completion',
          created: 1_760_000_000,
          model: 'perplexity/sonar',
          choices: [
            {
              index: 0,
              finish_reason: 'stop',
              message: {
                role: 'assistant',
                content: '9.8 is larger [1][2].',
                annotations: litellmAnnotations,
                provider_specific_fields: {},
              },
            },
          ],
          usage,
          citations,
          search_results: searchResults,
        });
      const whole = await adapter.generate(request(), never);
      expect(whole.citations).toEqual(citations);
      expect(whole.searchResults).toEqual(searchResults);
      expect(whole.annotations).toEqual(litellmAnnotations);

      const chunk = (delta: Record<string, unknown>, lists: boolean): Record<string, unknown> => ({
        id: 'chatcmpl-lite2',
        object: 'chat.completion.chunk',
        created: 1_760_000_000,
        model: 'perplexity/sonar',
        citations: lists ? citations : null,
        choices: [{ index: 0, delta, finish_reason: null }],
      });
      up.handler = (_req, res) => {
        startSse(res);
        res.write(sseEvent(chunk({ role: 'assistant', content: '9.8' }, true)));
        res.write(sseEvent(chunk({ content: ' is' }, false)));
        res.write(sseEvent(chunk({ content: ' larger [1][2].' }, true)));
        res.write(sseEvent({ ...chunk({}, false), choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage }));
        res.end(sseEvent('[DONE]'));
      };
      const deltas = await collect(adapter.stream(request(), never));
      expect(textOf(deltas)).toBe('9.8 is larger [1][2].');
      expect(deltas.map((d) => d.citations).filter((c) => c !== undefined)).toEqual([citations]);
    });

    it("reads OpenAI's service_tier and message.annotations, whole and streamed", async () => {
      up.handler = (_req, res) =>
        sendJson(res, 200, {
          id: 'chatcmpl-s1',
          object: 'chat.completion',
          created: 1_760_000_000,
          model: 'gpt-4o-search-preview',
          service_tier: 'default',
          choices: [
            {
              index: 0,
              finish_reason: 'stop',
              message: { role: 'assistant', content: 'Decimal - Wiki says 9.8.', refusal: null, annotations },
            },
          ],
          usage,
        });
      const res = await adapter.generate(request(), never);
      expect(res.serviceTier).toBe('default');
      expect(res.annotations).toEqual(annotations);

      const chunk = (delta: Record<string, unknown>, finish: string | null = null): Record<string, unknown> => ({
        id: 'chatcmpl-s2',
        object: 'chat.completion.chunk',
        created: 1_760_000_000,
        model: 'gpt-4o-search-preview',
        service_tier: 'default',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      });
      up.handler = (_req, res) => {
        startSse(res);
        res.write(sseEvent(chunk({ role: 'assistant', content: '' })));
        res.write(sseEvent(chunk({ content: 'Decimal - Wiki says 9.8.' })));
        res.write(sseEvent(chunk({ annotations })));
        res.write(sseEvent(chunk({}, 'stop')));
        res.end(sseEvent('[DONE]'));
      };
      const deltas = await collect(adapter.stream(request(), never));
      expect(deltas[0].serviceTier).toBe('default');
      expect(deltas.slice(1).every((d) => d.serviceTier === undefined)).toBe(true);
      expect(deltas.flatMap((d) => d.annotations ?? [])).toEqual(annotations);
    });
  });

  describe('Voyage AI (docs.voyageai.com, "Text embedding models": POST /v1/embeddings)', () => {
    it('bills the total_tokens its usage holds (it sends no prompt_tokens), not nothing', async () => {
      up.handler = (_req, res) =>
        sendJson(res, 200, {
          object: 'list',
          data: [
            { object: 'embedding', embedding: [0.6, 0.8], index: 0 },
            { object: 'embedding', embedding: [0.8, 0.6], index: 1 },
          ],
          model: 'voyage-3.5',
          usage: { total_tokens: 11 },
        });
      const voyage: AdapterTarget = { baseUrl: `${up.origin}/v1`, model: 'voyage-3.5', timeoutMs: 2000, poolKey: 'v' };
      const res = await adapter.embed!({ target: voyage, input: ['a query', 'a document'] }, never);
      expect(res.embeddings).toEqual([
        [0.6, 0.8],
        [0.8, 0.6],
      ]);
      expect(res.usage).toMatchObject({ promptTokens: 11, completionTokens: 0, totalTokens: 11 });
    });
  });

  describe("finish reasons outside OpenAI's vocabulary", () => {
    const whole = (finish: string) => ({
      id: 'chatcmpl-f1',
      object: 'chat.completion',
      created: 1_760_000_000,
      model: 'glm-4.6',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Part of it' }, finish_reason: finish }],
      usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 },
    });

    it("reads Z.ai's streamed `sensitive` (blocked by its safety review) as content_filter", async () => {
      up.handler = (_req, res) => {
        startSse(res);
        const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
          id: 'chatcmpl-z1',
          object: 'chat.completion.chunk',
          created: 1_760_000_000,
          model: 'glm-4.6',
          choices: [{ index: 0, delta, finish_reason: finish }],
        });
        res.write(sseEvent(chunk({ role: 'assistant', content: 'Part' }, null)));
        res.write(sseEvent(chunk({}, 'sensitive')));
        res.write(sseEvent('[DONE]'));
        res.end();
      };
      const deltas = await collect(adapter.stream(request(), never));
      expect(deltas.map((d) => d.finishReason).filter((f) => f !== undefined)).toEqual(['content_filter']);
    });

    it("reads Bedrock's guardrail_intervened as content_filter and Z.ai's network_error as a provider failure", async () => {
      up.handler = (_req, res) => sendJson(res, 200, whole('guardrail_intervened'));
      expect((await adapter.generate(request(), never)).finishReason).toBe('content_filter');
      up.handler = (_req, res) => sendJson(res, 200, whole('network_error'));
      expect(await failure(adapter.generate(request(), never))).toMatchObject({
        errorClass: ErrorClass.Provider,
        message: 'upstream ended the answer with finish_reason "network_error"',
      });
    });
  });

  describe('Azure OpenAI', () => {
    // learn.microsoft.com, Azure OpenAI REST API reference: `POST {endpoint}/openai/deployments/{deployment-id}/chat/
    // completions?api-version=...`, authenticated by the key in the `api-key` header (or an Entra ID token as
    // `Authorization: Bearer`); a key sent as a bearer token is refused with 401 "Access denied due to invalid
    // subscription key or wrong API endpoint".
    const KEY = 'a3f0c9d2e1b84c6f9a7d5e3b1c0f2a4d';
    const azureAnswer = {
      id: 'chatcmpl-az1',
      object: 'chat.completion',
      created: 1_760_000_000,
      model: 'gpt-4o-2024-08-06',
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }],
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: '9.8.' },
          finish_reason: 'stop',
          content_filter_results: {},
        },
      ],
      usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
    };

    /**
     * Azure's data plane as its REST reference has it: `GET {endpoint}/openai/models?api-version=...` ("Models - List":
     * the models the resource can use) with the key in `api-key`; a deployment URL serves no model list (404 "Resource
     * not found"); no key, or one only as a bearer token, is a 401.
     */
    function azureServer(): void {
      up.handler = (req, res) => {
        const url = new URL(req.url ?? '/', 'http://x');
        if (req.headers['api-key'] !== KEY) {
          sendJson(res, 401, { error: { code: '401', message: 'Access denied due to invalid subscription key.' } });
        } else if (url.pathname === '/openai/models' && url.searchParams.getAll('api-version').length === 1) {
          sendJson(res, 200, { data: [{ id: 'gpt-4o-2024-08-06', object: 'model', status: 'succeeded' }] });
        } else {
          sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
        }
      };
    }
    const deployment = (): AdapterTarget => ({
      ...target,
      baseUrl: `${up.origin}/openai/deployments/gpt-4o?api-version=2024-10-21`,
      apiKey: KEY,
      model: 'gpt-4o',
    });

    it("health-checks a deployment URL on the resource's model list, with its key and api-version", async () => {
      azureServer();
      const health = await adapter.healthCheck(deployment(), never);
      expect(health).toMatchObject({ ok: true, status: 200 });
      // The resource's base models are not the deployments' names: no list to judge the catalog's models by.
      expect(health.models).toBeUndefined();
      expect(up.requests.map((r) => r.url)).toEqual(['/openai/models?api-version=2024-10-21']);
      expect(up.requests[0].headers['api-key']).toBe(KEY);
    });

    it('lists no models on a deployment URL, asking Azure nothing (it serves none, and lists no deployments)', async () => {
      azureServer();
      const err = await adapter.listModels(deployment(), never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ProviderCallError);
      expect(err).toMatchObject({ untranslatable: true, errorClass: ErrorClass.NotFound });
      expect(up.requests).toEqual([]);
      // Azure's OpenAI-style v1 surface does serve /models: it is listed as any OpenAI server's.
      up.handler = (req, res) => {
        sendJson(res, 200, { object: 'list', data: [{ id: 'gpt-4o', object: 'model' }] });
      };
      const v1 = { ...target, baseUrl: `${up.origin}/openai/v1`, apiKey: KEY };
      expect(await adapter.listModels(v1, never)).toEqual(['gpt-4o']);
      expect(up.requests.map((r) => r.url)).toEqual(['/openai/v1/models']);
    });

    it("sends a healthPath its key and the base URL's api-version, unless the path names its own query", async () => {
      azureServer();
      expect(await adapter.healthCheck({ ...deployment(), healthPath: '/openai/models' }, never)).toMatchObject({
        ok: true,
      });
      expect(up.requests[0].url).toBe('/openai/models?api-version=2024-10-21');
      expect(up.requests[0].headers['api-key']).toBe(KEY);
      const own = { ...deployment(), healthPath: '/openai/models?api-version=2024-06-01' };
      expect(await adapter.healthCheck(own, never)).toMatchObject({ ok: true });
      expect(up.requests[1].url).toBe('/openai/models?api-version=2024-06-01');
    });

    it("sends the key in Azure's api-key header to a deployment URL with its api-version", async () => {
      up.handler = (req, res) => {
        if (req.headers['api-key'] !== KEY) {
          sendJson(res, 401, {
            error: {
              code: '401',
              message:
                'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
            },
          });
          return;
        }
        sendJson(res, 200, azureAnswer);
      };
      const azure = {
        ...target,
        baseUrl: `${up.origin}/openai/deployments/gpt-4o?api-version=2024-10-21`,
        apiKey: KEY,
        model: 'gpt-4o',
      };
      const res = await adapter.generate(request(azure), never);
      expect(res).toMatchObject({ text: '9.8.', finishReason: 'stop' });
      expect(up.requests[0].url).toBe('/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21');
      // Other servers keep OpenAI's bearer token alone.
      up.handler = (_req, res) => sendJson(res, 200, azureAnswer);
      await adapter.generate(request(), never);
      expect(up.requests[1].headers.authorization).toBe('Bearer sk-deepseek-0005');
      expect(up.requests[1].headers['api-key']).toBeUndefined();
    });
  });
});

import {
  AdapterRegistry,
  type AdapterRequest,
  type AdapterTarget,
  HttpPool,
  type ProviderAdapter,
} from '@aigw/adapters';
import { ErrorClass } from '@aigw/core';
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
});

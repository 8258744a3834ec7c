import { PDF_BYTES_PER_PAGE, PDF_TOKENS_PER_PAGE } from '@aigw/core';
import { ApiKeyStore } from '@aigw/entities';
import { GatewayHarness, sseEvents } from './support';

interface AnthropicError {
  type: 'error';
  error: { type: string; message: string; code: string; param: string | null };
}

/** `POST /v1/messages` and `/v1/messages/count_tokens` as Anthropic's clients see them: headers and errors. */
describe('api-gateway Anthropic Messages routes', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  const message = { model: 'sim-gpt', max_tokens: 16, messages: [{ role: 'user', content: 'Hello there' }] };
  const count = { model: 'sim-gpt', messages: [{ role: 'user', content: 'Hello there' }] };

  /** What @anthropic-ai/sdk reads as `_request_id` / `requestID`: `request-id`, the same as `x-request-id`. */
  function expectRequestId(res: Response): void {
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    expect(res.headers.get('request-id')).toBe(res.headers.get('x-request-id'));
  }

  describe('request-id', () => {
    it('is on answers: a message, a streamed one, a token count', async () => {
      const plain = await h.post('/v1/messages', message);
      expect(plain.status).toBe(200);
      expectRequestId(plain);
      const streamed = await h.post('/v1/messages', { ...message, stream: true });
      expect(streamed.headers.get('content-type')).toContain('text/event-stream');
      expectRequestId(streamed);
      await streamed.text();
      const counted = await h.post('/v1/messages/count_tokens', count);
      expect(counted.status).toBe(200);
      expectRequestId(counted);
    });

    it('is on errors: no key, bad JSON, a failed check, an unknown model', async () => {
      for (const route of ['/v1/messages', '/v1/messages/count_tokens']) {
        const unauthorized = await h.post(route, message, { 'content-type': 'application/json' });
        expect(unauthorized.status).toBe(401);
        expectRequestId(unauthorized);
        const badJson = await h.post(route, '{"model":');
        expect(badJson.status).toBe(400);
        expectRequestId(badJson);
        const invalid = await h.post(route, { ...message, messages: [] });
        expect(invalid.status).toBe(400);
        expect(((await invalid.json()) as AnthropicError).type).toBe('error');
        expectRequestId(invalid);
      }
      const unknown = await h.post('/v1/messages', { ...message, model: 'no-such-model' });
      expect(unknown.status).toBe(404);
      expectRequestId(unknown);
    });

    it("answers a request under /v1/messages that no route takes in Anthropic's shape: another method, no such path", async () => {
      const wrongMethod = await h.get('/v1/messages');
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.get('allow')).toBe('POST');
      expect(await wrongMethod.json()).toMatchObject({
        type: 'error',
        error: { type: 'invalid_request_error', code: 'method_not_allowed' },
      });
      expectRequestId(wrongMethod);
      const noPath = await h.post('/v1/messages/batches', message);
      expect(noPath.status).toBe(404);
      expect(await noPath.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
      // Paths elsewhere keep the OpenAI shape.
      const other = await h.get('/v1/chat/completions');
      expect(((await other.json()) as { type?: string }).type).toBeUndefined();
    });

    it('echoes a client-sent x-request-id in both', async () => {
      const res = await h.post('/v1/messages', message, h.headers(h.adminKey, { 'x-request-id': 'client-id_1' }));
      expect(res.headers.get('request-id')).toBe('client-id_1');
      expect(res.headers.get('x-request-id')).toBe('client-id_1');
    });
  });

  describe('anthropic-beta', () => {
    it('carries the beta names to the worker (for Claude), and refuses a malformed list naming the header', async () => {
      let betas: string[] | undefined;
      h.handle((job) => {
        betas = job.data.request.options.anthropicBeta;
        return h.answer(job, 'beta');
      });
      const res = await h.post('/v1/messages', message, {
        ...h.headers(h.adminKey),
        'anthropic-beta': 'interleaved-thinking-2025-05-14, context-1m-2025-08-07,interleaved-thinking-2025-05-14',
      });
      expect(res.status).toBe(200);
      expect(betas).toEqual(['interleaved-thinking-2025-05-14', 'context-1m-2025-08-07']);
      const bad = await h.post('/v1/messages', message, { ...h.headers(h.adminKey), 'anthropic-beta': 'a b' });
      expect(bad.status).toBe(400);
      const body = (await bad.json()) as AnthropicError;
      expect(body.error).toMatchObject({ type: 'invalid_request_error', param: 'anthropic-beta' });
    });
  });

  it('count_tokens counts a PDF document by its size, as routing and admission do (it counted only the text)', async () => {
    const text = await h.post('/v1/messages/count_tokens', {
      model: 'sim-claude',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarize this.' }] }],
    });
    const data = Buffer.alloc(10 * PDF_BYTES_PER_PAGE, 0x55).toString('base64');
    const document = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data } };
    const withPdf = await h.post('/v1/messages/count_tokens', {
      model: 'sim-claude',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarize this.' }, document] }],
    });
    expect([text.status, withPdf.status]).toEqual([200, 200]);
    const tokens = async (res: Response) => ((await res.json()) as { input_tokens: number }).input_tokens;
    expect((await tokens(withPdf)) - (await tokens(text))).toBe(10 * PDF_TOKENS_PER_PAGE);
  });

  describe('count_tokens checks the model as /v1/messages does', () => {
    it('404 not_found_error for a model no deployment serves (unknown or disabled)', async () => {
      for (const model of ['no-such-model', 'sim-b/sim-gpt']) {
        const res = await h.post('/v1/messages/count_tokens', { ...count, model });
        expect(res.status).toBe(404);
        const body = (await res.json()) as AnthropicError;
        expect(body.type).toBe('error');
        expect(body.error).toMatchObject({ type: 'not_found_error', code: 'model_not_found', param: 'model' });
      }
    });

    it("403 permission_error for a model outside the key's allowedModels, as on /v1/messages", async () => {
      const created = await h.app
        .get(ApiKeyStore)
        .create({ userName: 'count-tokens-restricted', role: 'user', allowedModels: ['sim-claude'] });
      const headers = h.headers(created.key);
      for (const [route, body] of [
        ['/v1/messages', message],
        ['/v1/messages/count_tokens', count],
      ] as const) {
        const res = await h.post(route, body, headers);
        expect([route, res.status]).toEqual([route, 403]);
        expect(((await res.json()) as AnthropicError).error).toMatchObject({
          type: 'permission_error',
          code: 'model_not_allowed',
        });
      }
      const allowed = await h.post('/v1/messages/count_tokens', { ...count, model: 'sim-claude' }, headers);
      expect(allowed.status).toBe(200);
      expect(((await allowed.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    });
  });
});

/**
 * An answer with no content (an empty turn, or a prefill the model had nothing to add to): Anthropic's API gives
 * `content: []` with `end_turn`, and its stream opens no content block. JSON gave an empty text block.
 */
describe('api-gateway Anthropic Messages: an empty answer', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  const message = { model: 'sim-gpt', max_tokens: 16, messages: [{ role: 'user', content: 'Say nothing' }] };

  it('has no content block, as JSON and as a stream alike', async () => {
    h.handle((job) => h.answer(job, ''));
    const plain = await h.post('/v1/messages', message);
    expect(plain.status).toBe(200);
    expect(await plain.json()).toMatchObject({ content: [], stop_reason: 'end_turn' });

    const streamed = await h.post('/v1/messages', { ...message, stream: true });
    expect(streamed.status).toBe(200);
    const { payloads } = await sseEvents(streamed);
    const types = (payloads as { type: string }[]).map((p) => p.type);
    expect(types).toEqual(['message_start', 'ping', 'message_delta', 'message_stop']);
    expect(payloads[2]).toMatchObject({ delta: { stop_reason: 'end_turn' } });
  });
});

import Anthropic from '@anthropic-ai/sdk';
import { GatewayHarness } from './support';

const ANTHROPIC = { 'anthropic-version': '2023-06-01' };

/**
 * `GET /v1/models` and `GET /v1/models/{id}` asked the way Anthropic's SDKs ask (they always send
 * `anthropic-version`): Anthropic's Models API shape, its pagination and its error shape, so `client.models.list()`
 * and `client.models.retrieve()` work. Without the header the answers stay OpenAI's. Catalog (support.ts):
 * sim/sim-gpt, sim-b/sim-claude, then the model names sim-gpt and sim-claude.
 */
describe('GET /v1/models for Anthropic clients', () => {
  const h = new GatewayHarness();
  let client: Anthropic;

  beforeAll(async () => {
    await h.start();
    client = new Anthropic({ baseURL: h.url, apiKey: h.adminKey, maxRetries: 0 });
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  const ids = ['sim/sim-gpt', 'sim-b/sim-claude', 'sim-gpt', 'sim-claude'];

  it('answers a page in Anthropic’s shape, every entry a ModelInfo', async () => {
    const res = await h.get('/v1/models', h.headers(h.adminKey, ANTHROPIC));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['data', 'first_id', 'has_more', 'last_id']);
    expect(body).toMatchObject({ first_id: 'sim/sim-gpt', last_id: 'sim-claude', has_more: false });
    const data = body.data as Record<string, unknown>[];
    expect(data.map((m) => m.id)).toEqual(ids);
    for (const m of data) {
      expect(Object.keys(m).sort()).toEqual(['created_at', 'display_name', 'id', 'type']);
      expect(m.type).toBe('model');
      expect(m.display_name).toBe(m.id);
      expect(new Date(m.created_at as string).toISOString()).toBe(m.created_at);
    }
  });

  it('pages with limit, after_id and before_id as the SDK does', async () => {
    const first = await client.models.list({ limit: 2 });
    expect(first.data.map((m) => m.id)).toEqual(ids.slice(0, 2));
    expect(first.has_more).toBe(true);
    const seen: string[] = [];
    for await (const m of client.models.list({ limit: 3 })) {
      seen.push(m.id);
    }
    expect(seen).toEqual(ids);
    const before = await client.models.list({ before_id: 'sim-claude', limit: 2 });
    expect(before.data.map((m) => m.id)).toEqual(['sim-b/sim-claude', 'sim-gpt']);
    expect(before.has_more).toBe(true);
    const after = await client.models.list({ after_id: 'sim-b/sim-claude' });
    expect(after.data.map((m) => m.id)).toEqual(['sim-gpt', 'sim-claude']);
    expect(after.has_more).toBe(false);
  });

  it('retrieves one model, a deployment id with its slash too', async () => {
    const model = await client.models.retrieve('sim-b/sim-claude');
    expect(model).toMatchObject({ type: 'model', id: 'sim-b/sim-claude', display_name: 'sim-b/sim-claude' });
    expect(typeof model.created_at).toBe('string');
  });

  it('answers errors in Anthropic’s shape, with request-id', async () => {
    const missing = await h.get('/v1/models/no-such-model', h.headers(h.adminKey, ANTHROPIC));
    expect(missing.status).toBe(404);
    expect(missing.headers.get('request-id')).toBe(missing.headers.get('x-request-id'));
    expect(await missing.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    await expect(client.models.retrieve('no-such-model')).rejects.toBeInstanceOf(Anthropic.NotFoundError);

    const badLimit = await h.get('/v1/models?limit=0', h.headers(h.adminKey, ANTHROPIC));
    expect(badLimit.status).toBe(400);
    expect(await badLimit.json()).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', param: 'limit' },
    });
    const badCursor = await h.get('/v1/models?after_id=nope', h.headers(h.adminKey, ANTHROPIC));
    expect(badCursor.status).toBe(400);
    expect(await badCursor.json()).toMatchObject({ error: { param: 'after_id' } });

    const noKey = await h.get('/v1/models', ANTHROPIC);
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });

  it('keeps OpenAI’s shape for clients that do not send anthropic-version', async () => {
    const res = await h.get('/v1/models');
    const body = (await res.json()) as { object: string; data: { id: string; object: string }[] };
    expect(body.object).toBe('list');
    expect(body.data.map((m) => m.id)).toEqual(ids);
    expect(body.data.every((m) => m.object === 'model')).toBe(true);
    expect(res.headers.get('request-id')).toBeNull();
    const missing = await h.get('/v1/models/no-such-model');
    expect(await missing.json()).toMatchObject({ error: { code: 'model_not_found' } });
  });
});

import { ApiKeyStore } from '@aigw/entities';
import { GatewayHarness } from '../support';
import { call } from './admin-support';

/** An error as either shape carries it: OpenAI's and the native `{error}`, Anthropic's `{type: 'error', error}`. */
interface Refusal {
  status: number;
  error: { message: string; type: string; code: string; param: string | null };
}

const PREFERENCES = '/api/v1/ai/preferences';

const model = (name: string, capabilities: string[]) => ({
  name,
  promptPer1k: 0.001,
  completionPer1k: 0.002,
  contextWindow: 8192,
  capabilities,
});

/**
 * A key restricted by `allowedModels` learns from no entrance which models exist: a model outside its list is
 * answered as an unknown one is (the same status and envelope, the message naming only the model asked for), on
 * every generation route, the preferences API and the native listing; and the checks after the allow-list read only
 * the deployments the key may use. Besides the harness's catalog (sim/sim-gpt, sim-b/sim-claude, sim-b/sim-gpt
 * disabled), provider sim-c serves `org/sim-claude` (a model name holding a slash, as `meta-llama/Llama-3-8B` does),
 * an embedding model, and `sim-gpt` with the embeddings capability that sim's `sim-gpt` lacks.
 */
describe('restricted keys: a model outside the list is answered as an unknown one, everywhere', () => {
  const h = new GatewayHarness();
  let claudeOnly = '';
  let gptOnly = '';
  let open = '';

  beforeAll(async () => {
    await h.start();
    const created = await call(h, 'POST', '/api/v1/ai/admin/providers', {
      id: 'sim-c',
      kind: 'openai',
      baseUrl: `${h.sim.url}/v1`,
      models: [
        model('org/sim-claude', ['chat', 'streaming']),
        model('sim-embed', ['embeddings']),
        model('sim-gpt', ['embeddings']),
      ],
    });
    expect(created.status).toBe(201);
    const keys = h.app.get(ApiKeyStore);
    claudeOnly = (await keys.create({ userName: 'claude-only', role: 'user', allowedModels: ['sim-claude'] })).key;
    gptOnly = (await keys.create({ userName: 'gpt-only', role: 'user', allowedModels: ['sim/sim-gpt'] })).key;
    open = (await keys.create({ userName: 'unrestricted', role: 'user' })).key;
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  async function refusal(res: Response): Promise<Refusal> {
    const body = (await res.json()) as { error: Refusal['error'] };
    return { status: res.status, error: body.error };
  }

  /** The refusal with the model asked for taken out of its message: what must not differ between two models. */
  const withoutModel = (r: Refusal, asked: string): Refusal => ({
    ...r,
    error: { ...r.error, message: r.error.message.replace(`'${asked}'`, "'<model>'") },
  });

  const messages = [{ role: 'user', content: 'hi' }];
  const entrances: [string, (model: string) => unknown][] = [
    ['/v1/chat/completions', (m) => ({ model: m, messages })],
    ['/v1/messages', (m) => ({ model: m, max_tokens: 16, messages })],
    ['/v1/messages/count_tokens', (m) => ({ model: m, messages })],
    ['/api/v1/ai/generate', (m) => ({ model: m, prompt: 'hi' })],
    ['/api/v1/ai/jobs', (m) => ({ model: m, prompt: 'hi' })],
    ['/v1/embeddings', (m) => ({ model: m, input: 'hi' })],
  ];

  it.each(entrances)('%s: a model that exists outside the list is refused as an unknown one', async (route, body) => {
    const before = h.jobsSeen.length;
    const send = async (m: string): Promise<Refusal> =>
      withoutModel(await refusal(await h.post(route, body(m), h.headers(claudeOnly))), m);
    // The list does not name them: 403, served (chat and embedding models alike) or not.
    const unknown = await send('no-such-model');
    expect(unknown.status).toBe(403);
    expect(unknown.error).toMatchObject({ code: 'model_not_allowed', param: 'model' });
    expect(unknown.error.message).toBe("This API key may not use the model '<model>'.");
    for (const hidden of ['sim-gpt', 'sim/sim-gpt', 'sim-embed', 'sim-c/sim-embed']) {
      expect([hidden, await send(hidden)]).toEqual([hidden, unknown]);
    }
    // The list names `org/sim-claude` (sim-claude at a provider `org`), and nothing the key may use serves it: the
    // 404 of `org2/sim-claude`, although sim-c serves a model of that very name (it was a 403: it exists).
    const named = await send('org2/sim-claude');
    expect(named.status).toBe(404);
    expect(named.error).toMatchObject({ code: 'model_not_found', param: 'model' });
    expect(await send('org/sim-claude')).toEqual(named);
    expect(h.jobsSeen.length).toBe(before);
  });

  it('/v1/embeddings: a capability only a deployment outside the list has is refused as if that one did not exist', async () => {
    // sim-gpt embeds at sim-c only, which the key may not use: it was let through (and queued) on sim-c's strength.
    const before = h.jobsSeen.length;
    const res = await refusal(await h.post('/v1/embeddings', { model: 'sim-gpt', input: 'hi' }, h.headers(gptOnly)));
    expect(res).toEqual({
      status: 400,
      error: {
        message:
          "The model 'sim-gpt' has no deployment with the 'embeddings' capability on a provider API that serves embeddings.",
        type: 'invalid_request_error',
        code: 'unsupported_capability',
        param: 'model',
      },
    });
    expect(h.jobsSeen.length).toBe(before);
  });

  describe('PUT /api/v1/ai/preferences', () => {
    const put = async (key: string, provider: string, m: string): Promise<Refusal> => {
      const res = await call<{ error: Refusal['error'] }>(h, 'PUT', PREFERENCES, { provider, model: m }, key);
      return { status: res.status, error: res.body.error };
    };

    it('403 for a deployment outside the list, whether it exists or not (an unknown one was a 400)', async () => {
      for (const [provider, m] of [
        ['sim', 'sim-gpt'],
        ['sim-c', 'sim-embed'],
        ['sim', 'no-such-model'],
        ['no-such-provider', 'sim-gpt'],
      ]) {
        expect([provider, m, await put(claudeOnly, provider, m)]).toEqual([
          provider,
          m,
          {
            status: 403,
            error: {
              message: `This API key may not use the model '${provider}/${m}'.`,
              type: 'permission_error',
              code: 'model_not_allowed',
              param: 'model',
            },
          },
        ]);
      }
    });

    it('a provider the key may use nothing of is an unknown provider to it', async () => {
      // sim-claude at sim or sim-c is on the list (`sim-claude` at any provider), served by neither: sim exists
      // (it was "provider 'sim' has no model 'sim-claude'") as no-such-provider does not, and the key cannot tell.
      for (const provider of ['sim', 'sim-c', 'no-such-provider']) {
        expect([provider, await put(claudeOnly, provider, 'sim-claude')]).toEqual([
          provider,
          {
            status: 400,
            error: {
              message: `Invalid 'provider': there is no provider '${provider}'.`,
              type: 'invalid_request_error',
              code: 'invalid_request',
              param: 'provider',
            },
          },
        ]);
      }
      // Its own deployment, and an unrestricted key's errors, are as before.
      const allowed = await call(h, 'PUT', PREFERENCES, { provider: 'sim-b', model: 'sim-claude' }, claudeOnly);
      expect(allowed.status).toBe(200);
      expect((await put(open, 'sim', 'sim-claude')).error).toMatchObject({ code: 'invalid_request', param: 'model' });
    });
  });

  describe('GET /api/v1/ai/models', () => {
    interface Listed {
      id: string;
      recommended: boolean;
    }
    const listed = async (key: string): Promise<{ etag: string | null; data: Listed[] }> => {
      const res = await h.get('/api/v1/ai/models', h.headers(key));
      expect(res.status).toBe(200);
      return { etag: res.headers.get('etag'), data: ((await res.json()) as { data: Listed[] }).data };
    };

    it('shows a restricted key the deployments it may use only, recommending among them', async () => {
      const all = await listed(open);
      expect(all.data.map((d) => d.id).sort()).toEqual([
        'sim-b/sim-claude',
        'sim-b/sim-gpt',
        'sim-c/org/sim-claude',
        'sim-c/sim-embed',
        'sim-c/sim-gpt',
        'sim/sim-gpt',
      ]);
      // The key sees its one chat deployment, recommended: a better one elsewhere is no more its business than
      // that one exists.
      const claude = await listed(claudeOnly);
      expect(claude.data.map((d) => [d.id, d.recommended])).toEqual([['sim-b/sim-claude', true]]);
      expect((await listed(gptOnly)).data.map((d) => d.id)).toEqual(['sim/sim-gpt']);
      expect(new Set([all.etag, claude.etag]).size).toBe(2);
      // Its ETag answers its own listing: a 304 for the same key.
      const again = await h.get('/api/v1/ai/models', h.headers(claudeOnly, { 'if-none-match': claude.etag ?? '' }));
      expect(again.status).toBe(304);
    });
  });
});

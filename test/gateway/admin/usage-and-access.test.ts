import { GatewayHarness, chat } from '../support';
import { call, createKey, createUser, errorOf, recordUsage, usageEvent } from './admin-support';

interface UsageBody {
  from: string;
  to: string;
  groupBy: string;
  totals: {
    requests: number;
    promptTokens: number;
    completionTokens: number;
    cachedPromptTokens: number;
    cachedRequests: number;
    costUsd: number;
  };
  groups: Record<string, unknown>[];
  quota: Record<string, unknown>;
}

/** A user's own usage view, restricted keys (aliases included) and cross-tenant reads. */
describe('usage view and access', () => {
  const h = new GatewayHarness();
  let aliceKey = '';
  let bobKey = '';
  let aliceId = '';

  beforeAll(async () => {
    await h.start();
    const alice = await createUser(h, 'u-alice', 'free');
    const bob = await createUser(h, 'u-bob');
    aliceId = alice.id;
    aliceKey = (await createKey(h, { userId: alice.id })).key;
    bobKey = (await createKey(h, { userId: bob.id })).key;
    const day = (d: number): string => new Date(Date.UTC(2026, 10, d, 12)).toISOString();
    await recordUsage(h, [
      usageEvent(alice.id, {
        createdAt: day(1),
        promptTokens: 100,
        completionTokens: 10,
        cachedTokens: 40,
        costUsd: 0.5,
      }),
      usageEvent(alice.id, { createdAt: day(1), provider: 'sim-b', model: 'sim-claude', costUsd: 0.25 }),
      // Answered from the response cache: a cached request, not cached prompt tokens.
      usageEvent(alice.id, { createdAt: day(2), promptTokens: 1, completionTokens: 2, costUsd: 0.125, cached: true }),
      usageEvent(alice.id, {
        createdAt: day(3),
        provider: null,
        model: null,
        requestedModel: 'auto',
        status: 'error',
        costUsd: 0,
      }),
      // sim-c failed first, then sim-b answered with an empty answer: one request, sim-b's. The failed attempt is
      // no request of hers: no group of its own (a deployment with 0 requests, 0 tokens, $0).
      usageEvent(alice.id, {
        createdAt: day(3),
        provider: 'sim-b',
        model: 'sim-claude',
        promptTokens: 0,
        completionTokens: 0,
        costUsd: 0,
        failedAttempts: [{ provider: 'sim-c', model: 'sim-c-model', errorClass: 'timeout', latencyMs: 30 }],
      }),
      usageEvent(alice.id, { createdAt: day(20), costUsd: 9 }),
      usageEvent(bob.id, { createdAt: day(1), costUsd: 100 }),
    ]);
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  const usage = (query: string, key = aliceKey): Promise<{ status: number; body: UsageBody }> =>
    call<UsageBody>(h, 'GET', `/api/v1/ai/usage${query}`, undefined, key);

  describe('GET /api/v1/ai/usage', () => {
    it("groups the caller's own requests by day in [from, to)", async () => {
      const res = await usage('?from=2026-11-01&to=2026-11-04');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        from: '2026-11-01T00:00:00.000Z',
        to: '2026-11-04T00:00:00.000Z',
        groupBy: 'day',
        totals: {
          requests: 5,
          promptTokens: 121,
          completionTokens: 22,
          cachedPromptTokens: 40,
          cachedRequests: 1,
          costUsd: 0.875,
        },
      });
      expect(res.body.groups).toEqual([
        {
          day: '2026-11-01',
          requests: 2,
          promptTokens: 110,
          completionTokens: 15,
          cachedPromptTokens: 40,
          cachedRequests: 0,
          costUsd: 0.75,
        },
        {
          day: '2026-11-02',
          requests: 1,
          promptTokens: 1,
          completionTokens: 2,
          cachedPromptTokens: 0,
          cachedRequests: 1,
          costUsd: 0.125,
        },
        {
          day: '2026-11-03',
          requests: 2,
          promptTokens: 10,
          completionTokens: 5,
          cachedPromptTokens: 0,
          cachedRequests: 0,
          costUsd: 0,
        },
      ]);
    });

    it('groups by model and by provider', async () => {
      const byModel = await usage('?from=2026-11-01&to=2026-11-04&groupBy=model');
      expect(byModel.body.groups.map((g) => [g.model, g.requests])).toEqual([
        ['auto', 1],
        ['sim-claude', 2],
        ['sim-gpt', 2],
      ]);
      const byProvider = await usage('?from=2026-11-01T00:00:00Z&to=2026-11-04T00:00:00Z&groupBy=provider');
      expect(byProvider.body.groups.map((g) => [g.provider, g.requests, g.costUsd, g.cachedRequests])).toEqual([
        ['sim', 2, 0.625, 1],
        ['sim-b', 2, 0.25, 0],
        [null, 1, 0, 0],
      ]);
    });

    it('counts what a failed attempt was charged in the totals whatever the grouping, and lists its group', async () => {
      // sim-c was charged for a call that failed before sim-b answered: no request of its own, but spend of hers
      // (her quota counts it), under sim-c. Grouped by provider or model, that group has 0 requests: dropping it
      // dropped the charge from the totals, which then disagreed with the same range grouped by day.
      const carol = await createUser(h, 'u-carol');
      const carolKey = (await createKey(h, { userId: carol.id })).key;
      await recordUsage(h, [
        usageEvent(carol.id, {
          createdAt: new Date(Date.UTC(2026, 10, 10, 12)).toISOString(),
          provider: 'sim-b',
          model: 'sim-claude',
          promptTokens: 10,
          completionTokens: 5,
          costUsd: 0.5,
          failedAttempts: [
            {
              provider: 'sim-c',
              model: 'sim-c-model',
              errorClass: 'server_error',
              latencyMs: 30,
              charged: { promptTokens: 100, completionTokens: 50, cachedTokens: 0, costUsd: 0.02 },
            },
          ],
        }),
      ]);
      const range = '?from=2026-11-10&to=2026-11-11';
      const expected = { requests: 1, promptTokens: 110, completionTokens: 55, costUsd: 0.52 };
      for (const groupBy of ['day', 'model', 'provider']) {
        const res = await usage(`${range}&groupBy=${groupBy}`, carolKey);
        expect([groupBy, res.status, res.body.totals]).toEqual([groupBy, 200, expect.objectContaining(expected)]);
      }
      const byProvider = await usage(`${range}&groupBy=provider`, carolKey);
      expect(byProvider.body.groups.map((g) => [g.provider, g.requests, g.promptTokens, g.costUsd])).toEqual([
        ['sim-b', 1, 10, 0.5],
        ['sim-c', 0, 100, 0.02],
      ]);
    });

    it("never shows another user's usage", async () => {
      const bob = await usage('?from=2026-11-01&to=2026-11-04', bobKey);
      expect(bob.body.totals).toMatchObject({ requests: 1, costUsd: 100 });
      const admin = await usage('?from=2026-11-01&to=2026-11-04', h.adminKey);
      expect(admin.body.totals.requests).toBe(0);
    });

    it("carries the caller's quota: limits from the tier, counters, what is left, when it resets", async () => {
      const res = await usage('');
      expect(res.status).toBe(200);
      expect(Date.parse(res.body.to) - Date.parse(res.body.from)).toBe(30 * 86_400_000);
      expect(res.body.quota).toMatchObject({
        tier: 'free',
        dailyRequestLimit: 200,
        monthlySpendLimitUsd: 10,
        dailyRequests: expect.any(Number),
        remaining: { dailyRequests: expect.any(Number), monthlySpendUsd: expect.any(Number) },
        resetsAt: { daily: expect.any(String), monthly: expect.any(String) },
      });
      const bob = await usage('', bobKey);
      expect(bob.body.quota).toMatchObject({
        tier: 'default',
        dailyRequestLimit: null,
        remaining: { dailyRequests: null },
      });
    });

    it.each([
      ['?from=yesterday', 'from'],
      ['?to=2026-13-01', 'to'],
      ['?groupBy=user', 'groupBy'],
      ['?from=2026-11-04&to=2026-11-01', 'from'],
      ['?from=2026-11-01&to=2026-11-01', 'from'],
      ['?from=2024-01-01&to=2026-01-01', 'to'],
    ])('400 for %s naming %s', async (query, param) => {
      const res = await usage(query);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'invalid_request', param });
    });

    it('401 without a key', async () => {
      expect((await fetch(`${h.url}/api/v1/ai/usage`)).status).toBe(401);
    });

    it("a query parameter it does not read is a 400 naming it: ?userId= is never answered with the caller's own usage", async () => {
      const bob = await call<{ data: { id: string; name: string }[] }>(h, 'GET', '/api/v1/ai/admin/users?q=u-bob');
      const res = await usage(`?from=2026-11-01&to=2026-11-04&userId=${bob.body.data[0].id}`);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param: 'userId' });
    });
  });

  describe('admin listings and analytics', () => {
    // A filter the route does not have, silently dropped, answered for every user (or every key) as if it applied.
    it.each([
      ['/api/v1/ai/admin/usage?from=2026-11-01&to=2026-11-04&userId=u-alice', 'userId'],
      ['/api/v1/ai/admin/usage?provider=sim', 'provider'],
      ['/api/v1/ai/admin/costs?user=u-alice', 'user'],
      ['/api/v1/ai/metrics?model=sim-gpt', 'model'],
      ['/api/v1/ai/admin/keys?user=u-alice', 'user'],
      ['/api/v1/ai/admin/users?name=u-alice', 'name'],
      ['/api/v1/ai/admin/providers/sim/health?status=failing', 'status'],
    ])('%s: a 400 naming %s, not an answer without that filter', async (route, param) => {
      const res = await call(h, 'GET', route);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param });
    });
  });

  describe('restricted keys', () => {
    let claudeOnly = '';
    let simOnly = '';
    beforeAll(async () => {
      claudeOnly = (await createKey(h, { userId: aliceId, allowedModels: ['sim-claude'] })).key;
      simOnly = (await createKey(h, { userId: aliceId, allowedModels: ['sim/*'] })).key;
    });

    it.each([
      ['/v1/chat/completions', chat('hi', { model: 'sim-gpt' })],
      ['/v1/chat/completions', chat('hi', { model: 'sim/sim-gpt' })],
      ['/api/v1/ai/generate', { prompt: 'hi', model: 'sim-gpt' }],
      ['/api/v1/ai/jobs', { prompt: 'hi', model: 'sim-gpt' }],
    ])('403 model_not_allowed on %s for a model outside the list, nothing enqueued', async (route, body) => {
      const before = h.jobsSeen.length;
      const res = await h.post(route, body, h.headers(claudeOnly));
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: unknown }).error).toMatchObject({
        code: 'model_not_allowed',
        type: 'permission_error',
        param: 'model',
      });
      expect(h.jobsSeen.length).toBe(before);
    });

    it('admits an allowed model and carries the allow-list to the worker', async () => {
      const res = await h.post('/api/v1/ai/jobs', { prompt: 'hi', model: 'sim-claude' }, h.headers(claudeOnly));
      expect(res.status).toBe(202);
      const { jobId } = (await res.json()) as { jobId: string };
      const job = await h.queue.getJob(jobId);
      expect(job?.data.request.allowedModels).toEqual(['sim-claude']);
    });

    it('lets an alias through only when some allowed deployment exists, carrying the list', async () => {
      const ok = await h.post('/api/v1/ai/jobs', { prompt: 'hi', model: 'cheapest' }, h.headers(simOnly));
      expect(ok.status).toBe(202);
      const { jobId } = (await ok.json()) as { jobId: string };
      expect((await h.queue.getJob(jobId))?.data.request.allowedModels).toEqual(['sim/*']);
      const nothing = (await createKey(h, { userId: aliceId, allowedModels: ['no-such-model'] })).key;
      const refused = await h.post('/api/v1/ai/generate', { prompt: 'hi', model: 'auto' }, h.headers(nothing));
      expect(refused.status).toBe(403);
    });

    it('/v1/models lists only what the key may use; retrieving another model is the 404 of an unknown one', async () => {
      const ids = async (key: string): Promise<string[]> => {
        const res = await call<{ data: { id: string }[] }>(h, 'GET', '/v1/models', undefined, key);
        expect(res.status).toBe(200);
        return res.body.data.map((m) => m.id).sort();
      };
      expect(await ids(claudeOnly)).toEqual(['sim-b/sim-claude', 'sim-claude']);
      expect(await ids(simOnly)).toEqual(['sim-gpt', 'sim/sim-gpt']);
      expect(await ids(aliceKey)).toEqual(['sim-b/sim-claude', 'sim-claude', 'sim-gpt', 'sim/sim-gpt']);
      expect((await call(h, 'GET', '/v1/models/sim-b%2Fsim-claude', undefined, claudeOnly)).status).toBe(200);
      // The envelope of a model that does not exist, to the byte but for the id: the key learns nothing
      // `GET /v1/models` hides (a 403 would say that the model exists).
      const unknown = await call(h, 'GET', '/v1/models/no-such-model', undefined, claudeOnly);
      expect([unknown.status, errorOf(unknown)]).toEqual([
        404,
        {
          message: "The model 'no-such-model' does not exist or is not enabled.",
          type: 'not_found_error',
          code: 'model_not_found',
          param: 'model',
        },
      ]);
      for (const id of ['sim-gpt', 'sim%2Fsim-gpt', 'sim/sim-gpt']) {
        const hidden = await call(h, 'GET', `/v1/models/${id}`, undefined, claudeOnly);
        const shown = decodeURIComponent(id);
        expect([id, hidden.status, errorOf(hidden)]).toEqual([
          id,
          404,
          { ...errorOf(unknown), message: `The model '${shown}' does not exist or is not enabled.` },
        ]);
      }
      // Anthropic's SDKs get the same 404, in Anthropic's shape.
      const anthropic = await h.get('/v1/models/sim-gpt', h.headers(claudeOnly, { 'anthropic-version': '2023-06-01' }));
      expect(anthropic.status).toBe(404);
      expect(((await anthropic.json()) as { error: { type: string } }).error.type).toBe('not_found_error');
      expect((await call(h, 'GET', '/v1/models/sim-gpt', undefined, aliceKey)).status).toBe(200);
    });

    it('a generation naming a model outside the list is a 403 whether the model exists or not', async () => {
      // An unknown model answered 404 and an existing one 403 would tell the key which models exist.
      for (const model of ['sim-gpt', 'no-such-model', 'sim/no-such-model', 'nope/sim-claude-x']) {
        const res = await h.post('/v1/chat/completions', chat('hi', { model }), h.headers(claudeOnly));
        expect([model, res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([
          model,
          403,
          'model_not_allowed',
        ]);
      }
      // A model the list names, served by no deployment, is the 404 it is for any key: nothing hidden there.
      const named = (await createKey(h, { userId: aliceId, allowedModels: ['sim-claude', 'gpt-9'] })).key;
      const res = await h.post('/v1/chat/completions', chat('hi', { model: 'gpt-9' }), h.headers(named));
      expect(res.status).toBe(404);
      // An unrestricted key still gets the 404 for an unknown model.
      const open = await h.post('/v1/chat/completions', chat('hi', { model: 'no-such-model' }), h.headers(aliceKey));
      expect(open.status).toBe(404);
    });

    it('an unrestricted key carries no allow-list', async () => {
      const res = await h.post('/api/v1/ai/jobs', { prompt: 'hi', model: 'sim-gpt' }, h.headers(aliceKey));
      const { jobId } = (await res.json()) as { jobId: string };
      expect((await h.queue.getJob(jobId))?.data.request).not.toHaveProperty('allowedModels');
    });
  });

  describe('cross-tenant jobs', () => {
    it("404 for another user's job; its owner and admins read it", async () => {
      const res = await h.post('/api/v1/ai/jobs', { prompt: 'mine' }, h.headers(aliceKey));
      expect(res.status).toBe(202);
      const { jobId } = (await res.json()) as { jobId: string };
      const asBob = await call(h, 'GET', `/api/v1/ai/jobs/${jobId}`, undefined, bobKey);
      expect(asBob.status).toBe(404);
      expect(errorOf(asBob).code).toBe('not_found');
      expect((await call(h, 'GET', `/api/v1/ai/jobs/${jobId}`, undefined, aliceKey)).status).toBe(200);
      expect((await call(h, 'GET', `/api/v1/ai/jobs/${jobId}`, undefined, h.adminKey)).status).toBe(200);
    });
  });
});

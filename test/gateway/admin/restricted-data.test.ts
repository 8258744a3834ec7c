import { Redis } from 'ioredis';
import { GatewayHarness, REDIS_URL } from '../support';
import { call, createKey, createUser, errorOf, recordUsage, usageEvent } from './admin-support';

interface PreferenceBody {
  context: string;
  id: string;
  usageCount: number;
  last30Days: { requests: number; costUsd: number };
  createdAt: string;
  updatedAt: string;
}

interface UsageBody {
  totals: { requests: number; costUsd: number };
  groups: Record<string, unknown>[];
}

const PREFERENCES = '/api/v1/ai/preferences';

/**
 * A key restricted by `allowedModels` sees of its user's data only what concerns the models it may use, and of the
 * jobs only its own: its sibling keys (the same user's, unrestricted or restricted to other models) may name other
 * models, and their jobs hold their prompts and answers. Before, the preferences, the usage view and the jobs were
 * the user's, whichever of her keys asked.
 */
describe("restricted keys see only their models' data and their own jobs", () => {
  const h = new GatewayHarness();
  let userId = '';
  let open = { id: '', key: '' };
  let openToo = { id: '', key: '' };
  let claudeOnly = { id: '', key: '' };
  let gptAtSim = { id: '', key: '' };
  let wildcard = { id: '', key: '' };

  const redis = new Redis(REDIS_URL);

  beforeAll(async () => {
    await h.start();
    const user = await createUser(h, 'u-shared');
    userId = user.id;
    const key = async (allowedModels?: string[]): Promise<{ id: string; key: string }> => {
      const created = await createKey(h, { userId, ...(allowedModels === undefined ? {} : { allowedModels }) });
      return { id: created.id, key: created.key };
    };
    open = await key();
    openToo = await key();
    claudeOnly = await key(['sim-claude']);
    gptAtSim = await key(['sim/sim-gpt']);
    wildcard = await key(['sim-b/*']);
    const day = (d: number, hour = 12): string => new Date(Date.UTC(2026, 10, d, hour)).toISOString();
    await recordUsage(h, [
      usageEvent(userId, { apiKeyId: open.id, createdAt: day(1), costUsd: 0.5 }),
      usageEvent(userId, { apiKeyId: open.id, createdAt: day(2), costUsd: 0.5 }),
      usageEvent(userId, {
        apiKeyId: open.id,
        createdAt: day(1),
        requestedModel: 'sim-claude',
        provider: 'sim-b',
        model: 'sim-claude',
        costUsd: 0.25,
      }),
      // A deployment of the same model name at another provider: `sim/sim-gpt` does not allow it.
      usageEvent(userId, { apiKeyId: open.id, createdAt: day(2), provider: 'sim-c', model: 'sim-gpt', costUsd: 4 }),
      // Nothing answered: an alias, and a model no list here names.
      usageEvent(userId, {
        apiKeyId: open.id,
        createdAt: day(3),
        requestedModel: 'auto',
        provider: null,
        model: null,
        status: 'error',
        costUsd: 0,
      }),
      usageEvent(userId, {
        apiKeyId: open.id,
        createdAt: day(3),
        requestedModel: 'secret-model',
        provider: null,
        model: null,
        status: 'error',
        costUsd: 0,
      }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await redis.quit();
    await h.stop();
  }, 30_000);

  describe('GET|PUT|DELETE /api/v1/ai/preferences', () => {
    beforeAll(async () => {
      for (const [context, provider, model] of [
        [undefined, 'sim', 'sim-gpt'],
        ['coding', 'sim-b', 'sim-claude'],
        ['chat', 'sim', 'sim-gpt'],
      ] as const) {
        const res = await call(h, 'PUT', PREFERENCES, { context, provider, model }, open.key);
        expect(res.status).toBe(200);
      }
    });

    const list = async (key: string): Promise<string[]> => {
      const res = await call<{ data: PreferenceBody[] }>(h, 'GET', PREFERENCES, undefined, key);
      expect(res.status).toBe(200);
      return res.body.data.map((p) => `${p.context}=${p.id}`);
    };

    it('lists to a restricted key only the preferences naming deployments it may use', async () => {
      expect(await list(open.key)).toEqual(['=sim/sim-gpt', 'chat=sim/sim-gpt', 'coding=sim-b/sim-claude']);
      expect(await list(claudeOnly.key)).toEqual(['coding=sim-b/sim-claude']);
      expect(await list(wildcard.key)).toEqual(['coding=sim-b/sim-claude']);
      expect(await list(gptAtSim.key)).toEqual(['=sim/sim-gpt', 'chat=sim/sim-gpt']);
    });

    it('a preference it cannot see is one it does not have: DELETE is the 404 of a missing one, and keeps it', async () => {
      for (const [path, message] of [
        [PREFERENCES, 'You have no default preference.'],
        [`${PREFERENCES}/chat`, "You have no preference for context 'chat'."],
      ]) {
        const res = await call(h, 'DELETE', path, undefined, claudeOnly.key);
        expect([path, res.status, errorOf(res)]).toEqual([
          path,
          404,
          { message, type: 'not_found_error', code: 'not_found', param: 'context' },
        ]);
      }
      expect(await list(open.key)).toEqual(['=sim/sim-gpt', 'chat=sim/sim-gpt', 'coding=sim-b/sim-claude']);
    });

    it('PUT over a preference it cannot see answers as a new one (no createdAt of the hidden one)', async () => {
      const res = await call<PreferenceBody>(
        h,
        'PUT',
        PREFERENCES,
        { context: 'chat', provider: 'sim-b', model: 'sim-claude' },
        claudeOnly.key,
      );
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ context: 'chat', id: 'sim-b/sim-claude', usageCount: 0 });
      expect(res.body.createdAt).toBe(res.body.updatedAt);
      expect(await list(claudeOnly.key)).toEqual(['chat=sim-b/sim-claude', 'coding=sim-b/sim-claude']);
    });
  });

  describe('GET /api/v1/ai/usage', () => {
    const usage = async (key: string, query: string): Promise<UsageBody> => {
      const res = await call<UsageBody>(h, 'GET', `/api/v1/ai/usage${query}`, undefined, key);
      expect(res.status).toBe(200);
      return res.body;
    };
    // Whole days (the daily rollups), and a range inside one hour (the raw records).
    const ranges = ['?from=2026-11-01&to=2026-11-04', '?from=2026-11-01T11:30:00Z&to=2026-11-01T12:30:00Z'];

    it('an unrestricted key sees every model of its user', async () => {
      const byModel = await usage(open.key, `${ranges[0]}&groupBy=model`);
      expect(byModel.groups.map((g) => [g.model, g.requests])).toEqual([
        ['auto', 1],
        ['secret-model', 1],
        ['sim-claude', 1],
        ['sim-gpt', 3],
      ]);
      expect(byModel.totals).toMatchObject({ requests: 6, costUsd: 5.25 });
    });

    it.each(ranges)('groups and totals of a restricted key count its allowed deployments only (%s)', async (range) => {
      const whole = range === ranges[0];
      for (const [key, model, provider, requests, costUsd] of [
        [claudeOnly.key, 'sim-claude', 'sim-b', 1, 0.25],
        [wildcard.key, 'sim-claude', 'sim-b', 1, 0.25],
        [gptAtSim.key, 'sim-gpt', 'sim', whole ? 2 : 1, whole ? 1 : 0.5],
      ] as const) {
        const byModel = await usage(key, `${range}&groupBy=model`);
        expect([model, byModel.groups.map((g) => [g.model, g.requests, g.costUsd])]).toEqual([
          model,
          [[model, requests, costUsd]],
        ]);
        expect(byModel.totals).toMatchObject({ requests, costUsd });
        const byProvider = await usage(key, `${range}&groupBy=provider`);
        expect(byProvider.groups.map((g) => [g.provider, g.requests])).toEqual([[provider, requests]]);
        const byDay = await usage(key, range);
        expect(byDay.totals).toMatchObject({ requests, costUsd });
        expect(byDay.groups.reduce((n, g) => n + Number(g.requests), 0)).toBe(requests);
      }
    });

    it('a request nothing answered counts for a key whose list names the model asked for', async () => {
      const named = await createKey(h, { userId, allowedModels: ['secret-model'] });
      const byModel = await usage(named.key, `${ranges[0]}&groupBy=model`);
      expect(byModel.groups.map((g) => [g.model, g.requests])).toEqual([['secret-model', 1]]);
    });
  });

  describe('GET /api/v1/ai/jobs/:id and POST .../cancel', () => {
    const submit = async (key: string, model: string): Promise<string> => {
      const res = await h.post('/api/v1/ai/jobs', { model, prompt: `secret prompt for ${model}` }, h.headers(key));
      expect(res.status).toBe(202);
      return ((await res.json()) as { jobId: string }).jobId;
    };
    const status = async (key: string, jobId: string): Promise<number> =>
      (await call(h, 'GET', `/api/v1/ai/jobs/${jobId}`, undefined, key)).status;

    it("a job is its key's: the same user's other keys get the 404 of an unknown job", async () => {
      const jobId = await submit(open.key, 'sim-gpt');
      expect(await status(open.key, jobId)).toBe(200);
      expect(await status(h.adminKey, jobId)).toBe(200);
      for (const other of [claudeOnly.key, gptAtSim.key, openToo.key]) {
        const res = await call(h, 'GET', `/api/v1/ai/jobs/${jobId}`, undefined, other);
        expect(res.status).toBe(404);
        const unknown = await call(h, 'GET', '/api/v1/ai/jobs/req_00000000000000000000000000000000', undefined, other);
        expect(errorOf(res)).toEqual(errorOf(unknown));
        expect(errorOf(res)).toEqual({
          message: expect.stringMatching(/^No job with this id\. /) as unknown,
          type: 'not_found_error',
          code: 'not_found',
          param: 'id',
        });
        const cancel = await call(h, 'POST', `/api/v1/ai/jobs/${jobId}/cancel`, undefined, other);
        expect(cancel.status).toBe(404);
      }
      // The restricted key's own job is its own to read.
      const own = await submit(claudeOnly.key, 'sim-claude');
      expect(await status(claudeOnly.key, own)).toBe(200);
      expect(await status(open.key, own)).toBe(404);
    });

    it('a sync request kept outcome is read by the key that made it only', async () => {
      const kept = (apiKeyId: string | undefined): string =>
        JSON.stringify({
          ok: true,
          result: h.result(
            {
              requestId: 'req_kept',
              model: 'sim-gpt',
              messages: [],
              options: {},
              stream: false,
              userId,
              apiKeyId: open.id,
              deadlineAt: 0,
              receivedAt: 0,
            },
            'secret answer',
          ),
          userId,
          ...(apiKeyId === undefined ? {} : { apiKeyId }),
          receivedAt: Date.now(),
        });
      await redis.set(h.outcomeKey('req_keptbykey'), kept(open.id), 'PX', 60_000);
      expect(await status(open.key, 'req_keptbykey')).toBe(200);
      expect(await status(openToo.key, 'req_keptbykey')).toBe(404);
      expect(await status(gptAtSim.key, 'req_keptbykey')).toBe(404);
      // Kept by a worker older than this rule (no key in it): its user's unrestricted keys, never a restricted one.
      await redis.set(h.outcomeKey('req_keptbyuser'), kept(undefined), 'PX', 60_000);
      expect(await status(openToo.key, 'req_keptbyuser')).toBe(200);
      expect(await status(gptAtSim.key, 'req_keptbyuser')).toBe(404);
    });
  });
});

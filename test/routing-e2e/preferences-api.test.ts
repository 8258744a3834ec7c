import { DEFAULT_CIRCUIT_CONFIG } from '@aigw/core';
import { ApiKeyStore, createDataSourceOptions } from '@aigw/entities';
import { CircuitBreakerStore, routingKeyPrefix } from '@aigw/routing';
import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { DATABASE_URL, REDIS_URL, TestSystem } from '../e2e/harness';
import { uniqueText } from './support';

interface ErrorBody {
  error: { code: string; param: string | null; message: string; type: string };
}

interface Preference {
  context: string;
  id: string;
  provider: string | null;
  model: string;
  providerDisplayName: string | null;
  modelDisplayName: string;
  available: boolean;
  usageCount: number;
  lastUsedAt: string | null;
  last30Days: { requests: number; costUsd: number };
}

/**
 * The preferences API against the built gateway and a real router-worker: validation naming the field,
 * availability (disabled, circuit open, health failing), one row per context, a preference deciding which
 * deployment answers, and the usage counters the worker advances in batches. One model on four providers of
 * one simulator; pa is the cheapest, so it answers whenever no preference says otherwise.
 */
describe('preferences API (e2e)', () => {
  const system = new TestSystem({
    workers: 1,
    env: { ROUTING_DEFAULT_POLICY: 'preference' },
    catalog: (s) => {
      const url = `${s.sim.url}/v1`;
      const provider = (id: string, price: number, extra = '', models = '') =>
        `  - id: ${id}
    kind: openai
    baseUrl: ${url}
    apiKey: sk-${id}-secret
    timeoutMs: 5000${extra}
    models:
      - { name: shared, promptPer1k: ${price}, completionPer1k: ${price}, contextWindow: 8192, capabilities: [chat, streaming] }
${models}`;
      return `providers:
${provider('pa', 0.001, '\n    displayName: Provider A')}${provider('pb', 0.002)}${provider(
        'pc',
        0.003,
        '',
        '      - { name: off, promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 8192, enabled: false }\n',
      )}${provider('pd', 0.004, '\n    enabled: false')}`;
    },
  });
  let db: DataSource;
  let redis: Redis;
  let store: ApiKeyStore;

  async function call(
    method: string,
    path: string,
    key: string | null,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${system.gatewayUrl}${path}`, {
      method,
      headers: key === null ? { 'content-type': 'application/json' } : system.headers(key),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
  }

  async function expectError(
    res: Promise<{ status: number; body: unknown }>,
    status: number,
    code: string,
    param: string | null,
  ): Promise<void> {
    const { status: got, body } = await res;
    expect({ status: got, code: (body as ErrorBody).error?.code, param: (body as ErrorBody).error?.param }).toEqual({
      status,
      code,
      param,
    });
  }

  async function answeredBy(key: string, extra: Record<string, unknown> = {}): Promise<string | undefined> {
    const res = await call('POST', '/api/v1/ai/generate', key, {
      prompt: uniqueText('who'),
      model: 'shared',
      ...extra,
    });
    expect(res.status).toBe(200);
    return (res.body as { provider?: string }).provider;
  }

  async function newKey(name: string, allowedModels?: string[]): Promise<string> {
    return (await store.create({ userName: `${name}-${Date.now()}`, role: 'user', allowedModels })).key;
  }

  beforeAll(async () => {
    await system.start();
    db = await new DataSource(createDataSourceOptions({ url: DATABASE_URL, schema: system.schema })).initialize();
    redis = new Redis(REDIS_URL);
    store = new ApiKeyStore(db);
  }, 90_000);

  afterAll(async () => {
    await redis?.quit();
    await db?.destroy();
    await system.stop();
  }, 30_000);

  it('needs a key (401)', async () => {
    await expectError(call('GET', '/api/v1/ai/preferences', null), 401, 'invalid_api_key', null);
    await expectError(
      call('PUT', '/api/v1/ai/preferences', null, { provider: 'pa', model: 'shared' }),
      401,
      'invalid_api_key',
      null,
    );
    await expectError(call('DELETE', '/api/v1/ai/preferences/coding', null), 401, 'invalid_api_key', null);
  });

  it('validates the body and names the field', async () => {
    const key = await newKey('validation');
    const put = (body: unknown) => call('PUT', '/api/v1/ai/preferences', key, body);
    await expectError(put({ model: 'shared' }), 400, 'invalid_request', 'provider');
    await expectError(put({ provider: 'pa' }), 400, 'invalid_request', 'model');
    await expectError(put({ provider: 'pa', model: 7 }), 400, 'invalid_request', 'model');
    await expectError(
      put({ context: 'Not A Slug!', provider: 'pa', model: 'shared' }),
      400,
      'invalid_request',
      'context',
    );
    await expectError(
      put({ context: 'x'.repeat(65), provider: 'pa', model: 'shared' }),
      400,
      'invalid_request',
      'context',
    );
    // A misspelt context is refused, not taken for the default preference.
    await expectError(put({ contxt: 'typo', provider: 'pa', model: 'shared' }), 400, 'invalid_request', 'contxt');
    await expectError(put({ provider: 'nope', model: 'shared' }), 400, 'invalid_request', 'provider');
    await expectError(put({ provider: 'pa', model: 'nope' }), 400, 'invalid_request', 'model');
    await expectError(call('DELETE', '/api/v1/ai/preferences/Bad!', key), 400, 'invalid_request', 'context');
    expect(await call('GET', '/api/v1/ai/preferences', key)).toEqual({ status: 200, body: { data: [] } });
  });

  it('refuses a deployment that is disabled, circuit-open or failing (409), or not allowed for the key (403)', async () => {
    const key = await newKey('availability');
    const put = (provider: string, model = 'shared') => call('PUT', '/api/v1/ai/preferences', key, { provider, model });
    await expectError(put('pd'), 409, 'model_unavailable', 'provider');
    await expectError(put('pc', 'off'), 409, 'model_unavailable', 'model');

    const breakers = new CircuitBreakerStore(redis, routingKeyPrefix(system.prefix), DEFAULT_CIRCUIT_CONFIG);
    for (let i = 0; i < DEFAULT_CIRCUIT_CONFIG.failureThreshold; i++) {
      await breakers.recordFailure('pb/shared');
    }
    await expectError(put('pb'), 409, 'model_unavailable', 'model');
    await breakers.reset('pb/shared');
    expect((await put('pb')).status).toBe(200);
    // A stored preference whose circuit opens is listed unavailable, as the models listing and a PUT say.
    const listed = async (): Promise<{ preference?: boolean; listing?: boolean }> => {
      const prefs = ((await call('GET', '/api/v1/ai/preferences', key)).body as { data: Preference[] }).data;
      const models = (
        (await call('GET', '/api/v1/ai/models', key)).body as { data: { id: string; available: boolean }[] }
      ).data;
      return {
        preference: prefs.find((p) => p.id === 'pb/shared')?.available,
        listing: models.find((m) => m.id === 'pb/shared')?.available,
      };
    };
    for (let i = 0; i < DEFAULT_CIRCUIT_CONFIG.failureThreshold; i++) {
      await breakers.recordFailure('pb/shared');
    }
    await expectError(put('pb'), 409, 'model_unavailable', 'model');
    // Both read the circuits at most a second old: each reaches the new state within a second.
    const both = async (available: boolean): Promise<unknown> =>
      waitFor(
        async () => {
          const seen = await listed();
          return seen.preference === available && seen.listing === available;
        },
        { timeoutMs: 5_000, intervalMs: 100, message: `the preference and the listing did not both say ${available}` },
      );
    await both(false);
    await breakers.reset('pb/shared');
    await both(true);

    await system.query(`UPDATE providers SET health_status = 'failing' WHERE id = 'pc'`);
    try {
      await expectError(put('pc'), 409, 'model_unavailable', 'provider');
    } finally {
      await system.query(`UPDATE providers SET health_status = 'unknown' WHERE id = 'pc'`);
    }

    const restricted = await newKey('restricted', ['pa/*']);
    await expectError(
      call('PUT', '/api/v1/ai/preferences', restricted, { provider: 'pb', model: 'shared' }),
      403,
      'model_not_allowed',
      'model',
    );
  });

  it('decides which deployment answers, per context, and counts each use', async () => {
    const other = await newKey('no-preference');
    expect(await answeredBy(other)).toBe('pa');

    const key = await newKey('chooser');
    // Stored before the user's first request: a worker caches a user's preferences for up to 10 s.
    const stored = await call('PUT', '/api/v1/ai/preferences', key, { provider: 'pc', model: 'shared' });
    expect(stored.status).toBe(200);
    expect(stored.body).toMatchObject({
      context: '',
      id: 'pc/shared',
      provider: 'pc',
      model: 'shared',
      providerDisplayName: 'pc',
      modelDisplayName: 'shared',
      available: true,
      usageCount: 0,
      lastUsedAt: null,
      last30Days: { requests: 0, costUsd: 0 },
    });
    // One row per user and context: storing again replaces, never adds.
    await call('PUT', '/api/v1/ai/preferences', key, { context: 'coding', provider: 'pa', model: 'shared' });
    const coding = await call('PUT', '/api/v1/ai/preferences', key, {
      context: 'coding',
      provider: 'pb',
      model: 'shared',
    });
    expect(coding.body).toMatchObject({ context: 'coding', id: 'pb/shared' });

    expect(await answeredBy(key)).toBe('pc');
    expect(await answeredBy(key)).toBe('pc');
    expect(await answeredBy(key)).toBe('pc');
    expect(await answeredBy(key, { context: 'coding' })).toBe('pb');
    expect(await answeredBy(key, { context: 'coding' })).toBe('pb');
    // Another policy ignores preferences: not a use.
    expect(await answeredBy(key, { policy: 'cost' })).toBe('pa');

    let prefs: Preference[] = [];
    await waitFor(
      async () => {
        prefs = ((await call('GET', '/api/v1/ai/preferences', key)).body as { data: Preference[] }).data;
        // Each preference's usage rows may land in a usage batch of their own.
        return (
          prefs[0]?.usageCount === 3 &&
          prefs[1]?.usageCount === 2 &&
          prefs[0].last30Days.requests === 3 &&
          prefs[1].last30Days.requests === 2
        );
      },
      { timeoutMs: 15_000, intervalMs: 250, message: 'preference usage not recorded' },
    );
    expect(prefs.map((p) => [p.context, p.id, p.usageCount, p.last30Days.requests])).toEqual([
      ['', 'pc/shared', 3, 3],
      ['coding', 'pb/shared', 2, 2],
    ]);
    expect(Date.now() - Date.parse(prefs[0].lastUsedAt ?? '')).toBeLessThan(60_000);
    expect(prefs[0].last30Days.costUsd).toBeGreaterThan(0);
  });

  it('counts a re-pointed preference only for the requests routed by it, not by the copy a worker cached', async () => {
    const key = await newKey('re-pointer');
    await call('PUT', '/api/v1/ai/preferences', key, { provider: 'pc', model: 'shared' });
    expect(await answeredBy(key)).toBe('pc');
    // The worker now holds pc for up to 10 s: these still go to pc, after the row points at pb.
    expect((await call('PUT', '/api/v1/ai/preferences', key, { provider: 'pb', model: 'shared' })).status).toBe(200);
    expect(await answeredBy(key)).toBe('pc');
    expect(await answeredBy(key)).toBe('pc');
    await waitFor(async () => (await answeredBy(key)) === 'pb', {
      timeoutMs: 15_000,
      intervalMs: 500,
      message: 'the worker never picked the new preference up',
    });

    let pref: Preference | undefined;
    await waitFor(
      async () => {
        pref = ((await call('GET', '/api/v1/ai/preferences', key)).body as { data: Preference[] }).data[0];
        // The use count and the usage row are written apart (a flush each second, a usage batch): both must land.
        return pref !== undefined && pref.usageCount > 0 && pref.last30Days.requests > 0;
      },
      { timeoutMs: 10_000, intervalMs: 250, message: 'preference usage not recorded' },
    );
    // The uses of pc were flushed (every second) long before; only the request pb answered counts.
    expect(pref).toMatchObject({ id: 'pb/shared', usageCount: 1, last30Days: { requests: 1 } });
  }, 30_000);

  it('takes every context a native request can name (letters of either case, digits, _ . : -)', async () => {
    const key = await newKey('ctx-rule');
    const stored = await call('PUT', '/api/v1/ai/preferences', key, {
      context: 'Coding.v1:eu',
      provider: 'pb',
      model: 'shared',
    });
    expect(stored.status).toBe(200);
    expect(await answeredBy(key, { context: 'Coding.v2', policy: 'preference' })).not.toBe('pb');
    expect(await answeredBy(key, { context: 'Coding.v1:eu', policy: 'preference' })).toBe('pb');
    expect((await call('DELETE', '/api/v1/ai/preferences/Coding.v1:eu', key)).status).toBe(200);
  });

  it("writes back a preference as it was read: the default's context '' is the default, as the list shows it", async () => {
    const key = await newKey('round-trip');
    expect((await call('PUT', '/api/v1/ai/preferences', key, { provider: 'pa', model: 'shared' })).status).toBe(200);
    const [read] = ((await call('GET', '/api/v1/ai/preferences', key)).body as { data: Preference[] }).data;
    expect(read.context).toBe('');
    // A client changing the deployment of what it read sends the context back with it.
    const rewritten = await call('PUT', '/api/v1/ai/preferences', key, {
      context: read.context,
      provider: 'pb',
      model: 'shared',
    });
    expect(rewritten).toMatchObject({ status: 200, body: { context: '', id: 'pb/shared' } });
    const after = ((await call('GET', '/api/v1/ai/preferences', key)).body as { data: Preference[] }).data;
    expect(after.map((p) => [p.context, p.id])).toEqual([['', 'pb/shared']]);
    expect(await answeredBy(key, { model: undefined, policy: 'preference' })).toBe('pb');
  });

  it('lists a preference whose deployment was deleted as unavailable, not as another provider serving the model', async () => {
    const key = await newKey('orphaned');
    const created = await call('POST', '/api/v1/ai/admin/providers', system.adminKey, {
      id: 'pe',
      kind: 'openai',
      baseUrl: `${system.sim.url}/v1`,
      apiKey: 'sk-pe-secret',
      models: [{ name: 'shared', promptPer1k: 0.005, completionPer1k: 0.005, contextWindow: 8192 }],
    });
    expect(created.status).toBe(201);
    await waitFor(
      async () =>
        (await call('PUT', '/api/v1/ai/preferences', key, { provider: 'pe', model: 'shared' })).status === 200,
      {
        timeoutMs: 5_000,
        intervalMs: 100,
        message: 'the new provider never reached the catalog',
      },
    );
    expect((await call('DELETE', '/api/v1/ai/admin/providers/pe', system.adminKey)).status).toBe(200);
    let pref: Preference | undefined;
    await waitFor(
      async () => {
        pref = ((await call('GET', '/api/v1/ai/preferences', key)).body as { data: Preference[] }).data[0];
        return pref?.providerDisplayName === null;
      },
      { timeoutMs: 5_000, intervalMs: 100, message: 'the deletion never reached the catalog' },
    );
    // pa, pb and pc serve 'shared' too, but the preference names pe's, which routing can no longer match.
    // And says why, rather than a null reason that reads as "available".
    expect(pref).toMatchObject({ id: 'pe/shared', available: false, unavailableReason: 'deleted' });
  });

  it('deletes a context, and the default without one; 404 when there is none', async () => {
    const key = await newKey('deleter');
    await call('PUT', '/api/v1/ai/preferences', key, { provider: 'pa', model: 'shared' });
    await call('PUT', '/api/v1/ai/preferences', key, { context: 'chat', provider: 'pb', model: 'shared' });
    expect(await call('DELETE', '/api/v1/ai/preferences/chat', key)).toEqual({
      status: 200,
      body: { context: 'chat', deleted: true },
    });
    await expectError(call('DELETE', '/api/v1/ai/preferences/chat', key), 404, 'not_found', 'context');
    expect((await call('DELETE', '/api/v1/ai/preferences', key)).status).toBe(200);
    await expectError(call('DELETE', '/api/v1/ai/preferences', key), 404, 'not_found', 'context');
    expect(await call('GET', '/api/v1/ai/preferences', key)).toEqual({ status: 200, body: { data: [] } });
  });
});

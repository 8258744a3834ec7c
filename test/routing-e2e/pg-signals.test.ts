import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { validateEnv, type UsageEvent } from '@aigw/core';
import {
  ApiKeyStore,
  createDataSourceOptions,
  runMigrationsLocked,
  UsageStore,
  UserPreferenceEntity,
} from '@aigw/entities';
import { MigratedDatabase } from '@aigw/platform';
import { DataSource } from 'typeorm';
import { WorkerEnv } from '../../apps/router-worker/src/config/worker-env';
import { HistoricalLatency } from '../../apps/router-worker/src/routing/historical-latency';
import { PreferenceReader } from '../../apps/router-worker/src/routing/preference-reader';
import { routingConfigOf } from '../../apps/router-worker/src/routing/routing-config';
import { DATABASE_URL } from '../e2e/harness';

/** The routing signals read from PostgreSQL, against a real database with the real migrations. */
describe('routing signals from PostgreSQL', () => {
  const schema = `t_routing_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  let ds: DataSource;
  const config = routingConfigOf(validateEnv(WorkerEnv, { ROUTING_DEFAULT_MODEL: 'sys/model' }));

  const open = () => new DataSource(createDataSourceOptions({ url: DATABASE_URL, schema, poolSize: 2 })).initialize();

  function usage(overrides: Partial<UsageEvent>): UsageEvent {
    return {
      requestId: `req_${randomUUID()}`,
      userId: randomUUID(),
      apiKeyId: randomUUID(),
      requestedModel: 'm',
      provider: 'pa',
      model: 'm',
      context: null,
      promptTokens: 1,
      completionTokens: 1,
      cachedTokens: 0,
      costUsd: 0,
      latencyMs: 100,
      cached: false,
      status: 'success',
      errorClass: null,
      errorCode: null,
      attempts: 1,
      policy: null,
      stream: false,
      createdAt: new Date().toISOString(),
      ...overrides,
    };
  }

  beforeAll(async () => {
    ds = await open();
    await runMigrationsLocked(ds, () => undefined);
  }, 30_000);

  afterAll(async () => {
    await ds.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await ds.destroy();
  });

  describe('HistoricalLatency', () => {
    it('averages the last day of successful, uncached calls per deployment', async () => {
      const dayAgo = new Date(Date.now() - 25 * 60 * 60 * 1000).toISOString();
      await new UsageStore(ds).insertBatch([
        usage({ latencyMs: 100 }),
        usage({ latencyMs: 300 }),
        usage({ latencyMs: 9000, status: 'error', errorClass: 'timeout' }),
        usage({ latencyMs: 1, cached: true }),
        usage({ latencyMs: 9000, createdAt: dayAgo }),
        usage({ provider: 'pb', latencyMs: 50 }),
        usage({ provider: null, model: null, latencyMs: 7, status: 'error' }),
      ]);
      const history = new HistoricalLatency(new MigratedDatabase(ds));
      expect(history.snapshot().size).toBe(0);
      await history.refresh();
      expect(Object.fromEntries(history.snapshot())).toEqual({ 'pa/m': 200, 'pb/m': 50 });
    });

    it('keeps the last averages when PostgreSQL fails', async () => {
      const own = await open();
      const history = new HistoricalLatency(new MigratedDatabase(own));
      await history.refresh();
      const before = history.snapshot();
      expect(before.size).toBeGreaterThan(0);
      await own.destroy();
      await history.refresh();
      expect(history.snapshot()).toBe(before);
    });
  });

  describe('PreferenceReader', () => {
    it("builds the chain from the user's rows and the system default, and caches them", async () => {
      const user = await new ApiKeyStore(ds).create({ userName: `u-${randomUUID()}`, role: 'user' });
      const prefs = ds.getRepository(UserPreferenceEntity);
      await prefs.save([
        { userId: user.userId, context: '', model: 'pa/m', policy: 'latency' },
        { userId: user.userId, context: 'coding', model: 'pb/m', policy: null },
      ]);
      const reader = new PreferenceReader(new MigratedDatabase(ds), config);
      expect(await reader.chainFor(user.userId, 'coding')).toEqual({
        context: 'pb/m',
        userDefault: 'pa/m',
        systemDefault: 'sys/model',
        then: 'latency',
      });
      await prefs.update({ userId: user.userId, context: 'coding' }, { model: 'pc/m' });
      // Within the cache period the change is not seen yet.
      expect((await reader.chainFor(user.userId, 'coding')).context).toBe('pb/m');
      expect(
        (await new PreferenceReader(new MigratedDatabase(ds), config).chainFor(user.userId, 'coding')).context,
      ).toBe('pc/m');
    });

    it("reads the rows again at once when they differ from the preferences a request's cache key holds", async () => {
      const keys = new ApiKeyStore(ds);
      const user = await keys.create({ userName: `u-${randomUUID()}`, role: 'user' });
      const seen = async (): Promise<string> => (await keys.findActiveByKey(user.key))?.preferences ?? '';
      const prefs = ds.getRepository(UserPreferenceEntity);
      await prefs.save([
        { userId: user.userId, context: '', model: 'm', provider: 'pa', policy: null },
        { userId: user.userId, context: 'coding', model: 'm', provider: 'pb', policy: 'latency' },
        { userId: user.userId, context: 'Z-9', model: 'm', provider: null, policy: null },
      ]);
      const reader = new PreferenceReader(new MigratedDatabase(ds), config);
      expect((await reader.chainFor(user.userId, 'coding', await seen())).context).toBe('pb/m');

      // The gateway keys a request by the changed preferences: the worker routes it by them, not its cached copy.
      await prefs.update({ userId: user.userId, context: 'coding' }, { provider: 'pc' });
      expect((await reader.chainFor(user.userId, 'coding', await seen())).context).toBe('pc/m');
      // A request that names none keeps the cached rows for their period.
      await prefs.update({ userId: user.userId, context: 'coding' }, { provider: 'pd' });
      expect((await reader.chainFor(user.userId, 'coding')).context).toBe('pc/m');

      // '' (none): keyed as the requests of users without preferences (shared by all of them), routed as theirs,
      // whatever rows the user has (an admin's cache warming job).
      const none = { context: null, userDefault: null, systemDefault: 'sys/model', then: null };
      expect(await reader.chainFor(user.userId, 'coding', '')).toEqual(none);
      await prefs.delete({ userId: user.userId });
      expect(await seen()).toBe('');
      expect(await reader.chainFor(user.userId, 'coding', await seen())).toEqual(none);
    });

    it('routes without preferences when PostgreSQL fails, or the user id is no UUID', async () => {
      const own = await open();
      const reader = new PreferenceReader(new MigratedDatabase(own), config);
      await own.destroy();
      const empty = { context: null, userDefault: null, systemDefault: 'sys/model', then: null };
      await expect(reader.chainFor(randomUUID(), 'coding')).resolves.toEqual(empty);
      await expect(
        new PreferenceReader(new MigratedDatabase(ds), config).chainFor('not-a-uuid', undefined),
      ).resolves.toEqual(empty);
    });
  });
});

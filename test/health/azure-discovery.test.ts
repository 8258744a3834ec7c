import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseCatalog, type Catalog } from '@aigw/core';
import {
  CatalogStore,
  ProviderHealthStore,
  runMigrationsLocked,
  SecretBox,
  type UsageRetentionStore,
} from '@aigw/entities';
import { createRedis, RedisErrors, RedisKeys, type CatalogService } from '@aigw/platform';
import { TEST_REDIS_URL, uniqueId } from '@aigw/testing';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { Alerts } from '../../apps/health-monitor/src/health/alerts';
import { HealthJobs } from '../../apps/health-monitor/src/health/health-jobs';
import { HealthQueue } from '../../apps/health-monitor/src/health/health-queue';
import { MonitorMetrics } from '../../apps/health-monitor/src/health/monitor-metrics';
import { Prober } from '../../apps/health-monitor/src/health/prober';
import { quiet } from '../gateway/cache-fixtures';
import { dropSchema, openDataSource, uniqueSchema } from '../entities/pg';

const KEY = 'azure-key-discovery';

/** A loopback server answering as `answer` says, recording each request's URL. */
async function server(
  answer: (req: IncomingMessage) => { status: number; body: unknown },
): Promise<{ origin: string; urls: string[]; close(): Promise<void> }> {
  const urls: string[] = [];
  const s: Server = createServer((req, res) => {
    urls.push(req.url ?? '');
    const { status, body } = answer(req);
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    urls,
    close: () =>
      new Promise<void>((resolve) => {
        s.closeAllConnections();
        s.close(() => resolve());
      }),
  };
}

/**
 * Model discovery of an Azure OpenAI deployment URL: the deployment serves no `/models` (Azure answers 404 "Resource
 * not found") and Azure's data plane lists no deployments (its "Models - List" names the base models the resource
 * may deploy). Discovery used to ask `{deployment}/models` at every refresh and get the 404; now it asks Azure
 * nothing and records nothing (so the admin API claims no catalog model is no longer served), and an `auto` provider
 * is still discovered through its gateway. Real Prober over loopback HTTP, real PostgreSQL and Redis.
 */
describe('model discovery: Azure OpenAI deployment URLs', () => {
  const schema = uniqueSchema('azdisc');
  const prefix = uniqueId('azdisc');
  const keys = new RedisKeys(prefix);
  const errors = new RedisErrors(quiet);
  let ds: DataSource;
  let redis: Redis;
  let store: ProviderHealthStore;
  let catalog: Catalog;
  let azure: Awaited<ReturnType<typeof server>>;
  let gateway: Awaited<ReturnType<typeof server>>;
  let jobs: HealthJobs;
  let queue: HealthQueue;
  let prober: Prober;

  const env = {
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: prefix,
    HEALTH_CONCURRENCY: 2,
    ALERT_CONCURRENCY: 2,
    ALERT_WEBHOOK_TIMEOUT_MS: 5000,
    HEALTH_FAILURE_THRESHOLD: 2,
    HEALTH_RECOVERY_THRESHOLD: 3,
    HEALTH_SLOW_MS: 5000,
    HEALTH_WINDOW: 5,
    HEALTH_INTERVAL_S: 300,
    PROBE_TIMEOUT_MS: 5000,
    PROVIDER_ALLOW_LINK_LOCAL: false,
  } as MonitorEnv;

  beforeAll(async () => {
    // Azure's data plane as its REST reference has it: the resource's model list with the key, 404 elsewhere.
    azure = await server((req) => {
      if (req.headers['api-key'] !== KEY) {
        return {
          status: 401,
          body: { error: { code: '401', message: 'Access denied due to invalid subscription key.' } },
        };
      }
      return new URL(req.url ?? '/', 'http://x').pathname === '/openai/models'
        ? { status: 200, body: { data: [{ id: 'gpt-4o-2024-08-06', object: 'model', status: 'succeeded' }] } }
        : { status: 404, body: { error: { code: '404', message: 'Resource not found' } } };
    });
    gateway = await server(() => ({
      status: 200,
      body: { object: 'list', data: [{ id: 'gpt-4o', object: 'model' }] },
    }));
    ds = await openDataSource(schema);
    await runMigrationsLocked(ds, () => undefined);
    const deployment = `${azure.origin}/openai/deployments/gpt-4o?api-version=2024-10-21`;
    catalog = parseCatalog(
      `gateways:
  - { id: gw, baseUrl: "${gateway.origin}/v1" }
providers:
  - id: az
    kind: openai
    baseUrl: "${deployment}"
    apiKey: ${KEY}
    models:
      - { name: gpt-4o, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
  - id: az-auto
    kind: openai
    baseUrl: "${deployment}"
    apiKey: ${KEY}
    routing: auto
    gateway: gw
    models:
      - { name: gpt-4o, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`,
      {},
    );
    await new CatalogStore(ds, SecretBox.fromEnv(undefined, 'test').box).seed(catalog);
    store = new ProviderHealthStore(ds);
    redis = createRedis(TEST_REDIS_URL, `${prefix}:test`, errors);
    const catalogService = {
      current: catalog,
      provider: (id: string) => catalog.providers.find((p) => p.id === id),
      checkBeforeSeed: () => undefined,
      onReload: () => undefined,
    } as unknown as CatalogService;
    const metrics = new MonitorMetrics(new Registry(), store, catalogService);
    queue = new HealthQueue(env, keys, errors);
    prober = new Prober(env, catalogService);
    const alerts = new Alerts(env, queue, metrics, redis, keys, store);
    jobs = new HealthJobs(
      env,
      catalogService,
      store,
      {} as UsageRetentionStore,
      prober,
      alerts,
      metrics,
      redis,
      keys,
      errors,
    );
  });

  afterAll(async () => {
    await queue?.onApplicationShutdown();
    await prober?.onApplicationShutdown();
    if (redis !== undefined) {
      const stale = await redis.keys(`*${prefix}*`);
      if (stale.length > 0) {
        await redis.del(...stale);
      }
      redis.disconnect();
    }
    await ds?.destroy();
    await dropSchema(schema);
    await azure?.close();
    await gateway?.close();
  });

  it('asks a direct deployment URL nothing and records no list', async () => {
    await jobs.discoverModels('az');
    expect(azure.urls).toEqual([]);
    const found = await store.discovered('az');
    expect(found).toEqual({ refreshedAt: null, models: [] });
  });

  it('discovers an auto provider through its gateway, asking the deployment nothing', async () => {
    await jobs.discoverModels('az-auto');
    expect(azure.urls).toEqual([]);
    expect(gateway.urls).toEqual(['/v1/models']);
    const found = await store.discovered('az-auto');
    expect(found.models.map((m) => m.model)).toEqual(['gpt-4o']);
  });
});

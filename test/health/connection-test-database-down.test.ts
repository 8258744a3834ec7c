import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDataSourceOptions, runMigrationsLocked } from '@aigw/entities';
import { CatalogService, createRedis, MigratedDatabase, RedisErrors, RedisKeys } from '@aigw/platform';
import { TEST_DATABASE_URL, TEST_REDIS_URL, uniqueId } from '@aigw/testing';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import type { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { ConnectionTestService } from '../../apps/health-monitor/src/probe/connection-test.service';
import { dropSchema, uniqueSchema } from '../entities/pg';
import { quiet } from '../gateway/cache-fixtures';
import { TcpProxy } from '../worker/tcp-proxy';

/**
 * A connection test of a saved provider re-reads the catalog first. While PostgreSQL is down that read failed the
 * whole test: the monitor logged the error's stack (Nest's RpcExceptionsHandler) and the admin was told "The health
 * monitor failed to answer", though it runs and the provider answers.
 */
describe('connection test while PostgreSQL is down', () => {
  const prefix = uniqueId('ctpg');
  const schema = uniqueSchema('ctpg');
  const target = new URL(TEST_DATABASE_URL);
  const relay = new TcpProxy(target.hostname, Number(target.port || 5432));
  const dir = mkdtempSync(path.join(tmpdir(), 'ctpg-'));
  let provider: Server;
  let ds: DataSource;
  let redis: Redis;
  let catalog: CatalogService;
  let service: ConnectionTestService;

  beforeAll(async () => {
    provider = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"m1"}]}'),
    );
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`;
    const file = path.join(dir, 'providers.yaml');
    writeFileSync(
      file,
      `providers:
  - id: p1
    kind: openai
    baseUrl: ${baseUrl}
    models:
      - { name: m1, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8000 }
`,
    );

    await relay.up();
    const url = new URL(TEST_DATABASE_URL);
    url.hostname = '127.0.0.1';
    url.port = String(relay.port);
    ds = await new DataSource(createDataSourceOptions({ url: url.toString(), schema, poolSize: 2 })).initialize();
    await runMigrationsLocked(ds);
    const env = {
      NODE_ENV: 'test',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: prefix,
      PROVIDERS_FILE: file,
      CATALOG_RELOAD_S: 3600,
      PROBE_TIMEOUT_MS: 2000,
    } as MonitorEnv;
    catalog = new CatalogService(env, new MigratedDatabase(ds));
    await catalog.onModuleInit();
    redis = createRedis(TEST_REDIS_URL, `${prefix}:cmd`, new RedisErrors(quiet));
    service = new ConnectionTestService(env, catalog, redis, new RedisKeys(prefix));
  }, 60_000);

  afterAll(async () => {
    catalog?.onApplicationShutdown();
    await service?.onApplicationShutdown();
    redis?.disconnect();
    await ds?.destroy().catch(() => undefined);
    await relay.down();
    await dropSchema(schema);
    provider.closeAllConnections();
    await new Promise<void>((resolve) => provider.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('tests the provider as the catalog last read it', async () => {
    await relay.down();
    await expect(service.handle({ providerId: 'p1' })).resolves.toMatchObject({
      ok: true,
      result: { providerId: 'p1', routes: [{ route: 'direct', ok: true }] },
    });
  });
});

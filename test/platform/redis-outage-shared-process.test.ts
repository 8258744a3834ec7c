import { Global, Logger, Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BaseEnv, ENV, LocalReplies, LocalRepliesModule, RedisModule, type SharedProcess } from '@aigw/platform';
import { freePort, waitFor } from '@aigw/testing';

@Global()
@Module({})
class TestEnvModule {
  static forRoot(env: BaseEnv): DynamicModule {
    return { module: TestEnvModule, providers: [{ provide: ENV, useValue: env }], exports: [ENV] };
  }
}

/** One app's Redis wiring (its own connections and outage reports), as every app's root module builds it. */
async function app(env: BaseEnv, shared: SharedProcess | undefined, name: string): Promise<INestApplicationContext> {
  @Module({ imports: [TestEnvModule.forRoot(env), LocalRepliesModule.forRoot(shared, name), RedisModule] })
  class Root {}
  return NestFactory.createApplicationContext(Root, { logger: false });
}

/**
 * A single process (ADR 0010) hosts the api-gateway, a router-worker and the health-monitor, each with its own Redis
 * connections and its own outage tracking: each logs the start and the end of an outage. Those lines used to be
 * the same words from every app ("Redis unavailable" twice or three times per outage): each says which app it is.
 */
describe('Redis outage lines of the apps of one process', () => {
  const lines: string[] = [];
  const apps: INestApplicationContext[] = [];

  beforeAll(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
      lines.push(String(message));
    });
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    jest.restoreAllMocks();
  });

  it('name the app in a shared process, once per app and outage; an app alone logs as before', async () => {
    const env = Object.assign(new BaseEnv(), { REDIS_URL: `redis://127.0.0.1:${await freePort()}/0` });
    const shared: SharedProcess = { replies: new LocalReplies() };
    apps.push(await app(env, shared, 'api-gateway'), await app(env, shared, 'router-worker'));
    apps.push(await app(env, undefined, 'health-monitor'));

    await waitFor(() => lines.filter((l) => l.includes('Redis unavailable')).length >= 3, {
      timeoutMs: 10_000,
      message: 'not every app reported the outage',
    });
    // Reconnection attempts go on: still one line per app.
    await new Promise((r) => setTimeout(r, 500));
    const outages = lines.filter((l) => l.includes('Redis unavailable')).sort();
    expect(outages).toEqual([
      expect.stringMatching(/^Redis unavailable \(connection: .*ECONNREFUSED/),
      expect.stringMatching(/^api-gateway: Redis unavailable \(connection: /),
      expect.stringMatching(/^router-worker: Redis unavailable \(connection: /),
    ]);
  });
});

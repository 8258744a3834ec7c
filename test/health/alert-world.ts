import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseCatalog, type Catalog } from '@aigw/core';
import {
  CatalogStore,
  ProviderHealthStore,
  runMigrationsLocked,
  SecretBox,
  type HealthSubject,
  type RecordedHealth,
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
import type { ProbedRoute, Prober } from '../../apps/health-monitor/src/health/prober';
import { quiet } from '../gateway/cache-fixtures';
import { dropSchema, openDataSource, uniqueSchema } from '../entities/pg';

const YAML = `
providers:
  - id: p1
    kind: openai
    baseUrl: http://127.0.0.1:1/v1
    models:
      - { name: m1, promptPer1k: 0, completionPer1k: 0, contextWindow: 1000 }
`;

/** What a probe of a provider's only route saw. */
export function probed(ok: boolean): ProbedRoute[] {
  return [
    {
      check: {
        route: 'direct',
        ok,
        latencyMs: 5,
        status: ok ? 200 : null,
        errorClass: ok ? null : 'network',
        message: ok ? null : 'connection_refused: nothing accepts connections',
      },
      probe: { route: 'direct', ok, latencyMs: 5 },
    },
  ];
}

/** A monitor's alerts that die (as a SIGKILL would) right after a `failing` status was committed, before queueing. */
export const dyingAlerts = {
  onRecorded: (_s: HealthSubject, health: RecordedHealth) =>
    health.status === 'failing' ? Promise.reject(new Error('SIGKILL')) : Promise.resolve(),
} as unknown as Alerts;

/** A replica of the monitor started on the world: its queue (alerts and probes), its alerts and its jobs. */
export interface AlertReplica {
  queue: HealthQueue;
  alerts: Alerts;
  jobs: HealthJobs;
}

/**
 * The world of the alert tests: real PostgreSQL (a schema of its own, migrated, one provider `p1` seeded), real
 * Redis (a prefix of its own) and a loopback webhook answering with `webhook`. Registers its own `beforeAll` and
 * `afterAll`: call it in a `describe`. Fields are set once `beforeAll` ran.
 */
export class AlertWorld {
  readonly prefix: string;
  readonly keys: RedisKeys;
  readonly errors = new RedisErrors(quiet);
  env!: MonitorEnv;
  ds!: DataSource;
  store!: ProviderHealthStore;
  catalog!: Catalog;
  redis!: Redis;
  private readonly queues: HealthQueue[] = [];

  constructor(name: string, failureThreshold: number, webhook: RequestListener) {
    const schema = uniqueSchema(name);
    this.prefix = uniqueId(name);
    this.keys = new RedisKeys(this.prefix);
    const server = createServer(webhook);

    beforeAll(async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.env = {
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: this.prefix,
        HEALTH_CONCURRENCY: 2,
        ALERT_CONCURRENCY: 2,
        ALERT_WEBHOOK_TIMEOUT_MS: 5000,
        ALERT_WEBHOOK_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
        HEALTH_FAILURE_THRESHOLD: failureThreshold,
        HEALTH_SLOW_MS: 1000,
        HEALTH_WINDOW: 5,
        HEALTH_INTERVAL_S: 300,
        PROBE_TIMEOUT_MS: 10_000,
      } as MonitorEnv;
      this.ds = await openDataSource(schema);
      await runMigrationsLocked(this.ds, () => undefined);
      this.catalog = parseCatalog(YAML, {});
      await new CatalogStore(this.ds, SecretBox.fromEnv(undefined, 'test').box).seed(this.catalog);
      this.store = new ProviderHealthStore(this.ds);
      this.redis = createRedis(TEST_REDIS_URL, `${this.prefix}:test`, this.errors);
    });

    afterAll(async () => {
      for (const queue of this.queues) {
        await queue.onApplicationShutdown();
      }
      if (this.redis !== undefined) {
        const stale = await this.redis.keys(`*${this.prefix}*`);
        if (stale.length > 0) {
          await this.redis.del(...stale);
        }
        this.redis.disconnect();
      }
      await this.ds?.destroy();
      await dropSchema(schema);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
  }

  /** A monitor process whose probes of p1 answer `ok()`; `alerts` is what it raises alerts with. */
  monitor(alerts: Alerts, ok: () => boolean = () => false): HealthJobs {
    const catalog = this.catalog;
    const catalogService = {
      current: catalog,
      provider: (id: string) => catalog.providers.find((p) => p.id === id),
    } as unknown as CatalogService;
    const prober = { probeProvider: () => Promise.resolve(probed(ok())) } as unknown as Prober;
    const metrics = new MonitorMetrics(new Registry(), this.store, catalogService);
    return new HealthJobs(
      this.env,
      catalogService,
      this.store,
      {} as UsageRetentionStore,
      prober,
      alerts,
      metrics,
      this.redis,
      this.keys,
      this.errors,
    );
  }

  /**
   * A monitor replica that runs its queues (stopped after the tests), its alerts recorded in `store` and their order
   * kept through `redis`.
   */
  replica(
    ok: () => boolean = () => false,
    store: ProviderHealthStore = this.store,
    redis: Redis = this.redis,
  ): AlertReplica {
    const queue = new HealthQueue(this.env, this.keys, this.errors);
    this.queues.push(queue);
    const metrics = new MonitorMetrics(new Registry(), this.store, {} as CatalogService);
    const alerts = new Alerts(this.env, queue, metrics, redis, this.keys, store);
    const jobs = this.monitor(alerts, ok);
    queue.start(jobs.process);
    return { queue, alerts, jobs };
  }
}

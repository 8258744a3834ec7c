import { Logger } from '@nestjs/common';
import { createDataSourceOptions } from '@aigw/entities';
import { GovernanceKeys } from '@aigw/governance';
import { MigratedDatabase, RedisErrors, RedisKeys, type RedisOp } from '@aigw/platform';
import { deleteRedisKeysOf, TEST_DATABASE_URL, TEST_REDIS_URL, uniqueId } from '@aigw/testing';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { QuotaRebuilder, REBUILD_RETRY_MS } from '../../apps/api-gateway/src/admission/quota-rebuilder';
import { TcpProxy } from '../worker/tcp-proxy';

/**
 * Redis lost the quota counters while PostgreSQL, which they are rebuilt from, is down: the rebuild fails, and
 * says so as PostgreSQL's failure. It used to be reported as a Redis outage ("Redis unavailable (quota_rebuild:
 * connect ECONNREFUSED <PostgreSQL's address>)" and aigw_redis_errors_total{op="quota_rebuild"}), with Redis fine.
 */
describe('QuotaRebuilder while PostgreSQL is down', () => {
  const prefix = uniqueId('qrpg');
  const target = new URL(TEST_DATABASE_URL);
  const relay = new TcpProxy(target.hostname, Number(target.port || 5432));
  const redisLines: string[] = [];
  const reported: RedisOp[] = [];
  const errors = new RedisErrors(
    { warn: (line: string) => void redisLines.push(line), log: () => undefined },
    { inc: ({ op }) => void reported.push(op) },
  );
  let redis: Redis;
  let ds: DataSource;

  beforeAll(async () => {
    await relay.up();
    const url = new URL(TEST_DATABASE_URL);
    url.hostname = '127.0.0.1';
    url.port = String(relay.port);
    ds = await new DataSource(
      createDataSourceOptions({ url: url.toString(), schema: 'public', poolSize: 1 }),
    ).initialize();
    redis = new Redis(TEST_REDIS_URL);
  });

  afterAll(async () => {
    await deleteRedisKeysOf(redis, prefix);
    await redis.quit();
    await ds.destroy().catch(() => undefined);
    await relay.down();
  });

  it('reports no Redis failure, and leaves the counters to rebuild later', async () => {
    const rebuilder = new QuotaRebuilder(redis, new RedisKeys(prefix), new MigratedDatabase(ds), errors);
    await relay.down();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      await rebuilder.trigger();
      // It got as far as PostgreSQL (the lock was taken), and says so.
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('quota counters not rebuilt (usage_records not read)'));
    } finally {
      warn.mockRestore();
    }
    expect(await redis.exists(new GovernanceKeys(prefix).epoch)).toBe(0);
    expect(reported).toEqual([]);
    expect(redisLines).toEqual([]);
  });

  it('starts no new rebuild (nor warning) for each request while it keeps failing: one per REBUILD_RETRY_MS', async () => {
    const rebuilder = new QuotaRebuilder(redis, new RedisKeys(prefix), new MigratedDatabase(ds), errors);
    await relay.down();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const start = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(start);
    try {
      await rebuilder.trigger();
      expect(warn).toHaveBeenCalledTimes(1);
      // The requests of the next second wait for nothing and try nothing.
      clock.mockReturnValue(start + REBUILD_RETRY_MS - 1);
      await Promise.all([rebuilder.trigger(), rebuilder.trigger(), rebuilder.trigger()]);
      expect(warn).toHaveBeenCalledTimes(1);
      clock.mockReturnValue(start + REBUILD_RETRY_MS + 10);
      await rebuilder.trigger();
      expect(warn).toHaveBeenCalledTimes(2);
    } finally {
      clock.mockRestore();
      warn.mockRestore();
    }
    expect(await redis.exists(new GovernanceKeys(prefix).epoch)).toBe(0);
  });
});

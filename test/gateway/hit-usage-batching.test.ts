import { QueueName, USAGE_SHIP_AT_EVENTS, type UsageBatch, type UsageEvent } from '@aigw/core';
import { createRedis, RedisErrors, RedisFinalWrites, RedisKeys, type RedisOp } from '@aigw/platform';
import { PrivateRedis, uniqueId, waitFor } from '@aigw/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { GatewayEnv } from '../../apps/api-gateway/src/config/gateway-env';
import { GenerationQueue } from '../../apps/api-gateway/src/generation/generation-queue';
import { UsageQueue } from '../../apps/api-gateway/src/generation/usage-queue';
import { quiet } from './cache-fixtures';

function hit(requestId: string): UsageEvent {
  return {
    requestId,
    userId: 'u',
    apiKeyId: 'k',
    requestedModel: 'm',
    provider: null,
    model: null,
    context: null,
    promptTokens: 1,
    completionTokens: 2,
    cachedTokens: 0,
    costUsd: 0,
    costSavedUsd: 0.001,
    latencyMs: 1,
    cached: true,
    status: 'success',
    errorClass: null,
    errorCode: null,
    attempts: 0,
    policy: null,
    stream: false,
    createdAt: new Date().toISOString(),
  };
}

/**
 * The gateway's response-cache hits share usage jobs: one waits at most USAGE_LINGER_MS, USAGE_SHIP_AT_EVENTS ship
 * at once, shutdown ships what waits. Each case has a Redis of its own (its jobs are the case's alone).
 */
describe('UsageQueue: cache-hit usage events in shared jobs', () => {
  const server = new PrivateRedis();
  const reported: RedisOp[] = [];
  let admin: Redis;
  const opened: { finalWrites: RedisFinalWrites; usage: UsageQueue; cmd: Redis; jobs: Queue<UsageBatch> }[] = [];

  function rig(lingerMs: number) {
    const prefix = uniqueId('hits');
    const errors = new RedisErrors(quiet, { inc: ({ op }) => void reported.push(op) });
    const keys = new RedisKeys(prefix);
    const cmd = createRedis(server.url, `${prefix}:cmd`, errors, { corkPerTurn: true });
    const env = { REDIS_URL: server.url, REDIS_PREFIX: prefix, USAGE_LINGER_MS: lingerMs } as GatewayEnv;
    const finalWrites = new RedisFinalWrites();
    const generation = new GenerationQueue(env, keys, errors, cmd, finalWrites);
    const usage = new UsageQueue(generation, keys, errors, env, finalWrites);
    const jobs = new Queue<UsageBatch>(QueueName.Usage, {
      connection: admin,
      prefix: keys.bullPrefix,
      skipMetasUpdate: true,
    });
    const parts = { finalWrites, usage, cmd, jobs };
    opened.push(parts);
    return parts;
  }

  const batches = async (jobs: Queue<UsageBatch>): Promise<string[][]> =>
    (await jobs.getWaiting(0, -1))
      .sort((a, b) => Number(a.id) - Number(b.id))
      .map((j) => j.data.events.map((e) => e.requestId));

  beforeAll(async () => {
    await server.start();
    admin = new Redis(server.url);
  }, 30_000);

  afterAll(async () => {
    for (const { finalWrites, cmd, jobs } of opened) {
      // What RedisModule does on shutdown (a no-op for the cases that ran it already).
      await finalWrites.run();
      await jobs.close();
      cmd.disconnect();
    }
    admin.disconnect();
    await server.stop();
  });

  it('puts the hits of one linger in one job, after the linger', async () => {
    // Long enough that the first look below comes before it ends, however slow the machine.
    const { usage, jobs } = rig(2000);
    for (const id of ['a', 'b', 'c']) {
      usage.record(hit(id));
    }
    expect(await batches(jobs)).toEqual([]);
    await waitFor(async () => (await batches(jobs)).length > 0, { message: 'no usage job after the linger' });
    expect(await batches(jobs)).toEqual([['a', 'b', 'c']]);
  });

  it('ships USAGE_SHIP_AT_EVENTS at once without waiting out the linger', async () => {
    const { usage, jobs, finalWrites } = rig(60_000);
    const ids = Array.from({ length: USAGE_SHIP_AT_EVENTS + 1 }, (_, i) => `e${i}`);
    for (const id of ids) {
      usage.record(hit(id));
    }
    await waitFor(async () => (await batches(jobs)).length > 0, { message: 'a full batch waited' });
    expect(await batches(jobs)).toEqual([ids.slice(0, USAGE_SHIP_AT_EVENTS)]);
    // The one left ships on shutdown (REDIS's final writes), before the producer connection closes.
    await finalWrites.run();
    expect(await batches(jobs)).toEqual([ids.slice(0, USAGE_SHIP_AT_EVENTS), [ids[USAGE_SHIP_AT_EVENTS]]]);
  });

  it('with no linger, ships each hit at once', async () => {
    const { usage, jobs } = rig(0);
    usage.record(hit('x'));
    usage.record(hit('y'));
    await waitFor(async () => (await batches(jobs)).length === 2, { message: 'hits not shipped' });
    expect(await batches(jobs)).toEqual([['x'], ['y']]);
  });

  it('reports a refused job and never throws to the request', async () => {
    const { usage, jobs } = rig(0);
    await admin.config('SET', 'maxmemory', '1');
    try {
      expect(() => usage.record(hit('refused'))).not.toThrow();
      await waitFor(() => Promise.resolve(reported.includes('usage_enqueue')), { message: 'refusal not reported' });
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    expect(await batches(jobs)).toEqual([]);
  });
});

import { ErrorCode, GatewayError, QueueName, type GenerationRequest } from '@aigw/core';
import { createRedis, RedisErrors, RedisFinalWrites, RedisKeys, type RedisOp } from '@aigw/platform';
import { PrivateRedis, uniqueId, waitFor } from '@aigw/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { GatewayEnv } from '../../apps/api-gateway/src/config/gateway-env';
import { GenerationQueue } from '../../apps/api-gateway/src/generation/generation-queue';
import { quiet } from './cache-fixtures';

/**
 * The gateway's producer sends the jobs of one event-loop turn in one socket write (TurnCork), each add keeping its
 * own job id, idempotency and failure. A Redis of the test's own: its read counter and memory limit are the test's.
 */
describe('GenerationQueue: adds of one turn in one write', () => {
  const server = new PrivateRedis();
  const prefix = uniqueId('batch');
  const reported: RedisOp[] = [];
  const finalWrites = new RedisFinalWrites();
  let queue: GenerationQueue;
  let cmd: Redis;
  let admin: Redis;
  let jobs: Queue;

  function request(id: string): GenerationRequest {
    const now = Date.now();
    return {
      requestId: id,
      model: 'sim-gpt',
      messages: [{ role: 'user', content: `hello ${id}` }],
      options: {},
      stream: false,
      userId: 'u',
      apiKeyId: 'k',
      receivedAt: now,
      deadlineAt: now + 30_000,
    };
  }

  const add = (id: string): Promise<void> =>
    queue.add(request(id), { jobId: id, replyTo: `${prefix}:reply:x`, retention: { keepOutcomeMs: 0 } });

  async function readsProcessed(): Promise<number> {
    const info = await admin.info('stats');
    return Number(/^total_reads_processed:(\d+)/m.exec(info)?.[1]);
  }

  beforeAll(async () => {
    await server.start();
    const errors = new RedisErrors(quiet, { inc: ({ op }) => void reported.push(op) });
    const keys = new RedisKeys(prefix);
    cmd = createRedis(server.url, `${prefix}:cmd`, errors, { corkPerTurn: true });
    const env = { REDIS_URL: server.url, REDIS_PREFIX: prefix } as GatewayEnv;
    queue = new GenerationQueue(env, keys, errors, cmd, finalWrites);
    admin = new Redis(server.url);
    jobs = new Queue(QueueName.Generation, { connection: admin, prefix: keys.bullPrefix, skipMetasUpdate: true });
    // The producer connection is ready once an add went through.
    await waitFor(async () => add(uniqueId('req')).then(() => true));
  }, 30_000);

  afterAll(async () => {
    await jobs.close();
    // What RedisModule does on shutdown: the producer connection closes with the final writes.
    await finalWrites.run();
    cmd.disconnect();
    admin.disconnect();
    await server.stop();
  });

  it('sends the adds of one turn in one write; every job is stored under its own id', async () => {
    const ids = Array.from({ length: 30 }, () => uniqueId('req'));
    const before = await readsProcessed();
    await Promise.all(ids.map(add));
    // 30 adds (~1 KB each) in one write: Redis reads them 16 KB at a time, plus our INFO (measured 2-3; a write
    // per add gave 8-9, Redis catching several per read).
    expect((await readsProcessed()) - before).toBeLessThanOrEqual(4);
    for (const id of ids) {
      expect((await jobs.getJob(id))?.data.request.requestId).toBe(id);
    }
  });

  it('keeps idempotency within one write: the same id twice is one job', async () => {
    const id = uniqueId('idem');
    await Promise.all([add(id), add(id)]);
    const waiting = await jobs.getWaiting(0, -1);
    expect(waiting.filter((j) => j.id === id)).toHaveLength(1);
  });

  it('fails each add of the write on its own when Redis refuses, and takes adds again afterwards', async () => {
    await admin.config('SET', 'maxmemory', '1');
    try {
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => add(uniqueId('req'))));
      for (const r of results) {
        expect(r.status).toBe('rejected');
        const err = (r as PromiseRejectedResult).reason as GatewayError;
        expect(err).toBeInstanceOf(GatewayError);
        expect(err.code).toBe(ErrorCode.ServiceUnavailable);
      }
      expect(reported.filter((op) => op === 'enqueue')).toHaveLength(5);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    const id = uniqueId('req');
    await add(id);
    expect(await jobs.getJob(id)).toBeDefined();
  });
});

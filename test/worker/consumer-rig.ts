import { JobName, QueueName, type GenerateOutcome } from '@aigw/core';
import { RedisErrors, RedisKeys } from '@aigw/platform';
import { PrivateRedis, uniqueId } from '@aigw/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QueueConsumer, type ConsumerOptions } from '../../apps/router-worker/src/queue/consumer';
import { QueueProcessor, type GenerateAnswer } from '../../apps/router-worker/src/queue/queue-processor';

const quiet = { warn: (): void => undefined, log: (): void => undefined };

/**
 * Socket reads the rig's own Redis has made so far: one per write a client sent it (the consumer's, and the test's
 * own polls). Counted there rather than as this process's write system calls, which also count whatever else the
 * process writes meanwhile (Jest's transform cache on a first run).
 */
export async function redisReads(rig: ConsumerRig): Promise<number> {
  return Number(/^total_reads_processed:(\d+)/m.exec(await rig.admin.info('stats'))?.[1]);
}

/** An outcome for jobs whose result does not matter to the test. */
export const anyOutcome: GenerateOutcome = {
  ok: false,
  error: { message: 'm', type: 'provider_error', code: 'provider_error' as never, param: null },
};

/**
 * A generation queue on a Redis of the test's own (so its command counts and write counts are the consumers'
 * alone), with an admin connection, a Queue to add jobs and the QueueConsumers the test starts.
 */
export class ConsumerRig {
  readonly server = new PrivateRedis();
  readonly keys: RedisKeys;
  admin!: Redis;
  queue!: Queue;
  private readonly consumers: QueueConsumer[] = [];

  constructor(name: string) {
    this.keys = new RedisKeys(uniqueId(name));
  }

  async start(): Promise<void> {
    await this.server.start();
    this.admin = new Redis(this.server.url);
    this.queue = new Queue(QueueName.Generation, { connection: this.admin, prefix: this.keys.bullPrefix });
  }

  /**
   * A consumer whose generate jobs end with what `handle` resolves to (not started: call `start()` on it), connected
   * to `url` (this rig's Redis, or a relay in front of it).
   */
  consumer(
    handle: () => Promise<GenerateOutcome>,
    options: Omit<ConsumerOptions, 'logFailedJobs'>,
    url = this.server.url,
  ): QueueConsumer {
    const generate = async (): Promise<GenerateAnswer> => ({ outcome: await handle(), usage: { errorCode: null } });
    const processor = new QueueProcessor(QueueName.Generation, { [JobName.Generate]: generate }, () => undefined);
    const consumer = new QueueConsumer(url, this.keys, new RedisErrors(quiet), processor, {
      ...options,
      logFailedJobs: false,
    });
    this.consumers.push(consumer);
    return consumer;
  }

  /** A key of the generation queue (`marker`, `completed`, ...). */
  key(name: string): string {
    return `${this.keys.bullPrefix}:${QueueName.Generation}:${name}`;
  }

  async stop(): Promise<void> {
    await Promise.all(this.consumers.map((c) => c.close()));
    await this.queue.close();
    this.admin.disconnect();
    await this.server.stop();
  }
}

/**
 * A rig with one started consumer whose jobs complete at once; registers the suite's beforeAll and afterAll.
 */
export function runningConsumer(name: string, options: Omit<ConsumerOptions, 'logFailedJobs'>): ConsumerRig {
  const rig = new ConsumerRig(name);
  beforeAll(async () => {
    await rig.start();
    rig.consumer(() => Promise.resolve(anyOutcome), options).start();
  }, 30_000);
  afterAll(() => rig.stop());
  return rig;
}

/**
 * A rig with one consumer of `concurrency` slots (not started) whose jobs all wait for `release()`; registers the
 * suite's beforeAll and afterAll.
 */
export function gatedConsumer(
  name: string,
  concurrency: number,
): { rig: ConsumerRig; consumer: () => QueueConsumer; release: () => void } {
  const rig = new ConsumerRig(name);
  let consumer!: QueueConsumer;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));

  beforeAll(async () => {
    await rig.start();
    consumer = rig.consumer(() => gate.then(() => anyOutcome), { concurrency });
  }, 30_000);

  afterAll(async () => {
    release();
    await rig.stop();
  });

  return { rig, consumer: () => consumer, release: () => release() };
}

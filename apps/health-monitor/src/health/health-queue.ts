import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { HealthJobName, merged, QueueName, type HealthJobMap } from '@aigw/core';
import {
  bullOptions,
  closeRedis,
  createRedis,
  describeError,
  ENV,
  ReadinessChecks,
  ReadinessProblem,
  RedisErrors,
  RedisKeys,
} from '@aigw/platform';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { MonitorEnv } from '../config/monitor-env';

export type HealthJob = Job<HealthJobMap[HealthJobName], void, HealthJobName>;

type HealthWorker = Worker<HealthJobMap[HealthJobName], void, HealthJobName>;

/**
 * Housekeeping jobs, which may rightly run for minutes (deletes in batches over a large history): a slot they hold
 * never counts toward a stall (`HealthQueue.problem`).
 */
const HOUSEKEEPING: ReadonlySet<string> = new Set([HealthJobName.PruneHistory, HealthJobName.PruneUsage]);

/** The monitor's readiness check of its probe workers (`HealthQueue.problem`), beside `redis` and `database`. */
export const PROBES_READINESS = 'health-probes';

/** Margin over the longest a job's calls may take, for its reads and writes (PostgreSQL, Redis). */
const STALL_MARGIN_MS = 10_000;

/** One queue's worker and what readiness reads of it (no Redis round trip). */
interface Consumer {
  label: string;
  worker: HealthWorker;
  connection: Redis;
  concurrency: number;
  /** Every slot held this long without a job starting or ending: stalled. */
  stallAfterMs: number;
  slots: Slots;
}

interface Slots {
  /** Jobs in the processor now, and how many of them are housekeeping. */
  active: number;
  housekeeping: number;
  /** `performance.now()` when a job last started or ended (or the worker started). */
  progressAt: number;
}

/** BullMQ keeps a worker's blocking connection (a duplicate of ours) private; its status is read, never used. */
interface WithBlockingConnection {
  blockingConnection?: { client: Promise<{ status: string }> };
}

/**
 * The health queue: job schedulers add a probe per provider per interval, and whichever monitor replica takes it
 * runs it (once: a BullMQ job goes to one worker). Alert deliveries go on a queue of their own (`alerts`), taken by
 * a worker of their own with ALERT_CONCURRENCY slots: a webhook that answers slowly (or not at all, until
 * ALERT_WEBHOOK_TIMEOUT_MS) holds those, never the HEALTH_CONCURRENCY slots the probes run in. The queue handles
 * and each worker have connections of their own (a worker blocks; BullMQ's scripts would make every pipeline on the
 * shared connection copy them all).
 */
@Injectable()
export class HealthQueue implements OnApplicationShutdown {
  private readonly logger = new Logger('HealthQueue');
  readonly queue: Queue<HealthJobMap[HealthJobName], void, HealthJobName>;
  /** Alert deliveries (HealthJobName.SendAlert only). */
  readonly alerts: Queue<HealthJobMap[HealthJobName], void, HealthJobName>;
  private readonly producer: Redis;
  private consumers: Consumer[] = [];
  /** Whether the workers were started (`start`), and whether the app is shutting them down. */
  private phase: 'before' | 'running' | 'stopping' = 'before';

  constructor(
    @Inject(ENV) private readonly env: MonitorEnv,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
    // Where `/health/ready` finds the check of the probe workers (absent: a queue built on its own, in tests).
    readiness?: ReadinessChecks,
  ) {
    if (env.HEALTH_PROBES_ENABLED) {
      readiness?.add(PROBES_READINESS, () => this.ready());
    }
    this.producer = createRedis(env.REDIS_URL, `${keys.prefix}:health-producer`, errors);
    this.queue = new Queue(QueueName.Health, bullOptions(this.producer, keys));
    errors.watch(this.queue);
    this.alerts = new Queue(QueueName.HealthAlerts, bullOptions(this.producer, keys));
    errors.watch(this.alerts);
  }

  /**
   * Starts taking jobs of both queues; `process` runs each (a rejection fails the job: BullMQ retries it when it has
   * attempts), with the job's lock token (for `moveToDelayed`). A delivery queued on the health queue by an older
   * release is still run there.
   */
  start(process: (job: HealthJob, token?: string) => Promise<void>): void {
    this.phase = 'running';
    this.consumers = [
      // A probe's routes answer within PROBE_TIMEOUT_MS; a discovery reads at most two lists one after the other.
      this.consume(
        QueueName.Health,
        'health-worker',
        this.env.HEALTH_CONCURRENCY,
        3 * this.env.PROBE_TIMEOUT_MS,
        process,
      ),
      this.consume(
        QueueName.HealthAlerts,
        'health-alert-worker',
        this.env.ALERT_CONCURRENCY,
        3 * this.env.ALERT_WEBHOOK_TIMEOUT_MS,
        process,
      ),
    ];
  }

  /**
   * Why this monitor cannot run its probes now, or null when it can (what `/health/ready` says of it, once scheduled
   * probes are on): its workers were not started yet or are closing, one stopped taking jobs (its run loop ended),
   * one's Redis connections (its own, and BullMQ's blocking one) are not ready, or one is stalled: every slot held by
   * jobs none of which started or ended for longer than any job of its queue may rightly take (three times its
   * calls' timeout and a margin; housekeeping excepted), as when each waits on a PostgreSQL lock or a call that
   * ignores its timeout. A busy monitor is not stalled: its slots turn over. Reads state only: no Redis round trip.
   */
  async problem(): Promise<string | null> {
    if (this.phase !== 'running') {
      return this.phase === 'before' ? 'probe workers not started yet' : 'probe workers stopping';
    }
    const now = performance.now();
    for (const c of this.consumers) {
      const { worker } = c;
      if (!worker.isRunning() || worker.closing !== undefined) {
        return `${c.label}: not taking jobs (${worker.closing === undefined ? 'stopped' : 'closing'})`;
      }
      // Its client as soon as it has one (never waiting for a connection still being made: that reads as none).
      const client = (worker as unknown as WithBlockingConnection).blockingConnection?.client;
      const blocking =
        client === undefined ? null : await Promise.race([client, Promise.resolve(null)]).catch(() => null);
      for (const [which, status] of [
        ['connection', c.connection.status],
        ['blocking connection', blocking?.status ?? 'unavailable'],
      ]) {
        if (status !== 'ready') {
          return `${c.label}: Redis ${which} ${status}`;
        }
      }
      const { active, housekeeping, progressAt } = c.slots;
      const idleMs = now - progressAt;
      if (active >= c.concurrency && housekeeping === 0 && idleMs > c.stallAfterMs) {
        return `${c.label}: stalled, all ${c.concurrency} slots held for ${Math.round(idleMs / 1000)} s without a job ending`;
      }
    }
    return null;
  }

  /** Rejects with `problem()` when there is one: the readiness check `health-probes`. */
  async ready(): Promise<void> {
    const problem = await this.problem();
    if (problem !== null) {
      throw new ReadinessProblem(problem);
    }
  }

  private consume(
    queue: QueueName,
    label: string,
    concurrency: number,
    longestCallsMs: number,
    process: (job: HealthJob, token?: string) => Promise<void>,
  ): Consumer {
    const connection = createRedis(this.env.REDIS_URL, `${this.keys.prefix}:${label}`, this.errors, {
      blocking: true,
    });
    const slots: Slots = { active: 0, housekeeping: 0, progressAt: performance.now() };
    const tracked = async (job: HealthJob, token?: string): Promise<void> => {
      const housekeeping = HOUSEKEEPING.has(job.name) ? 1 : 0;
      slots.active++;
      slots.housekeeping += housekeeping;
      slots.progressAt = performance.now();
      try {
        await process(job, token);
      } finally {
        slots.active--;
        slots.housekeeping -= housekeeping;
        slots.progressAt = performance.now();
      }
    };
    const worker: HealthWorker = new Worker<HealthJobMap[HealthJobName], void, HealthJobName>(
      queue,
      tracked,
      merged(bullOptions(connection, this.keys), {
        concurrency,
        name: `${hostname()}:${globalThis.process.pid}`,
        autorun: false,
      }),
    );
    this.errors.watch(worker);
    worker.on('failed', (job, err) => {
      if (job) {
        this.logger.warn(`job ${job.name} ${job.id ?? ''} failed (attempt ${job.attemptsMade}): ${describeError(err)}`);
      }
    });
    worker.run().catch((err: unknown) => this.logger.error(`${queue} worker stopped: ${describeError(err)}`));
    return { label, worker, connection, concurrency, stallAfterMs: longestCallsMs + STALL_MARGIN_MS, slots };
  }

  /**
   * Stops taking jobs and lets the running ones finish (probes are bounded by PROBE_TIMEOUT_MS, deliveries by
   * ALERT_WEBHOOK_TIMEOUT_MS).
   */
  async onApplicationShutdown(): Promise<void> {
    const consumers = this.consumers;
    this.consumers = [];
    this.phase = 'stopping';
    await Promise.all(
      consumers.map(async ({ worker, connection }) => {
        try {
          await worker.close(connection.status !== 'ready');
        } finally {
          await closeRedis(connection);
        }
      }),
    );
    await this.alerts.close();
    await this.queue.close();
    await closeRedis(this.producer);
  }
}

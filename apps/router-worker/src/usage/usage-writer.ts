import { Inject, Injectable, Logger } from '@nestjs/common';
import { JobName, QueueName, UsageBatcher } from '@aigw/core';
import { databaseUnavailable, UsageStore } from '@aigw/entities';
import { DelayedError } from 'bullmq';
import { describeError, ENV, RedisErrors, RedisKeys, MigratedDatabase } from '@aigw/platform';
import type { WorkerEnv } from '../config/worker-env';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { QueueConsumer } from '../queue/consumer';
import { QueueProcessor } from '../queue/queue-processor';
import { usageBackoffStrategy, usageRetryDelayMs } from './usage-backoff';
import type { JobOf } from '../queue/queue-processor';

/**
 * While PostgreSQL is down every batch fails; one log line per interval is enough (the first failure of an outage is
 * always logged, and its end once: see UsageWriter.outage).
 */
const FAILURE_LOG_INTERVAL_MS = 10_000;
/** Usage jobs are idempotent (the insert skips known request ids), so a worker dying under them may repeat often. */
const USAGE_MAX_STALLED = 1000;

/**
 * The usage writer: consumes `record-usage` jobs with high concurrency and writes them in batches (one
 * multi-row INSERT each). A job completes only once its row is written; when the insert fails, every job of
 * the batch fails and the queue retries it with a capped backoff, so no record is lost while PostgreSQL is down.
 * A failure that says PostgreSQL is unreachable delays the job instead, which spends none of its attempts: they are
 * finite, and a job past them stays failed in Redis, its events never written, were the outage long enough.
 */
@Injectable()
export class UsageWriter {
  private readonly logger = new Logger(UsageWriter.name);
  private readonly batcher: UsageBatcher;
  private consumer?: QueueConsumer;
  private lastFailureLogAt = 0;
  /** Batches failed since the last one written: the backoff of jobs delayed by an outage (they keep no count). */
  private failuresInARow = 0;
  /**
   * When the batches began failing (the first failure since the last batch written), which the line saying they are
   * written again names; undefined while they are written.
   */
  private failingSince?: Date;

  constructor(
    @Inject(ENV) private readonly env: WorkerEnv,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
    private readonly metrics: WorkerMetrics,
    db: MigratedDatabase,
  ) {
    const store = new UsageStore(db.dataSource);
    this.batcher = new UsageBatcher((events) => store.insertBatch(events), {
      maxBatch: env.USAGE_BATCH_SIZE,
      flushMs: env.USAGE_FLUSH_MS,
      onWritten: (inserted) => {
        this.onWritten();
        metrics.usageWritten.inc(inserted);
      },
      onFailed: (err, size) => this.onFailed(err, size),
    });
  }

  /** Starts taking usage jobs (WorkerLifecycle.consume). */
  start(): void {
    if (this.consumer !== undefined) {
      return;
    }
    const processor = new QueueProcessor(
      QueueName.Usage,
      { [JobName.RecordUsage]: (job, token) => this.record(job, token) },
      this.metrics.observeJob,
    );
    this.consumer = new QueueConsumer(this.env.REDIS_URL, this.keys, this.errors, processor, {
      concurrency: this.env.USAGE_CONCURRENCY,
      maxStalledCount: USAGE_MAX_STALLED,
      settings: { backoffStrategy: usageBackoffStrategy },
      // A PostgreSQL outage fails every job of every batch; onFailed reports it once per interval.
      logFailedJobs: false,
    });
    this.consumer.start();
  }

  /** Stops taking jobs, writes what is buffered, waits for the jobs held. */
  async close(): Promise<void> {
    const consumer = this.consumer;
    if (!consumer) {
      return;
    }
    this.consumer = undefined;
    const closing = consumer.close();
    await this.batcher.flush();
    await closing;
  }

  private async record(job: JobOf<JobName.RecordUsage>, token?: string): Promise<void> {
    try {
      await this.batcher.addAll(job.data.events);
    } catch (err) {
      if (token === undefined || !databaseUnavailable(err)) {
        throw err;
      }
      await job.moveToDelayed(Date.now() + usageRetryDelayMs(this.failuresInARow), token);
      throw new DelayedError();
    }
  }

  /**
   * Once per outage, at the first batch written after failed ones: without it the log's last word on the usage records
   * was that they are not written, and an operator could not tell an outage that ended from one still going on (as
   * the readiness check's "is back up" line). The next outage's first failure is logged at once, whatever the interval,
   * so that every "written again" line follows the failure it ends. A warning, as the failure is: LOG_LEVEL=warn showed
   * the outage and hid its end.
   */
  private onWritten(): void {
    const since = this.failingSince;
    if (since !== undefined) {
      this.logger.warn(
        `usage batches are written again (failing since ${since.toISOString()}, ${this.failuresInARow} batch(es) ` +
          'failed meanwhile)',
      );
      this.failingSince = undefined;
      this.lastFailureLogAt = 0;
    }
    this.failuresInARow = 0;
  }

  private onFailed(err: unknown, size: number): void {
    this.failingSince ??= new Date();
    this.failuresInARow++;
    this.metrics.usageWriteFailures.inc();
    const now = Date.now();
    if (now - this.lastFailureLogAt >= FAILURE_LOG_INTERVAL_MS) {
      this.lastFailureLogAt = now;
      this.logger.warn(`usage batch of ${size} not written, will retry: ${describeError(err)}`);
    }
  }
}

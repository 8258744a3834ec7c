import { Inject, Injectable, Logger } from '@nestjs/common';
import { ErrorCode, JobName, QueueName, unrecordedFailureOf, type GenerateJobData } from '@aigw/core';
import { describeError, ENV, markWorkerLeaving, REDIS, RedisErrors, RedisKeys, ShutdownState } from '@aigw/platform';
import type { Redis } from 'ioredis';
import { CancellationRegistry } from '../cancel/cancellation-registry';
import type { WorkerEnv } from '../config/worker-env';
import { DrainDeadline } from '../lifecycle/drain-deadline';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { QueueConsumer } from '../queue/consumer';
import { QueueProcessor } from '../queue/queue-processor';
import { CircuitGuard } from '../routing/circuit-guard';
import { UsageRecorder } from '../usage/usage-recorder';
import { GenerateHandler } from './generate.handler';
import { Settlement } from './settlement';

/**
 * Consumes the generation queue once `start` is called (WorkerLifecycle.consume): after the app is fully up (catalog
 * loaded, migrations done) and, for a worker of its own, its ops port open.
 */
@Injectable()
export class GenerationConsumer {
  private readonly logger = new Logger(GenerationConsumer.name);
  private consumer?: QueueConsumer;

  constructor(
    @Inject(ENV) private readonly env: WorkerEnv,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly handler: GenerateHandler,
    private readonly cancellations: CancellationRegistry,
    private readonly drain: DrainDeadline,
    private readonly shutdown: ShutdownState,
    private readonly metrics: WorkerMetrics,
    private readonly circuits: CircuitGuard,
    private readonly settlement: Settlement,
    private readonly usage: UsageRecorder,
  ) {}

  start(): void {
    if (this.consumer !== undefined) {
      return;
    }
    const processor = new QueueProcessor(
      QueueName.Generation,
      { [JobName.Generate]: this.handler.handle },
      this.metrics.observeJob,
    );
    this.consumer = new QueueConsumer(this.env.REDIS_URL, this.keys, this.errors, processor, {
      concurrency: this.env.WORKER_CONCURRENCY,
      lockDuration: this.env.WORKER_LOCK_MS,
      stalledInterval: this.env.WORKER_STALLED_INTERVAL_MS,
      maxStalledCount: this.env.WORKER_MAX_STALLED_COUNT,
      logFailedJobs: true,
      // An idle worker's circuit read travels with its wake-up and fetch (CircuitReadAhead, LeanWorker).
      onWake: (via) => {
        const attach = this.circuits.readAhead(via);
        return attach === null ? null : (job) => attachToRequest(job.data, attach);
      },
      onFailedForGood: (job) => {
        const data = job.data as GenerateJobData;
        this.refundFailed(data);
        this.recordFailed(data);
      },
    });
    this.consumer.start();
  }

  /**
   * A generate job BullMQ failed for good (every run's processor threw, or its stalls ran out) handed in no outcome
   * and may have settled nothing: its reservation is given back here, by the worker that failed it, so that an async
   * job nobody reads does not keep it. Once (the settlement's marker: a no-op when a run settled it, or the gateway
   * that read the failure refunded it first), and not past its deadline, which the marker outlives by a minute only.
   * Only on this rare path: one script call per job failed for good.
   */
  private refundFailed(data: GenerateJobData): void {
    const request = data.request;
    if (request.reservation === undefined || Date.now() >= request.deadlineAt) {
      return;
    }
    const { requestId, deadlineAt, receivedAt } = request;
    this.settlement
      .settle(request.reservation, 0, 0, { id: requestId, deadlineAt, receivedAt })
      .catch((err: unknown) =>
        this.logger.warn(`failed job ${requestId}: reservation not given back: ${describeError(err)}`),
      );
  }

  /**
   * The usage row of an async job BullMQ failed for good: no run handed in an outcome, so none recorded it (the gateway
   * that answers a sync one 500 records that one). Recorded once, as a failure (`internal_error`, as its readers see it:
   * "The generation failed after N attempts"), no cost, no attempts of its own; a run that did record it keeps its row
   * (the writer skips a request id it holds). An Idempotency-Key re-run of the job is a request of its own (its own
   * request id): recorded as such. Without it, the analytics' requests and failures missed the job and a rebuild of
   * the quota counters dropped it from the day's requests. Only on this rare path: one usage event per job failed for
   * good, shipped with the others.
   */
  private recordFailed(data: GenerateJobData): void {
    if (data.replyTo !== null) {
      return;
    }
    const { request } = data;
    this.usage
      .record(
        unrecordedFailureOf(request, { provider: null, model: null, errorClass: null, errorCode: ErrorCode.Internal }),
      )
      .catch((err: unknown) =>
        this.logger.warn(`failed job ${request.requestId}: usage not recorded: ${describeError(err)}`),
      );
  }

  /** Taking jobs: started and not closing. */
  get consuming(): boolean {
    return this.consumer?.running ?? false;
  }

  /** The Redis client id the generation queue sees this worker by (CLIENT LIST); null when not known. */
  async blockingClientId(): Promise<number | null> {
    return (await this.consumer?.blockingClientId()) ?? null;
  }

  /**
   * Marks this worker as leaving the queue for `drainMs` and a margin (`markWorkerLeaving`), so that a single process
   * (ADR 0010) draining beside it no longer counts it among the workers that stay: its blocking connection, which
   * CLIENT LIST shows, stays open while its running jobs finish, though it takes no job any more. Call it before
   * `close`. Never rejects: a failed mark only leaves it counted as staying until it is gone.
   */
  async markLeaving(drainMs: number): Promise<void> {
    try {
      const id = await this.blockingClientId();
      if (id !== null) {
        await markWorkerLeaving(this.redis, this.keys, id, drainMs);
      }
    } catch (err) {
      this.logger.warn(`could not mark this worker as leaving the queue: ${describeError(err)}`);
    }
  }

  /**
   * Stops taking jobs and waits for the running ones. Past `drainMs` their provider calls are aborted, so they
   * end at once with a 503 (retry) answer instead of being cut off by the process exiting, and whatever waits
   * for an unreachable Redis gives up (those jobs are re-run by another worker).
   */
  async close(drainMs: number): Promise<void> {
    const consumer = this.consumer;
    if (!consumer) {
      return;
    }
    this.consumer = undefined;
    const timer = setTimeout(() => {
      const aborted = this.cancellations.abortAll('shutdown');
      if (aborted > 0) {
        this.logger.warn(`shutdown: aborted ${aborted} running generation(s) after ${drainMs} ms`);
        this.shutdown.abandon(`${aborted} generation(s) aborted`);
      }
      this.drain.pass();
    }, drainMs);
    try {
      await consumer.close();
    } finally {
      clearTimeout(timer);
    }
    const abandoned = this.drain.abandonedJobs;
    if (abandoned > 0) {
      this.logger.warn(`shutdown: ${abandoned} job(s) could not hand their results to Redis; they will be re-run`);
      this.shutdown.abandon(`${abandoned} job(s) left to be re-run`);
    }
  }
}

function attachToRequest(data: unknown, attach: (request: object) => void): void {
  const request = (data as Partial<GenerateJobData> | null)?.request;
  if (typeof request === 'object' && request !== null) {
    attach(request);
  }
}

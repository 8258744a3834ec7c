import { Inject, Injectable, Logger } from '@nestjs/common';
import { ErrorCode, GatewayError, type GenerateOutcome, type JobName } from '@aigw/core';
import { describeError, REDIS } from '@aigw/platform';
import type { Redis } from 'ioredis';
import { GenerationCancelledError } from '../cancel/abort';
import { CancellationRegistry } from '../cancel/cancellation-registry';
import { GenerationService } from '../generation/generation.service';
import { WorkerMetrics } from '../metrics/worker-metrics';
import type { JobOf } from '../queue/queue-processor';
import { outcomeOf, usageEventOf, type Finished } from '../usage/usage-event';
import { UsageRecorder } from '../usage/usage-recorder';
import { ReplyChannel } from './reply-channel';

/**
 * One `generate` job: run it, answer on the gateway's reply channel, queue its usage event, return the outcome
 * (stored by BullMQ for the gateway's fallback read and for async jobs). A generation failure is an outcome,
 * not an exception; only infrastructure failures (Redis refusing the usage job) throw.
 */
@Injectable()
export class GenerateHandler {
  private readonly logger = new Logger('GenerateJob');

  constructor(
    private readonly generation: GenerationService,
    private readonly cancellations: CancellationRegistry,
    private readonly usage: UsageRecorder,
    private readonly metrics: WorkerMetrics,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  readonly handle = async (job: JobOf<JobName.Generate>): Promise<GenerateOutcome> => {
    const { request, replyTo } = job.data;
    // BullMQ always gives a processed job an id; the request id is only a type-level fallback.
    const jobId = job.id ?? request.requestId;
    const reply = new ReplyChannel(this.redis, replyTo, jobId);
    const running = this.cancellations.begin(jobId, request.deadlineAt);
    let finished: Finished;
    try {
      const result = await this.generation.run(request, running.signal, request.stream ? reply : undefined);
      reply.send(request.stream ? { t: 'end', jobId, result } : { t: 'result', jobId, result });
      finished = { ok: true, result };
    } catch (err) {
      const error = this.asGatewayError(err, jobId);
      const cancelled = error instanceof GenerationCancelledError;
      if (!cancelled || error.replies) {
        const { retryAfterMs } = error;
        reply.send({
          t: 'error',
          jobId,
          error: error.toBody(),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
      }
      if (cancelled && request.stream) {
        this.metrics.streamsCancelled.inc();
      }
      finished = { ok: false, error };
    } finally {
      running.end();
    }
    const [replyFailure] = await Promise.all([
      reply.settle(),
      this.usage.record(usageEventOf(request, finished, Date.now())),
    ]);
    if (replyFailure !== undefined) {
      // The gateway falls back to the job's stored outcome.
      this.logger.warn(`job ${jobId}: reply not published: ${describeError(replyFailure)}`);
    }
    return outcomeOf(finished);
  };

  /** A bug must not leave the gateway waiting until its deadline: it becomes a 500 answer. */
  private asGatewayError(err: unknown, jobId: string): GatewayError {
    if (err instanceof GatewayError) {
      return err;
    }
    this.logger.error(`job ${jobId}: unexpected failure: ${describeError(err)}`);
    return new GatewayError(ErrorCode.Internal, 'Internal error while generating the answer.', { cause: err });
  }
}

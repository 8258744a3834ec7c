import { Inject, Injectable } from '@nestjs/common';
import { ControlPattern, type CancelGenerationMessage } from '@aigw/core';
import { ControlChannel, ENV, RedisErrors } from '@aigw/platform';
import { GatewayEnv } from '../config/gateway-env';
import { GatewayMetrics } from './gateway-metrics';
import { GenerationQueue } from './generation-queue';
import type { AbandonReason } from './reply-waiter';

/**
 * Tells the workers to stop a generation nobody waits for (client gone, deadline passed) over the
 * control transport, and removes the job if no worker took it yet.
 */
@Injectable()
export class CancellationService {
  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly queue: GenerationQueue,
    private readonly metrics: GatewayMetrics,
    private readonly control: ControlChannel,
    private readonly errors: RedisErrors,
  ) {}

  /**
   * Resolves true when the job was removed before any worker took it (it will never run). A job whose client left
   * while an Idempotency-Key retry of the same request watches it is not stopped: its answer is still wanted.
   */
  async cancel(jobId: string, reason: AbandonReason, requestId?: string): Promise<boolean> {
    if (reason === 'client_disconnected') {
      const stop = await this.queue.markCancelled(jobId, requestId).catch((err: unknown) => {
        this.errors.report('cancel_mark', err);
        return true;
      });
      if (!stop) {
        return false;
      }
    }
    this.metrics.cancelled(reason);
    this.emit(jobId, reason, requestId);
    return this.queue.removeIfWaiting(jobId);
  }

  /**
   * An Idempotency-Key retry that watched the running job left: when it was the last watcher and the job's own client
   * had left before it, nobody waits for the job any more and it is stopped as `cancel` would have. Not removed if
   * still queued: the worker that takes it aborts it at once (the cancel is remembered) and settles its reservation.
   */
  async unwatch(jobId: string): Promise<void> {
    const run = await this.queue.unwatch(jobId).catch((err: unknown) => {
      this.errors.report('cancel_mark', err);
      return null;
    });
    if (run !== null) {
      this.metrics.cancelled('client_disconnected');
      this.emit(jobId, 'client_disconnected', run === '' ? undefined : run);
    }
  }

  /**
   * Stops a job its owner cancelled, whoever else waits for it: removed if no worker took it yet (resolves true; it
   * will never run), else the worker running it aborts it as it aborts a job whose client left (what was generated
   * is billed). The cancel goes out first: a worker taking the job between the two remembers it and aborts at start.
   */
  async stop(jobId: string, requestId: string): Promise<boolean> {
    // Best effort: an Idempotency-Key replay meanwhile waits for the job to stop rather than watching it.
    await this.queue.markCancelled(jobId, requestId).catch((err: unknown) => this.errors.report('cancel_mark', err));
    this.resend(jobId, requestId);
    return this.queue.removeIfWaiting(jobId);
  }

  /**
   * Sends the cancel message of `stop` (again): pub/sub delivers it at most once, so a caller waiting for the job to
   * stop repeats it rather than rely on one message. Nothing on the worker's per-job path: a worker not running the
   * run only refreshes its memory of the cancel.
   */
  resend(jobId: string, requestId: string): void {
    this.emit(jobId, 'client_disconnected', requestId);
  }

  private emit(jobId: string, reason: AbandonReason, requestId: string | undefined): void {
    const message: CancelGenerationMessage = { ns: this.env.REDIS_PREFIX, jobId, reason, requestId };
    this.control.emit(ControlPattern.CancelGeneration, message, 'cancel');
  }
}

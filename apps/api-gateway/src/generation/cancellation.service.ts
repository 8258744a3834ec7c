import { Inject, Injectable } from '@nestjs/common';
import { ControlPattern, type CancelGenerationMessage } from '@aigw/core';
import { ControlChannel, ENV } from '@aigw/platform';
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
  ) {}

  /** Resolves true when the job was removed before any worker took it (it will never run). */
  cancel(jobId: string, reason: AbandonReason): Promise<boolean> {
    this.metrics.cancelled(reason);
    const message: CancelGenerationMessage = { ns: this.env.REDIS_PREFIX, jobId, reason };
    this.control.emit(ControlPattern.CancelGeneration, message, 'cancel');
    if (reason === 'client_disconnected') {
      this.queue.markCancelled(jobId);
    }
    return this.queue.removeIfWaiting(jobId);
  }
}

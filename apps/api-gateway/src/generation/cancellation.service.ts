import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { ControlPattern, parseRedisUrl, type CancelGenerationMessage } from '@aigw/core';
import { describeError, ENV } from '@aigw/platform';
import { GatewayEnv } from '../config/gateway-env';
import { GatewayMetrics } from './gateway-metrics';
import { GenerationQueue } from './generation-queue';
import type { AbandonReason } from './reply-waiter';

/** Keep reconnecting through Redis restarts instead of giving up after the transport's default. */
const RECONNECT_ATTEMPTS = Number.MAX_SAFE_INTEGER;
const RECONNECT_DELAY_MS = 1_000;

/**
 * Tells the workers to stop a generation nobody waits for (client gone, deadline passed) over the
 * control transport, and removes the job if no worker took it yet.
 */
@Injectable()
export class CancellationService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(CancellationService.name);
  private readonly client: ClientProxy;

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly queue: GenerationQueue,
    private readonly metrics: GatewayMetrics,
  ) {
    this.client = ClientProxyFactory.create({
      transport: Transport.REDIS,
      options: {
        ...parseRedisUrl(env.REDIS_URL),
        retryAttempts: RECONNECT_ATTEMPTS,
        retryDelay: RECONNECT_DELAY_MS,
      },
    });
  }

  async onModuleInit(): Promise<void> {
    await this.client.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }

  cancel(jobId: string, reason: AbandonReason): void {
    this.metrics.cancelled(reason);
    const message: CancelGenerationMessage = { ns: this.env.REDIS_PREFIX, jobId, reason };
    this.client.emit(ControlPattern.CancelGeneration, message).subscribe({
      error: (err: unknown) => this.logger.warn(`cancel of job ${jobId} not sent: ${describeError(err)}`),
    });
    void this.queue.removeIfWaiting(jobId);
  }
}

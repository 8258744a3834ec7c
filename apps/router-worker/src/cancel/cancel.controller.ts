import { Controller, Inject, Logger } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ControlPattern, type CancelGenerationMessage } from '@aigw/core';
import { ENV } from '@aigw/platform';
import type { WorkerEnv } from '../config/worker-env';
import { CancellationRegistry } from './cancellation-registry';

/** Cancel messages reach every worker (Redis pub/sub); the one running the job aborts its provider call. */
@Controller()
export class CancelController {
  private readonly logger = new Logger(CancelController.name);

  constructor(
    @Inject(ENV) private readonly env: WorkerEnv,
    private readonly registry: CancellationRegistry,
  ) {}

  @EventPattern(ControlPattern.CancelGeneration)
  onCancel(@Payload() message: unknown): void {
    if (!isCancelMessage(message) || message.ns !== this.env.REDIS_PREFIX) {
      return;
    }
    const cause = message.reason === 'deadline' ? 'deadline' : 'client_disconnected';
    const requestId = typeof message.requestId === 'string' ? message.requestId : undefined;
    if (this.registry.cancel(message.jobId, cause, requestId)) {
      this.logger.debug(`job ${message.jobId} cancelled (${cause})`);
    }
  }
}

/** Only ns and jobId are required: a message without a known reason counts as the client going away. */
function isCancelMessage(m: unknown): m is CancelGenerationMessage {
  if (typeof m !== 'object' || m === null) {
    return false;
  }
  const { ns, jobId } = m as Record<string, unknown>;
  return typeof ns === 'string' && typeof jobId === 'string';
}

import { Controller, Inject, Logger } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ControlPattern, type ProviderChangedMessage } from '@aigw/core';
import { BaseEnv, ENV } from '../config/base-env';
import { CatalogService } from './catalog.service';

/**
 * `provider.changed` (an admin edited providers, models or gateways): reload the catalog from PostgreSQL now
 * rather than at the next periodic reload. Register in every app that connects a ControlServer.
 */
@Controller()
export class CatalogEventsController {
  private readonly logger = new Logger(CatalogEventsController.name);

  constructor(
    @Inject(ENV) private readonly env: BaseEnv,
    private readonly catalog: CatalogService,
  ) {}

  @EventPattern(ControlPattern.ProviderChanged)
  async onProviderChanged(@Payload() message: unknown): Promise<void> {
    if (!isProviderChanged(message) || message.ns !== this.env.REDIS_PREFIX) {
      return;
    }
    try {
      await this.catalog.reload();
      this.logger.debug(`catalog reloaded (provider.changed: ${message.providerId ?? 'all'})`);
    } catch (err) {
      // The periodic reload retries; until then the last catalog stays in force.
      this.logger.warn(`catalog reload after provider.changed failed: ${err instanceof Error ? err.message : 'error'}`);
    }
  }
}

function isProviderChanged(m: unknown): m is ProviderChangedMessage {
  if (typeof m !== 'object' || m === null) {
    return false;
  }
  const { ns, providerId } = m as Record<string, unknown>;
  return typeof ns === 'string' && (providerId === null || typeof providerId === 'string');
}

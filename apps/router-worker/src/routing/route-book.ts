import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Route } from '@aigw/core';
import { REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import { RouteMemory, routingKeyPrefix } from '@aigw/routing';
import type { Redis } from 'ioredis';

/** What the attempt loop needs to route `auto` providers. */
export interface RouteMemoryPort {
  remembered(providerId: string): Promise<Route | null>;
  /** Off the request path. */
  remember(providerId: string, route: Route): void;
}

/** The fleet-wide memory of which route worked for an `auto` provider; forgetful (direct first) when Redis fails. */
@Injectable()
export class RouteBook implements RouteMemoryPort {
  private readonly logger = new Logger(RouteBook.name);
  private readonly memory: RouteMemory;
  /** The providers of the catalog in force (`retainProviders`); null until the first reload: all are remembered. */
  private known: ReadonlySet<string> | null = null;

  constructor(
    @Inject(REDIS) redis: Redis,
    keys: RedisKeys,
    private readonly errors: RedisErrors,
  ) {
    this.memory = new RouteMemory(redis, routingKeyPrefix(keys.prefix));
  }

  /** After a catalog reload: routes of providers no longer in it are not remembered any more (see DeletedRouting). */
  retainProviders(providerIds: ReadonlySet<string>): void {
    this.known = providerIds;
  }

  async remembered(providerId: string): Promise<Route | null> {
    try {
      return await this.memory.get(providerId);
    } catch (err) {
      this.errors.report('route_read', err);
      return null;
    }
  }

  remember(providerId: string, route: Route): void {
    if (this.known !== null && !this.known.has(providerId)) {
      // A call to a provider deleted while it ran: a re-created one with its id must not inherit the route.
      return;
    }
    this.logger.log(`provider ${providerId}: ${route} route worked, using it first for the next 24 h`);
    this.memory.set(providerId, route).catch((err: unknown) => this.errors.report('route_record', err));
  }
}

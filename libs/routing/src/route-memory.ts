import { DAY_MS, type Route } from '@aigw/core';
import type { RedisClient } from './redis-script';

export const ROUTE_MEMORY_TTL_MS = DAY_MS;

/**
 * For providers routed `auto` (direct first, the gateway on a network-class failure): which
 * route worked last, shared by all workers, so they stop paying for a failing direct attempt.
 * It expires so that a direct route that recovered gets tried again.
 */
export class RouteMemory {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
    private readonly ttlMs: number = ROUTE_MEMORY_TTL_MS,
  ) {}

  private key(providerId: string): string {
    return `${this.keyPrefix}route:${providerId}`;
  }

  async get(providerId: string): Promise<Route | null> {
    const value = await this.redis.get(this.key(providerId));
    return value === 'direct' || value === 'gateway' ? value : null;
  }

  async set(providerId: string, route: Route): Promise<void> {
    await this.redis.set(this.key(providerId), route, 'PX', this.ttlMs);
  }

  async forget(providerId: string): Promise<void> {
    await this.redis.del(this.key(providerId));
  }
}

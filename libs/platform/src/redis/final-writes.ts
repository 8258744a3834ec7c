import { Logger } from '@nestjs/common';
import { describeError } from '../http/errors';

/**
 * Writes that must reach the shared command connection (REDIS) when the app stops: after its HTTP server has drained
 * (Nest's `beforeApplicationShutdown` comes before the drain, while answers still count) and before the connection
 * closes. RedisModule runs them at the start of its `onApplicationShutdown`, then closes, so they do not depend on
 * the order Nest runs the hooks of the modules in: a provider flushing in its own hook raced RedisModule's close.
 * Each writer handles its own failures; one that throws is logged and does not stop the others.
 */
export class RedisFinalWrites {
  private readonly logger = new Logger('Redis');
  private readonly writers: (() => Promise<void>)[] = [];

  add(write: () => Promise<void>): void {
    this.writers.push(write);
  }

  async run(): Promise<void> {
    await Promise.all(
      this.writers.map((write) =>
        write().catch((err: unknown) => this.logger.warn(`final write at shutdown: ${describeError(err)}`)),
      ),
    );
  }
}

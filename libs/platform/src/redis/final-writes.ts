import { Logger } from '@nestjs/common';
import { describeError } from '../http/errors';

/**
 * Writes that must reach Redis when the app stops: after its HTTP server has drained (Nest's
 * `beforeApplicationShutdown` comes before the drain, while answers still count) and before the connections they go
 * through close. RedisModule runs them at the start of its `onApplicationShutdown`, then closes the command
 * connection (REDIS), so they do not depend on the order Nest runs the hooks of the modules in: a provider flushing
 * in its own hook raced RedisModule's close.
 *
 * A writer that goes through a connection or queue of its own (the gateway's producer connection, which its usage
 * queue shares) registers that connection's close with `closeAfter`: closes run once every write finished, newest
 * first (a queue is registered after the connection it was built on, so it closes before it), before REDIS closes.
 * Each writer and closer handles its own failures; one that throws is logged and does not stop the others.
 */
export class RedisFinalWrites {
  private readonly logger = new Logger('Redis');
  private readonly writers: (() => Promise<void>)[] = [];
  private readonly closers: (() => Promise<void>)[] = [];

  add(write: () => Promise<void>): void {
    this.writers.push(write);
  }

  closeAfter(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  async run(): Promise<void> {
    await Promise.all(this.writers.map((write) => this.logged('final write at shutdown', write)));
    for (const close of [...this.closers].reverse()) {
      await this.logged('closing at shutdown', close);
    }
  }

  private async logged(what: string, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (err) {
      this.logger.warn(`${what}: ${describeError(err)}`);
    }
  }
}

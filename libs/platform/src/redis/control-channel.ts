import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ErrorCode, GatewayError, type ControlPattern } from '@aigw/core';
import { firstValueFrom, timeout } from 'rxjs';
import { BaseEnv, ENV } from '../config/base-env';
import { ControlClient, controlNamespace } from './control-transport';
import { RedisErrors, type RedisOp } from './redis-errors';

/**
 * The one control-message client of a process (its two Redis connections shared by every sender). Events are
 * fire and forget: a failure is reported under `op` and never reaches the caller. Requests wait for one reply
 * from a server of this deployment (the channel is namespaced by REDIS_PREFIX).
 */
@Injectable()
export class ControlChannel implements OnModuleInit, OnApplicationShutdown {
  private readonly client: ControlClient;

  constructor(
    @Inject(ENV) env: BaseEnv,
    private readonly errors: RedisErrors,
  ) {
    this.client = new ControlClient(env.REDIS_URL, errors, controlNamespace(env.REDIS_PREFIX, env.REDIS_URL));
  }

  async onModuleInit(): Promise<void> {
    await this.client.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }

  emit(pattern: ControlPattern, message: object, op: RedisOp): void {
    this.client.emit(pattern, message).subscribe({ error: (err: unknown) => this.errors.report(op, err) });
  }

  /**
   * Sends a request and resolves with the first reply. Rejects with a 503 GatewayError naming `service` when no
   * server of this deployment listens (checked first: one Redis round trip), when none answers within
   * `timeoutMs`, or when the handler failed.
   */
  async request<T>(pattern: ControlPattern, message: object, opts: { service: string; timeoutMs: number }): Promise<T> {
    const unavailable = (why: string, cause?: unknown): GatewayError =>
      new GatewayError(ErrorCode.ServiceUnavailable, `The ${opts.service} ${why}. Try again once it runs.`, { cause });
    let listening: number;
    try {
      listening = await this.client.listeners(pattern);
    } catch (err) {
      throw unavailable('cannot be reached: Redis is unavailable', err);
    }
    if (listening === 0) {
      throw unavailable('is not running (nothing listens for its requests)');
    }
    try {
      return await firstValueFrom(this.client.send<T>(pattern, message).pipe(timeout(opts.timeoutMs)));
    } catch (err) {
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      throw unavailable(timedOut ? `did not answer within ${opts.timeoutMs} ms` : 'failed to answer', err);
    }
  }
}

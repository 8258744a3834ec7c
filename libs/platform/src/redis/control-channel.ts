import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { ControlPattern } from '@aigw/core';
import { BaseEnv, ENV } from '../config/base-env';
import { ControlClient } from './control-transport';
import { RedisErrors, type RedisOp } from './redis-errors';

/**
 * The one control-message client of a process (its two Redis connections shared by every sender): fire and
 * forget, a failure is reported under `op` and never reaches the caller.
 */
@Injectable()
export class ControlChannel implements OnModuleInit, OnApplicationShutdown {
  private readonly client: ControlClient;

  constructor(
    @Inject(ENV) env: BaseEnv,
    private readonly errors: RedisErrors,
  ) {
    this.client = new ControlClient(env.REDIS_URL, errors);
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
}

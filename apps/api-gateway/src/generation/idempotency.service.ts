import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError } from '@aigw/core';
import { ENV, REDIS, RedisKeys } from '@aigw/platform';
import type { Redis } from 'ioredis';
import { GatewayEnv } from '../config/gateway-env';
import { idempotentJobId, requestFingerprint } from './idempotency';

export interface Claim {
  jobId: string;
  /** True for the first request with this key; false when it replays an earlier one. */
  fresh: boolean;
}

/** `Idempotency-Key`: the first request claims the key; a replay with the same body reuses its job. */
@Injectable()
export class IdempotencyService {
  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** One round trip: SET NX with GET returns the fingerprint stored by an earlier request, if any. */
  async claim(apiKeyId: string, key: string, endpoint: string, body: unknown): Promise<Claim> {
    const jobId = idempotentJobId(apiKeyId, key);
    const fingerprint = requestFingerprint(endpoint, body);
    let previous: string | null;
    try {
      previous = await this.redis.set(this.redisKey(jobId), fingerprint, 'EX', this.env.IDEMPOTENCY_TTL_S, 'NX', 'GET');
    } catch (err) {
      throw new GatewayError(
        ErrorCode.ServiceUnavailable,
        'The Idempotency-Key cannot be checked right now; retry shortly.',
        {
          retryAfterMs: 1_000,
          cause: err,
        },
      );
    }
    if (previous === null) {
      return { jobId, fresh: true };
    }
    if (previous === fingerprint) {
      return { jobId, fresh: false };
    }
    throw new GatewayError(
      ErrorCode.IdempotencyConflict,
      'This Idempotency-Key was already used with a different request.',
      { param: 'Idempotency-Key' },
    );
  }

  /** Frees a claim whose job could not be enqueued, so the client's retry is not a replay of nothing. */
  async release(jobId: string): Promise<void> {
    await this.redis.del(this.redisKey(jobId)).catch(() => undefined);
  }

  private redisKey(jobId: string): string {
    return this.keys.key('idem', jobId);
  }
}

import { Inject, Injectable } from '@nestjs/common';
import type { Reservation } from '@aigw/core';
import { AdmissionStore, GovernanceKeys } from '@aigw/governance';
import { REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import type { Redis } from 'ioredis';
import { DrainDeadline } from '../lifecycle/drain-deadline';
import { redisRetryDelayMs, RedisHandOffAbandoned } from '../lifecycle/redis-retry';
import { sleep } from '../routing/sleep';

/** How long past a job's deadline its settlement stays marked. */
export const SETTLED_MARK_MARGIN_MS = 60_000;

/**
 * Settles what admission reserved for a job (tokens per minute, worst-case spend) to its real usage, once
 * per job: a failed or cancelled generation refunds everything. Retried until Redis takes it, like the usage
 * event, so an outage delays settlement but does not leave a user's budget charged for work that cost less.
 */
@Injectable()
export class Settlement {
  private readonly store: AdmissionStore;

  constructor(
    @Inject(REDIS) redis: Redis,
    keys: RedisKeys,
    private readonly errors: RedisErrors,
    private readonly drain: DrainDeadline,
  ) {
    this.store = new AdmissionStore(redis, new GovernanceKeys(keys.prefix));
  }

  /**
   * `job`: the admission settled (the request id it reserved for; a job re-run under an Idempotency-Key is admitted
   * anew with a new request id) and its deadline, past which it cannot run again: its settlement is marked until a
   * minute after that, so a run taking the job over settles nothing a second time. `receivedAt`: when the request was
   * received (its usage record's time), which decides whether its cost counts after a quota reset.
   */
  async settle(
    reservation: Reservation | undefined,
    usedTokens: number,
    costUsd: number,
    job: { id: string; deadlineAt: number; receivedAt: number },
  ): Promise<void> {
    if (reservation === undefined) {
      return;
    }
    const once = { jobId: job.id, ttlMs: Math.max(0, job.deadlineAt - Date.now()) + SETTLED_MARK_MARGIN_MS };
    for (let failures = 0; ;) {
      try {
        await this.store.settle(reservation, usedTokens, costUsd, once, job.receivedAt);
        return;
      } catch (err) {
        this.errors.report('settlement', err);
        failures++;
        if (this.drain.passed) {
          throw new RedisHandOffAbandoned('settlement', { cause: err });
        }
        await sleep(redisRetryDelayMs(failures), this.drain.signal);
      }
    }
  }
}

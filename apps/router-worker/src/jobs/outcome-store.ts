import { Inject, Injectable } from '@nestjs/common';
import { merged, outcomeTtlMs, type GenerateJobData, type GenerateOutcome } from '@aigw/core';
import { REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import type { Redis } from 'ioredis';
import { DrainDeadline } from '../lifecycle/drain-deadline';

/**
 * Sync jobs' outcomes, kept by job id for the gateway's read-back (ADR 0001): BullMQ deletes a sync job as it
 * completes (`GenerateJobData.keepOutcomeMs`), so its return value is not stored there. Written before the job
 * completes and retried until Redis takes it, so that no job disappears with its outcome unwritten; given up only
 * when the worker must stop (the job then re-runs elsewhere).
 */
@Injectable()
export class OutcomeStore {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
    private readonly drain: DrainDeadline,
  ) {}

  /** Keeps the outcome of a job whose data asks for it; nothing for the others (async jobs). */
  async keep(jobId: string, data: GenerateJobData, outcome: GenerateOutcome): Promise<void> {
    if (data.keepOutcomeMs === undefined) {
      return;
    }
    // Whose it is (its user and key: a job is read by the key that made it) and when it was asked: GET /jobs/:id
    // answers from it once BullMQ has dropped the job.
    const { userId, apiKeyId, receivedAt } = data.request;
    const value = JSON.stringify(merged(outcome, { userId, apiKeyId, receivedAt }));
    const ttlMs = outcomeTtlMs(data.request.deadlineAt, data.keepOutcomeMs, Date.now());
    await this.drain.untilStored(
      `outcome of job ${jobId}`,
      () => this.redis.set(this.keys.outcome(jobId), value, 'PX', ttlMs),
      (err) => this.errors.report('outcome_keep', err),
    );
  }
}

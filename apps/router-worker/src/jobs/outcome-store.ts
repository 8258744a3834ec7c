import { Inject, Injectable } from '@nestjs/common';
import {
  keptNative,
  outcomeTtlMs,
  type GenerateJobData,
  type KeptNative,
  type GenerateOutcome,
  type UsageEvent,
} from '@aigw/core';
import { REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import type { Redis } from 'ioredis';
import { DrainDeadline } from '../lifecycle/drain-deadline';
import type { KeptAnswer } from './answer-stash';
import { keptOutcomeJson, type ResultJson } from './result-json';

/**
 * Sync jobs' outcomes, kept by job id for the gateway's read-back (ADR 0001): BullMQ deletes a sync job as it
 * completes (`GenerateJobData.keepOutcomeMs`), so its return value is not stored there. Written before the job
 * completes and retried until Redis takes it, so that no job disappears with its outcome unwritten; given up only
 * when the worker must stop (the job then re-runs elsewhere).
 *
 * The value holds the job's usage event too (`usage`, a few hundred bytes in the same SET): a re-run of the job (its
 * completion lost with its lock, or its worker gone after the outcome was kept) answers from it (`find`) instead of
 * calling the provider again, and records and settles that usage, once, as the run that obtained it would have.
 */
@Injectable()
export class OutcomeStore {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
    private readonly drain: DrainDeadline,
  ) {}

  /**
   * Keeps the outcome of a job whose data asks for it, with its usage; nothing for the others (async jobs). `result`:
   * the outcome's result, when its JSON is made already (or will be: the final reply carries it too).
   */
  async keep(
    jobId: string,
    data: GenerateJobData,
    outcome: GenerateOutcome,
    usage: UsageEvent,
    result?: ResultJson,
  ): Promise<void> {
    if (data.keepOutcomeMs === undefined) {
      return;
    }
    // Whose it is (its user and key: a job is read by the key that made it) and when it was asked: GET /jobs/:id
    // answers from it once BullMQ has dropped the job. The gateway reads only the outcome's own fields.
    const { userId, apiKeyId, receivedAt } = data.request;
    // A failed native job's input fields too (a few bytes, none on an answer): its error is read by the body's fields.
    const value = keptOutcomeJson(
      outcome,
      { userId, apiKeyId, receivedAt, usage, ...keptNative(data, outcome) },
      result,
    );
    const ttlMs = outcomeTtlMs(data.request.deadlineAt, data.keepOutcomeMs, Date.now());
    await this.drain.untilStored(
      `outcome of job ${jobId}`,
      () => this.redis.set(this.keys.outcome(jobId), value, 'PX', ttlMs),
      (err) => this.errors.report('outcome_keep', err),
    );
  }

  /**
   * The outcome and usage an earlier run of a sync job kept, for its re-run; null for an async job (no Redis call),
   * when there is none (never kept, or released by the gateway that read it, or expired), when it was kept without
   * its usage (by an older worker), or when Redis fails (the re-run then calls the provider, as before).
   */
  async find(jobId: string, data: GenerateJobData): Promise<KeptAnswer | null> {
    if (data.keepOutcomeMs === undefined) {
      return null;
    }
    try {
      const raw = await this.redis.get(this.keys.outcome(jobId));
      const value = raw === null ? null : (JSON.parse(raw) as Partial<Kept> | null);
      if (typeof value?.ok !== 'boolean' || typeof value.usage !== 'object' || value.usage === null) {
        return null;
      }
      const {
        userId: _userId,
        apiKeyId: _apiKeyId,
        receivedAt: _receivedAt,
        nativeInput: _nativeInput,
        nativeSystemPrompt: _nativeSystemPrompt,
        usage,
        ...outcome
      } = value as Kept;
      return { outcome, usage };
    } catch (err) {
      this.errors.report('outcome_keep', err);
      return null;
    }
  }
}

/** A kept outcome as stored (`keep`). */
type Kept = GenerateOutcome & KeptNative & { userId: string; apiKeyId?: string; receivedAt: number; usage: UsageEvent };

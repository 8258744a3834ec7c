import { Inject, Injectable } from '@nestjs/common';
import { HOUR_MS, type GenerateOutcome, type UsageEvent } from '@aigw/core';
import { REDIS, RedisErrors, RedisKeys } from '@aigw/platform';
import type { Redis } from 'ioredis';
import { DrainDeadline } from '../lifecycle/drain-deadline';

/** What a job obtained, kept so that a re-run of the job returns it instead of calling the provider again. */
export interface KeptAnswer {
  outcome: GenerateOutcome;
  usage: UsageEvent;
  /**
   * An async job's request is counted in aigw_requests_total (by the run that kept the answer, in the same write, or
   * a re-run that returned an unmarked one): a later re-run must not count it again. Absent: a sync job's answer, or
   * one kept unmarked by an earlier version (which marked it in a second write), not counted yet.
   */
  counted?: true;
}

/** A re-run happens within seconds of Redis' return; an hour covers any outage the job itself survives. */
const KEEP_MS = HOUR_MS;

/**
 * Answers kept in Redis by job id, for jobs that finished while Redis failed. Such a job may not get to
 * write its completion (its lock lapsed during the outage, or the worker is stopped before Redis returns);
 * BullMQ then hands it to another worker as stalled, and that re-run must not call the provider a second
 * time for an answer already in hand. Written only after an outage (the normal path pays nothing), read
 * only by re-runs.
 */
@Injectable()
export class AnswerStash {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
    private readonly drain: DrainDeadline,
  ) {}

  /** Stores the answer, retrying until Redis takes it; rejects only when the worker must stop first. */
  async keep(jobId: string, answer: KeptAnswer): Promise<void> {
    const value = JSON.stringify(answer);
    await this.drain.untilStored(
      `answer of job ${jobId}`,
      () => this.redis.set(this.key(jobId), value, 'PX', KEEP_MS),
      (err) => this.errors.report('answer_stash', err),
    );
  }

  /** The kept answer of a job, if any. A Redis failure reads as none (the re-run then calls the provider). */
  async find(jobId: string): Promise<KeptAnswer | null> {
    try {
      const value = await this.redis.get(this.key(jobId));
      return value === null ? null : (JSON.parse(value) as KeptAnswer);
    } catch (err) {
      this.errors.report('answer_stash', err);
      return null;
    }
  }

  private key(jobId: string): string {
    return this.keys.key('answer', jobId);
  }
}

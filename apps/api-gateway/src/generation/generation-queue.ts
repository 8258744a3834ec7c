import { Inject, Injectable } from '@nestjs/common';
import {
  ErrorCode,
  GatewayError,
  JobName,
  merged,
  QueueName,
  type GenerateJobData,
  type GenerateOutcome,
  type GenerationRequest,
  type KeptNative,
  type NativeInput,
} from '@aigw/core';
import {
  bullOptions,
  closeRedis,
  createRedis,
  ENV,
  type CountedQueue,
  REDIS,
  RedisErrors,
  RedisFinalWrites,
  RedisKeys,
  TurnCork,
} from '@aigw/platform';
import { RedisScript } from '@aigw/routing';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { GatewayEnv } from '../config/gateway-env';
import { pastRetention, snapshotOf, type JobSnapshot, type KeptFor } from './job-snapshot';
import { OutcomeRelease } from './outcome-release';

export type GenerateJob = Job<GenerateJobData, GenerateOutcome, JobName.Generate>;

/**
 * Jobs BullMQ failed (every run's processor threw: infrastructure, not a provider's error, which completes the job) are
 * kept a day for inspection, whatever ASYNC_JOB_RETENTION_S is: one age for the whole failed set, as BullMQ sweeps it
 * with the age of the job failing (see `Retention`). `GET /api/v1/ai/jobs/:id` reads one as `failed` that long.
 */
export const FAILED_RETENTION_S = 86_400;
/**
 * Runs of a job before it fails. A worker's processor throws only for infrastructure reasons (it had to stop
 * while Redis was away); a generation that fails is a completed job with an error outcome, never retried here.
 * A re-run returns the answer its previous run kept instead of calling the provider again.
 */
export const GENERATE_ATTEMPTS = 3;
const GENERATE_BACKOFF_MS = 1_000;
/** How long `forget` waits for a worker to let go of a job whose outcome is kept, and how often it looks. */
const FORGET_WAIT_MS = 3_000;
const FORGET_POLL_MS = 20;

/**
 * What stays in Redis once the job completed. An async job stays in BullMQ (GET /jobs/:id reads it) for `retentionS`.
 * A sync job is removed as it completes: its waiter only needs the outcome, which the worker keeps until the
 * request's deadline (plus a margin) and at least `keepOutcomeMs` (`GenerateJobData.keepOutcomeMs`). Both at once in
 * one queue would not work: BullMQ's age-based removal sweeps the whole completed set with the age of the job that
 * just completed, so a short-lived kind would delete the long-lived one.
 */
export type Retention = { retentionS: number; keepOutcomeMs?: never } | { keepOutcomeMs: number; retentionS?: never };

export interface EnqueueOptions {
  jobId: string;
  retention: Retention;
  /** Reply channel of the waiting gateway instance; null for async jobs. */
  replyTo: string | null;
  /** Set when identical requests may join the job (ADR 0007). */
  coalescingKey?: string;
  /** BullMQ priority (1 highest); absent: ahead of every prioritized job. Cache warming runs at WARM_PRIORITY. */
  priority?: number;
  /** The native API's input field, for a failed job's error (see GenerateJobData.nativeInput). */
  nativeInput?: NativeInput;
  /** See GenerateJobData.nativeSystemPrompt. */
  nativeSystemPrompt?: true;
}

/**
 * The cancel's side of the handshake: sets the cancel mark (KEYS[1], to the run's request id ARGV[2]) for ARGV[1] ms
 * unless retries watch the job (KEYS[2]); then records instead that its client left (KEYS[3] = ARGV[2], for ARGV[1]
 * ms), for the last of them to stop it. 1 when marked.
 */
const MARK_CANCELLED = new RedisScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[1])
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
return 1
`);

/**
 * A retry's side: counts one more watcher of the job (KEYS[1]) for ARGV[1] ms unless the job is being stopped
 * (KEYS[2]). 1 when it watches.
 */
const WATCH = new RedisScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`);

/**
 * A retry that left gives its watch back (KEYS[1]). The last one, when the job's own client had left (KEYS[2]), marks
 * the job as being stopped (KEYS[3] = the run's request id, for ARGV[1] ms) and answers that request id to cancel;
 * else false.
 */
const UNWATCH = new RedisScript(`
if redis.call('DECR', KEYS[1]) > 0 then
  return false
end
redis.call('DEL', KEYS[1])
local run = redis.call('GET', KEYS[2])
if not run then
  return false
end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[3], run, 'PX', ARGV[1])
return run
`);

/** Deletes the cancel record (KEYS[1]) when it is the run ARGV[1]'s. 1 when deleted. */
const DROP_CANCEL = new RedisScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  return 0
end
local ok, record = pcall(cjson.decode, v)
if not ok or type(record) ~= 'table' or record.requestId ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
`);

/**
 * The fields of a stored job the read-back needs (never its data: a long prompt would travel on every read);
 * `timestamp` is set on every job, so a job without it does not exist; `opts` (a hundred bytes) for its retention.
 */
const SNAPSHOT_FIELDS = [
  'timestamp',
  'processedOn',
  'finishedOn',
  'returnvalue',
  'failedReason',
  'atm',
  'opts',
] as const;

/**
 * The producer side of the `generation` queue. Its producer connection closes with REDIS's final writes (after the
 * usage queue's last hits shipped on it), not in a shutdown hook of its own.
 */
@Injectable()
export class GenerationQueue {
  /** The gateway's producer connection; the usage queue (cache hits) shares it. */
  readonly connection: Redis;
  private readonly queue: Queue<GenerateJobData, GenerateOutcome, JobName.Generate>;
  private readonly outcomes: OutcomeRelease;
  private readonly cork: TurnCork;

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
    @Inject(REDIS) private readonly redis: Redis,
    finalWrites: RedisFinalWrites,
  ) {
    this.connection = createRedis(env.REDIS_URL, `${env.REDIS_PREFIX}:queue`, errors, { blocking: false });
    this.queue = new Queue(QueueName.Generation, bullOptions(this.connection, keys));
    errors.watch(this.queue);
    this.cork = new TurnCork(this.connection);
    this.outcomes = new OutcomeRelease(
      (keys) => this.redis.unlink(...keys),
      (err) => this.errors.report('outcome_release', err),
    );
    // After the HTTP server drained (answers given meanwhile release theirs too), before REDIS closes.
    finalWrites.add(() => this.outcomes.flush());
    // Closed newest first: the queue, then the connection it (and the usage queue) runs on.
    finalWrites.closeAfter(() => closeRedis(this.connection));
    finalWrites.closeAfter(() => this.queue.close());
  }

  /**
   * Adds a `generate` job. With an id that already exists BullMQ keeps the existing job and adds
   * nothing: that is what makes retried idempotent requests safe. Adds issued in one turn of the event loop share
   * one socket write (TurnCork), each with its own reply: one refused add fails its own request only.
   */
  async add(request: GenerationRequest, opts: EnqueueOptions): Promise<void> {
    try {
      const data: GenerateJobData = { request, replyTo: opts.replyTo };
      if (request.stream) {
        // This gateway's StreamRelay reads `chunks` messages (fewer messages per streamed answer).
        data.batchChunks = true;
      }
      if (opts.coalescingKey !== undefined) {
        data.coalescingKey = opts.coalescingKey;
      }
      if (opts.nativeInput !== undefined) {
        data.nativeInput = opts.nativeInput;
      }
      if (opts.nativeSystemPrompt !== undefined) {
        data.nativeSystemPrompt = opts.nativeSystemPrompt;
      }
      const { keepOutcomeMs, retentionS } = opts.retention;
      if (keepOutcomeMs !== undefined) {
        data.keepOutcomeMs = keepOutcomeMs;
      }
      // The jobs of the requests handled in this turn go to Redis in one write.
      this.cork.hold();
      await this.queue.add(JobName.Generate, data, {
        jobId: opts.jobId,
        attempts: GENERATE_ATTEMPTS,
        backoff: { type: 'exponential', delay: GENERATE_BACKOFF_MS },
        removeOnComplete: keepOutcomeMs === undefined ? { age: retentionS } : true,
        removeOnFail: { age: FAILED_RETENTION_S },
        ...(opts.priority === undefined ? {} : { priority: opts.priority }),
      });
    } catch (err) {
      this.errors.report('enqueue', err);
      throw new GatewayError(ErrorCode.ServiceUnavailable, 'The request could not be queued; retry shortly.', {
        retryAfterMs: 1_000,
        cause: err,
      });
    }
  }

  /**
   * Workers connected to the queue and not leaving: BullMQ names their blocking connections (one CLIENT LIST), less
   * those marked as leaving (`markWorkerLeaving`: draining single processes and router-workers). Asked only while a
   * process hosting a worker drains; rejects where the server refuses CLIENT LIST.
   */
  async workersStaying(): Promise<number> {
    const [workers, leaving] = await Promise.all([
      this.queue.getWorkers(),
      this.redis.zrangebyscore(this.keys.workersLeaving(), Date.now(), '+inf'),
    ]);
    const gone = new Set(leaving);
    return workers.filter((w) => !gone.has(String(w.id))).length;
  }

  /** The queue as `aigw_queue_jobs` reads it at scrape time. */
  counted(): CountedQueue {
    return this.queue;
  }

  async get(jobId: string): Promise<GenerateJob | undefined> {
    return this.queue.getJob(jobId);
  }

  /**
   * The stored job and whether it is active (a worker took it and it was not put back: see `snapshotOf`), for reads of
   * a job's status. The active list is asked first, on the connection BullMQ reads the job on: Redis answers them in
   * order, in one round trip, so a job that completes between the two reads is read completed, never queued. One LPOS
   * more than `get` (it scans the active list: as long as the jobs workers run at once).
   */
  async stored(jobId: string): Promise<{ job: GenerateJob; active: boolean } | undefined> {
    const at = this.connection.lpos(this.queue.toKey('active'), jobId);
    const [position, job] = await Promise.all([at, this.queue.getJob(jobId)]);
    return job === undefined ? undefined : { job, active: position !== null };
  }

  /** A sync job's kept outcome with its owner (the worker writes both), or null once it is gone. */
  async kept(jobId: string): Promise<KeptOutcome | null> {
    const raw = await this.redis.get(this.keys.outcome(jobId));
    const value = raw === null ? null : parseJson(raw);
    return isKeptOutcome(value) ? value : null;
  }

  /**
   * Where a job stands, for the read-back of a waiting request: a sync job's kept outcome, else the stored job's
   * state. One round trip (both commands go out in one write on the corked command connection). The worker writes
   * the outcome before BullMQ removes the job, so a job found missing is looked for once more as an outcome: it may
   * have completed between the two reads. A finished job past its retention (BullMQ's sweep had not come by yet) is
   * missing, as `GET /api/v1/ai/jobs/:id` reads it: an Idempotency-Key replay runs the request again rather than
   * answer with a job its client cannot read (its options are parsed only once it finished). `active`: whether the job
   * is in the active list is asked too (one LPOS more, in the same round trip), so that a job waiting to run again reads
   * `queued`, not `running` (`snapshotOf`); the read-backs of waiting requests, for which both mean "wait", do without.
   */
  async snapshot(jobId: string, ask: { active?: boolean } = {}): Promise<JobSnapshot> {
    const outcomeKey = this.keys.outcome(jobId);
    // Asked first (Redis answers in order): a job that completes between the reads is read completed, never queued.
    const at = ask.active === true ? this.redis.lpos(this.queue.toKey('active'), jobId) : undefined;
    const [kept, fields, position] = await Promise.all([
      this.redis.get(outcomeKey),
      this.redis.hmget(this.queue.toKey(jobId), ...SNAPSHOT_FIELDS),
      at,
    ]);
    const [timestamp, processedOn, finishedOn, returnvalue, failedReason, attemptsMade, opts] = fields;
    const outcome = kept ?? (timestamp === null ? await this.redis.get(outcomeKey) : null);
    if (outcome !== null) {
      return snapshotOf({ finishedOn: 1, returnvalue: parseJson(outcome) });
    }
    if (timestamp === null) {
      return snapshotOf(undefined);
    }
    const stored = snapshotOf(
      {
        processedOn: Number(processedOn ?? 0),
        finishedOn: Number(finishedOn ?? 0),
        returnvalue: returnvalue === null ? null : parseJson(returnvalue),
        failedReason: failedReason ?? undefined,
        attemptsMade: Number(attemptsMade ?? 0),
      },
      position === undefined ? undefined : position !== null,
    );
    if (finishedOn !== null && opts !== null) {
      const keptFor = parseJson(opts) as KeptFor | null;
      if (pastRetention(stored, Number(finishedOn), keptFor, Date.now())) {
        return snapshotOf(undefined);
      }
    }
    return stored;
  }

  /**
   * Removes a job nobody waits for any more, if no worker took it yet (an active job is locked and stays).
   * Resolves true when it was removed.
   */
  async removeIfWaiting(jobId: string): Promise<boolean> {
    try {
      return (await this.queue.remove(jobId)) === 1;
    } catch {
      // Locked by a worker, or already gone: the cancel message takes care of a running job.
      return false;
    }
  }

  /**
   * Records that the owner of an async job cancelled it, for `ttlS` (the job's retention): the job may be gone from
   * BullMQ (removed while queued) or end in the worker's abort, and reads as `cancelled` either way. The first
   * record of the run stays (a second cancel does not move its time); one of an earlier run under the same job id (an
   * Idempotency-Key replay runs a cancelled job again) is replaced.
   */
  async recordCancel(jobId: string, record: CancelRecord, ttlS: number): Promise<CancelRecord> {
    const key = this.keys.jobCancelled(jobId);
    const ttl = Math.max(1, Math.ceil(ttlS));
    if ((await this.redis.set(key, JSON.stringify(record), 'EX', ttl, 'NX')) === 'OK') {
      return record;
    }
    const stored = await this.cancelRecord(jobId);
    if (stored !== null && stored.requestId === record.requestId) {
      return stored;
    }
    await this.redis.set(key, JSON.stringify(record), 'EX', ttl);
    return record;
  }

  /** Drops the owed refund from a job's cancel record once it was given back (its expiry kept). */
  async refunded(jobId: string, record: CancelRecord): Promise<CancelRecord> {
    const { refund: _given, ...rest } = record;
    return this.rewriteCancel(jobId, rest);
  }

  /**
   * Notes in the cancel record whether a worker holds the job (`held`: it was running, not removed from the queue), so
   * that the record alone never stands for a job BullMQ swept (see `CancelRecord.held`). One SET, on the cancel path.
   */
  async held(jobId: string, record: CancelRecord, held: boolean): Promise<CancelRecord> {
    const { held: _was, ...rest } = record;
    return this.rewriteCancel(jobId, held ? merged(rest, { held: true as const }) : rest);
  }

  /** Replaces a cancel record that is still there, its expiry kept. */
  private async rewriteCancel(jobId: string, record: CancelRecord): Promise<CancelRecord> {
    await this.redis.set(this.keys.jobCancelled(jobId), JSON.stringify(record), 'KEEPTTL', 'XX');
    return record;
  }

  /**
   * Drops the cancel record of a run that ended without being stopped (its answer, or its failure, came first): it
   * would outlive the job (kept until the run's deadline plus the retention) and read as `cancelled` once BullMQ swept
   * the job. Only the run `requestId`'s record (a later run's cancel stays). One script, on the cancel path only.
   */
  async dropCancel(jobId: string, requestId: string): Promise<void> {
    await DROP_CANCEL.run(this.redis, [this.keys.jobCancelled(jobId)], [requestId]);
  }

  /** The cancel record of a job, or null when its owner never cancelled it (or it is past its retention). */
  async cancelRecord(jobId: string): Promise<CancelRecord | null> {
    const raw = await this.redis.get(this.keys.jobCancelled(jobId));
    const value = raw === null ? null : parseJson(raw);
    return isCancelRecord(value) ? value : null;
  }

  /**
   * Marks a job whose client left as being stopped (the mark names the run, `requestId`; empty: whichever run): an
   * Idempotency-Key retry arriving meanwhile waits for it to stop and runs the request again, instead of watching it
   * end in the cancellation; and a worker that runs the job again after its worker died (a stall), and never heard the
   * cancel, aborts it at start (`GenerateHandler`). So it lasts as long as the run may still start again: up to its
   * deadline, at most REQUEST_TIMEOUT_MS away (a worker hearing the cancel stops within a second; one that died may
   * leave the job locked for WORKER_LOCK_MS and more). One write, only when a client leaves.
   */
  async markCancelled(jobId: string, requestId = ''): Promise<boolean> {
    const { cancelled, watched, ownerLeft } = this.jobKeys(jobId);
    const args = [this.env.REQUEST_TIMEOUT_MS, requestId];
    return (await MARK_CANCELLED.run(this.redis, [cancelled, watched, ownerLeft], args)) === 1;
  }

  /**
   * A retry that watched the job (`watch`) and whose client left gives its watch back: the run's request id when it
   * was the last watcher and the job's own client had left too (the job is then marked as being stopped, for the
   * caller to cancel), else null. One script, only when such a retry's client leaves.
   */
  async unwatch(jobId: string): Promise<string | null> {
    const { cancelled, watched, ownerLeft } = this.jobKeys(jobId);
    const run: unknown = await UNWATCH.run(this.redis, [watched, ownerLeft, cancelled], [this.env.REQUEST_TIMEOUT_MS]);
    return typeof run === 'string' ? run : null;
  }

  /**
   * Drops the cancel mark (and watch) of an earlier run of the job id, as an Idempotency-Key replay starts a new run of
   * it: that run was not cancelled. Its owner's cancel record goes too: the earlier run's job was just dropped
   * (`forget`), and the record, kept up to that run's deadline plus the retention, would otherwise outlive the new
   * run's job and read as `cancelled` once BullMQ swept it. One DEL, only for a replay that runs the request again.
   */
  async clearCancelled(jobId: string): Promise<void> {
    const { cancelled, watched, ownerLeft } = this.jobKeys(jobId);
    await this.redis.del(cancelled, watched, ownerLeft, this.keys.jobCancelled(jobId));
  }

  /**
   * An Idempotency-Key retry about to watch a running job registers itself for `ttlMs`, unless the job's client left
   * and it is being stopped (false: then the retry waits for it to stop and runs the request again). With
   * `markCancelled` this is a handshake: each side sets its own key unless the other's is there, in one script, so
   * Redis orders them and the second sees the first. A retry that arrived first keeps the job running; a cancel that
   * came first makes the retry run the request again. Neither watches a job that is then stopped under it.
   */
  async watch(jobId: string, ttlMs: number): Promise<boolean> {
    const { cancelled, watched } = this.jobKeys(jobId);
    return (await WATCH.run(this.redis, [watched, cancelled], [Math.ceil(ttlMs)])) === 1;
  }

  /**
   * Whether a job is not being stopped (no cancel mark): `watch`'s check without registering a watcher, for an async
   * replay, which waits for nothing. One EXISTS.
   */
  async unmarked(jobId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.cancelled(jobId))) === 0;
  }

  private jobKeys(jobId: string): { cancelled: string; watched: string; ownerLeft: string } {
    return {
      cancelled: this.keys.cancelled(jobId),
      watched: this.keys.watched(jobId),
      ownerLeft: this.keys.ownerLeft(jobId),
    };
  }

  /**
   * What an earlier run left under a job id that a request is about to enqueue afresh (an Idempotency-Key whose claim
   * expired while its job was still kept): `none`, `finished` (a job or kept outcome that `forget` drops), or
   * `unfinished` (a job still queued, running or waiting to be retried). BullMQ's add of an id it still holds adds
   * nothing: the request would be admitted and answered `queued` for a job that never runs. Two commands, sent in
   * the same write as the claim (no round trip of their own).
   */
  async leftover(jobId: string): Promise<'none' | 'finished' | 'unfinished'> {
    const [kept, [timestamp, finishedOn]] = await Promise.all([
      this.redis.exists(this.keys.outcome(jobId)),
      this.redis.hmget(this.queue.toKey(jobId), 'timestamp', 'finishedOn'),
    ]);
    if (timestamp === null) {
      return kept === 1 ? 'finished' : 'none';
    }
    return finishedOn === null ? 'unfinished' : 'finished';
  }

  /**
   * Drops a finished job and its kept outcome, so that its id can be enqueued again (an Idempotency-Key replay of
   * a request that was never carried out). The outcome is kept before the worker completes the job (its usage and
   * settlement are stored in between), so a replay sent right after the answer may find the job still active and
   * locked: it waits for the worker to let go (milliseconds; FORGET_WAIT_MS at most, then a 503 to retry), since an
   * id still held would make the new run's enqueue a no-op and its waiter find the job gone.
   */
  async forget(jobId: string): Promise<void> {
    const until = Date.now() + FORGET_WAIT_MS;
    while (
      (await this.queue.remove(jobId).catch(() => 0)) !== 1 &&
      (await this.redis.exists(this.queue.toKey(jobId)))
    ) {
      if (Date.now() >= until) {
        throw new GatewayError(
          ErrorCode.ServiceUnavailable,
          'The earlier run under this Idempotency-Key is still finishing; retry shortly.',
          { retryAfterMs: 1_000 },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, FORGET_POLL_MS));
    }
    await this.redis.del(this.keys.outcome(jobId));
  }

  /**
   * The kept outcome of a sync job whose waiter has its answer and that nobody else may read (no Idempotency-Key,
   * no coalesced followers) is deleted now rather than at its deadline: Redis holds the outcomes of the requests
   * in flight, not of the last two minutes'.
   */
  release(jobId: string): void {
    this.outcomes.release(this.keys.outcome(jobId));
  }
}

/**
 * An async job its owner cancelled: whose it is, the run it stands for (its admission's request id: a replay under an
 * Idempotency-Key runs the job id again with a new one), when it was created and when it was cancelled (epoch ms).
 */
export interface CancelRecord {
  userId: string;
  /** The key that made the job (absent in a record a gateway older than the field wrote): who may read it. */
  apiKeyId?: string;
  requestId: string;
  createdAt: number;
  cancelledAt: number;
  /**
   * The run's admission, while its refund is owed: stored before the job is removed from the queue (the job was its
   * only other copy), dropped once refunded. A repeated cancel or a read finding only the record refunds it again.
   */
  refund?: Pick<GenerationRequest, 'reservation' | 'requestId' | 'deadlineAt' | 'receivedAt'>;
  /**
   * A worker held the job when it was cancelled (it was running; not removed from the queue): the job itself says how
   * it ended, and the record only tells whether its abort was this cancel's. Read only beside its job: once BullMQ
   * swept the job (its retention after it ended) the job is gone, however long the record is kept. Absent: the job
   * was removed while queued, and the record is all that is left of it.
   */
  held?: true;
}

function isCancelRecord(value: unknown): value is CancelRecord {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as CancelRecord).userId === 'string' &&
    typeof (value as CancelRecord).requestId === 'string' &&
    ['string', 'undefined'].includes(typeof (value as CancelRecord).apiKeyId) &&
    typeof (value as CancelRecord).createdAt === 'number' &&
    typeof (value as CancelRecord).cancelledAt === 'number'
  );
}

/**
 * What the worker keeps for a sync job: its outcome, whose it is (its user and key; no key from a worker older than
 * the field) and when it was asked.
 */
export type KeptOutcome = GenerateOutcome & KeptNative & { userId: string; apiKeyId?: string; receivedAt: number };

function isKeptOutcome(value: unknown): value is KeptOutcome {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as KeptOutcome).ok === 'boolean' &&
    typeof (value as KeptOutcome).userId === 'string' &&
    ['string', 'undefined'].includes(typeof (value as KeptOutcome).apiKeyId) &&
    typeof (value as KeptOutcome).receivedAt === 'number'
  );
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return null;
  }
}

import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError, type GenerationRequest } from '@aigw/core';
import { ENV, REDIS, RedisKeys, ShutdownState } from '@aigw/platform';
import { RedisScript } from '@aigw/routing';
import type { Redis } from 'ioredis';
import { boundedByAnswer } from './by-deadline';
import { GatewayEnv } from '../config/gateway-env';
import { idempotentJobId, requestFingerprint } from './idempotency';

export interface Claim {
  jobId: string;
  /** True for the first request with this key; false when it replays an earlier one. */
  fresh: boolean;
  /**
   * Set while this request holds the key's run (see IdempotencyService): it is the one request under the key that
   * may enqueue the job, until `unlock`. Absent for requests without a key and for replays that watch a job.
   */
  run?: string;
  /**
   * When the key's claim is due to expire (epoch ms, IDEMPOTENCY_TTL_S from the fresh claim), for `unlock` to bring it
   * back to that: while its run is held the claim lives at least RUN_HOLD_MS. Absent for a run a replay took.
   */
  expiresAt?: number;
}

/** What `takeRun` found: the run is this request's, another request's, or the claim is gone (claim it afresh). */
export type RunTake = 'taken' | 'busy' | 'gone';

/**
 * How long a request holds its key's run at most: from its claim to its enqueue (admission, the cache lookup), which
 * takes milliseconds, and seconds only when Redis or the quota rebuild is slow. A gateway that died in between
 * leaves the run held this long; the requests waiting on it then take it over.
 */
export const RUN_HOLD_MS = 10_000;

/**
 * The claim holds `<fingerprint>` or, while a request runs it, `<fingerprint>#<run token>#<held until, epoch ms>`:
 * one key, so each step is one command on any Redis (a Cluster included), and a claim written before runs existed
 * reads as one without a run.
 */
const SEP = '#';

/**
 * KEYS[1] the claim; ARGV: fingerprint, token, now, hold ms. 'gone', 'busy', or 'taken' (the run is the caller's). A
 * taken claim lives at least as long as its run is held: one about to expire would otherwise free the key for a request
 * with another body while this one is on its way to the job.
 */
const TAKE_RUN = new RedisScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  return 'gone'
end
local fp, token, untilMs = string.match(v, '^([^#]*)#([^#]*)#(%d+)$')
if fp == nil then
  fp = v
elseif tonumber(untilMs) > tonumber(ARGV[3]) then
  return 'busy'
end
if fp ~= ARGV[1] then
  return 'gone'
end
local held = fp .. '#' .. ARGV[2] .. '#' .. (tonumber(ARGV[3]) + tonumber(ARGV[4]))
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('SET', KEYS[1], held, 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], held, 'KEEPTTL')
end
return 'taken'
`);

/**
 * KEYS[1] the claim; ARGV: token, the claim's remaining ms ('' keeps its TTL). Ends the caller's run (only its own),
 * keeping the claim for what is left of its IDEMPOTENCY_TTL_S, or dropping it when that ran out while the run was held.
 */
const END_RUN = new RedisScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  return 0
end
local fp, token = string.match(v, '^([^#]*)#([^#]*)#%d+$')
if fp == nil or token ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], fp, 'KEEPTTL')
elseif tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], fp, 'PX', ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
return 1
`);

/**
 * `Idempotency-Key`: the first request claims the key; a replay with the same body reuses its job.
 *
 * Only one request under a key may enqueue its job at a time (its "run"): the first request takes it with its claim,
 * and a replay that finds no job (the first has not queued it yet, or it is gone or was never carried out) takes it
 * before it runs the request again, or else waits for the job of the request that holds it. Without this, requests
 * sent at the same instant each found no job and each ran: every one was admitted and charged, and they all
 * enqueued under one job id (BullMQ keeps the first and adds nothing), so all but one were charged for nothing.
 */
@Injectable()
export class IdempotencyService {
  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly shutdown: ShutdownState,
  ) {}

  /**
   * One round trip: SET NX with GET returns the claim stored by an earlier request, if any. A fresh claim holds the
   * key's run for the request (`token`, its request id). It is stored for IDEMPOTENCY_TTL_S but at least RUN_HOLD_MS,
   * and brought back to IDEMPOTENCY_TTL_S as the run ends (`unlock`): a key whose TTL ran out while its first request
   * was still on its way to its job (a slow admission) was free for another body, whose job then took the key's job id
   * and the first request's add added nothing (charged for a job that never ran, answered with the other's).
   */
  async claim(
    apiKeyId: string,
    key: string,
    endpoint: string,
    body: unknown,
    token: string,
    request: Pick<GenerationRequest, 'receivedAt' | 'deadlineAt'>,
  ): Promise<Claim> {
    const jobId = idempotentJobId(apiKeyId, key);
    const fingerprint = requestFingerprint(endpoint, body);
    const now = Date.now();
    const ttlMs = this.env.IDEMPOTENCY_TTL_S * 1000;
    const expiresAt = now + ttlMs;
    let previous: string | null;
    try {
      const set = this.redis.set(
        this.redisKey(jobId),
        runValue(fingerprint, token, now + RUN_HOLD_MS),
        'PX',
        Math.max(ttlMs, RUN_HOLD_MS),
        'NX',
        'GET',
      );
      // Bounded by when the request must be answered (a silent network holds the command): a claim Redis makes
      // afterwards gives its run back at once, so the client's retry runs the request rather than wait out RUN_HOLD_MS.
      previous = await boundedByAnswer(
        set,
        request,
        this.env.REQUEST_TIMEOUT_MS,
        (late) => {
          if (late === null) {
            this.unlock({ jobId, fresh: true, run: token, expiresAt });
          }
        },
        this.shutdown,
      );
    } catch (err) {
      // A GatewayError: the shutdown drain ended.
      throw err instanceof GatewayError ? err : unavailable(err);
    }
    if (previous === null) {
      return { jobId, fresh: true, run: token, expiresAt };
    }
    if (fingerprintOf(previous) === fingerprint) {
      return { jobId, fresh: false };
    }
    throw new GatewayError(
      ErrorCode.IdempotencyConflict,
      'This Idempotency-Key was already used with a different request.',
      { param: 'Idempotency-Key' },
    );
  }

  /**
   * A replay that found no job to answer from takes the key's run, to run the request itself (`taken`), unless
   * another request holds it (`busy`: its job is on its way) or the claim is gone (its first request was refused, or
   * it expired): then the request claims the key afresh. One round trip, only on that path.
   */
  async takeRun(jobId: string, endpoint: string, body: unknown, token: string): Promise<RunTake> {
    try {
      const found = await TAKE_RUN.run(
        this.redis,
        [this.redisKey(jobId)],
        [requestFingerprint(endpoint, body), token, Date.now(), RUN_HOLD_MS],
      );
      return found as RunTake;
    } catch (err) {
      throw unavailable(err);
    }
  }

  /**
   * The run's job is enqueued (or the request ended without one, e.g. a cache hit): replays now find the job, or
   * take the run to run the request themselves. A fresh claim goes back to expiring IDEMPOTENCY_TTL_S after it was
   * made (dropped now if that passed); one a replay took keeps its TTL (at most RUN_HOLD_MS past IDEMPOTENCY_TTL_S).
   * One command, as before, not awaited; if it fails the run lapses after RUN_HOLD_MS.
   */
  unlock(claim: Claim): void {
    if (claim.run !== undefined) {
      const token = claim.run;
      claim.run = undefined;
      const left = claim.expiresAt === undefined ? '' : String(claim.expiresAt - Date.now());
      END_RUN.run(this.redis, [this.redisKey(claim.jobId)], [token, left]).catch(() => undefined);
    }
  }

  /** Frees a claim whose job could not be enqueued, so the client's retry is not a replay of nothing. */
  async release(jobId: string): Promise<void> {
    await this.redis.del(this.redisKey(jobId)).catch(() => undefined);
  }

  private redisKey(jobId: string): string {
    return this.keys.key('idem', jobId);
  }
}

function runValue(fingerprint: string, token: string, untilMs: number): string {
  return `${fingerprint}${SEP}${token}${SEP}${untilMs}`;
}

/** The fingerprint of a stored claim, with or without a run. */
function fingerprintOf(value: string): string {
  const end = value.indexOf(SEP);
  return end < 0 ? value : value.slice(0, end);
}

function unavailable(err: unknown): GatewayError {
  return new GatewayError(
    ErrorCode.ServiceUnavailable,
    'The Idempotency-Key cannot be checked right now; retry shortly.',
    {
      retryAfterMs: 1_000,
      cause: err,
    },
  );
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ErrorCode,
  GatewayError,
  NO_LIMITS,
  unlimited,
  type GenerationRequest,
  type Reservation,
  merged,
} from '@aigw/core';
import {
  AdmissionStore,
  GovernanceKeys,
  type AdmissionInput,
  type AdmissionVerdict,
  type LimitCheck,
  nanosToUsd,
} from '@aigw/governance';
import { CatalogService, ENV, REDIS, RedisErrors, RedisKeys, ShutdownState, waitAtMost } from '@aigw/platform';
import type { Redis } from 'ioredis';
import { GatewayEnv } from '../config/gateway-env';
import { boundedByAnswer } from '../generation/by-deadline';
import type { AuthContext } from '../http/request-context';
import { QuotaRebuilder } from './quota-rebuilder';
import { rateLimitHeaders } from './rate-limit-headers';
import { reachable, worstCaseCharge, type Charge } from './worst-case';

export interface Admitted {
  /** `x-ratelimit-*` headers for the answer (empty when no rate limit applies). */
  headers: Record<string, string>;
  reservation: Reservation | null;
}

const NOT_LIMITED: Admitted = Object.freeze({ headers: {}, reservation: null });
/** How long a request waits for a rebuild of the quota counters before it is answered 503. */
const REBUILD_WAIT_MS = 2_000;

/** A refusal, with the headers its 429 must carry. */
export class AdmissionRefused extends GatewayError {
  /** `retryAfterMs` null: no wait helps (the request alone is larger than the limit); `x-should-retry: false`. */
  constructor(
    code: ErrorCode,
    message: string,
    retryAfterMs: number | null,
    readonly headers: Record<string, string>,
  ) {
    super(code, message, retryAfterMs === null ? { retry: false } : { retryAfterMs });
  }
}

/** The 503 of an admission that could not be checked. */
function unavailable(cause?: unknown): GatewayError {
  return new GatewayError(ErrorCode.ServiceUnavailable, 'Limits cannot be checked right now; retry shortly.', {
    retryAfterMs: 1_000,
    cause,
  });
}

/** A limit as its message states it: spend in dollars (the store counts nano-dollars). */
function limitText(check: LimitCheck, limit: number): string {
  return check.endsWith('spend') ? `$${nanosToUsd(limit)}` : String(limit);
}

const WHAT: Record<LimitCheck, string> = {
  key_rpm: 'requests per minute of this key',
  key_tpm: 'tokens per minute of this key',
  user_rpm: 'requests per minute of this user',
  user_tpm: 'tokens per minute of this user',
  daily_requests: 'daily request limit',
  daily_spend: 'daily spend limit',
  monthly_requests: 'monthly request limit',
  monthly_spend: 'monthly spend limit',
};

/**
 * The rate-limit and quota step of the request path: one Redis script call checks every limit of the caller
 * and reserves the request's tokens and worst-case spend (nothing at all for a caller without limits). The
 * worker settles the reservation to the real usage; the gateway refunds it when the job never runs.
 *
 * Redis unreachable: admission refuses with 503 (fail closed, ADR 0004): the request could not be queued
 * anyway, and a budget must not be overspent while its counters cannot be read.
 */
/** Where a charge's completion allowance came from (see tooLarge). */
type Allowance = 'client' | 'default' | 'none';

@Injectable()
export class AdmissionService {
  private readonly logger = new Logger(AdmissionService.name);
  private readonly store: AdmissionStore;

  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    @Inject(REDIS) redis: Redis,
    keys: RedisKeys,
    private readonly catalog: CatalogService,
    private readonly rebuilder: QuotaRebuilder,
    private readonly errors: RedisErrors,
    private readonly shutdown: ShutdownState,
  ) {
    this.store = new AdmissionStore(redis, new GovernanceKeys(keys.prefix));
  }

  async admit(caller: AuthContext, request: GenerationRequest): Promise<Admitted> {
    const { limits } = caller.policy;
    if (unlimited(limits)) {
      return NOT_LIMITED;
    }
    // What the charge's completion allowance is: none for embeddings, else the client's max_tokens or, when it sent
    // none, the one the cap below sets.
    const allowance: Allowance =
      request.embeddings !== undefined ? 'none' : request.options.maxTokens !== undefined ? 'client' : 'default';
    if (
      request.embeddings === undefined &&
      request.options.maxTokens === undefined &&
      (limits.dailySpendLimitUsd !== null || limits.monthlySpendLimitUsd !== null)
    ) {
      // The reservation assumes this completion allowance: a longer answer could take concurrent requests past the
      // budget, so a budgeted caller's request without max_tokens is capped at it (finish_reason `length`).
      request.options.maxTokens = this.env.QUOTA_DEFAULT_MAX_TOKENS;
    }
    const candidates = reachable(request, this.catalog.deployments(), (ref) => this.catalog.servingDeployments(ref));
    const charge = worstCaseCharge(request, candidates, this.env.QUOTA_DEFAULT_MAX_TOKENS);
    const input = {
      keyId: caller.apiKeyId,
      userId: caller.userId,
      limits,
      tokens: charge.tokens,
      reserveUsd: charge.reserveUsd,
      media: charge.mediaTokens > 0 ? { tokens: charge.mediaTokens, reserveUsd: charge.mediaReserveUsd } : undefined,
      now: Date.now(),
      // Its usage record's time: the day and month it counts in, however late past midnight it is admitted.
      receivedAt: request.receivedAt,
      // Charged once, though the connection sends the script again after dropping with it unanswered.
      requestId: request.requestId,
    };
    let verdict = await this.check(input, request);
    if (verdict.kind === 'rebuild') {
      // Redis lost the counters: rebuilt from usage_records (one query), then this request is checked again.
      await waitAtMost(this.rebuilder.trigger(), REBUILD_WAIT_MS);
      verdict = await this.check(input, request);
    }
    switch (verdict.kind) {
      case 'admitted':
        return { headers: rateLimitHeaders(verdict.rate), reservation: verdict.reservation };
      case 'rebuild':
        throw new GatewayError(ErrorCode.ServiceUnavailable, 'Quota counters are being rebuilt; retry in a moment.', {
          retryAfterMs: 1_000,
        });
      case 'undone':
        // Its admission was taken back before it ran (`check`: an error came instead of its answer): not admitted.
        throw unavailable();
      case 'refused': {
        const rate = verdict.check.endsWith('pm');
        const code = rate ? ErrorCode.RateLimited : ErrorCode.QuotaExceeded;
        const headers = rateLimitHeaders(verdict.rate);
        if (verdict.tooLarge) {
          throw new AdmissionRefused(
            code,
            this.tooLarge(verdict.check, verdict.limit, charge, allowance),
            null,
            headers,
          );
        }
        const resets = new Date(input.now + verdict.retryAfterMs).toISOString();
        const message = rate
          ? `Rate limit reached: ${WHAT[verdict.check]} (${verdict.limit}); retry after ${resets}.`
          : `Quota exceeded: ${WHAT[verdict.check]} (${limitText(verdict.check, verdict.limit)}); it resets at ${resets}.`;
        throw new AdmissionRefused(code, message, verdict.retryAfterMs, headers);
      }
    }
  }

  /** Why a request larger than a limit on its own is refused, and what would let it through. */
  private tooLarge(check: LimitCheck, limit: number, charge: Charge, allowance: Allowance): string {
    if (check.endsWith('rpm') || check.endsWith('requests')) {
      // Only a limit of 0 refuses one request on its own: it allows none, whatever the request.
      return `The ${WHAT[check]} is ${limitText(check, limit)}: no request is allowed. Waiting will not help; an admin can raise it.`;
    }
    if (check.endsWith('tpm') && limit === 0) {
      // Only TIERS_FILE can set it (the admin API and RATE_LIMIT_TPM take 1 or more): every request asks some tokens,
      // so none fits, and lowering max_tokens never helps.
      return `The ${WHAT[check]} is 0: no tokens are allowed, so no request is. Waiting will not help; an admin can raise it.`;
    }
    if (check.endsWith('spend') && limit === 0) {
      // Only a request that may cost nothing passes a budget of $0 (a free model): no max_tokens makes a priced one fit.
      return `The ${WHAT[check]} is $0: only a model that costs nothing is allowed. Waiting will not help; ask for such a model, or an admin can raise it.`;
    }
    // A request without max_tokens is charged QUOTA_DEFAULT_MAX_TOKENS (and, under a spend limit, capped at it):
    // telling its client to lower a max_tokens it never sent would leave it nothing to change. Embeddings have no
    // completion: only their input counts.
    // Audio and file parts are reserved only as far as the limit leaves (ADMIT_LUA): they never make a request too
    // large on their own, so what it asks is the rest of it, and they are said to be left out.
    const media = charge.mediaTokens > 0;
    const prompt = media ? 'the prompt estimate without its file and audio parts' : 'the prompt estimate';
    const { estimate, advice } = {
      client: { estimate: `${prompt} plus max_tokens`, advice: 'lower max_tokens' },
      default: {
        estimate: `${prompt} plus ${this.env.QUOTA_DEFAULT_MAX_TOKENS} completion tokens reserved without max_tokens`,
        advice: `send a max_tokens below the ${this.env.QUOTA_DEFAULT_MAX_TOKENS} reserved without it`,
      },
      none: { estimate: 'the input estimate', advice: 'send fewer or shorter inputs' },
    }[allowance];
    const asked = check.endsWith('spend')
      ? `a worst-case cost of $${(charge.reserveUsd - charge.mediaReserveUsd).toPrecision(3)} (${estimate}, at the highest price it may reach)`
      : `${charge.tokens - charge.mediaTokens} tokens (${estimate})`;
    return (
      `Request too large for the ${WHAT[check]} (${limitText(check, limit)}): it asks ${asked}. ` +
      `Waiting will not help; ${advice}${check.endsWith('spend') ? ' or ask for a cheaper model' : ''}.`
    );
  }

  /**
   * The caller's requests-per-minute limits (key and user) for a read that is no generation (the models listing):
   * one request against the minute, no tokens, no spend, no daily or monthly quota. No limit: no Redis call. Bounded
   * by REQUEST_TIMEOUT_MS from `receivedAt`, as a generation's admission is by its deadline (`check`).
   */
  async admitRead(caller: AuthContext, receivedAt: number): Promise<Record<string, string>> {
    const { keyRpm, userRpm } = caller.policy.limits;
    if (keyRpm === null && userRpm === null) {
      return {};
    }
    const input = {
      keyId: caller.apiKeyId,
      userId: caller.userId,
      limits: merged(NO_LIMITS, { keyRpm, userRpm }),
      tokens: 0,
      reserveUsd: 0,
      now: Date.now(),
    };
    // A rate-only check reserves nothing: one that answers past the deadline leaves nothing to give back.
    const verdict = await this.check(input, { receivedAt, deadlineAt: receivedAt + this.env.REQUEST_TIMEOUT_MS });
    switch (verdict.kind) {
      case 'admitted':
        return rateLimitHeaders(verdict.rate);
      case 'rebuild':
      case 'undone':
        // Only quotas need the epoch; a rate-only check never asks for a rebuild, and has no request id to undo.
        return {};
      case 'refused': {
        const resets = new Date(Date.now() + verdict.retryAfterMs).toISOString();
        throw new AdmissionRefused(
          ErrorCode.RateLimited,
          `Rate limit reached: ${WHAT[verdict.check]} (${verdict.limit}); retry after ${resets}.`,
          verdict.retryAfterMs,
          rateLimitHeaders(verdict.rate),
        );
      }
    }
  }

  /**
   * One admission script, bounded by when its request must be answered (`answerBy`: its deadline, at most
   * REQUEST_TIMEOUT_MS for an async submission): a Redis that holds the script (a half-open network, a paused server)
   * answers the request 503 then, not whenever the network comes back, and a reservation the script makes after that
   * is given back as it arrives.
   *
   * A script that fails (ioredis gave up on it after its connection dropped: `maxRetriesPerRequest`), now or after the
   * request was answered, may have run all the same: its request id's admission is undone (`undo`). Nothing more on
   * the way of an admission that answers.
   */
  private async check(
    input: AdmissionInput,
    // A rate-only read has no request id: it reserves nothing, so a late verdict leaves nothing to give back.
    request: Pick<GenerationRequest, 'deadlineAt' | 'receivedAt'> & Partial<Pick<GenerationRequest, 'requestId'>>,
  ): Promise<AdmissionVerdict> {
    const admission = this.store.admit(input);
    try {
      return await boundedByAnswer(
        admission,
        request,
        this.env.REQUEST_TIMEOUT_MS,
        (late) => {
          if (late.kind === 'admitted' && late.reservation !== null && request.requestId !== undefined) {
            // Answered without it (503): nobody served, nothing records it.
            void this.refund(
              { reservation: late.reservation, requestId: request.requestId, receivedAt: request.receivedAt },
              true,
            );
          }
        },
        this.shutdown,
      );
    } catch (err) {
      const requestId = request.requestId;
      if (requestId !== undefined) {
        // Failed, or still on its way (past the deadline or the drain): if it fails, its charge is taken back. If it
        // answers instead, `late` above gives its reservation back.
        admission.catch(() => this.undo(merged(input, { requestId })));
      }
      if (err instanceof GatewayError) {
        // The shutdown drain ended (`boundedByAnswer`).
        throw err;
      }
      this.errors.report('admission', err);
      throw unavailable(err);
    }
  }

  /**
   * Gives back the reservation of a job removed from the queue before any worker took it (its owner cancelled it),
   * marked as the worker marks its settlement (per admission, its request id, until a minute past its deadline): it
   * is settled once, whoever gets there. `uncount`: nobody served it and no usage record counts it (its job cancelled or
   * removed before a worker took it, never queued), so it is taken off the day's and month's requests too, which
   * usage_records (the quota views, a rebuild of the counters) do not count it in; a request answered and recorded
   * (a failed job's) keeps its count. Redis failing leaves it charged, as `refund` does: false (the caller may
   * try again; the marker makes that safe until it expires, a minute past the deadline).
   */
  refundOnce(
    request: Pick<GenerationRequest, 'reservation' | 'requestId' | 'deadlineAt' | 'receivedAt'>,
    uncount = false,
  ): Promise<boolean> {
    const once = { jobId: request.requestId, ttlMs: Math.max(0, request.deadlineAt - Date.now()) + 60_000 };
    return this.giveBack(request.reservation, (r) => this.store.settle(r, 0, 0, once, request.receivedAt, uncount));
  }

  /**
   * Gives back the reservation of a request that has no job (a cache hit, a coalesced follower, one that never got
   * to be queued), marked by its request id for a little while (`AdmissionStore.refund`): ioredis sends a script
   * again when the connection dropped before its answer, and an unmarked refund that had run was applied twice. One
   * key more written in the same script call, no round trip more. `uncount` as `refundOnce`'s (a cache hit and a
   * coalesced follower are answered and recorded: they keep their count). False when Redis failed: the day's counter stays
   * high by one reservation until it expires or is rebuilt.
   */
  refund(
    request: Pick<GenerationRequest, 'reservation' | 'requestId' | 'receivedAt'>,
    uncount = false,
  ): Promise<boolean> {
    return this.giveBack(request.reservation, (r) =>
      this.store.refund(r, request.requestId, request.receivedAt, uncount),
    );
  }

  /**
   * Takes back the admission of a request answered without its verdict (`check`): Redis may have run the script whose
   * answer never came, and its charge would stay in the counters until the minute, day and month ended. One script
   * call (`AdmissionStore.undo`): the charge given back if the script ran, else a tombstone that keeps it from
   * charging should it still arrive; safe to run twice. Sent on the command connection, which holds it while it
   * reconnects and gives up on it after `maxRetriesPerRequest` + 1 failed attempts more (a second apart at most, each
   * bounded by ioredis' connect timeout): a Redis that stays away that long keeps the charge, as before, until its
   * periods end or the counters are rebuilt.
   */
  private async undo(input: AdmissionInput & { requestId: string }): Promise<void> {
    try {
      await this.store.undo(input);
    } catch (err) {
      this.errors.report('admission', err);
      this.logger.debug(`admission not undone: ${String(err)}`);
    }
  }

  private async giveBack(
    reservation: Reservation | undefined,
    settle: (reservation: Reservation) => Promise<void>,
  ): Promise<boolean> {
    if (reservation === undefined) {
      return true;
    }
    try {
      await settle(reservation);
      return true;
    } catch (err) {
      this.errors.report('admission', err);
      this.logger.debug(`reservation not refunded: ${String(err)}`);
      return false;
    }
  }
}

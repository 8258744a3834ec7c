import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError, newRequestId, type GenerationRequest } from '@aigw/core';
import { ENV } from '@aigw/platform';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { GatewayEnv } from '../config/gateway-env';
import { CacheStage, type WarmSkipReason } from '../generation/cache-stage';
import { GenerationQueue } from '../generation/generation-queue';
import { ReplyHub } from '../generation/reply-hub';
import type { RequestFrame } from '../generation/request-frame';
import { Servable } from '../generation/servable';
import { SyncWait } from '../generation/sync-wait';
import type { AuthContext } from '../http/request-context';
import { GenerateDto } from '../native/generate.dto';
import { nativeRequest } from '../native/native-mapping';
import { ChatCompletionDto } from '../openai/chat-completion.dto';
import { chatCompletionRequest } from '../openai/openai-mapping';
import { assertChatRules } from '../validation/chat-rules';
import { unknownFieldError } from '../validation/known-fields';
import { validationFailure } from '../validation/validation-errors';
import { REQUEST_VALIDATION_OPTIONS } from '../validation/validation-pipe';

/** Warming jobs queue behind every normal job (which carry no priority) and each other's peers. */
export const WARM_PRIORITY = 1_000;
export const MAX_WARM_REQUESTS = 100;
/**
 * How long a warm call waits for its jobs; those not done by then count as failed (they still run and fill). Only the
 * wait's deadline: a job's own is an async job's (ASYNC_JOB_RETENTION_S). It was this one, and the worker ended a job
 * still queued at that moment as `timeout` without a provider call (and aborted one still running): nothing past the
 * wait filled.
 */
const WARM_DEADLINE_MS = 60_000;
const CHECK_MS = 1_000;

/**
 * What happened to one request: `warmed` (its answer is in the cache now), `already_cached` (not run), `skipped` (it
 * ran and was answered, but the answer is not in the cache: `reason`) or `failed` (`error`, an error code).
 */
export type WarmResult =
  | { status: 'warmed' | 'already_cached' }
  | { status: 'skipped'; reason: WarmSkipReason }
  | { status: 'failed'; error: string };

export interface WarmReport {
  requested: number;
  warmed: number;
  alreadyCached: number;
  skipped: number;
  failed: number;
  /** Per request, in order. */
  results: WarmResult[];
}

/** Native requests are told apart by their own fields; anything else is an OpenAI chat completion request. */
const NATIVE_FIELDS = ['prompt', 'systemPrompt', 'options', 'useCache'];

/**
 * `POST /api/v1/ai/admin/cache/warm` (ADR 0005): each request, validated as its API validates it, runs as a
 * low-priority `generate` job through the normal worker path, which fills the cache; the call waits for them with
 * a deadline. A native request with `useCache: false` is a 400 (it refuses the cache; it was run and its answer
 * stored all the same). Requests already in the cache are not run; a model whose cache is off counts as failed; an answer the
 * cache does not hold afterwards (`CacheStage.unstored`) is `skipped`, never reported warmed. Refused (409)
 * under CACHE_SCOPE=user, where no entry is shared.
 */
@Injectable()
export class CacheWarmer {
  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly servable: Servable,
    private readonly cache: CacheStage,
    private readonly queue: GenerationQueue,
    private readonly hub: ReplyHub,
  ) {}

  async warm(bodies: unknown[], auth: AuthContext): Promise<WarmReport> {
    if (this.env.CACHE_SCOPE === 'user') {
      // Every entry is keyed by its user, and these requests are the admin's: they would fill only the admin's own
      // entries (each a provider call) and be reported warmed, while every other user's identical request missed.
      throw new GatewayError(
        ErrorCode.Conflict,
        "Cache warming fills the entries every caller shares; with CACHE_SCOPE=user each user's answers are kept apart, so it would fill only your own.",
      );
    }
    const waitUntil = Date.now() + WARM_DEADLINE_MS;
    const deadlineAt = Date.now() + this.env.ASYNC_JOB_RETENTION_S * 1000;
    const requests: GenerationRequest[] = [];
    for (const [i, body] of bodies.entries()) {
      requests.push(await this.requestOf(body, i, auth, deadlineAt));
    }
    // Identical requests (one cache key) run once: the first's run stands for the others.
    const runs = new Map<string, Promise<WarmResult>>();
    const results = await Promise.all(requests.map((r) => this.warmOne(r, waitUntil, runs)));
    const count = (s: WarmResult['status']): number => results.filter((r) => r.status === s).length;
    return {
      requested: requests.length,
      warmed: count('warmed'),
      alreadyCached: count('already_cached'),
      skipped: count('skipped'),
      failed: count('failed'),
      results,
    };
  }

  /** Validated like the API it belongs to; a problem is a 400 naming `requests[i].<field>`. */
  private async requestOf(body: unknown, i: number, auth: AuthContext, deadlineAt: number): Promise<GenerationRequest> {
    const at = `requests[${i}]`;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new GatewayError(ErrorCode.InvalidRequest, `Invalid '${at}': must be a request object.`, { param: at });
    }
    const frame: RequestFrame = {
      requestId: newRequestId(),
      userId: auth.userId,
      apiKeyId: auth.apiKeyId,
      receivedAt: Date.now(),
      deadlineAt,
    };
    const native = NATIVE_FIELDS.some((f) => f in body);
    // Two calls, not one over `native ? A : B`: TypeScript infers that one's type from whichever class it met first.
    const dto = native ? plainToInstance(GenerateDto, body) : plainToInstance(ChatCompletionDto, body);
    // Validated as the API's pipe validates, and its error worded the same way.
    const errors = await validate(dto, REQUEST_VALIDATION_OPTIONS);
    try {
      const unknown = native ? unknownFieldError(GenerateDto, body) : null;
      if (unknown !== null) {
        throw unknown;
      }
      if (errors.length > 0) {
        throw validationFailure(errors);
      }
      if (dto instanceof GenerateDto) {
        if (dto.useCache === false) {
          // The request refuses the cache (as `x-gateway-cache: no-store`): run, its answer would be stored regardless.
          throw new GatewayError(
            ErrorCode.InvalidRequest,
            "Invalid 'useCache': a request to warm the cache with must allow it (useCache: false is never stored).",
            { param: 'useCache' },
          );
        }
        return { ...nativeRequest(dto, frame), stream: false };
      }
      assertChatRules(dto);
      return { ...chatCompletionRequest(dto, frame, body), stream: false };
    } catch (err) {
      if (err instanceof GatewayError && err.code === ErrorCode.InvalidRequest) {
        const param = err.param === null || err.param === undefined ? at : `${at}.${err.param}`;
        throw new GatewayError(ErrorCode.InvalidRequest, `${at}: ${err.message}`, { param, cause: err });
      }
      throw err;
    }
  }

  /**
   * `runs`: the runs of this call by cache entry. A request identical to one already run by the call (the same key:
   * they differ at most in what the key leaves out) waits for that run: two jobs were two provider calls for one entry.
   */
  private async warmOne(
    request: GenerationRequest,
    waitUntil: number,
    runs: Map<string, Promise<WarmResult>>,
  ): Promise<WarmResult> {
    let found: Awaited<ReturnType<CacheStage['peek']>>;
    try {
      this.servable.assert(request);
      found = await this.cache.peek(request);
    } catch (err) {
      return failure(err);
    }
    if (found === 'hit') {
      return { status: 'already_cached' };
    }
    if (found !== 'miss' || request.cache === undefined) {
      return { status: 'failed', error: found === 'off' ? 'cache_disabled' : 'cache_unavailable' };
    }
    // Looked up and set with no await between: of identical requests, the first to get here runs.
    const entry = `${request.cache.modelTag}:${request.cache.key}`;
    const earlier = runs.get(entry);
    if (earlier !== undefined) {
      return earlier;
    }
    const run = this.run(request, waitUntil);
    runs.set(entry, run);
    return run;
  }

  /** Runs the request as a warming job and says whether its answer is in the cache now. Never rejects. */
  private async run(request: GenerationRequest, waitUntil: number): Promise<WarmResult> {
    try {
      const wait = new SyncWait({
        jobId: request.requestId,
        deadlineAt: waitUntil,
        firstCheckMs: CHECK_MS,
        checkEveryMs: CHECK_MS,
        // Past the wait the job is left to run (its own deadline is later): it still fills the cache.
        onAbandon: () => undefined,
      });
      await this.hub.watchEnqueued(wait, () =>
        this.queue.add(request, {
          jobId: request.requestId,
          replyTo: this.hub.channel,
          retention: { keepOutcomeMs: 0 },
          priority: WARM_PRIORITY,
        }),
      );
      const answer = await wait.answer;
      // Answered is not stored: the worker skips some answers, and its write may fail without failing the job.
      const reason = await this.cache.unstored(request, answer);
      return reason === null ? { status: 'warmed' } : { status: 'skipped', reason };
    } catch (err) {
      return failure(err);
    }
  }
}

function failure(err: unknown): WarmResult {
  return { status: 'failed', error: err instanceof GatewayError ? err.code : ErrorCode.Internal };
}

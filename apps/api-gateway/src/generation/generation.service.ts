import { Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  answerStorable,
  ErrorCode,
  GatewayError,
  merged,
  type GenerationRequest,
  type GenerationResult,
  type NativeInput,
  type ToolCallDelta,
  noop,
} from '@aigw/core';
import { ENV, ShutdownState } from '@aigw/platform';
import { AdmissionRefused, AdmissionService } from '../admission/admission.service';
import { ModelAccess } from '../auth/model-access';
import { GatewayEnv } from '../config/gateway-env';
import type { Client } from '../http/client';
import { arrivedAt, type AuthContext } from '../http/request-context';
import { resultHeaders, STALE_WARNING, type CacheStatus } from '../http/result-headers';
import { CACHE_CONTROL_HEADER, CACHE_HEADER, cacheDirectiveOf, checkCacheHeader } from './cache-directive';
import { boundedByAnswer } from './by-deadline';
import { CacheStage, type CacheDecision } from './cache-stage';
import { CancellationService } from './cancellation.service';
import { FreshToolCallIds } from './fresh-tool-call-ids';
import { COALESCED_HEADER, Coalescing, unrecordedFailureEvent, type Party } from './coalescing';
import { GatewayMetrics } from './gateway-metrics';
import { GenerationQueue, type Retention } from './generation-queue';
import { FailedJobError, LostJobError, type JobSnapshot } from './job-snapshot';
import { IDEMPOTENCY_HEADER, idempotencyKeyOf, idempotentJobId } from './idempotency';
import { IdempotencyService, RUN_HOLD_MS, type Claim } from './idempotency.service';
import { PendingLimit } from './pending-limit';
import { ReplyHub } from './reply-hub';
import {
  ClientGoneError,
  clientGoneError,
  GatewayShutdownError,
  type ReplyWaiter,
  type WaiterOptions,
} from './reply-waiter';
import {
  ALLOW_FALLBACK_HEADER,
  allowFallbackFromHeader,
  policyFromHeader,
  POLICY_HEADER,
  type RequestFrame,
} from './request-frame';
import { Servable } from './servable';
import { StreamRelay, type StreamEncoderFactory, type StreamHead } from './stream-relay';
import { SyncWait } from './sync-wait';
import { UsageQueue } from './usage-queue';

/** Our own job: its answer comes on the reply channel; the stored job is only read if that got lost. */
const OWN_FIRST_CHECK_MS = 2_000;
const OWN_CHECK_EVERY_MS = 1_000;
/** Runs of a coalesced follower whose jobs keep ending without an answer for it (see `runsAlone`). */
const MAX_FOLLOWER_RUNS = 3;
/** How long an Idempotency-Key retry waits for the cancelled run under its key to stop, and how often it looks. */
const CANCELLED_STOP_WAIT_MS = 3_000;
const CANCELLED_STOP_POLL_MS = 50;
/** How often a replay that found no job looks again while another request under its key is queuing it. */
const RUN_WAIT_POLL_MS = 25;

/** A replayed job answers on another instance's channel (or none): read its stored state often. */
const REPLAY_CHECK_MS = 100;
/** A replay answered from its job looks nothing up in the response cache. */
const REPLAYED: CacheDecision = { status: 'bypass' };
const REPLAY_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'x-gateway-idempotent-replay': 'true' });

export interface Submission {
  request: GenerationRequest;
  /** Endpoint name, fingerprinted with the body for Idempotency-Key replays. */
  endpoint: string;
  /** The native API's `useCache` (false: neither answer from nor store in the response cache). */
  useCache?: boolean;
  /**
   * The native API's input field, and whether a `systemPrompt` went first (NativeShape): a failed job's error names
   * the fields of its body, read from the job (async) or from the outcome its worker kept (sync).
   */
  native?: { input: NativeInput; systemPrompt: boolean };
}

type Mode = 'sync' | 'async';

/** A request past its Idempotency-Key: the job it runs as, and the stored job a replay answers from (else null). */
interface Entry {
  claim: Claim;
  stored: JobSnapshot | null;
  /** Whether the request came with an Idempotency-Key (read once, as it arrived). */
  keyed: boolean;
}

/**
 * The generation pipeline of every entrance (chat completions, messages, embeddings, native), free of HTTP types:
 *
 *   authorize (key allow-list) → validate (servable) → claim (Idempotency-Key) → admit (rate limits, quota
 *   reserve) → cache → coalesce → enqueue → await (reply channel, stored job) → answer headers
 *
 * An Idempotency-Key replay of a job that exists skips admission, the cache and the enqueue and awaits that job.
 * A coalesced follower (an identical request already in flight, ADR 0007) skips the enqueue and awaits the
 * leader's job instead.
 *
 * Each step is a unit of its own (ModelAccess, Servable, AdmissionService, IdempotencyService, GenerationQueue,
 * ReplyHub with its waiters); this class only orders them for the three ways to answer: sync (one result),
 * streamed (SSE relay) and async (job id only). Settlement happens in the worker; refunds of work that never runs
 * here. Headers go on the answer in one place each: rate limits at admission, `x-gateway-*` with the result.
 */
@Injectable()
export class GenerationService {
  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly access: ModelAccess,
    private readonly servable: Servable,
    private readonly admission: AdmissionService,
    private readonly cache: CacheStage,
    private readonly coalescing: Coalescing,
    private readonly idempotency: IdempotencyService,
    private readonly queue: GenerationQueue,
    private readonly hub: ReplyHub,
    private readonly cancellation: CancellationService,
    private readonly metrics: GatewayMetrics,
    private readonly limit: PendingLimit,
    private readonly shutdown: ShutdownState,
    private readonly usage: UsageQueue,
  ) {}

  /**
   * The fields every request carries; `async` jobs may wait in the queue as long as their result is kept. Its deadline
   * counts from its arrival (`arrivedAt`): a key lookup or a body read that took long (a slow PostgreSQL, a slow
   * client) is part of REQUEST_TIMEOUT_MS, not added to it.
   */
  frame(client: Client, mode: Mode): RequestFrame {
    checkCacheHeader(client.header(CACHE_HEADER));
    const receivedAt = arrivedAt(client.startedAt);
    const budgetMs = mode === 'sync' ? this.env.REQUEST_TIMEOUT_MS : this.env.ASYNC_JOB_RETENTION_S * 1000;
    return {
      requestId: client.jobId,
      userId: client.caller.userId,
      apiKeyId: client.caller.apiKeyId,
      receivedAt,
      deadlineAt: receivedAt + budgetMs,
      policy: policyFromHeader(client.header(POLICY_HEADER)),
      allowFallback: allowFallbackFromHeader(client.header(ALLOW_FALLBACK_HEADER)),
    };
  }

  async answer(sub: Submission, client: Client): Promise<GenerationResult> {
    this.makeRoom(client);
    // Until its job is queued (or it needs none), a draining process keeps its own worker taking jobs for it.
    const arrived = this.hub.arriving();
    try {
      const entry = await this.enter(sub, client);
      try {
        return await this.answerEntered(sub, client, entry, arrived);
      } finally {
        // However the request ended (queued, a hit, a refusal, an error), replays under its key stop waiting for it.
        this.idempotency.unlock(entry.claim);
      }
    } finally {
      arrived();
    }
  }

  private async answerEntered(
    sub: Submission,
    client: Client,
    entry: Entry,
    arrived: () => void,
  ): Promise<GenerationResult> {
    const cached = entry.stored === null ? await this.lookup(sub, client, true) : REPLAYED;
    if (cached.status === 'hit') {
      client.setHeaders(resultHeaders(cached.result, 'hit'));
      this.metrics.succeeded(cached.result, client.startedAt, 'hit');
      return cached.result;
    }
    let party = await this.coalesce(sub, client, cached, entry.keyed);
    for (let run = 1; ; run++) {
      const current = party;
      const claim = current === null ? entry.claim : { jobId: current.jobId, fresh: true };
      const wait = new SyncWait(this.waiterOptions(claim, sub.request, current, watching(entry)));
      client.onGone(() => wait.abandon('client_disconnected'));
      try {
        if (current?.role === 'follower') {
          this.leftWhileJoining(client, wait);
          this.hub.follow(wait, current.names);
        } else {
          await this.dispatch(sub, client, claim, wait, current, entry.stored);
        }
        arrived();
        const answer = await wait.answer.finally(() => this.release(sub, claim, current));
        if (this.asksAgain(answer, current, sub, client, run)) {
          const again = await this.rejoin(sub, client, cached, current).catch(() => undefined);
          if (again !== undefined) {
            party = again;
            continue;
          }
          // Past its deadline, or the drain ended, while it joined again: the leader's answer is what it has.
        }
        const result = current?.role === 'follower' ? this.coalescing.serve(answer, sub.request) : answer;
        this.saySharedCall(client, current);
        client.setHeaders(resultHeaders(result, cached.status));
        this.metrics.succeeded(result, client.startedAt, cached.status);
        return result;
      } catch (caught) {
        let err = caught;
        if (this.runsAlone(err, current, sub, client, run)) {
          try {
            party = await this.rejoin(sub, client, cached, current);
            continue;
          } catch (joinErr) {
            // Past its deadline or at the end of the drain while it joined again: that is its answer.
            err = joinErr;
          }
        }
        this.saySharedCall(client, current);
        const stale = this.staleable(err, sub, cached) ? await this.cache.stale(sub.request) : null;
        if (stale === null) {
          this.failed(err, cached, sub, current);
          throw err;
        }
        this.servedStale(err, sub, current);
        client.setHeaders(merged(resultHeaders(stale, 'stale'), STALE_WARNING));
        this.metrics.succeeded(stale, client.startedAt, 'stale');
        return stale;
      }
    }
  }

  /** Resolves once the SSE response is open (the relay then owns it); rejects with the error to answer. */
  async stream(sub: Submission, client: Client, encoder: StreamEncoderFactory): Promise<void> {
    this.makeRoom(client);
    const arrived = this.hub.arriving();
    try {
      const entry = await this.enter(sub, client);
      try {
        await this.streamEntered(sub, client, encoder, entry, arrived);
      } finally {
        this.idempotency.unlock(entry.claim);
      }
    } finally {
      arrived();
    }
  }

  private async streamEntered(
    sub: Submission,
    client: Client,
    encoder: StreamEncoderFactory,
    entry: Entry,
    arrived: () => void,
  ): Promise<void> {
    const cached = entry.stored === null ? await this.lookup(sub, client, true) : REPLAYED;
    if (cached.status === 'hit') {
      return this.replay(cached.result, 'hit', sub, client, encoder);
    }
    let party = await this.coalesce(sub, client, cached, entry.keyed);
    for (let run = 1; ; run++) {
      const current = party;
      const claim: Claim = current === null ? entry.claim : { jobId: current.jobId, fresh: true };
      const follower = current?.role === 'follower';
      // A follower's stream names the leader's tool calls by ids of its own, the same in its fragments and its end.
      const ids = follower ? new FreshToolCallIds() : null;
      // This relay ended before its stream opened, with no answer from the job it followed: the request runs again.
      let again = false;
      // The leader's answer a follower's stream ends in: accounted once the stream did end in it (`onEnd`), not when
      // the relay makes it the follower's, which may still end in an error (a stream that cannot be resumed).
      let shared: GenerationResult | null = null;
      const relay: StreamRelay = new StreamRelay(
        merged(this.waiterOptions(claim, sub.request, current, watching(entry)), {
          sink: client.sse(),
          encoder,
          cache: cached.status,
          keepAliveMs: this.env.SSE_KEEPALIVE_MS,
          serve: ids
            ? (answer: GenerationResult) => {
                shared = answer;
                return this.coalescing.present(answer, sub.request, ids);
              }
            : undefined,
          serveHead: follower
            ? (head: StreamHead) => {
                this.saySharedCall(client, current);
                return this.coalescing.serveHead(head, sub.request);
              }
            : undefined,
          serveToolCalls: ids ? (pieces: readonly ToolCallDelta[]) => ids.deltas(pieces) : undefined,
          onEnd: (outcome: { result: GenerationResult } | { error: GatewayError }) => {
            this.release(sub, claim, current);
            if ('result' in outcome) {
              if (shared !== null) {
                this.coalescing.answered(shared, sub.request, outcome.result);
              }
              this.metrics.succeeded(outcome.result, client.startedAt, cached.status);
            } else if (!relay.opened && this.runsAlone(outcome.error, current, sub, client, run)) {
              // Counted as what its next run ends in.
              again = true;
            } else if (relay.opened || !this.staleable(outcome.error, sub, cached)) {
              // A failure before the stream opened that a stale answer may replace is counted below.
              this.failed(outcome.error, cached, sub, current);
            }
          },
        }),
      );
      client.onGone(() => relay.abandon('client_disconnected'));
      if (current?.role === 'follower') {
        this.leftWhileJoining(client, relay);
        this.hub.follow(relay, current.names);
      } else {
        await this.dispatch(sub, client, claim, relay, current, entry.stored);
      }
      arrived();
      try {
        await relay.started;
        return;
      } catch (caught) {
        let err = caught;
        if (again) {
          try {
            party = await this.rejoin(sub, client, cached, current);
            continue;
          } catch (joinErr) {
            // Past its deadline or at the end of the drain while it joined again: that is its answer.
            err = joinErr;
            this.failed(err, cached, sub, current);
            this.saySharedCall(client, current);
            throw err;
          }
        }
        this.saySharedCall(client, current);
        const stale = this.staleable(err, sub, cached) ? await this.cache.stale(sub.request) : null;
        if (stale === null) {
          if (this.staleable(err, sub, cached)) {
            this.failed(err, cached, sub, current);
          }
          throw err;
        }
        this.servedStale(err, sub, current);
        client.setHeaders(STALE_WARNING);
        await this.replay(stale, 'stale', sub, client, encoder);
        return;
      }
    }
  }

  /** A whole answer (a cache hit, a stale answer) replayed as a stream in the client's format. */
  private async replay(
    result: GenerationResult,
    status: CacheStatus,
    sub: Submission,
    client: Client,
    encoder: StreamEncoderFactory,
  ): Promise<void> {
    const relay = new StreamRelay(
      merged(this.waiterOptions({ jobId: sub.request.requestId, fresh: true }, sub.request), {
        sink: client.sse(),
        encoder,
        cache: status,
        onEnd: (outcome: { result: GenerationResult } | { error: GatewayError }) =>
          'result' in outcome
            ? this.metrics.succeeded(outcome.result, client.startedAt, status)
            : this.metrics.failed(outcome.error, status),
      }),
    );
    relay.replay(result);
    await relay.started;
  }

  /**
   * Refuses a sync or streamed request the process has no room for (`MAX_PENDING_REQUESTS`, `MAX_PENDING_BYTES`),
   * counted as its 503, before anything else: nothing was claimed, admitted, charged or queued for it; else holds its
   * body's bytes until its response closes. Async submissions never come here.
   */
  private makeRoom(client: Client): void {
    const refusal = this.limit.refusal(client.bodyBytes);
    if (refusal !== null) {
      this.refused(refusal);
    }
    this.limit.hold(client.bodyBytes, client);
  }

  /**
   * A request refused before it ran (the key's allow-list, no such model, its rate limit or quota, an
   * Idempotency-Key conflict, an async job not queued): counted as the error its client gets, then thrown on. The
   * cache was not consulted.
   */
  private refused(err: unknown): never {
    this.metrics.failed(err instanceof GatewayError ? err : null, 'bypass');
    throw err;
  }

  /**
   * A request answered with an error: counted, and a coalesced follower's usage row written (it had no job). A
   * coalesced job found missing (its leader's gateway died before queuing it, or an admin removed it) or failed (every
   * run of it crashed: no worker ended it, so none released its marker) releases the marker that still names it:
   * otherwise every identical request, and every retry, joined it and was answered "lost" or "failed" until the
   * marker's TTL (the leader's deadline plus 30 s).
   */
  private failed(err: unknown, cached: CacheDecision, sub: Submission, party: Party | null): void {
    const error = err instanceof GatewayError ? err : null;
    this.metrics.failed(error, cached.status);
    if (party?.role === 'follower' && error !== null) {
      this.coalescing.failed(error, sub.request);
    }
    if (party !== null && (error instanceof LostJobError || error instanceof FailedJobError)) {
      void this.coalescing.abort(party);
    }
    if (error instanceof FailedJobError && party?.role !== 'follower') {
      // BullMQ failed the job (its runs died or gave up past the shutdown grace, its stalls ran out): none handed in an
      // outcome, so none may have settled what this request's admission reserved, and it has no usage record either.
      // Given back once (the settlement's marker): a no-op when a run did settle it. A follower's is given back with its
      // usage row (`Coalescing.failed`); a replay watching another request's job was not admitted (nothing reserved).
      void this.admission.refundOnce(sub.request);
      if (cached !== REPLAYED) {
        // Its own job (a replay's is another request's, which that one records): the request was answered, so it is
        // recorded, as a failure. A run that did record it keeps its row (the writer skips a request id it holds).
        this.usage.record(unrecordedFailureEvent(sub.request, error));
      }
    }
  }

  /**
   * A stale answer stood in for a failure: it makes no usage row of its own, the failed job's row is the request's
   * (ADR 0005). A coalesced follower had no job: its row is the failure's, answered from the cache.
   */
  private servedStale(err: unknown, sub: Submission, party: Party | null): void {
    if (party?.role === 'follower' && err instanceof GatewayError) {
      this.coalescing.failed(err, sub.request, true);
    }
  }

  /**
   * Whether a stale answer may stand in for this failure: every provider failed (or none was healthy), the request
   * would have taken a cached answer, and its model keeps answers past their freshness.
   */
  private staleable(err: unknown, sub: Submission, cached: CacheDecision): err is GatewayError {
    return (
      err instanceof GatewayError &&
      PROVIDERS_FAILED.has(err.code) &&
      cached.status === 'miss' &&
      (sub.request.cache?.staleTtlS ?? 0) > 0
    );
  }

  /**
   * Enqueues an async job (nobody waits on a reply channel) and returns its id; for an Idempotency-Key replay, the
   * id of the job that exists and its state as read.
   */
  async submit(sub: Submission, client: Client): Promise<{ jobId: string; replayed: JobSnapshot | null }> {
    const entry = await this.enter(sub, client, 'async');
    const { claim, stored } = entry;
    if (stored === null) {
      // Never answered from the cache: the job must exist for GET /jobs/:id. Its answer fills the cache.
      await this.lookup(sub, client, false);
      // Not queued (a failed add, one still unanswered at REQUEST_TIMEOUT_MS, the end of the drain): counted as the
      // error its client gets, as a sync request's failed add is. A job that lands later is removed unrun, uncounted
      // by any worker; counted a second time only if a worker runs it all the same (taken in the moment before its
      // removal, or queued by an add whose reply was lost): a stalled or dropped queue connection's rare race.
      await this.enqueueAsync(sub, claim).catch((err: unknown) => this.refused(err));
    }
    return { jobId: claim.jobId, replayed: stored };
  }

  /**
   * The async job's add, waited for at most REQUEST_TIMEOUT_MS from the request's arrival (its own deadline, the
   * job's retention, is no bound for an HTTP request) or until the shutdown drain ends: a silent queue connection
   * (a half-open network; ioredis holds the add until it is back) answers 503 with Retry-After then, rather than hold
   * the request. A job that lands afterwards is treated as the sync path treats one: cancelled and removed if no
   * worker took it yet, its reservation given back once (`refundOnce`); an add that fails afterwards gives it back in
   * `enqueue`. One timer per submission; no Redis call.
   */
  private async enqueueAsync(sub: Submission, claim: Claim): Promise<void> {
    const { request } = sub;
    const added = this.enqueue(sub, claim, {
      replyTo: null,
      retention: { retentionS: this.env.ASYNC_JOB_RETENTION_S },
    });
    try {
      await boundedByAnswer(
        added,
        request,
        this.env.REQUEST_TIMEOUT_MS,
        () =>
          void this.cancellation.cancel(claim.jobId, 'deadline', request.requestId).then((removed) => {
            if (removed) {
              void this.admission.refundOnce(request, true);
            }
          }),
        this.shutdown,
      );
    } catch (err) {
      // The shutdown drain's end (`shutdownError`), or a GatewayError of the add itself.
      if (err instanceof GatewayError) {
        throw err;
      }
      // PastDeadline: the add is still in flight.
      throw new GatewayError(ErrorCode.ServiceUnavailable, 'The job could not be queued in time; retry shortly.', {
        retryAfterMs: 1_000,
        cause: err,
      });
    }
  }

  /**
   * Authorize and validate, before anything is counted or enqueued: the key's allow-list (403 model_not_allowed), then
   * what the catalog can serve (404 model_not_found, 400 for a capability or field none of its deployments takes).
   * In memory only; also the whole check of a request that is only counted (`/v1/messages/count_tokens`).
   */
  check(request: GenerationRequest, caller: AuthContext): void {
    this.access.restrict(request, caller);
    this.servable.assert(request);
  }

  /**
   * `check`, then the Idempotency-Key, before admission: a replay of a job that exists (and a 409 for another body) is
   * neither refused by nor counted against rate limits and quotas; its job was counted once, when it was admitted.
   * Only a request that runs is admitted: one without a key, the first with its key, or a replay whose job is gone
   * or was never carried out. A first request refused admission frees its key, which would otherwise stay bound to
   * a body that never ran. The claim costs a request with a key one Redis call; a request without one, nothing.
   * A refusal is counted as the error its client gets (`refused`).
   */
  private async enter(sub: Submission, client: Client, mode: Mode = 'sync'): Promise<Entry> {
    try {
      return await this.claimOrAdmit(sub, client, mode);
    } catch (err) {
      this.refused(err);
    }
  }

  private async claimOrAdmit(sub: Submission, client: Client, mode: Mode): Promise<Entry> {
    this.check(sub.request, client.caller);
    if (client.clientRequestId !== undefined) {
      sub.request.clientRequestId = client.clientRequestId;
    }
    const key = idempotencyKeyOf(client.header(IDEMPOTENCY_HEADER));
    if (key === undefined) {
      await this.admit(sub, client);
      return { claim: { jobId: sub.request.requestId, fresh: true }, stored: null, keyed: false };
    }
    const entry = await this.claimed(sub, client, key, mode);
    if (entry.stored !== null) {
      // As Stripe's `Idempotent-Replayed`: the answer is the first request's (its cost included), not billed again.
      client.setHeaders(REPLAY_HEADERS);
      return entry;
    }
    const { claim } = entry;
    try {
      await this.admit(sub, client);
    } catch (err) {
      if (claim.fresh) {
        await this.idempotency.release(claim.jobId);
      } else {
        this.idempotency.unlock(claim);
      }
      throw err;
    }
    return entry;
  }

  /**
   * The Idempotency-Key's claim, and the stored job a replay answers from; or, with no stored job, the key's run
   * (`claim.run`): this request is the one that runs it now. A replay that finds no job while another request holds
   * the run (it has not queued its job yet) waits for that job, up to the run's longest hold. An async replay
   * (`mode`) answers with the job's id and waits for nothing: it does not watch the job (see `replayed`).
   */
  private async claimed(sub: Submission, client: Client, key: string, mode: Mode): Promise<Entry> {
    const { requestId } = sub.request;
    const claimKey = (): Promise<Claim> => this.claimFresh(sub, client, key);
    let claim = await claimKey();
    const until = Date.now() + RUN_HOLD_MS + CANCELLED_STOP_WAIT_MS;
    for (;;) {
      if (claim.fresh) {
        return { claim, stored: null, keyed: true };
      }
      const existing = await this.replayStep(sub, this.replayed(claim.jobId, mode));
      if (answerable(existing)) {
        return { claim, stored: existing, keyed: true };
      }
      const { jobId } = claim;
      const took = await this.replayStep(
        sub,
        this.idempotency.takeRun(jobId, sub.endpoint, client.body, requestId),
        // Taken after the request was answered: given back at once, so the client's retry runs it.
        (late) => {
          if (late === 'taken') {
            this.idempotency.unlock({ jobId, fresh: false, run: requestId });
          }
        },
      );
      if (took === 'taken') {
        const run: Claim = { jobId, fresh: false, run: requestId };
        const unlocked = (err: unknown): never => {
          this.idempotency.unlock(run);
          throw err;
        };
        // Another request may have run it between the read and the take; none can start now.
        const again = await this.replayStep(sub, this.replayed(jobId, mode)).catch(unlocked);
        if (answerable(again)) {
          this.idempotency.unlock(run);
          return { claim, stored: again, keyed: true };
        }
        await this.replayStep(sub, this.rerun(jobId)).catch(unlocked);
        return { claim: run, stored: null, keyed: true };
      }
      if (took === 'gone') {
        // Its first request was refused and freed the key (or the claim expired): claim it afresh.
        claim = await claimKey();
        continue;
      }
      if (Date.now() >= until) {
        throw new GatewayError(
          ErrorCode.ServiceUnavailable,
          'The earlier request under this Idempotency-Key has not queued its job yet; retry shortly.',
          { retryAfterMs: 1_000 },
        );
      }
      await sleep(RUN_WAIT_POLL_MS);
    }
  }

  /**
   * The key's claim. A fresh one may find what a run under the key left before the claim expired (IDEMPOTENCY_TTL_S;
   * an async job is kept ASYNC_JOB_RETENTION_S after it finished, and in BullMQ until a later job's sweep): the
   * request is a new one, so a finished job is dropped (as `rerun` drops one) for its id to be enqueued again, rather than the add
   * adding nothing (the request admitted and charged, its job never run, `GET /jobs/:id` answering the earlier body's
   * result). One still queued or running is a 409 until it ends, the key freed again. The read goes out with the
   * claim (no round trip of its own); dropping a leftover costs what a replay's `rerun` does, only then.
   */
  private async claimFresh(sub: Submission, client: Client, key: string): Promise<Claim> {
    const { apiKeyId, requestId } = sub.request;
    // Sent with the claim, awaited (bounded as a replay's reads are) only once the claim came back fresh: the wait a
    // silent network imposes is the claim's alone.
    const left = this.queue.leftover(idempotentJobId(apiKeyId, key));
    left.catch(noop);
    const claim = await this.idempotency.claim(apiKeyId, key, sub.endpoint, client.body, requestId, sub.request);
    if (!claim.fresh) {
      return claim;
    }
    try {
      const found = await this.replayStep(sub, left);
      if (found === 'unfinished') {
        throw new GatewayError(
          ErrorCode.IdempotencyConflict,
          'An earlier request under this expired Idempotency-Key is still queued or running; retry once it ended.',
          { param: 'Idempotency-Key' },
        );
      }
      if (found === 'finished') {
        await this.replayStep(
          sub,
          this.queue.forget(claim.jobId).then(() => this.queue.clearCancelled(claim.jobId)),
        );
      }
    } catch (err) {
      await this.idempotency.release(claim.jobId);
      throw err;
    }
    return claim;
  }

  /**
   * A replay's run of the job id again: a job never carried out is dropped, so its id can be enqueued again, and the
   * earlier run's cancel mark must not make retries of this one wait for it to stop. A job read as missing may still
   * be in Redis (past its retention, not swept yet): dropped too, or the add would add nothing.
   */
  private async rerun(jobId: string): Promise<void> {
    await this.queue.forget(jobId);
    await this.queue.clearCancelled(jobId);
  }

  /**
   * A Redis wait of an Idempotency-Key replay (its read of the job, its take of the run), bounded as its claim is
   * (`answerBy`) and by the end of the shutdown drain: a silent network answers the request 503 then. What lands
   * later goes to `late`. One timer per step, on the replay path only; no Redis call of its own.
   */
  private replayStep<T>(sub: Submission, work: Promise<T>, late: (value: T) => void = noop): Promise<T> {
    // `unavailable` passes the drain's end (a GatewayError) through.
    return boundedByAnswer(work, sub.request, this.env.REQUEST_TIMEOUT_MS, late, this.shutdown).catch(unavailable);
  }

  /**
   * Rate limits and quotas (one Redis call, none without limits). The `x-ratelimit-*` headers go on the answer
   * (a refusal is a 429 with them) and the reservation rides in the job for the worker to settle.
   */
  private async admit(sub: Submission, client: Client): Promise<void> {
    try {
      const admitted = await this.admission.admit(client.caller, sub.request);
      client.setHeaders(admitted.headers);
      if (admitted.reservation !== null) {
        sub.request.reservation = admitted.reservation;
      }
    } catch (err) {
      if (err instanceof AdmissionRefused) {
        client.setHeaders(err.headers);
      }
      throw err;
    }
  }

  /**
   * The response cache: after admission (a hit counts against rate limits), before the job. A hit answers alone and
   * gives back its spend reservation (no provider is paid for it).
   */
  private async lookup(sub: Submission, client: Client, lookup: boolean): Promise<CacheDecision> {
    const directive = cacheDirectiveOf(client.header(CACHE_HEADER), client.header(CACHE_CONTROL_HEADER), sub.useCache);
    const found = await this.cache.lookup(sub.request, directive, lookup, client.caller.preferences ?? null);
    if (found.status === 'hit') {
      void this.admission.refund(sub.request);
    }
    return found;
  }

  /**
   * Coalescing, after a cache miss: only requests that would take a cached answer, and never one with an
   * Idempotency-Key (its job id is the key's; a replay already finds its job). A follower's answers say so
   * (`saySharedCall`).
   */
  private async coalesce(
    sub: Submission,
    client: Client,
    cached: CacheDecision,
    keyed: boolean,
  ): Promise<Party | null> {
    if (cached.status !== 'miss' || keyed) {
      return null;
    }
    return this.coalescing.join(sub.request, sub.request.requestId);
  }

  /**
   * A follower's answer says it shared another request's call. Said as the answer goes out, not at the join: a
   * follower whose leader's job ended with no answer for it runs again, and may then lead a call of its own.
   */
  private saySharedCall(client: Client, party: Party | null): void {
    if (party?.role === 'follower') {
      client.setHeaders({ [COALESCED_HEADER]: 'true' });
    }
  }

  /**
   * A follower whose client left before its run watched it (`onGone` holds for the runs that watched before: a client
   * that left while the request joined again told only the run before) gives the job up at once (its `leave`), as a
   * leader adds no job then (`enqueue`). Before, it stayed among the job's waiters for nobody until the job ended.
   * A flag read; no Redis call unless the client left.
   */
  private leftWhileJoining(client: Client, waiter: ReplyWaiter): void {
    if (client.gone) {
      waiter.abandon('client_disconnected');
    }
  }

  /**
   * Whether a follower runs again rather than answer `err`: the job it followed ended with no answer anyone can read
   * (found missing: its leader's gateway died before queuing it, an admin removed it; or failed in BullMQ: every run
   * crashed), or was stopped before it answered (`timeout`: the leader's deadline passed, or it was cancelled; `503`:
   * its worker shut down before the provider answered), none of which is an answer to its request, and it has a
   * client and time left. It then joins afresh (`rejoin`), within its own deadline: a follower that joined late does
   * not inherit the leader's, nor one that joined a draining worker's job that worker's 503. Its own deadline ends its
   * wait before it could see such an error (`Date.now() < deadlineAt` is then false), a client that left is `gone`,
   * and this gateway's own shutdown (`GatewayShutdownError`) is answered. A bound on the runs keeps a request from
   * going round if every job it joins is lost.
   */
  private runsAlone(err: unknown, party: Party | null, sub: Submission, client: Client, run: number): boolean {
    return (
      party?.role === 'follower' &&
      (err instanceof LostJobError || err instanceof FailedJobError || stoppedUnanswered(err)) &&
      run < MAX_FOLLOWER_RUNS &&
      !client.gone &&
      Date.now() < sub.request.deadlineAt
    );
  }

  /**
   * Whether a whole follower asks again rather than take the leader's answer: one a content filter cut short
   * (`answerStorable`) is that call's sample, not stored, so an identical request a moment later asks the provider
   * again; one that arrived while it was in flight is given the same chance. Its first run only (the followers that
   * ask again share one more call between them), with a client and time left for a call as long as the leader's. A
   * streamed follower cannot: its stream opened before the finish reason came.
   */
  private asksAgain(
    answer: GenerationResult,
    party: Party | null,
    sub: Submission,
    client: Client,
    run: number,
  ): boolean {
    return (
      party?.role === 'follower' &&
      run === 1 &&
      !answerStorable(answer) &&
      !client.gone &&
      // Time for a call as long as the leader's: one cut off by the deadline would answer a 504 instead.
      Date.now() + answer.providerLatencyMs < sub.request.deadlineAt
    );
  }

  /**
   * A follower whose leader's job ended without an answer joins again: the marker that still names that job is
   * released first (later identical requests must not join it either), so the request leads a job of its own, or
   * follows the request that leads one now. A leader enqueues its job with the reservation it kept as a follower
   * (`Coalescing.join`): billed once, by that job's settlement. Null (Redis failed on the join): a job of its own.
   */
  private async rejoin(
    sub: Submission,
    client: Client,
    cached: CacheDecision,
    party: Party | null,
  ): Promise<Party | null> {
    if (party !== null) {
      await this.coalescing.abort(party);
    }
    return this.coalesce(sub, client, cached, false);
  }

  /** `watching`: a replay that registered as a watcher of the running job (`GenerationQueue.watch`). */
  private waiterOptions(
    claim: Claim,
    request: GenerationRequest,
    party: Party | null = null,
    watching = false,
  ): WaiterOptions {
    const jobId = claim.jobId;
    if (party !== null) {
      // Others may wait for the same job: it is cancelled only when the last of them leaves.
      return {
        jobId,
        deadlineAt: request.deadlineAt,
        firstCheckMs: OWN_FIRST_CHECK_MS,
        checkEveryMs: OWN_CHECK_EVERY_MS,
        onAbandon: (reason) => void this.coalescing.leave(party, reason),
      };
    }
    const owner = claim.fresh || claim.run !== undefined;
    return {
      jobId,
      deadlineAt: request.deadlineAt,
      firstCheckMs: claim.fresh ? OWN_FIRST_CHECK_MS : REPLAY_CHECK_MS,
      checkEveryMs: claim.fresh ? OWN_CHECK_EVERY_MS : REPLAY_CHECK_MS,
      // The request that enqueues the job owns it: the first with its key, or one that runs the key's request again
      // (`claim.run`, read now: the run is given up once the job is queued). A replay does not own the job: the request
      // that enqueued it may still be waiting for it.
      onAbandon: owner
        ? (reason) =>
            void this.cancellation.cancel(jobId, reason, request.requestId).then((removed) => {
              // Removed before a worker took it: no worker will settle its reservation. Or removed after one did, then
              // died before completing it (the job waited to be run again): refunded once, under the settlement's
              // marker, so that one is not taken off the counters a second time.
              if (removed) {
                void this.admission.refundOnce(request, true);
              }
            })
        : watching
          ? // Its client left: its watch is given back, and the job stopped if nobody else waits for it any more.
            (reason) => void (reason === 'client_disconnected' && this.cancellation.unwatch(jobId))
          : noop,
    };
  }

  /** Gets the job going and the waiter watching it (or, for a replay of a stored job, only watching it). */
  private async dispatch(
    sub: Submission,
    client: Client,
    claim: Claim,
    waiter: ReplyWaiter,
    party: Party | null,
    stored: JobSnapshot | null,
  ): Promise<void> {
    if (stored !== null) {
      this.hub.watchStored(waiter, stored);
      return;
    }
    const job: JobToAdd = {
      replyTo: this.hub.channel,
      retention: this.syncRetention(sub, claim, party),
      coalescingKey: party?.key,
      gone: () => client.gone,
    };
    await this.hub.watchEnqueued(waiter, () =>
      this.enqueue(sub, claim, job).catch(async (err: unknown) => {
        // The job will never answer (also when the add failed after its request was answered): nobody may join it.
        if (party !== null) {
          await this.coalescing.abort(party);
        }
        throw err;
      }),
    );
  }

  /**
   * The job under an Idempotency-Key as a replay finds it (stored, queued or running, or missing), waiting for a
   * job its client left (or its owner cancelled) to stop first. A sync or streamed replay watches a queued or running
   * job while it waits for its answer (released when its client leaves); an async replay answers at once and nobody
   * waits on its connection, so it only looks for the stop mark: a watch of its would stay until it expired
   * (REQUEST_TIMEOUT_MS) and make a cancel meanwhile leave no mark, so that a replay during the stop was handed the
   * run being stopped. The same one round trip either way.
   */
  private async replayed(jobId: string, mode: Mode): Promise<JobSnapshot> {
    // An async replay answers the job's state: one waiting to run again (a stall, a retry) is `queued`.
    const existing = await this.queue.snapshot(jobId, { active: mode === 'async' });
    if (
      (existing.state === 'queued' || existing.state === 'running') &&
      !(await (mode === 'sync' ? this.queue.watch(jobId, this.env.REQUEST_TIMEOUT_MS) : this.queue.unmarked(jobId)))
    ) {
      // Its client left and a worker is stopping it: it would only end in that cancellation. Wait for it to stop.
      return this.stopped(jobId);
    }
    return existing;
  }

  /** The snapshot of a cancelled job once it stopped; a 503 to retry when it takes longer than workers do. */
  private async stopped(jobId: string): Promise<JobSnapshot> {
    const until = Date.now() + CANCELLED_STOP_WAIT_MS;
    for (;;) {
      await sleep(CANCELLED_STOP_POLL_MS);
      const s = await this.queue.snapshot(jobId);
      if (s.state !== 'queued' && s.state !== 'running') {
        return s;
      }
      if (Date.now() >= until) {
        throw new GatewayError(
          ErrorCode.ServiceUnavailable,
          'The earlier request under this Idempotency-Key is still being cancelled; retry shortly.',
          { retryAfterMs: 1_000 },
        );
      }
    }
  }

  /**
   * A sync job is removed as it completes; its outcome stays readable until the request's deadline (plus a margin),
   * and longer where someone may come back for it: an Idempotency-Key replay (SYNC_JOB_RETENTION_S), or a coalesced
   * follower, whose deadline may be up to a request timeout later than the leader's.
   */
  private syncRetention(sub: Submission, claim: Claim, party: Party | null): Retention {
    if (claim.jobId !== sub.request.requestId) {
      return { keepOutcomeMs: this.env.SYNC_JOB_RETENTION_S * 1000 };
    }
    return { keepOutcomeMs: party === null ? 0 : this.env.REQUEST_TIMEOUT_MS };
  }

  /** The request ended: a kept outcome only it could read goes now (ADR 0001), not at its deadline. */
  /**
   * A sync answer's kept outcome is dropped once answered; a stream's stays until its deadline (+10 s), because its
   * cost is not in the stream and GET /jobs/:id is where a client (the console's playground) reads it.
   */
  private release(sub: Submission, claim: Claim, party: Party | null): void {
    if (party === null && claim.fresh && claim.jobId === sub.request.requestId && !sub.request.stream) {
      this.queue.release(claim.jobId);
    }
  }

  /**
   * Adds the job. `gone`: the client of a sync or streamed request has left while its request was on its way (its
   * admission held by a slow Redis): no job is added for nobody, and the failure path below gives back what the
   * request holds, as for a failed add (its reservation, its Idempotency-Key claim; `dispatch` its coalescing lead).
   * A flag check; no Redis call.
   */
  private async enqueue(sub: Submission, claim: Claim, job: JobToAdd): Promise<void> {
    try {
      if (job.gone?.() === true) {
        throw clientGoneError();
      }
      await this.queue.add(sub.request, {
        jobId: claim.jobId,
        replyTo: job.replyTo,
        retention: job.retention,
        coalescingKey: job.coalescingKey,
        nativeInput: sub.native?.input,
        nativeSystemPrompt: sub.native?.systemPrompt === true ? true : undefined,
      });
      // Replays under the key find the job from now on.
      this.idempotency.unlock(claim);
    } catch (err) {
      // Once, under the settlement's marker: an add whose reply was lost may have queued the job all the same, and
      // its worker's settlement then changes nothing.
      void this.admission.refundOnce(sub.request, true);
      if (claim.fresh && claim.jobId !== sub.request.requestId) {
        // The Idempotency-Key claim would otherwise point at a job that never existed.
        await this.idempotency.release(claim.jobId);
      } else {
        // A replay's re-run of the key's job: its run is given back, so the client's retry runs at once rather than
        // wait out RUN_HOLD_MS (the sync path gives it back as its request ends; the async one has nothing else).
        this.idempotency.unlock(claim);
      }
      throw err;
    }
  }
}

/** What `enqueue` adds: where its replies go (null: an async job), how long it is kept, its coalescing key. */
interface JobToAdd {
  replyTo: string | null;
  retention: Retention;
  coalescingKey?: string;
  /** Whether the request's client has left (checked right before the add). */
  gone?: () => boolean;
}

/**
 * A job stopped before it answered, as its followers see it: `timeout` (the leader's deadline passed, or the job was
 * cancelled) or `service_unavailable` (its worker shut down before the provider answered), but not a waiter's own
 * client leaving nor this gateway's own shutdown.
 */
function stoppedUnanswered(err: unknown): boolean {
  if (!(err instanceof GatewayError) || err instanceof ClientGoneError || err instanceof GatewayShutdownError) {
    return false;
  }
  return err.code === ErrorCode.Timeout || err.code === ErrorCode.ServiceUnavailable;
}

/** Whether the request is an Idempotency-Key replay that watches its key's job running (see `replayed`). */
function watching(entry: Entry): boolean {
  return entry.stored?.state === 'queued' || entry.stored?.state === 'running';
}

/** A failed look-up of a replay's job: its own answer when it is one (e.g. still being cancelled), else a 503. */
function unavailable(err: unknown): never {
  if (err instanceof GatewayError) {
    throw err;
  }
  throw new GatewayError(ErrorCode.ServiceUnavailable, 'The request could not be looked up; retry shortly.', {
    retryAfterMs: 1_000,
    cause: err,
  });
}

/**
 * No provider answered: every one failed, refused for its rate limit or for want of room, or none was healthy (no call
 * made).
 */
const PROVIDERS_FAILED: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.AllProvidersFailed,
  ErrorCode.ProviderRateLimited,
  ErrorCode.AllProvidersOverloaded,
  ErrorCode.NoHealthyProvider,
]);

/**
 * Failures whose answer says to retry: the request was cancelled (its client went away, or its deadline passed), the
 * worker shut down before the provider answered, no deployment was healthy (no provider was called), every attempt
 * failed, a provider kept refusing for its rate limit, or the gateway failed. A failed job refunded its reservation
 * (but for what a cut stream had already delivered).
 */
const RUNS_AGAIN: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.Timeout,
  ErrorCode.ServiceUnavailable,
  ...PROVIDERS_FAILED,
  ErrorCode.RateLimited,
  ErrorCode.Internal,
]);

/**
 * Whether a replay answers from the job found under its key: it exists and was carried out (or still runs). Otherwise
 * the request runs again under the key's job id: the job is gone (expired, removed), or it was never carried out.
 */
function answerable(s: JobSnapshot): boolean {
  return s.state !== 'missing' && !notCarriedOut(s);
}

/**
 * A stored outcome an Idempotency-Key replay runs again instead of answering its error for SYNC_JOB_RETENTION_S:
 * the job failed on infrastructure, or its error is one that says to retry (`RUNS_AGAIN`). An answer, and an error
 * about the request itself (a 4xx), is answered again.
 */
function notCarriedOut(s: JobSnapshot): boolean {
  if (s.state === 'failed') {
    return true;
  }
  return s.state === 'completed' && !s.outcome.ok && RUNS_AGAIN.has(s.outcome.error.code);
}

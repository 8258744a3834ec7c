import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  CLIENT_CLOSED_REQUEST,
  GatewayError,
  merged,
  type GenerationRequest,
  type GenerationResult,
  type UsageEvent,
  unrecordedFailureOf,
} from '@aigw/core';
import {
  ENV,
  inFlightNames,
  inFlightTtlMs,
  joinInFlight,
  leaveInFlight,
  REDIS,
  RedisErrors,
  RedisKeys,
  releaseInFlight,
  ShutdownState,
  type InFlightNames,
} from '@aigw/platform';
import type { Redis } from 'ioredis';
import { AdmissionService } from '../admission/admission.service';
import { GatewayEnv } from '../config/gateway-env';
import { hitUsageEvent, servedFromCache, servedIdsOf } from './cache-stage';
import { CancellationService } from './cancellation.service';
import type { FreshToolCallIds } from './fresh-tool-call-ids';
import { GenerationQueue } from './generation-queue';
import { ClientGoneError, deadlineError, type AbandonReason } from './reply-waiter';
import { boundedByAnswer, PastDeadline } from './by-deadline';
import type { StreamHead } from './stream-relay';
import { UsageQueue } from './usage-queue';

/**
 * What identical requests share (ADR 0007): the cache key, the form (whole or streamed: a streamed follower of a whole
 * answer would get no incremental chunks) and, for a key with an allow-list, that list (SHA-256 of it sorted). The
 * cache key's access material is read off this gateway's catalog, while the worker routes the leader's job by its own
 * catalog and the leader's allow-list: a restricted key whose list keeps every deployment this gateway sees has none,
 * and would follow an unrestricted leader a worker with a newer catalog answers from a deployment the list forbids.
 * A cache hit is checked against the key (`mayServeAnswer`); a follower is answered as the answer arrives, a stream's
 * before it knows who answered. So restricted requests follow only requests under the same list, whose jobs route as
 * theirs would. Unrestricted requests pay nothing more; restricted ones one hash of their list, in memory.
 */
export function coalescingKeyOf(
  request: Pick<GenerationRequest, 'stream' | 'allowedModels'>,
  cacheKey: string,
): string {
  const key = `${cacheKey}.${request.stream ? 'stream' : 'whole'}`;
  if (request.allowedModels === undefined) {
    return key;
  }
  const list = [...new Set(request.allowedModels)].sort();
  return `${key}.${createHash('sha256').update(JSON.stringify(list)).digest('hex')}`;
}

/** Says on a follower's answer that it shared another request's provider call. */
export const COALESCED_HEADER = 'x-gateway-coalesced';

/**
 * A request taking part in a coalesced job (ADR 0007): the `leader` enqueued it (`jobId` is its own), a `follower`
 * waits for the leader's job (`jobId`) without a job of its own.
 */
export interface Party {
  role: 'leader' | 'follower';
  jobId: string;
  /** Cache key and form (whole or streamed): what identical requests share. */
  key: string;
  names: InFlightNames;
}

/**
 * Request coalescing (in-flight de-duplication, ADR 0007), after a cache miss: the first of identical requests
 * (same cache key and form) leads, the others follow its job wherever they arrived. One Redis script per request
 * (`join`); `leave` only when a waiter gives up. A follower is answered like a cache hit: its own request id, no
 * provider cost (the cost is saved), its reservation refunded.
 */
@Injectable()
export class Coalescing {
  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly errors: RedisErrors,
    private readonly queue: GenerationQueue,
    private readonly cancellation: CancellationService,
    private readonly admission: AdmissionService,
    private readonly usage: UsageQueue,
    private readonly shutdown: ShutdownState,
  ) {}

  /**
   * Leads or follows the in-flight job of an identical request; null when the request is not coalesced (coalescing
   * off, or the request may not use the cache) or Redis failed (it then runs a job of its own).
   */
  async join(request: GenerationRequest, jobId: string): Promise<Party | null> {
    if (!this.env.COALESCE_ENABLED || request.cache === undefined) {
      return null;
    }
    const key = coalescingKeyOf(request, request.cache.key);
    const names = inFlightNames(this.keys, key, jobId);
    let leader: string | null;
    try {
      // Bounded by when the request must be answered (its deadline: only sync and streamed requests coalesce): a join
      // Redis answers later still counts this request in the job's waiters, which it then leaves (a leader's marker
      // released; a follower's place given up, the job cancelled if it was the last).
      leader = await boundedByAnswer(
        joinInFlight(this.redis, names, jobId, inFlightTtlMs(request.deadlineAt)),
        request,
        this.env.REQUEST_TIMEOUT_MS,
        (late) =>
          void (late === null
            ? this.abort({ role: 'leader', jobId, key, names })
            : this.leave(
                { role: 'follower', jobId: late, key, names: inFlightNames(this.keys, key, late) },
                'deadline',
              )),
        this.shutdown,
      );
    } catch (err) {
      this.errors.report('coalesce', err);
      if (err instanceof PastDeadline || err instanceof GatewayError) {
        // Admitted, but no job will run for it, and nothing records it. A GatewayError: the shutdown drain ended.
        void this.admission.refund(request, true);
        throw err instanceof PastDeadline ? deadlineError() : err;
      }
      return null;
    }
    if (leader === null) {
      return { role: 'leader', jobId, key, names };
    }
    // A follower keeps its reservation until it is answered (`serve`, `failed`): one whose leader's job ends without
    // an answer it can read runs a job of its own, which the worker settles against it. Refunded here, it would run
    // unreserved, and the worker's settlement, marked by the same request id as the refund, would change nothing.
    return { role: 'follower', jobId: leader, key, names: inFlightNames(this.keys, key, leader) };
  }

  /**
   * The job will never answer (the leader's enqueue failed, or a waiter found it missing): identical requests must
   * not join it. Deletes the marker only while it names this job.
   */
  async abort(party: Party): Promise<void> {
    await releaseInFlight(this.redis, party.names, party.jobId).catch((err: unknown) =>
      this.errors.report('coalesce', err),
    );
  }

  /**
   * A leader or follower gave up (client gone, deadline): the job is cancelled only when nobody else waits for it.
   * A job removed before a worker took it (or after one settled it and died) gives back the reservation it carries (the
   * leader's), once.
   */
  async leave(party: Party, reason: AbandonReason): Promise<void> {
    let last: boolean;
    try {
      last = await leaveInFlight(this.redis, party.names, party.jobId);
    } catch (err) {
      // Unknown whether others wait: the job runs on (its deadline still bounds it).
      this.errors.report('coalesce', err);
      return;
    }
    if (!last) {
      return;
    }
    const job = await this.queue.get(party.jobId).catch(() => undefined);
    if ((await this.cancellation.cancel(party.jobId, reason, job?.data.request.requestId)) && job !== undefined) {
      // Once, under the settlement's marker: a worker that settled it and died before completing it left it queued.
      void this.admission.refundOnce(job.data.request, true);
    }
  }

  /**
   * The leader's answer as a follower's: its own id, tool call ids (`ids`: those its stream already named) and
   * latency, no provider cost, no attempts of its own. Its usage row is queued like a cache hit's (`cached`, cost 0,
   * the leader's cost saved), and its reservation given back (marked by its request id: a second call gives nothing).
   */
  serve(result: GenerationResult, request: GenerationRequest, ids?: FreshToolCallIds): GenerationResult {
    const served = this.present(result, request, ids);
    this.answered(result, request, served);
    return served;
  }

  /**
   * The leader's answer as the follower's (`serve`), and nothing else: no refund, no usage row. A stream's relay makes
   * it before it knows whether its stream ends in that answer (one that cannot be resumed ends in an error instead):
   * the follower is accounted by `answered` once it did, or by `failed`, once either way.
   */
  present(result: GenerationResult, request: GenerationRequest, ids?: FreshToolCallIds): GenerationResult {
    // The leader's provider call is what the follower waited for: its latency is not the gateway's overhead.
    return merged(servedFromCache(result, request, ids), {
      cached: false,
      providerLatencyMs: result.providerLatencyMs,
    });
  }

  /** A follower was answered `served`, made from the leader's `result`: its usage row queued, its reservation refunded. */
  answered(result: GenerationResult, request: GenerationRequest, served: GenerationResult): void {
    void this.admission.refund(request);
    this.usage.record(hitUsageEvent(request, result, served));
  }

  /**
   * The head of the leader's stream as a follower's: its own completion id and time (every chunk carries them; two
   * requests never share a completion id), no attempts of its own. As `serve` does for the whole answer.
   */
  serveHead(head: StreamHead, request: GenerationRequest): StreamHead {
    const { id, created } = servedIdsOf(request);
    return merged(head, { id, created, attempts: 0 });
  }

  /**
   * A follower answered with an error (the leader's call failed, the deadline passed, its client left): its reservation
   * given back, and its usage row, so that it counts among the failures, as it would had it run on its own. No cost,
   * no attempts of its own (which keeps it out of the deployment's statistics: the leader's row counts that call); the
   * deployment the leader's last attempt tried. `cached` only when a stale answer from the cache stood in for the error (`servedStale`): otherwise
   * nothing answered it, and a cache hit (cachedRequests) is an answer.
   */
  failed(error: GatewayError, request: GenerationRequest, servedStale = false): void {
    // It ran no job: nothing of its own to settle.
    void this.admission.refund(request);
    this.usage.record(unrecordedFailureEvent(request, error, servedStale));
  }
}

/**
 * The usage row of a request answered with an error that no worker recorded (a coalesced follower, a request whose
 * job BullMQ failed): no cost, no attempts of its own (which keeps it out of the deployment's statistics), the
 * deployment the last attempt tried where the error names one. `cached`: a stale answer stood in for the error.
 */
export function unrecordedFailureEvent(request: GenerationRequest, error: GatewayError, cached = false): UsageEvent {
  const last = error.attempts?.at(-1);
  const gone = error instanceof ClientGoneError;
  return unrecordedFailureOf(request, {
    provider: last?.provider ?? null,
    model: last?.model ?? null,
    errorClass: gone ? 'cancelled' : (last?.errorClass ?? null),
    errorCode: gone ? CLIENT_CLOSED_REQUEST : error.code,
    cached,
  });
}

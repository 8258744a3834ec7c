import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  answerStorable,
  ErrorCode,
  fillAllowedBy,
  GatewayError,
  merged,
  requestLabel,
  type GenerateJobData,
  type GenerateOutcome,
  type GenerationRequest,
  type JobName,
  type ReplyMessage,
  type Reservation,
} from '@aigw/core';
import {
  CatalogService,
  describeError,
  inFlightNames,
  inFlightTtlMs,
  LOCAL_REPLIES,
  REDIS,
  RedisErrors,
  RedisKeys,
  ResponseCache,
  type LocalReplies,
} from '@aigw/platform';
import type { Redis } from 'ioredis';
import { GenerationCancelledError } from '../cancel/abort';
import { CancellationRegistry } from '../cancel/cancellation-registry';
import { GenerationService } from '../generation/generation.service';
import { DrainDeadline } from '../lifecycle/drain-deadline';
import { WorkerMetrics } from '../metrics/worker-metrics';
import type { JobOf } from '../queue/queue-processor';
import { sleep } from '../routing/sleep';
import { billedOf, outcomeOf, requestLabelsOf, usageEventOf, type Finished } from '../usage/usage-event';
import { UsageRecorder } from '../usage/usage-recorder';
import { AnswerStash, type KeptAnswer } from './answer-stash';
import { KeyRecheck } from './key-recheck';
import { OutcomeStore } from './outcome-store';
import { ReplyChannel } from './reply-channel';
import { ResultJson } from './result-json';
import { SETTLED_MARK_MARGIN_MS, Settlement } from './settlement';

/**
 * How long a re-run of a stalled job looks for the answer its previous worker may still hand in: that worker
 * writes it as soon as its own connection is back, which can be up to a reconnection delay after ours.
 */
const STALLED_ANSWER_WAIT_MS = 2_000;
const STALLED_ANSWER_POLL_MS = 250;
/** An outage this recent can explain a stall (locks lapse during it, stalls are detected after it). */
const OUTAGE_RECENT_MS = 60_000;

/**
 * One `generate` job: run it, answer on the gateway's reply channel, hand its usage event to the usage queue,
 * return the outcome (stored by BullMQ for async jobs; a sync job's is kept by OutcomeStore for the gateway's
 * fallback read, since BullMQ removes the job as it completes). A generation
 * failure is an outcome, not an exception.
 *
 * Redis failing around the call never fails the job: the reply is best effort (the gateway reads the stored
 * outcome back), the usage event waits for Redis' return, and a job that lived through an outage keeps its
 * answer in Redis (AnswerStash) before completing, so that if its completion is lost with its lock, the re-run
 * returns that answer instead of calling the provider again. The handler throws only when the worker must
 * stop before Redis is back, or stops before an async job's provider answered (the job then re-runs elsewhere).
 */
@Injectable()
export class GenerateHandler {
  private readonly logger = new Logger('GenerateJob');

  constructor(
    private readonly generation: GenerationService,
    private readonly cancellations: CancellationRegistry,
    private readonly usage: UsageRecorder,
    private readonly stash: AnswerStash,
    private readonly outcomes: OutcomeStore,
    private readonly settlement: Settlement,
    private readonly keyRecheck: KeyRecheck,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly errors: RedisErrors,
    private readonly drain: DrainDeadline,
    private readonly metrics: WorkerMetrics,
    private readonly cache: ResponseCache,
    private readonly keys: RedisKeys,
    @Inject(LOCAL_REPLIES) private readonly local: LocalReplies | null,
    private readonly catalog: CatalogService,
  ) {}

  /** Resolves to the job's answer: its outcome (what BullMQ keeps) and its usage event (how the job ended). */
  readonly handle = async (job: JobOf<JobName.Generate>): Promise<KeptAnswer> => {
    const { request, replyTo, coalescingKey } = job.data;
    // BullMQ always gives a processed job an id; the request id is only a type-level fallback.
    const jobId = job.id ?? request.requestId;
    const mirror =
      coalescingKey === undefined
        ? null
        : { names: inFlightNames(this.keys, coalescingKey, jobId), ttlMs: inFlightTtlMs(request.deadlineAt) };
    const reply = new ReplyChannel(this.redis, replyTo, jobId, {
      mirror,
      local: this.local,
      batchChunks: job.data.batchChunks === true,
      run: job.attemptsStarted,
      // Its gateway is gone (killed: no cancel comes) and nobody reads the rest: stopped as a client that left is.
      onUnheard: () => {
        if (this.cancellations.cancel(jobId, 'client_disconnected', request.requestId)) {
          this.logger.warn(`job ${jobId}: its reply channel has had no subscriber for a while; the run is stopped`);
        }
      },
    });
    if (job.attemptsStarted > 1) {
      // A stall right after an outage may be our own lost completion; one without is a crashed worker.
      const found = await this.keptAnswer(
        jobId,
        job.data,
        job.stalledCounter > 0 && this.errors.failedWithin(OUTAGE_RECENT_MS),
      );
      if (found !== null) {
        const { kept, from } = found;
        this.logger.log(`job ${jobId}: re-run returns the answer kept by its previous run`);
        reply.send(finalMessage(jobId, request.stream, kept.outcome));
        // The stash's: settled by the run that kept it (or stays charged: never under-counted). A sync job's kept
        // outcome may have been written before its run settled (they go together): settled here, once (the request
        // id's mark, which lasts until a minute past the deadline at least; after that it stays charged).
        const reservation =
          from === 'outcome' && Date.now() < request.deadlineAt + SETTLED_MARK_MARGIN_MS
            ? request.reservation
            : undefined;
        await this.handOff(jobId, job.data, reply, kept, { keep: null, reservation });
        if (replyTo === null && kept.counted !== true) {
          // Kept unmarked (by a worker of a version that marked it in a second write) and not counted yet.
          await this.stash.keep(jobId, merged(kept, { counted: true as const }));
          this.metrics.asyncRequest(requestLabelsOf(kept.usage));
        }
        return kept;
      }
      if (await this.stoppedMeanwhile(jobId, replyTo === null, request.requestId)) {
        // Its owner cancelled this run (async), or its client left (sync), while its previous worker held it (and
        // died): a worker that did not hear the cancel aborts it at start, as it would had it heard it, rather than
        // call the provider for nobody.
        this.cancellations.cancel(jobId, 'client_disconnected', request.requestId);
      }
    }
    const mark = this.errors.mark;
    const running = this.cancellations.begin(jobId, request.deadlineAt, request.requestId);
    let finished: Finished;
    let resultJson: ResultJson | undefined;
    try {
      const refused = await this.keyRecheck.refusal(request, replyTo !== null, coalescingKey !== undefined, Date.now());
      if (refused !== null) {
        // Its key was revoked or expired while the job waited: answered and settled like any failure, no provider.
        throw refused;
      }
      // An async job (no reply channel) waits out a cooldown that refuses every candidate: nobody retries it.
      const result = await this.generation.run(request, running.signal, request.stream ? reply : undefined, {
        waitOutCooldown: replyTo === null,
        rerun: job.attemptsStarted > 1,
      });
      // As the model that answered allows (an alias follows the global settings until its answer names the model),
      // and never an answer a content filter cut short (`answerStorable`).
      const fill =
        request.cache === undefined || !answerStorable(result)
          ? null
          : fillAllowedBy(request.cache, this.catalog.routing(`${result.provider}/${result.model}`)?.model);
      if (fill !== null) {
        // Stored before the answer goes out, so the client's next identical request finds it (one SET, or a
        // skipped fill: the cache never fails a job).
        await this.cache.fill(fill, result);
      }
      // Its JSON made once, for the reply and the kept outcome alike.
      resultJson = new ResultJson(result);
      reply.sendResult(request.stream ? 'end' : 'result', resultJson);
      finished = { ok: true, result };
    } catch (err) {
      const error = this.asGatewayError(err, jobId);
      if (requeuedAtShutdown(job, error)) {
        // Nobody waits to retry an async job: BullMQ's next attempt runs it on another worker (no usage row, no
        // settlement for this run: the run that answers records and settles it, under the same request id).
        this.logger.warn(`job ${jobId}: the worker shut down before the provider answered; left to another worker`);
        throw error;
      }
      const cancelled = error instanceof GenerationCancelledError;
      if (!cancelled || error.replies) {
        const { retryAfterMs } = error;
        reply.send({
          t: 'error',
          jobId,
          error: error.toBody(),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
      }
      if (cancelled && request.stream) {
        this.metrics.streamsAborted.inc();
      }
      if (!cancelled) {
        this.logFailure(request, error);
      }
      finished = { ok: false, error };
    } finally {
      running.end();
    }
    const answer: KeptAnswer = { outcome: outcomeOf(finished), usage: usageEventOf(request, finished, Date.now()) };
    // Redis failed since the job started (or still does): its lock may have lapsed, so keep the answer.
    const outage = mark === null || this.errors.mark !== mark;
    const count = replyTo === null ? () => this.metrics.asyncRequest(requestLabelsOf(answer.usage)) : null;
    if (!outage) {
      await this.handOff(jobId, job.data, reply, answer, { keep: null, reservation: request.reservation, resultJson });
      // Counted once handed off: a run that could not hand off is re-run, and that run counts the request.
      count?.();
      return answer;
    }
    // An async job's request is counted in aigw_requests_total exactly once across its runs: its answer is kept
    // already marked counted, and counted as soon as Redis took it, even if the rest of the hand-off is then given
    // up. A re-run that finds the answer (its completion lost with the lock, or this worker stopped) never counts
    // it again, however early it reads it; one that finds none calls the provider and counts itself.
    await this.handOff(jobId, job.data, reply, answer, {
      keep: count === null ? answer : merged(answer, { counted: true as const }),
      onKept: count ?? undefined,
      reservation: request.reservation,
      resultJson,
    });
    return answer;
  };

  /**
   * One line per failed generation, with its request id (the client's `x-request-id`), so that an error a client
   * reports can be found: a warning when no provider answered (the operator's to look at), debug for a request the
   * providers refused as invalid (the client's). The message names each attempt's deployment and failure; adapters
   * made provider messages safe (no key). A `model_not_found` here is a warning too: the gateway found the model in
   * the catalog, and every deployment tried answered that its server does not have it (the catalog's to fix).
   */
  private logFailure(request: GenerationRequest, error: GatewayError): void {
    const line = `request ${requestLabel(request)} failed: ${error.code} (${error.status}) ${error.message}`;
    if (error.status >= 500 || error.code === ErrorCode.ModelNotFound) {
      this.logger.warn(line);
    } else {
      this.logger.debug(line);
    }
  }

  /**
   * Waits until Redis holds what the job produced: its usage event, the settlement of what admission reserved,
   * a sync job's outcome (BullMQ removes the job as it completes) and, after an outage, its answer (`keep`), then
   * `onKept` as soon as Redis took that, even if the rest is given up meanwhile.
   */
  private async handOff(
    jobId: string,
    data: GenerateJobData,
    reply: ReplyChannel,
    answer: KeptAnswer,
    opts: { keep: KeptAnswer | null; onKept?: () => void; reservation?: Reservation; resultJson?: ResultJson },
  ): Promise<void> {
    const { usage } = answer;
    const billed = billedOf(usage);
    const kept = this.outcomes.keep(jobId, data, answer.outcome, usage, opts.resultJson);
    const work = Promise.all([
      // A final reply too big to publish points the gateway at the outcome, once kept.
      reply.settle(kept),
      this.usage.record(usage),
      kept,
      opts.keep === null ? undefined : this.stash.keep(jobId, opts.keep).then(opts.onKept),
      this.settlement.settle(opts.reservation, billed.tokens, billed.costUsd, {
        // Marked per admission (its request id), not per job id: an Idempotency-Key re-run of a failed job reuses
        // the job id with a reservation of its own, which the first run's settlement must not stand for.
        id: data.request.requestId,
        deadlineAt: data.request.deadlineAt,
        receivedAt: data.request.receivedAt,
      }),
    ]);
    const [replyFailure] = await this.drain.handOff(work, `results of job ${jobId}`, () => this.errors.mark === null);
    if (replyFailure !== undefined) {
      // The gateway falls back to the job's stored outcome.
      this.errors.report('reply_publish', replyFailure);
    }
  }

  /**
   * The answer a previous run of this job kept: in the stash after an outage, or, for a sync job, with the outcome it
   * kept for the gateway (both read at once: one round trip, on re-runs only). After a stall, the previous worker may
   * still be handing it in (its connection comes back later than ours), so it is looked for a little while.
   */
  private async keptAnswer(
    jobId: string,
    data: GenerateJobData,
    stalled: boolean,
  ): Promise<{ kept: KeptAnswer; from: 'stash' | 'outcome' } | null> {
    const until = Date.now() + (stalled ? STALLED_ANSWER_WAIT_MS : 0);
    for (;;) {
      const [stashed, outcome] = await Promise.all([this.stash.find(jobId), this.outcomes.find(jobId, data)]);
      if (stashed !== null) {
        return { kept: stashed, from: 'stash' };
      }
      if (outcome !== null) {
        return { kept: outcome, from: 'outcome' };
      }
      if (Date.now() >= until || this.drain.passed) {
        return null;
      }
      await sleep(STALLED_ANSWER_POLL_MS, this.drain.signal);
    }
  }

  /**
   * Whether this run was stopped while its previous worker held it: an async job's owner cancelled it (`POST
   * /api/v1/ai/jobs/:id/cancel` keeps a record naming the run's request id), or a sync job's client left with nobody
   * else waiting for it (the gateway's cancel mark, naming the run; one from a gateway that did not name it, whichever
   * run). Read on re-runs only (a stall, a shutdown): one GET. Redis failing reads as not stopped.
   */
  private async stoppedMeanwhile(jobId: string, async: boolean, requestId: string): Promise<boolean> {
    const key = async ? this.keys.jobCancelled(jobId) : this.keys.cancelled(jobId);
    const raw = await this.redis.get(key).catch(() => null);
    if (raw === null) {
      return false;
    }
    if (!async) {
      return raw === '' || raw === '1' || raw === requestId;
    }
    try {
      return (JSON.parse(raw) as { requestId?: unknown } | null)?.requestId === requestId;
    } catch {
      return false;
    }
  }

  /** A bug must not leave the gateway waiting until its deadline: it becomes a 500 answer. */
  private asGatewayError(err: unknown, jobId: string): GatewayError {
    if (err instanceof GatewayError) {
      return err;
    }
    this.logger.error(`job ${jobId}: unexpected failure: ${describeError(err)}`);
    return new GatewayError(ErrorCode.Internal, 'Internal error while generating the answer.', { cause: err });
  }
}

/**
 * An async job (no reply channel: its client polls GET /jobs/:id and is not there to send it again) whose provider
 * call the shutdown grace cut, with an attempt left: it is failed for BullMQ to retry rather than completed with a
 * 503 that says "retry the request". A sync request's client gets that 503 and retries itself.
 */
function requeuedAtShutdown(job: JobOf<JobName.Generate>, error: GatewayError): boolean {
  return (
    error instanceof GenerationCancelledError &&
    error.abortCause === 'shutdown' &&
    job.data.replyTo === null &&
    job.attemptsMade + 1 < (job.opts.attempts ?? 1)
  );
}

function finalMessage(jobId: string, stream: boolean, outcome: GenerateOutcome): ReplyMessage {
  if (outcome.ok) {
    return stream ? { t: 'end', jobId, result: outcome.result } : { t: 'result', jobId, result: outcome.result };
  }
  return outcome.retryAfterMs === undefined
    ? { t: 'error', jobId, error: outcome.error }
    : { t: 'error', jobId, error: outcome.error, retryAfterMs: outcome.retryAfterMs };
}

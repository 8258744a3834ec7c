import { Inject, Injectable } from '@nestjs/common';
import {
  ErrorCode,
  filterCandidates,
  GatewayError,
  isModelAlias,
  requestNeedsOf,
  selectionError,
  type GenerationRequest,
  type GenerationResult,
} from '@aigw/core';
import { CatalogService, ENV } from '@aigw/platform';
import { AdmissionRefused, AdmissionService } from '../admission/admission.service';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayEnv } from '../config/gateway-env';
import type { AuthContext } from '../http/request-context';
import { jobIdFor } from '../http/request-context';
import { FastifySseSink } from '../http/sse-sink';
import { CancellationService } from './cancellation.service';
import { GatewayMetrics } from './gateway-metrics';
import { GenerationQueue } from './generation-queue';
import { IdempotencyService, type Claim } from './idempotency.service';
import { snapshotOf } from './job-snapshot';
import { ReplyHub } from './reply-hub';
import type { ReplyWaiter, WaiterOptions } from './reply-waiter';
import {
  ALLOW_FALLBACK_HEADER,
  allowFallbackFromHeader,
  policyFromHeader,
  POLICY_HEADER,
  type RequestFrame,
} from './request-frame';
import { StreamRelay, type StreamEncoderFactory } from './stream-relay';
import { SyncWait } from './sync-wait';

/** Our own job: its answer comes on the reply channel; the stored job is only read if that got lost. */
const OWN_FIRST_CHECK_MS = 2_000;
const OWN_CHECK_EVERY_MS = 1_000;
/** A replayed job answers on another instance's channel (or none): read its stored state often. */
const REPLAY_CHECK_MS = 100;

export interface Submission {
  request: GenerationRequest;
  /** Endpoint name, fingerprinted with the body for Idempotency-Key replays. */
  endpoint: string;
  /** The body as received (before DTO transformation), for the Idempotency-Key fingerprint. */
  body: unknown;
  idempotencyKey: string | undefined;
}

type Mode = 'sync' | 'async';

/**
 * Enqueues generate jobs and waits for their answers: sync (one result), streamed (SSE relay) or
 * async (job id only). Owns the Idempotency-Key flow and cancellation of abandoned jobs.
 */
@Injectable()
export class GenerationService {
  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly catalog: CatalogService,
    private readonly queue: GenerationQueue,
    private readonly hub: ReplyHub,
    private readonly idempotency: IdempotencyService,
    private readonly cancellation: CancellationService,
    private readonly admission: AdmissionService,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** The fields every request carries; `async` jobs may wait in the queue as long as their result is kept. */
  frame(req: FastifyRequest, auth: AuthContext, mode: Mode): RequestFrame {
    const receivedAt = Date.now();
    const budgetMs = mode === 'sync' ? this.env.REQUEST_TIMEOUT_MS : this.env.ASYNC_JOB_RETENTION_S * 1000;
    return {
      requestId: jobIdFor(req),
      userId: auth.userId,
      apiKeyId: auth.apiKeyId,
      receivedAt,
      deadlineAt: receivedAt + budgetMs,
      policy: policyFromHeader(req.headers[POLICY_HEADER]),
      allowFallback: allowFallbackFromHeader(req.headers[ALLOW_FALLBACK_HEADER]),
    };
  }

  /**
   * Before anything is enqueued: 404 model_not_found unless an alias or a deployment serves the model, and 400
   * unsupported_capability / unsupported_parameter when none of its deployments can honour what the request
   * asks (tools, images, JSON mode, provider-specific fields). In memory only; the worker checks again with
   * circuits and context windows.
   */
  assertServable(
    request: Pick<GenerationRequest, 'model' | 'messages' | 'options' | 'stream' | 'allowFallback' | 'embeddings'>,
  ): void {
    const { model } = request;
    if (!isModelAlias(model) && this.catalog.servingDeployments(model).length === 0) {
      throw new GatewayError(ErrorCode.ModelNotFound, `The model '${model}' does not exist or is not enabled.`, {
        param: 'model',
      });
    }
    const embeddings = request.embeddings !== undefined;
    const needs = requestNeedsOf(request);
    if (!embeddings && needs.capabilities.length === 0 && needs.params.length === 0) {
      return;
    }
    const need = {
      model,
      stream: request.stream,
      estimatedTokens: 0,
      allowFallback: request.allowFallback,
      needs,
      embeddings,
    };
    const { failure } = filterCandidates(this.catalog.deployments(), need, () => false);
    if (
      failure?.code === ErrorCode.UnsupportedCapability ||
      failure?.code === ErrorCode.UnsupportedParameter ||
      // A chat model asked for embeddings (or the reverse) would fail the same way in the worker.
      (embeddings && failure?.code === ErrorCode.InvalidRequest)
    ) {
      throw selectionError(failure);
    }
  }

  async answer(sub: Submission, req: FastifyRequest, reply: FastifyReply): Promise<GenerationResult> {
    await this.admit(sub, req, reply);
    const claim = await this.claim(sub);
    const wait = new SyncWait(this.waiterOptions(claim, sub.request));
    this.abandonOnDisconnect(reply, wait);
    try {
      await this.dispatch(sub, claim, wait);
      const result = await wait.answer;
      this.metrics.succeeded(result, req.startedAt);
      return result;
    } catch (err) {
      this.metrics.failed(err instanceof GatewayError ? err.code : ErrorCode.Internal);
      throw err;
    }
  }

  /** Resolves once the SSE response is open (the relay then owns it); rejects with the error to answer. */
  async stream(
    sub: Submission,
    req: FastifyRequest,
    reply: FastifyReply,
    encoder: StreamEncoderFactory,
  ): Promise<void> {
    await this.admit(sub, req, reply);
    const claim = await this.claim(sub);
    const relay = new StreamRelay({
      ...this.waiterOptions(claim, sub.request),
      sink: new FastifySseSink(reply),
      encoder,
      onEnd: (outcome) =>
        'result' in outcome
          ? this.metrics.succeeded(outcome.result, req.startedAt)
          : this.metrics.failed(outcome.error.code),
    });
    this.abandonOnDisconnect(reply, relay);
    await this.dispatch(sub, claim, relay);
    await relay.started;
  }

  /** Enqueues an async job (nobody waits on a reply channel) and returns its id. */
  async submit(sub: Submission, req: FastifyRequest, reply: FastifyReply): Promise<string> {
    await this.admit(sub, req, reply);
    const claim = await this.claim(sub);
    const retentionS = this.env.ASYNC_JOB_RETENTION_S;
    if (claim.fresh || (await this.queue.get(claim.jobId)) === undefined) {
      await this.enqueue(sub, claim, null, retentionS);
    } else {
      // An Idempotency-Key replay of a job that exists: it was charged when it was first submitted.
      void this.admission.refund(sub.request.reservation);
    }
    return claim.jobId;
  }

  /**
   * Rate limits and quotas (one Redis call, none without limits): the `x-ratelimit-*` headers go on the answer,
   * a refusal is a 429 with them, and the reservation rides in the job for the worker to settle.
   */
  private async admit(sub: Submission, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const caller = req.auth;
    if (caller === null) {
      throw new GatewayError(ErrorCode.InvalidApiKey, 'Missing API key.');
    }
    try {
      const admitted = await this.admission.admit(caller, sub.request);
      void reply.headers(admitted.headers);
      if (admitted.reservation !== null) {
        sub.request.reservation = admitted.reservation;
      }
    } catch (err) {
      if (err instanceof AdmissionRefused) {
        void reply.headers(err.headers);
      }
      throw err;
    }
  }

  private claim(sub: Submission): Promise<Claim> | Claim {
    if (sub.idempotencyKey === undefined) {
      return { jobId: sub.request.requestId, fresh: true };
    }
    return this.idempotency.claim(sub.request.userId, sub.idempotencyKey, sub.endpoint, sub.body);
  }

  private waiterOptions(claim: Claim, request: GenerationRequest): WaiterOptions {
    const jobId = claim.jobId;
    return {
      jobId,
      deadlineAt: request.deadlineAt,
      firstCheckMs: claim.fresh ? OWN_FIRST_CHECK_MS : REPLAY_CHECK_MS,
      checkEveryMs: claim.fresh ? OWN_CHECK_EVERY_MS : REPLAY_CHECK_MS,
      // A replay does not own the job: the request that enqueued it may still be waiting for it.
      onAbandon: claim.fresh
        ? (reason) =>
            void this.cancellation.cancel(jobId, reason).then((removed) => {
              // Removed before a worker took it: no worker will settle its reservation.
              if (removed) {
                void this.admission.refund(request.reservation);
              }
            })
        : noop,
    };
  }

  /**
   * Gets the job going and the waiter watching it. The waiter listens before the job is enqueued: a
   * fast worker may answer before `add` returns.
   */
  private async dispatch(sub: Submission, claim: Claim, waiter: ReplyWaiter): Promise<void> {
    if (!claim.fresh) {
      const existing = await this.queue.get(claim.jobId).catch((err: unknown) => {
        waiter.discard();
        throw new GatewayError(ErrorCode.ServiceUnavailable, 'The request could not be looked up; retry shortly.', {
          retryAfterMs: 1_000,
          cause: err,
        });
      });
      if (existing !== undefined) {
        // The replayed job was charged when it was first submitted.
        void this.admission.refund(sub.request.reservation);
        this.hub.poll(waiter);
        this.hub.arm(waiter);
        waiter.onSnapshot(snapshotOf(existing));
        return;
      }
      // The replayed job is gone (expired or removed): run it again under the same id.
    }
    this.hub.listen(waiter);
    try {
      await this.enqueue(sub, claim, this.hub.channel, this.env.SYNC_JOB_RETENTION_S);
    } catch (err) {
      waiter.discard();
      throw err;
    }
    this.hub.arm(waiter);
  }

  private async enqueue(sub: Submission, claim: Claim, replyTo: string | null, retentionS: number): Promise<void> {
    try {
      await this.queue.add(sub.request, { jobId: claim.jobId, replyTo, retentionS });
    } catch (err) {
      void this.admission.refund(sub.request.reservation);
      if (claim.fresh && sub.idempotencyKey !== undefined) {
        await this.idempotency.release(claim.jobId);
      }
      throw err;
    }
  }

  private abandonOnDisconnect(reply: FastifyReply, waiter: ReplyWaiter): void {
    const raw = reply.raw;
    raw.once('close', () => {
      if (!raw.writableFinished) {
        waiter.abandon('client_disconnected');
      }
    });
  }
}

function noop(): void {}

import { Inject, Injectable } from '@nestjs/common';
import { fitsDeadline, GatewayError, type GenerationRequest, type GenerationResult, type Spent } from '@aigw/core';
import { KEY_SEPARATOR as SEP } from '@aigw/platform';
import { abortCauseOf, GenerationCancelledError } from '../cancel/abort';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { AttemptLoop } from '../routing/attempt-loop';
import type { RoutePlan } from '../routing/route-plan';
import { RoutePlanner } from '../routing/route-planner';
import { ROUTING_CONFIG, type RoutingConfig } from '../routing/routing-config';
import { isCoolingDown } from '../routing/routing-failures';
import { sleep } from '../routing/sleep';
import { resultOf, type Routed } from './outcomes';
import type { StreamObserver } from './stream-observer';
import type { CallerSignal } from '@aigw/adapters';

export type { StreamObserver } from './stream-observer';

/**
 * Turns a request into a result: the planner orders the candidate deployments, the attempt loop calls them
 * (retries, fallback, circuit breaker, direct or gateway route), and the answer is priced. Fails only with
 * GatewayError (GenerationCancelledError when aborted), carrying the attempts made.
 */
/** A stream's start names its prompt tokens: the provider's when its stream gave them, else the routing estimate. */
function withPromptEstimate(observer: StreamObserver, estimate: number): StreamObserver {
  return {
    onStart: (head) => {
      head.promptTokens ??= estimate;
      observer.onStart(head);
    },
    onChunk: (delta) => observer.onChunk(delta),
  };
}

@Injectable()
export class GenerationService {
  constructor(
    private readonly planner: RoutePlanner,
    private readonly attempts: AttemptLoop,
    private readonly metrics: WorkerMetrics,
    @Inject(ROUTING_CONFIG) private readonly config: RoutingConfig,
  ) {}

  /**
   * `waitOutCooldown`: for an async job, whose client polls for its outcome and is not there to retry after a
   * Retry-After (`planWaitingOutCooldown`). `rerun`: the job ran before (a stall, a requeue at shutdown, a retry): its
   * preference use was counted by that run, and is not again (a run that died before planning goes uncounted: the
   * counter never counts a request twice).
   */
  async run(
    request: GenerationRequest,
    signal: CallerSignal,
    observer?: StreamObserver,
    opts: { waitOutCooldown?: boolean; rerun?: boolean } = {},
  ): Promise<GenerationResult> {
    const aborted = abortCauseOf(signal);
    if (aborted) {
      throw new GenerationCancelledError(aborted, []);
    }
    if (!leavesACall(request, Date.now(), this.config.retry.minCallMs)) {
      // It waited in a backlog until its deadline was all but gone: a call now would be cut before the provider
      // answers (and paid for all the same), and would hold this worker from the jobs behind it that can still make it.
      throw new GenerationCancelledError('deadline', []);
    }
    const countUse = opts.rerun !== true;
    const plan =
      opts.waitOutCooldown === true
        ? await this.planWaitingOutCooldown(request, signal, countUse)
        : await this.planner.plan(request, countUse);
    const watching = observer === undefined ? undefined : withPromptEstimate(observer, plan.estimate.promptTokens);
    let routed: Routed;
    try {
      routed = await this.attempts.run(
        plan.candidates,
        request,
        signal,
        watching,
        plan.closedAtPlan,
        plan.estimate.promptTokens,
        plan.heldBack,
      );
    } catch (err) {
      // A stream cut (or cancelled) after it reached the client is billed for what was generated: counted here too,
      // so the metrics sum what usage_records hold.
      if (err instanceof GatewayError && err.spent !== undefined) {
        this.observeUsage(err.spent);
      }
      // Failed calls their provider charged for (rare), likewise.
      if (err instanceof GatewayError && err.charged !== undefined) {
        err.charged.forEach((c) => this.observeUsage(c));
      }
      throw err;
    }
    const result = resultOf(request, routed, Date.now(), plan.estimate.promptTokens);
    this.observeUsage(result);
    routed.charged?.forEach((c) => this.observeUsage(c));
    return result;
  }

  /**
   * Plans an async job; when every candidate is set aside for the wait its provider asked for (`coolingDown`: a 429,
   * 503 or 529 with Retry-After), waits that out and plans again, as long as the wait is one a retry would wait for
   * (at most RETRY_MAX_DELAY_MS) and leaves the deadline a call. Before cooldowns, such a job called the provider,
   * got its Retry-After and retried after it (RETRY_MAX), and was answered; refused at once, it failed with the 429
   * or 503 a synchronous client retries after its Retry-After, but an async job's client only reads the failure.
   * Planned again, not called: another worker's call may have set a new wait meanwhile (and a timer may fire a
   * millisecond before the end it was set for); the deadline ends the waits.
   */
  private async planWaitingOutCooldown(
    request: GenerationRequest,
    signal: CallerSignal,
    countUse: boolean,
  ): Promise<RoutePlan> {
    for (;;) {
      try {
        return await this.planner.plan(request, countUse);
      } catch (err) {
        const waitMs = isCoolingDown(err) ? err.retryAfterMs : undefined;
        if (
          waitMs === undefined ||
          waitMs > this.config.retry.maxMs ||
          !fitsDeadline(Date.now(), waitMs, request.deadlineAt, this.config.retry.minCallMs)
        ) {
          throw err;
        }
        await sleep(Math.max(1, waitMs), signal);
        const aborted = abortCauseOf(signal);
        if (aborted) {
          throw new GenerationCancelledError(aborted, []);
        }
      }
    }
  }

  private observeUsage(r: Spent): void {
    const { provider, model, usage } = r;
    // Label objects written out whole: `{ ...labels, type }` is slow on Node 20 (libs/core objects.ts).
    const series = `${provider}${SEP}${model}`;
    this.metrics.tokens.add(`${series}${SEP}prompt`, { provider, model, type: 'prompt' }, usage.promptTokens);
    this.metrics.tokens.add(
      `${series}${SEP}completion`,
      { provider, model, type: 'completion' },
      usage.completionTokens,
    );
    if (usage.cachedPromptTokens > 0) {
      this.metrics.tokens.add(`${series}${SEP}cached`, { provider, model, type: 'cached' }, usage.cachedPromptTokens);
    }
    if (r.costUsd > 0) {
      this.metrics.costUsd.add(series, { provider, model }, r.costUsd);
    }
  }
}

/**
 * Whether the time left before the deadline is worth a provider call: at least `minCallMs` (RETRY_MIN_CALL_MS, what
 * a retry needs too), or half the request's whole time when that is shorter (a short REQUEST_TIMEOUT_MS still runs
 * jobs taken at once).
 */
function leavesACall(request: GenerationRequest, now: number, minCallMs: number): boolean {
  return fitsDeadline(now, 0, request.deadlineAt, Math.min(minCallMs, (request.deadlineAt - request.receivedAt) / 2));
}

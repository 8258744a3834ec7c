import { Inject, Injectable } from '@nestjs/common';
import { fitsDeadline, GatewayError, type GenerationRequest, type GenerationResult, type Spent } from '@aigw/core';
import { abortCauseOf, GenerationCancelledError } from '../cancel/abort';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { AttemptLoop } from '../routing/attempt-loop';
import { RoutePlanner } from '../routing/route-planner';
import { ROUTING_CONFIG, type RoutingConfig } from '../routing/routing-config';
import { resultOf, type Routed } from './outcomes';
import type { StreamObserver } from './stream-observer';

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

  async run(request: GenerationRequest, signal: AbortSignal, observer?: StreamObserver): Promise<GenerationResult> {
    const aborted = abortCauseOf(signal);
    if (aborted) {
      throw new GenerationCancelledError(aborted, []);
    }
    if (!leavesACall(request, Date.now(), this.config.retry.minCallMs)) {
      // It waited in a backlog until its deadline was all but gone: a call now would be cut before the provider
      // answers (and paid for all the same), and would hold this worker from the jobs behind it that can still make it.
      throw new GenerationCancelledError('deadline', []);
    }
    const plan = await this.planner.plan(request);
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
      );
    } catch (err) {
      // A stream cut (or cancelled) after it reached the client is billed for what was generated: counted here too,
      // so the metrics sum what usage_records hold.
      if (err instanceof GatewayError && err.spent !== undefined) {
        this.observeUsage(err.spent);
      }
      throw err;
    }
    const result = resultOf(request, routed, Date.now(), plan.estimate.promptTokens);
    this.observeUsage(result);
    return result;
  }

  private observeUsage(r: Spent): void {
    const { provider, model, usage } = r;
    // Label objects written out whole: `{ ...labels, type }` is slow on Node 20 (libs/core objects.ts).
    this.metrics.tokens.inc({ provider, model, type: 'prompt' }, usage.promptTokens);
    this.metrics.tokens.inc({ provider, model, type: 'completion' }, usage.completionTokens);
    if (usage.cachedPromptTokens > 0) {
      this.metrics.tokens.inc({ provider, model, type: 'cached' }, usage.cachedPromptTokens);
    }
    if (r.costUsd > 0) {
      this.metrics.costUsd.inc({ provider, model }, r.costUsd);
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

import { Injectable } from '@nestjs/common';
import { GatewayError, type GenerationRequest, type GenerationResult, type Spent } from '@aigw/core';
import { abortCauseOf, GenerationCancelledError } from '../cancel/abort';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { AttemptLoop } from '../routing/attempt-loop';
import { RoutePlanner } from '../routing/route-planner';
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
  ) {}

  async run(request: GenerationRequest, signal: AbortSignal, observer?: StreamObserver): Promise<GenerationResult> {
    const aborted = abortCauseOf(signal);
    if (aborted) {
      throw new GenerationCancelledError(aborted, []);
    }
    const plan = await this.planner.plan(request);
    const watching = observer === undefined ? undefined : withPromptEstimate(observer, plan.estimate.promptTokens);
    let routed: Routed;
    try {
      routed = await this.attempts.run(plan.candidates, request, signal, watching, plan.closedAtPlan);
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

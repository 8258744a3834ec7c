import { Injectable } from '@nestjs/common';
import {
  ErrorClass,
  ProviderCallError,
  type Deployment,
  type GenerationRequest,
  type GenerationResult,
  type StreamDelta,
} from '@aigw/core';
import { AdapterRegistry, type AdapterRequest, type ProviderAdapter } from '@aigw/adapters';
import { abortCauseOf, GenerationCancelledError } from '../cancel/abort';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { DeploymentSelector } from './deployment-selector';
import { failedAttempt, failureOf, resultOf, successAttempt, targetOf, type ProviderAnswer } from './outcomes';
import { StreamCollector, type StreamHead } from './stream-collector';

/** Receives a streamed answer as it arrives. Must not throw. */
export interface StreamObserver {
  /** The first delta arrived: the answer is now committed to this deployment. */
  onStart(head: StreamHead & { provider: string; model: string }): void;
  onChunk(text: string, finishReason: string | null | undefined): void;
}

/**
 * Turns a request into a result: picks a deployment, calls it through its adapter, prices the answer.
 * Fails only with GatewayError (GenerationCancelledError when aborted), carrying the attempts made.
 * This is the seam a routing engine (policies, retries, fallback, circuit breaker) plugs into.
 */
@Injectable()
export class GenerationService {
  constructor(
    private readonly selector: DeploymentSelector,
    private readonly adapters: AdapterRegistry,
    private readonly metrics: WorkerMetrics,
  ) {}

  async run(request: GenerationRequest, signal: AbortSignal, observer?: StreamObserver): Promise<GenerationResult> {
    const aborted = abortCauseOf(signal);
    if (aborted) {
      throw new GenerationCancelledError(aborted, []);
    }
    const deployment = this.selector.select(request);
    const adapter = this.adapters.get(deployment.provider.kind);
    const call: AdapterRequest = { target: targetOf(deployment), messages: request.messages, options: request.options };
    const started = performance.now();
    let answer: ProviderAnswer;
    try {
      answer = request.stream
        ? await this.stream(adapter, call, signal, deployment, request, observer)
        : await adapter.generate(call, signal);
    } catch (err) {
      const latencyMs = performance.now() - started;
      const failure = this.classify(adapter, err, signal);
      this.observeCall(deployment, failure.errorClass, latencyMs);
      throw failureOf(failure, failedAttempt(deployment, failure, latencyMs), abortCauseOf(signal));
    }
    const latencyMs = performance.now() - started;
    this.observeCall(deployment, 'success', latencyMs);
    const result = resultOf(
      request,
      deployment,
      answer,
      [successAttempt(deployment, latencyMs)],
      latencyMs,
      Date.now(),
    );
    this.observeUsage(result);
    return result;
  }

  private async stream(
    adapter: ProviderAdapter,
    call: AdapterRequest,
    signal: AbortSignal,
    d: Deployment,
    request: GenerationRequest,
    observer: StreamObserver | undefined,
  ): Promise<ProviderAnswer> {
    const collector = new StreamCollector(`chatcmpl-${request.requestId}`);
    const deltas: AsyncIterable<StreamDelta> = adapter.stream(call, signal);
    for await (const delta of deltas) {
      const head = collector.add(delta, Date.now());
      if (head) {
        observer?.onStart({ ...head, provider: d.provider.id, model: d.model.name });
      }
      if (delta.text !== '' || delta.finishReason) {
        observer?.onChunk(delta.text, delta.finishReason);
      }
    }
    return collector.answer(Date.now());
  }

  /** Our own abort wins over whatever the adapter made of it (a torn socket can look like a network error). */
  private classify(adapter: ProviderAdapter, err: unknown, signal: AbortSignal): ProviderCallError {
    const failure = err instanceof ProviderCallError ? err : adapter.classifyError(err, signal);
    const cause = abortCauseOf(signal);
    if (cause && failure.errorClass !== ErrorClass.Cancelled) {
      return new ProviderCallError(ErrorClass.Cancelled, `call aborted (${cause})`, { cause: failure });
    }
    return failure;
  }

  private observeCall(d: Deployment, status: string, latencyMs: number): void {
    const labels = { provider: d.provider.id, model: d.model.name };
    this.metrics.providerRequests.inc({ ...labels, status });
    this.metrics.providerLatency.observe(
      { ...labels, outcome: status === 'success' ? 'success' : 'error' },
      latencyMs / 1000,
    );
  }

  private observeUsage(r: GenerationResult): void {
    const labels = { provider: r.provider, model: r.model };
    const { usage } = r;
    this.metrics.tokens.inc({ ...labels, type: 'prompt' }, usage.promptTokens);
    this.metrics.tokens.inc({ ...labels, type: 'completion' }, usage.completionTokens);
    if (usage.cachedPromptTokens > 0) {
      this.metrics.tokens.inc({ ...labels, type: 'cached' }, usage.cachedPromptTokens);
    }
    if (r.costUsd > 0) {
      this.metrics.costUsd.inc(labels, r.costUsd);
    }
  }
}

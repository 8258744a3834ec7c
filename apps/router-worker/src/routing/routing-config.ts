import { assertCircuitConfig, type CircuitConfig, type RetryOptions, type RoutingPolicy } from '@aigw/core';
import type { WorkerEnv } from '../config/worker-env';

/** Injection token of the worker's RoutingConfig. */
export const ROUTING_CONFIG = Symbol('ROUTING_CONFIG');

/** Everything the routing engine reads from the environment, in the shapes the core functions take. */
export interface RoutingConfig {
  defaultPolicy: RoutingPolicy;
  /** System default of the preference policy (model name or `provider/model`). */
  defaultModel: string | null;
  maxAttempts: number;
  avgCompletionTokens: number;
  latencyAlpha: number;
  retry: RetryOptions;
  circuit: CircuitConfig;
}

/** Builds the routing config; throws naming the problem when the circuit settings are inconsistent. */
export function routingConfigOf(env: WorkerEnv): RoutingConfig {
  const circuit: CircuitConfig = {
    failureThreshold: env.CB_FAILURE_THRESHOLD,
    failureRate: env.CB_FAILURE_RATE,
    windowMs: env.CB_WINDOW_MS,
    minVolume: env.CB_MIN_VOLUME,
    openMs: env.CB_OPEN_MS,
    halfOpenMaxProbes: env.CB_HALF_OPEN_PROBES,
    probeTtlMs: env.CB_PROBE_TTL_MS,
  };
  assertCircuitConfig(circuit);
  return {
    defaultPolicy: env.ROUTING_DEFAULT_POLICY,
    defaultModel: env.ROUTING_DEFAULT_MODEL ?? null,
    maxAttempts: env.ROUTING_MAX_ATTEMPTS,
    avgCompletionTokens: env.ROUTING_AVG_COMPLETION_TOKENS,
    latencyAlpha: env.LATENCY_EWMA_ALPHA,
    retry: {
      maxRetries: env.RETRY_MAX,
      baseMs: env.RETRY_BASE_MS,
      // A cap below the base would silently shrink every delay; the base wins.
      maxMs: Math.max(env.RETRY_MAX_DELAY_MS, env.RETRY_BASE_MS),
      minCallMs: env.RETRY_MIN_CALL_MS,
    },
    circuit,
  };
}

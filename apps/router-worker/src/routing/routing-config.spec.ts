import 'reflect-metadata';
import { validateEnv } from '@aigw/core';
import { WorkerEnv } from '../config/worker-env';
import { routingConfigOf } from './routing-config';

describe('routingConfigOf', () => {
  it('has the documented defaults', () => {
    expect(routingConfigOf(validateEnv(WorkerEnv, {}))).toEqual({
      defaultPolicy: 'preference',
      defaultModel: null,
      maxAttempts: 3,
      avgCompletionTokens: 256,
      latencyAlpha: 0.3,
      retry: { maxRetries: 2, baseMs: 1000, maxMs: 30_000, minCallMs: 1000 },
      circuit: {
        failureThreshold: 5,
        failureRate: 0.5,
        windowMs: 60_000,
        minVolume: 20,
        openMs: 60_000,
        halfOpenMaxProbes: 1,
        probeTtlMs: 120_000,
      },
    });
  });

  it('reads every variable', () => {
    const env = validateEnv(WorkerEnv, {
      ROUTING_DEFAULT_POLICY: 'round-robin',
      ROUTING_DEFAULT_MODEL: 'sim/sim-gpt',
      ROUTING_MAX_ATTEMPTS: '2',
      ROUTING_AVG_COMPLETION_TOKENS: '100',
      LATENCY_EWMA_ALPHA: '0.5',
      RETRY_MAX: '0',
      RETRY_BASE_MS: '50',
      RETRY_MAX_DELAY_MS: '10',
      RETRY_MIN_CALL_MS: '0',
      CB_FAILURE_THRESHOLD: '3',
      CB_FAILURE_RATE: '0.25',
      CB_WINDOW_MS: '1000',
      CB_MIN_VOLUME: '4',
      CB_OPEN_MS: '1500',
      CB_HALF_OPEN_PROBES: '2',
      CB_PROBE_TTL_MS: '5000',
    });
    expect(routingConfigOf(env)).toEqual({
      defaultPolicy: 'round-robin',
      defaultModel: 'sim/sim-gpt',
      maxAttempts: 2,
      avgCompletionTokens: 100,
      latencyAlpha: 0.5,
      // A cap below the base is lifted to it.
      retry: { maxRetries: 0, baseMs: 50, maxMs: 50, minCallMs: 0 },
      circuit: {
        failureThreshold: 3,
        failureRate: 0.25,
        windowMs: 1000,
        minVolume: 4,
        openMs: 1500,
        halfOpenMaxProbes: 2,
        probeTtlMs: 5000,
      },
    });
  });

  it('rejects bad values at boot, naming them', () => {
    expect(() =>
      validateEnv(WorkerEnv, {
        ROUTING_DEFAULT_POLICY: 'fastest',
        CB_FAILURE_RATE: '1.5',
        LATENCY_EWMA_ALPHA: '0',
        RETRY_MAX: '-1',
      }),
    ).toThrow(/ROUTING_DEFAULT_POLICY[\s\S]*LATENCY_EWMA_ALPHA[\s\S]*RETRY_MAX[\s\S]*CB_FAILURE_RATE/);
  });
});

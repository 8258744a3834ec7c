import { addHistogram, emptyHistogram, latencyPercentile, roundUsd } from '@aigw/core';
import type { UsageSums } from '@aigw/entities';

/** The figures of one group (or of all) as the analytics endpoints show them. */
export interface UsageFigures {
  requests: number;
  successes: number;
  /** Requests that ended in an error: neither successes nor requests their client left. */
  failures: number;
  /**
   * Requests their client left before the answer ended (`client_closed_request`): no failure of the gateway's nor of
   * a provider's, so neither successes nor failures.
   */
  clientClosed: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  costUsd: number;
  costSavedUsd: number;
  cacheHits: number;
  avgLatencyMs: number | null;
  p95LatencyMs: number | null;
  /**
   * Provider attempts that failed before their request's last one (a fallback's failed deployments): by provider,
   * those that failed on it. Not in `requests`, which counts each client request once.
   */
  failedAttempts: number;
}

export function figuresOf(s: UsageSums): UsageFigures {
  return {
    requests: s.requests,
    successes: s.successes,
    failures: s.requests - s.successes - s.clientClosed,
    clientClosed: s.clientClosed,
    promptTokens: s.promptTokens,
    completionTokens: s.completionTokens,
    cachedTokens: s.cachedTokens,
    costUsd: roundUsd(s.costUsd),
    costSavedUsd: roundUsd(s.costSavedUsd),
    cacheHits: s.cacheHits,
    avgLatencyMs: s.requests === 0 ? null : Math.round(s.latencySumMs / s.requests),
    p95LatencyMs: latencyPercentile(s.latencyBuckets, 0.95),
    failedAttempts: s.failedAttempts,
  };
}

export function emptySums(): UsageSums {
  return {
    requests: 0,
    successes: 0,
    cacheHits: 0,
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
    costUsd: 0,
    costSavedUsd: 0,
    latencySumMs: 0,
    latencyBuckets: emptyHistogram(),
    failedAttempts: 0,
    calls: 0,
    failedCalls: 0,
    clientClosed: 0,
  };
}

/** The sums of several groups, histograms included (so the total's p95 is a true p95, not an average). */
export function totalOf(groups: readonly UsageSums[]): UsageSums {
  const t = emptySums();
  for (const g of groups) {
    t.requests += g.requests;
    t.successes += g.successes;
    t.cacheHits += g.cacheHits;
    t.promptTokens += g.promptTokens;
    t.completionTokens += g.completionTokens;
    t.cachedTokens += g.cachedTokens;
    t.costUsd += g.costUsd;
    t.costSavedUsd += g.costSavedUsd;
    t.latencySumMs += g.latencySumMs;
    t.failedAttempts += g.failedAttempts;
    t.calls += g.calls;
    t.failedCalls += g.failedCalls;
    t.clientClosed += g.clientClosed;
    addHistogram(t.latencyBuckets, g.latencyBuckets);
  }
  return t;
}

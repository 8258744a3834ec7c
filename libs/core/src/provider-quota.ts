/**
 * One rate-limit window as a provider (or the LiteLLM-style gateway in front of it) last reported it in its
 * response headers. A figure the headers did not give is null.
 */
export interface QuotaWindow {
  limit: number | null;
  remaining: number | null;
  /** Epoch ms at which the window is full again; null: not said. */
  resetAt: number | null;
}

/**
 * A provider's rate limits as seen on one route (`direct` or `gateway`): requests and tokens per window, each null
 * when the headers did not describe it. `observedAt` is when the response carrying them arrived (epoch ms).
 */
export interface QuotaSnapshot {
  requests: QuotaWindow | null;
  tokens: QuotaWindow | null;
  observedAt: number;
}

import type { Deployment, ErrorClass, ProviderKind } from '@aigw/core';
import type { AdapterOwner, ProviderAdapter } from '@aigw/adapters';

/** Reported as they happen, for metrics. Must not throw. */
export interface AttemptEvents {
  call(d: Deployment, status: 'success' | ErrorClass, ms: number): void;
  retry(d: Deployment, errorClass: ErrorClass): void;
  /** Moving away from a failed deployment, or from its failed route to the other one. */
  fallback(d: Deployment, errorClass: ErrorClass, kind: 'deployment' | 'route'): void;
}

export interface AttemptClock {
  /** Epoch ms (deadlines). */
  now(): number;
  /** Monotonic ms (durations). */
  monotonic(): number;
}

export interface AdapterSource {
  /** `owner` names the provider (and, for `kind: plugin`, its module). */
  get(kind: ProviderKind, owner?: AdapterOwner): ProviderAdapter;
}

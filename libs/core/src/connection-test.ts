import type { ProbeMode, ProviderKind, RoutingMethod } from './catalog';
import type { Route } from './domain';

/**
 * The connection test (`health.probe` from the api-gateway to the health-monitor, and
 * `POST /api/v1/ai/admin/providers[/:id]/test`). The console and tests depend on these names.
 */

/** What went wrong with a probe, in the terms of the person configuring the provider. */
export type DiagnosisCode =
  | 'dns_failure'
  | 'connection_refused'
  | 'tls_error'
  | 'timeout'
  | 'unauthorized'
  | 'not_found'
  | 'rate_limited'
  | 'server_error'
  | 'bad_response';

export const DIAGNOSIS_CODES: readonly DiagnosisCode[] = [
  'dns_failure',
  'connection_refused',
  'tls_error',
  'timeout',
  'unauthorized',
  'not_found',
  'rate_limited',
  'server_error',
  'bad_response',
];

/** Plain-language: `message` says what happened, `suggestion` what to change. Neither ever holds a secret. */
export interface Diagnosis {
  code: DiagnosisCode;
  message: string;
  suggestion: string;
}

/** One route's result. */
export interface RouteCheck {
  route: Route;
  ok: boolean;
  latencyMs: number;
  /** The HTTP status, when an answer came back. */
  status?: number;
  /** The model ids the route serves, when the probe read the model list (a gateway's: every model it serves). */
  models?: string[];
  diagnosis?: Diagnosis;
}

/**
 * The catalog change that moves a provider onto its gateway, in the two forms a person or the console applies:
 * YAML lines for the provider's catalog entry, and the body of `PATCH /api/v1/ai/admin/providers/:id`.
 */
export interface RouteSuggestion {
  code: 'use_gateway';
  message: string;
  yaml: string;
  patch: { routing: 'gateway'; gatewayId: string };
}

export interface ConnectionTestResult {
  /** The catalog id; null for settings that are not saved. */
  providerId: string | null;
  /** `direct` for direct providers, `gateway` for gateway ones, both (direct first) for `auto`. */
  routes: RouteCheck[];
  suggestion?: RouteSuggestion;
}

/** A provider's settings typed into a form and not saved yet. */
export interface UnsavedProviderSettings {
  kind: ProviderKind;
  baseUrl: string;
  /** Secret: never logged, never echoed. */
  apiKey?: string;
  /**
   * Instead of `apiKey`: the id of a saved gateway whose stored key the test sends (the Gateway screen testing a
   * changed URL while keeping the key). The monitor reads the key from its catalog: it never travels in a message.
   */
  apiKeyFromGateway?: string;
  /**
   * Instead of `apiKey`: the id of the saved provider these settings are a change of, whose stored key the test sends
   * (the console's Edit form testing a changed URL or route while keeping the key, as its PATCH keeps it). The monitor
   * reads the key from its catalog: it never travels in a message.
   */
  apiKeyFromProvider?: string;
  routing: RoutingMethod;
  /** Id of a saved gateway; required for `gateway` and `auto`. */
  gatewayId?: string;
  healthPath?: string;
  /** `kind: plugin`: the adapter's module. */
  plugin?: string;
  probe?: ProbeMode;
  /** Model names as sent upstream, to check the gateway serves them (and for a `completion` probe). */
  models?: string[];
}

/**
 * `health.probe` request: a saved provider by id, or unsaved settings. The channel is namespaced by REDIS_PREFIX
 * (see `controlNamespace`), so the message itself carries no namespace.
 */
export type HealthProbeRequest = ({ providerId: string } | { provider: UnsavedProviderSettings }) & {
  /**
   * One id per test (the gateway sends a UUID). Every monitor replica hears the request (pub/sub): the one that
   * claims the id in Redis probes, the others answer with its result, so a test probes the provider once.
   */
  testId?: string;
};

/** Why the monitor could not run the test at all (as opposed to a route that failed). */
export type HealthProbeRefusal = 'provider_not_found' | 'gateway_not_found' | 'invalid_request';

/** A refusal's `param` names the request field at fault when it is not the obvious one (`id`, `gatewayId`). */
export type HealthProbeReply =
  | { ok: true; result: ConnectionTestResult }
  | { ok: false; reason: HealthProbeRefusal; message: string; param?: string };

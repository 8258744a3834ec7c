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
  /**
   * Secret: never logged, never echoed. Only an api-gateway of a release before `sealedApiKey` sends it (the monitor
   * still reads it, for a rollout that upgrades the monitor first); a current one never puts it on the wire.
   */
  apiKey?: string;
  /**
   * The key typed into the form, as it travels on Redis pub/sub: sealed with SECRETS_KEY (the scheme of stored keys,
   * see `sealConnectionTestKey`), bound to this test's `baseUrl` and `testId` so that a copy replayed with another
   * URL is refused. The monitor opens it under SECRETS_KEY or SECRETS_KEY_PREVIOUS.
   */
  sealedApiKey?: string;
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
export type HealthProbeRefusal =
  | 'provider_not_found'
  | 'gateway_not_found'
  | 'invalid_request'
  /** `sealedApiKey` opens under none of the monitor's keys: the api-gateway tries its previous keys (mid-rotation). */
  | 'sealed_key_unreadable';

/** A refusal's `param` names the request field at fault when it is not the obvious one (`id`, `gatewayId`). */
export type HealthProbeReply =
  | { ok: true; result: ConnectionTestResult }
  | { ok: false; reason: HealthProbeRefusal; message: string; param?: string };

/** What `sealedApiKey` holds once opened: the key, and the test it was sealed for. */
export interface ConnectionTestKey {
  apiKey: string;
  baseUrl: string;
  testId: string;
}

/** The plaintext to seal as `sealedApiKey` (encrypt it with SECRETS_KEY's box). */
export function connectionTestKeyText(key: ConnectionTestKey): string {
  return JSON.stringify({ apiKey: key.apiKey, baseUrl: key.baseUrl, testId: key.testId });
}

/**
 * The key of an opened `sealedApiKey`, when it was sealed for `baseUrl` and `testId`; undefined otherwise (a sealed
 * key copied into a message naming another URL, or not one at all).
 */
export function connectionTestKeyOf(
  plaintext: string,
  baseUrl: string,
  testId: string | undefined,
): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(plaintext);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) {
    return undefined;
  }
  const key = parsed as Partial<Record<keyof ConnectionTestKey, unknown>>;
  if (typeof key.apiKey !== 'string' || key.baseUrl !== baseUrl || testId === undefined || key.testId !== testId) {
    return undefined;
  }
  return key.apiKey;
}

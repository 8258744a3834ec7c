import {
  PROBE_MODES,
  PROVIDER_KINDS,
  ROUTING_METHODS,
  type HealthProbeRequest,
  type UnsavedProviderSettings,
} from '@aigw/core';

type Obj = Record<string, unknown>;

const TEST_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The optional string fields of an unsaved provider a `health.probe` message may carry, copied as they come. */
const STRING_FIELDS = [
  'apiKey',
  'sealedApiKey',
  'apiKeyFromGateway',
  'apiKeyFromProvider',
  'gatewayId',
  'healthPath',
  'plugin',
] as const;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const optionalString = (o: Obj, key: string): boolean => o[key] === undefined || typeof o[key] === 'string';

/**
 * A `health.probe` message as the monitor trusts it, or what is wrong with it. The api-gateway validates the
 * same fields first; this only keeps a malformed message from reaching a probe. Problems never echo values.
 */
export function readHealthProbeRequest(message: unknown): HealthProbeRequest | string {
  if (!isObject(message)) {
    return 'The request must be an object.';
  }
  const testId = message.testId;
  if (testId !== undefined && !(typeof testId === 'string' && TEST_ID.test(testId))) {
    return "'testId' must be 1 to 64 letters, digits, '-' or '_'.";
  }
  const withId = <T extends object>(request: T): T & { testId?: string } =>
    testId === undefined ? request : { ...request, testId };
  if (typeof message.providerId === 'string' && message.providerId !== '') {
    return withId({ providerId: message.providerId });
  }
  const p = message.provider;
  if (!isObject(p)) {
    return "The request needs 'providerId' or 'provider'.";
  }
  if (!(PROVIDER_KINDS as readonly unknown[]).includes(p.kind)) {
    return `'provider.kind' must be one of: ${PROVIDER_KINDS.join(', ')}.`;
  }
  if (typeof p.baseUrl !== 'string') {
    return "'provider.baseUrl' must be a string.";
  }
  if (!(ROUTING_METHODS as readonly unknown[]).includes(p.routing)) {
    return `'provider.routing' must be one of: ${ROUTING_METHODS.join(', ')}.`;
  }
  if (p.probe !== undefined && !(PROBE_MODES as readonly unknown[]).includes(p.probe)) {
    return `'provider.probe' must be one of: ${PROBE_MODES.join(', ')}.`;
  }
  for (const key of STRING_FIELDS) {
    if (!optionalString(p, key)) {
      return `'provider.${key}' must be a string.`;
    }
  }
  if (p.models !== undefined && !(Array.isArray(p.models) && p.models.every((m) => typeof m === 'string'))) {
    return "'provider.models' must be a list of model names.";
  }
  const provider: UnsavedProviderSettings = {
    kind: p.kind as UnsavedProviderSettings['kind'],
    baseUrl: p.baseUrl,
    routing: p.routing as UnsavedProviderSettings['routing'],
  };
  for (const key of STRING_FIELDS) {
    const value = p[key];
    if (typeof value === 'string') {
      provider[key] = value;
    }
  }
  if (p.probe !== undefined) {
    provider.probe = p.probe as UnsavedProviderSettings['probe'];
  }
  if (Array.isArray(p.models)) {
    provider.models = p.models;
  }
  return withId({ provider });
}

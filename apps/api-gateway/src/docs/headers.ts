import { ROUTING_POLICIES } from '@aigw/core';
import type {
  HeaderObject,
  HeadersObject,
  ParameterObject,
  ReferenceObject,
  ResponseObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { MAX_KEY_LENGTH } from '../generation/idempotency';

/*
 * The headers of the OpenAPI document: request headers the generation routes read, and the response headers clients
 * act on, as components referred to by the operations.
 */

const STRING = { type: 'string' } as const;

/** Response headers, by their name on the wire. `required` ones are on every answer that lists them. */
export const RESPONSE_HEADERS: Readonly<Record<string, HeaderObject>> = {
  'x-request-id': {
    description: 'The id of the request (the job id of a generation), also in the logs; on every answer, errors too.',
    required: true,
    schema: STRING,
  },
  'request-id': {
    description:
      "`x-request-id`'s value, on the routes that speak Anthropic's API (where its SDK reads it: `_request_id`, " +
      '`requestID`); on every answer of theirs, errors too.',
    required: true,
    schema: STRING,
  },
  'x-gateway-provider': { description: 'The provider that answered.', schema: STRING },
  'x-gateway-model': {
    description:
      'The model that answered. A name with a character outside printable ASCII is sent as `encodeURIComponent` encodes it (`decodeURIComponent` reads it back).',
    schema: STRING,
  },
  'x-gateway-attempts': { description: 'How many deployments were tried.', schema: { type: 'integer' } },
  'x-gateway-route': {
    description: 'How the provider was reached.',
    schema: { type: 'string', enum: ['direct', 'gateway'] },
  },
  'x-gateway-cache': {
    description:
      'Where the answer came from: `hit` (the response cache), `miss` (a provider, after a lookup), `bypass` (a ' +
      'provider, the cache not asked) or `stale` (an expired cache entry, every provider having failed).',
    schema: { type: 'string', enum: ['hit', 'miss', 'bypass', 'stale'] },
  },
  'x-gateway-cost-usd': {
    description: "The answer's cost in USD (fixed-point); 0 for a cache hit or a coalesced answer. Not on streams.",
    schema: { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?$' },
  },
  'x-gateway-coalesced': {
    description: "`true` when the answer shared an identical request's provider call (with `x-gateway-cache: miss`).",
    schema: { type: 'string', enum: ['true'] },
  },
  'x-gateway-idempotent-replay': {
    description: "`true` when the answer is the first request's under the same `Idempotency-Key` (billed once).",
    schema: { type: 'string', enum: ['true'] },
  },
  'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 1 } },
  Location: { description: 'Where to poll the job: `/api/v1/ai/jobs/{jobId}`.', required: true, schema: STRING },
  ETag: {
    description: 'A hash of the body; send it back in `If-None-Match` to get a `304` while nothing changed.',
    required: true,
    schema: STRING,
  },
  'Cache-Control': {
    description: '`private, max-age=30` (`public, max-age=30` without a key, when MODELS_PUBLIC=true).',
    required: true,
    schema: STRING,
  },
};

export function headerRefs(...names: string[]): HeadersObject {
  return Object.fromEntries(
    names.map((name): [string, ReferenceObject] => {
      if (RESPONSE_HEADERS[name] === undefined) {
        throw new Error(`No response header ${name} in RESPONSE_HEADERS`);
      }
      return [name, { $ref: `#/components/headers/${name}` }];
    }),
  );
}

/** What every answer of a generation says about where it came from. */
export const ANSWER_HEADERS: readonly string[] = [
  'x-gateway-provider',
  'x-gateway-model',
  'x-gateway-attempts',
  'x-gateway-route',
  'x-gateway-cache',
  'x-gateway-cost-usd',
  'x-gateway-coalesced',
  'x-gateway-idempotent-replay',
];

/** The request headers of the generation routes, as parameter components. */
export const REQUEST_HEADERS: Readonly<Record<string, ParameterObject>> = {
  IdempotencyKey: {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'A retried request with the same key (and API key) gets the first answer (or joins its job) instead of ' +
      'running again; the same key with another body is a 409.',
    schema: { type: 'string', minLength: 1, maxLength: MAX_KEY_LENGTH },
  },
  GatewayPolicy: {
    name: 'x-gateway-policy',
    in: 'header',
    required: false,
    description: 'The routing policy, when the body names none.',
    schema: { type: 'string', enum: [...ROUTING_POLICIES] },
  },
  GatewayAllowFallback: {
    name: 'x-gateway-allow-fallback',
    in: 'header',
    required: false,
    description: 'true: a pinned `provider/model` may fall back to other deployments when it fails.',
    schema: { type: 'string', enum: ['true', 'false'] },
  },
  GatewayCache: {
    name: 'x-gateway-cache',
    in: 'header',
    required: false,
    description:
      '`no-cache`: call a provider (its answer is stored); `no-store`: neither read nor store. `Cache-Control` ' +
      'with these directives does the same. Any other value is a 400 naming the header.',
    schema: { type: 'string', enum: ['no-cache', 'no-store'] },
  },
};

export const GENERATION_REQUEST_HEADERS: readonly ReferenceObject[] = Object.keys(REQUEST_HEADERS).map((name) => ({
  $ref: `#/components/parameters/${name}`,
}));

/** A JSON answer with a component schema and the named headers. */
export function jsonAnswer(description: string, schema: string, ...headers: string[]): ResponseObject {
  return {
    description,
    headers: headerRefs(...headers),
    content: { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } },
  };
}

import type { CorsHeaders } from '@aigw/platform';
import { REQUEST_HEADERS, RESPONSE_HEADERS } from '../docs/headers';

/**
 * Response headers a browser lets a page read without being told (CORS-safelisted): not worth listing.
 * https://fetch.spec.whatwg.org/#cors-safelisted-response-header-name
 */
const SAFELISTED_RESPONSE = new Set([
  'cache-control',
  'content-language',
  'content-length',
  'content-type',
  'expires',
  'last-modified',
  'pragma',
]);

/**
 * What browsers on another origin (CORS_ORIGINS) may send and read. Sent: the keys (both ways), JSON bodies, the
 * gateway's own request headers (those the API docs name, `Cache-Control`, `If-None-Match`, `x-request-id`), and
 * what the OpenAI and Anthropic JS SDKs add from a browser (`dangerouslyAllowBrowser: true`): their `x-stainless-*`
 * platform, retry and timeout headers, Anthropic's version, beta and browser-access headers, OpenAI's organization
 * and project. A header missing here fails the browser's preflight, and the call with it (a test checks what both
 * SDKs send against this list). Read: every response header the API docs name, the rate-limit headers and
 * `x-should-retry`, which the SDKs read to pace and retry, and what an answer may carry besides.
 */
export const GATEWAY_CORS_HEADERS: CorsHeaders = {
  allow: [
    'authorization',
    'x-api-key',
    'content-type',
    'cache-control',
    'if-none-match',
    'x-request-id',
    ...Object.values(REQUEST_HEADERS).map((h) => h.name.toLowerCase()),
    'anthropic-version',
    'anthropic-beta',
    'anthropic-dangerous-direct-browser-access',
    'openai-organization',
    'openai-project',
    'openai-beta',
    'x-stainless-arch',
    'x-stainless-lang',
    'x-stainless-os',
    'x-stainless-package-version',
    'x-stainless-runtime',
    'x-stainless-runtime-version',
    'x-stainless-retry-count',
    'x-stainless-timeout',
    'x-stainless-helper',
    'x-stainless-helper-method',
    'x-stainless-poll-helper',
    'x-stainless-custom-poll-interval',
  ],
  expose: [
    ...new Set([
      ...Object.keys(RESPONSE_HEADERS)
        .map((name) => name.toLowerCase())
        .filter((name) => !SAFELISTED_RESPONSE.has(name)),
      'x-should-retry',
      'x-ratelimit-limit-requests',
      'x-ratelimit-remaining-requests',
      'x-ratelimit-reset-requests',
      'x-ratelimit-limit-tokens',
      'x-ratelimit-remaining-tokens',
      'x-ratelimit-reset-tokens',
      'warning',
      'allow',
      'www-authenticate',
      'content-disposition',
    ]),
  ],
  // Chromium's cap: a longer one is cut to it.
  maxAgeS: 7200,
};

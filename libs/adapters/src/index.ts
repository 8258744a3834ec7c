export type {
  AdapterRequest,
  AdapterResponse,
  AdapterTarget,
  EmbeddingsAdapterRequest,
  EmbeddingsResponse,
  HealthResult,
  ProviderAdapter,
  RateLimitInfo,
  ResponseObserver,
} from './types';
export { abortSignalOf, CancelSignal, type CallerSignal } from './http/caller-signal';
export { HttpPool, type HttpCall, type HttpPoolOptions, type HttpPoolStats, type HttpResponse } from './http/http-pool';
export { AddressRefusedError, guardedLookup } from './http/address-guard';
export { AdapterRegistry, type AdapterOwner, type PluginOwner } from './registry';
export { GeminiAdapter } from './gemini/gemini-adapter';
export { OllamaAdapter } from './ollama/ollama-adapter';
export { TgiAdapter } from './tgi/tgi-adapter';
export { loadPlugin, PluginLoadError, type PluginContext, type PluginFactory } from './plugin/plugin-loader';
export { NdjsonParser } from './sse/ndjson-parser';
export { OpenAiAdapter } from './openai/openai-adapter';
export { AnthropicAdapter } from './anthropic/anthropic-adapter';
export { DEFAULT_ANTHROPIC_MAX_TOKENS, toAnthropicPrompt, type AnthropicPrompt } from './anthropic/anthropic-mapping';
export { parseSse, SseParser, type SseEvent } from './sse/sse-parser';
export { classifyError, classifyHttpFailure, isConnectTimeout } from './errors/classify';
export { safeMessage } from './errors/provider-message';
export {
  anthropicRateLimit,
  anyRateLimit,
  ietfRateLimit,
  openAiRateLimit,
  parseDurationMs,
  parseRetryAfter,
  type ResponseHeaders,
} from './http/headers';
export { quotaFromResponse } from './http/quota-headers';
export { gatewayTarget } from './gateway-target';
export { diagnose, type DiagnosisContext } from './probe/diagnosis';
export {
  probePoolKey,
  probeProviderOf,
  probeRoute,
  type AdapterSource,
  type ProbeProvider,
  type ProbeRouteOptions,
  type RouteProbe,
} from './probe/probe-route';
export { suggestRoute, type SuggestionSubject } from './probe/route-suggestion';
export { safeUrl } from './probe/safe-url';
// The connection-test contract types live in core (the api-gateway and the monitor share them); re-exported here
// because the probe library first shipped them from this entry point.
export { DIAGNOSIS_CODES, type Diagnosis, type DiagnosisCode, type RouteSuggestion } from '@aigw/core';

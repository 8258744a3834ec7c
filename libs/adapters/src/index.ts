export type {
  AdapterRequest,
  AdapterResponse,
  AdapterTarget,
  EmbeddingsAdapterRequest,
  EmbeddingsResponse,
  HealthResult,
  ProviderAdapter,
  RateLimitInfo,
} from './types';
export { HttpPool, type HttpCall, type HttpPoolOptions, type HttpPoolStats, type HttpResponse } from './http/http-pool';
export { AdapterRegistry } from './registry';
export { OpenAiAdapter } from './openai/openai-adapter';
export { AnthropicAdapter } from './anthropic/anthropic-adapter';
export { DEFAULT_ANTHROPIC_MAX_TOKENS, toAnthropicPrompt, type AnthropicPrompt } from './anthropic/anthropic-mapping';
export { parseSse, SseParser, type SseEvent } from './sse/sse-parser';
export { classifyError, classifyHttpFailure } from './errors/classify';
export {
  anthropicRateLimit,
  openAiRateLimit,
  parseDurationMs,
  parseRetryAfter,
  type ResponseHeaders,
} from './http/headers';

/** Domain types shared by every process. Plain data only: these cross Redis as JSON. */

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export type ContentPart =
  { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string; detail?: string } };

export interface ChatMessage {
  role: Role;
  content: string | ContentPart[] | null;
  name?: string;
  tool_call_id?: string;
}

export interface GenerationOptions {
  temperature?: number;
  maxTokens?: number;
  topP?: number;
  stop?: string[];
}

export type RoutingPolicy = 'preference' | 'cost' | 'latency' | 'quality' | 'round-robin';
export const ROUTING_POLICIES: readonly RoutingPolicy[] = ['preference', 'cost', 'latency', 'quality', 'round-robin'];

/** What the gateway hands to a worker. Never holds secrets. */
export interface GenerationRequest {
  requestId: string;
  /** As the client asked: `model`, `provider/model` or an alias. */
  model: string;
  messages: ChatMessage[];
  options: GenerationOptions;
  stream: boolean;
  /** Preference context (native API), e.g. "coding". */
  context?: string;
  policy?: RoutingPolicy;
  /** Allow fallback to other deployments even when the model is pinned as `provider/model`. */
  allowFallback?: boolean;
  userId: string;
  apiKeyId: string;
  /** Epoch ms after which nobody waits for the answer any more. */
  deadlineAt: number;
  /** Epoch ms the gateway accepted the request (for end-to-end latency). */
  receivedAt: number;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Prompt tokens the provider served from its prompt cache (billed at the cached rate where one is configured). */
  cachedPromptTokens: number;
}

export const EMPTY_USAGE: Readonly<Usage> = Object.freeze({
  promptTokens: 0,
  completionTokens: 0,
  totalTokens: 0,
  cachedPromptTokens: 0,
});

export type Route = 'direct' | 'gateway';

/** One call (with its retries) to one deployment. */
export interface Attempt {
  provider: string;
  model: string;
  route: Route;
  ok: boolean;
  /** Present when ok is false. */
  errorClass?: string;
  status?: number;
  message?: string;
  latencyMs: number;
  retries: number;
}

export interface GenerationResult {
  requestId: string;
  /** Completion id (provider's when it gave one). */
  id: string;
  created: number;
  text: string;
  finishReason: string | null;
  provider: string;
  model: string;
  route: Route;
  usage: Usage;
  costUsd: number;
  /** Gateway receipt to result, ms. */
  latencyMs: number;
  /** Time spent waiting on the provider for the successful attempt, ms. */
  providerLatencyMs: number;
  attempts: Attempt[];
}

/** One streamed piece of an answer as adapters yield it. */
export interface StreamDelta {
  text: string;
  finishReason?: string | null;
  /** Providers send usage in the last chunk(s); adapters surface it when seen. */
  usage?: Usage;
  /** Provider's completion id when first seen. */
  id?: string;
}

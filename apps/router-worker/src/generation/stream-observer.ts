import type { Route, StreamDelta } from '@aigw/core';
import type { StreamHead } from './stream-collector';

/** Where a streamed answer comes from, known when its first delta arrives. */
export type StreamStart = StreamHead & {
  provider: string;
  model: string;
  route: Route;
  /** Prompt tokens when known at the start: the provider's, or the routing estimate. */
  promptTokens?: number;
  /** Of those, read from and written to the provider's prompt cache, when the provider said at the start. */
  cachedPromptTokens?: number;
  cacheWritePromptTokens?: number;
};

/** Receives a streamed answer as it arrives. Must not throw. */
export interface StreamObserver {
  /**
   * The first delta arrived: the answer is now committed to this deployment (no fallback after this).
   * `attempts` counts the attempts made so far, this one included.
   */
  onStart(head: StreamStart & { attempts: number }): void;
  /** A delta with something to relay: text, tool-call fragments, reasoning, a refusal or the finish reason. */
  onChunk(delta: StreamDelta): void;
}

/** What one provider call reports; the attempt loop adds the attempt count. */
export interface CallObserver {
  onStart(head: StreamStart): void;
  onChunk(delta: StreamDelta): void;
}

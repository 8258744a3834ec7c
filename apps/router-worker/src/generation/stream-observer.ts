import type { StreamHead } from './stream-collector';

/** Receives a streamed answer as it arrives. Must not throw. */
export interface StreamObserver {
  /** The first delta arrived: the answer is now committed to this deployment (no fallback after this). */
  onStart(head: StreamHead & { provider: string; model: string }): void;
  onChunk(text: string, finishReason: string | null | undefined): void;
}

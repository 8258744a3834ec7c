import { EMPTY_USAGE, type StreamDelta, type Usage } from '@aigw/core';
import type { ProviderAnswer } from './outcomes';

/** What a stream's first delta fixes: announced in the `start` message and kept in the final result. */
export interface StreamHead {
  id: string;
  /** Epoch seconds. */
  created: number;
}

/** Folds a stream's deltas into the whole answer, as a non-streamed call would have returned it. */
export class StreamCollector {
  private readonly parts: string[] = [];
  private head: StreamHead | undefined;
  private finishReason: string | null = null;
  private usage: Usage | undefined;

  /** `fallbackId` names the answer when the provider sends no id with its first delta. */
  constructor(private readonly fallbackId: string) {}

  /** Adds a delta; returns the stream's head when this was the first delta, else undefined. */
  add(delta: StreamDelta, nowMs: number): StreamHead | undefined {
    let first: StreamHead | undefined;
    if (!this.head) {
      first = { id: delta.id ?? this.fallbackId, created: Math.floor(nowMs / 1000) };
      this.head = first;
    }
    if (delta.text !== '') {
      this.parts.push(delta.text);
    }
    if (delta.finishReason) {
      this.finishReason = delta.finishReason;
    }
    // Providers may repeat usage; the last one is the total.
    if (delta.usage) {
      this.usage = delta.usage;
    }
    return first;
  }

  answer(nowMs: number): ProviderAnswer {
    return {
      id: this.head?.id ?? this.fallbackId,
      created: this.head?.created ?? Math.floor(nowMs / 1000),
      text: this.parts.join(''),
      finishReason: this.finishReason,
      usage: this.usage ?? { ...EMPTY_USAGE },
    };
  }
}

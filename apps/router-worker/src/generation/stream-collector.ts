import {
  EMPTY_USAGE,
  type JsonValue,
  type StreamDelta,
  type ThinkingBlock,
  type ToolCall,
  type Usage,
} from '@aigw/core';
import type { ProviderAnswer } from './outcomes';

/** What a stream's first delta fixes: announced in the `start` message and kept in the final result. */
export interface StreamHead {
  id: string;
  /** Epoch seconds: the provider's when its first delta says, else the time that delta arrived. */
  created: number;
  /** The provider's, when its first delta carries one: OpenAI-compatible streams repeat it in every chunk. */
  systemFingerprint?: string;
  /** Likewise the provider's `service_tier` (OpenAI's). */
  serviceTier?: string;
}

/** Folds a stream's deltas into the whole answer, as a non-streamed call would have returned it. */
export class StreamCollector {
  private readonly parts: string[] = [];
  private readonly reasoning: string[] = [];
  /** Signed thinking blocks so far, and where the reasoning of the block being streamed starts in `reasoning`. */
  private readonly thinking: ThinkingBlock[] = [];
  private blockStart = 0;
  private readonly refusal: string[] = [];
  /** By tool call index; fragments of one call are concatenated in arrival order. */
  private readonly toolCalls = new Map<number, ToolCall>();
  private first: StreamHead | undefined;
  private finishReason: string | null = null;
  private usage: Usage | undefined;
  private systemFingerprint: string | undefined;
  private serviceTier: string | undefined;
  /** The answer's sources: the last lists of `citations` and `search_results` given, the `annotations` in order. */
  private citations: string[] | undefined;
  private searchResults: JsonValue[] | undefined;
  private annotations: JsonValue[] | undefined;
  private stopSequence: string | undefined;
  private anthropicStopReason: string | undefined;
  /** The streamed logprobs' `content` and `refusal` entries, in order (OpenAI sends each chunk's own). */
  private logprobs: { content: JsonValue[]; refusal: JsonValue[] } | undefined;

  /** `fallbackId` names the answer when the provider sends no id with its first delta. */
  constructor(private readonly fallbackId: string) {}

  /** Adds a delta; returns the stream's head when this was the first delta, else undefined. */
  add(delta: StreamDelta, nowMs: number): StreamHead | undefined {
    let first: StreamHead | undefined;
    if (!this.first) {
      first = { id: delta.id ?? this.fallbackId, created: delta.created ?? Math.floor(nowMs / 1000) };
      if (delta.systemFingerprint !== undefined) {
        first.systemFingerprint = delta.systemFingerprint;
      }
      if (delta.serviceTier !== undefined) {
        first.serviceTier = delta.serviceTier;
      }
      this.first = first;
    }
    if (delta.text !== '') {
      this.parts.push(delta.text);
    }
    if (delta.reasoning !== undefined) {
      this.reasoning.push(delta.reasoning);
    }
    if (delta.reasoningSignature !== undefined) {
      const text = this.reasoning.slice(this.blockStart).join('');
      this.thinking.push({ type: 'thinking', thinking: text, signature: delta.reasoningSignature });
      this.blockStart = this.reasoning.length;
    }
    if (delta.redactedReasoning !== undefined) {
      this.thinking.push({ type: 'redacted_thinking', data: delta.redactedReasoning });
    }
    if (delta.refusal !== undefined) {
      this.refusal.push(delta.refusal);
    }
    for (const piece of delta.toolCalls ?? []) {
      let call = this.toolCalls.get(piece.index);
      if (call === undefined) {
        call = { id: '', type: 'function', function: { name: '', arguments: '' } };
        this.toolCalls.set(piece.index, call);
      }
      if (piece.id !== undefined && call.id === '') {
        call.id = piece.id;
      }
      if (piece.name !== undefined) {
        call.function.name += piece.name;
      }
      if (piece.arguments !== undefined) {
        call.function.arguments += piece.arguments;
      }
    }
    if (delta.finishReason) {
      this.finishReason = delta.finishReason;
    }
    // Providers may repeat usage; the last one is the total.
    if (delta.usage) {
      this.usage = delta.usage;
    }
    if (delta.systemFingerprint !== undefined) {
      this.systemFingerprint ??= delta.systemFingerprint;
    }
    if (delta.serviceTier !== undefined) {
      this.serviceTier ??= delta.serviceTier;
    }
    if (delta.citations !== undefined) {
      this.citations = delta.citations;
    }
    if (delta.searchResults !== undefined) {
      this.searchResults = delta.searchResults;
    }
    if (delta.annotations !== undefined) {
      (this.annotations ??= []).push(...delta.annotations);
    }
    if (delta.stopSequence !== undefined) {
      this.stopSequence = delta.stopSequence;
    }
    if (delta.anthropicStopReason !== undefined) {
      this.anthropicStopReason = delta.anthropicStopReason;
    }
    if (delta.logprobs !== undefined) {
      this.addLogprobs(delta.logprobs);
    }
    return first;
  }

  /** The head the first delta fixed (the fallback id and `nowMs` before any came). */
  head(nowMs = Date.now()): StreamHead {
    return this.first ?? { id: this.fallbackId, created: Math.floor(nowMs / 1000) };
  }

  /** The last usage the stream gave so far (providers repeat it cumulatively), if any. */
  usageSoFar(): Usage | undefined {
    return this.usage;
  }

  answer(nowMs: number): ProviderAnswer {
    const answer: ProviderAnswer = {
      id: this.first?.id ?? this.fallbackId,
      created: this.first?.created ?? Math.floor(nowMs / 1000),
      text: this.parts.join(''),
      finishReason: this.finishReason,
      usage: this.usage ?? { ...EMPTY_USAGE },
    };
    if (this.toolCalls.size > 0) {
      answer.toolCalls = [...this.toolCalls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
    }
    if (this.reasoning.length > 0) {
      answer.reasoning = this.reasoning.join('');
    }
    if (this.thinking.length > 0) {
      answer.thinkingBlocks = this.thinking;
    }
    if (this.refusal.length > 0) {
      answer.refusal = this.refusal.join('');
    }
    if (this.systemFingerprint !== undefined) {
      answer.systemFingerprint = this.systemFingerprint;
    }
    if (this.serviceTier !== undefined) {
      answer.serviceTier = this.serviceTier;
    }
    if (this.citations !== undefined) {
      answer.citations = this.citations;
    }
    if (this.searchResults !== undefined) {
      answer.searchResults = this.searchResults;
    }
    if (this.annotations !== undefined) {
      answer.annotations = this.annotations;
    }
    if (this.stopSequence !== undefined) {
      answer.stopSequence = this.stopSequence;
    }
    if (this.anthropicStopReason !== undefined) {
      answer.anthropicStopReason = this.anthropicStopReason;
    }
    if (this.logprobs !== undefined) {
      // The whole answer's, as a non-streamed call returns them.
      answer.logprobs =
        this.logprobs.refusal.length > 0 ? this.logprobs : { content: this.logprobs.content, refusal: null };
    }
    return answer;
  }

  private addLogprobs(piece: JsonValue): void {
    if (typeof piece !== 'object' || piece === null || Array.isArray(piece)) {
      return;
    }
    this.logprobs ??= { content: [], refusal: [] };
    for (const key of ['content', 'refusal'] as const) {
      const entries = piece[key];
      if (Array.isArray(entries)) {
        this.logprobs[key].push(...entries);
      }
    }
  }
}

import {
  anthropicErrorBody,
  type ErrorBody,
  type GenerationResult,
  type ToolCall,
  type ToolCallDelta,
} from '@aigw/core';
import type { StreamEncoder, StreamEncoderFactory, StreamHead } from '../generation/stream-relay';
import { anthropicUsage, messageIdOf, stopReasonOf } from './messages-response';

function event(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

type OpenBlock = { kind: 'text' | 'thinking'; index: number } | { kind: 'tool'; index: number; call: number };

/**
 * Anthropic's streaming events: message_start and a ping, then content blocks (thinking, text, tool_use) each opened
 * with content_block_start, filled with thinking_delta / text_delta / input_json_delta and closed with
 * content_block_stop, then message_delta (stop reason, usage) and message_stop. One block is open at a time, as
 * Anthropic sends them; a piece of another kind closes the open one.
 */
export class AnthropicStreamEncoder implements StreamEncoder {
  private open: OpenBlock | null = null;
  private nextIndex = 0;
  /** Block index of each tool call (by its index in the answer's tool calls). */
  private readonly toolBlocks = new Map<number, number>();
  private callsStarted = 0;

  constructor(private readonly head: StreamHead) {}

  start(): string {
    const message = {
      id: messageIdOf(this.head.id),
      type: 'message',
      role: 'assistant',
      model: `${this.head.provider}/${this.head.model}`,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      // Input as known at the start (the provider's, or the worker's estimate); all counts again in message_delta.
      usage: { input_tokens: this.head.promptTokens ?? 0, output_tokens: 0 },
    };
    return event('message_start', { type: 'message_start', message }) + event('ping', { type: 'ping' });
  }

  reasoning(text: string): string {
    return this.ensure('thinking') + this.delta({ type: 'thinking_delta', thinking: text });
  }

  /** As Anthropic streams it: a signature_delta last in the thinking block, which then closes. */
  thinkingSignature(signature: string): string {
    return this.ensure('thinking') + this.delta({ type: 'signature_delta', signature }) + this.close();
  }

  /** A redacted block comes whole in its content_block_start. */
  redactedThinking(data: string): string {
    const index = this.nextIndex++;
    return (
      this.close() +
      event('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'redacted_thinking', data },
      }) +
      event('content_block_stop', { type: 'content_block_stop', index })
    );
  }

  content(text: string): string {
    return this.ensure('text') + this.delta({ type: 'text_delta', text });
  }

  /** Anthropic has no refusal field: a refusal is the text of the answer. */
  refusal(text: string): string {
    return this.content(text);
  }

  toolCalls(pieces: readonly ToolCallDelta[]): string {
    let out = '';
    for (const p of pieces) {
      let index = this.toolBlocks.get(p.index);
      if (index === undefined) {
        if (p.id === undefined) {
          // A fragment of a call whose first piece never came: nothing to attach it to.
          continue;
        }
        out += this.close();
        index = this.nextIndex++;
        this.toolBlocks.set(p.index, index);
        this.callsStarted++;
        this.open = { kind: 'tool', index, call: p.index };
        out += event('content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: p.id, name: p.name ?? '', input: {} },
        });
      }
      if (p.arguments !== undefined && p.arguments !== '') {
        // A fragment of an earlier call (interleaved parallel calls) goes to that call's block, by index.
        out += event('content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: p.arguments },
        });
      }
    }
    return out;
  }

  wholeToolCalls(calls: readonly ToolCall[]): string {
    const offset = this.callsStarted;
    return this.toolCalls(
      calls.map((c, i) => ({ index: offset + i, id: c.id, name: c.function.name, arguments: c.function.arguments })),
    );
  }

  end(result: GenerationResult, finishReason: string): string {
    const stopReason = stopReasonOf(finishReason, result);
    return (
      this.close() +
      event('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: result.stopSequence ?? null },
        usage: anthropicUsage(result.usage),
      }) +
      event('message_stop', { type: 'message_stop' })
    );
  }

  error(error: ErrorBody): string {
    return event('error', anthropicErrorBody(error));
  }

  private ensure(kind: 'text' | 'thinking'): string {
    if (this.open?.kind === kind) {
      return '';
    }
    const closed = this.close();
    const index = this.nextIndex++;
    this.open = { kind, index };
    const block = kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' };
    return closed + event('content_block_start', { type: 'content_block_start', index, content_block: block });
  }

  private delta(delta: object): string {
    return event('content_block_delta', { type: 'content_block_delta', index: this.open?.index ?? 0, delta });
  }

  private close(): string {
    const open = this.open;
    if (open === null) {
      return '';
    }
    this.open = null;
    return event('content_block_stop', { type: 'content_block_stop', index: open.index });
  }
}

export const anthropicStream: StreamEncoderFactory = (head) => new AnthropicStreamEncoder(head);

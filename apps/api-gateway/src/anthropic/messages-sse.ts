import {
  anthropicErrorBody,
  type ErrorBody,
  type GenerationResult,
  type ToolCall,
  type ToolCallDelta,
} from '@aigw/core';
import type { StreamEncoder, StreamEncoderFactory, StreamHead } from '../generation/stream-relay';
import { JsonEnd } from './json-end';
import { anthropicUsage, messageIdOf, stopReasonOf } from './messages-response';

function event(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

type OpenBlock =
  { kind: 'text' | 'thinking'; index: number } | { kind: 'tool'; index: number; call: number; input: JsonEnd };

/** A tool call whose block waits for the open one to close. */
interface WaitingCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * Anthropic's streaming events: message_start and a ping, then content blocks (thinking, text, tool_use) each opened
 * with content_block_start, filled with thinking_delta / text_delta / input_json_delta and closed with
 * content_block_stop, then message_delta (stop reason, usage) and message_stop. One block is open at a time, as
 * Anthropic sends them (its clients may assume it); a piece of another kind closes the open one.
 *
 * Parallel tool calls: OpenAI streams them one after another, but a server may interleave them (fragments of call
 * 0, then 1, then 0 again), which Anthropic's format cannot carry. A call that starts while another's block is open
 * waits, its fragments gathered, until the open call's input is a whole JSON object (`JsonEnd`: nothing valid can
 * follow it): that block closes and the waiting call's opens, with what it gathered in one delta, and from then on
 * its fragments stream as they come. A call whose input never becomes whole keeps its block until the answer moves
 * on (text, the end), when the calls still waiting follow, each whole.
 */
export class AnthropicStreamEncoder implements StreamEncoder {
  private open: OpenBlock | null = null;
  private nextIndex = 0;
  /** Every tool call seen (by its index in the answer's tool calls), streamed, waiting or done. */
  private readonly calls = new Set<number>();
  /** Calls that came while another call's block was open, in order of their first piece. */
  private readonly waiting = new Map<number, WaitingCall>();

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
      // Input as known at the start (the provider's, or the worker's estimate), cache reads and writes apart as
      // Anthropic counts them; all counts again in message_delta.
      usage: anthropicUsage({
        promptTokens: this.head.promptTokens ?? 0,
        completionTokens: 0,
        totalTokens: this.head.promptTokens ?? 0,
        cachedPromptTokens: this.head.cachedPromptTokens ?? 0,
        cacheWritePromptTokens: this.head.cacheWritePromptTokens ?? 0,
      }),
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
    const closed = this.close();
    const index = this.nextIndex++;
    return (
      closed +
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

  /** Anthropic's format has no logprobs (a /v1/messages request cannot ask for them). */
  logprobs(): string {
    return '';
  }

  toolCalls(pieces: readonly ToolCallDelta[]): string {
    let out = '';
    for (const p of pieces) {
      out += this.toolPiece(p);
    }
    return out;
  }

  private toolPiece(p: ToolCallDelta): string {
    const open = this.open;
    if (open?.kind === 'tool' && open.call === p.index) {
      if (p.arguments === undefined || p.arguments === '') {
        return '';
      }
      open.input.add(p.arguments);
      return this.argumentsDelta(p.arguments) + this.nextWaiting();
    }
    const waiting = this.waiting.get(p.index);
    if (waiting !== undefined) {
      waiting.name ||= p.name ?? '';
      waiting.arguments += p.arguments ?? '';
      return this.nextWaiting();
    }
    if (p.id === undefined || this.calls.has(p.index)) {
      // A fragment of a call whose first piece never came, or whose block closed: nothing to attach it to.
      return '';
    }
    this.calls.add(p.index);
    if (open?.kind === 'tool') {
      this.waiting.set(p.index, { id: p.id, name: p.name ?? '', arguments: p.arguments ?? '' });
      return this.nextWaiting();
    }
    return this.close() + this.startTool(p.index, p.id, p.name ?? '', p.arguments ?? '');
  }

  /**
   * Once the open call's input is whole, the first waiting call takes its block's place, with what it gathered, and
   * streams from then on (and so on, while the newly opened one is whole too). Asked only when a call waits: a single
   * call's fragments are never scanned.
   */
  private nextWaiting(): string {
    let out = '';
    for (const [call, w] of this.waiting) {
      const open = this.open;
      if (open?.kind !== 'tool' || !open.input.closed()) {
        break;
      }
      this.waiting.delete(call);
      out += this.stop(open) + this.startTool(call, w.id, w.name, w.arguments);
    }
    return out;
  }

  /** Calls that never came in fragments: each a whole block. */
  wholeToolCalls(calls: readonly ToolCall[]): string {
    let out = this.close();
    for (const c of calls) {
      const call = this.calls.size;
      this.calls.add(call);
      out += this.startTool(call, c.id, c.function.name, c.function.arguments) + this.close();
    }
    return out;
  }

  /**
   * Sources of an OpenAI-compatible provider (Perplexity's citations and search results, OpenAI's annotations): none.
   * Anthropic's format has citations only as `citations` on text blocks, tied to documents or web search results of
   * its own (with cited text and block indices) that these lists do not give: nothing is made up.
   */
  sources(): string {
    return '';
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

  /** Anthropic's own keep-alive, which its SDKs expect and skip: it may come between any two events. */
  keepAlive(): string {
    return event('ping', { type: 'ping' });
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

  /** Opens a tool_use block, with the call's input so far (if any) as its first delta. */
  private startTool(call: number, id: string, name: string, args: string): string {
    const index = this.nextIndex++;
    const input = new JsonEnd();
    input.add(args);
    this.open = { kind: 'tool', index, call, input };
    return (
      event('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id, name, input: {} },
      }) + this.argumentsDelta(args)
    );
  }

  private argumentsDelta(fragment: string | undefined): string {
    return fragment === undefined || fragment === ''
      ? ''
      : this.delta({ type: 'input_json_delta', partial_json: fragment });
  }

  private delta(delta: object): string {
    return event('content_block_delta', { type: 'content_block_delta', index: this.open?.index ?? 0, delta });
  }

  /** Closes the open block; the calls still waiting follow, each whole: the answer has moved on from them. */
  private close(): string {
    const open = this.open;
    if (open === null) {
      return '';
    }
    let out = this.stop(open);
    if (this.waiting.size > 0) {
      const waiting = [...this.waiting.entries()];
      this.waiting.clear();
      for (const [call, w] of waiting) {
        out += this.startTool(call, w.id, w.name, w.arguments) + this.close();
      }
    }
    return out;
  }

  private stop(block: OpenBlock): string {
    this.open = null;
    return event('content_block_stop', { type: 'content_block_stop', index: block.index });
  }
}

export const anthropicStream: StreamEncoderFactory = (head) => new AnthropicStreamEncoder(head);

import type { ErrorBody, GenerationResult, JsonValue, ThinkingBlock, ToolCall, ToolCallDelta, Usage } from '@aigw/core';
import type { AnswerSources, StreamEncoder, StreamEncoderFactory } from '../generation/stream-relay';
import { chatCompletionIdOf, openAiUsage } from './openai-mapping';

export const SSE_DONE = 'data: [DONE]\n\n';

/** A comment line: no event, only bytes that keep a quiet stream's connection alive. */
export const SSE_KEEP_ALIVE = ': keep-alive\n\n';

/**
 * Serialises `chat.completion.chunk` events. The part shared by every chunk of a stream (id,
 * created, model) is serialised once; each content chunk then costs one JSON.stringify of its text.
 */
export class ChunkFormatter {
  /** A chunk up to its top-level fields of its own (`citations`, `search_results`): then `choices`. */
  private readonly prefix: string;
  private readonly head: string;
  /**
   * What closes a chunk with choices: with `stream_options.include_usage` OpenAI gives every chunk before the usage
   * chunk `"usage": null` (clients that read `usage` on each chunk find it), otherwise no `usage` at all.
   */
  private readonly tail: string;

  /** `serviceTier`: the provider's `service_tier`, which OpenAI's chunks each carry, as `systemFingerprint`. */
  constructor(
    id: string,
    created: number,
    model: string,
    systemFingerprint?: string,
    includeUsage = false,
    serviceTier?: string,
  ) {
    this.tail = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
    const fingerprint =
      systemFingerprint === undefined ? '' : `"system_fingerprint":${JSON.stringify(systemFingerprint)},`;
    const tier = serviceTier === undefined ? '' : `"service_tier":${JSON.stringify(serviceTier)},`;
    this.prefix =
      `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk",` +
      `"created":${created},"model":${JSON.stringify(model)},${tier}${fingerprint}`;
    this.head = `${this.prefix}"choices":[`;
  }

  /** The first event: OpenAI announces the role before any content. */
  role(): string {
    return `${this.head}{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}${this.tail}`;
  }

  content(text: string, logprobs?: JsonValue): string {
    const lp = logprobs === undefined ? 'null' : JSON.stringify(logprobs);
    return `${this.head}{"index":0,"delta":{"content":${JSON.stringify(text)}},"logprobs":${lp},"finish_reason":null}${this.tail}`;
  }

  /**
   * Tool-call fragments in OpenAI's shape: the first fragment of a call carries its id, type and name (the SDKs
   * refuse a call without them), later ones argument text.
   */
  toolCalls(pieces: readonly ToolCallDelta[]): string {
    const wire = pieces.map((p) => {
      const fn: { name?: string; arguments?: string } = {};
      if (p.name !== undefined) {
        fn.name = p.name;
      }
      fn.arguments = p.arguments ?? '';
      return p.id === undefined
        ? { index: p.index, function: fn }
        : { index: p.index, id: p.id, type: 'function', function: fn };
    });
    return this.delta(`{"tool_calls":${JSON.stringify(wire)}}`);
  }

  /** Whole tool calls, for a stream whose fragments were lost: one fragment per call. */
  wholeToolCalls(calls: readonly ToolCall[]): string {
    return this.toolCalls(
      calls.map((c, index) => ({ index, id: c.id, name: c.function.name, arguments: c.function.arguments })),
    );
  }

  /**
   * The answer's sources where the provider put them: Perplexity's `citations` and `search_results` at the top of the
   * chunk, OpenAI's `annotations` on its delta (else the delta adds no text).
   */
  sources(s: AnswerSources): string {
    let top = '';
    if (s.citations !== undefined) {
      top += `"citations":${JSON.stringify(s.citations)},`;
    }
    if (s.searchResults !== undefined) {
      top += `"search_results":${JSON.stringify(s.searchResults)},`;
    }
    const delta = s.annotations === undefined ? '{"content":""}' : `{"annotations":${JSON.stringify(s.annotations)}}`;
    return `${this.prefix}${top}"choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":null}${this.tail}`;
  }

  /** Hidden reasoning under DeepSeek's field name, which OpenAI-compatible clients read. */
  reasoning(text: string): string {
    return this.delta(`{"reasoning_content":${JSON.stringify(text)}}`);
  }

  refusal(text: string, logprobs?: JsonValue): string {
    return this.delta(`{"refusal":${JSON.stringify(text)}}`, logprobs);
  }

  /** A signed thinking block, whole, under LiteLLM's `thinking_blocks`: what a client sends back in history. */
  thinkingBlock(block: ThinkingBlock): string {
    return this.delta(`{"thinking_blocks":[${JSON.stringify(block)}]}`);
  }

  private delta(json: string, logprobs?: JsonValue): string {
    const lp = logprobs === undefined ? 'null' : JSON.stringify(logprobs);
    return `${this.head}{"index":0,"delta":${json},"logprobs":${lp},"finish_reason":null}${this.tail}`;
  }

  finish(reason: string): string {
    return `${this.head}{"index":0,"delta":{},"logprobs":null,"finish_reason":${JSON.stringify(reason)}}${this.tail}`;
  }

  /** Sent after the finish chunk when the client asked for `stream_options.include_usage`. */
  usage(u: Usage): string {
    return `${this.head}],"usage":${JSON.stringify(openAiUsage(u))}}\n\n`;
  }
}

/** A failure after the stream started: the OpenAI SDKs raise an APIError on an event with `error`. */
export function sseError(error: ErrorBody): string {
  return `data: ${JSON.stringify({ error })}\n\n`;
}

/**
 * `chat.completion.chunk` events ending with `data: [DONE]`; the usage chunk only when the client asked for it.
 * Reasoning streams as `reasoning_content`; when the provider signs it (Anthropic), each finished block follows whole
 * as a `thinking_blocks` delta, so a client has it to send back without stitching pieces.
 */
export class OpenAiStreamEncoder implements StreamEncoder {
  /**
   * The reasoning since the last signed block ended: the text of the `thinking_blocks` delta a signature (Anthropic)
   * ends it with. Kept for every reasoning stream, since none says in advance whether a signature will come.
   */
  private blockText = '';

  constructor(
    private readonly fmt: ChunkFormatter,
    private readonly includeUsage: boolean,
  ) {}

  start(): string {
    return this.fmt.role();
  }
  reasoning(text: string): string {
    this.blockText += text;
    return this.fmt.reasoning(text);
  }
  thinkingSignature(signature: string): string {
    const thinking = this.blockText;
    this.blockText = '';
    return this.fmt.thinkingBlock({ type: 'thinking', thinking, signature });
  }
  redactedThinking(data: string): string {
    return this.fmt.thinkingBlock({ type: 'redacted_thinking', data });
  }
  content(text: string, logprobs?: JsonValue): string {
    return this.fmt.content(text, logprobs);
  }
  refusal(text: string, logprobs?: JsonValue): string {
    return this.fmt.refusal(text, logprobs);
  }
  /** As a chunk with empty content: a client that joins `delta.content` gets nothing added. */
  logprobs(logprobs: JsonValue): string {
    return this.fmt.content('', logprobs);
  }
  toolCalls(pieces: readonly ToolCallDelta[]): string {
    return this.fmt.toolCalls(pieces);
  }
  wholeToolCalls(calls: readonly ToolCall[]): string {
    return this.fmt.wholeToolCalls(calls);
  }
  sources(sources: AnswerSources): string {
    return this.fmt.sources(sources);
  }
  end(result: GenerationResult, finishReason: string): string {
    const usage = this.includeUsage ? this.fmt.usage(result.usage) : '';
    return this.fmt.finish(finishReason) + usage + SSE_DONE;
  }
  error(error: ErrorBody): string {
    return sseError(error);
  }
  /**
   * An SSE comment, as OpenRouter keeps its streams alive: the OpenAI SDKs (and every SSE parser) skip it, where an
   * empty chunk would reach `for await (const chunk of stream)` loops as a chunk without choices.
   */
  keepAlive(): string {
    return SSE_KEEP_ALIVE;
  }
}

/**
 * The encoder factory for `POST /v1/chat/completions`: `model` is the deployment that answered; every chunk carries
 * the provider's `system_fingerprint` when it sent one, as OpenAI's chunks do, and a `chatcmpl-` id whatever family
 * answered (`chatCompletionIdOf`, as the whole answer's).
 */
export function openAiStream(includeUsage: boolean): StreamEncoderFactory {
  return (head) =>
    new OpenAiStreamEncoder(
      new ChunkFormatter(
        chatCompletionIdOf(head.id),
        head.created,
        `${head.provider}/${head.model}`,
        head.systemFingerprint,
        includeUsage,
        head.serviceTier,
      ),
      includeUsage,
    );
}

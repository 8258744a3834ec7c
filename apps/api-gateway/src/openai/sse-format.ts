import type { ErrorBody, Usage } from '@aigw/core';
import { openAiUsage } from './openai-mapping';

export const SSE_DONE = 'data: [DONE]\n\n';

/**
 * Serialises `chat.completion.chunk` events. The part shared by every chunk of a stream (id,
 * created, model) is serialised once; each content chunk then costs one JSON.stringify of its text.
 */
export class ChunkFormatter {
  private readonly head: string;

  constructor(id: string, created: number, model: string) {
    this.head =
      `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk",` +
      `"created":${created},"model":${JSON.stringify(model)},"choices":[`;
  }

  /** The first event: OpenAI announces the role before any content. */
  role(): string {
    return `${this.head}{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`;
  }

  content(text: string): string {
    return `${this.head}{"index":0,"delta":{"content":${JSON.stringify(text)}},"logprobs":null,"finish_reason":null}]}\n\n`;
  }

  finish(reason: string): string {
    return `${this.head}{"index":0,"delta":{},"logprobs":null,"finish_reason":${JSON.stringify(reason)}}]}\n\n`;
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

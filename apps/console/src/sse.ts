/**
 * Server-sent events from a fetch body, as the gateway writes them (`data: …\n\n`). Spec rules that matter here:
 * CRLF, CR or LF end a line; several `data:` lines join with "\n"; a line starting with ":" is a comment; one
 * leading space after the colon is dropped; an event ends at a blank line, and a trailing one without it is lost.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];

  /** Feeds decoded text; returns the data of each event completed by it. */
  push(text: string): string[] {
    this.buffer += text;
    const events: string[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      // A lone CR at the very end may be the first half of CRLF: wait for more.
      if (m === null || (m[0] === '\r' && m.index === this.buffer.length - 1)) {
        break;
      }
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      if (line === '') {
        if (this.data.length > 0) {
          events.push(this.data.join('\n'));
          this.data = [];
        }
        continue;
      }
      if (line.startsWith(':')) {
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) {
        value = value.slice(1);
      }
      if (field === 'data') {
        this.data.push(value);
      }
    }
    return events;
  }
}

/** Each event's data from a streamed response body, in order. */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    yield* parser.push(decoder.decode() + '\n\n');
  } finally {
    reader.releaseLock();
  }
}

export interface ChatChunkSummary {
  text: string;
  usage?: { promptTokens: number; completionTokens: number; totalTokens: number };
  error?: string;
  done: boolean;
}

interface WireChunk {
  choices?: { delta?: { content?: string | null } }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  error?: { message?: string };
}

/** Folds one `chat.completion.chunk` event (or `[DONE]`, or an error event) into the answer so far. */
export function foldChatChunk(acc: ChatChunkSummary, data: string): ChatChunkSummary {
  if (data === '[DONE]') {
    return { ...acc, done: true };
  }
  const chunk = JSON.parse(data) as WireChunk;
  if (chunk.error !== undefined) {
    return { ...acc, error: chunk.error.message ?? 'The stream failed.' };
  }
  const text = acc.text + (chunk.choices ?? []).map((c) => c.delta?.content ?? '').join('');
  const u = chunk.usage;
  const usage =
    u === undefined || u === null
      ? acc.usage
      : { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, totalTokens: u.total_tokens };
  return { ...acc, text, usage };
}

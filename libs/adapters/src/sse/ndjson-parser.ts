import type { SseEvent } from './sse-parser';

/**
 * Incremental parser for newline-delimited JSON (Ollama's streaming format): each complete non-blank line becomes one
 * event whose `data` is the line, so stream decoders read both framings the same way. Chunks may split anywhere,
 * multi-byte characters included.
 */
export class NdjsonParser {
  private readonly decoder = new TextDecoder('utf-8');
  private partial = '';

  feed(chunk: Uint8Array | string, out: SseEvent[]): void {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    this.scan(this.partial + text, out);
  }

  /** End of input: a last line without its line break is still a whole JSON value when it parses (checked later). */
  end(out: SseEvent[]): void {
    const rest = this.partial + this.decoder.decode();
    this.partial = '';
    this.push(rest, out);
  }

  private scan(text: string, out: SseEvent[]): void {
    let start = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', start)) {
      this.push(text.slice(start, i), out);
      start = i + 1;
    }
    this.partial = text.slice(start);
  }

  private push(line: string, out: SseEvent[]): void {
    const data = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (data.trim().length > 0) {
      out.push({ event: 'message', data });
    }
  }
}

import type { SseEvent } from './sse-parser';

/**
 * Incremental parser for newline-delimited JSON (Ollama's streaming format): each complete non-blank line becomes one
 * event whose `data` is the line, so stream decoders read both framings the same way. Chunks may split anywhere,
 * multi-byte characters included.
 */
export class NdjsonParser {
  private readonly decoder = new TextDecoder('utf-8');
  private partial = '';

  /** Characters held for the line not yet complete. */
  get pendingLength(): number {
    return this.partial.length;
  }

  feed(chunk: Uint8Array | string, out: SseEvent[]): void {
    this.scan(typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true }), out);
  }

  /** End of input: a last line without its line break is still a whole JSON value when it parses (checked later). */
  end(out: SseEvent[]): void {
    const rest = this.partial + this.decoder.decode();
    this.partial = '';
    this.push(rest, out);
  }

  /** Searches only the new text for line breaks: a long line arriving in many chunks is not scanned again each time. */
  private scan(text: string, out: SseEvent[]): void {
    let start = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', start)) {
      const piece = text.slice(start, i);
      if (this.partial.length > 0) {
        this.push(this.partial + piece, out);
        this.partial = '';
      } else {
        this.push(piece, out);
      }
      start = i + 1;
    }
    if (start < text.length) {
      this.partial += text.slice(start);
    }
  }

  private push(line: string, out: SseEvent[]): void {
    const data = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (data.trim().length > 0) {
      out.push({ event: 'message', data });
    }
  }
}

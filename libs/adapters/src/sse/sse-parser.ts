/** One dispatched server-sent event. `event` is `message` when the stream named none. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

const LF = 10;

/**
 * Incremental parser for the `text/event-stream` format (WHATWG HTML, "Parsing an event stream"). Feed it
 * chunks as they arrive, split anywhere (inside a line, between `\r` and `\n`, inside a multi-byte UTF-8
 * character); completed events are appended to the caller's array so one array can be reused per stream.
 */
export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  /** Unterminated tail of the input seen so far. */
  private partial = '';
  /** The last chunk ended on `\r`: a `\n` opening the next one belongs to the same line break. */
  private skipLf = false;
  private started = false;
  private eventType = '';
  private data = '';
  private hasData = false;
  private lastId: string | undefined;

  /** Characters held for the event not yet complete (its unterminated line and its data so far). */
  get pendingLength(): number {
    return this.partial.length + this.data.length;
  }

  feed(chunk: Uint8Array | string, out: SseEvent[]): void {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (text.length === 0) {
      return;
    }
    if (!this.started) {
      this.started = true;
      // The decoder drops a byte-order mark from bytes itself; string input has to be handled here.
      if (text.charCodeAt(0) === 0xfeff) {
        text = text.slice(1);
      }
    }
    this.scan(text, out);
  }

  /**
   * End of input. A last line without its line break is incomplete (the stream was cut) and is dropped; an event
   * whose lines were all complete but which lacked the final blank line is still dispatched, since some servers
   * close right after the last `data:` line.
   */
  end(out: SseEvent[]): void {
    const rest = this.decoder.decode();
    if (rest.length > 0) {
      this.scan(rest, out);
    }
    this.partial = '';
    this.dispatch(out);
  }

  private scan(text: string, out: SseEvent[]): void {
    const len = text.length;
    let pos = 0;
    if (this.skipLf) {
      this.skipLf = false;
      if (text.charCodeAt(0) === LF) {
        pos = 1;
      }
    }
    // indexOf is much faster than a char loop; \r-free streams (the common case) search for \r only once.
    let nextLf = text.indexOf('\n', pos);
    let nextCr = text.indexOf('\r', pos);
    while (nextLf !== -1 || nextCr !== -1) {
      const isCr = nextCr !== -1 && (nextLf === -1 || nextCr < nextLf);
      const lineEnd = isCr ? nextCr : nextLf;
      let line = text.slice(pos, lineEnd);
      if (this.partial.length > 0) {
        line = this.partial + line;
        this.partial = '';
      }
      this.line(line, out);
      pos = lineEnd + 1;
      if (isCr) {
        if (pos < len) {
          if (text.charCodeAt(pos) === LF) {
            pos++;
          }
        } else {
          this.skipLf = true;
        }
      }
      if (nextLf !== -1 && nextLf < pos) {
        nextLf = text.indexOf('\n', pos);
      }
      if (nextCr !== -1 && nextCr < pos) {
        nextCr = text.indexOf('\r', pos);
      }
    }
    if (pos < len) {
      this.partial = this.partial.length > 0 ? this.partial + text.slice(pos) : text.slice(pos);
    }
  }

  private line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      this.dispatch(out);
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      return; // comment, e.g. a keep-alive `: ping`
    }
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      const start = line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
      value = line.slice(start);
    }
    switch (field) {
      case 'data':
        this.addData(value);
        break;
      case 'error':
        // Not a field of the format: llama.cpp's server writes a streamed error so (`error: {...}`), then `data:
        // [DONE]`. Ignored as the standard says, the failed stream would read as a whole answer; it is an `error`
        // event carrying that value instead.
        this.eventType = 'error';
        this.addData(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastId = value;
        }
        break;
      default:
        // `retry` and unknown fields do not matter to a client that never reconnects.
        break;
    }
  }

  private addData(value: string): void {
    if (this.hasData) {
      this.data += '\n' + value;
    } else {
      this.data = value;
      this.hasData = true;
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.hasData) {
      const event: SseEvent = { event: this.eventType.length > 0 ? this.eventType : 'message', data: this.data };
      if (this.lastId !== undefined) {
        event.id = this.lastId;
      }
      out.push(event);
    }
    this.data = '';
    this.hasData = false;
    this.eventType = '';
  }
}

/** Events of a whole byte or string stream, one at a time. */
export async function* parseSse(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseEvent, void, undefined> {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  for await (const chunk of source) {
    parser.feed(chunk, events);
    for (let i = 0; i < events.length; i++) {
      yield events[i];
    }
    events.length = 0;
  }
  parser.end(events);
  yield* events;
}

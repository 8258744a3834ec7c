export interface SseEvent {
  /** The `event:` field, or null when the event had none (OpenAI streams never set it). */
  event: string | null;
  /** The `data:` lines joined with '\n'. */
  data: string;
}

/**
 * Parses a complete text/event-stream body into events, per the WHATWG rules that matter for
 * LLM streams: CRLF or LF line ends, several `data:` lines joined, `:` comments ignored, one
 * optional space after the colon stripped. A trailing event without its blank line is kept, so
 * a stream cut mid-event is visible to the test.
 */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  let event: string | null = null;
  let data: string[] = [];
  let seen = false;
  const dispatch = (): void => {
    if (seen) {
      events.push({ event, data: data.join('\n') });
    }
    event = null;
    data = [];
    seen = false;
  };
  for (const line of text.split(/\r?\n/)) {
    if (line === '') {
      dispatch();
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
      data.push(value);
      seen = true;
    } else if (field === 'event') {
      event = value;
      seen = true;
    }
  }
  dispatch();
  return events;
}

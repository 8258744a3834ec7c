const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * Follows a tool call's argument text as it streams in, to tell when it is a whole JSON object (or array): then no
 * valid continuation can add more than whitespace, so the call is over even though the stream never says so. Text is
 * scanned only when asked, from where the last scan stopped: each character once, however often it is asked.
 */
export class JsonEnd {
  private text = '';
  private scanned = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** `never`: text that cannot become one whole object (a bare value, or more after the end): never called closed. */
  private state: 'open' | 'closed' | 'never' = 'open';

  add(fragment: string): void {
    this.text += fragment;
  }

  /** Whether the text so far is one whole JSON object or array (followed by whitespace at most). */
  closed(): boolean {
    const t = this.text;
    for (let i = this.scanned; i < t.length && this.state !== 'never'; i++) {
      this.step(t.charCodeAt(i));
    }
    this.scanned = t.length;
    return this.state === 'closed';
  }

  private step(c: number): void {
    if (this.state === 'closed') {
      if (!isSpace(c)) {
        this.state = 'never';
      }
    } else if (this.inString) {
      if (this.escaped) {
        this.escaped = false;
      } else if (c === BACKSLASH) {
        this.escaped = true;
      } else if (c === QUOTE) {
        this.inString = false;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      this.depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      this.depth--;
      if (this.depth <= 0) {
        this.state = this.depth === 0 ? 'closed' : 'never';
      }
    } else if (this.depth === 0) {
      if (!isSpace(c)) {
        this.state = 'never';
      }
    } else if (c === QUOTE) {
      this.inString = true;
    }
  }
}

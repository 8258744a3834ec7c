/**
 * The text the simulator answers with. Canned answers are built once per length and their
 * JSON-escaped pieces cached, so serving a request is string concatenation, not serialisation.
 */
export class Answer {
  readonly text: string;
  /** JSON string literal of `text`, quotes included. */
  readonly textJson: string;
  /** JSON string literal of each token, quotes included. */
  readonly tokenJson: readonly string[];

  constructor(readonly tokens: readonly string[]) {
    this.text = tokens.join('');
    this.textJson = JSON.stringify(this.text);
    this.tokenJson = tokens.map((t) => JSON.stringify(t));
  }

  get length(): number {
    return this.tokens.length;
  }

  /** The first `n` tokens (or this answer when it is not longer). */
  truncate(n: number): Answer {
    return n >= this.tokens.length ? this : new Answer(this.tokens.slice(0, n));
  }
}

const WORDS = (
  'This is the provider simulator speaking. It is not a real model and every answer is canned ' +
  'so that gateway tests and benchmarks are deterministic and cheap to serve.'
).split(' ');

// Enough distinct truncations for tests that vary max_tokens without growing without bound.
const MAX_CACHED_TRUNCATIONS = 64;

export class AnswerBook {
  private full: Answer;
  private readonly truncated = new Map<number, Answer>();

  constructor(completionTokens: number) {
    this.full = AnswerBook.build(completionTokens);
  }

  resize(completionTokens: number): void {
    if (completionTokens !== this.full.length) {
      this.full = AnswerBook.build(completionTokens);
      this.truncated.clear();
    }
  }

  /** The canned answer, capped at `maxTokens` when given. */
  get(maxTokens: number | null): Answer {
    if (maxTokens === null || maxTokens >= this.full.length) {
      return this.full;
    }
    let answer = this.truncated.get(maxTokens);
    if (answer === undefined) {
      if (this.truncated.size >= MAX_CACHED_TRUNCATIONS) {
        this.truncated.clear();
      }
      answer = this.full.truncate(maxTokens);
      this.truncated.set(maxTokens, answer);
    }
    return answer;
  }

  private static build(n: number): Answer {
    const tokens: string[] = [];
    for (let i = 0; i < n; i++) {
      tokens.push(i === 0 ? WORDS[0] : ` ${WORDS[i % WORDS.length]}`);
    }
    return new Answer(tokens);
  }
}

/**
 * Splits text into word tokens (each with its leading whitespace) so that joining them gives
 * the text back exactly: an echoed answer streams as words and reassembles byte for byte.
 */
export function echoAnswer(text: string): Answer {
  const tokens: string[] = text.match(/\s*\S+/g) ?? [];
  const covered = tokens.reduce((n, t) => n + t.length, 0);
  if (covered < text.length) {
    const rest = text.slice(covered);
    if (tokens.length > 0) {
      tokens[tokens.length - 1] += rest;
    } else {
      tokens.push(rest);
    }
  }
  return new Answer(tokens);
}

/** Deterministic prompt-token estimate: about four characters per token, at least one. */
export function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

/** Text of a message `content`: a string, or a list of parts of which the `text` ones count. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') {
    return content;
  }
  if (!Array.isArray(content)) {
    return '';
  }
  let text = '';
  for (const part of content) {
    if (typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string') {
      text += (part as { text: string }).text;
    }
  }
  return text;
}

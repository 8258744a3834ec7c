import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import type { ChatMessage, ContentPart } from '../domain';

/*
 * Prompt size estimation with a real BPE tokenizer (cl100k_base). Providers use different
 * tokenizers (Claude, Llama, Qwen...), so any count here is an estimate within ~10-20% for
 * non-OpenAI models; it drives cost ranking and the context-window filter, not billing
 * (billing uses the usage the provider reports).
 */

/** OpenAI's chat accounting: each message is framed as `<|start|>{role}\n{content}<|end|>\n`. */
const TOKENS_PER_MESSAGE = 3;
/** Every role name ("system", "user", "assistant", "tool") is a single cl100k token. */
const TOKENS_PER_ROLE = 1;
const TOKENS_PER_NAME = 1;
/** Every reply is primed with `<|start|>assistant<|message|>`. */
const REPLY_PRIMING_TOKENS = 3;
/** Image size is unknown here: a 1024×1024 image at high detail (85 + 4 tiles × 170), OpenAI's usual case. */
export const IMAGE_TOKENS_HIGH_DETAIL = 765;
export const IMAGE_TOKENS_LOW_DETAIL = 85;

/**
 * Up to this many characters per request are tokenized exactly; longer prompts are sampled
 * (see `sampledCount`). Measured with js-tiktoken 1.0: ~6,000 chars/ms for English prose,
 * ~200 chars/ms for CJK text, so the cap bounds the worst case to a few tens of ms.
 */
export const EXACT_TOKENIZE_CHARS = 8192;
const SAMPLE_WINDOWS = 8;
const SAMPLE_WINDOW_CHARS = EXACT_TOKENIZE_CHARS / SAMPLE_WINDOWS;

/*
 * js-tiktoken's byte-pair merge is quadratic in the length of one pre-tokenized piece, so a
 * long run without spaces (base64, minified code, a CJK paragraph) takes hundreds of ms.
 * Such runs are counted in short slices instead; the count moves by at most a token per cut.
 */
const LONG_RUN = /[\u0080-\uffff]{9,}|[!-~]{33,}|\s{65,}/g;
const NON_ASCII_SLICE = 8;
const ASCII_SLICE = 32;
/** cl100k has single tokens for runs of up to ~80 spaces. */
const WHITESPACE_SLICE = 64;

function sliceLength(run: string): number {
  const c = run.charCodeAt(0);
  if (c > 0x7f) {
    return NON_ASCII_SLICE;
  }
  return c <= 0x20 ? WHITESPACE_SLICE : ASCII_SLICE;
}

let encoder: Tiktoken | null = null;

function getEncoder(): Tiktoken {
  if (encoder === null) {
    // Loaded on first use: the rank table is 1 MB of source and building the encoder costs
    // ~250 ms and ~70 MB, which processes that never estimate tokens should not pay.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a static import would load the table in every process importing @aigw/core
    const ranks = require('js-tiktoken/ranks/cl100k_base') as TiktokenBPE;
    encoder = new Tiktoken(ranks);
  }
  return encoder;
}

/** Builds the encoder now (call at worker boot) so the first request does not pay for it. */
export function warmUpTokenizer(): void {
  getEncoder();
}

function encodedLength(enc: Tiktoken, text: string): number {
  // Special-token strings in user text are plain text, never control tokens (and must not throw).
  return enc.encode(text, [], []).length;
}

function exactCount(enc: Tiktoken, text: string): number {
  let tokens = 0;
  let last = 0;
  LONG_RUN.lastIndex = 0;
  for (let m = LONG_RUN.exec(text); m !== null; m = LONG_RUN.exec(text)) {
    if (m.index > last) {
      tokens += encodedLength(enc, text.slice(last, m.index));
    }
    const run = m[0];
    const step = sliceLength(run);
    for (let i = 0; i < run.length; i += step) {
      tokens += encodedLength(enc, run.slice(i, i + step));
    }
    last = m.index + run.length;
  }
  if (last < text.length) {
    tokens += encodedLength(enc, text.slice(last));
  }
  return tokens;
}

/** Tokens in one piece of text (cl100k_base), exact up to the long-run slicing above. */
export function countTextTokens(text: string): number {
  if (text.length === 0) {
    return 0;
  }
  if (text.length > EXACT_TOKENIZE_CHARS) {
    return sampledCount(getEncoder(), [text], text.length);
  }
  return exactCount(getEncoder(), text);
}

/**
 * Counts evenly spaced windows across all texts (as if concatenated) and scales the
 * tokens-per-character ratio to the full length, so the cost stays bounded for megabyte prompts.
 */
function sampledCount(enc: Tiktoken, texts: readonly string[], totalChars: number): number {
  const span = totalChars - SAMPLE_WINDOW_CHARS;
  let sampledTokens = 0;
  let sampledChars = 0;
  let textIndex = 0;
  let textStart = 0;
  for (let k = 0; k < SAMPLE_WINDOWS; k++) {
    const pos = Math.floor((k * span) / (SAMPLE_WINDOWS - 1));
    while (textStart + texts[textIndex].length <= pos) {
      textStart += texts[textIndex].length;
      textIndex++;
    }
    const text = texts[textIndex];
    const from = pos - textStart;
    const slice = text.slice(from, Math.min(from + SAMPLE_WINDOW_CHARS, text.length));
    sampledTokens += exactCount(enc, slice);
    sampledChars += slice.length;
  }
  return Math.round((sampledTokens / sampledChars) * totalChars);
}

function imageTokens(part: Extract<ContentPart, { type: 'image_url' }>): number {
  return part.image_url.detail === 'low' ? IMAGE_TOKENS_LOW_DETAIL : IMAGE_TOKENS_HIGH_DETAIL;
}

/**
 * Estimated prompt tokens of a chat request, counted the way OpenAI bills chat prompts
 * (per-message framing, role, name, reply priming); images at a fixed size-independent cost.
 */
export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  let fixed = REPLY_PRIMING_TOKENS;
  const texts: string[] = [];
  let totalChars = 0;
  const add = (text: string): void => {
    if (text.length > 0) {
      texts.push(text);
      totalChars += text.length;
    }
  };
  for (const message of messages) {
    fixed += TOKENS_PER_MESSAGE + TOKENS_PER_ROLE;
    if (typeof message.content === 'string') {
      add(message.content);
    } else if (message.content !== null) {
      for (const part of message.content) {
        if (part.type === 'text') {
          add(part.text);
        } else {
          fixed += imageTokens(part);
        }
      }
    }
    if (message.name !== undefined) {
      fixed += TOKENS_PER_NAME;
      add(message.name);
    }
    if (message.tool_call_id !== undefined) {
      add(message.tool_call_id);
    }
  }
  if (totalChars === 0) {
    return fixed;
  }
  const enc = getEncoder();
  if (totalChars > EXACT_TOKENIZE_CHARS) {
    return fixed + sampledCount(enc, texts, totalChars);
  }
  let counted = 0;
  for (const text of texts) {
    counted += exactCount(enc, text);
  }
  return fixed + counted;
}

/** Completion tokens to expect: the request's max_tokens, else a configured average. */
export function estimateCompletionTokens(maxTokens: number | undefined, averageCompletionTokens: number): number {
  return maxTokens ?? averageCompletionTokens;
}

/**
 * Context a deployment must hold for this request: the prompt plus the completion budget the
 * client reserved (providers reject prompt + max_tokens over the window). Pass this as
 * `estimatedTokens` to `filterCandidates`.
 */
export function requiredContextTokens(promptTokens: number, maxTokens: number | undefined): number {
  return promptTokens + (maxTokens ?? 0);
}

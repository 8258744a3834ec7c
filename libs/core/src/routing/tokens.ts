import { readFileSync } from 'node:fs';
import { BytePairEncoder, type RankFile } from './bpe';
import type { ChatMessage, FunctionTool } from '../domain';
import { imageFixedTokens } from './image-tokens';
import { estimateMediaTokens } from './media-tokens';

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

/*
 * Cost control. A request is tokenized exactly while its weighted size fits TOKENIZE_BUDGET
 * (a few ms of work); beyond that, evenly spaced windows worth the budget are tokenized and
 * their tokens-per-character ratio is scaled to the full length: measured within ~1% for
 * English and code, ~10% for Cyrillic and CJK (less than the gap between cl100k and most
 * non-OpenAI tokenizers on those scripts). The weights were set for js-tiktoken 1.0 on
 * Node 20 (~5,000 ASCII chars/ms, ~60-100 for Cyrillic or CJK, ~5-25 µs per call); the
 * compact encoder in bpe.ts counts the same tokens ~10x faster on ASCII and 25-90x on
 * Cyrillic and CJK (docs/benchmarks.md), so the budget is now conservative.
 */
/** In ASCII-character equivalents. */
export const TOKENIZE_BUDGET = 8192;
const NON_ASCII_WEIGHT = 32;
const PER_TEXT_WEIGHT = 32;
const MAX_SAMPLE_WINDOWS = 8;
const MIN_WINDOW_CHARS = 48;
/** Enough evenly spaced characters to know a text's non-ASCII share. */
const WEIGHT_PROBES = 4096;

/*
 * The byte-pair merge is also quadratic in the length of one pre-tokenized piece, so a long
 * run without spaces (base64, minified code, a CJK paragraph) would take hundreds of ms.
 * Such runs are counted in short slices; the count moves by at most a token per cut.
 */
const LONG_RUN = /[\u0080-\uffff]{17,}|[!-~]{33,}|\s{65,}/g;
const NON_ASCII_SLICE = 16;
const ASCII_SLICE = 32;
/** cl100k has single tokens for runs of up to ~80 spaces. */
const WHITESPACE_SLICE = 64;

let encoder: BytePairEncoder | null = null;

/**
 * js-tiktoken's cl100k rank file (its data, not its code), read as data. `require`d, its 1.1 MB `bpe_ranks` string
 * stayed on the heap for the life of the process: `module.exports` is held by the require cache and by the
 * requiring module's `children`, although the encoder keeps only the typed arrays it decodes from it. Parsed here
 * (the file is `module.exports = {JSON};`), the string is garbage once the encoder is built.
 */
function readRankFile(): RankFile {
  const file = require.resolve('js-tiktoken/ranks/cl100k_base');
  const text = readFileSync(file, 'utf8');
  const ranks = JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1)) as RankFile;
  if (typeof ranks.pat_str !== 'string' || typeof ranks.bpe_ranks !== 'string') {
    throw new Error(`${file}: not a tiktoken rank file (pat_str and bpe_ranks expected)`);
  }
  return ranks;
}

function getEncoder(): BytePairEncoder {
  if (encoder === null) {
    // Built on first use (or by warmUpTokenizer at worker boot): the rank file is 1 MB and building the encoder
    // costs ~0.2 s and ~2.2 MB of typed arrays, which processes that never estimate tokens should not pay.
    encoder = new BytePairEncoder(readRankFile());
  }
  return encoder;
}

/** Builds the encoder now (call at worker boot) so the first request does not pay for it. */
export function warmUpTokenizer(): void {
  getEncoder();
}

function encodedLength(enc: BytePairEncoder, text: string): number {
  // Special-token strings in user text are plain text, never control tokens (the encoder knows none).
  return enc.count(text);
}

function sliceLength(run: string): number {
  const c = run.charCodeAt(0);
  if (c > 0x7f) {
    return NON_ASCII_SLICE;
  }
  return c <= 0x20 ? WHITESPACE_SLICE : ASCII_SLICE;
}

function exactCount(enc: BytePairEncoder, text: string): number {
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

/** Tokenizing cost of a text in ASCII-character equivalents. */
function weightOf(text: string): number {
  const step = Math.max(1, Math.floor(text.length / WEIGHT_PROBES));
  let probes = 0;
  let nonAscii = 0;
  for (let i = 0; i < text.length; i += step) {
    probes++;
    if (text.charCodeAt(i) > 0x7f) {
      nonAscii++;
    }
  }
  const share = probes === 0 ? 0 : nonAscii / probes;
  return PER_TEXT_WEIGHT + text.length * (1 + (NON_ASCII_WEIGHT - 1) * share);
}

const WHITESPACE = /\s/;

/** Shrinks a window inward to whitespace at both ends (when it has any), so no word is cut in half. */
function wordAligned(text: string, from: number, to: number): string {
  let start = from;
  if (from > 0) {
    while (start < to && !WHITESPACE.test(text[start])) {
      start++;
    }
  }
  let end = to;
  if (to < text.length) {
    while (end > start && !WHITESPACE.test(text[end])) {
      end--;
    }
  }
  // No whitespace inside (CJK, base64): keep the raw window; a cut costs at most a token per edge.
  return end - start >= (to - from) / 2 ? text.slice(start, end) : text.slice(from, to);
}

/** Counts evenly spaced windows across all texts (as if concatenated) and scales to the full length. */
function sampledCount(
  enc: BytePairEncoder,
  texts: readonly string[],
  totalChars: number,
  windows: number,
  windowChars: number,
): number {
  const span = Math.max(0, totalChars - windowChars);
  let sampledTokens = 0;
  let sampledChars = 0;
  let textIndex = 0;
  let textStart = 0;
  for (let k = 0; k < windows; k++) {
    const pos = Math.floor((k * span) / (windows - 1));
    while (textStart + texts[textIndex].length <= pos) {
      textStart += texts[textIndex].length;
      textIndex++;
    }
    const text = texts[textIndex];
    const from = pos - textStart;
    const window = wordAligned(text, from, Math.min(from + windowChars, text.length));
    sampledTokens += exactCount(enc, window);
    sampledChars += window.length;
  }
  return sampledChars === 0 ? 0 : Math.round((sampledTokens / sampledChars) * totalChars);
}

function countTexts(texts: readonly string[]): number {
  let totalChars = 0;
  let totalWeight = 0;
  for (const text of texts) {
    totalChars += text.length;
    totalWeight += weightOf(text);
  }
  if (totalChars === 0) {
    return 0;
  }
  const enc = getEncoder();
  if (totalWeight <= TOKENIZE_BUDGET) {
    let tokens = 0;
    for (const text of texts) {
      tokens += exactCount(enc, text);
    }
    return tokens;
  }
  const sampleChars = Math.floor((totalChars * TOKENIZE_BUDGET) / totalWeight);
  const windows = Math.max(2, Math.min(MAX_SAMPLE_WINDOWS, Math.floor(sampleChars / MIN_WINDOW_CHARS)));
  const windowChars = Math.max(MIN_WINDOW_CHARS, Math.ceil(sampleChars / windows));
  return sampledCount(enc, texts, totalChars, windows, windowChars);
}

/** Tokens in one piece of text (cl100k_base); sampled beyond the tokenize budget. */
export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : countTexts([text]);
}

/**
 * Estimated prompt tokens of a chat request, counted the way OpenAI bills chat prompts
 * (per-message framing, role, name, reply priming); images at a fixed size-independent cost, what their size may add
 * being in the media share (estimateMediaTokens, imageExcessTokens).
 */
export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  let fixed = REPLY_PRIMING_TOKENS;
  const texts: string[] = [];
  const add = (text: string): void => {
    if (text.length > 0) {
      texts.push(text);
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
        } else if (part.type === 'image_url') {
          fixed += imageFixedTokens(part);
        }
        // Audio and file parts have no size-independent estimate: estimateRequestTokens adds them by their size.
      }
    }
    if (message.name !== undefined) {
      fixed += TOKENS_PER_NAME;
      add(message.name);
    }
    if (message.tool_call_id !== undefined) {
      add(message.tool_call_id);
    }
    for (const call of message.tool_calls ?? []) {
      add(call.function.name);
      add(call.function.arguments);
    }
  }
  return fixed + countTexts(texts);
}

/**
 * Tokens of one embeddings input as the gateway counts them: a text with the prompt tokenizer, a token array by its
 * length. What routing sizes an embeddings request by, and what is billed for inputs whose provider reported no usage.
 */
export function embeddingInputTokens(item: string | readonly number[]): number {
  return typeof item === 'string' ? countTextTokens(item) : item.length;
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

/** A request's estimated prompt tokens, and the rough share of them its audio and file parts make. */
export interface RequestTokens {
  /** Text, images, tool definitions, and the audio and file parts (`mediaTokens`). */
  tokens: number;
  /**
   * Of `tokens`, the audio and file parts by their size, and what the images' size may add to their fixed estimate
   * (`estimateMediaTokens`): a rough, upper-ish bound.
   */
  mediaTokens: number;
}

/**
 * Estimated prompt tokens of a chat request with its tool definitions, which providers bill as prompt and fit into
 * the context window (their JSON text, counted), and its audio and file parts by their size (estimateMediaTokens):
 * the one estimate admission, routing, `count_tokens`, a stream's start and the billing fallback use. The media share
 * is given apart for the two that treat it as the rough bound it is (admission's reservation, the context filter).
 * Cost for a request without audio or file parts: one loop over its messages that finds none.
 */
export function estimateRequestTokenShares(
  messages: readonly ChatMessage[],
  tools: readonly FunctionTool[] | undefined,
): RequestTokens {
  const mediaTokens = estimateMediaTokens(messages);
  const text = estimatePromptTokens(messages) + (tools === undefined ? 0 : countTextTokens(JSON.stringify(tools)));
  return { tokens: text + mediaTokens, mediaTokens };
}

/** Estimated prompt tokens of a chat request: `estimateRequestTokenShares(...).tokens`. */
export function estimateRequestTokens(
  messages: readonly ChatMessage[],
  tools: readonly FunctionTool[] | undefined,
): number {
  return estimateRequestTokenShares(messages, tools).tokens;
}

import { createHash, randomFillSync, randomUUID } from 'node:crypto';

/** `req_` and 32 hex digits: a random UUID without its dashes (sliced out: no regular expression per request). */
export function newRequestId(): string {
  const u = randomUUID();
  return `req_${u.slice(0, 8)}${u.slice(9, 13)}${u.slice(14, 18)}${u.slice(19, 23)}${u.slice(24)}`;
}

/**
 * The completion id the gateway gives an answer of its own: one whose provider gave none, and a stored answer served
 * again (a cache hit is another completion, and tools that key on the id must not merge the two).
 */
export function completionIdOf(requestId: string): string {
  return `chatcmpl-${requestId}`;
}

export function sha256Hex(input: string): string {
  return createHash('sha256').update(input).digest('hex');
}

/**
 * What joins a tool call id and the Gemini thought signature riding in it (adapters' gemini/thought-signature.ts):
 * the signature must reach Gemini again unchanged, so only the id before it is ever rewritten.
 */
export const THOUGHT_SIGNATURE_SEPARATOR = '__thought__';

/** Below this many characters the end of an id is no random part (`call_0`, Kimi's `functions.get_weather:0`). */
const MIN_RANDOM_RUN = 8;

const DIGITS = '0123456789';
const HEX = '0123456789abcdef';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
/** Each alphabet `alphabetOf` gives, as bytes, built once. */
const ALPHABETS = new Map<string, Buffer>();

/**
 * Another id of the same shape as a provider's tool call id, for an answer served again (a cache hit, a coalesced
 * follower): the random part, the id's last run of ASCII letters and digits, is drawn afresh with the same length and
 * alphabet (hex stays hex); what leads it (`call_`, `toolu_`, `chatcmpl-tool-`, a UUID's first groups) and a thought
 * signature after it stay. An id without such a part (a run shorter than 8: an index, not a random id) is returned
 * as it is: its provider repeats it in every conversation anyway.
 */
export function freshToolCallId(id: string): string {
  const at = id.indexOf(THOUGHT_SIGNATURE_SEPARATOR);
  const head = at < 0 ? id : id.slice(0, at);
  let end = head.length;
  while (end > 0 && !isAlphanumeric(head.charCodeAt(end - 1))) {
    end--;
  }
  let start = end;
  while (start > 0 && isAlphanumeric(head.charCodeAt(start - 1))) {
    start--;
  }
  if (end - start < MIN_RANDOM_RUN || end - start > randomPool.length) {
    return id;
  }
  const alphabet = alphabetOf(head, start, end);
  const n = end - start;
  if (randomAt + n > randomPool.length) {
    randomFillSync(randomPool);
    randomAt = 0;
  }
  for (let i = start; i < end; i++) {
    randomRun[i - start] = alphabet[randomPool[randomAt++] % alphabet.length];
  }
  return head.slice(0, start) + randomRun.toString('latin1', 0, n) + id.slice(end);
}

/**
 * Random bytes drawn 4 KB at a time: `randomBytes` per id cost ~9 µs (a call into OpenSSL each time), the pool ~0.2 µs
 * an id. The modulo's bias (256 is no multiple of 62) is of no matter for ids that need only be unlikely to repeat.
 */
const randomPool = Buffer.alloc(4096);
let randomAt = randomPool.length;
/** Where an id's new run is written before it becomes a string (a run longer than the pool is left as it is). */
const randomRun = Buffer.alloc(randomPool.length);

function isAlphanumeric(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** The characters `s[start, end)` draws from: hex when it could be hex, else the classes it holds. */
function alphabetOf(s: string, start: number, end: number): Buffer {
  let digit = false;
  let hexLetter = false;
  let lower = false;
  let upper = false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c <= 57) {
      digit = true;
    } else if (c <= 90) {
      upper = true;
    } else if (c <= 102) {
      hexLetter = true;
    } else {
      lower = true;
    }
  }
  const chars =
    !upper && !lower
      ? hexLetter
        ? HEX
        : DIGITS
      : (digit ? DIGITS : '') + (lower || hexLetter ? LOWER : '') + (upper ? UPPER : '');
  let alphabet = ALPHABETS.get(chars);
  if (alphabet === undefined) {
    alphabet = Buffer.from(chars, 'latin1');
    ALPHABETS.set(chars, alphabet);
  }
  return alphabet;
}

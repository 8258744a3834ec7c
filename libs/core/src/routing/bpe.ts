/*
 * A compact byte-pair encoder for tiktoken-style rank files (cl100k_base here).
 *
 * Rank table: every token's bytes in one array (~640 KB for cl100k), an offset and a length per
 * rank and an open-addressing hash table of ranks (1 MB), ~2.1 MB in all. js-tiktoken keys a Map
 * by comma-joined byte strings (~30 MB of heap) and builds such a string for every lookup; here a
 * lookup hashes a byte range of a reused buffer and allocates nothing.
 *
 * Invariant: the tokens produced are exactly tiktoken's (bpe.spec.ts checks them against
 * js-tiktoken): the same pre-tokenization regex, a piece that is itself a token stays whole, and
 * otherwise adjacent parts are merged lowest rank first, the leftmost pair on a tie.
 */

/** The fields of a tiktoken rank file (as js-tiktoken ships them) that the encoder reads. */
export interface RankFile {
  /** The pre-tokenization regex, used with the `u` flag. */
  pat_str: string;
  /** Lines of `<name> <first rank> <base64 token>...`, ranks consecutive from the first. */
  bpe_ranks: string;
}

const NO_RANK = 0x7fffffff;
const EMPTY = -1;
/** Maps a base64 character code to its 6-bit value; -1 for anything else (`=` padding included). */
const BASE64 = (() => {
  const table = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) {
    table[alphabet.charCodeAt(i)] = i;
  }
  return table;
})();

interface DecodedRanks {
  bytes: Uint8Array;
  /** Rank r's bytes are bytes[start[r]] up to bytes[start[r] + length[r]]. */
  start: Uint32Array;
  length: Uint8Array;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d;
}

/** Calls `visit` with each token's rank and where its base64 is in `text`, allocating nothing per token. */
function forEachToken(text: string, visit: (rank: number, from: number, to: number) => void): void {
  let i = 0;
  while (i < text.length) {
    // A line: a name, the first rank, then the tokens of consecutive ranks.
    let field = 0;
    let rank = 0;
    while (i < text.length && text.charCodeAt(i) !== 0x0a) {
      while (i < text.length && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x0d)) {
        i++;
      }
      const from = i;
      while (i < text.length && !isSpace(text.charCodeAt(i))) {
        i++;
      }
      if (i === from) {
        continue;
      }
      if (field === 1) {
        rank = Number(text.slice(from, i));
        if (!Number.isInteger(rank) || rank < 0) {
          throw new Error(`Rank file: bad first rank "${text.slice(from, i)}"`);
        }
      } else if (field > 1) {
        visit(rank++, from, i);
      }
      field++;
    }
    i++;
  }
}

/** Decodes the rank lines straight into one byte array: no per-token strings or arrays. */
function decodeRanks(text: string): DecodedRanks {
  let tokenCount = 0;
  let highest = -1;
  forEachToken(text, (rank) => {
    tokenCount++;
    highest = Math.max(highest, rank);
  });
  if (highest + 1 !== tokenCount) {
    throw new Error(`Rank file: ranks are not 0 to ${tokenCount - 1}, each once (the highest is ${highest})`);
  }
  const bytes = new Uint8Array(Math.ceil(text.length * 0.75));
  const start = new Uint32Array(tokenCount);
  const length = new Uint8Array(tokenCount);
  let out = 0;
  forEachToken(text, (rank, from, to) => {
    if (length[rank] !== 0) {
      throw new Error(`Rank file: rank ${rank} appears twice`);
    }
    start[rank] = out;
    let bits = 0;
    let bitCount = 0;
    for (let i = from; i < to; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x3d) {
        break; // '=' padding
      }
      const v = c < 128 ? BASE64[c] : -1;
      if (v < 0) {
        throw new Error(`Rank file: rank ${rank} is not base64`);
      }
      bits = ((bits << 6) | v) & 0xffffff;
      bitCount += 6;
      if (bitCount >= 8) {
        bitCount -= 8;
        bytes[out++] = (bits >> bitCount) & 0xff;
      }
    }
    const n = out - start[rank];
    if (n === 0 || n > 0xff) {
      throw new Error(`Rank file: rank ${rank} has ${n} bytes (1 to 255 supported)`);
    }
    length[rank] = n;
  });
  return { bytes: bytes.slice(0, out), start, length };
}

/** FNV-1a over bytes[from..to). */
function hashOf(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    h = Math.imul(h ^ bytes[i], 0x01000193);
  }
  return h >>> 0;
}

export class BytePairEncoder {
  private readonly pattern: RegExp;
  private readonly tokenBytes: Uint8Array;
  private readonly tokenStart: Uint32Array;
  private readonly tokenLength: Uint8Array;
  /** Open addressing, linear probing: a rank, or EMPTY. */
  private readonly slots: Int32Array;
  private readonly mask: number;
  // Scratch space reused by every call (the encoder is synchronous, so never shared mid-call); it
  // grows to the longest piece seen, which tokens.ts bounds by slicing long runs and sampling.
  /** The UTF-8 bytes of the current piece. */
  private piece = new Uint8Array(256);
  /** Part k of the piece is piece[bounds[k]..bounds[k + 1]). */
  private bounds = new Int32Array(257);
  /** Rank of parts k and k + 1 joined, or NO_RANK. */
  private pairRanks = new Int32Array(256);

  constructor(file: RankFile) {
    this.pattern = new RegExp(file.pat_str, 'gu');
    const { bytes, start, length } = decodeRanks(file.bpe_ranks);
    this.tokenBytes = bytes;
    this.tokenStart = start;
    this.tokenLength = length;
    const tokenCount = start.length;
    // A load under 40% keeps probe chains short; misses are as common as hits while merging.
    let size = 1;
    while (size < tokenCount * 2.5) {
      size <<= 1;
    }
    this.slots = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
    for (let rank = 0; rank < tokenCount; rank++) {
      const from = start[rank];
      const to = from + length[rank];
      if (this.rankOf(bytes, from, to) !== NO_RANK) {
        throw new Error(`Rank file: rank ${rank} repeats the bytes of an earlier token`);
      }
      let slot = hashOf(bytes, from, to) & this.mask;
      while (this.slots[slot] !== EMPTY) {
        slot = (slot + 1) & this.mask;
      }
      this.slots[slot] = rank;
    }
  }

  /** Number of tokens in `text`; special-token strings are plain text. */
  count(text: string): number {
    let tokens = 0;
    const pattern = this.pattern;
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      tokens += this.splitPiece(m[0]);
    }
    return tokens;
  }

  /** The token ranks of `text`, as tiktoken's `encode(text, [], [])` returns them. */
  encode(text: string): number[] {
    const ranks: number[] = [];
    const pattern = this.pattern;
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      const parts = this.splitPiece(m[0]);
      for (let k = 0; k < parts; k++) {
        ranks.push(this.rankOf(this.piece, this.bounds[k], this.bounds[k + 1]));
      }
    }
    return ranks;
  }

  /** Rank of the token with exactly bytes[from..to), or NO_RANK. */
  private rankOf(bytes: Uint8Array, from: number, to: number): number {
    const length = to - from;
    const tokenBytes = this.tokenBytes;
    let slot = hashOf(bytes, from, to) & this.mask;
    for (let rank = this.slots[slot]; rank !== EMPTY; rank = this.slots[slot]) {
      if (this.tokenLength[rank] === length) {
        const at = this.tokenStart[rank];
        let i = 0;
        while (i < length && tokenBytes[at + i] === bytes[from + i]) {
          i++;
        }
        if (i === length) {
          return rank;
        }
      }
      slot = (slot + 1) & this.mask;
    }
    return NO_RANK;
  }

  /** Encodes a piece as UTF-8 into `this.piece` (lone surrogates as U+FFFD, like TextEncoder); returns its length. */
  private toUtf8(text: string): number {
    if (this.piece.length < text.length * 3) {
      this.piece = new Uint8Array(text.length * 3);
    }
    const out = this.piece;
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      let c = text.charCodeAt(i);
      if (c < 0x80) {
        out[n++] = c;
      } else if (c < 0x800) {
        out[n++] = 0xc0 | (c >> 6);
        out[n++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          out[n++] = 0xf0 | (c >> 18);
          out[n++] = 0x80 | ((c >> 12) & 0x3f);
          out[n++] = 0x80 | ((c >> 6) & 0x3f);
          out[n++] = 0x80 | (c & 0x3f);
        } else {
          out[n++] = 0xef;
          out[n++] = 0xbf;
          out[n++] = 0xbd;
        }
      } else {
        out[n++] = 0xe0 | (c >> 12);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
        out[n++] = 0x80 | (c & 0x3f);
      }
    }
    return n;
  }

  /** Splits one pre-tokenized piece into tokens: leaves their bounds in `this.bounds`, returns how many. */
  private splitPiece(text: string): number {
    const length = this.toUtf8(text);
    const piece = this.piece;
    if (this.bounds.length <= length) {
      this.bounds = new Int32Array(length + 1);
      this.pairRanks = new Int32Array(length);
    }
    const bounds = this.bounds;
    bounds[0] = 0;
    // A piece that is a token stays whole, even where merging would split it otherwise.
    if (length === 1 || this.rankOf(piece, 0, length) !== NO_RANK) {
      bounds[1] = length;
      return 1;
    }
    const pairRanks = this.pairRanks;
    let parts = length;
    for (let k = 0; k < parts; k++) {
      bounds[k + 1] = k + 1;
    }
    for (let k = 0; k < parts - 1; k++) {
      pairRanks[k] = this.rankOf(piece, k, k + 2);
    }
    while (parts > 1) {
      let best = 0;
      for (let k = 1; k < parts - 1; k++) {
        if (pairRanks[k] < pairRanks[best]) {
          best = k;
        }
      }
      if (pairRanks[best] === NO_RANK) {
        break;
      }
      // Join parts best and best + 1: drop the bound between them, then re-rank the two pairs that changed.
      bounds.copyWithin(best + 1, best + 2, parts + 1);
      pairRanks.copyWithin(best, best + 1, parts - 1);
      parts--;
      if (best > 0) {
        pairRanks[best - 1] = this.rankOf(piece, bounds[best - 1], bounds[best + 1]);
      }
      if (best < parts - 1) {
        pairRanks[best] = this.rankOf(piece, bounds[best], bounds[best + 2]);
      }
    }
    return parts;
  }
}

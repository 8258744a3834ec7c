import { bytesAt, dataUrlOf } from '../data-url';
import type { ContentPart } from '../domain';

/*
 * What an image may be billed as prompt tokens. The estimate of the prompt's text part (estimatePromptTokens) takes
 * every image at a fixed 765 tokens (85 at `detail: "low"`), OpenAI's 1024×1024 at high detail; the providers bill by
 * size: OpenAI 85 + 170 a 512-px tile of the image scaled to fit 2048×2048 and then to a shortest side of 768 (up to
 * 8 tiles, 1,445 tokens; 85 at low detail), Claude width × height / 750 of the image scaled to a longest side of
 * 1,568 px and at most 1.15 megapixels (up to ~1,600, whatever `detail` says), Gemini 258 a 768-px tile (258 for an
 * image of 384 px or less). Where the part is a data URL whose PNG, GIF, WebP or JPEG header gives its size, the
 * largest of those bills for that size; otherwise (a URL, a header not read) the largest any of them bills for one
 * image. What that is beyond the fixed estimate is part of the media share (estimateMediaTokens), the rough bound
 * admission reserves as far as a limit leaves, routing's context filter tries rather than drops on, and
 * `count_tokens` counts: reserved at 765 alone, concurrent requests with large images took a user past a budget by up
 * to twice their images' cost, and routing and `count_tokens` undercounted what admission reserved.
 *
 * Cost: nothing for a request without images; per image given as a data URL, the decoding of its header (a few dozen
 * bytes; for a JPEG, a few bytes at each segment before its frame header): never the whole payload (~1-3 µs).
 */

/** The fixed estimate of an image (estimatePromptTokens): a 1024×1024 image at high detail (85 + 4 tiles × 170). */
export const IMAGE_TOKENS_HIGH_DETAIL = 765;
export const IMAGE_TOKENS_LOW_DETAIL = 85;

/** The most one image is billed when its size is not known: Claude's largest (1.15 megapixels / 750). */
export const IMAGE_TOKENS_UNKNOWN_SIZE = 1_600;
/** How far into a JPEG its frame header (SOFn) is looked for, behind APPn segments (EXIF, ICC profiles, thumbnails). */
const JPEG_SCAN_BYTES = 64 * 1024;

/** Reads `n` bytes from byte `offset` of an image, or fewer past its end. */
type Read = (offset: number, n: number) => Buffer;

/** The image's width and height from its header, or null when it is not one read here. */
export function imageSize(read: Read | Buffer): { width: number; height: number } | null {
  const at: Read = Buffer.isBuffer(read) ? (offset, n) => read.subarray(offset, offset + n) : read;
  const head = at(0, 30);
  // PNG: signature, then the IHDR chunk's width and height.
  if (head.length >= 24 && head.readUInt32BE(0) === 0x89504e47 && head.toString('latin1', 12, 16) === 'IHDR') {
    return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
  }
  // GIF: the logical screen.
  if (head.length >= 10 && head.toString('latin1', 0, 4) === 'GIF8') {
    return { width: head.readUInt16LE(6), height: head.readUInt16LE(8) };
  }
  if (head.length >= 30 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') {
    const chunk = head.toString('latin1', 12, 16);
    if (chunk === 'VP8X') {
      return { width: 1 + head.readUIntLE(24, 3), height: 1 + head.readUIntLE(27, 3) };
    }
    if (chunk === 'VP8L') {
      const b = head.readUInt32LE(21);
      return { width: 1 + (b & 0x3fff), height: 1 + ((b >>> 14) & 0x3fff) };
    }
    if (chunk === 'VP8 ') {
      return { width: head.readUInt16LE(26) & 0x3fff, height: head.readUInt16LE(28) & 0x3fff };
    }
    return null;
  }
  if (head.length >= 4 && head[0] === 0xff && head[1] === 0xd8) {
    // JPEG: from segment to segment (a few bytes read at each) up to the frame header (SOF0-SOF15 but DHT, JPG, DAC).
    let offset = 2;
    while (offset < JPEG_SCAN_BYTES) {
      const seg = at(offset, 9);
      if (seg.length < 9 || seg[0] !== 0xff) {
        return null;
      }
      const marker = seg[1];
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { width: seg.readUInt16BE(7), height: seg.readUInt16BE(5) };
      }
      offset += 2 + seg.readUInt16BE(2);
    }
  }
  return null;
}

/** OpenAI's count for an image of this size (gpt-4o's tiles). */
function openAiTokens(width: number, height: number, low: boolean): number {
  if (low) {
    return IMAGE_TOKENS_LOW_DETAIL;
  }
  let w = width;
  let h = height;
  const fit = Math.min(1, 2048 / Math.max(w, h));
  w *= fit;
  h *= fit;
  const shortest = Math.min(1, 768 / Math.min(w, h));
  w *= shortest;
  h *= shortest;
  return IMAGE_TOKENS_LOW_DETAIL + 170 * Math.ceil(w / 512) * Math.ceil(h / 512);
}

/** Claude's count: the image scaled to a longest side of 1,568 px and at most 1.15 megapixels, / 750. */
function claudeTokens(width: number, height: number): number {
  const scale = Math.min(1, 1568 / Math.max(width, height), Math.sqrt(1_150_000 / (width * height)));
  return Math.ceil((width * scale * height * scale) / 750);
}

/** Gemini's count: 258 for an image within 384 px, else 258 a 768-px tile. */
function geminiTokens(width: number, height: number): number {
  return width <= 384 && height <= 384 ? 258 : 258 * Math.ceil(width / 768) * Math.ceil(height / 768);
}

/**
 * The most an image is billed, given as `url` (a data URL whose header is read, or any other URL): see above. `low`:
 * OpenAI's `detail: "low"`, which the others do not take.
 */
export function imageUrlWorstTokens(url: string, low: boolean): number {
  const data = dataUrlOf(url);
  if (data === null) {
    return IMAGE_TOKENS_UNKNOWN_SIZE;
  }
  const size = imageSize((offset, n) => bytesAt(data.base64, offset, n));
  if (size === null || size.width <= 0 || size.height <= 0) {
    return IMAGE_TOKENS_UNKNOWN_SIZE;
  }
  const { width, height } = size;
  return Math.max(openAiTokens(width, height, low), claudeTokens(width, height), geminiTokens(width, height));
}

/** The most one image part may be billed (see above). */
export function imageWorstTokens(part: Extract<ContentPart, { type: 'image_url' }>): number {
  return imageUrlWorstTokens(part.image_url.url, part.image_url.detail === 'low');
}

/** The fixed estimate of an image part in the prompt's text part (estimatePromptTokens). */
export function imageFixedTokens(part: Extract<ContentPart, { type: 'image_url' }>): number {
  return part.image_url.detail === 'low' ? IMAGE_TOKENS_LOW_DETAIL : IMAGE_TOKENS_HIGH_DETAIL;
}

/** What an image part may be billed beyond its fixed estimate: its share of the media estimate (estimateMediaTokens). */
export function imageExcessTokens(part: Extract<ContentPart, { type: 'image_url' }>): number {
  return Math.max(0, imageWorstTokens(part) - imageFixedTokens(part));
}

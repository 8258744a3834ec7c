import type { ContentPart } from './domain';

/**
 * The longest header (`data:` up to the comma) read: a media type is at most 255 characters (RFC 6838), parameters
 * such as `name=photo.jpg` add a few dozen. Bounding it keeps a URL of megabytes without a comma from being scanned.
 */
const MAX_HEADER = 1024;

/** Media types clients write for a registered one; providers with a closed list (Claude, Gemini) take only the latter. */
const MEDIA_TYPE_ALIASES: Readonly<Record<string, string>> = { 'image/jpg': 'image/jpeg' };

/** Whether a URL is a data URL (its scheme in any case, RFC 2397); an image URL that is not one is fetched. */
export function isDataUrl(url: string): boolean {
  return url.slice(0, 5).toLowerCase() === 'data:';
}

/** `http(s)://` in any case: the only URLs the families that take image URLs fetch. */
const REMOTE_URL = /^https?:\/\//i;

const MIME_BY_EXTENSION: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
};

/**
 * The MIME type a file URL's extension implies (image/jpeg when it says nothing: image parts are images), read from
 * its parsed path as a fetch would (tabs and line breaks dropped, spaces around it trimmed, no query or fragment).
 * The one reading of it: Gemini's `fileData` is sent with this type, and admission reserves a URL this calls a PDF as
 * one (estimateMediaTokens).
 */
export function mimeOfUrl(url: string): string {
  const path = URL.canParse(url) ? new URL(url).pathname : url;
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  return (ext === undefined ? undefined : MIME_BY_EXTENSION[ext]) ?? 'image/jpeg';
}

/**
 * Whether an image URL is one to fetch: `http(s)://` (scheme in any case) and a URL that parses. The one test the
 * gateway's validation (chat, native, /v1/messages) and routing agree on.
 */
export function isRemoteImageUrl(url: string): boolean {
  return REMOTE_URL.test(url) && URL.canParse(url);
}

/**
 * A `data:<mime>;base64,<data>` URL split in two (the MIME type lower-cased, without parameters such as `name=`,
 * `image/jpg` as `image/jpeg`); null for any other URL. RFC 2397: `data:<type>[;<param>]*;base64,<data>`, the scheme
 * and the `base64` token in any case.
 *
 * Parsed by hand, not with a regular expression: one with a repeated parameter group backtracked over a header of
 * semicolons (2 MB took up to a second of the event loop, 4 MB overflowed the stack). This reads at most MAX_HEADER
 * characters, whatever the URL's length.
 */
export function dataUrlOf(url: string): { mimeType: string; base64: string } | null {
  if (!isDataUrl(url)) {
    return null;
  }
  const comma = url.slice(0, MAX_HEADER).indexOf(',');
  if (comma === -1) {
    return null;
  }
  const pieces = url.slice(5, comma).split(';');
  const type = pieces[0].trim().toLowerCase();
  if (pieces.length < 2 || type === '' || pieces[pieces.length - 1].toLowerCase() !== 'base64') {
    return null;
  }
  return { mimeType: MEDIA_TYPE_ALIASES[type] ?? type, base64: url.slice(comma + 1) };
}

/**
 * The text of a plain-text file's `file_data` (a `text/plain` data URL), decoded as UTF-8; undefined for any other
 * data. For the families that take a text document as text (Claude) or only as text (the OpenAI family).
 */
export function plainTextOf(fileData: string): string | undefined {
  const data = dataUrlOf(fileData);
  return data?.mimeType === 'text/plain' ? Buffer.from(data.base64, 'base64').toString('utf8') : undefined;
}

/**
 * A character outside RFC 4648's base64 alphabet and the line breaks MIME wraps it with (RFC 2045: the `base64` CLI
 * and Python's `encodebytes` break lines at 76 characters, `\n` or `\r\n`); `=` is checked apart (padding, at the
 * end only).
 */
const NOT_BASE64 = /[^A-Za-z0-9+/=\r\n]/;
const LINE_BREAKS = /[\r\n]/g;

/**
 * Whether `text` has a line break: two `includes`, not one `/[\r\n]/` test, which is ~25 times slower on Node 20
 * (2.7 ms against 0.1 ms for 4 MB: `includes` of one character is a vectorised search, a character class is not).
 */
function hasLineBreak(text: string): boolean {
  return text.includes('\n') || text.includes('\r');
}

function isLineBreak(c: number): boolean {
  return c === 0x0a || c === 0x0d;
}

/** How many line breaks `text` has before `end`: a loop of char codes, run only on wrapped base64 (no copy). */
function lineBreaksBefore(text: string, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) {
    if (isLineBreak(text.charCodeAt(i))) {
      n++;
    }
  }
  return n;
}

/**
 * Where base64 `text`'s data ends (`end`: before its padding and the line breaks that end wrapped base64) and how many
 * `=` pad it: read back from the end, so only its last characters unless it ends in a long run of them. The one reading
 * of the padding: `isBase64` checks it, `decodedBytes` (media-tokens.ts) sizes the data by it.
 */
export function base64Tail(text: string): { end: number; pad: number } {
  let end = text.length;
  let pad = 0;
  for (; end > 0; end--) {
    const c = text.charCodeAt(end - 1);
    if (c === 0x3d) {
      pad++;
    } else if (!isLineBreak(c)) {
      break;
    }
  }
  return { end, pad };
}

/**
 * Whether `text` is base64 as data URLs and the providers carry it (RFC 4648 §4: the standard alphabet, padding
 * optional), possibly wrapped in lines, which Ollama (Go) and Python servers decode and `unwrappedBase64` removes for
 * the others. One regular-expression scan (~1 ms per MB on Node 20, a fraction of parsing the JSON that brought it)
 * and three character searches, no copy; wrapped base64 also has its line breaks counted.
 */
export function isBase64(text: string): boolean {
  if (NOT_BASE64.test(text)) {
    return false;
  }
  const { end, pad } = base64Tail(text);
  const firstPad = text.indexOf('=');
  // Padding only at the end, at most two.
  if (pad > 2 || (firstPad !== -1 && firstPad < end)) {
    return false;
  }
  const body = hasLineBreak(text) ? end - lineBreaksBefore(text, end) : end;
  // Some data; a lone character after the last full quantum encodes no byte.
  return body + pad > 0 && body % 4 !== 1;
}

/**
 * Base64 without its line breaks, which Claude and Gemini refuse; `text` itself when it has none (no copy).
 */
export function unwrappedBase64(text: string): string {
  return hasLineBreak(text) ? text.replace(LINE_BREAKS, '') : text;
}

/**
 * A content part whose base64 (an image or file data URL, audio data) is wrapped in lines, as a copy without the
 * line breaks; any other part (text, an image by URL, a `file_id`, unwrapped data) is returned as it is.
 */
export function withUnwrappedBase64(part: ContentPart): ContentPart {
  switch (part.type) {
    case 'image_url': {
      const url = part.image_url.url;
      const unwrapped = isDataUrl(url) ? unwrappedBase64(url) : url;
      return unwrapped === url ? part : { ...part, image_url: { ...part.image_url, url: unwrapped } };
    }
    case 'input_audio': {
      const data = unwrappedBase64(part.input_audio.data);
      return data === part.input_audio.data ? part : { ...part, input_audio: { ...part.input_audio, data } };
    }
    case 'file': {
      const fileData = part.file.file_data;
      const unwrapped = fileData === undefined ? undefined : unwrappedBase64(fileData);
      return unwrapped === fileData ? part : { ...part, file: { ...part.file, file_data: unwrapped } };
    }
    case 'text':
      return part;
  }
}

/** `bytes` bytes from byte `offset` of base64 `data` (unwrapped; a wrapped one decodes garbage, which callers check). */
export function bytesAt(data: string, offset: number, bytes: number): Buffer {
  const first = Math.floor(offset / 3) * 4;
  const chars = Math.ceil((offset + bytes) / 3) * 4 - first;
  const skip = offset % 3;
  return Buffer.from(data.slice(first, first + chars), 'base64').subarray(skip, skip + bytes);
}

/**
 * The longest header (`data:` up to the comma) read: a media type is at most 255 characters (RFC 6838), parameters
 * such as `name=photo.jpg` add a few dozen. Bounding it keeps a URL of megabytes without a comma from being scanned.
 */
const MAX_HEADER = 1024;

/** Media types clients write for a registered one; providers with a closed list (Claude, Gemini) take only the latter. */
const MEDIA_TYPE_ALIASES: Readonly<Record<string, string>> = { 'image/jpg': 'image/jpeg' };

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
  if (url.slice(0, 5).toLowerCase() !== 'data:') {
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

/** A character outside RFC 4648's base64 alphabet; `=` is checked apart (padding, at the end only). */
const NOT_BASE64 = /[^A-Za-z0-9+/=]/;

/**
 * Whether `text` is base64 as data URLs and the providers carry it (RFC 4648 §4: the standard alphabet, padding
 * optional, no whitespace). One regular-expression scan: ~1 ms per MB on Node 20, a fraction of parsing the JSON
 * that brought it.
 */
export function isBase64(text: string): boolean {
  if (text.length === 0 || NOT_BASE64.test(text)) {
    return false;
  }
  const pad = text.indexOf('=');
  const body = pad === -1 ? text.length : pad;
  // Padding only at the end, at most two; a lone character after the last full quantum encodes no byte.
  return text.length - body <= 2 && /^=*$/.test(text.slice(body)) && body % 4 !== 1;
}

/** RFC 2397: `data:<type>[;<param>]*;base64,<data>`, the scheme and the `base64` token in any case. */
const DATA_URL = /^data:([^;,]+)(?:;[^;,]*)*;base64,/i;

/**
 * A `data:<mime>;base64,<data>` URL split in two (the MIME type lower-cased, without parameters such as `name=`);
 * null for any other URL.
 */
export function dataUrlOf(url: string): { mimeType: string; base64: string } | null {
  const m = DATA_URL.exec(url);
  return m === null ? null : { mimeType: m[1].trim().toLowerCase(), base64: url.slice(m[0].length) };
}

const MIME_BY_EXTENSION: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
};

/** The MIME type a file URL's extension implies (image/jpeg when it says nothing: image parts are images). */
export function mimeOfUrl(url: string): string {
  const path = URL.canParse(url) ? new URL(url).pathname : url;
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  return (ext === undefined ? undefined : MIME_BY_EXTENSION[ext]) ?? 'image/jpeg';
}

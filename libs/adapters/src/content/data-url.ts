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

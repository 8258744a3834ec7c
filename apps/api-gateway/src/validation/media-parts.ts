import { dataUrlOf, isBase64, isDataUrl, isRemoteImageUrl } from '@aigw/core';
import { invalidParam } from './validation-errors';
import { isRecord } from './validators';

/*
 * The media a content part carries, checked before anything is enqueued. The DTO rules check the parts' shapes; what
 * the strings hold they cannot see, and a malformed one went on to the providers: Claude was sent `data:;base64,...`
 * as an image URL to fetch and Gemini as a `fileData` URI, and bad base64 reached every family (a provider's 400,
 * or a fallback through every deployment of the model). OpenAI refuses these with a 400 naming the image; so does
 * the gateway, whatever family would serve the request.
 */

interface MediaMessage {
  content?: unknown;
}

/** What is wrong with a base64 data URL meant to hold a `kind` (`image/`, or any type for ''), or null. */
function dataUrlProblem(url: string, kind: string): string | null {
  const data = dataUrlOf(url);
  if (data === null) {
    return `must be a base64 data URL naming its media type (data:${kind === '' ? 'application/pdf' : 'image/png'};base64,...)`;
  }
  if (!data.mimeType.startsWith(kind)) {
    return `is a data URL of '${data.mimeType}', not an image`;
  }
  return isBase64(data.base64) ? null : 'holds data that is not base64';
}

function imageProblem(url: string): string | null {
  if (isDataUrl(url)) {
    return dataUrlProblem(url, 'image/');
  }
  return isRemoteImageUrl(url)
    ? null
    : 'must be an http(s) URL or a base64 data URL of an image (data:image/png;base64,...)';
}

function checkPart(part: Record<string, unknown>, at: string): void {
  switch (part.type) {
    case 'image_url': {
      const url = (part.image_url as { url: string }).url;
      const problem = imageProblem(url);
      if (problem !== null) {
        throw invalidParam(`${at}.image_url.url`, problem);
      }
      return;
    }
    case 'input_audio': {
      if (!isBase64((part.input_audio as { data: string }).data)) {
        throw invalidParam(`${at}.input_audio.data`, 'must be base64 audio data');
      }
      return;
    }
    case 'file': {
      // A file_id names a file uploaded to the provider; only inline data can be checked here.
      const data = (part.file as { file_data?: unknown }).file_data;
      const problem = typeof data === 'string' ? dataUrlProblem(data, '') : null;
      if (problem !== null) {
        throw invalidParam(`${at}.file.file_data`, problem);
      }
      return;
    }
    default:
  }
}

/**
 * Throws 400 invalid_request naming the field (`messages[1].content[0].image_url.url`) of the first image URL, audio
 * or file data that no provider could read. Runs after the DTO rules (parts have their shapes). Costs a scan of
 * each base64 payload (~1 ms per MB), no I/O.
 */
export function assertMediaParts(messages: readonly MediaMessage[]): void {
  messages.forEach((m, i) => {
    if (!Array.isArray(m.content)) {
      return;
    }
    (m.content as unknown[]).forEach((part, j) => {
      if (isRecord(part)) {
        checkPart(part, `messages[${i}].content[${j}]`);
      }
    });
  });
}

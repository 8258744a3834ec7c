import { base64Tail, bytesAt, dataUrlOf, isDataUrl, mimeOfUrl } from '../data-url';
import type { ChatMessage, ContentPart } from '../domain';
import { imageExcessTokens, imageUrlWorstTokens } from './image-tokens';

/*
 * What the images, PDFs, audio and other files of a request may be billed as prompt tokens. The one definition that
 * admission's reservation (tokens-per-minute limits, spend budgets), the routing estimate (context window, cost
 * ranking), `count_tokens`, a stream's first prompt count and the billing fallback all use, through
 * estimateRequestTokens (tokens.ts). Providers bill these by content the gateway does not read (pages, seconds), so
 * the estimates come from sizes and headers, each a rough upper-ish bound; usage is settled to the provider's
 * reported count afterwards, and routing refuses no request on their account alone (route-plan.ts).
 *
 * Images are here for what their size may add to the fixed estimate estimatePromptTokens gives them (image-tokens.ts).
 *
 * Cost: a request without image, audio or file parts pays a loop over its messages (no string is read). One with them
 * pays per part the data URL's bounded header parse and, for audio, the decoding of at most a few hundred base64
 * characters: never a scan or a copy of the payload (its decoded size is worked out from its length).
 */

/**
 * A PDF page: Claude and OpenAI bill each page's text (Claude: ~1,500-3,000 tokens) and an image of it (~1,000-1,600),
 * Gemini 258 tokens. Reserved at the dense end of Claude's text range.
 */
export const PDF_TOKENS_PER_PAGE = 3_000;
/**
 * Pages are not counted (finding `/Type /Page` objects needs the whole file decoded, ~4 ms a MB on Node 20, and
 * misses the pages PDF 1.5+ writers put in compressed object streams): one page per 32 KiB of file. Text documents
 * run ~10-50 KiB a page (fonts included), scans 100 KiB and more, which this over-estimates.
 */
export const PDF_BYTES_PER_PAGE = 32 * 1024;
/** Claude and OpenAI take at most 100 pages a PDF; Gemini's 1,000 bill 258 tokens each, less than this. */
export const PDF_MAX_PAGES = 100;
/** A file named by `file_id` (uploaded to the provider), whose size the gateway never sees: five pages. */
export const FILE_REFERENCE_TOKENS = 5 * PDF_TOKENS_PER_PAGE;
/** Plain text sent as a file: ~4 bytes a token for English, ~3 for code and UTF-8 CJK. */
export const TEXT_FILE_BYTES_PER_TOKEN = 3;
/** Input audio: Gemini bills 32 tokens a second, OpenAI's audio models ~10; whichever serves, the larger. */
export const AUDIO_TOKENS_PER_SECOND = 32;
/** Video (Gemini): 258 tokens per frame at one frame a second plus 32 for the sound. */
export const VIDEO_TOKENS_PER_SECOND = 290;
/**
 * A video is reserved as at most this, a 100-page PDF's (~17 minutes at VIDEO_TOKENS_PER_SECOND): its bit rate is
 * assumed, not read, and a phone's runs 10-20 times the assumption, so a longer estimate would mostly be wrong.
 */
export const MAX_VIDEO_TOKENS = PDF_MAX_PAGES * PDF_TOKENS_PER_PAGE;

/** MP3 or other compressed audio whose bit rate is not read: 32 kbit/s, low-quality speech (4,000 bytes a second). */
const ASSUMED_AUDIO_BYTES_PER_SECOND = 4_000;
/** Video whose bit rate is not read: 256 kbit/s, a low-quality stream. */
const ASSUMED_VIDEO_BYTES_PER_SECOND = 32_000;
/** WAV without a readable `fmt ` chunk: 8 kHz 8-bit mono, the lowest rate in use. */
const ASSUMED_WAV_BYTES_PER_SECOND = 8_000;
/**
 * Lossless audio whose header is not read, FLAC and AIFF: as a WAV without one (FLAC of 8 kHz 16-bit speech runs
 * ~8-10 KB a second). At the compressed rate a 10 MB FLAC recording was reserved as ~20 times its length.
 */
const ASSUMED_LOSSLESS_BYTES_PER_SECOND = 8_000;
/** Raw 16-bit PCM (`audio/L16`, `pcm16`), whose rate parameter is not read: 8 kHz mono, the lowest in use. */
const ASSUMED_PCM16_BYTES_PER_SECOND = 16_000;
/** WAV above 48 kHz stereo 32-bit (a header can claim anything) is taken as that. */
const MAX_WAV_BYTES_PER_SECOND = 384_000;
/** MP3 frames above 128 kbit/s (the first frame's header speaks for a CBR file) are taken as 128 kbit/s. */
const MAX_MP3_KBPS = 128;
/** Base64 characters decoded to find a WAV `fmt ` chunk (after RIFF's header, behind a `JUNK`, `LIST` or `bext`). */
const WAV_HEADER_CHARS = 1_024;
/** Bytes after an ID3v2 tag searched for the first MP3 frame header (padding may come first). */
const MP3_SYNC_WINDOW = 256;

/**
 * Bytes `base64` decodes to, from its length up to its padding (`base64Tail`, as isBase64 reads it): line breaks
 * inside wrapped base64 count as data (up to 3% more), as counting them would scan the payload.
 */
export function decodedBytes(base64: string): number {
  return Math.floor((base64Tail(base64).end * 3) / 4);
}

/** A WAV file's bytes a second from its `fmt ` chunk (sample rate × block align), or null when there is none in reach. */
function wavBytesPerSecond(data: string): number | null {
  const head = Buffer.from(data.slice(0, WAV_HEADER_CHARS), 'base64');
  if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') {
    return null;
  }
  for (let at = 12; at + 8 <= head.length;) {
    const size = head.readUInt32LE(at + 4);
    if (head.toString('latin1', at, at + 4) === 'fmt ') {
      if (at + 24 > head.length) {
        return null;
      }
      const channels = head.readUInt16LE(at + 10);
      const sampleRate = head.readUInt32LE(at + 12);
      const bitsPerSample = head.readUInt16LE(at + 22);
      const rate = sampleRate * channels * Math.ceil(bitsPerSample / 8);
      return rate > 0 ? Math.min(rate, MAX_WAV_BYTES_PER_SECOND) : null;
    }
    at += 8 + size + (size % 2);
  }
  return null;
}

/** Layer III bit rates (kbit/s) by index: MPEG-1, then MPEG-2 and 2.5. */
const MP3_KBPS_V1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MP3_KBPS_V2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
/** Sample rates (Hz) by index: MPEG-1; MPEG-2 and 2.5 take a half and a quarter of them. */
const MP3_SAMPLE_RATES_V1 = [44_100, 48_000, 32_000];
/** The lowest Layer III bit rate (MPEG-2 and 2.5): a VBR header claiming a longer duration is taken as this. */
const MIN_MP3_KBPS = 8;
/** Bytes read from a frame's start for its VBR header: a `VBRI` tag at 36, its frame count 14 bytes on. */
const MP3_VBR_HEADER_BYTES = 56;

/** The first Layer III frame: its bit rate (kbit/s) and, from its header, what reading its VBR header needs. */
interface Mp3Frame {
  kbps: number;
  /** The frame's first byte, in the file. */
  at: number;
  /** 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5. */
  version: number;
  /** Hz; 0 for the reserved index. */
  sampleRate: number;
  mono: boolean;
}

/** The first Layer III frame past an ID3v2 tag; null when none is found in reach. */
function mp3Frame(data: string, bytes: number): Mp3Frame | null {
  let start = 0;
  const id3 = bytesAt(data, 0, 10);
  if (id3.length === 10 && id3.toString('latin1', 0, 3) === 'ID3') {
    // A syncsafe size (7 bits a byte), plus the header and, when flagged, the footer.
    const size = ((id3[6] & 0x7f) << 21) | ((id3[7] & 0x7f) << 14) | ((id3[8] & 0x7f) << 7) | (id3[9] & 0x7f);
    start = 10 + size + (id3[5] & 0x10 ? 10 : 0);
  }
  if (start >= bytes) {
    return null;
  }
  const window = bytesAt(data, start, Math.min(MP3_SYNC_WINDOW, bytes - start));
  for (let i = 0; i + 3 < window.length; i++) {
    const [b0, b1, b2, b3] = [window[i], window[i + 1], window[i + 2], window[i + 3]];
    const version = (b1 >> 3) & 3;
    // Frame sync, a known version, Layer III, a bit rate from the table (not free format, not the bad index).
    if (b0 === 0xff && (b1 & 0xe0) === 0xe0 && version !== 1 && ((b1 >> 1) & 3) === 1) {
      const index = b2 >> 4;
      if (index > 0 && index < 15) {
        const rateIndex = (b2 >> 2) & 3;
        const rate = rateIndex === 3 ? 0 : MP3_SAMPLE_RATES_V1[rateIndex] / (version === 3 ? 1 : version === 2 ? 2 : 4);
        const kbps = (version === 3 ? MP3_KBPS_V1 : MP3_KBPS_V2)[index];
        return { kbps, at: start + i, version, sampleRate: rate, mono: b3 >> 6 === 3 };
      }
    }
  }
  return null;
}

/**
 * The frames a VBR MP3's first frame counts, in its `Xing` (VBR) or `Info` (CBR) header behind the side information,
 * or its `VBRI` header (Fraunhofer) 32 bytes past the frame header; null when it has neither, or no count.
 */
function mp3FrameCount(data: string, frame: Mp3Frame): number | null {
  const head = bytesAt(data, frame.at, MP3_VBR_HEADER_BYTES);
  // Side information: 32 bytes (17 mono) for MPEG-1, 17 (9 mono) for MPEG-2 and 2.5.
  const xing = 4 + (frame.version === 3 ? (frame.mono ? 17 : 32) : frame.mono ? 9 : 17);
  const tag = head.toString('latin1', xing, xing + 4);
  if ((tag === 'Xing' || tag === 'Info') && head.length >= xing + 12) {
    // Flags, then the frame count when their lowest bit says it is there.
    return head.readUInt32BE(xing + 4) & 1 ? head.readUInt32BE(xing + 8) : null;
  }
  if (head.length >= 54 && head.toString('latin1', 36, 40) === 'VBRI') {
    return head.readUInt32BE(50);
  }
  return null;
}

/**
 * Seconds of an MP3 of `bytes` bytes: its VBR header's frame count × samples a frame ÷ sample rate when it has one
 * (a VBR file's first frame's bit rate speaks for no other), else its first frame's bit rate. Whatever a header
 * claims is taken as at most MAX_MP3_KBPS's bytes a second and at least MIN_MP3_KBPS's; null without a frame in reach.
 */
function mp3Seconds(data: string, bytes: number): number | null {
  const frame = mp3Frame(data, bytes);
  if (frame === null) {
    return null;
  }
  const shortest = bytes / ((MAX_MP3_KBPS * 1000) / 8);
  const frames = frame.sampleRate === 0 ? null : mp3FrameCount(data, frame);
  if (frames === null || frames === 0) {
    return Math.max(shortest, bytes / ((frame.kbps * 1000) / 8));
  }
  const samplesPerFrame = frame.version === 3 ? 1152 : 576;
  const longest = bytes / ((MIN_MP3_KBPS * 1000) / 8);
  return Math.min(longest, Math.max(shortest, (frames * samplesPerFrame) / frame.sampleRate));
}

/** Seconds of audio in base64 `data` of `format` (`wav`, `mp3`, or a MIME subtype such as `mpeg` or `ogg`). */
export function audioSeconds(data: string, format: string): number {
  const bytes = decodedBytes(data);
  if (bytes === 0) {
    return 0;
  }
  let perSecond = ASSUMED_AUDIO_BYTES_PER_SECOND;
  if (format === 'wav' || format === 'wave' || format === 'x-wav') {
    perSecond = wavBytesPerSecond(data) ?? ASSUMED_WAV_BYTES_PER_SECOND;
  } else if (format === 'flac' || format === 'x-flac' || format === 'aiff' || format === 'x-aiff') {
    perSecond = ASSUMED_LOSSLESS_BYTES_PER_SECOND;
  } else if (format === 'l16' || format === 'pcm16' || format === 'pcm') {
    perSecond = ASSUMED_PCM16_BYTES_PER_SECOND;
  } else if (format === 'mp3' || format === 'mpeg') {
    const seconds = mp3Seconds(data, bytes);
    if (seconds !== null) {
      return seconds;
    }
  }
  return bytes / perSecond;
}

function audioTokens(data: string, format: string): number {
  return Math.ceil(audioSeconds(data, format) * AUDIO_TOKENS_PER_SECOND);
}

/** Prompt tokens a PDF of `bytes` bytes is reserved as: a page per PDF_BYTES_PER_PAGE, 1 to PDF_MAX_PAGES pages. */
export function pdfTokens(bytes: number): number {
  return Math.min(PDF_MAX_PAGES, Math.max(1, Math.ceil(bytes / PDF_BYTES_PER_PAGE))) * PDF_TOKENS_PER_PAGE;
}

/** Prompt tokens of a file part's inline data, by its media type; a PDF's rate for a type with none of its own. */
function fileDataTokens(fileData: string): number {
  const data = dataUrlOf(fileData);
  if (data === null) {
    // The gateway refuses a file_data that is no base64 data URL; one that got here counts as a reference.
    return FILE_REFERENCE_TOKENS;
  }
  const { mimeType, base64 } = data;
  const slash = mimeType.indexOf('/');
  const kind = mimeType.slice(0, slash);
  const subtype = mimeType.slice(slash + 1);
  switch (kind) {
    case 'audio':
      return audioTokens(base64, subtype);
    case 'image':
      // By its size, as an image part is (image-tokens.ts).
      return imageUrlWorstTokens(fileData, false);
    case 'video':
      return Math.min(
        MAX_VIDEO_TOKENS,
        Math.ceil((decodedBytes(base64) / ASSUMED_VIDEO_BYTES_PER_SECOND) * VIDEO_TOKENS_PER_SECOND),
      );
    case 'text':
      return Math.ceil(decodedBytes(base64) / TEXT_FILE_BYTES_PER_TOKEN);
    default:
      // application/pdf, and documents of any other type Gemini may take.
      return pdfTokens(decodedBytes(base64));
  }
}

/**
 * A remote `image_url` naming a PDF (Gemini's `fileData` takes one by URL): a file of unknown size. Told by the type
 * the Gemini adapter sends it with (`mimeOfUrl`, from the parsed path), so that what is sent as a PDF is reserved as
 * one (`report.pdf ` with a trailing space, or a tab inside, was reserved as nothing).
 */
function isRemotePdf(url: string): boolean {
  return !isDataUrl(url) && mimeOfUrl(url) === 'application/pdf';
}

function partTokens(part: ContentPart): number {
  switch (part.type) {
    case 'input_audio':
      return audioTokens(part.input_audio.data, part.input_audio.format);
    case 'file':
      return part.file.file_data === undefined ? FILE_REFERENCE_TOKENS : fileDataTokens(part.file.file_data);
    case 'image_url':
      // estimatePromptTokens has an image at a fixed size; what its size may add is here, and a PDF by URL is a file
      // on top of that.
      return imageExcessTokens(part) + (isRemotePdf(part.image_url.url) ? FILE_REFERENCE_TOKENS : 0);
    case 'text':
      return 0;
  }
}

/**
 * Prompt tokens of a request's audio and file parts (PDFs, documents, audio, video, files by id, PDFs by URL), which
 * estimatePromptTokens leaves out and estimateRequestTokens adds, and what its images may be billed beyond the fixed
 * estimate estimatePromptTokens has for them (imageExcessTokens). 0 for a request without them.
 */
export function estimateMediaTokens(messages: readonly ChatMessage[]): number {
  let tokens = 0;
  for (const message of messages) {
    if (Array.isArray(message.content)) {
      for (const part of message.content) {
        if (part.type !== 'text') {
          tokens += partTokens(part);
        }
      }
    }
  }
  return tokens;
}

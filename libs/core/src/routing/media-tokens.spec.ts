import type { ChatMessage, ContentPart } from '../domain';
import {
  AUDIO_TOKENS_PER_SECOND,
  FILE_REFERENCE_TOKENS,
  MAX_VIDEO_TOKENS,
  PDF_BYTES_PER_PAGE,
  PDF_MAX_PAGES,
  PDF_TOKENS_PER_PAGE,
  audioSeconds,
  decodedBytes,
  estimateMediaTokens,
  pdfTokens,
} from './media-tokens';
import { IMAGE_TOKENS_HIGH_DETAIL, IMAGE_TOKENS_UNKNOWN_SIZE } from './image-tokens';
import { estimatePromptTokens } from './tokens';
import { mimeOfUrl } from '../data-url';

/** A PNG's signature and IHDR chunk: all of it an image's size is read from. */
function png(width: number, height: number): Buffer {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  return b;
}

function b64(bytes: number, head: Buffer = Buffer.alloc(0)): string {
  return Buffer.concat([head, Buffer.alloc(bytes - head.length, 0x55)]).toString('base64');
}

/** A WAV header: `extra` chunk bytes (a LIST chunk) before `fmt `, then `data`. */
function wavHeader(sampleRate: number, channels: number, bits: number, extra = 0): Buffer {
  const list = extra === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from('LIST'), u32(extra), Buffer.alloc(extra)]);
  const fmt = Buffer.alloc(24);
  fmt.write('fmt ', 0);
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8);
  fmt.writeUInt16LE(channels, 10);
  fmt.writeUInt32LE(sampleRate, 12);
  fmt.writeUInt32LE(sampleRate * channels * (bits / 8), 16);
  fmt.writeUInt16LE(channels * (bits / 8), 20);
  fmt.writeUInt16LE(bits, 22);
  return Buffer.concat([Buffer.from('RIFF'), u32(0), Buffer.from('WAVE'), list, fmt, Buffer.from('data'), u32(0)]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** An ID3v2 tag of `size` bytes of body (syncsafe), then an MPEG-1 Layer III frame header at `kbpsIndex`. */
function mp3Head(tagBody: number, kbpsIndex: number, padding = 0): Buffer {
  const tag =
    tagBody === 0
      ? Buffer.alloc(0)
      : Buffer.concat([
          Buffer.from([0x49, 0x44, 0x33, 4, 0, 0]),
          Buffer.from([(tagBody >> 21) & 0x7f, (tagBody >> 14) & 0x7f, (tagBody >> 7) & 0x7f, tagBody & 0x7f]),
          Buffer.alloc(tagBody, 0x20),
        ]);
  return Buffer.concat([tag, Buffer.alloc(padding), Buffer.from([0xff, 0xfb, (kbpsIndex << 4) | 0x04, 0x64])]);
}

/**
 * A VBR MP3's first frame (MPEG-1 Layer III, 128 kbit/s index, 48 kHz, joint stereo: 32 bytes of side information)
 * carrying a `Xing`/`Info` or a `VBRI` header that counts `frames` frames of 1,152 samples.
 */
function vbrHead(tag: 'Xing' | 'Info' | 'VBRI', frames: number, id3Body = 0): Buffer {
  const frame = Buffer.alloc(417);
  mp3Head(0, 9).copy(frame, 0);
  frame.write(tag, 36, 'latin1');
  if (tag === 'VBRI') {
    // Version, delay, quality (2 bytes each), the stream's bytes, then its frames.
    frame.writeUInt32BE(frames, 36 + 14);
  } else {
    frame.writeUInt32BE(0x0f, 40); // frames, bytes, TOC and quality present
    frame.writeUInt32BE(frames, 44);
  }
  return Buffer.concat([id3Body === 0 ? Buffer.alloc(0) : mp3Head(id3Body, 9).subarray(0, 10 + id3Body), frame]);
}

function user(parts: ContentPart[]): ChatMessage[] {
  return [{ role: 'user', content: [{ type: 'text', text: 'Look.' }, ...parts] }];
}

describe('decodedBytes', () => {
  it('is the decoded size of base64 from its length and padding', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 1000]) {
      expect(decodedBytes(Buffer.alloc(n).toString('base64'))).toBe(n);
    }
  });

  it('reads the padding as isBase64 does: past the line breaks that end wrapped base64, or without it', () => {
    expect(decodedBytes('aA==\n')).toBe(1);
    expect(decodedBytes('aGk=\r\n')).toBe(2);
    expect(decodedBytes('aGk')).toBe(2);
    // Line breaks inside count as data (no scan of the payload): at most 3% more.
    expect(decodedBytes('aGVs\nbG8=\n')).toBe(6);
  });
});

describe('audioSeconds', () => {
  it("reads a WAV's rate from its fmt chunk, behind a LIST chunk too", () => {
    // 10 s of 16 kHz 16-bit mono.
    expect(audioSeconds(b64(320_044, wavHeader(16_000, 1, 16)), 'wav')).toBeCloseTo(10, 2);
    expect(audioSeconds(b64(1_764_000, wavHeader(44_100, 2, 16, 300)), 'wav')).toBeCloseTo(10, 1);
  });

  it('takes a WAV without a readable header at 8,000 bytes a second, and a claimed rate past 384,000 as that', () => {
    expect(audioSeconds(b64(80_000), 'wav')).toBe(10);
    expect(audioSeconds(b64(3_840_000, wavHeader(192_000, 8, 32)), 'wav')).toBeCloseTo(10, 2);
  });

  it("reads an MP3's bit rate from its first frame, past an ID3 tag and padding; caps it at 128 kbit/s", () => {
    // Index 9: 128 kbit/s, 16,000 bytes a second.
    expect(audioSeconds(b64(160_000, mp3Head(0, 9)), 'mp3')).toBe(10);
    expect(audioSeconds(b64(160_000, mp3Head(5_000, 9, 7)), 'mp3')).toBe(10);
    // Index 5: 64 kbit/s; index 14: 320 kbit/s, taken as 128.
    expect(audioSeconds(b64(80_000, mp3Head(300, 5)), 'mp3')).toBe(10);
    expect(audioSeconds(b64(160_000, mp3Head(0, 14)), 'mp3')).toBe(10);
  });

  it("reads a VBR MP3's duration from its Xing, Info or VBRI frame count (the first frame's bit rate says nothing)", () => {
    // 2,500 frames of 1,152 samples at 48 kHz: 60 s in 200,000 bytes (~27 kbit/s); the first frame says 128 kbit/s.
    for (const tag of ['Xing', 'Info', 'VBRI'] as const) {
      expect([tag, audioSeconds(b64(200_000, vbrHead(tag, 2_500)), 'mp3')]).toEqual([tag, 60]);
    }
    expect(audioSeconds(b64(200_000, vbrHead('Xing', 2_500, 3_000)), 'mpeg')).toBe(60);
    // MPEG-2 mono at 22.05 kHz: 9 bytes of side information, 576 samples a frame.
    const v2 = Buffer.alloc(200);
    Buffer.from([0xff, 0xf3, 0x90, 0xc0]).copy(v2);
    v2.write('Xing', 4 + 9, 'latin1');
    v2.writeUInt32BE(1, 4 + 9 + 4);
    v2.writeUInt32BE(2_297, 4 + 9 + 8);
    expect(audioSeconds(b64(200_000, v2), 'mp3')).toBeCloseTo((2_297 * 576) / 22_050, 6);
  });

  it("bounds a VBR header's claim by the file's size: between 128 and 8 kbit/s", () => {
    expect(audioSeconds(b64(200_000, vbrHead('Xing', 1)), 'mp3')).toBe(200_000 / 16_000);
    expect(audioSeconds(b64(200_000, vbrHead('Xing', 10_000_000)), 'mp3')).toBe(200_000 / 1_000);
    // A Xing header without the frame count: the first frame's bit rate.
    const noCount = vbrHead('Xing', 2_500);
    noCount.writeUInt32BE(0x0e, 40);
    expect(audioSeconds(b64(200_000, noCount), 'mp3')).toBe(200_000 / 16_000);
  });

  it('takes an MP3 without a frame header in reach, and other formats, at 32 kbit/s', () => {
    expect(audioSeconds(b64(40_000), 'mp3')).toBe(10);
    expect(audioSeconds(b64(40_000), 'ogg')).toBe(10);
  });
});

/** What an image whose size is not read may be billed beyond the fixed estimate estimatePromptTokens gives it. */
const UNKNOWN_IMAGE_EXCESS = IMAGE_TOKENS_UNKNOWN_SIZE - IMAGE_TOKENS_HIGH_DETAIL;

describe('a PDF by URL', () => {
  const byUrl = (url: string): ChatMessage[] => [
    { role: 'user', content: [{ type: 'image_url', image_url: { url } }] },
  ];

  it('is reserved whenever the Gemini adapter would send it as a PDF (mimeOfUrl, from the parsed path)', () => {
    // A URL parser trims the spaces around a URL and drops tabs and line breaks inside it, as a fetch does.
    for (const url of [
      'https://h/report.pdf ',
      ' https://h/report.pdf',
      'https://h/report.pd\tf',
      'https://h/report.p\ndf',
      'https://h/a/report.PDF?x=1#page=2',
      'https://h/report.pdf#.png',
    ]) {
      expect(mimeOfUrl(url)).toBe('application/pdf');
      // On top of what an image of unknown size may add to its fixed estimate (the part is one, for the others).
      expect(estimateMediaTokens(byUrl(url))).toBe(FILE_REFERENCE_TOKENS + UNKNOWN_IMAGE_EXCESS);
    }
  });

  it('is not what the adapter sends as an image', () => {
    for (const url of ['https://h/photo.png', 'https://h/report.pdf.png', 'https://h/pdf', 'https://h/x?f=a.pdf']) {
      expect(mimeOfUrl(url)).not.toBe('application/pdf');
      expect(estimateMediaTokens(byUrl(url))).toBe(UNKNOWN_IMAGE_EXCESS);
    }
    // A data URL is an inline image, whatever it ends with.
    expect(estimateMediaTokens(byUrl(`data:image/png;base64,${b64(30)}#.pdf`))).toBe(UNKNOWN_IMAGE_EXCESS);
  });
});

describe('estimateMediaTokens', () => {
  it('is 0 for text and for an image its fixed estimate covers; what a larger one may add is in it', () => {
    expect(estimateMediaTokens([{ role: 'user', content: 'hello' }])).toBe(0);
    const image = (url: string): ChatMessage[] => user([{ type: 'image_url', image_url: { url } }]);
    // 512×512: within the 765 estimatePromptTokens counts.
    expect(estimateMediaTokens(image(`data:image/png;base64,${png(512, 512).toString('base64')}`))).toBe(0);
    // 2048×2048: Gemini's 9 tiles of 258 tokens, the most a provider bills for it.
    expect(estimateMediaTokens(image(`data:image/png;base64,${png(2048, 2048).toString('base64')}`))).toBe(
      9 * 258 - IMAGE_TOKENS_HIGH_DETAIL,
    );
    // A header not read: the most a provider bills for any one image.
    expect(estimateMediaTokens(image(`data:image/png;base64,${b64(100_000)}`))).toBe(UNKNOWN_IMAGE_EXCESS);
  });

  it('reserves a PDF as a page per 32 KiB, at least one, at most 100', () => {
    expect(pdfTokens(1)).toBe(PDF_TOKENS_PER_PAGE);
    expect(pdfTokens(10 * PDF_BYTES_PER_PAGE)).toBe(10 * PDF_TOKENS_PER_PAGE);
    expect(pdfTokens(10 * PDF_BYTES_PER_PAGE + 1)).toBe(11 * PDF_TOKENS_PER_PAGE);
    expect(pdfTokens(1e9)).toBe(PDF_MAX_PAGES * PDF_TOKENS_PER_PAGE);
    const file = (fileData: string): ContentPart => ({ type: 'file', file: { file_data: fileData } });
    expect(estimateMediaTokens(user([file(`data:application/pdf;base64,${b64(40 * PDF_BYTES_PER_PAGE)}`)]))).toBe(
      40 * PDF_TOKENS_PER_PAGE,
    );
    // Two PDFs in two messages add up.
    const two = [
      ...user([file(`data:application/pdf;base64,${b64(100)}`)]),
      ...user([file(`data:application/pdf;base64,${b64(100)}`)]),
    ];
    expect(estimateMediaTokens(two)).toBe(2 * PDF_TOKENS_PER_PAGE);
  });

  it('reserves files by their media type, a file_id and a PDF by URL at a fixed estimate', () => {
    const file = (fileData: string): ContentPart => ({ type: 'file', file: { file_data: fileData } });
    expect(estimateMediaTokens(user([file(`data:text/plain;base64,${b64(3_000)}`)]))).toBe(1_000);
    // An image sent as a file is one by its size, as an image part is; this one's header is not read.
    expect(estimateMediaTokens(user([file(`data:image/png;base64,${b64(3_000)}`)]))).toBe(IMAGE_TOKENS_UNKNOWN_SIZE);
    const wide = png(2048, 2048).toString('base64');
    expect(estimateMediaTokens(user([file(`data:image/png;base64,${wide}`)]))).toBe(9 * 258);
    expect(estimateMediaTokens(user([file(`data:audio/mpeg;base64,${b64(40_000)}`)]))).toBe(
      10 * AUDIO_TOKENS_PER_SECOND,
    );
    // 10 s of video at 256 kbit/s, 290 tokens a second.
    expect(estimateMediaTokens(user([file(`data:video/mp4;base64,${b64(320_000)}`)]))).toBe(2_900);
    // Capped as a PDF is: 40 MB would be ~21 minutes at the assumed rate (a phone's runs far higher).
    expect(estimateMediaTokens(user([file(`data:video/mp4;base64,${b64(40_000_000)}`)]))).toBe(MAX_VIDEO_TOKENS);
    expect(MAX_VIDEO_TOKENS).toBe(PDF_MAX_PAGES * PDF_TOKENS_PER_PAGE);
    // Lossless audio is not priced at a compressed rate: FLAC and AIFF as 8,000 bytes a second, L16 as 16,000.
    expect(estimateMediaTokens(user([file(`data:audio/flac;base64,${b64(80_000)}`)]))).toBe(
      10 * AUDIO_TOKENS_PER_SECOND,
    );
    expect(estimateMediaTokens(user([file(`data:audio/aiff;base64,${b64(80_000)}`)]))).toBe(
      10 * AUDIO_TOKENS_PER_SECOND,
    );
    expect(estimateMediaTokens(user([file(`data:audio/L16;base64,${b64(160_000)}`)]))).toBe(
      10 * AUDIO_TOKENS_PER_SECOND,
    );
    expect(estimateMediaTokens(user([{ type: 'file', file: { file_id: 'file-abc' } }]))).toBe(FILE_REFERENCE_TOKENS);
    expect(
      estimateMediaTokens(user([{ type: 'image_url', image_url: { url: 'https://example.com/a/report.PDF?x=1' } }])),
    ).toBe(FILE_REFERENCE_TOKENS + UNKNOWN_IMAGE_EXCESS);
  });

  it('reserves input audio by its duration, in tool results too', () => {
    const audio: ContentPart = {
      type: 'input_audio',
      input_audio: { data: b64(320_044, wavHeader(16_000, 1, 16)), format: 'wav' },
    };
    expect(estimateMediaTokens(user([audio]))).toBe(10 * AUDIO_TOKENS_PER_SECOND + 1);
    expect(estimateMediaTokens([{ role: 'tool', tool_call_id: 'c1', content: [audio] }])).toBe(
      10 * AUDIO_TOKENS_PER_SECOND + 1,
    );
  });

  it('reads wrapped base64 as a little more data, not less', () => {
    const wrapped = b64(3 * PDF_BYTES_PER_PAGE).replace(/(.{76})/g, '$1\n');
    const tokens = estimateMediaTokens(
      user([{ type: 'file', file: { file_data: `data:application/pdf;base64,${wrapped}` } }]),
    );
    expect(tokens).toBeGreaterThanOrEqual(3 * PDF_TOKENS_PER_PAGE);
    expect(tokens).toBeLessThanOrEqual(4 * PDF_TOKENS_PER_PAGE);
  });

  it('was missing from the prompt estimate: a 40-page PDF counted as its few words of text', () => {
    const messages = user([
      { type: 'file', file: { file_data: `data:application/pdf;base64,${b64(40 * PDF_BYTES_PER_PAGE)}` } },
    ]);
    expect(estimatePromptTokens(messages)).toBeLessThan(20);
    expect(estimatePromptTokens(messages) + estimateMediaTokens(messages)).toBeGreaterThan(120_000);
  });
});

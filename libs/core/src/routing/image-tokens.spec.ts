import { imageExcessTokens, imageSize, imageWorstTokens, IMAGE_TOKENS_UNKNOWN_SIZE } from './image-tokens';

const image = (url: string, detail?: 'low' | 'high') =>
  ({ type: 'image_url', image_url: detail === undefined ? { url } : { url, detail } }) as const;

function png(width: number, height: number): Buffer {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  return b;
}

/** A JPEG with an APP1 (EXIF) segment of `exif` bytes before its SOF0. */
function jpeg(width: number, height: number, exif = 100): Buffer {
  const app1 = Buffer.alloc(4 + exif);
  app1.writeUInt16BE(0xffe1, 0);
  app1.writeUInt16BE(2 + exif, 2);
  const sof = Buffer.alloc(19);
  sof.writeUInt16BE(0xffc0, 0);
  sof.writeUInt16BE(17, 2);
  sof.writeUInt8(8, 4);
  sof.writeUInt16BE(height, 5);
  sof.writeUInt16BE(width, 7);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app1, sof]);
}

const dataUrl = (type: string, b: Buffer): string => `data:${type};base64,${b.toString('base64')}`;

describe('imageSize', () => {
  it('reads PNG, GIF, JPEG (behind EXIF) and WebP headers', () => {
    expect(imageSize(png(2048, 768))).toEqual({ width: 2048, height: 768 });
    const gif = Buffer.from('GIF89a\x20\x03\x58\x02\x00\x00', 'latin1');
    expect(imageSize(gif)).toEqual({ width: 800, height: 600 });
    expect(imageSize(jpeg(4000, 3000, 30_000))).toEqual({ width: 4000, height: 3000 });
    const webp = Buffer.alloc(30);
    webp.write('RIFF', 0, 'latin1');
    webp.write('WEBPVP8X', 8, 'latin1');
    webp.writeUIntLE(1919, 24, 3);
    webp.writeUIntLE(1079, 27, 3);
    expect(imageSize(webp)).toEqual({ width: 1920, height: 1080 });
    expect(imageSize(Buffer.from('not an image'))).toBeNull();
  });
});

describe('imageWorstTokens', () => {
  it("takes the largest provider bill for the image's size", () => {
    // OpenAI: 2048×768 is 4 × 2 tiles.
    expect(imageWorstTokens(image(dataUrl('image/png', png(2048, 768))))).toBe(85 + 170 * 8);
    // Claude: 1000×1000 / 750 = 1334, above OpenAI's 4 tiles (765).
    expect(imageWorstTokens(image(dataUrl('image/png', png(1000, 1000))))).toBe(1334);
    // A small image: Gemini's 258 above OpenAI's one tile (255) and Claude's 14.
    expect(imageWorstTokens(image(dataUrl('image/png', png(100, 100))))).toBe(258);
    // Low detail is OpenAI's 85, but Claude reads the image whatever `detail` says.
    expect(imageWorstTokens(image(dataUrl('image/png', png(1000, 1000)), 'low'))).toBe(1334);
  });

  it('takes the largest bill for any image when its size is not known', () => {
    expect(imageWorstTokens(image('https://example.com/a.png'))).toBe(IMAGE_TOKENS_UNKNOWN_SIZE);
    expect(imageWorstTokens(image('data:image/png;base64,AAAA'))).toBe(IMAGE_TOKENS_UNKNOWN_SIZE);
  });
});

describe('imageExcessTokens', () => {
  it('is what an image may be billed beyond the fixed estimate', () => {
    const small = dataUrl('image/png', png(512, 512));
    // 512×512: Claude's 350, OpenAI's 255, Gemini's 258: within the 765 estimated.
    expect(imageExcessTokens(image(small))).toBe(0);
    const url = 'https://example.com/a.png';
    expect(imageExcessTokens(image(url))).toBe(IMAGE_TOKENS_UNKNOWN_SIZE - 765);
    expect(imageExcessTokens(image(url, 'low'))).toBe(IMAGE_TOKENS_UNKNOWN_SIZE - 85);
  });
});

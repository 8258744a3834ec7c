import { randomBytes } from 'node:crypto';
import { ApiKeyStore } from '@aigw/entities';
import { GatewayHarness, type ErrorEnvelope } from './support';

/*
 * What admission reserves for a request's PDFs and audio against a key's tokens-per-minute limit. They counted as 0
 * tokens: a PDF or a recording of megabytes was admitted as the few tokens of its text. Now a PDF is reserved as a page
 * (3,000 tokens) per 32 KiB and audio by its duration (32 tokens a second, from the WAV header or the MP3 frame's bit
 * rate), but only as far as the limit leaves: the estimate is rough (a scan is reserved as 3 times its pages and
 * more), so it never refuses a request for good; settlement corrects the counter to the provider's count.
 */

/** A PDF-like file of `bytes` bytes: a header, then incompressible bytes (scanned pages, embedded fonts). */
function pdf(bytes: number): string {
  const head = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n');
  return Buffer.concat([head, randomBytes(bytes - head.length)]).toString('base64');
}

/** A WAV file of `seconds` of 16 kHz 16-bit mono PCM (32,000 bytes a second), the samples random. */
function wav(seconds: number): string {
  const data = 32_000 * seconds;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(16_000, 24);
  header.writeUInt32LE(32_000, 28); // bytes a second
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data, 40);
  return Buffer.concat([header, randomBytes(data)]).toString('base64');
}

describe('admission of PDF and audio parts against a tokens-per-minute limit', () => {
  const h = new GatewayHarness({ MAX_BODY_BYTES: String(8 * 1024 * 1024) });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  async function keyWithTpm(name: string, tpm: number): Promise<string> {
    return (await h.app.get(ApiKeyStore).create({ userName: name, role: 'user', tpm })).key;
  }

  function withParts(parts: unknown[]): Record<string, unknown> {
    return {
      model: 'sim-gpt',
      max_tokens: 16,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarize this.' }, ...parts] }],
    };
  }

  function filePart(base64: string): Record<string, unknown> {
    return { type: 'file', file: { filename: 'doc.pdf', file_data: `data:application/pdf;base64,${base64}` } };
  }

  async function refusal(res: Response): Promise<string> {
    expect(res.status).toBe(429);
    expect(res.headers.get('x-should-retry')).toBe('false');
    return ((await res.json()) as ErrorEnvelope).error.message;
  }

  it('admits a 1.3 MB PDF (40 pages) larger than the limit, reserving what the minute leaves; refuses its text for good', async () => {
    const key = await keyWithTpm('media-pdf', 50_000);
    const big = pdf(40 * 32 * 1024);
    // The same bytes as text: refused as too large on its own (the gateway counts text, it guesses files).
    const asText = await h.post(
      '/v1/chat/completions',
      { model: 'sim-gpt', max_tokens: 16, messages: [{ role: 'user', content: big }] },
      h.headers(key),
    );
    expect(await refusal(asText)).toMatch(/^Request too large for the tokens per minute of this key \(50000\)/);

    // As a file, estimated at 120,000 tokens: the 50,000 the minute has are reserved, not a refusal for good.
    const res = await h.post('/v1/chat/completions', withParts([filePart(big)]), h.headers(key));
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('x-ratelimit-remaining-tokens'))).toBe(0);
  });

  it('admits a 1-page PDF reserved as its page', async () => {
    const key = await keyWithTpm('media-pdf-small', 50_000);
    const small = await h.post('/v1/chat/completions', withParts([filePart(pdf(20_000))]), h.headers(key));
    expect(small.status).toBe(200);
    const remaining = Number(small.headers.get('x-ratelimit-remaining-tokens'));
    expect(remaining).toBeLessThanOrEqual(50_000 - 3_000 - 16);
    expect(remaining).toBeGreaterThan(50_000 - 3_100 - 16);
  });

  it('refuses a request with a PDF for good only for the rest of it, and says its files were left out', async () => {
    const key = await keyWithTpm('media-pdf-max', 1_000);
    const message = await refusal(
      await h.post(
        '/v1/chat/completions',
        { ...withParts([filePart(pdf(20_000))]), max_tokens: 2_000 },
        h.headers(key),
      ),
    );
    expect(message).toMatch(
      /^Request too large for the tokens per minute of this key \(1000\): it asks 20\d\d tokens \(the prompt estimate without its file and audio parts plus max_tokens\)/,
    );
    expect(message).toContain('Waiting will not help; lower max_tokens.');
  });

  it('admits the same PDF sent as a /v1/messages document block', async () => {
    const key = await keyWithTpm('media-doc', 50_000);
    const body = {
      model: 'sim-gpt',
      max_tokens: 16,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf(40 * 32 * 1024) } },
            { type: 'text', text: 'Summarize this.' },
          ],
        },
      ],
    };
    const res = await h.post('/v1/messages', body, h.headers(key));
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('x-ratelimit-remaining-tokens'))).toBe(0);
  });

  it('admits two minutes of audio past the limit as what the minute leaves, five seconds reserved by their duration', async () => {
    const long = await h.post(
      '/v1/chat/completions',
      withParts([{ type: 'input_audio', input_audio: { data: wav(120), format: 'wav' } }]),
      h.headers(await keyWithTpm('media-audio-long', 3_000)),
    );
    // 120 s at 32 tokens a second (3,840) is more than the 3,000 a minute: all of them reserved.
    expect(long.status).toBe(200);
    expect(Number(long.headers.get('x-ratelimit-remaining-tokens'))).toBe(0);

    const key = await keyWithTpm('media-audio', 3_000);
    const short = await h.post(
      '/v1/chat/completions',
      withParts([{ type: 'input_audio', input_audio: { data: wav(5), format: 'wav' } }]),
      h.headers(key),
    );
    expect(short.status).toBe(200);
    const remaining = Number(short.headers.get('x-ratelimit-remaining-tokens'));
    expect(remaining).toBeLessThanOrEqual(3_000 - 160 - 16);
    expect(remaining).toBeGreaterThan(3_000 - 260 - 16);
  });
});

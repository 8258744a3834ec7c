import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IMAGE_TOKENS_HIGH_DETAIL } from '@aigw/core';
import { GatewayHarness, type ErrorEnvelope } from './support';

/*
 * Image URLs, audio and file data whose strings no provider can read. They passed the DTO rules (which check the
 * parts' shapes) and went on: Claude was sent `data:;base64,...` as an image URL to fetch, Gemini a `fileData` URI
 * of `data:...` or of any text, and bad base64 reached every family. OpenAI answers these with a 400 naming the
 * field; so does the gateway now, before anything is queued.
 */

const dir = mkdtempSync(path.join(os.tmpdir(), 'aigw-media-'));
const catalog = path.join(dir, 'providers.yaml');
// Vision deployments of the three families that take images; the stand-in worker answers, nothing calls them.
writeFileSync(
  catalog,
  `providers:
  - id: oa
    kind: openai
    baseUrl: http://127.0.0.1:9/v1
    apiKey: sk-media-test
    models:
      - { name: vis, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 128000, capabilities: [chat, streaming, vision] }
  - id: cl
    kind: anthropic
    baseUrl: http://127.0.0.1:9
    apiKey: sk-media-test
    models:
      - { name: vis, promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 200000, capabilities: [chat, streaming, vision] }
  - id: ge
    kind: gemini
    baseUrl: http://127.0.0.1:9/v1beta
    apiKey: sk-media-test
    models:
      - { name: vis, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 1000000, capabilities: [chat, streaming, vision] }
  - id: ol
    kind: ollama
    baseUrl: http://127.0.0.1:9
    models:
      - { name: llava, promptPer1k: 0, completionPer1k: 0, contextWindow: 8192, capabilities: [chat, streaming, vision] }
`,
);

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

function withImage(url: string): Record<string, unknown> {
  return {
    model: 'vis',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in it?' },
          { type: 'image_url', image_url: { url, detail: 'low' } },
        ],
      },
    ],
  };
}

function withPart(part: Record<string, unknown>): Record<string, unknown> {
  return { model: 'vis', messages: [{ role: 'user', content: [part] }] };
}

describe('media in content parts', () => {
  // Room for the 4 MB image URL below (the default limit is 2 MB).
  const h = new GatewayHarness({ PROVIDERS_FILE: catalog, MAX_BODY_BYTES: String(8 * 1024 * 1024) });

  beforeAll(() => h.start(), 60_000);
  afterAll(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const IMAGE_PARAM = 'messages[0].content[1].image_url.url';
  const refused: [string, string, Record<string, unknown>, string, RegExp][] = [
    [
      'an image data URL without a media type',
      '/v1/chat/completions',
      withImage(`data:;base64,${PNG}`),
      IMAGE_PARAM,
      /media type/,
    ],
    [
      'an image data URL that is not base64',
      '/v1/chat/completions',
      withImage('data:image/png,rawbytes'),
      IMAGE_PARAM,
      /base64 data URL/,
    ],
    [
      'bad base64 in an image data URL',
      '/v1/chat/completions',
      withImage('data:image/png;base64,@@not base64!'),
      IMAGE_PARAM,
      /not base64/,
    ],
    [
      'a data URL of text in an image part',
      '/v1/chat/completions',
      withImage('data:text/plain;base64,aGk='),
      IMAGE_PARAM,
      /not an image/,
    ],
    [
      'an image URL of another scheme',
      '/v1/chat/completions',
      withImage('ftp://example.com/cat.png'),
      IMAGE_PARAM,
      /http\(s\) URL/,
    ],
    ['an image URL that is no URL', '/v1/chat/completions', withImage('cat.png'), IMAGE_PARAM, /http\(s\) URL/],
    [
      'file data without its data: prefix',
      '/v1/chat/completions',
      withPart({ type: 'file', file: { file_data: 'JVBERi0xLjQ=', filename: 'a.pdf' } }),
      'messages[0].content[0].file.file_data',
      /data URL/,
    ],
    [
      'audio that is not base64',
      '/v1/chat/completions',
      withPart({ type: 'input_audio', input_audio: { data: 'not base64 at all', format: 'wav' } }),
      'messages[0].content[0].input_audio.data',
      /base64/,
    ],
    ['a native request', '/api/v1/ai/generate', withImage('data:image/png;base64,%%%'), IMAGE_PARAM, /not base64/],
  ];

  it.each(refused)('%s: 400 naming the field, nothing queued', async (_name, route, body, param, message) => {
    const before = h.jobsSeen.length;
    const res = await h.post(route, body);
    const envelope = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(400);
    expect(envelope.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', param });
    expect(envelope.error.message).toMatch(message);
    expect(h.jobsSeen.length).toBe(before);
  });

  it('refuses a data URL whose header is megabytes of semicolons with a 400, not a 500', async () => {
    // The data URL's regular expression backtracked over them: 4 MB overflowed the stack (RangeError, a 500).
    const before = h.jobsSeen.length;
    const res = await h.post('/v1/chat/completions', withImage('data:a' + ';'.repeat(4_000_000)));
    const envelope = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(400);
    expect(envelope.error).toMatchObject({ code: 'invalid_request', param: IMAGE_PARAM });
    expect(h.jobsSeen.length).toBe(before);
  });

  it('refuses bad base64 in an Anthropic image block on /v1/messages', async () => {
    const before = h.jobsSeen.length;
    const res = await h.post('/v1/messages', {
      model: 'vis',
      max_tokens: 10,
      messages: [
        {
          role: 'user',
          content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'no!' } }],
        },
      ],
    });
    const body = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(400);
    expect(body.error.param).toBe('messages[0].content[0].source.data');
    expect(h.jobsSeen.length).toBe(before);
  });

  it('refuses an image by URL for a model only Ollama serves (base64 images only), before queueing it', async () => {
    const before = h.jobsSeen.length;
    const res = await h.post('/v1/chat/completions', { ...withImage('https://example.com/cat.png'), model: 'llava' });
    const envelope = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(400);
    expect(envelope.error).toMatchObject({ code: 'unsupported_parameter', param: 'messages' });
    expect(envelope.error.message).toMatch(/image by http\(s\) URL .* \(ollama API\)/);
    expect(h.jobsSeen.length).toBe(before);
    h.handle((job) => h.answer(job, 'a cat'));
    const inline = await h.post('/v1/chat/completions', {
      ...withImage(`data:image/png;base64,${PNG}`),
      model: 'llava',
    });
    expect(inline.status).toBe(200);
  });

  it('refuses a file Claude cannot read (file_id, an image as file_data) for a Claude deployment, before queueing', async () => {
    // Routing let every file part reach Anthropic, whose adapter refused it in the worker after a queue hop.
    const before = h.jobsSeen.length;
    for (const [file, wording] of [
      [{ file_id: 'file-abc123' }, /^A file by file_id .* \(anthropic API\)/],
      [{ file_data: `data:image/png;base64,${PNG}` }, /^A file other than a PDF or plain text .* \(anthropic API\)/],
    ] as const) {
      const res = await h.post('/v1/chat/completions', { ...withPart({ type: 'file', file }), model: 'cl/vis' });
      const envelope = (await res.json()) as ErrorEnvelope;
      expect(res.status).toBe(400);
      expect(envelope.error).toMatchObject({ code: 'unsupported_parameter', param: 'messages' });
      expect(envelope.error.message).toMatch(wording);
    }
    expect(h.jobsSeen.length).toBe(before);
    h.handle((job) => h.answer(job, 'a report'));
    const pdf = await h.post('/v1/chat/completions', {
      ...withPart({ type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0xLjQ=' } }),
      model: 'cl/vis',
    });
    expect(pdf.status).toBe(200);
  });

  it('takes a PDF or text document block on /v1/messages as a file part, title and cache mark kept', async () => {
    let sent: unknown;
    h.handle((job) => {
      sent = job.data.request.messages;
      return h.answer(job, 'a report');
    });
    const pdf = Buffer.from('%PDF-1.4 a report').toString('base64');
    const res = await h.post('/v1/messages', {
      model: 'vis',
      max_tokens: 10,
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'document',
              source: { type: 'base64', media_type: 'application/pdf', data: pdf },
              title: 'report.pdf',
              cache_control: { type: 'ephemeral' },
            },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'été' } },
            { type: 'text', text: 'Summarise.' },
          ],
        },
      ],
    });
    expect(res.status).toBe(200);
    expect(sent).toEqual([
      {
        role: 'user',
        content: [
          {
            type: 'file',
            file: { file_data: `data:application/pdf;base64,${pdf}`, filename: 'report.pdf' },
            cache_control: { type: 'ephemeral' },
          },
          { type: 'file', file: { file_data: `data:text/plain;base64,${Buffer.from('été').toString('base64')}` } },
          { type: 'text', text: 'Summarise.' },
        ],
      },
    ]);
  });

  it('refuses a document by URL on /v1/messages, naming its source type', async () => {
    const before = h.jobsSeen.length;
    const res = await h.post('/v1/messages', {
      model: 'vis',
      max_tokens: 10,
      messages: [
        { role: 'user', content: [{ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }] },
      ],
    });
    const body = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(400);
    expect(body.error.param).toBe('messages[0].content[0].source.type');
    expect(h.jobsSeen.length).toBe(before);
  });

  it('takes base64 wrapped in lines (\\n, \\r\\n) and queues it unwrapped, for chat and /v1/messages', async () => {
    // The `base64` CLI and Python's encodebytes wrap at 76 characters. Refused with a 400 before, though Ollama (Go)
    // and Python servers decode it; Claude and Gemini refuse it, so the gateway queues it without the line breaks.
    const bytes = Buffer.alloc(200, 9).toString('base64');
    const wrap = (b64: string, eol: string): string => b64.replace(/.{76}/g, `$&${eol}`) + eol;
    const seen: unknown[] = [];
    h.handle((job) => {
      seen.push(job.data.request.messages[0].content);
      return h.answer(job, 'ok');
    });
    const chat = await h.post('/v1/chat/completions', {
      model: 'vis',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: `data:image/png;base64,${wrap(bytes, '\n')}` } },
            { type: 'input_audio', input_audio: { data: wrap(bytes, '\r\n'), format: 'wav' } },
            { type: 'file', file: { file_data: `data:application/pdf;base64,${wrap(bytes, '\r\n')}` } },
          ],
        },
      ],
    });
    expect(chat.status).toBe(200);
    const messages = await h.post('/v1/messages', {
      model: 'vis',
      max_tokens: 10,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: wrap(bytes, '\n') } },
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: wrap(bytes, '\r\n') } },
          ],
        },
      ],
    });
    expect(messages.status).toBe(200);
    expect(seen).toEqual([
      [
        { type: 'image_url', image_url: { url: `data:image/png;base64,${bytes}` } },
        { type: 'input_audio', input_audio: { data: bytes, format: 'wav' } },
        { type: 'file', file: { file_data: `data:application/pdf;base64,${bytes}` } },
      ],
      [
        { type: 'image_url', image_url: { url: `data:image/png;base64,${bytes}` } },
        { type: 'file', file: { file_data: `data:application/pdf;base64,${bytes}` } },
      ],
    ]);
  });

  it('takes an image URL whose scheme is upper case on /v1/messages as on chat completions', async () => {
    // Chat completions took HTTPS://... (case-insensitive, URL.canParse); /v1/messages refused it (case-sensitive).
    const url = 'HTTPS://example.com/cat.png';
    const seen: unknown[] = [];
    h.handle((job) => {
      seen.push(job.data.request.messages[0].content);
      return h.answer(job, 'a cat');
    });
    const chat = await h.post('/v1/chat/completions', withPart({ type: 'image_url', image_url: { url } }));
    expect(chat.status).toBe(200);
    const messages = await h.post('/v1/messages', {
      model: 'vis',
      max_tokens: 10,
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url } }] }],
    });
    expect(messages.status).toBe(200);
    expect(seen).toEqual([[{ type: 'image_url', image_url: { url } }], [{ type: 'image_url', image_url: { url } }]]);
    for (const bad of ['https://exa mple.com/cat.png', 'ftp://example.com/cat.png']) {
      const res = await h.post('/v1/messages', {
        model: 'vis',
        max_tokens: 10,
        messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: bad } }] }],
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorEnvelope).error.param).toBe('messages[0].content[0].source.url');
    }
  });

  const accepted: [string, string][] = [
    ['an https URL', 'https://example.com/cat.png'],
    ['a png data URL', `data:image/png;base64,${PNG}`],
    ['a data URL with a name parameter, image/jpg and unpadded base64', 'data:image/jpg;name=a.jpg;base64,/9j/4AA'],
  ];

  it.each(accepted)('takes %s', async (_name, url) => {
    let sent: unknown;
    h.handle((job) => {
      sent = job.data.request.messages[0].content;
      return h.answer(job, 'a cat');
    });
    const res = await h.post('/v1/chat/completions', withImage(url));
    expect(res.status).toBe(200);
    expect((sent as unknown[])[1]).toEqual({ type: 'image_url', image_url: { url, detail: 'low' } });
  });

  it('count_tokens counts an image by its size, as admission reserves it (it counted every image as 765 tokens)', async () => {
    const png = (width: number, height: number): string => {
      const b = Buffer.alloc(33);
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
      b.writeUInt32BE(13, 8);
      b.write('IHDR', 12, 'latin1');
      b.writeUInt32BE(width, 16);
      b.writeUInt32BE(height, 20);
      return b.toString('base64');
    };
    const counted = async (width: number, height: number): Promise<number> => {
      const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png(width, height) } };
      const res = await h.post('/v1/messages/count_tokens', {
        model: 'cl/vis',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe it.' }, image] }],
      });
      const body = (await res.json()) as { input_tokens: number };
      expect([res.status, body]).toEqual([200, { input_tokens: expect.any(Number) }]);
      return body.input_tokens;
    };
    // 512×512 bills at most 350 (Claude): the fixed 765 covers it. 2048×2048: Gemini's 9 tiles of 258, 1,557 more.
    const small = await counted(512, 512);
    expect((await counted(2048, 2048)) - small).toBe(9 * 258 - IMAGE_TOKENS_HIGH_DETAIL);
  });
});

import { AdapterRegistry, type AdapterRequest, type AdapterTarget, HttpPool } from '@aigw/adapters';
import type { ProviderKind } from '@aigw/core';
import type { ServerResponse } from 'node:http';
import { collect, textOf } from './support/calls';
import { FakeUpstream, sleep, sseEvent, within } from './support/fake-upstream';

/** Two- three- and four-byte characters, each split by the three-byte writes below. */
const PIECES = ['Grüße ', '日本語 ', '👋🏽', ' ✓'];
const TEXT = PIECES.join('');

/** Each family's stream of PIECES, as its server writes it. */
type Family = Exclude<ProviderKind, 'plugin'>;

const STREAMS: Record<Family, { contentType: string; body: string; baseUrl: (origin: string) => string }> = {
  openai: {
    contentType: 'text/event-stream',
    baseUrl: (o) => `${o}/v1`,
    body:
      PIECES.map((t) =>
        sseEvent({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: t } }] }),
      ).join('') +
      sseEvent({
        id: 'c1',
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
      }) +
      sseEvent('[DONE]'),
  },
  anthropic: {
    contentType: 'text/event-stream',
    baseUrl: (o) => o,
    body: [
      sseEvent(
        { type: 'message_start', message: { id: 'm1', usage: { input_tokens: 3, output_tokens: 1 } } },
        'message_start',
      ),
      sseEvent(
        { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
        'content_block_start',
      ),
      ...PIECES.map((t) =>
        sseEvent(
          { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } },
          'content_block_delta',
        ),
      ),
      sseEvent({ type: 'content_block_stop', index: 0 }, 'content_block_stop'),
      sseEvent(
        { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 4 } },
        'message_delta',
      ),
      sseEvent({ type: 'message_stop' }, 'message_stop'),
    ].join(''),
  },
  gemini: {
    contentType: 'text/event-stream',
    baseUrl: (o) => `${o}/v1beta`,
    body: PIECES.map((t, i) =>
      sseEvent({
        candidates: [
          {
            content: { role: 'model', parts: [{ text: t }] },
            ...(i === PIECES.length - 1 ? { finishReason: 'STOP' } : {}),
          },
        ],
      }),
    ).join(''),
  },
  tgi: {
    contentType: 'text/event-stream',
    baseUrl: (o) => o,
    body:
      PIECES.map((t) =>
        sseEvent({ index: 1, token: { id: 1, text: t, logprob: 0, special: false }, details: null }),
      ).join('') +
      sseEvent({
        index: 2,
        token: { id: 2, text: '', logprob: 0, special: true },
        generated_text: TEXT,
        details: { finish_reason: 'eos_token', generated_tokens: 4, input_length: 3 },
      }),
  },
  ollama: {
    contentType: 'application/x-ndjson',
    baseUrl: (o) => o,
    body:
      PIECES.map(
        (t) => JSON.stringify({ model: 'm', message: { role: 'assistant', content: t }, done: false }) + '\n',
      ).join('') +
      JSON.stringify({ model: 'm', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop' }) +
      '\n',
  },
};

/** Writes `body` three bytes at a time, pausing between writes so the pieces reach the client apart. */
async function inThreeByteWrites(res: ServerResponse, contentType: string, body: string): Promise<void> {
  res.writeHead(200, { 'content-type': contentType });
  const bytes = Buffer.from(body, 'utf8');
  for (let i = 0; i < bytes.length && !res.destroyed; i += 3) {
    res.write(bytes.subarray(i, i + 3));
    await sleep(1);
  }
  res.end();
}

describe('streams whose bytes arrive split inside characters, every family', () => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let registry: AdapterRegistry;
  const never = new AbortController().signal;

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool();
    registry = new AdapterRegistry(pool);
  });

  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  it.each(Object.keys(STREAMS) as Family[])('%s: the text comes out whole, character for character', async (family) => {
    const { contentType, body, baseUrl } = STREAMS[family];
    up.handler = (_req, res) => inThreeByteWrites(res, contentType, body);
    const target: AdapterTarget = {
      baseUrl: baseUrl(up.origin),
      apiKey: 'k',
      model: 'm',
      timeoutMs: 5000,
      poolKey: family,
    };
    const req: AdapterRequest = { target, messages: [{ role: 'user', content: 'Hi' }], options: {} };
    const deltas = await within(20_000, family, collect(registry.get(family).stream(req, never)));
    expect(textOf(deltas)).toBe(TEXT);
    expect(deltas.some((d) => d.finishReason !== undefined && d.finishReason !== null)).toBe(true);
  });
});

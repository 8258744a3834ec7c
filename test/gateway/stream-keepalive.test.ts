import { chat, GatewayHarness, sseEvents, type GenerateJob } from './support';

/** How often a quiet stream is kept alive here: short, so the test does not wait the default 15 s. */
const KEEPALIVE_MS = 200;

/**
 * Reads `res` until what came holds `until` after `from`, or fails after `giveUpMs` (a keep-alive never came).
 * Returns what was read; the rest stays unread on `reader`.
 */
async function readFor(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  from: string,
  until: string,
  giveUpMs = 5_000,
): Promise<string> {
  let received = '';
  const decoder = new TextDecoder();
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(until)} after ${JSON.stringify(from)}`)), giveUpMs);
  });
  try {
    for (;;) {
      const at = received.indexOf(from);
      if (at !== -1 && received.indexOf(until, at + from.length) !== -1) {
        return received;
      }
      const part = await Promise.race([reader.read(), gaveUp]);
      if (part.done) {
        throw new Error(`the stream ended before ${JSON.stringify(until)} came: ${received}`);
      }
      received += decoder.decode(part.value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
  }
}

async function rest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let received = '';
  for (;;) {
    const part = await reader.read();
    if (part.done) {
      return received + decoder.decode();
    }
    received += decoder.decode(part.value, { stream: true });
  }
}

/**
 * A stream whose provider goes quiet after its first token (a model thinking without showing it, a slow tool-call
 * argument) is kept alive, so a proxy or client read timeout in front of the gateway does not cut it: an SSE comment
 * on /v1/chat/completions (as OpenRouter sends), Anthropic's own `ping` event on /v1/messages.
 */
describe('SSE keep-alive while a started stream is quiet', () => {
  const h = new GatewayHarness({ SSE_KEEPALIVE_MS: String(KEEPALIVE_MS) });
  /** Lets the stand-in worker go on with the rest of the answer. */
  let resume: () => void = () => undefined;

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  beforeEach(() => {
    const resumed = new Promise<void>((resolve) => (resume = resolve));
    h.handle(async (job: GenerateJob) => {
      const jobId = job.id ?? '';
      const result = h.result(job.data.request, 'first second');
      await h.publish(job, h.startMessage(job));
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'first' });
      await resumed;
      await h.publish(job, { t: 'chunk', jobId, seq: 1, text: ' second' });
      await h.publish(job, { t: 'end', jobId, result });
      return { ok: true, result };
    });
  });
  afterEach(() => resume());

  it('/v1/chat/completions: an SSE comment, which OpenAI clients skip', async () => {
    const res = await h.post('/v1/chat/completions', chat('x', { stream: true }));
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const before = await readFor(reader, '"first"', '\n: keep-alive\n\n');
    resume();
    const body = before + (await rest(reader));
    // Still a well-formed stream: the comment is no event, the answer and [DONE] follow.
    const { payloads } = await sseEvents(new Response(body));
    const text = payloads
      .slice(1, -1)
      .map((p) => (p as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
      .join('');
    expect(text).toBe('first second');
    expect(payloads.at(-1)).toBe('[DONE]');
  });

  it("/v1/messages: Anthropic's ping event", async () => {
    const res = await h.post('/v1/messages', {
      model: 'sim-gpt',
      max_tokens: 16,
      stream: true,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const before = await readFor(reader, '"text":"first"', 'event: ping\ndata: {"type":"ping"}\n\n');
    resume();
    const body = before + (await rest(reader));
    const { events } = await sseEvents(new Response(body));
    expect(events.filter((e) => e.event !== 'ping').map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
  });
});

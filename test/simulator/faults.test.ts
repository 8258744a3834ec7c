import { DEFAULT_SIMULATOR_CONFIG, ProviderSimulator, type SseEvent, waitFor } from '@aigw/testing';
import { chat, events, message, postJson, readUntilBroken, type Reply } from './support';

interface WireCase {
  name: string;
  path: string;
  body: (patch?: Record<string, unknown>) => Record<string, unknown>;
  /** Parsed content-delta events (a data line that is not JSON is not counted). */
  contentEvents(evs: SseEvent[]): number;
  /** The stream reached its normal end marker. */
  completed(evs: SseEvent[]): boolean;
  /** The last event is the provider's in-band error. */
  endsWithError(evs: SseEvent[]): boolean;
  errorType(status: number): string;
}

const tryParse = (data: string): Record<string, unknown> | null => {
  try {
    return JSON.parse(data) as Record<string, unknown>;
  } catch {
    return null;
  }
};

const openai: WireCase = {
  name: 'openai',
  path: '/v1/chat/completions',
  body: chat,
  contentEvents: (evs) =>
    evs.filter((e) => {
      const d = tryParse(e.data) as { choices?: { delta: { role?: string; content?: string } }[] } | null;
      const delta = d?.choices?.[0]?.delta;
      return delta !== undefined && delta.role === undefined && delta.content !== undefined;
    }).length,
  completed: (evs) => evs.at(-1)?.data === '[DONE]',
  endsWithError: (evs) => tryParse(evs.at(-1)?.data ?? '')?.error !== undefined,
  errorType: (status) => (status === 429 ? 'requests' : 'server_error'),
};

const anthropic: WireCase = {
  name: 'anthropic',
  path: '/v1/messages',
  body: message,
  contentEvents: (evs) => evs.filter((e) => e.event === 'content_block_delta' && tryParse(e.data) !== null).length,
  completed: (evs) => evs.at(-1)?.event === 'message_stop',
  endsWithError: (evs) => evs.at(-1)?.event === 'error',
  errorType: (status) => (status === 429 ? 'rate_limit_error' : 'overloaded_error'),
};

function errorTypeOf(reply: Reply): string | undefined {
  return (JSON.parse(reply.text) as { error?: { type?: string } }).error?.type;
}

describe.each([openai, anthropic])('simulator faults ($name)', (wire) => {
  const sim = new ProviderSimulator();
  let url: string;

  beforeAll(async () => {
    await sim.start();
    url = sim.url + wire.path;
  });
  afterAll(() => sim.stop());
  beforeEach(() => {
    sim.configure({ ...DEFAULT_SIMULATOR_CONFIG, completionTokens: 6, failAfterChunks: 2 });
    sim.reset();
  });

  it('status: answers the provider error with Retry-After, then recovers', async () => {
    sim.configure({ failNext: 1, failStatus: [429], retryAfterS: 7 });
    const failed = await postJson(url, wire.body());
    expect(failed.status).toBe(429);
    expect(failed.headers.get('retry-after')).toBe('7');
    expect(failed.headers.get('x-simulator')).toBe('true');
    expect(errorTypeOf(failed)).toBe(wire.errorType(429));
    const ok = await postJson(url, wire.body());
    expect(ok.status).toBe(200);
    expect(sim.stats().byStatus).toEqual({ '200': 1, '429': 1 });
  });

  it('status: sends no Retry-After unless configured, and fails streams before they start', async () => {
    sim.configure({ failNext: 1 });
    const failed = await postJson(url, wire.body({ stream: true }));
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBeNull();
    expect(errorTypeOf(failed)).toBe(wire.errorType(503));
    expect(sim.stats().streams).toBe(0);
  });

  it('malformed: 200 with a body that is not JSON', async () => {
    sim.configure({ failNext: 1, failMode: 'malformed' });
    const reply = await postJson(url, wire.body());
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('application/json');
    expect(() => JSON.parse(reply.text) as unknown).toThrow(SyntaxError);
  });

  it('malformed: a stream whose data line is broken after failAfterChunks chunks', async () => {
    sim.configure({ failNext: 1, failMode: 'malformed' });
    const evs = events(await postJson(url, wire.body({ stream: true })));
    expect(wire.contentEvents(evs)).toBe(2);
    expect(tryParse(evs.at(-1)!.data)).toBeNull();
    expect(wire.completed(evs)).toBe(false);
  });

  it('drop: the connection closes without a response', async () => {
    sim.configure({ failNext: 2, failMode: 'drop' });
    await expect(postJson(url, wire.body())).rejects.toThrow();
    await expect(postJson(url, wire.body({ stream: true }))).rejects.toThrow();
    await waitFor(() => sim.stats().byStatus.dropped === 2, { timeoutMs: 2000 });
    expect(sim.stats().cancelled).toBe(0);
    expect((await postJson(url, wire.body())).status).toBe(200);
  });

  it('hang: never answers; the client giving up counts as cancelled', async () => {
    sim.configure({ failNext: 1, failMode: 'hang' });
    const res = fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(wire.body()),
      signal: AbortSignal.timeout(150),
    });
    await expect(res).rejects.toThrow();
    await waitFor(() => sim.stats().cancelled === 1, { timeoutMs: 2000 });
    expect(sim.stats()).toMatchObject({ inFlight: 0, byStatus: { cancelled: 1 } });
    expect((await postJson(url, wire.body())).status).toBe(200);
  });

  it('drop_mid_stream: sends failAfterChunks chunks, then cuts the connection', async () => {
    sim.configure({ failNext: 1, failMode: 'drop_mid_stream', chunkDelayMs: 5 });
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(wire.body({ stream: true })) });
    expect(res.status).toBe(200);
    const { text, error } = await readUntilBroken(res);
    expect(error).not.toBeNull();
    const evs = events({ status: 200, headers: res.headers, text });
    expect(wire.contentEvents(evs)).toBe(2);
    expect(wire.completed(evs)).toBe(false);
    await waitFor(() => sim.stats().byStatus.dropped === 1, { timeoutMs: 2000 });
  });

  it('drop_mid_stream: a JSON answer is cut short of its content-length', async () => {
    sim.configure({ failNext: 1, failMode: 'drop_mid_stream' });
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(wire.body()) });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it('error_mid_stream: sends chunks, then the provider error event, and ends', async () => {
    sim.configure({ failNext: 1, failMode: 'error_mid_stream', failStatus: [529] });
    const reply = await postJson(url, wire.body({ stream: true }));
    expect(reply.status).toBe(200);
    const evs = events(reply);
    expect(wire.contentEvents(evs)).toBe(2);
    expect(wire.endsWithError(evs)).toBe(true);
    expect(wire.completed(evs)).toBe(false);
  });

  it('error_mid_stream: a JSON request gets the error status instead', async () => {
    sim.configure({ failNext: 1, failMode: 'error_mid_stream', failStatus: [503], retryAfterS: 1 });
    const reply = await postJson(url, wire.body());
    expect(reply.status).toBe(503);
    expect(reply.headers.get('retry-after')).toBe('1');
  });

  it('mid-stream faults after the last token still fail the stream', async () => {
    sim.configure({ failNext: 1, failMode: 'error_mid_stream', failAfterChunks: 100 });
    const evs = events(await postJson(url, wire.body({ stream: true })));
    expect(wire.contentEvents(evs)).toBe(6);
    expect(wire.endsWithError(evs)).toBe(true);
  });
});

describe('simulator fault scheduling', () => {
  const sim = new ProviderSimulator();
  let url: string;

  beforeAll(async () => {
    await sim.start();
    url = `${sim.url}/v1/chat/completions`;
  });
  afterAll(() => sim.stop());
  beforeEach(() => {
    sim.configure({ ...DEFAULT_SIMULATOR_CONFIG });
    sim.reset();
  });

  it('failNext fails exactly the next N requests, then behaves normally', async () => {
    sim.configure({ failNext: 3, failStatus: [500] });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await postJson(url, chat())).status);
    }
    expect(statuses).toEqual([500, 500, 500, 200, 200, 200]);
    expect(sim.config().failNext).toBe(0);
  });

  it('failNext applies to the model list too', async () => {
    sim.configure({ failNext: 1, failStatus: [502] });
    expect((await fetch(`${sim.url}/v1/models`)).status).toBe(502);
    expect((await fetch(`${sim.url}/v1/models`)).status).toBe(200);
  });

  it('failRate is roughly honoured over 400 requests', async () => {
    sim.configure({ failRate: 0.25, failStatus: [429, 503] });
    const statuses: number[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const replies = await Promise.all(Array.from({ length: 20 }, () => postJson(url, chat())));
      statuses.push(...replies.map((r) => r.status));
    }
    const failed = statuses.filter((s) => s !== 200);
    // Binomial(400, 0.25): mean 100, sd ~8.7; these bounds are ~5.7 sd out.
    expect(failed.length).toBeGreaterThan(50);
    expect(failed.length).toBeLessThan(150);
    expect(new Set(failed)).toEqual(new Set([429, 503]));
    expect(sim.stats().total).toBe(400);
  });

  it('failRate 0 never fails and failRate 1 always fails', async () => {
    const zero = await Promise.all(Array.from({ length: 50 }, () => postJson(url, chat())));
    expect(zero.every((r) => r.status === 200)).toBe(true);
    sim.configure({ failRate: 1 });
    const one = await Promise.all(Array.from({ length: 50 }, () => postJson(url, chat())));
    expect(one.every((r) => r.status === 503)).toBe(true);
  });
});

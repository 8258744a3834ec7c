import { AdapterRegistry, type AdapterRequest, HttpPool, type ProviderAdapter } from '@aigw/adapters';
import { ErrorClass, ProviderCallError, type StreamDelta } from '@aigw/core';
import { DEFAULT_SIMULATOR_CONFIG, ProviderSimulator } from '@aigw/testing';
import { json, postJson, readUntilBroken } from './support';

interface TgiToken {
  id: number;
  text: string;
  logprob: number | null;
  special: boolean;
}

interface TgiGeneration {
  generated_text: string;
  details?: {
    finish_reason: string;
    generated_tokens: number;
    prefill: unknown[];
    tokens: TgiToken[];
  };
}

interface TgiEvent {
  index: number;
  token: TgiToken;
  generated_text: string | null;
  details: { finish_reason: string; generated_tokens: number; input_length: number } | null;
  error?: string;
  error_type?: string;
}

const INPUTS = 'System: You are terse.\n\nUser: one two three\n\nAssistant:';
const PROMPT_TOKENS = Math.ceil(INPUTS.length / 4);

const generate = (parameters: Record<string, unknown> = {}): Record<string, unknown> => ({
  inputs: INPUTS,
  parameters: { details: true, decoder_input_details: true, ...parameters },
});

/** TGI's SSE: `data:` without a space, one event per token. */
function events(text: string): TgiEvent[] {
  const frames = text.split('\n\n');
  expect(frames.pop()).toBe('');
  return frames.map((f) => {
    expect(f.startsWith('data:{')).toBe(true);
    return JSON.parse(f.slice('data:'.length)) as TgiEvent;
  });
}

async function collect(stream: AsyncIterable<StreamDelta>): Promise<StreamDelta[]> {
  const out: StreamDelta[] = [];
  for await (const d of stream) {
    out.push(d);
  }
  return out;
}

describe('simulator: TGI native /generate', () => {
  const sim = new ProviderSimulator({ completionTokens: 4 });
  const pool = new HttpPool();
  const adapter: ProviderAdapter = new AdapterRegistry(pool).get('tgi');
  const never = new AbortController().signal;

  beforeAll(() => sim.start());
  afterAll(async () => {
    await pool.destroy();
    await sim.stop();
  });
  beforeEach(() => {
    sim.configure({ ...DEFAULT_SIMULATOR_CONFIG, completionTokens: 4, echo: true });
    sim.reset();
  });

  const adapterRequest = (options: AdapterRequest['options'] = {}): AdapterRequest => ({
    target: { baseUrl: sim.url, apiKey: 'hf_simulated', model: 'sim-tgi', timeoutMs: 5000, poolKey: 'tgi' },
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'one two three' },
    ],
    options,
  });

  it('answers generated_text with details: finish reason, generated tokens (EOS included), prefill', async () => {
    const reply = await postJson(`${sim.url}/generate`, generate());
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-compute-type')).toBe('simulator');
    const body = json<TgiGeneration>(reply);
    // Echo answers the last User: turn of the transcript.
    expect(body.generated_text).toBe('one two three');
    expect(body.details).toMatchObject({ finish_reason: 'eos_token', generated_tokens: 4 });
    expect(body.details?.prefill).toHaveLength(PROMPT_TOKENS);
    expect(body.details?.tokens.at(-1)).toMatchObject({ text: '</s>', special: true });
    // Without details there are none; without decoder_input_details the prefill is empty.
    expect(json(await postJson(`${sim.url}/generate`, { inputs: INPUTS }))).toEqual({
      generated_text: 'one two three',
    });
    const noPrefill = json<TgiGeneration>(
      await postJson(`${sim.url}/generate`, generate({ decoder_input_details: false })),
    );
    expect(noPrefill.details?.prefill).toEqual([]);
  });

  it('caps at max_new_tokens with finish_reason length (no EOS token)', async () => {
    sim.configure({ echo: false });
    const body = json<TgiGeneration>(await postJson(`${sim.url}/generate`, generate({ max_new_tokens: 2 })));
    expect(body.details).toMatchObject({ finish_reason: 'length', generated_tokens: 2 });
    const streamed = await postJson(`${sim.url}/generate_stream`, {
      inputs: INPUTS,
      parameters: { details: true, max_new_tokens: 2 },
    });
    const last = events(streamed.text);
    expect(last).toHaveLength(2);
    expect(last[1]).toMatchObject({
      token: { special: false },
      details: { finish_reason: 'length', generated_tokens: 2 },
    });
  });

  it('streams one event per token and a last one with the EOS token, generated_text and details', async () => {
    const reply = await postJson(`${sim.url}/generate_stream`, { inputs: INPUTS, parameters: { details: true } });
    expect(reply.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const all = events(reply.text);
    expect(all).toHaveLength(4);
    expect(all.map((e) => e.index)).toEqual([1, 2, 3, 4]);
    expect(all.slice(0, 3).map((e) => e.token.text)).toEqual(['one', ' two', ' three']);
    expect(all.slice(0, 3).every((e) => e.generated_text === null && e.details === null)).toBe(true);
    expect(all[3]).toMatchObject({
      token: { text: '</s>', special: true },
      generated_text: 'one two three',
      details: { finish_reason: 'eos_token', generated_tokens: 4, input_length: PROMPT_TOKENS },
    });
  });

  it('refuses like TGI: 422 validation errors, and decoder_input_details on a stream as an error event', async () => {
    const cold = await postJson(`${sim.url}/generate`, generate({ temperature: 0 }));
    expect(cold.status).toBe(422);
    expect(json(cold)).toEqual({
      error: 'Input validation error: `temperature` must be strictly positive',
      error_type: 'validation',
    });
    const topP = await postJson(`${sim.url}/generate`, generate({ top_p: 1 }));
    expect(json<{ error: string }>(topP).error).toContain('`top_p` must be > 0.0 and < 1.0');
    expect((await postJson(`${sim.url}/generate`, { inputs: '' })).status).toBe(422);
    const prefill = await postJson(`${sim.url}/generate_stream`, generate());
    expect(prefill.status).toBe(200);
    expect(events(prefill.text)).toEqual([
      {
        error: 'Input validation error: `decoder_input_details` == true is not supported when streaming tokens',
        error_type: 'validation',
      },
    ]);
  });

  it('fails with error_type: overloaded 429, generation errors mid-stream', async () => {
    sim.configure({ failNext: 1, failStatus: [429], retryAfterS: 3 });
    const busy = await postJson(`${sim.url}/generate`, generate());
    expect(busy.status).toBe(429);
    expect(json(busy)).toMatchObject({ error_type: 'overloaded' });
    expect(busy.headers.get('retry-after')).toBe('3');
    sim.configure({ failNext: 1, failMode: 'error_mid_stream', failAfterChunks: 1, failStatus: [500] });
    const res = await fetch(`${sim.url}/generate_stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: INPUTS, parameters: { details: true } }),
    });
    const all = events((await readUntilBroken(res)).text);
    expect(all).toHaveLength(2);
    expect(all[1]).toMatchObject({ error_type: 'generation' });
  });

  it('names its one model in /info and answers /health', async () => {
    sim.configure({ models: ['HuggingFaceH4/zephyr-7b-beta'] });
    const info = (await (await fetch(`${sim.url}/info`)).json()) as { model_id: string; router: string };
    expect(info).toMatchObject({ model_id: 'HuggingFaceH4/zephyr-7b-beta', router: 'text-generation-router' });
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
  });

  describe('with the gateway tgi adapter as the client', () => {
    it('generates and streams the same answer with the same usage; lists and health-checks', async () => {
      const res = await adapter.generate(adapterRequest(), never);
      expect(res).toMatchObject({ text: 'one two three', finishReason: 'stop' });
      expect(res.usage).toEqual({
        promptTokens: PROMPT_TOKENS,
        completionTokens: 4,
        totalTokens: PROMPT_TOKENS + 4,
        cachedPromptTokens: 0,
      });
      // The stream must not ask for decoder_input_details (TGI would refuse it in-band).
      const deltas = await collect(adapter.stream(adapterRequest(), never));
      expect(deltas.map((d) => d.text).join('')).toBe('one two three');
      expect(deltas.at(-1)).toMatchObject({ finishReason: 'stop', usage: res.usage });
      sim.configure({ models: ['sim-tgi'] });
      expect(await adapter.listModels(adapterRequest().target, never)).toEqual(['sim-tgi']);
      expect((await adapter.healthCheck(adapterRequest().target, never)).ok).toBe(true);
    });

    it('classifies overloaded as a rate limit and a mid-stream generation error as a provider failure', async () => {
      sim.configure({ failNext: 1, failStatus: [429], retryAfterS: 4 });
      const limited = await adapter.generate(adapterRequest(), never).catch((e: unknown) => e);
      expect(limited).toMatchObject({ errorClass: ErrorClass.RateLimit, retryAfterMs: 4000 });
      sim.configure({ failNext: 1, failMode: 'error_mid_stream', failAfterChunks: 1, failStatus: [500] });
      const broken = await collect(adapter.stream(adapterRequest(), never)).catch((e: unknown) => e);
      expect(broken).toBeInstanceOf(ProviderCallError);
      expect((broken as ProviderCallError).errorClass).toBe(ErrorClass.Provider);
    });
  });
});

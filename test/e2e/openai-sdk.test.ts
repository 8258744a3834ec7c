import OpenAI, { APIError } from 'openai';
import { waitFor } from '@aigw/testing';
import { TestSystem, watchReplyChannels } from './harness';

/** The official OpenAI SDK (v6) as the client, through the whole system: gateway -> queue -> worker -> simulator. */
describe('OpenAI SDK against the gateway (e2e)', () => {
  // One failure is one answer here; retries and fallback are covered in test/routing-e2e.
  const system = new TestSystem({ workers: 1, env: { RETRY_MAX: '0' } });
  let client: OpenAI;

  beforeAll(async () => {
    await system.start();
    client = new OpenAI({ baseURL: `${system.gatewayUrl}/v1`, apiKey: system.adminKey, maxRetries: 0 });
  }, 90_000);

  const cleanups: (() => Promise<void>)[] = [];
  afterEach(() => Promise.all(cleanups.splice(0).map((fn) => fn())));
  afterAll(() => system.stop(), 30_000);

  it('answers a plain completion with usage and cost headers', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'sim-gpt', messages: [{ role: 'user', content: 'ping from the sdk' }] })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.choices[0].message.content).toBe('ping from the sdk');
    expect(data.choices[0].finish_reason).toBe('stop');
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(data.usage?.completion_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-gateway-provider')).toBe('sim0');
    expect(response.headers.get('x-gateway-model')).toBe('sim-gpt');
    expect(response.headers.get('x-gateway-cache')).toBe('bypass');
    expect(Number(response.headers.get('x-gateway-cost-usd'))).toBeGreaterThan(0);
    expect(response.headers.get('x-request-id')).toMatch(/\S+/);
  });

  it('streams a completion in order, one chunk per provider delta, and reports usage in the last chunk', async () => {
    const watch = await watchReplyChannels(system.prefix);
    cleanups.push(watch.close);
    const stream = await client.chat.completions.create({
      model: 'sim-gpt',
      messages: [{ role: 'user', content: 'one two three four five six' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    const fingerprints = new Set<string | undefined>();
    for await (const chunk of stream) {
      fingerprints.add(chunk.system_fingerprint);
      const content = chunk.choices[0]?.delta?.content ?? '';
      if (content !== '') {
        deltas.push(content);
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    // The simulator sends the six deltas in one write; the worker relays them in one `chunks` message (ADR 0001),
    // and the client still gets each as an event of its own.
    expect(deltas).toEqual(['one', ' two', ' three', ' four', ' five', ' six']);
    if (system.topology === 'split') {
      // The single process hands its own gateway's replies over in memory: only the split one publishes them.
      await waitFor(() => watch.published.some((p) => p.message.t === 'end'), {
        message: 'the reply channel carried no end',
      });
      const published = watch.published.map((p) => p.message);
      const pieces = published.flatMap((m) => (m.t === 'chunks' ? m.pieces : m.t === 'chunk' ? [m] : []));
      expect(pieces.map((p) => p.text).join('')).toBe('one two three four five six');
      expect(published.filter((m) => m.t === 'chunks').length).toBeGreaterThan(0);
    } else {
      expect(watch.published).toEqual([]);
    }
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    // The provider's fingerprint on every chunk, as OpenAI's own streams carry it.
    expect([...fingerprints]).toEqual(['fp_simulator']);
  });

  it("relays logprobs with each streamed token, and the whole answer's when not streamed", async () => {
    const ask = {
      model: 'sim0/sim-gpt',
      messages: [{ role: 'user' as const, content: 'alpha beta gamma' }],
      logprobs: true,
    };
    const stream = await client.chat.completions.create({ ...ask, stream: true });
    const tokens: string[] = [];
    for await (const chunk of stream) {
      const content = chunk.choices[0]?.delta?.content ?? '';
      if (content !== '') {
        const lp = chunk.choices[0].logprobs?.content ?? [];
        expect(lp.map((e) => e.token)).toEqual([content]);
        expect(lp[0].logprob).toBeLessThan(0);
        tokens.push(content);
      }
    }
    expect(tokens.join('')).toBe('alpha beta gamma');
    const whole = await client.chat.completions.create(ask);
    expect(whole.choices[0].logprobs?.content?.map((e) => e.token).join('')).toBe('alpha beta gamma');
  });

  it('reaches an Anthropic-format provider through the same OpenAI endpoint', async () => {
    const res = await client.chat.completions.create({
      model: 'sim0-anthropic/sim-claude',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hello anthropic' },
      ],
    });
    expect(res.choices[0].message.content).toBe('hello anthropic');
  });

  it('surfaces gateway errors as APIError with our status and code', async () => {
    const err = await client.chat.completions
      .create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(404);
    expect((err as APIError).code).toBe('model_not_found');
    expect((err as APIError).param).toBe('model');

    const badKey = new OpenAI({ baseURL: `${system.gatewayUrl}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    const authErr = await badKey.models.list().catch((e: unknown) => e);
    expect(authErr).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('a provider failure before the first token is an HTTP error the SDK raises', async () => {
    system.sim.configure({ failNext: 1, failStatus: [500] });
    const err = await client.chat.completions
      .create({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: 'x' }], stream: true })
      .then(async (s) => {
        for await (const _ of s) {
          // drain
        }
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBeGreaterThanOrEqual(500);
  });

  it('lists models', async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      ids.push(m.id);
    }
    expect(ids).toEqual(expect.arrayContaining(['sim0/sim-gpt', 'sim-gpt', 'sim-claude']));
  });

  it('records usage for every request in PostgreSQL, off the hot path', async () => {
    const res = await client.chat.completions
      .create({ model: 'sim-gpt', messages: [{ role: 'user', content: 'count me' }] })
      .withResponse();
    const requestId = res.response.headers.get('x-request-id');
    const rows = await waitFor(
      async () => {
        const r = await system.query<{ status: string; prompt_tokens: number; cost_usd: number; provider: string }>(
          'SELECT status, prompt_tokens, cost_usd, provider FROM usage_records WHERE request_id = $1',
          [requestId],
        );
        return r.length > 0 ? r : null;
      },
      { timeoutMs: 10_000, message: 'usage record not written' },
    );
    expect(rows[0]).toMatchObject({ status: 'success', provider: 'sim0' });
    expect(Number(rows[0].cost_usd)).toBeGreaterThan(0);
    const failures = await system.query('SELECT 1 FROM usage_records WHERE status = $1', ['error']);
    expect(failures.length).toBeGreaterThanOrEqual(1);
  });
});

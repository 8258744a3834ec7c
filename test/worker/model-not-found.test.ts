import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_CIRCUIT_CONFIG, type ReplyMessage } from '@aigw/core';
import { CircuitBreakerStore, routingKeyPrefix } from '@aigw/routing';
import { WorkerHarness } from './support';

type Of<T extends ReplyMessage['t']> = Extract<ReplyMessage, { t: T }>;

/** A loopback server answering every call with `status` and `body`, counting the calls. */
class Missing {
  calls = 0;
  url = '';
  private server: Server | undefined;

  constructor(
    private readonly status: number,
    private readonly body: string,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.calls++;
      req.resume();
      req.on('end', () => {
        res.writeHead(this.status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(this.body);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<unknown> {
    return new Promise((resolve) => (this.server === undefined ? resolve(null) : this.server.close(resolve)));
  }
}

/**
 * A deployment naming a model its server does not have (not pulled into Ollama, retired from Gemini's API version)
 * answers 404 in the provider's own words. As a provider failure it was retried on the same deployment (RETRY_MAX
 * times, with backoff) before the next deployment was tried, and counted against its circuit: the router moves on at
 * once instead.
 */
describe('router-worker: a provider without the model (in-process, real Redis, loopback providers)', () => {
  const ollama = new Missing(404, '{"error":"model \\"shared\\" not found, try pulling it first"}');
  const gemini = new Missing(
    404,
    JSON.stringify({
      error: {
        code: 404,
        message:
          'models/shared is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.',
        status: 'NOT_FOUND',
      },
    }),
  );
  const h = new WorkerHarness({
    env: { RETRY_MAX: '2', RETRY_BASE_MS: '200', ROUTING_DEFAULT_POLICY: 'cost' },
    catalog: (simUrl) => `providers:
  - id: local
    kind: ollama
    baseUrl: ${ollama.url}
    timeoutMs: 5000
    models:
      - { name: shared, promptPer1k: 0.0001, completionPer1k: 0.0001, contextWindow: 8192 }
      - { name: nowhere, promptPer1k: 0.0001, completionPer1k: 0.0001, contextWindow: 8192 }
  - id: google
    kind: gemini
    baseUrl: ${gemini.url}/v1beta
    apiKey: AIza-not-found-secret
    timeoutMs: 5000
    models:
      - { name: shared, promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 8192 }
      - { name: nowhere, promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 8192 }
  - id: funded
    kind: openai
    baseUrl: ${simUrl}/v1
    apiKey: sk-funded-secret
    timeoutMs: 5000
    models:
      - { name: shared, promptPer1k: 0.002, completionPer1k: 0.002, contextWindow: 8192 }
`,
  });

  beforeAll(async () => {
    await ollama.start();
    await gemini.start();
    await h.start();
  }, 60_000);

  afterAll(async () => {
    await h.stop();
    await ollama.close();
    await gemini.close();
  }, 30_000);

  it('falls back at once, one call to each deployment without the model, naming it not_found', async () => {
    const job = await h.enqueue({ model: 'shared' });
    const replies = await h.finalReplies(job.id!);
    expect(replies.at(-1)).toMatchObject({ t: 'result' });
    const { result } = replies.at(-1) as Of<'result'>;
    expect(result.provider).toBe('funded');
    expect(result.attempts).toEqual([
      expect.objectContaining({ provider: 'local', ok: false, errorClass: 'not_found', status: 404, retries: 0 }),
      expect.objectContaining({ provider: 'google', ok: false, errorClass: 'not_found', status: 404, retries: 0 }),
      expect.objectContaining({ provider: 'funded', ok: true }),
    ]);
    expect([ollama.calls, gemini.calls]).toEqual([1, 1]);
  });

  it('answers 404 model_not_found, not a 502, when every deployment of the model lacks it', async () => {
    const before = [ollama.calls, gemini.calls];
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const job = await h.enqueue({ model: 'nowhere' });
    const replies = await h.finalReplies(job.id!);
    // The client's 404, but the operator's to fix (the catalog names deployments without the model): a warning.
    const warned = warn.mock.calls.map((c) => String(c[0]));
    warn.mockRestore();
    expect(warned).toContainEqual(expect.stringMatching(/failed: model_not_found \(404\)/));
    expect(replies).toHaveLength(1);
    const reply = replies[0] as Of<'error'>;
    expect(reply.error).toMatchObject({
      code: 'model_not_found',
      type: 'not_found_error',
      param: 'model',
      attempts: [
        expect.objectContaining({ provider: 'local', errorClass: 'not_found', status: 404, retries: 0 }),
        expect.objectContaining({ provider: 'google', errorClass: 'not_found', status: 404, retries: 0 }),
      ],
    });
    expect([ollama.calls - before[0], gemini.calls - before[1]]).toEqual([1, 1]);
    expect(JSON.stringify(reply)).not.toContain('secret');
  });

  it("answers as the circuits do, not 404, when the one deployment with the model is set aside by its provider's 429", async () => {
    // funded serves `shared`, but its provider rate limited it for 20 s (a cooldown, on every worker); local and
    // google lack the model. A 404 model_not_found told the client the model does not exist, and its SDK does not
    // retry that: the answer is funded's 429 with the rest of its wait.
    const store = new CircuitBreakerStore(h.producer, routingKeyPrefix(h.prefix), DEFAULT_CIRCUIT_CONFIG);
    await store.recordCooldown('funded/shared', null, 20_000, 429);
    const before = [ollama.calls, gemini.calls, h.sim.stats().total];
    const job = await h.enqueue({ model: 'shared' });
    const replies = await h.finalReplies(job.id!);
    await store.reset('funded/shared');
    const reply = replies.at(-1) as Of<'error'>;
    expect(reply).toMatchObject({ t: 'error' });
    expect(reply.error).toMatchObject({
      code: 'provider_rate_limited',
      attempts: [
        expect.objectContaining({ provider: 'local', errorClass: 'not_found' }),
        expect.objectContaining({ provider: 'google', errorClass: 'not_found' }),
      ],
    });
    expect(reply.retryAfterMs).toBeGreaterThan(15_000);
    // The cooldown's end is kept by Redis' clock (TIME) and the rest of the wait read through the worker's estimate
    // of that clock (an offset sampled from a round trip, off by up to half of one): a loaded host can read a
    // fraction of a ms, or a few, over what was asked (20000.5 seen).
    expect(reply.retryAfterMs).toBeLessThanOrEqual(20_100);
    expect([ollama.calls - before[0], gemini.calls - before[1], h.sim.stats().total - before[2]]).toEqual([1, 1, 0]);
  });
});

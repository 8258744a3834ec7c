import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_CIRCUIT_CONFIG, type ReplyMessage } from '@aigw/core';
import { CircuitBreakerStore, routingKeyPrefix } from '@aigw/routing';
import { ProviderSimulator } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, WorkerHarness } from './support';

type Of<T extends ReplyMessage['t']> = Extract<ReplyMessage, { t: T }>;

const CHAT_ROUTE = 'POST /v1/chat/completions';

/**
 * A loopback provider that fails every call with a 500, but only after `meanwhile` ran: what other workers did while
 * the call was under way.
 */
class SlowFailure {
  url = '';
  meanwhile: () => Promise<void> = () => Promise.resolve();
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        void this.meanwhile().then(() => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(
            '{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}',
          );
        });
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
 * The plan reads the candidates' circuits once, as the request is taken, and the first call is admitted on that read.
 * A fallback comes later, after calls (and retries) that may take a provider's whole timeout: a circuit other workers
 * opened meanwhile was not asked, and the sick deployment was called anyway (waiting out its timeout when it hangs).
 */
describe('router-worker: falling back to a deployment whose circuit opened after the plan (real Redis, loopback providers)', () => {
  const first = new SlowFailure();
  const second = new ProviderSimulator();
  const h = new WorkerHarness({
    env: { RETRY_MAX: '0', ROUTING_DEFAULT_POLICY: 'cost' },
    catalog: (simUrl) => `providers:
  - id: first
    kind: openai
    baseUrl: ${first.url}/v1
    apiKey: sk-first-secret
    timeoutMs: 5000
    models:
      - { name: shared, promptPer1k: 0.0001, completionPer1k: 0.0001, contextWindow: 8192 }
  - id: second
    kind: openai
    baseUrl: ${second.url}/v1
    apiKey: sk-second-secret
    timeoutMs: 5000
    models:
      - { name: shared, promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 8192 }
  - id: third
    kind: openai
    baseUrl: ${simUrl}/v1
    apiKey: sk-third-secret
    timeoutMs: 5000
    models:
      - { name: shared, promptPer1k: 0.002, completionPer1k: 0.002, contextWindow: 8192 }
`,
  });
  let redis: Redis;

  beforeAll(async () => {
    await first.start();
    await second.start();
    await h.start();
    redis = new Redis(REDIS_URL);
  }, 60_000);

  afterAll(async () => {
    await redis?.quit();
    await h.stop();
    await second.stop();
    await first.close();
  }, 30_000);

  it('asks the circuit again before the fallback call: one other workers opened meanwhile is skipped', async () => {
    // Another worker's failures open second's circuit while the request's call to first runs.
    const others = new CircuitBreakerStore(redis, routingKeyPrefix(h.prefix), {
      ...DEFAULT_CIRCUIT_CONFIG,
      failureThreshold: 1,
    });
    first.meanwhile = async () => {
      await others.recordFailure('second/shared', null);
    };
    const job = await h.enqueue({ model: 'shared' });
    const replies = await h.finalReplies(job.id!);
    const last = replies.at(-1) as ReplyMessage;
    expect(last).toMatchObject({ t: 'result' });
    const { result } = last as Of<'result'>;
    expect(result.provider).toBe('third');
    expect(result.attempts).toEqual([
      expect.objectContaining({ provider: 'first', ok: false, errorClass: 'provider', status: 500 }),
      expect.objectContaining({ provider: 'third', ok: true }),
    ]);
    expect(second.stats().byRoute[CHAT_ROUTE] ?? 0).toBe(0);
  });
});

import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReplyMessage } from '@aigw/core';
import { WorkerHarness } from './support';

type Of<T extends ReplyMessage['t']> = Extract<ReplyMessage, { t: T }>;

/** A loopback OpenAI-style server answering every call with 409 Conflict (in OpenAI's error shape), counting them. */
class Conflicted {
  calls = 0;
  url = '';
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.calls++;
      req.resume();
      req.on('end', () => {
        res.writeHead(409, { 'content-type': 'application/json' });
        res.end(
          '{"error":{"message":"Conflict: the request could not be processed, please retry.","type":"server_error"}}',
        );
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
 * A provider's 409 is a transient conflict on its side (OpenAI's lock timeouts, Google's ABORTED), which the OpenAI and
 * Anthropic SDKs retry by default, as they do 408, 429 and 5xx. Read as the client's invalid request, it reached the
 * client as a 400 (which no SDK retries) without the other deployment of the model ever being tried.
 */
describe('router-worker: a provider answering 409 Conflict (in-process, real Redis, loopback providers)', () => {
  const conflicted = new Conflicted();
  const h = new WorkerHarness({
    env: { RETRY_MAX: '1', RETRY_BASE_MS: '20', ROUTING_DEFAULT_POLICY: 'cost' },
    catalog: (simUrl) => `providers:
  - id: busy
    kind: openai
    baseUrl: ${conflicted.url}/v1
    apiKey: sk-busy-secret
    timeoutMs: 5000
    models:
      - { name: shared, promptPer1k: 0.0001, completionPer1k: 0.0001, contextWindow: 8192 }
  - id: calm
    kind: openai
    baseUrl: ${simUrl}/v1
    apiKey: sk-calm-secret
    timeoutMs: 5000
    models:
      - { name: shared, promptPer1k: 0.002, completionPer1k: 0.002, contextWindow: 8192 }
`,
  });

  beforeAll(async () => {
    await conflicted.start();
    await h.start();
  }, 60_000);

  afterAll(async () => {
    await h.stop();
    await conflicted.close();
  }, 30_000);

  it('retries the 409 on its deployment, then falls back to the next one instead of answering a 400', async () => {
    const job = await h.enqueue({ model: 'shared' });
    const replies = await h.finalReplies(job.id!);
    const last = replies.at(-1) as ReplyMessage;
    expect(last).toMatchObject({ t: 'result' });
    const { result } = last as Of<'result'>;
    expect(result.provider).toBe('calm');
    expect(result.attempts).toEqual([
      expect.objectContaining({ provider: 'busy', ok: false, errorClass: 'provider', status: 409, retries: 1 }),
      expect.objectContaining({ provider: 'calm', ok: true }),
    ]);
    expect(conflicted.calls).toBe(2);
  });
});

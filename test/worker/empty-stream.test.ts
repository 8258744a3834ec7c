import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReplyMessage } from '@aigw/core';
import { fallbackPairCatalog, WorkerHarness } from './support';

/** A loopback OpenAI-style server whose streams hold nothing but `data: [DONE]`, counting the calls. */
class EmptyStreams {
  calls = 0;
  url = '';
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.calls++;
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('data: [DONE]\n\n');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<unknown> {
    return new Promise((resolve) => (this.server === undefined ? resolve(null) : this.server.close(resolve)));
  }
}

type Of<T extends ReplyMessage['t']> = Extract<ReplyMessage, { t: T }>;

/**
 * A 200 stream that ends (`data: [DONE]`) before any chunk of an answer, not even a finish reason: nothing was
 * generated, as a completion without `choices` (a provider error) says of an unstreamed answer. Taken for a whole
 * answer, the client got an empty one, billed for its prompt, the other deployment of the model was never tried, and
 * the provider's circuit and latency average counted it a success.
 */
describe('router-worker: a stream that ends before any answer (in-process, real Redis, loopback providers)', () => {
  const empty = new EmptyStreams();
  const h = new WorkerHarness({
    env: { RETRY_MAX: '1', RETRY_BASE_MS: '20', ROUTING_DEFAULT_POLICY: 'cost' },
    catalog: fallbackPairCatalog('hollow', () => empty.url),
  });

  beforeAll(async () => {
    await empty.start();
    await h.start();
  }, 60_000);

  afterAll(async () => {
    await h.stop();
    await empty.close();
  }, 30_000);

  it('is a provider failure: retried, then the next deployment answers, and nothing reached the client before', async () => {
    const job = await h.enqueue({ model: 'shared', stream: true });
    const replies = await h.finalReplies(job.id!);
    const last = replies.at(-1) as ReplyMessage;
    expect(last).toMatchObject({ t: 'end' });
    const { result } = last as Of<'end'>;
    expect(result.provider).toBe('calm');
    expect(result.text).not.toBe('');
    expect(result.attempts).toEqual([
      expect.objectContaining({ provider: 'hollow', ok: false, errorClass: 'provider', retries: 1 }),
      expect.objectContaining({ provider: 'calm', ok: true }),
    ]);
    // The stream's start came from the deployment that answered.
    expect(replies.filter((r) => r.t === 'start')).toEqual([
      expect.objectContaining({ provider: 'calm', attempts: 2 }),
    ]);
    expect(empty.calls).toBe(2);
  });
});

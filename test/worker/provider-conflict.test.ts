import 'reflect-metadata';
import type { ReplyMessage } from '@aigw/core';
import { ProviderSimulator } from '@aigw/testing';
import { fallbackPairCatalog, WorkerHarness } from './support';

type Of<T extends ReplyMessage['t']> = Extract<ReplyMessage, { t: T }>;

/**
 * A provider's 409 is a transient conflict on its side (OpenAI's lock timeouts, Google's ABORTED), which the OpenAI and
 * Anthropic SDKs retry by default, as they do 408, 429 and 5xx. Read as the client's invalid request, it reached the
 * client as a 400 (which no SDK retries) without the other deployment of the model ever being tried.
 */
describe('router-worker: a provider answering 409 Conflict (in-process, real Redis, loopback providers)', () => {
  const conflicted = new ProviderSimulator();
  const h = new WorkerHarness({
    env: { RETRY_MAX: '1', RETRY_BASE_MS: '20', ROUTING_DEFAULT_POLICY: 'cost' },
    catalog: fallbackPairCatalog('busy', () => conflicted.url),
  });

  beforeAll(async () => {
    await conflicted.start();
    conflicted.configure({ failRate: 1, failMode: 'status', failStatus: [409] });
    await h.start();
  }, 60_000);

  afterAll(async () => {
    await h.stop();
    await conflicted.stop();
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
    expect(conflicted.stats().byRoute['POST /v1/chat/completions']).toBe(2);
  });
});

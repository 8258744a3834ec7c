import 'reflect-metadata';
import type { ReplyMessage } from '@aigw/core';
import { ProviderSimulator } from '@aigw/testing';
import { fallbackPairCatalog, WorkerHarness } from './support';

type Of<T extends ReplyMessage['t']> = Extract<ReplyMessage, { t: T }>;

const CHAT_ROUTE = 'POST /v1/chat/completions';

/**
 * A provider's 429 that names no wait (OpenAI's often carry neither Retry-After nor rate-limit headers): the
 * deployment is out of room for an unknown while. With another deployment of the model to try, it is tried at once, as
 * LiteLLM and the like fall back on a 429; the limited one was retried RETRY_MAX times with backoff first (each call
 * another refusal counted against its circuit) before the request moved on.
 */
describe('router-worker: a 429 without a named wait (in-process, real Redis, loopback providers)', () => {
  const limited = new ProviderSimulator();
  const h = new WorkerHarness({
    env: { RETRY_MAX: '2', RETRY_BASE_MS: '200', ROUTING_DEFAULT_POLICY: 'cost' },
    catalog: fallbackPairCatalog('limited', () => limited.url, ['alone']),
  });
  const callsTo = (sim: ProviderSimulator): number => sim.stats().byRoute[CHAT_ROUTE] ?? 0;

  beforeAll(async () => {
    await limited.start();
    limited.configure({ failRate: 1, failMode: 'status', failStatus: [429], retryAfterS: null });
    await h.start();
  }, 60_000);

  afterAll(async () => {
    await h.stop();
    await limited.stop();
  }, 30_000);

  it('moves on to the next deployment at once instead of retrying the rate-limited one first', async () => {
    const job = await h.enqueue({ model: 'shared' });
    const replies = await h.finalReplies(job.id!);
    const last = replies.at(-1) as ReplyMessage;
    expect(last).toMatchObject({ t: 'result' });
    const { result } = last as Of<'result'>;
    expect(result.provider).toBe('calm');
    expect(result.attempts).toEqual([
      expect.objectContaining({ provider: 'limited', ok: false, errorClass: 'rate_limit', status: 429, retries: 0 }),
      expect.objectContaining({ provider: 'calm', ok: true, retries: 0 }),
    ]);
    expect(callsTo(limited)).toBe(1);
  });

  it('still retries it with backoff when it is the only deployment', async () => {
    const before = callsTo(limited);
    const job = await h.enqueue({ model: 'alone' });
    const replies = await h.finalReplies(job.id!);
    const last = replies.at(-1) as Of<'error'>;
    expect(last).toMatchObject({ t: 'error' });
    expect(last.error).toMatchObject({
      code: 'provider_rate_limited',
      attempts: [expect.objectContaining({ provider: 'limited', errorClass: 'rate_limit', status: 429, retries: 2 })],
    });
    expect(callsTo(limited) - before).toBe(3);
  });
});

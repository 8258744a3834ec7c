import 'reflect-metadata';
import type { ReplyMessage } from '@aigw/core';
import { ProviderSimulator } from '@aigw/testing';
import { fallbackPairCatalog, WorkerHarness } from './support';

type Of<T extends ReplyMessage['t']> = Extract<ReplyMessage, { t: T }>;

const CHAT_ROUTE = 'POST /v1/chat/completions';
const MESSAGES_ROUTE = 'POST /v1/messages';

/** The longest a cooldown holds a deployment here. */
const OPEN_MS = 20_000;

/**
 * What a provider's error response headers say of retrying, as the OpenAI and Anthropic SDKs read them: `x-should-retry`
 * over the status; the `x-ratelimit-*` (OpenAI, Go durations) and `anthropic-ratelimit-*` (RFC 3339) reset of the
 * window a 429 ran out of, when it names no Retry-After; and `Retry-After` / `retry-after-ms` on any 5xx. Each against a
 * simulator on loopback speaking the provider's wire format.
 */
describe('router-worker: retry decisions from provider response headers (in-process, real Redis, loopback)', () => {
  const flaky = new ProviderSimulator();
  const claude = new ProviderSimulator();
  const h = new WorkerHarness({
    env: {
      RETRY_MAX: '2',
      RETRY_BASE_MS: '20',
      ROUTING_DEFAULT_POLICY: 'cost',
      CB_OPEN_MS: String(OPEN_MS),
      // Only cooldowns set these deployments aside here, never the failures the tests make on purpose.
      CB_FAILURE_THRESHOLD: '1000',
      CB_MIN_VOLUME: '1000',
    },
    catalog: (simUrl) =>
      `${fallbackPairCatalog('flaky', () => flaky.url, ['alone'])(simUrl)}  - id: claude
    kind: anthropic
    baseUrl: ${claude.url}
    apiKey: sk-ant-claude-secret
    timeoutMs: 5000
    models:
      - { name: claude-only, promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 8192 }
      - { name: claude-pair, promptPer1k: 0.0001, completionPer1k: 0.0001, contextWindow: 8192 }
  - id: calm-too
    kind: openai
    baseUrl: ${simUrl}/v1
    apiKey: sk-calm-too-secret
    timeoutMs: 5000
    models:
      - { name: claude-pair, promptPer1k: 0.002, completionPer1k: 0.002, contextWindow: 8192 }
`,
  });
  const callsTo = (sim: ProviderSimulator, route = CHAT_ROUTE): number => sim.stats().byRoute[route] ?? 0;

  const fail = (sim: ProviderSimulator, patch: Parameters<ProviderSimulator['configure']>[0]): void => {
    sim.configure({ failRate: 1, failMode: 'status', retryAfterS: null, errorHeaders: {}, ...patch });
    sim.reset();
  };

  beforeAll(async () => {
    // Ports the system picks: a fixed one can be another suite's (or its outgoing connection's) at that moment.
    await flaky.start();
    await claude.start();
    await h.start();
  }, 60_000);

  afterAll(async () => {
    await h.stop();
    await flaky.stop();
    await claude.stop();
  }, 30_000);

  describe('x-should-retry', () => {
    it('false: a 503 is not retried on the deployment that said so', async () => {
      fail(flaky, { failStatus: [503], errorHeaders: { 'x-should-retry': 'false' } });
      const job = await h.enqueue({ model: 'alone' });
      const last = (await h.finalReplies(job.id!)).at(-1) as Of<'error'>;
      expect(last).toMatchObject({ t: 'error' });
      expect(last.error.attempts).toEqual([expect.objectContaining({ provider: 'flaky', status: 503, retries: 0 })]);
      expect(callsTo(flaky)).toBe(1);
    });

    it('false: the request still falls back to the next deployment', async () => {
      fail(flaky, { failStatus: [500], errorHeaders: { 'x-should-retry': 'false' } });
      const job = await h.enqueue({ model: 'shared' });
      const last = (await h.finalReplies(job.id!)).at(-1) as Of<'result'>;
      expect(last).toMatchObject({ t: 'result' });
      expect(last.result.attempts).toEqual([
        expect.objectContaining({ provider: 'flaky', ok: false, status: 500, retries: 0 }),
        expect.objectContaining({ provider: 'calm', ok: true }),
      ]);
      expect(callsTo(flaky)).toBe(1);
    });

    it('true: a status the gateway would not retry by itself is retried', async () => {
      fail(flaky, { failStatus: [400], errorHeaders: { 'x-should-retry': 'true' } });
      const job = await h.enqueue({ model: 'alone' });
      const last = (await h.finalReplies(job.id!)).at(-1) as Of<'error'>;
      expect(last).toMatchObject({ t: 'error' });
      expect(callsTo(flaky)).toBe(3);
    });
  });

  describe('Retry-After on a 5xx', () => {
    it('retry-after-ms on a 502 is waited out before each retry', async () => {
      fail(flaky, { failStatus: [502], errorHeaders: { 'retry-after-ms': '400' }, rateLimit: null });
      const started = Date.now();
      const job = await h.enqueue({ model: 'alone' });
      const last = (await h.finalReplies(job.id!)).at(-1) as Of<'error'>;
      expect(last).toMatchObject({ t: 'error' });
      expect(callsTo(flaky)).toBe(3);
      expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    });

    it('a long Retry-After on a 500 moves on at once instead of retrying in place', async () => {
      fail(flaky, { failStatus: [500], errorHeaders: { 'retry-after': '5' }, rateLimit: null });
      const job = await h.enqueue({ model: 'shared' });
      const last = (await h.finalReplies(job.id!)).at(-1) as Of<'result'>;
      expect(last).toMatchObject({ t: 'result' });
      expect(last.result.attempts).toEqual([
        expect.objectContaining({ provider: 'flaky', ok: false, status: 500, retries: 0 }),
        expect.objectContaining({ provider: 'calm', ok: true }),
      ]);
      expect(callsTo(flaky)).toBe(1);
    });

    it('a Retry-After on a 504 past CB_OPEN_MS is not slept on by an async job', async () => {
      fail(flaky, { failStatus: [504], errorHeaders: { 'retry-after': '3600' }, rateLimit: null });
      const started = Date.now();
      const job = await h.enqueue({ model: 'alone', deadlineAt: Date.now() + 86_400_000 }, null);
      const outcome = await h.outcome(job.id!, 10_000);
      expect(outcome).toMatchObject({ ok: false });
      expect(callsTo(flaky)).toBe(1);
      expect(Date.now() - started).toBeLessThan(5_000);
    }, 20_000);
  });
  describe('a 429 without Retry-After, with the reset of the window it ran out of', () => {
    it('OpenAI: a short x-ratelimit-reset-requests is waited out before each retry', async () => {
      fail(flaky, {
        failStatus: [429],
        rateLimit: { requests: { limit: 60, remaining: 0, resetMs: 400 }, tokens: null },
      });
      const started = Date.now();
      const job = await h.enqueue({ model: 'alone' });
      const last = (await h.finalReplies(job.id!)).at(-1) as Of<'error'>;
      expect(last).toMatchObject({ t: 'error', error: { code: 'provider_rate_limited' } });
      expect(callsTo(flaky)).toBe(3);
      // Two waits of the 400 ms the window named, not the 20 ms backoff.
      expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    });

    it('OpenAI: a long x-ratelimit-reset-tokens moves on at once and sets the deployment aside for it', async () => {
      fail(flaky, {
        failStatus: [429],
        rateLimit: {
          requests: { limit: 60, remaining: 59, resetMs: 1000 },
          tokens: { limit: 30_000, remaining: 0, resetMs: 6 * 60_000 },
        },
      });
      for (let i = 0; i < 2; i++) {
        const job = await h.enqueue({ model: 'shared' });
        const last = (await h.finalReplies(job.id!)).at(-1) as Of<'result'>;
        expect(last).toMatchObject({ t: 'result', result: { provider: 'calm' } });
      }
      // The second request found it cooling down (fleet-wide), and did not call it.
      expect(callsTo(flaky)).toBe(1);
    });

    it('Anthropic: a long anthropic-ratelimit-tokens-reset (RFC 3339) sets the deployment aside for it', async () => {
      fail(claude, {
        failStatus: [429],
        rateLimit: { requests: null, tokens: { limit: 80_000, remaining: 0, resetMs: 5 * 60_000 } },
      });
      for (let i = 0; i < 2; i++) {
        const job = await h.enqueue({ model: 'claude-pair' });
        const last = (await h.finalReplies(job.id!)).at(-1) as Of<'result'>;
        expect(last).toMatchObject({ t: 'result', result: { provider: 'calm-too' } });
      }
      expect(callsTo(claude, MESSAGES_ROUTE)).toBe(1);
    });

    it('Anthropic alone: a reset past CB_OPEN_MS is not slept on; the 429 is answered with the wait held', async () => {
      const job = await h.enqueue({ model: 'claude-only' }, null);
      const outcome = await h.outcome(job.id!);
      expect(outcome).toMatchObject({ ok: false, error: { code: 'provider_rate_limited' } });
      if (outcome.ok) {
        throw new Error('expected a failure');
      }
      expect(outcome.retryAfterMs).toBeGreaterThan(0);
      expect(outcome.retryAfterMs).toBeLessThanOrEqual(OPEN_MS);
    });
  });
});

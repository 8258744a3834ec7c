import { cacheKeyOf } from '@aigw/core';
import { uniqueId } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

/**
 * An in-flight marker (ADR 0007) whose job no longer exists: its leader's gateway died between `join` and the
 * enqueue, the enqueue and the release both failed, or an admin removed the job from the queue. Every identical
 * request joined it, waited for the job to be confirmed missing and was answered 503 "job was lost; retry", and so
 * was every retry, for the marker's whole TTL (the leader's deadline plus 30 s). A waiter that finds the job lost now
 * releases the marker (only while it still names that job): the next identical request leads a job of its own.
 */
describe('coalescing: a marker whose job is gone (e2e)', () => {
  const system = new TestSystem({ workers: 1, env: { CACHE_ENABLED: 'true', CACHE_TTL_S: '60' } });
  const redis = new Redis(REDIS_URL);

  beforeAll(() => system.start(), 90_000);

  afterAll(async () => {
    await system.stop();
    await redis.quit();
  }, 30_000);

  function chat(prompt: string): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: prompt }] }),
    });
  }

  it('the request that finds the job lost releases the marker: the retry leads and is answered', async () => {
    const prompt = `ghost leader ${uniqueId()}`;
    // The request's cache key as the gateway computes it (admin key: unrestricted, no preferences, global scope).
    const key = cacheKeyOf(
      {
        model: 'sim-gpt',
        messages: [{ role: 'user', content: prompt }],
        options: {},
        userId: '',
        apiKeyId: '',
      } as unknown as Parameters<typeof cacheKeyOf>[0],
      'global',
    );
    const marker = `${system.prefix}:inflight:${key}.whole`;
    // What a leader that died before its job was queued leaves behind.
    await redis.hset(marker, 'job', `ghost-${uniqueId()}`, 'n', 1);
    await redis.pexpire(marker, 120_000);

    const first = await chat(prompt);
    expect(first.headers.get('x-gateway-coalesced')).toBe('true');
    expect(first.status).toBe(503);
    await first.text();

    const retry = await chat(prompt);
    expect(retry.status).toBe(200);
    expect(retry.headers.get('x-gateway-coalesced')).toBeNull();
    expect(retry.headers.get('x-gateway-cache')).toBe('miss');
    await retry.text();
  }, 40_000);
});

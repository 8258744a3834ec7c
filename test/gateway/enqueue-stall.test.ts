import { sleep, waitFor } from '@aigw/testing';
import { ReplyHub } from '../../apps/api-gateway/src/generation/reply-hub';
import { gatewayBehind, landsAndIsRemoved, relayToTestRedis, stopBehind } from './named-stall-relay';
import { chat, type ErrorEnvelope, type GatewayHarness } from './support';

const DEADLINE_MS = 2_000;

/**
 * The job's add (BullMQ, on the gateway's `:queue` connection) stalls: a half-open network on that connection alone
 * (real Redis behind a loopback relay). ioredis holds such a command until its socket timeout (15 s) and then sends
 * it again on the next connection. The request must be answered at its deadline (504), or at once when its client
 * leaves, and stop counting as pending; the job, when the add finally lands, must be cancelled and removed (it
 * would otherwise run for nobody). Before, the request waited for the add, its 504 written only after it.
 */
describe('api-gateway: a stalled job add (coalescing leader)', () => {
  const relay = relayToTestRedis();
  let h: GatewayHarness;
  let key = '';
  const held = (): number => h.app.get(ReplyHub).held;

  beforeAll(async () => {
    // The cache on: the request is a coalescing leader (ADR 0007), the case of the add that stalls.
    h = await gatewayBehind(relay, { CACHE_ENABLED: 'true', REQUEST_TIMEOUT_MS: String(DEADLINE_MS) });
    key = await h.userKey('enqueue-stall');
    // No job may be taken: what lands late must be removed by the gateway, not run by a worker.
    await h.queue.pause();
  }, 60_000);

  afterAll(() => stopBehind(relay, h), 60_000);

  const landedAndRemoved = (requestId: string): Promise<void> =>
    landsAndIsRemoved(relay, h, requestId, 'the job that landed after its request gave up');

  it('answers 504 at the deadline, not when the add comes back, and removes the job once it lands', async () => {
    relay.silence(`${h.prefix}:queue`);
    const started = Date.now();
    const res = await h.post('/v1/chat/completions', chat(`stalled add ${Date.now()}`), h.headers(key));
    const took = Date.now() - started;
    const body = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(504);
    expect(body.error.code).toBe('timeout');
    expect(took).toBeLessThan(DEADLINE_MS + 1_500);
    const requestId = res.headers.get('x-request-id') ?? '';
    expect(held()).toBe(0);
    // Still in flight: the job is not stored yet.
    expect(await h.queue.getJob(requestId)).toBeUndefined();
    await landedAndRemoved(requestId);
  }, 30_000);

  it('answers a stream whose add stalls 504 at the deadline too (nothing was sent yet)', async () => {
    relay.silence(`${h.prefix}:queue`);
    const started = Date.now();
    const res = await h.post(
      '/v1/chat/completions',
      chat(`stalled stream ${Date.now()}`, { stream: true }),
      h.headers(key),
    );
    const took = Date.now() - started;
    expect(res.status).toBe(504);
    expect(((await res.json()) as ErrorEnvelope).error.code).toBe('timeout');
    expect(took).toBeLessThan(DEADLINE_MS + 1_500);
    expect(held()).toBe(0);
    await landedAndRemoved(res.headers.get('x-request-id') ?? '');
  }, 30_000);

  it('lets a client that leaves go at once, and removes the job once it lands', async () => {
    relay.silence(`${h.prefix}:queue`);
    const leave = new AbortController();
    const before = h.cancels.length;
    const sent = h
      .post('/v1/chat/completions', chat(`left during add ${Date.now()}`), h.headers(key), leave.signal)
      .catch((err: unknown) => err);
    await waitFor(() => held() === 1, { message: 'request not held' });
    await sleep(200);
    leave.abort();
    await sent;
    await waitFor(() => held() === 0, { timeoutMs: 1_000, message: 'request still held after its client left' });
    expect(h.cancels.length).toBe(before);
    relay.cut();
    await waitFor(() => h.cancels.length > before, { timeoutMs: 10_000, message: 'no cancel' });
    const jobId = h.cancels[h.cancels.length - 1].jobId;
    await waitFor(async () => (await h.queue.getJob(jobId)) === undefined, {
      timeoutMs: 10_000,
      message: 'the job that landed after its client left is still queued',
    });
    expect(h.jobsSeen).not.toContain(jobId);
  }, 30_000);
});

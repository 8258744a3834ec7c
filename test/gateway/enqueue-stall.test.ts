import { sleep, waitFor } from '@aigw/testing';
import { ReplyHub } from '../../apps/api-gateway/src/generation/reply-hub';
import { NamedStallRelay } from './named-stall-relay';
import { chat, GatewayHarness, REDIS_URL, type ErrorEnvelope } from './support';

const DEADLINE_MS = 2_000;

/**
 * The job's add (BullMQ, on the gateway's `:queue` connection) stalls: a half-open network on that connection alone
 * (real Redis behind a loopback relay). ioredis holds such a command until its socket timeout (15 s) and then sends
 * it again on the next connection. The request must be answered at its deadline (504), or at once when its client
 * leaves, and stop counting as pending; the job, when the add finally lands, must be cancelled and removed (it
 * would otherwise run for nobody). Before, the request waited for the add, its 504 written only after it.
 */
describe('api-gateway: a stalled job add (coalescing leader)', () => {
  const port = Number(new URL(REDIS_URL).port || 6379);
  const relay = new NamedStallRelay(port);
  let h: GatewayHarness;
  let key = '';
  const held = (): number => h.app.get(ReplyHub).held;

  beforeAll(async () => {
    await relay.up();
    const url = new URL(REDIS_URL);
    url.port = String(relay.port);
    // The cache on: the request is a coalescing leader (ADR 0007), the case of the add that stalls.
    h = new GatewayHarness({
      CACHE_ENABLED: 'true',
      REDIS_URL: url.toString(),
      REQUEST_TIMEOUT_MS: String(DEADLINE_MS),
    });
    await h.start();
    key = await h.userKey('enqueue-stall');
    // No job may be taken: what lands late must be removed by the gateway, not run by a worker.
    await h.queue.pause();
  }, 60_000);

  afterAll(async () => {
    relay.cut();
    await h?.stop();
    await relay.down();
  }, 60_000);

  async function landedAndRemoved(requestId: string): Promise<void> {
    // The add's reply never came; the socket timeout's reconnection (here: the relay closing it) sends it again.
    relay.cut();
    await waitFor(() => h.cancels.some((c) => c.jobId === requestId), {
      timeoutMs: 10_000,
      message: 'no cancel for the job that landed late',
    });
    await waitFor(async () => (await h.queue.getJob(requestId)) === undefined, {
      timeoutMs: 10_000,
      message: 'the job that landed after its request gave up is still queued',
    });
    expect(h.jobsSeen).not.toContain(requestId);
  }

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

import { ErrorCode, validateEnv } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { GatewayEnv } from '../../apps/api-gateway/src/config/gateway-env';
import { PendingLimit } from '../../apps/api-gateway/src/generation/pending-limit';
import { ReplyHub } from '../../apps/api-gateway/src/generation/reply-hub';
import { chat, GatewayHarness, lastUserText, readUntil, type ErrorEnvelope } from './support';

/**
 * MAX_PENDING_REQUESTS: a gateway whose workers fell behind (here: the queue paused) holds at most that many sync and
 * streamed requests; the next one is refused 503 at once, before admission counts it or anything is queued, and the
 * count comes back down however a held request ends (answer, error, client gone, deadline, stream).
 */
describe('api-gateway: MAX_PENDING_REQUESTS', () => {
  const h = new GatewayHarness({
    MAX_PENDING_REQUESTS: '5',
    REQUEST_TIMEOUT_MS: '4000',
    RATE_LIMIT_RPM: '1000',
    // The connection of a stream its client left stays open until this passes (as in chat-completions.test.ts).
    HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000',
  });
  const held = (): number => h.app.get(ReplyHub).held;
  let key = '';

  beforeAll(async () => {
    await h.start();
    key = await h.userKey('pending-limit');
  }, 60_000);
  afterAll(async () => {
    await h.queue.resume();
    await h.stop();
  }, 30_000);

  function send(content: string, extra: Record<string, unknown> = {}, signal?: AbortSignal): Promise<Response> {
    return h.post('/v1/chat/completions', chat(content, extra), h.headers(key), signal);
  }

  async function queued(): Promise<number> {
    return (await h.queue.getJobs(['paused', 'waiting'])).length;
  }

  async function metric(pattern: RegExp): Promise<number | null> {
    const m = pattern.exec(await (await fetch(`${h.url}/metrics`)).text());
    return m === null ? null : Number(m[1]);
  }

  it('refuses the request past the bound with 503 gateway_overloaded and Retry-After, queueing nothing', async () => {
    h.handle(async (job) => {
      const text = lastUserText(job.data.request);
      return text === 'fail'
        ? h.fail(job, { message: 'boom', type: 'provider_error', code: ErrorCode.AllProvidersFailed, param: null })
        : h.answer(job, text);
    });
    await h.queue.pause();
    const leaveA = new AbortController();
    const leaveD = new AbortController();
    const a = send('a', {}, leaveA.signal).catch((err: unknown) => err);
    const b = send('b');
    const c = send('c', { stream: true });
    const d = send('d', { stream: true }, leaveD.signal).catch((err: unknown) => err);
    const e = send('fail');
    await waitFor(async () => held() === 5 && (await queued()) === 5, { message: 'five requests not held' });
    expect(await metric(/^aigw_gateway_pending_requests (\S+)$/m)).toBe(5);

    for (const stream of [false, true]) {
      const refused = await send('sixth', { stream });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      // Refused before admission: no rate-limit window was read or charged for it.
      expect(refused.headers.get('x-ratelimit-remaining-requests')).toBeNull();
      const body = (await refused.json()) as ErrorEnvelope;
      expect(body.error).toMatchObject({ code: 'gateway_overloaded', type: 'service_unavailable_error' });
    }
    expect(await queued()).toBe(5);
    expect(held()).toBe(5);
    expect(
      await metric(
        /^aigw_requests_total\{provider="none",model="none",status="gateway_overloaded",cache="bypass"\} (\S+)$/m,
      ),
    ).toBe(2);
    // Never refused: probes, the scrape, and async submissions (not held in memory).
    expect((await h.get('/health/live')).status).toBe(200);
    expect((await fetch(`${h.url}/metrics`)).status).toBe(200);
    const job = await h.post('/api/v1/ai/jobs', { model: 'sim-gpt', prompt: 'async' }, h.headers(key));
    expect(job.status).toBe(202);
    expect(held()).toBe(5);

    // A client that leaves frees its place at once: the next request is taken.
    leaveA.abort();
    await waitFor(() => held() === 4, { message: 'the aborted request still held' });
    const f = send('f');
    await waitFor(async () => held() === 5 && (await queued()) === 6, { message: 'f not queued' });
    expect((await send('seventh')).status).toBe(503);
    leaveD.abort();
    await waitFor(() => held() === 4, { message: 'the aborted stream still held' });

    await h.queue.resume();
    const [rb, rc, re, rf] = await Promise.all([b, c, e, f]);
    expect(rb.status).toBe(200);
    expect(rc.status).toBe(200);
    expect(await rc.text()).toContain('[DONE]');
    expect(re.status).toBe(502);
    expect(rf.status).toBe(200);
    // Charged: a..f and the async job (7), never the three refusals.
    expect(rf.headers.get('x-ratelimit-remaining-requests')).toBe(String(1000 - 7));
    await a;
    await d;
    await waitFor(() => held() === 0, { message: 'requests still held after every client left' });
    expect(await metric(/^aigw_gateway_pending_requests (\S+)$/m)).toBe(0);
  });

  it('gives the place back on a deadline and on a stream its client leaves midway', async () => {
    await h.queue.pause();
    const late = send('never taken');
    await waitFor(() => held() === 1, { message: 'not held' });
    expect((await late).status).toBe(504);
    await waitFor(() => held() === 0, { message: 'the timed-out request still held' });
    await h.queue.resume();

    h.handle(async (job) => {
      const jobId = job.id ?? '';
      await h.publish(job, h.startMessage(job));
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'partial' });
      await h.cancelled(jobId);
      return h.answer(job, 'partial', { publish: false });
    });
    const leave = new AbortController();
    const res = await send('stream then leave', { stream: true }, leave.signal);
    expect(res.status).toBe(200);
    await readUntil(res, 'partial');
    expect(held()).toBe(1);
    leave.abort();
    await waitFor(() => held() === 0, { message: 'the abandoned stream still held' });
    await waitFor(() => h.cancels.length > 0, { message: 'the abandoned stream not cancelled' });
  });
});

/**
 * MAX_PENDING_BYTES: MAX_PENDING_REQUESTS counts requests whatever their size, and a burst of large prompts (up to
 * MAX_BODY_BYTES each) outgrew the heap long before the count. The bodies' bytes held are bounded too: past the bound
 * a request gets the same 503, and its bytes come back once a held request's response closes, however it ends.
 */
describe('api-gateway: MAX_PENDING_BYTES', () => {
  const BODY = 40_000;
  const h = new GatewayHarness({
    MAX_PENDING_REQUESTS: '100',
    MAX_BODY_BYTES: '65536',
    MAX_PENDING_BYTES: String(2 * BODY + 20_000),
    REQUEST_TIMEOUT_MS: '8000',
    RATE_LIMIT_RPM: '1000',
    HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000',
  });
  const bytes = (): number => h.app.get(PendingLimit).bytes;
  const held = (): number => h.app.get(ReplyHub).held;
  let key = '';

  beforeAll(async () => {
    await h.start();
    key = await h.userKey('pending-bytes');
  }, 60_000);
  afterAll(async () => {
    await h.queue.resume();
    await h.stop();
  }, 30_000);

  function send(content: string, extra: Record<string, unknown> = {}, signal?: AbortSignal): Promise<Response> {
    return h.post('/v1/chat/completions', chat(content, extra), h.headers(key), signal);
  }
  const large = (tag: string): string => tag + 'x'.repeat(BODY - tag.length);
  const sizeOf = (content: string, extra: Record<string, unknown> = {}): number =>
    Buffer.byteLength(JSON.stringify(chat(content, extra)));

  it('refuses a body that would take the held bytes past the bound, with the count far from its own', async () => {
    h.handle(async (job) => h.answer(job, lastUserText(job.data.request).slice(0, 8)));
    await h.queue.pause();
    const leave = new AbortController();
    const a = send(large('a'), {}, leave.signal).catch((err: unknown) => err);
    const b = send(large('b'), { stream: true });
    const twoLarge = sizeOf(large('a')) + sizeOf(large('b'), { stream: true });
    await waitFor(() => held() === 2 && bytes() === twoLarge, { message: 'two large requests not held' });

    for (const stream of [false, true]) {
      const refused = await send(large('c'), { stream });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      const body = (await refused.json()) as ErrorEnvelope;
      expect(body.error).toMatchObject({ code: 'gateway_overloaded', type: 'service_unavailable_error' });
      expect(body.error.message).toContain('MAX_PENDING_BYTES');
    }
    // Nothing of the refused ones is held or queued; a small body still fits beside the two.
    expect(bytes()).toBe(twoLarge);
    const small = send('small');
    await waitFor(() => held() === 3 && bytes() === twoLarge + sizeOf('small'), { message: 'small not held' });
    expect((await h.queue.getJobs(['paused', 'waiting'])).length).toBe(3);

    // A client that leaves gives its bytes back: a large one is taken again.
    leave.abort();
    await a;
    await waitFor(() => bytes() === twoLarge - sizeOf(large('a')) + sizeOf('small'), { message: 'bytes not freed' });
    const d = send(large('d'));
    await waitFor(() => held() === 3, { message: 'd not held' });

    await h.queue.resume();
    const [rb, rs, rd] = await Promise.all([b, small, d]);
    expect([rb.status, rs.status, rd.status]).toEqual([200, 200, 200]);
    expect(await rb.text()).toContain('[DONE]');
    await waitFor(() => bytes() === 0 && held() === 0, { message: 'bytes still held after every answer' });
  });

  it('gives the bytes back on a deadline, and never counts async submissions', async () => {
    await h.queue.pause();
    const late = send(large('late'));
    await waitFor(() => bytes() > 0, { message: 'not held' });
    const job = await h.post('/api/v1/ai/jobs', { model: 'sim-gpt', prompt: large('async') }, h.headers(key));
    expect(job.status).toBe(202);
    expect(bytes()).toBe(sizeOf(large('late')));
    expect((await late).status).toBe(504);
    await waitFor(() => bytes() === 0, { message: 'the timed-out request still held' });
    await h.queue.resume();
  });

  it('refuses a bound that could never take a body at MAX_BODY_BYTES', () => {
    expect(() => validateEnv(GatewayEnv, { MAX_BODY_BYTES: '65536', MAX_PENDING_BYTES: '65535' })).toThrow(
      'MAX_PENDING_BYTES must be 0 (no bound) or at least MAX_BODY_BYTES (65536)',
    );
    expect(validateEnv(GatewayEnv, { MAX_PENDING_BYTES: '0' }).MAX_PENDING_BYTES).toBe(0);
  });
});

import type { Redis } from 'ioredis';
import { REDIS } from '@aigw/platform';
import { ApiKeyAuthenticator } from '../../apps/api-gateway/src/auth/api-key-authenticator';
import { gatewayBehind, relayToTestRedis, stopBehind } from './named-stall-relay';
import type { ErrorEnvelope, GatewayHarness } from './support';

/** REQUEST_TIMEOUT_MS: the bound on every Redis wait of a request, async submissions' included. */
const TIMEOUT_MS = 2_000;
/** How long the slow key lookup takes (below TIMEOUT_MS, well above the test's slack). */
const LOOKUP_MS = 1_200;

/**
 * The Redis waits of a request that `byDeadline` did not bound yet, with the gateway's command connection (`:cmd`)
 * silent (a half-open network; real Redis behind a loopback relay): the models listing's rate limit (`admitRead`),
 * an async submission's admission and Idempotency-Key claim (their deadline was the job's retention, no bound for
 * the HTTP request), an Idempotency-Key replay's read of the job it answers from, and a read or cancel of an async job
 * (on the queue connection). Before, each waited for the network to come back; now each is answered 503 with
 * Retry-After by REQUEST_TIMEOUT_MS.
 */
describe('api-gateway: a silent command connection past admission and the claim', () => {
  const relay = relayToTestRedis();
  let h: GatewayHarness;
  let key = '';

  beforeAll(async () => {
    h = await gatewayBehind(relay, { RATE_LIMIT_RPM: '1000', REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) });
    key = await h.userKey('read-stall');
    // Async jobs stay queued: a replay finds its job there.
    await h.queue.pause();
  }, 60_000);

  afterAll(() => stopBehind(relay, h), 60_000);

  afterEach(async () => {
    relay.cut();
    // The connection is back (a PING queued after the held commands is answered after them).
    await h.app.get<Redis>(REDIS).ping();
  });

  /** `send` answered 503 service_unavailable with Retry-After by the deadline (the test fails rather than hang). */
  async function unavailableByDeadline(send: (signal: AbortSignal) => Promise<Response>): Promise<void> {
    const started = Date.now();
    const res = await send(AbortSignal.timeout(TIMEOUT_MS + 6_000));
    const took = Date.now() - started;
    const body = (await res.json()) as ErrorEnvelope;
    expect({ status: res.status, code: body.error.code }).toEqual({ status: 503, code: 'service_unavailable' });
    expect(res.headers.get('retry-after')).not.toBeNull();
    expect(took).toBeLessThan(TIMEOUT_MS + 1_500);
  }

  it('the models listing under a rate limit', async () => {
    relay.silence(`${h.prefix}:cmd`);
    await unavailableByDeadline((signal) => fetch(`${h.url}/api/v1/ai/models`, { headers: h.headers(key), signal }));
  }, 20_000);

  it('an async submission: its admission', async () => {
    relay.silence(`${h.prefix}:cmd`);
    await unavailableByDeadline((signal) =>
      h.post('/api/v1/ai/jobs', { prompt: `stalled async admission ${Date.now()}` }, h.headers(key), signal),
    );
  }, 20_000);

  it('an async submission: its Idempotency-Key claim', async () => {
    relay.silence(`${h.prefix}:cmd`);
    const headers = h.headers(key, { 'idempotency-key': `stalled-async-claim-${Date.now()}` });
    await unavailableByDeadline((signal) =>
      h.post('/api/v1/ai/jobs', { prompt: `stalled async claim ${Date.now()}` }, headers, signal),
    );
  }, 20_000);

  it('an Idempotency-Key replay reading the job it answers from', async () => {
    const body = { prompt: `stalled replay ${Date.now()}` };
    const headers = h.headers(key, { 'idempotency-key': `stalled-replay-${Date.now()}` });
    const first = await h.post('/api/v1/ai/jobs', body, headers);
    expect(first.status).toBe(202);
    // The replay's claim goes through (it finds the first request's); its read of the job (HMGET) is held.
    relay.silenceAt(`${h.prefix}:cmd`, 'hmget');
    await unavailableByDeadline((signal) => h.post('/api/v1/ai/jobs', body, headers, signal));
  }, 20_000);

  it.each([
    ['GET', ''],
    ['POST', '/cancel'],
  ])(
    '%s of an async job%s, its queue connection silent',
    async (method, path) => {
      const submitted = await h.post(
        '/api/v1/ai/jobs',
        { prompt: `stalled job ${method} ${Date.now()}` },
        h.headers(key),
      );
      expect(submitted.status).toBe(202);
      const { jobId } = (await submitted.json()) as { jobId: string };
      relay.silence(`${h.prefix}:queue`);
      await unavailableByDeadline((signal) =>
        fetch(`${h.url}/api/v1/ai/jobs/${jobId}${path}`, { method, headers: h.headers(key), signal }),
      );
    },
    20_000,
  );

  /**
   * REQUEST_TIMEOUT_MS counts from the request's receipt, not from where the read starts: a key lookup that took its
   * time (a cold key read from a slow PostgreSQL) is part of the client's wait. Before, the job read and the models
   * listing's rate limit were each bounded by REQUEST_TIMEOUT_MS from their own start, past the bound by the lookup.
   */
  it.each([
    ['GET of an async job', 'queue', async (): Promise<string> => `/api/v1/ai/jobs/${await queuedJob()}`],
    ['the models listing under a rate limit', 'cmd', (): Promise<string> => Promise.resolve('/api/v1/ai/models')],
  ])(
    '%s after a slow key lookup: 503 by REQUEST_TIMEOUT_MS from its receipt',
    async (_what, connection, route) => {
      const path = await route();
      const slow = slowKeyLookup();
      try {
        relay.silence(`${h.prefix}:${connection}`);
        const started = Date.now();
        const res = await fetch(`${h.url}${path}`, {
          headers: h.headers(key),
          signal: AbortSignal.timeout(TIMEOUT_MS + LOOKUP_MS + 6_000),
        });
        const took = Date.now() - started;
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).not.toBeNull();
        // Before: LOOKUP_MS + TIMEOUT_MS.
        expect(took).toBeLessThan(TIMEOUT_MS + 600);
      } finally {
        slow.mockRestore();
      }
    },
    20_000,
  );

  // The same for a generation: its deadline (what admission, the claim and the wait for its job are bounded by) was
  // REQUEST_TIMEOUT_MS from when the handler framed it, after the key lookup and the body read.
  it('a sync generation after a slow key lookup: 503 by REQUEST_TIMEOUT_MS from its receipt', async () => {
    const slow = slowKeyLookup();
    try {
      relay.silence(`${h.prefix}:cmd`);
      const started = Date.now();
      const res = await h.post(
        '/api/v1/ai/generate',
        { prompt: `slow lookup sync ${Date.now()}` },
        h.headers(key),
        AbortSignal.timeout(TIMEOUT_MS + LOOKUP_MS + 6_000),
      );
      const took = Date.now() - started;
      expect(res.status).toBe(503);
      // Before: LOOKUP_MS + TIMEOUT_MS.
      expect(took).toBeLessThan(TIMEOUT_MS + 600);
    } finally {
      slow.mockRestore();
    }
  }, 20_000);

  /** Every key lookup takes LOOKUP_MS more (a cold key read from a slow PostgreSQL); `mockRestore` ends it. */
  function slowKeyLookup(): jest.SpyInstance {
    const authenticator = h.app.get(ApiKeyAuthenticator);
    const lookup = authenticator.authenticate.bind(authenticator);
    return jest
      .spyOn(authenticator, 'authenticate')
      .mockImplementation((k) => new Promise((resolve) => setTimeout(() => resolve(lookup(k)), LOOKUP_MS)));
  }

  async function queuedJob(): Promise<string> {
    const submitted = await h.post('/api/v1/ai/jobs', { prompt: `slow lookup ${Date.now()}` }, h.headers(key));
    expect(submitted.status).toBe(202);
    return ((await submitted.json()) as { jobId: string }).jobId;
  }
});

/**
 * The models listing of a caller without rate limits reads no limit, but the deployments' circuit states: with the
 * command connection silent, that read held the listing until the network came back. Now a circuit read that does
 * not answer within CIRCUIT_READ_WAIT_MS counts as unreadable (every circuit shown closed, as when Redis fails).
 */
describe('api-gateway: the models listing with a silent command connection and no rate limit', () => {
  const relay = relayToTestRedis();
  let h: GatewayHarness;

  beforeAll(async () => {
    h = await gatewayBehind(relay, { REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) });
  }, 60_000);

  afterAll(() => stopBehind(relay, h), 60_000);

  it('answers without the circuit states rather than wait for them', async () => {
    relay.silence(`${h.prefix}:cmd`);
    const started = Date.now();
    const res = await fetch(`${h.url}/api/v1/ai/models`, {
      headers: h.headers(),
      signal: AbortSignal.timeout(TIMEOUT_MS + 6_000),
    });
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS);
  }, 20_000);
});

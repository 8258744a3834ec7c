import { ShutdownState } from '@aigw/platform';
import { waitFor } from '@aigw/testing';
import { ReplyHub } from '../../apps/api-gateway/src/generation/reply-hub';
import { gatewayBehind, relayToTestRedis, stopBehind } from './named-stall-relay';
import { chat, type ErrorEnvelope, type GatewayHarness } from './support';

const GRACE_MS = 1_000;
/** Far beyond the drain: an answer at the deadline (before the fix) fails the timing below. */
const DEADLINE_MS = 15_000;

/**
 * Shutdown while the command connection (`:cmd`) is silent (a half-open network, real Redis behind a loopback relay)
 * and a request waits on it before it watches a job: in admission, the coalescing join or the Idempotency-Key claim.
 * The drain's end must answer it 503 (Retry-After, the error envelope), as it answers those waiting for a job, and it
 * must stop counting as pending. Before, the fail-all reached only requests waiting for a job: this one was answered
 * at its deadline, and the HTTP server's close (so the shutdown) waited for it.
 */
describe.each([
  ['admission (rate limit script)', { RATE_LIMIT_RPM: '1000' }, {}],
  ['coalescing join (no limits)', { CACHE_ENABLED: 'true' }, {}],
  ['Idempotency-Key claim', {}, { 'idempotency-key': 'stalled-at-shutdown' }],
])('api-gateway: shutdown while a request waits on a silent command connection during %s', (_what, env, extra) => {
  const relay = relayToTestRedis();
  let h: GatewayHarness;
  let key = '';

  beforeAll(async () => {
    h = await gatewayBehind(relay, {
      ...env,
      REQUEST_TIMEOUT_MS: String(DEADLINE_MS),
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
    });
    key = await h.userKey('shutdown-stall');
  }, 60_000);

  afterAll(() => stopBehind(relay, h), 60_000);

  it('answers it 503 when the drain ends, not at its deadline, and stops counting it', async () => {
    const hub = h.app.get(ReplyHub);
    relay.silence(`${h.prefix}:cmd`);
    const sent = h.post('/v1/chat/completions', chat(`stalled at shutdown ${Date.now()}`), h.headers(key, extra));
    await waitFor(() => hub.held === 1, { message: 'request not held' });
    const started = Date.now();
    const closing = h.closeApp();
    const res = await sent;
    const took = Date.now() - started;
    const body = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(503);
    expect(body.error.code).toBe('service_unavailable');
    expect(body.error.message).toMatch(/shutting down/);
    expect(res.headers.get('retry-after')).not.toBeNull();
    expect(took).toBeLessThan(GRACE_MS + 1_500);
    expect(hub.held).toBe(0);
    expect(h.jobsSeen).toHaveLength(0);
    // The process reports it gave the request up (it exits non-zero, as for requests failed waiting for a job).
    expect(h.app.get(ShutdownState).abandonedWork.join('; ')).toMatch(/1 request\(s\) answered 503/);
    relay.cut();
    await closing;
  }, 20_000);
});

/**
 * The same for a read of an async job while the queue connection is silent: it waited out REQUEST_TIMEOUT_MS, and the
 * HTTP server's close (so the shutdown, past its grace) with it.
 */
describe('api-gateway: shutdown while a job read waits on a silent queue connection', () => {
  const relay = relayToTestRedis();
  let h: GatewayHarness;
  let key = '';

  beforeAll(async () => {
    h = await gatewayBehind(relay, { REQUEST_TIMEOUT_MS: String(DEADLINE_MS), SHUTDOWN_GRACE_MS: String(GRACE_MS) });
    key = await h.userKey('shutdown-stall-read');
  }, 60_000);

  afterAll(() => stopBehind(relay, h), 60_000);

  it('answers it 503 when the drain ends, not at REQUEST_TIMEOUT_MS', async () => {
    relay.silence(`${h.prefix}:queue`);
    const sent = fetch(`${h.url}/api/v1/ai/jobs/req_stalled_at_shutdown`, {
      headers: h.headers(key),
      signal: AbortSignal.timeout(DEADLINE_MS + 5_000),
    });
    // The read is on its way (the key lookup, which does not use the queue connection, done).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const closing = h.closeApp();
    const res = await sent;
    const took = Date.now() - started;
    const body = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(503);
    expect(body.error.message).toMatch(/shutting down/);
    expect(res.headers.get('retry-after')).not.toBeNull();
    expect(took).toBeLessThan(GRACE_MS + 1_500);
    relay.cut();
    await closing;
  }, 30_000);
});

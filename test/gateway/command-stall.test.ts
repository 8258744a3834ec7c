import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS } from '@aigw/platform';
import { ReplyHub } from '../../apps/api-gateway/src/generation/reply-hub';
import { gatewayBehind, relayToTestRedis, stopBehind } from './named-stall-relay';
import { chat, type GatewayHarness, REDIS_URL, type ErrorEnvelope } from './support';

const DEADLINE_MS = 2_000;

/**
 * The gateway's command connection (`:cmd`: admission, the coalescing join) goes silent: a half-open network on that
 * connection alone (real Redis behind a loopback relay). ioredis holds its commands for as long as the network stays
 * silent (each reconnection connects and hears nothing), so before, the request waited that long, its deadline
 * notwithstanding, and stayed counted as pending. Now the admission answers 503 with Retry-After at the deadline and
 * the join 504, the Idempotency-Key claim 503; what each does in Redis afterwards is undone as its answer arrives.
 */
describe.each([
  ['admission (rate limit script)', { RATE_LIMIT_RPM: '1000' }, {}, 503, 'service_unavailable'],
  ['coalescing join (no limits)', { CACHE_ENABLED: 'true' }, {}, 504, 'timeout'],
  ['Idempotency-Key claim', {}, { 'idempotency-key': 'stalled-claim' }, 503, 'service_unavailable'],
])('api-gateway: a silent command connection during %s', (_what, env, extra, status, code) => {
  const relay = relayToTestRedis();
  let h: GatewayHarness;
  let key = '';

  beforeAll(async () => {
    h = await gatewayBehind(relay, { ...env, REQUEST_TIMEOUT_MS: String(DEADLINE_MS) });
    key = await h.userKey('command-stall');
  }, 60_000);

  afterAll(() => stopBehind(relay, h), 60_000);

  it('answers by the deadline, holds nothing, and serves again once the network is back', async () => {
    const content = `silent cmd ${Date.now()}`;
    relay.silence(`${h.prefix}:cmd`);
    const started = Date.now();
    const res = await h.post('/v1/chat/completions', chat(content), h.headers(key, extra));
    const took = Date.now() - started;
    const body = (await res.json()) as ErrorEnvelope;
    expect(res.status).toBe(status);
    expect(body.error.code).toBe(code);
    if (status === 503) {
      expect(res.headers.get('retry-after')).not.toBeNull();
    }
    expect(took).toBeLessThan(DEADLINE_MS + 1_500);
    expect(h.app.get(ReplyHub).held).toBe(0);
    expect(h.jobsSeen).toHaveLength(0);

    relay.cut();
    // The held commands reach Redis once the connection is back (a PING queued after them is answered after them);
    // the late join is undone as its answer arrives: its marker released.
    await h.app.get<Redis>(REDIS).ping();
    const probe = new Redis(REDIS_URL);
    await waitFor(async () => (await probe.keys(`${h.prefix}:inflight:*`)).length === 0, {
      timeoutMs: 10_000,
      message: 'a join answered after the deadline left its marker',
    });
    await probe.quit();
    // The same request again: it leads a job of its own (a late join's marker was released) and is answered.
    const again = await h.post('/v1/chat/completions', chat(content), h.headers(key, extra));
    expect(again.status).toBe(200);
    expect(again.headers.get('x-gateway-coalesced')).toBeNull();
  }, 30_000);
});

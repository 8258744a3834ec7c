import { closeRedis, ControlClient, createRedis, REDIS_SOCKET_TIMEOUT_MS, RedisErrors } from '@aigw/platform';
import { sleep, TEST_REDIS_URL, uniqueId } from '@aigw/testing';
import { Redis } from 'ioredis';
import { TcpProxy } from '../worker/tcp-proxy';

/**
 * A half-open network to Redis: a middlebox (a proxy, a NAT, a failed-over load balancer) stops forwarding without
 * closing anything. Nothing tells ioredis: without a socket timeout its commands waited for good, and every app stayed
 * unready and answered nothing (each request a 504 at its deadline) after the network was back, until restarted.
 */
describe('createRedis over a half-open network', () => {
  const errors = new RedisErrors({ warn: () => undefined, log: () => undefined });
  const target = new URL(TEST_REDIS_URL);
  let relay: TcpProxy;
  let probe: Redis;
  const open: Redis[] = [];

  beforeEach(async () => {
    relay = new TcpProxy(target.hostname, Number(target.port || 6379));
    await relay.up();
    probe = new Redis(TEST_REDIS_URL);
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => closeRedis(c)));
    await relay.down();
    await probe.quit();
  });

  function viaRelay(opts: Parameters<typeof createRedis>[3] = {}): Redis {
    const url = new URL(TEST_REDIS_URL);
    url.port = String(relay.port);
    const conn = createRedis(url.toString(), uniqueId('half_open'), errors, opts);
    open.push(conn);
    return conn;
  }

  const RECOVERY_MS = REDIS_SOCKET_TIMEOUT_MS + 5_000;

  it('a command sent into the silence is answered once the network is back', async () => {
    const key = uniqueId('half_open_key');
    const conn = viaRelay({ corkPerTurn: true });
    await conn.set(key, 'v', 'PX', 60_000);
    relay.stall();
    const started = Date.now();
    const answer = conn.get(key);
    await sleep(1_000);
    relay.resume();
    await expect(answer).resolves.toBe('v');
    expect(Date.now() - started).toBeLessThan(RECOVERY_MS);
    expect(conn.status).toBe('ready');
  }, 40_000);

  it('a subscriber that went silent while idle subscribes again and receives', async () => {
    const channel = uniqueId('half_open_channel');
    const conn = viaRelay({ subscriber: true });
    const got: string[] = [];
    conn.on('message', (_ch: string, message: string) => got.push(message));
    await conn.subscribe(channel);
    relay.stall();
    await sleep(1_000);
    relay.resume();
    const deadline = Date.now() + RECOVERY_MS;
    let n = 0;
    while (got.length === 0 && Date.now() < deadline) {
      await probe.publish(channel, String(n++));
      await sleep(200);
    }
    expect(got.length).toBeGreaterThan(0);
  }, 40_000);

  it('the control client (cancellations, catalog changes) is answered once the network is back', async () => {
    const url = new URL(TEST_REDIS_URL);
    url.port = String(relay.port);
    const control = new ControlClient(url.toString(), errors, `${uniqueId('half_open_ns')}:`);
    try {
      await expect(control.listeners('nobody')).resolves.toBe(0);
      relay.stall();
      const started = Date.now();
      const asked = control.listeners('nobody');
      await sleep(1_000);
      relay.resume();
      await expect(asked).resolves.toBe(0);
      expect(Date.now() - started).toBeLessThan(RECOVERY_MS);
      await expect(control.listeners('nobody')).resolves.toBe(0);
    } finally {
      // Its subscriber may still be reconnecting from the silence: QUIT then fails, which is no part of this test.
      await control.close().catch(() => undefined);
    }
  }, 40_000);
});
